/**
 * `vcpuctl set DOMAIN N`: bring the domain to N online vCPUs and wait until
 * the guest confirms it, or say exactly what is and is not done. Every path,
 * failed ones too, ends in a written report.
 */
import { VcpuctlError, parseCpuList, toVcpuctlError, v1 } from '@vcpuctl/proto';
import { Context } from '../core/context';
import { connectGuest, guestNow } from '../guest/discover';
import { GuestSession } from '../guest/source';
import { lockForChange } from '../core/domain-lock';
import { MAX_VCPUS } from '../core/input';
import { Report, ReportBuilder, checkReportDir, writeReport } from '../core/report';
import { GuestView, computeVerdict, verdictError } from '../core/verdict';
import { DomainSnapshot } from '../libvirt/driver';
import { Intent } from '../core/intent';
import { intentOperation, recordIntent } from '../core/record-intent';

export type Strategy = 'auto' | 'hotplug' | 'unplug' | 'guest-offline';

export interface SetOptions {
  live: boolean;
  config: boolean;
  strategy: Strategy;
  timeoutMs: number;
}

export interface SetResult {
  report: Report;
  files: { json: string; markdown: string };
}

/** How many CPUs a kernel cpulist names ("0-2,5" is 4); empty or absent is 0. */
function cpuCount(list: string | null | undefined): number {
  return list ? parseCpuList(list).length : 0;
}

/**
 * After the guest confirms, how long a silence ends the wait for its kernel
 * lines (the agent holds an unclaimed line up to 50 ms, then pushes it), and
 * the most that waiting may add.
 */
const EVIDENCE_QUIET_MS = 250;
const EVIDENCE_MAX_WAIT_MS = 1500;

/** Waits until the guest shows `want` (checked on every pushed event and once a second), collecting kernel lines. */
async function waitForGuest(
  ctx: Context, client: GuestSession, rb: ReportBuilder, want: (s: v1.Snapshot.$Properties) => boolean, what: string, timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: VcpuctlError) => {
      if (done) return;
      done = true;
      clearInterval(poll);
      if (quiet) clearTimeout(quiet);
      client.off('event', onEvent);
      client.off('kernelLog', onKernelLog);
      client.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    let onlining = false;
    let confirmed = false;
    let quiet: NodeJS.Timeout | undefined;
    let settledBy = Infinity;
    // The kernel's lines reach the agent a little after the sysfs change they
    // explain; once confirmed, wait until they stop coming (bounded).
    const settle = () => {
      if (quiet) clearTimeout(quiet);
      quiet = setTimeout(() => finish(), Math.max(0, Math.min(EVIDENCE_QUIET_MS, settledBy - Date.now())));
    };
    const check = (s: v1.Snapshot.$Properties | null | undefined) => {
      if (!s) return;
      if (want(s)) {
        if (!confirmed) {
          rb.mark(`agent confirmed: ${what} (present ${s.present}, online ${s.online})`);
          settledBy = Date.now() + EVIDENCE_MAX_WAIT_MS;
        }
        confirmed = true;
        settle();
        return;
      }
      // An agent told not to online hot-added CPUs (--no-auto-online) leaves
      // them offline; the operator asked for them online, so ask for it.
      const stuck = (s.cpus ?? []).filter((c) => c.present && !c.online && c.offlineCause === v1.OfflineCause.HOT_ADDED_NEVER_ONLINED).map((c) => c.index ?? 0);
      if (stuck.length && !client.hello.autoOnline && !onlining) {
        onlining = true;
        rb.mark(`agent asked: online hot-added ${stuck.map((c) => `cpu${c}`).join(', ')} (the agent's auto-online is off)`);
        client.setOnline(stuck.map((cpu) => ({ cpu, online: true })), ctx.agentTimeoutMs + 60_000).then(
          (r) => { onlining = false; check(r.snapshot); },
          (err: Error) => { onlining = false; rb.mark(`agent could not online them: ${err.message}`); },
        );
      }
    };
    const onEvent = (e: v1.CpuEvent) => {
      rb.kernel(e.kernelLines);
      if (confirmed) settle();
      rb.mark(`agent event: ${e.changes.map((c) => `cpu${c.cpu} ${v1.CpuChange.Kind[c.kind ?? 0]}${c.byAgent ? ' (by agent)' : ''}`).join(', ')}`);
      check(e.snapshot);
    };
    const onKernelLog = (k: v1.KernelLog) => {
      rb.kernel(k.lines);
      if (confirmed) settle();
    };
    const onClose = () => finish(new VcpuctlError('AGENT_UNREACHABLE', `the agent went away while waiting for ${what}`));
    client.on('event', onEvent);
    client.on('kernelLog', onKernelLog);
    client.on('close', onClose);
    signal?.addEventListener('abort', () => finish(), { once: true });
    let polling = false;
    const poll = setInterval(() => {
      if (Date.now() > deadline) {
        finish(new VcpuctlError('TIMEOUT', `waited ${Math.round(timeoutMs / 1000)} s for the guest to show ${what}`));
        return;
      }
      ctx.progress(`waiting for the guest: ${what}`);
      if (polling) return; // a slow source (qemu-ga through virsh) is asked one question at a time
      polling = true;
      client.snapshot(ctx.agentTimeoutMs).then((s) => check(s), () => undefined).finally(() => (polling = false));
    }, client.pollIntervalMs ?? 1000);
  });
}

