import { Command } from 'commander';
import { forTerminal } from '../guest/visible-text';
import type { ConnectionState } from '../watch/connection';
import type { Change, DomainState, Watcher } from '../watch/watcher';
import { connectionsFrom } from './fleet-options';
import { WatchFlags, addWatchOptions, watchOptions } from './watch-options';

/** How many recent changes the live table keeps under it. */
const RECENT_LINES = 12;

const HEADER = ['DOMAIN', 'STATE', 'LIVE', 'CONFIG', 'QEMU', 'GUEST ONLINE/PRESENT', 'INTENT', 'VERDICT'];

function verdictWord(s: DomainState): string {
  if (!s.verdict) return '?';
  if (s.verdict.findings.length === 0) return 'agree';
  return `${s.verdict.ok ? 'ok' : 'MISMATCH'}: ${s.verdict.findings.map((f) => f.kind).join(',')}`;
}

function row(s: DomainState): string[] {
  const d = s.host?.domain;
  const g = s.guest.reachable && s.guest.snapshot ? `${s.guest.snapshot.online ?? ''}/${s.guest.snapshot.present ?? ''}` : '-';
  return [
    s.name,
    d?.state ?? (s.hostError ? 'error' : '?'),
    d?.live ? `${d.live.current}/${d.live.maximum}` : '-',
    d ? `${d.config.current}/${d.config.maximum}` : '-',
    s.host?.qemu ? String(s.host.qemu.plugged) : '-',
    g,
    d?.intent ? String(d.intent.online) : '-',
    verdictWord(s),
  ];
}

/** One connection's heading in the live table and its state in the line output. */
function connectionWords(c: ConnectionState, domains: number, nowMs: number): string {
  if (c.up === undefined) return `${c.uri} (${c.host}): connecting`;
  if (c.up) return `${c.uri} (${c.host}): up, ${domains} domain${domains === 1 ? '' : 's'}`;
  const retry = c.retryAtMs === undefined ? '' : `; next try in ${Math.max(0, Math.ceil((c.retryAtMs - nowMs) / 1000))} s`;
  return `${c.uri} (${c.host}): DOWN since ${new Date(c.sinceMs).toISOString()}: ${c.error ?? '?'}${retry}${domains ? ' (last known values below)' : ''}`;
}

/** The live table; with several connections, one group per connection in the order given, columns aligned across them. */
function table(watchers: Watcher[], recent: string[]): string {
  const groups = watchers.map((w) => ({ w, rows: w.visible().map(row) }));
  const all = [HEADER, ...groups.flatMap((g) => g.rows)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const render = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const now = Date.now();
  const body = watchers.length === 1 ? [HEADER, ...groups[0]!.rows].map(render) : groups.flatMap((g) => [connectionWords(g.w.connection, g.w.visible().length, now), ...(g.rows.length ? [HEADER, ...g.rows].map(render) : []), '']);
  return `${body.join('\n')}\n\nrecent changes:\n${recent.join('\n')}\n`;
}

function line(c: Change, uri: string | undefined): string {
  const v = c.state.verdict;
  const verdict = !v ? '' : v.findings.length === 0 ? 'verdict: agree' : `verdict: ${v.ok ? 'ok' : 'MISMATCH'} ${v.findings.map((f) => `${f.kind} (${f.severity})`).join(', ')}`;
  return `${new Date(c.atMs).toISOString()} ${uri ? `${uri} ` : ''}${c.domain}: ${c.changes.join('; ')} -> ${verdict}`;
}

export function watchCommand(): Command {
  return addWatchOptions(
    new Command('watch').description(
      'follow libvirt events and every guest agent; print each vCPU change as it happens, with the new verdict (a live table on a terminal, one JSON object per line with --json); with several connections (-c repeated, --hosts) one watcher per connection, every row and line naming its connection, a host that does not answer shown DOWN and retried with backoff while the others are watched',
    ),
  ).action(async (domains: string[], o: WatchFlags, cmd: Command) => {
    // Loaded here, not at start-up: every other command starts faster without the watch machinery.
    const { connectionRecordOf, recordOf, startFleetWatch } = await import('../commands/watch');
    const { ctxs, flags } = await connectionsFrom(cmd, o.hosts);
    const multi = ctxs.length > 1;
    const tty = !flags.json && process.stdout.isTTY;
    const recent: string[] = [];
    const push = (text: string) => {
      recent.push(text);
      if (recent.length > RECENT_LINES) recent.shift();
    };
    let ws: Watcher[] | undefined;
    const redraw = () => tty && ws && process.stdout.write(`\x1b[H\x1b[2J${forTerminal(table(ws, recent))}`);
    // While a host is down its heading counts down to the next try.
    const ticker = tty && multi ? setInterval(redraw, 1000) : undefined;
    // Ctrl-C reaches the virsh children too: what they report while vcpuctl stops is not news.
    let stopping = false;
    const quiet = () => (stopping = true);
    process.once('SIGINT', quiet);
    process.once('SIGTERM', quiet);
    ws = await startFleetWatch(ctxs, watchOptions(domains, o), {
      change(c, w) {
        if (stopping) return;
        const { uri } = w.connection;
        if (flags.json) process.stdout.write(`${JSON.stringify(recordOf(c.atMs, c.changes, c.state, w.connection))}\n`);
        else if (tty) {
          push(line(c, multi ? uri : undefined));
          redraw();
        } else process.stdout.write(`${forTerminal(line(c, multi ? uri : undefined))}\n`);
      },
      notice(notice, w) {
        if (stopping) return;
        const { uri, host } = w.connection;
        if (flags.json) process.stdout.write(`${JSON.stringify(multi ? { at: new Date().toISOString(), uri, host, notice } : { at: new Date().toISOString(), notice })}\n`);
        else process.stderr.write(`vcpuctl watch: ${forTerminal(`${multi ? `${uri}: ` : ''}${notice}`)}\n`);
      },
      connection(c, w) {
        if (stopping) return;
        if (flags.json) process.stdout.write(`${JSON.stringify(connectionRecordOf(Date.now(), c))}\n`);
        else if (tty) {
          push(`${new Date().toISOString()} ${connectionWords(c, w.visible().length, Date.now())}`);
          redraw();
        } else process.stdout.write(`${new Date().toISOString()} ${forTerminal(connectionWords(c, w.visible().length, Date.now()))}\n`);
      },
    }).catch((err) => {
      if (ticker) clearInterval(ticker);
      throw err;
    });
    redraw();
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    if (ticker) clearInterval(ticker);
    await Promise.all(ws.map((w) => w.stop()));
  });
}
