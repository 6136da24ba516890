import { Command } from 'commander';
import { recordOf, startWatch } from '../commands/watch';
import { Change, DomainState } from '../watch/watcher';
import { contextFrom } from './globals';
import { WatchFlags, addWatchOptions, watchOptions } from './watch-options';

/** How many recent changes the live table keeps under it. */
const RECENT_LINES = 12;

function verdictWord(s: DomainState): string {
  if (!s.verdict) return '?';
  if (s.verdict.findings.length === 0) return 'agree';
  return `${s.verdict.ok ? 'ok' : 'MISMATCH'}: ${s.verdict.findings.map((f) => f.kind).join(',')}`;
}

function row(s: DomainState): string[] {
  const d = s.host?.domain;
  const g = s.guest.reachable && s.guest.snapshot ? `${s.guest.snapshot.online ?? ''}/${s.guest.snapshot.present ?? ''}` : '-';
  return [s.name, d?.state ?? (s.hostError ? 'error' : '?'), d?.live ? `${d.live.current}/${d.live.maximum}` : '-', d ? `${d.config.current}/${d.config.maximum}` : '-',
    s.host?.qemu ? String(s.host.qemu.plugged) : '-', g, d?.intent ? String(d.intent.online) : '-', verdictWord(s)];
}

function table(states: DomainState[], recent: string[]): string {
  const rows = [['DOMAIN', 'STATE', 'LIVE', 'CONFIG', 'QEMU', 'GUEST ONLINE/PRESENT', 'INTENT', 'VERDICT'], ...states.map(row)];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  return `${lines.join('\n')}\n\nrecent changes:\n${recent.join('\n')}\n`;
}

function line(c: Change): string {
  const v = c.state.verdict;
  const verdict = !v ? '' : v.findings.length === 0 ? 'verdict: agree' : `verdict: ${v.ok ? 'ok' : 'MISMATCH'} ${v.findings.map((f) => `${f.kind} (${f.severity})`).join(', ')}`;
  return `${new Date(c.atMs).toISOString()} ${c.domain}: ${c.changes.join('; ')} -> ${verdict}`;
}

export function watchCommand(): Command {
  return addWatchOptions(new Command('watch')
    .description('follow libvirt events and every guest agent; print each vCPU change as it happens, with the new verdict (a live table on a terminal, one JSON object per line with --json)'))
    .action(async (domains: string[], o: WatchFlags, cmd: Command) => {
      const { ctx, flags } = contextFrom(cmd);
      const tty = !flags.json && process.stdout.isTTY;
      const recent: string[] = [];
      let w: Awaited<ReturnType<typeof startWatch>> | undefined;
      const redraw = () => tty && w && process.stdout.write(`\x1b[H\x1b[2J${table([...w.domains.values()], recent)}`);
      w = await startWatch(ctx, watchOptions(domains, o), (c) => {
        if (flags.json) process.stdout.write(`${JSON.stringify(recordOf(c.atMs, c.changes, c.state))}\n`);
        else if (tty) {
          recent.push(line(c));
          if (recent.length > RECENT_LINES) recent.shift();
          redraw();
        } else process.stdout.write(`${line(c)}\n`);
      }, (notice) => {
        if (flags.json) process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), notice })}\n`);
        else process.stderr.write(`vcpuctl watch: ${notice}\n`);
      });
      redraw();
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await w.stop();
    });
}