export async function setVcpus(ctx: Context, domain: string, target: number, opts: SetOptions): Promise<SetResult> {
  if (!Number.isSafeInteger(target) || target < 1 || target > MAX_VCPUS) throw new VcpuctlError('USAGE', `vCPU count must be a whole number from 1 to ${MAX_VCPUS}, got "${target}"`);
  checkReportDir(ctx.reportDir);
  const lock = await lockForChange(ctx, domain);
  const rb = new ReportBuilder(domain, ctx.driver.uri, 'set');
  let client: GuestSession | undefined;
  let guestBefore: GuestView = { reachable: false, error: 'not contacted' };
  let failure: VcpuctlError | undefined;
  let guestOfflineIntended = false;
  let strategy = opts.strategy as string;
  try {
    rb.mark(`vcpuctl set ${domain} ${target} (strategy ${opts.strategy}${opts.config ? ', persist' : ''})`);
    const before = await ctx.driver.inspect(domain);
    const live = before.domain.live;
    if (live) {
      const g = await connectGuest(ctx, before, { subscribe: true });
      client = g.client;
      guestBefore = g.view;
      // Lines the agent pushes while libvirt is still acting (before waitForGuest listens) are evidence too.
      client?.on('event', (e) => rb.kernel(e.kernelLines));
      client?.on('kernelLog', (k) => rb.kernel(k.lines));
    }
    rb.before = { host: before, guest: guestBefore };
    rb.mark(`before: host and guest views taken (guest ${guestBefore.via ? `reached via ${guestBefore.via}` : 'not reached'})`);
    try {
      strategy = await change(ctx, domain, target, opts, before, client, guestBefore, rb, (v) => (guestOfflineIntended = v));
    } catch (err) {
      failure = toVcpuctlError(err);
      rb.mark(`stopped: ${failure.code}: ${failure.message}`);
    }
    const host = await ctx.driver.inspect(domain).catch((): DomainSnapshot => before);
    const guest = host.domain.state === 'running' ? await guestNow(ctx, client, guestBefore) : { reachable: false, error: 'domain not running' };
    rb.mark('after: host and guest views taken');
    // What this set makes the wanted state, once done: the verdict judges against it.
    const running = host.domain.state === 'running';
    const intent: Intent | undefined = failure ? undefined : {
      online: target, ...(running && guest.reachable && guest.snapshot?.online ? { cpus: guest.snapshot.online } : {}),
      operation: 'set', strategy, at: new Date().toISOString(),
    };
    const verdict = computeVerdict(host, guest, { guestOfflineIntended, intent });
    const crashed = host.domain.state !== 'running' && before.domain.state === 'running';
    if (crashed && (!failure || failure.code !== 'DOMAIN_NOT_RUNNING')) {
      failure = new VcpuctlError('DOMAIN_NOT_RUNNING', `domain ${domain} stopped during the operation (${host.domain.state}${host.domain.reason ? `, ${host.domain.reason}` : ''})`);
    }
    const tail = crashed ? await ctx.driver.qemuLogTail?.(domain, 20) : undefined;
    // Done on the host but not confirmed by the guest is not done.
    if (before.domain.live) failure ??= verdictError(verdict); // a config-only change of a shut-off domain has no guest to confirm
    const report = rb.finish({ host, guest }, verdict, failure ? { ok: false, code: failure.code, message: failure.message } : { ok: true }, tail);
    if (!failure && intent) {
      // Live when the running domain was changed; persistent when the
      // config was (or the domain is off): a restart then meets the intent
      // that matches the count it boots with.
      const flags = { live: running, config: opts.config || !running };
      report.intent = await recordIntent(ctx, domain, { ...intent, report: report.id }, flags);
      rb.mark(report.intent.error ? `intent NOT recorded: ${report.intent.error}` : `intent recorded in the domain's metadata: ${target} online`);
      report.timeline = [...rb.timeline].sort((a, b) => a.atMs - b.atMs);
      if (!report.intent.error) report.libvirtOperations.push(intentOperation(domain, report.intent));
    }
    const files = writeReport(ctx.reportDir, report);
    if (failure) throw new VcpuctlError(failure.code, `${failure.message} (report: ${files.markdown})`, { ...failure.details, report: files.json });
    return { report, files };
  } finally {
    await client?.close();
    lock.release();
  }
}

