/**
 * The operator's documents stay true: the demo's checked-in transcript
 * (docs/demo-transcript.txt, shown in docs/demo.md) is a run in which every
 * step ended as the demo means it to (`DEMO_STEPS` in test/e2e/demo.ts: step 3
 * expects exit 8 OVER_MAXIMUM, every other step exit 0), and every relative
 * link in README.md and docs/*.md reaches a file, and a heading where it names
 * one, and docs/exit-codes.md gives every error code the exit status
 * proto/src/errors.ts gives it. Reads files only: no root, no libvirt.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ERROR_CODES } from '@vcpuctl/proto';
import { DEMO_STEPS, expectText } from '../e2e/demo';

const ROOT = join(__dirname, '../../..');
const TRANSCRIPT = join(ROOT, 'docs/demo-transcript.txt');
const DEMO_PAGE = join(ROOT, 'docs/demo.md');

/** Lines no intended demo step prints: an unreachable libvirt, a vcpuctl bug, the demo's own alarm. */
const NEVER = [/LIBVIRT_UNREACHABLE/, /\bINTERNAL\b/, /this is a bug/i, /UNEXPECTED/, /demo FAILED/];

/** Everything wrong with a transcript of the demo, as lines; empty when it shows the demo as intended. */
export function transcriptProblems(text: string): string[] {
  const problems: string[] = [];
  const lines = text.split('\n');
  if (text.includes('\x1b')) problems.push('terminal escapes in the transcript');
  lines.forEach((l, i) => {
    for (const re of NEVER) if (re.test(l)) problems.push(`line ${i + 1} shows an error the demo does not intend: ${l}`);
  });
  // Split at the step headings: `-- N. title (expect exit E[ CODE])`.
  const seen: number[] = [];
  let step: { n: number; at: number; exits: number[]; codes: string[] } | undefined;
  const finish = () => {
    if (!step) return;
    const s = DEMO_STEPS[step.n]!;
    const where = `step ${step.n} (line ${step.at + 1})`;
    if (step.exits.length !== 1) problems.push(`${where}: ${step.exits.length} "(exit N)" lines, expected 1`);
    for (const e of step.exits) if (e !== s.expect.exit) problems.push(`${where}: exit ${e}, but the step expects exit ${s.expect.exit}`);
    const want = s.expect.exit === 0 ? [] : [(s.expect as { code: string }).code];
    if (step.codes.join() !== want.join()) problems.push(`${where}: error lines ${JSON.stringify(step.codes)}, the step expects ${JSON.stringify(want)}`);
    step = undefined;
  };
  lines.forEach((l, i) => {
    const head = /^-- (\d+)\. (.*) \((expect exit \d+(?: [A-Z_]+)?)\)$/.exec(l);
    if (head) {
      finish();
      const n = Number(head[1]);
      const s = DEMO_STEPS[n];
      if (!s) return void problems.push(`line ${i + 1}: step ${n} is not one of the demo's steps`);
      if (`${n}. ${head[2]}` !== s.title) problems.push(`line ${i + 1}: step ${n} is titled differently in the demo: ${s.title}`);
      if (head[3] !== expectText(s.expect)) problems.push(`line ${i + 1}: step ${n} says "${head[3]}", the demo "${expectText(s.expect)}"`);
      seen.push(n);
      step = { n, at: i, exits: [], codes: [] };
      return;
    }
    if (/^-- /.test(l)) return finish();
    const exit = /^\(exit (-?\d+)\)/.exec(l);
    if (exit) {
      if (step) step.exits.push(Number(exit[1]));
      else problems.push(`line ${i + 1}: "${l}" outside any step`);
    }
    const err = /^vcpuctl: ([A-Z_]+):/.exec(l);
    if (err && step) step.codes.push(err[1]!);
  });
  finish();
  const all = DEMO_STEPS.map((_, n) => n);
  if (seen.join() !== all.join()) problems.push(`steps ${seen.join(', ')} in the transcript; the demo walks ${all.join(', ')}`);
  if (!/^guest \S+ removed; demo took \d+ s$/m.test(text)) problems.push('the transcript does not end with the guest removed');
  return problems;
}

