/**
 * Verification reports: before and after from both sides, a timeline, the
 * kernel's evidence lines, the verdict and the libvirt operations performed.
 * Written as JSON (versioned) and Markdown, atomically and never over an
 * older report.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VcpuctlError } from '@vcpuctl/proto';
import { DomainSnapshot } from '../libvirt/driver';
import { hostOfUri } from '../libvirt/ssh-uri';
import { GuestView, Verdict, cgroupLabel, cgroupUsability } from './verdict';
import { guestCpus } from './describe';
import { describeIntent } from './intent';
import { IntentRecord } from './record-intent';

export const REPORT_SCHEMA = 'vcpuctl.report/v1';

/** Characters of the domain name kept in a report id: ids stay well under NAME_MAX (255) whatever the name. */
const REPORT_ID_NAME_CHARS = 64;

/**
 * Kernel lines a report keeps, and timeline entries. A real `set` collects a
 * dozen lines and a few dozen entries; a guest may push thousands (every
 * line is its word), so each list is capped and what was left out counted:
 * a report stays readable and a guest cannot grow it, or the time spent on it.
 */
export const MAX_REPORT_KERNEL_LINES = 500;
export const MAX_REPORT_TIMELINE = 1000;

export interface TimelineEntry {
  atMs: number;
  what: string;
}

export interface KernelEvidence {
  usec: number;
  seq: number;
  message: string;
  receivedAtMs: number;
}

export interface Report {
  schema: typeof REPORT_SCHEMA;
  id: string;
  domain: string;
  uri: string;
  /**
   * The machine the domain runs on: the URI's host, or this machine's hostname
   * for a local URI. Added within v1 (readers of v1 ignore fields they do not
   * know); named hostName because `host` is the libvirt side of a snapshot.
   */
  hostName: string;
  /** How vcpuctl reached libvirt: its RPC, or virsh where the RPC cannot go (test://, +tls); absent when unknown. */
  backend?: 'rpc' | 'virsh';
  operation: string;
  startedAt: string;
  finishedAt: string;
  before: { host: DomainSnapshot | undefined; guest: GuestView | undefined } | undefined;
  after: { host: DomainSnapshot | undefined; guest: GuestView | undefined };
  timeline: TimelineEntry[];
  kernelLines: KernelEvidence[];
  libvirtOperations: string[];
  verdict: Verdict;
  outcome: { ok: boolean; code?: string; message?: string };
  qemuLogTail?: string[];
  /** The intent this operation recorded in the domain's metadata (or why it could not). */
  intent?: IntentRecord;
}

/** Collects a report's parts while an operation runs. */
export class ReportBuilder {
  readonly started = Date.now();
  readonly timeline: TimelineEntry[] = [];
  readonly kernelLines: KernelEvidence[] = [];
  readonly libvirtOperations: string[] = [];
  before: Report['before'];
  /** Sequence numbers of the kernel lines kept: each line once, in O(1). */
  private readonly kernelSeqs = new Set<number>();
  /** What the caps left out, said at the end of the timeline. */
  private droppedKernelLines = 0;
  private droppedMarks = 0;

  /** `libvirt` is the driver, or anything naming its URI (and, once a call has chosen it, its backend). */
  constructor(
    readonly domain: string,
    private readonly libvirt: { readonly uri: string; readonly backend?: 'rpc' | 'virsh' | undefined },
    readonly operation: string,
  ) {}

  get uri(): string {
    return this.libvirt.uri;
  }

  mark(what: string): void {
    if (this.timeline.length >= MAX_REPORT_TIMELINE) {
      this.droppedMarks++;
      return;
    }
    this.timeline.push({ atMs: Date.now(), what });
  }