async function change(
  ctx: Context, domain: string, target: number, opts: SetOptions, before: DomainSnapshot, client: GuestSession | undefined,
  guest: GuestView, rb: ReportBuilder, setIntended: (v: boolean) => void,
): Promise<string> {
  const { domain: dom, qemu } = before;
  const live = dom.live;
  // An agent of another machine would "confirm" the wrong guest: refuse before touching anything.
  if (guest.productUuid && dom.uuid && guest.productUuid.toLowerCase() !== dom.uuid.toLowerCase()) {
    throw new VcpuctlError('IDENTITY_MISMATCH', `the agent answering has product_uuid ${guest.productUuid}, not domain ${domain}'s ${dom.uuid}; nothing was changed`);
  }
  if (!live) {
    if (opts.live && !opts.config) throw new VcpuctlError('DOMAIN_NOT_RUNNING', `domain ${domain} is ${dom.state}: only --config can change it`);
    if (target > dom.config.maximum) throw overMax(domain, target, dom.config.maximum);
    rb.libvirtOperations.push(`virsh setvcpus ${domain} ${target} --config`);
    await ctx.driver.setVcpus(domain, target, { live: false, config: true });
    rb.mark('libvirt returned: config changed');
    return 'config';
  }
  if (target > live.maximum) throw overMax(domain, target, live.maximum);
  if (qemu && qemu.plugged !== live.current) {
    throw new VcpuctlError('STALE_LIBVIRT', `libvirt counts ${live.current} vCPUs on ${domain} but QEMU has ${qemu.plugged}: libvirt's state is stale; refusing hotplug until libvirtd is restarted`);
  }
  const snap = guest.snapshot;
  const guestOnline = snap ? cpuCount(snap.online) : live.current;
  if (target > live.current) {
    if (opts.strategy === 'unplug' || opts.strategy === 'guest-offline') throw new VcpuctlError('USAGE', `--strategy ${opts.strategy} removes vCPUs; ${target} is more than the ${live.current} the domain has`);
    const op = `virsh setvcpus ${domain} ${target} --live${opts.config ? ' --config' : ''}`;
    rb.libvirtOperations.push(op);
    rb.mark(`command issued: ${op}`);
    await ctx.driver.setVcpus(domain, target, { live: true, config: opts.config });
    rb.mark('libvirt returned');
    if (client) await waitForGuest(ctx, client, rb, (s) => cpuCount(s.present) >= target && cpuCount(s.online) >= target, `${target} vCPUs present and online`, opts.timeoutMs);
    return 'hotplug';
  }
  if (target === live.current && guestOnline >= target) {
    if (opts.config && dom.config.current !== target) {
      rb.libvirtOperations.push(`virsh setvcpus ${domain} ${target} --config`);
      await ctx.driver.setVcpus(domain, target, { live: false, config: true });
      rb.mark('libvirt returned: config persisted');
    } else rb.mark(`nothing to do: ${target} vCPUs already`);
    return 'none';
  }
  // Fewer online than wanted but no more to plug: online what the guest has offline.
  if (target <= live.current && guestOnline < target) {
    if (!client || !snap) throw new VcpuctlError('AGENT_UNREACHABLE', `the guest has fewer than ${target} CPUs online and its agent cannot be reached to online them`);
    const offline = (snap.cpus ?? []).filter((c) => c.present && !c.online).map((c) => c.index ?? 0).slice(0, target - guestOnline);
    await guestSet(ctx, client, rb, offline.map((cpu) => ({ cpu, online: true })), target);
    if (opts.config && dom.config.current !== target) {
      rb.libvirtOperations.push(`virsh setvcpus ${domain} ${target} --config`);
      await ctx.driver.setVcpus(domain, target, { live: false, config: true });
    }
    return 'guest-online';
  }
  // Going down.
  const hotpluggable = live.vcpus.some((v) => v.enabled && v.hotpluggable);
  const strategy = opts.strategy === 'auto' ? (client ? 'guest-offline' : hotpluggable ? 'unplug' : 'guest-offline') : opts.strategy;
  if (strategy === 'hotplug') throw new VcpuctlError('USAGE', `--strategy hotplug adds vCPUs; ${target} is fewer than the ${guestOnline} online`);
  if (strategy === 'unplug') {
    const op = `virsh setvcpus ${domain} ${target} --live${opts.config ? ' --config' : ''}`;
    rb.libvirtOperations.push(op);
    rb.mark(`command issued: ${op}`);
    try {
      await ctx.driver.setVcpus(domain, target, { live: true, config: opts.config });
      rb.mark('libvirt returned');
    } catch (err) {
      rb.mark(`libvirt failed: ${(err as Error).message}`);
      throw err;
    }
    if (client) await waitForGuest(ctx, client, rb, (s) => cpuCount(s.present) === target, `${target} vCPUs present`, opts.timeoutMs);
    return 'unplug';
  }
  if (!client || !snap) throw new VcpuctlError('AGENT_UNREACHABLE', `offlining inside the guest needs its agent, which cannot be reached: ${guest.error ?? ''}`);
  setIntended(true);
  const victims = (snap.cpus ?? []).filter((c) => c.online && c.offlinable).map((c) => c.index ?? 0).sort((a, b) => b - a).slice(0, guestOnline - target);
  // Already down to `target` inside the guest (offlined earlier, by vcpuctl
  // or not): nothing to offline; the caller records it as intended.
  if (victims.length) await guestSet(ctx, client, rb, victims.map((cpu) => ({ cpu, online: false })), target);
  else rb.mark(`the guest already has ${target} CPU${target === 1 ? '' : 's'} online: nothing to offline`);
  if (opts.config && dom.config.current !== target) {
    const op = `virsh setvcpus ${domain} ${target} --config`;
    rb.libvirtOperations.push(op);
    await ctx.driver.setVcpus(domain, target, { live: false, config: true });
    rb.mark('libvirt returned: lower count persisted for the next start');
  }
  return 'guest-offline';
}