/** The content of the first fenced block whose info string is `text` in a Markdown page. */
function fencedText(md: string): string | undefined {
  const m = /^(`{3,})text\n([\s\S]*?)^\1$/m.exec(md);
  return m?.[2];
}

/** GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** A Markdown page's lines outside fenced code blocks, with their numbers. */
function proseLines(md: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = [];
  let fence: string | undefined;
  md.split('\n').forEach((line, i) => {
    const f = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (f && f[0] === fence[0] && f.length >= fence.length && line.trim() === f) fence = undefined;
      return;
    }
    if (f) return void (fence = f);
    out.push({ line, n: i + 1 });
  });
  return out;
}

/** The anchors a page's headings make (a repeated heading gets -1, -2, ... as on GitHub). */
function anchorsOf(md: string): Set<string> {
  const anchors = new Set<string>();
  const count = new Map<string, number>();
  for (const { line } of proseLines(md)) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = headingSlug(h[1]!);
    const k = count.get(base) ?? 0;
    count.set(base, k + 1);
    anchors.add(k ? `${base}-${k}` : base);
  }
  return anchors;
}

/** Every broken relative link in a Markdown file: a missing file, or a heading the target does not have. */
export function brokenLinks(file: string): string[] {
  const md = readFileSync(file, 'utf8');
  const broken: string[] = [];
  for (const { line, n } of proseLines(md)) {
    const prose = line.replace(/(`+)[\s\S]*?\1/g, ''); // links inside code spans are not links
    for (const m of prose.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: not checked here
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const where = `${relative(ROOT, file)}:${n}: ${target}`;
      const dest = path ? resolve(dirname(file), decodeURIComponent(path)) : file;
      if (!existsSync(dest)) {
        broken.push(`${where}: no such file`);
        continue;
      }
      if (anchor !== undefined && dest.endsWith('.md') && !anchorsOf(readFileSync(dest, 'utf8')).has(decodeURIComponent(anchor))) {
        broken.push(`${where}: no such heading in ${relative(ROOT, dest)}`);
      }
    }
  }
  return broken;
}

describe("the operator's documents (README.md, docs/)", () => {
  describe("the demo's transcript", () => {
    it('docs/demo.md shows exactly the transcript the demo recorded', () => {
      const shown = fencedText(readFileSync(DEMO_PAGE, 'utf8'));
      assert.ok(shown !== undefined, 'docs/demo.md has no ```text block');
      assert.equal(shown, readFileSync(TRANSCRIPT, 'utf8'), 'docs/demo.md differs from docs/demo-transcript.txt: paste the record again');
    });

    it('every step ended with the exit the demo expects of it, and nothing shows an unintended error', () => {
      assert.deepEqual(transcriptProblems(readFileSync(TRANSCRIPT, 'utf8')), []);
    });

    it('a transcript from a run where libvirtd went away fails the check', () => {
      const good = readFileSync(TRANSCRIPT, 'utf8');
      const title = DEMO_STEPS[5]!.title;
      const start = good.indexOf(`-- ${title}`);
      const end = good.indexOf('\n-- ', start + 1);
      assert.ok(start >= 0 && end > start, 'step 5 is in the transcript');
      const bad =
        `${good.slice(0, start)}-- ${title} (${expectText(DEMO_STEPS[5]!.expect)})\n$ vcpuctl set-max g 4 --restart\n` +
        'vcpuctl: LIBVIRT_UNREACHABLE: cannot inspect domain g: failed to connect to the hypervisor\n(exit 5)\n' +
        good.slice(end);
      const problems = transcriptProblems(bad);
      assert.ok(
        problems.some((p) => /LIBVIRT_UNREACHABLE/.test(p)),
        problems.join('\n'),
      );
      assert.ok(
        problems.some((p) => /exit 5, but the step expects exit 0/.test(p)),
        problems.join('\n'),
      );
    });

    it('a step that expects a refusal but succeeded, or a step missing, fails the check', () => {
      const good = readFileSync(TRANSCRIPT, 'utf8');
      assert.ok(transcriptProblems(good.replace(/^\(exit 8\)$/m, '(exit 0)')).some((p) => /step 3 .*exit 0, but the step expects exit 8/.test(p)));
      const cut = good.slice(0, good.indexOf(`-- ${DEMO_STEPS[7]!.title}`));
      assert.ok(transcriptProblems(cut).some((p) => /the demo walks/.test(p)));
    });
  });

  it("docs/exit-codes.md's table gives every error code its exit status from proto/src/errors.ts", () => {
    const md = readFileSync(join(ROOT, 'docs/exit-codes.md'), 'utf8');
    const documented = new Map<string, number>();
    for (const m of md.matchAll(/^\| (\d+) \| ([A-Z_ /]*) \|/gm)) {
      for (const code of m[2]!
        .split('/')
        .map((c) => c.trim())
        .filter(Boolean))
        documented.set(code, Number(m[1]));
    }
    const actual = new Map(Object.entries(ERROR_CODES).map(([code, spec]) => [code, spec.exit]));
    assert.deepEqual([...documented].sort(), [...actual].sort());
  });

  describe('links', () => {
    const docs = join(ROOT, 'docs');
    const files = [
      join(ROOT, 'README.md'),
      ...readdirSync(docs)
        .filter((f) => f.endsWith('.md'))
        .map((f) => join(docs, f)),
    ];

    it('every relative link in README.md and docs/*.md reaches a file, and the heading it names', () => {
      assert.deepEqual(files.flatMap(brokenLinks), []);
    });

    it("anchors are GitHub's", () => {
      assert.equal(headingSlug('Changing several domains: `set DOM1 DOM2 ... N`, `set --all N`, `--dry-run`'), 'changing-several-domains-set-dom1-dom2--n-set---all-n---dry-run');
      assert.equal(headingSlug('Remote hosts (qemu+ssh)'), 'remote-hosts-qemussh');
      assert.equal(headingSlug("The agent's channel"), 'the-agents-channel');
    });
  });
});
