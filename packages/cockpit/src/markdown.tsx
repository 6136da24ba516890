/**
 * A tiny Markdown renderer for vcpuctl's reports, safe by construction: it
 * builds React elements whose every piece of content is a text child, so no
 * string from a report (guest lines, lscpu views, hostnames) can become an
 * element, an attribute or a link. It knows what vcpuctl's reports use:
 * headings, lists, fenced blocks (of any length of backticks), tables (kept
 * as preformatted lines), inline code and bold; anything else is plain text.
 */
import React from 'react';

/** A report is a few hundred lines; a page never renders more than this many (the rest is counted). */
export const MAX_MARKDOWN_LINES = 5000;

/** The entities vcpuctl's report writer uses (md() in packages/host/src/core/report.ts: `&` and `<`), and the usual others. */
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };

/**
 * What vcpuctl's report writer escaped in guest strings, shown as the guest
 * wrote it, still as text: a backslash before any ASCII punctuation (as
 * CommonMark reads it) and the entities above, both in one pass, so that an
 * escaped `&amp;lt;` stays the text `&lt;`.
 */
export function unescape(text: string): string {
  return text.replace(/\\([!-/:-@[-`{-~])|&(amp|lt|gt|quot|#39);/g, (_m, punct: string | undefined, entity: string | undefined) => punct ?? ENTITIES[entity!]!);
}

/** A table row's cells, split at the pipes that are not escaped, each unescaped. */
function cells(row: string): string[] {
  const inner = row
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => unescape(c.trim()));
}

function inline(text: string, key: string): React.ReactNode[] {
  const out: React.ReactNode[] = [];
  const re = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let i = 0;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) out.push(unescape(text.slice(last, m.index)));
    if (m[1] !== undefined) out.push(<code key={`${key}-${i++}`}>{m[2]!.trim()}</code>);
    else if (m[3] !== undefined) out.push(<strong key={`${key}-${i++}`}>{unescape(m[3])}</strong>);
    else out.push(<em key={`${key}-${i++}`}>{unescape(m[4]!)}</em>);
    last = re.lastIndex;
  }
  if (last < text.length) out.push(unescape(text.slice(last)));
  return out;
}

export function Markdown({ text }: { text: string }): React.ReactElement {
  const all = text.split('\n');
  const lines = all.slice(0, MAX_MARKDOWN_LINES);
  const blocks: React.ReactNode[] = [];
  let i = 0;
  let para: string[] = [];
  let list: string[] = [];
  const flush = () => {
    if (para.length) blocks.push(<p key={`p${i}-${blocks.length}`}>{inline(para.join(' '), `p${blocks.length}`)}</p>);
    if (list.length)
      blocks.push(
        <ul key={`u${i}-${blocks.length}`}>
          {list.map((item, n) => (
            <li key={n}>{inline(item, `l${blocks.length}-${n}`)}</li>
          ))}
        </ul>,
      );
    para = [];
    list = [];
  };
  while (i < lines.length) {
    const line = lines[i]!;
    const fence = /^(`{3,})/.exec(line);
    if (fence) {
      flush();
      const body: string[] = [];
      i++;
      while (i < lines.length && !(lines[i]!.startsWith(fence[1]!) && lines[i]!.trim() === lines[i]!.trim().replace(/[^`]/g, '') && lines[i]!.trim().length >= fence[1]!.length)) body.push(lines[i++]!);
      i++;
      blocks.push(<pre key={`f${i}`}>{body.join('\n')}</pre>);
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const level = Math.min(heading[1]!.length + 2, 6);
      blocks.push(React.createElement(`h${level}`, { key: `h${i}` }, ...inline(heading[2]!, `h${i}`)));
    } else if (/^\s*\|/.test(line)) {
      flush();
      const rows: string[] = [];
      while (i < lines.length && /^\s*\|/.test(lines[i]!)) rows.push(lines[i++]!);
      // As preformatted lines, each cell as text: separator rows (|---|) left out.
      const shown = rows.filter((r) => !/^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(r)).map((r) => cells(r).join(' | '));
      blocks.push(<pre key={`t${i}`}>{shown.join('\n')}</pre>);
      continue;
    } else if (/^\s*[-*]\s+/.test(line)) {
      if (para.length) {
        const p = para;
        para = [];
        blocks.push(<p key={`q${i}`}>{inline(p.join(' '), `q${i}`)}</p>);
      }
      list.push(line.replace(/^\s*[-*]\s+/, ''));
    } else if (line.trim() === '') flush();
    else para.push(line);
    i++;
  }
  flush();
  if (all.length > lines.length) blocks.push(<p key="more">({all.length - lines.length} more lines not shown)</p>);
  return <div className="vcpuctl-markdown">{blocks}</div>;
}