async function guestSet(ctx: Context, client: GuestSession, rb: ReportBuilder, cpus: { cpu: number; online: boolean }[], target: number): Promise<void> {
  rb.mark(`agent asked: ${cpus.map((c) => `cpu${c.cpu} ${c.online ? 'online' : 'offline'}`).join(', ')}`);
  // Listen before asking: the agent pushes the change, with the kernel's
  // lines, while it is still answering the request.
  const stop = new AbortController();
  const confirmed = waitForGuest(ctx, client, rb, (s) => cpuCount(s.online) === target, `${target} CPU${target === 1 ? '' : 's'} online`, ctx.agentTimeoutMs + 60_000, stop.signal);
  try {
    const reply = await client.setOnline(cpus, ctx.agentTimeoutMs + 60_000);
    const failed = reply.results.filter((r) => r.outcome === v1.CpuResult.Outcome.FAILED);
    rb.mark(`agent answered: ${reply.results.map((r) => `cpu${r.cpu} ${v1.CpuResult.Outcome[r.outcome ?? 0]}${r.errorCode ? ` ${r.errorCode}` : ''}`).join(', ')}`);
    if (failed.length) {
      throw new VcpuctlError('PARTIAL', `${reply.processed} of ${cpus.length} CPU changes done; the guest kernel refused cpu${failed[0]!.cpu} (${failed[0]!.errorCode})`);
    }
    const online = cpuCount(reply.snapshot?.online);
    if (online !== target) throw new VcpuctlError('PARTIAL', `the guest has ${online} CPUs online, not ${target}`);
  } catch (err) {
    stop.abort();
    await confirmed.catch(() => undefined);
    throw err;
  }
  await confirmed;
}

function overMax(domain: string, target: number, maximum: number): VcpuctlError {
  return new VcpuctlError('OVER_MAXIMUM',
    `${target} vCPUs exceeds the maximum of ${maximum} for domain ${domain}; nothing was changed. Raise it with \`vcpuctl set-max ${domain} ${target} --restart\` (shuts the guest down and starts it again)`,
    { maximum, requested: target });
}