  kernel(lines: { usec?: number | null; seq?: number | null; message?: string | null; receivedAtMs?: number | null }[]): void {
    for (const l of lines) {
      const seq = Number(l.seq ?? -1);
      if (this.kernelSeqs.has(seq)) continue;
      if (this.kernelLines.length >= MAX_REPORT_KERNEL_LINES) {
        this.droppedKernelLines++;
        continue;
      }
      this.kernelSeqs.add(seq);
      this.kernelLines.push({ usec: Number(l.usec ?? 0), seq: Number(l.seq ?? 0), message: l.message ?? '', receivedAtMs: Number(l.receivedAtMs ?? 0) });
      this.mark(`guest kernel [${(Number(l.usec ?? 0) / 1e6).toFixed(6)}]: ${l.message ?? ''}`);
    }
  }

  finish(after: Report['after'], verdict: Verdict, outcome: Report['outcome'], qemuLogTail?: string[]): Report {
    const started = new Date(this.started);
    const left = [
      this.droppedKernelLines ? `${this.droppedKernelLines} more guest kernel lines not kept (at most ${MAX_REPORT_KERNEL_LINES})` : '',
      this.droppedMarks ? `${this.droppedMarks} more timeline entries not kept (at most ${MAX_REPORT_TIMELINE})` : '',
    ].filter(Boolean);
    const stamp = started.toISOString().replace(/[-:]/g, '').replace('.', '');
    return {
      schema: REPORT_SCHEMA,
      id: `${stamp}-${this.domain.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, REPORT_ID_NAME_CHARS)}-${this.operation}-${randomBytes(3).toString('hex')}`,
      domain: this.domain,
      uri: this.uri,
      hostName: hostOfUri(this.uri),
      ...(this.libvirt.backend ? { backend: this.libvirt.backend } : {}),
      operation: this.operation,
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      before: this.before,
      after,
      timeline: [...this.timeline, ...left.map((what) => ({ atMs: Date.now(), what }))].sort((a, b) => a.atMs - b.atMs),
      kernelLines: this.kernelLines,
      libvirtOperations: this.libvirtOperations,
      verdict,
      outcome,
      ...(qemuLogTail && qemuLogTail.length ? { qemuLogTail } : {}),
    };
  }
}

function hostLine(h: DomainSnapshot | undefined): string {
  if (!h) return 'unknown';
  const d = h.domain;
  const live = d.live ? `live ${d.live.current}/${d.live.maximum}` : 'not running';
  const qemu = h.qemu ? `, QEMU plugged ${h.qemu.plugged}/${h.qemu.slots.length}` : '';
  return `${d.state}${d.reason ? ` (${d.reason})` : ''}; ${live}; config ${d.config.current}/${d.config.maximum}${qemu}`;
}

function guestLine(g: GuestView | undefined): string {
  if (!g) return 'unknown';
  if (!g.reachable) return `unreachable${g.via ? ` via ${g.via}` : ''}: ${g.error ?? ''}`;
  const s = g.snapshot;
  const u = cgroupUsability(s);
  const usable = u && (u.notUsable.length || u.partial) ? `; usable by every workload ${u.usable.length}${u.partial ? ' at most' : ''} of ${u.online} online` : '';
  return s ? `${guestCpus(s)}${usable}; via ${g.via ?? '?'}${g.through ? ` (${g.through})` : ''}; host ${g.hostname ?? '?'}, product_uuid ${g.productUuid ?? '?'}` : 'no snapshot';
}

/** Rows of restricted cgroups a report keeps; the JSON report has every one (at most MAX_GUEST_CGROUPS). */
const MAX_REPORT_CGROUP_ROWS = 100;

/** The guest's cgroups that lack online CPUs after the operation, every guest string through md(). */
function cgroupSection(g: GuestView | undefined): string[] {
  const list = g?.snapshot?.restricted ?? [];
  if (!list.length) return [];
  const out = ['', '## Guest cgroups short of online CPUs (after)', '', '| cgroup | path | runs on | lacks |', '|---|---|---|---|'];
  for (const r of list.slice(0, MAX_REPORT_CGROUP_ROWS)) out.push(`| ${md(cgroupLabel(r))} | ${md(r.path ?? '')} | ${md(r.cpus || 'none')} | ${md(r.lacks ?? '')} |`);
  if (list.length > MAX_REPORT_CGROUP_ROWS) out.push('', md(`and ${list.length - MAX_REPORT_CGROUP_ROWS} more (in the JSON report)`));
  return out;
}

