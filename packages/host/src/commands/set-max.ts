/**
 * `vcpuctl set-max DOMAIN M`: the maximum is part of the persistent config
 * and takes effect only from a start, so a running domain is shut down
 * gracefully (destroyed only with --force), changed, and started again.
 */
import { VcpuctlError, toVcpuctlError } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { connectGuest } from '../guest/discover';
import { lockForChange } from '../core/domain-lock';
import { MAX_VCPUS } from '../core/input';
import { Report, ReportBuilder, checkReportDir, writeReport } from '../core/report';
import { computeVerdict, verdictError } from '../core/verdict';
import { Intent } from '../core/intent';
import { intentOperation, recordIntent } from '../core/record-intent';

export interface SetMaxOptions {
  restart: boolean;
  force: boolean;
  shutdownTimeoutMs: number;
  /** How long to wait for the agent after the start. */
  agentWaitMs: number;
}

export async function setMax(ctx: Context, domain: string, maximum: number, opts: SetMaxOptions): Promise<{ report: Report; files: { json: string; markdown: string } }> {
  if (!Number.isSafeInteger(maximum) || maximum < 1 || maximum > MAX_VCPUS) throw new VcpuctlError('USAGE', `maximum must be a whole number from 1 to ${MAX_VCPUS}, got "${maximum}"`);
  const { driver } = ctx;
  checkReportDir(ctx.reportDir);
  const lock = await lockForChange(ctx, domain);
  const rb = new ReportBuilder(domain, driver, 'set-max');
  let failure: VcpuctlError | undefined;
  try {
    const before = await driver.inspect(domain);
    rb.before = { host: before, guest: undefined };
    const wasRunning = before.domain.state === 'running';
    if (wasRunning && !opts.restart) {
      throw new VcpuctlError('DOMAIN_NOT_RUNNING', `domain ${domain} is running; the maximum changes only while it is shut off: pass --restart to shut it down, change it and start it again`);
    }
    try {
      if (wasRunning) {
        rb.libvirtOperations.push(`virsh shutdown ${domain}`);
        rb.mark('graceful shutdown requested');
        await driver.shutdown(domain);
        const deadline = Date.now() + opts.shutdownTimeoutMs;
        for (;;) {
          const s = await driver.inspect(domain);
          if (s.domain.state === 'shut off') break;
          if (Date.now() > deadline) {
            if (!opts.force) throw new VcpuctlError('TIMEOUT', `domain ${domain} did not shut down within ${opts.shutdownTimeoutMs / 1000} s; nothing was changed (use --force to destroy it)`);
            rb.libvirtOperations.push(`virsh destroy ${domain}`);
            rb.mark('shutdown timed out: destroying (--force)');
            await driver.destroy(domain);
            break;
          }
          ctx.progress(`waiting for ${domain} to shut down`);
          await new Promise((r) => setTimeout(r, 500));
        }
        rb.mark('domain shut off');
      }
      const current = Math.min(before.domain.config.current, maximum);
      rb.libvirtOperations.push(`virsh setvcpus ${domain} ${maximum} --maximum --config`);
      await driver.setMaximum(domain, maximum);
      if (current !== before.domain.config.current) {
        rb.libvirtOperations.push(`virsh setvcpus ${domain} ${current} --config`);
        await driver.setVcpus(domain, current, { live: false, config: true });
      }
      rb.mark(`maximum set to ${maximum} in the persistent config`);
      if (wasRunning) {
        rb.libvirtOperations.push(`virsh start ${domain}`);
        await driver.start(domain);
        rb.mark('domain started');
      }
    } catch (err) {
      failure = toVcpuctlError(err);
      rb.mark(`stopped: ${failure.code}: ${failure.message}`);
    }
    let host = await driver.inspect(domain);
    let guest = { reachable: false, error: 'domain not running' } as Awaited<ReturnType<typeof connectGuest>>['view'];
    if (host.domain.state === 'running') {
      const deadline = Date.now() + opts.agentWaitMs;
      for (;;) {
        // Read again each time: a channel's socket and state are those of the new start.
        const g = await connectGuest(ctx, host, { subscribe: false });
        await g.client?.close();
        guest = g.view;
        if (g.view.reachable || !g.configured || Date.now() > deadline) break;
        ctx.progress(`waiting for the agent in ${domain}`);
        await new Promise((r) => setTimeout(r, 1000));
        host = await driver.inspect(domain);
      }
      rb.mark(guest.reachable ? 'agent answered after the start' : `agent not reachable after the start: ${guest.error}`);
    }
    // The count the domain boots with is what is wanted now.
    const running = host.domain.state === 'running';
    const online = host.domain.live?.current ?? host.domain.config.current;
    const intent: Intent | undefined = failure
      ? undefined
      : {
          online,
          ...(running && guest.reachable && guest.snapshot?.online ? { cpus: guest.snapshot.online } : {}),
          operation: 'set-max',
          strategy: wasRunning ? 'restart' : 'config',
          at: new Date().toISOString(),
        };
    const verdict = computeVerdict(host, guest, { intent });
    if (wasRunning) failure ??= verdictError(verdict); // a shut-off domain stays off: no guest to confirm
    const report = rb.finish({ host, guest }, verdict, failure ? { ok: false, code: failure.code, message: failure.message } : { ok: true });
    if (!failure && intent) {
      report.intent = await recordIntent(ctx, domain, { ...intent, report: report.id }, { live: running, config: true });
      rb.mark(report.intent.error ? `intent NOT recorded: ${report.intent.error}` : `intent recorded in the domain's metadata: ${online} online`);
      report.timeline = [...rb.timeline].sort((a, b) => a.atMs - b.atMs);
      if (!report.intent.error) report.libvirtOperations.push(intentOperation(domain, report.intent));
    }
    const files = writeReport(ctx.reportDir, report);
    if (failure) throw new VcpuctlError(failure.code, `${failure.message} (report: ${files.markdown})`, { ...failure.details, report: files.json });
    return { report, files };
  } finally {
    lock.release();
  }
}
