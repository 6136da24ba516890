/**
 * A small reader for the XML libvirt writes (domain XML): elements,
 * attributes, text, comments, CDATA, the five named entities and numeric
 * character references; no DTD. It gives the tree shape domain-xml.ts reads:
 * attributes as "@name", text as the value of a bare element or "#text", a
 * child as a value or, when repeated or named in `arrays`, a list. Values
 * stay strings; an empty document is an empty tree. A general-purpose parser was measured here spending about
 * 2 ms per document on its first uses in a process, most of a fleet
 * `status --all`'s own work for 20 domains (bench/fleet-bench.js); this one
 * does the same reading in a fraction of that. Anything not well-formed is
 * refused with the reason, never guessed.
 */

export type XmlNode = { [key: string]: XmlValue };
export type XmlValue = string | XmlNode | XmlValue[];

export class XmlSyntaxError extends Error {}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&([^;\s&<]{0,32});?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw new XmlSyntaxError(`a bare "&" (${whole})`);
    if (/^#x[0-9a-fA-F]{1,6}$|^#[0-9]{1,7}$/.test(ref)) {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (code > 0x10ffff) throw new XmlSyntaxError(`character reference ${whole} out of range`);
      return String.fromCodePoint(code);
    }
    const v = ENTITIES[ref];
    if (v === undefined) throw new XmlSyntaxError(`unknown entity ${whole}`);
    return v;
  });
}

interface Frame {
  name: string;
  attrs: [string, string][];
  children: Map<string, XmlValue[]>;
  text: string;
}

const TOKEN = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>|<\/([^\s<>/]+)\s*>|<([^\s<>/!?]+)((?:\s+[^\s=<>/]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|([^<]+)/y;
const ATTR = /([^\s=<>/]+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/g;

function valueOf(f: Frame, arrays: ReadonlySet<string>): XmlValue {
  const text = f.text.trim();
  if (f.attrs.length === 0 && f.children.size === 0) return text;
  const node: XmlNode = {};
  for (const [k, v] of f.attrs) node[`@${k}`] = v;
  for (const [name, list] of f.children) node[name] = arrays.has(name) || list.length > 1 ? list : list[0]!;
  if (text) node['#text'] = text;
  return node;
}

/** The document as a tree: `{ domain: {...} }`. */
export function parseXml(xml: string, arrays: ReadonlySet<string> = new Set()): XmlNode {
  const root: Frame = { name: '', attrs: [], children: new Map(), text: '' };
  const stack: Frame[] = [root];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < xml.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(xml);
    if (!m) throw new XmlSyntaxError(`unexpected "${xml.slice(at, at + 20)}" at offset ${at}`);
    const top = stack[stack.length - 1]!;
    const [, cdata, close, open, attrText, selfClosing, text] = m;
    if (text !== undefined) {
      if (stack.length === 1) {
        if (text.trim()) throw new XmlSyntaxError('text outside the root element');
      } else top.text += decode(text);
    } else if (cdata !== undefined) {
      top.text += cdata;
    } else if (close !== undefined) {
      if (stack.length === 1 || top.name !== close) throw new XmlSyntaxError(`</${close}> does not close <${top.name || 'nothing'}>`);
      stack.pop();
      const parent = stack[stack.length - 1]!;
      const list = parent.children.get(close) ?? [];
      list.push(valueOf(top, arrays));
      parent.children.set(close, list);
    } else if (open !== undefined) {
      if (stack.length === 1 && root.children.size > 0) throw new XmlSyntaxError('a second root element');
      const attrs: [string, string][] = [];
      for (const a of (attrText ?? '').matchAll(ATTR)) attrs.push([a[1]!, decode(a[2] ?? a[3] ?? '')]);
      const frame: Frame = { name: open, attrs, children: new Map(), text: '' };
      if (selfClosing) {
        const list = top.children.get(open) ?? [];
        list.push(valueOf(frame, arrays));
        top.children.set(open, list);
      } else stack.push(frame);
    }
  }
  if (stack.length > 1) throw new XmlSyntaxError(`<${stack[stack.length - 1]!.name}> is never closed`);
  // An empty document is an empty tree: the caller says what it expected.
  const doc: XmlNode = {};
  for (const [name, list] of root.children) doc[name] = arrays.has(name) ? list : list[0]!;
  return doc;
}