/**
 * Inline text for Markdown, whatever it holds: every character that could
 * start emphasis, code, a link, an image, a table cell, raw HTML or an
 * entity is escaped, `scheme://`, `www.` and `@` lose their power to become
 * autolinks, and a leading `#`, `>`, `-`, `+` cannot start a block. Guest
 * strings reach a report only through this and fenced(), so a guest can
 * neither forge a section nor plant a link. Control characters (a newline
 * too) were already made visible where the guest's words entered
 * (guest/guest-input.ts); any left are joined into the line here.
 */
export function md(text: string): string {
  return (
    text
      .replace(/\r?\n/g, ' ')
      .replace(/[\\`*[\]|~@]/g, (c) => `\\${c}`)
      // `_` starts emphasis only at a word's edge (product_uuid stays as it is).
      .replace(/(^|[^A-Za-z0-9])_|_(?=[^A-Za-z0-9]|$)/g, (m) => m.replace('_', '\\_'))
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/:\/\//g, '\\://')
      .replace(/\b(www)\./gi, '$1\\.')
      .replace(/^[#>+-]/, (c) => `\\${c}`)
  );
}

/** The longest run of backticks in the lines: a delimiter one longer cannot be closed by any of them. */
function longestBacktickRun(lines: readonly string[]): number {
  let longest = 0;
  for (const l of lines) for (const run of l.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  return longest;
}

/** Inline code that nothing inside can close: delimited by a longer run of backticks than any it holds. */
export function code(text: string): string {
  const flat = text.replace(/\r?\n/g, ' ');
  const tick = '`'.repeat(longestBacktickRun([flat]) + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${tick}${pad}${flat}${pad}${tick}`;
}

/** Prose with `commands` in it (findings, advice): the commands as inline code, the rest through md(). */
export function mdProse(text: string): string {
  return text
    .split(/`([^`]*)`/)
    .map((part, i) => (i % 2 ? code(part) : md(part)))
    .join('');
}

/** A fenced block that no line inside can close: the fence is longer than any run of backticks in the text. */
export function fenced(lines: string[]): string[] {
  const fence = '`'.repeat(Math.max(3, longestBacktickRun(lines) + 1));
  return [fence, ...lines, fence];
}

export function renderMarkdown(r: Report): string {
  const out: string[] = [];
  out.push(`# vcpuctl ${md(r.operation)} on ${md(r.domain)}`, '');
  out.push(
    `- report: ${md(r.id)} (schema ${md(r.schema)})`,
    `- libvirt: ${code(r.uri)}${r.hostName ? ` (host ${md(r.hostName)})` : ''}${r.backend ? `, through ${r.backend === 'rpc' ? "libvirt's RPC" : 'virsh'}` : ''}`,
    `- started ${md(r.startedAt)}, finished ${md(r.finishedAt)}`,
  );
  out.push(`- outcome: ${r.outcome.ok ? 'ok' : `FAILED${r.outcome.code ? ` (${md(r.outcome.code)})` : ''}`}${r.outcome.message ? `: ${md(r.outcome.message)}` : ''}`, '');
  out.push('## Verdict', '');
  if (r.verdict.findings.length === 0) out.push('Host and guest agree.');
  for (const f of r.verdict.findings) out.push(`- **${f.kind}** (${f.severity}): ${mdProse(f.message)}. *What to do:* ${mdProse(f.advice)}`);
  if (r.intent) {
    const where = [r.intent.flags.live ? 'live' : '', r.intent.flags.config ? 'persistent config' : ''].filter(Boolean).join(' and ');
    out.push('', '## Recorded intent', '', md(r.intent.error ? `NOT recorded (${r.intent.error}): ${describeIntent(r.intent.intent)}` : `${describeIntent(r.intent.intent)}; in the domain's metadata (${where})`));
  } else {
    const recorded = r.after.host?.domain.intent;
    if (recorded) out.push('', '## Recorded intent', '', md(describeIntent(recorded)));
  }
  out.push('', '## Both sides', '', '| | before | after |', '|---|---|---|');
  out.push(`| host (libvirt, QEMU) | ${md(hostLine(r.before?.host))} | ${md(hostLine(r.after.host))} |`);
  out.push(`| guest (${md(r.after.guest?.via ?? r.before?.guest?.via ?? 'agent')}) | ${md(guestLine(r.before?.guest))} | ${md(guestLine(r.after.guest))} |`);
  out.push(...cgroupSection(r.after.guest), '');
  out.push('## Timeline', '');
  for (const t of r.timeline) out.push(`- ${new Date(t.atMs).toISOString()} ${mdProse(t.what)}`);
  out.push('', '## libvirt operations performed', '');
  if (r.libvirtOperations.length === 0) out.push('none');
  for (const op of r.libvirtOperations) out.push(`- ${code(op)}`);
  out.push('', '## Guest kernel evidence', '');
  if (r.kernelLines.length === 0) out.push('none');
  else out.push(...fenced(r.kernelLines.map((k) => `[${(k.usec / 1e6).toFixed(6)}] ${k.message}`)));
  const lscpu = r.after.guest?.snapshot?.lscpu;
  if (lscpu) out.push('', '## Guest CPU view after (lscpu)', '', ...fenced(lscpu.trimEnd().split('\n')));
  if (r.qemuLogTail?.length) out.push('', '## QEMU log (last lines)', '', ...fenced(r.qemuLogTail));
  return `${out.join('\n')}\n`;
}

/**
 * Makes sure reports can be written to `dir`, before an operation touches
 * anything: a report that cannot be written after a change would hide the
 * change's real outcome behind a file-system error.
 */
export function checkReportDir(dir: string): void {
  if (dir === '') throw new VcpuctlError('USAGE', 'the report directory (--report-dir) is empty');
  const fail = (err: unknown) => new VcpuctlError('USAGE', `cannot write reports to ${dir}: ${(err as NodeJS.ErrnoException).code ?? err}; nothing was changed (choose another --report-dir)`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw fail(err);
  }
  const probe = join(dir, `.probe-${process.pid}-${randomBytes(3).toString('hex')}`);
  try {
    writeFileSync(probe, '', { flag: 'wx' });
  } catch (err) {
    throw fail(err);
  }
  unlinkSync(probe);
}

/** Writes NAME.json and NAME.md: each written aside and hard-linked into place, which fails rather than replace a file. */
export function writeReport(dir: string, r: Report): { json: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const put = (name: string, text: string) => {
    const final = join(dir, name);
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, text, { flag: 'wx' });
    try {
      linkSync(tmp, final);
    } finally {
      unlinkSync(tmp);
    }
    return final;
  };
  const json = put(`${r.id}.json`, `${JSON.stringify(r, null, 2)}\n`);
  const markdown = put(`${r.id}.md`, renderMarkdown(r));
  return { json, markdown };
}

export function listReports(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => n.slice(0, -5))
      .sort();
  } catch {
    return [];
  }
}

export function readReport(dir: string, id: string): Report {
  // An id is a file name in the report directory, never a path out of it.
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(id)) throw new VcpuctlError('USAGE', `"${id.slice(0, 80)}" is not a report id (see \`vcpuctl report list\`)`);
  const name = id.endsWith('.json') ? id : `${id}.json`;
  let text: string;
  try {
    text = readFileSync(join(dir, name), 'utf8');
  } catch {
    throw new VcpuctlError('USAGE', `no report ${id} in ${dir}`);
  }
  let r: Report;
  try {
    r = JSON.parse(text) as Report;
  } catch {
    throw new VcpuctlError('USAGE', `${name} is not a ${REPORT_SCHEMA} report (not JSON)`);
  }
  if (typeof r !== 'object' || r === null || r.schema !== REPORT_SCHEMA) throw new VcpuctlError('USAGE', `${name} is not a ${REPORT_SCHEMA} report`);
  return r;
}
