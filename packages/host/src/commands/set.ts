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
import { SetPlan, Strategy, checkTarget, cpuCount, planSet, refusalError } from '../core/set-plan';
import { Report, ReportBuilder, checkReportDir, writeReport } from '../core/report';
import { Finding, GuestView, Verdict, computeVerdict, unavailableVerdict, verdictError } from '../core/verdict';
import { checkClaims, claimFindings, claimLine } from '../core/claim-check';
import { readHostAfter, settleAfterFailure } from '../core/host-after';
import { Intent, wantedOfflineOf } from '../core/intent';
import { intentOperation, recordIntent } from '../core/record-intent';
import { changeText } from '../guest/change-text';

export type { Strategy };

export interface SetOptions {
  live: boolean;
  config: boolean;
  strategy: Strategy;
  timeoutMs: number;
  /**
   * Who runs it, for the report and the intent: `set` (the default) or
   * `reconcile` (watch and the exporter re-applying a recorded intent).
   */
  operation?: 'set' | 'reconcile';
  /** With guest-offline: exactly these guest CPUs (the recorded intent's), instead of the highest-numbered. */
  offline?: number[];
  /** Why it runs, as the report's first line says it (reconcile). */
  reason?: string;
}

export interface SetResult {
  report: Report;
  files: { json: string; markdown: string };
}

/**
 * After the guest confirms, how long a silence ends the wait for its kernel
 * lines, and the most that waiting may add. The agent pushes a line it read
 * at most its hold (50 ms) plus one poll (50 ms) later, and the channel adds
 * a few ms; the lines of an online come before the sysfs change that
 * confirms it, so this silence rarely waits for anything and should not be
 * longer than those sums (it is most of what a confirmed set adds to the
 * floor: bench/set-floor-bench.js).
 */
const EVIDENCE_QUIET_MS = 150;
const EVIDENCE_MAX_WAIT_MS = 1500;

/** Refused onlines the snapshot shows for CPUs still present and offline, that were not there before the operation. */
function newOnlineFailures(s: v1.Snapshot.$Properties, before: v1.Snapshot.$Properties | undefined): v1.IOnlineFailure[] {
  const old = new Set((before?.onlineFailures ?? []).map((f) => `${f.cpu}@${f.atMs}`));
  const offline = new Set((s.cpus ?? []).filter((c) => c.present && !c.online).map((c) => c.index ?? 0));
  return (s.onlineFailures ?? []).filter((f) => offline.has(f.cpu ?? 0) && !old.has(`${f.cpu}@${f.atMs}`));
}

/** Waits until the guest shows `want` (checked on every pushed event and once a second), collecting kernel lines. */
async function waitForGuest(ctx: Context, client: GuestSession, rb: ReportBuilder, want: (s: v1.Snapshot.$Properties) => boolean, what: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
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
      // The kernel refused an online (after the agent's retry): waiting longer changes nothing, and asking again loops.
      const refused = newOnlineFailures(s, rb.before?.guest?.snapshot);
      if (refused.length) {
        rb.mark(`agent: the guest kernel refused to online ${refused.map((f) => `cpu${f.cpu} (${f.errno}, ${f.attempts} write${f.attempts === 1 ? '' : 's'})`).join(', ')}`);
        finish(new VcpuctlError('PARTIAL', `the guest kernel refused to online ${refused.map((f) => `cpu${f.cpu} (${f.errno})`).join(', ')}: see CPU_ONLINE_FAILED`));
        return;
      }
      // An agent told not to online hot-added CPUs (--no-auto-online) leaves
      // them offline; the operator asked for them online, so ask for it.
      const stuck = (s.cpus ?? []).filter((c) => c.present && !c.online && c.offlineCause === v1.OfflineCause.HOT_ADDED_NEVER_ONLINED).map((c) => c.index ?? 0);
      // So does an agent told to keep a CPU offline (an earlier guest-side offline) when it is hot-added again.
      const keptOffline = new Set(parseCpuList(client.hello.wantedOffline ?? ''));
      if (stuck.length && (!client.hello.autoOnline || stuck.some((c) => keptOffline.has(c))) && !onlining) {
        onlining = true;
        rb.mark(`agent asked: online hot-added ${stuck.map((c) => `cpu${c}`).join(', ')} (the agent's auto-online is off)`);
        client
          .setOnline(
            stuck.map((cpu) => ({ cpu, online: true })),
            ctx.agentTimeoutMs + 60_000,
          )
          .then(
            (r) => {
              onlining = false;
              check(r.snapshot);
            },
            (err: Error) => {
              onlining = false;
              rb.mark(`agent could not online them: ${err.message}`);
            },
          );
      }
    };
    const onEvent = (e: v1.CpuEvent) => {
      rb.kernel(e.kernelLines);
      if (confirmed) settle();
      rb.mark(`agent event: ${e.changes.map(changeText).join(', ')}`);
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
      client
        .snapshot(ctx.agentTimeoutMs)
        .then(
          (s) => check(s),
          () => undefined,
        )
        .finally(() => (polling = false));
    }, client.pollIntervalMs ?? 1000);
  });
}

/** For callers that run many sets (set-many.ts): the plan the run decided, as it decides it. */
export interface SetHooks {
  onPlan?(plan: SetPlan): void;
  /** The report, once written (failed runs too, before the error is thrown). */
  onReport?(report: Report, files: { json: string; markdown: string }): void;
}

export async function setVcpus(ctx: Context, domain: string, target: number, opts: SetOptions, hooks?: SetHooks): Promise<SetResult> {
  checkTarget(target);
  checkReportDir(ctx.reportDir);
  const lock = await lockForChange(ctx, domain);
  const operation = opts.operation ?? 'set';
  const rb = new ReportBuilder(domain, ctx.driver, operation);
  let client: GuestSession | undefined;
  let guestBefore: GuestView = { reachable: false, error: 'not contacted' };
  let failure: VcpuctlError | undefined;
  let guestOfflineIntended = false;
  let strategy = opts.strategy as string;
  /** The host's check of a guest-side offline (core/claim-check.ts): a claim the hypervisor contradicts is not an intent. */
  let claims: Finding[] = [];
  try {
    rb.mark(`vcpuctl ${operation} ${domain} ${target} (strategy ${opts.strategy}${opts.config ? ', persist' : ''})${opts.reason ? `: ${opts.reason}` : ''}`);
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
      const plan = planSet(domain, target, opts, before, guestBefore, client !== undefined);
      // Re-applying an intent: the very CPUs it kept offline, when they are as many as the plan would take.
      if (opts.offline && plan.strategy === 'guest-offline' && plan.cpus.length === opts.offline.length) plan.cpus = [...opts.offline];
      hooks?.onPlan?.(plan);
      strategy = await change(
        ctx,
        plan,
        opts,
        client,
        rb,
        (v) => (guestOfflineIntended = v),
        (c) => (claims = c),
      );
    } catch (err) {
      failure = toVcpuctlError(err);
      rb.mark(`stopped: ${failure.code}: ${failure.message}`);
    }
    const after = await readHostAfter(ctx, domain);
    if (after.waitedMs >= 1000) rb.mark(after.host ? `libvirt answered again after ${(after.waitedMs / 1000).toFixed(1)} s` : `libvirt still unreachable after ${(after.waitedMs / 1000).toFixed(1)} s`);
    // libvirt refused the change of a running domain: QEMU may have died under it, which libvirt shows a moment later.
    if (after.host && failure?.code === 'LIBVIRT_FAILED' && before.domain.state === 'running') after.host = await settleAfterFailure(ctx, domain, after.host);
    const host = after.host;
    const guest = !host || host.domain.state === 'running' ? await guestNow(ctx, client, guestBefore) : { reachable: false, error: 'domain not running' };
    rb.mark(host ? 'after: host and guest views taken' : `after: host view unavailable (${after.error.code}), guest view taken`);
    // What this set makes the wanted state, once done: the verdict judges against it.
    const running = host?.domain.state === 'running';
    const intent: Intent | undefined =
      failure || !host || claims.some((f) => f.severity === 'error')
        ? undefined
        : {
            online: target,
            ...(running && guest.reachable && guest.snapshot?.online ? { cpus: guest.snapshot.online } : {}),
            operation,
            strategy,
            at: new Date().toISOString(),
            ...(running && host.domain.runId !== undefined ? { runId: host.domain.runId } : {}),
          };
    // Never the view from before in place of the one after: without a host view there is no verdict to give.
    const verdict: Verdict = host ? computeVerdict(host, guest, { guestOfflineIntended, intent, claims }) : unavailableVerdict(after.error);
    const crashed = !!host && host.domain.state !== 'running' && before.domain.state === 'running';
    if (crashed && (!failure || failure.code !== 'DOMAIN_NOT_RUNNING')) {
      failure = new VcpuctlError('DOMAIN_NOT_RUNNING', `domain ${domain} stopped during the operation (${host.domain.state}${host.domain.reason ? `, ${host.domain.reason}` : ''})`);
    }
    const tail = crashed ? await ctx.driver.qemuLogTail(domain, 20) : undefined;
    if (!host)
      failure ??= new VcpuctlError(
        after.error.code,
        `host view unavailable after the change: ${after.error.message}; ${guest.reachable && guest.snapshot ? `the guest shows present ${guest.snapshot.present}, online ${guest.snapshot.online}` : 'the guest was not reached'}; no intent recorded (run \`vcpuctl verify ${domain}\` once libvirt answers)`,
      );
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
      if (!report.intent.error) report.libvirtOperations.push(intentOperation(domain, report.intent));
      if (running && client && guest.snapshot) await tellWantedOffline(client, rb, wantedOfflineOf(guest.snapshot.present, guest.snapshot.online), ctx.agentTimeoutMs);
      report.timeline = [...rb.timeline].sort((a, b) => a.atMs - b.atMs);
    }
    const files = writeReport(ctx.reportDir, report);
    hooks?.onReport?.(report, files);
    if (failure) throw new VcpuctlError(failure.code, `${failure.message} (report: ${files.markdown})`, { ...failure.details, report: files.json });
    return { report, files };
  } finally {
    await client?.close();
    lock.release();
  }
}

/**
 * Tells the agent which CPUs are now offline by intent, so its auto-online
 * never puts one back (also after it restarts): the set grows with a
 * guest-side offline and shrinks when they are onlined again. Its failure
 * leaves the change standing and is said in the report.
 */
export async function tellWantedOffline(client: GuestSession, rb: { mark(text: string): void }, cpus: string, timeoutMs: number): Promise<void> {
  if (!client.setWantedOffline) return; // qemu-guest-agent onlines nothing by itself
  if (!cpus && !client.hello.wantedOffline) return; // nothing wanted offline, and the agent keeps nothing
  try {
    const r = await client.setWantedOffline(cpus, timeoutMs);
    rb.mark(`agent told: wanted offline ${r.cpus || 'none'}${r.persisted ? ' (kept across its restarts)' : ' (in memory only: its state file could not be written)'}`);
  } catch (err) {
    rb.mark(`agent NOT told the wanted offline CPUs (${cpus || 'none'}): ${(err as Error).message}; its auto-online may bring them back after it restarts`);
  }
}

/** Executes the plan (core/set-plan.ts); returns the strategy the intent records. */
async function change(ctx: Context, plan: SetPlan, opts: SetOptions, client: GuestSession | undefined, rb: ReportBuilder, setIntended: (v: boolean) => void, setClaims: (f: Finding[]) => void): Promise<string> {
  if (plan.refusal) throw refusalError(plan.refusal);
  const { domain, target } = plan;
  const persist = async (mark: string | undefined) => {
    if (!plan.persistConfig) return;
    rb.libvirtOperations.push(`virsh setvcpus ${domain} ${target} --config`);
    await ctx.driver.setVcpus(domain, target, { live: false, config: true });
    if (mark) rb.mark(mark);
  };
  switch (plan.strategy) {
    case 'config':
      await persist('libvirt returned: config changed');
      return 'config';
    case 'hotplug': {
      const op = `virsh setvcpus ${domain} ${target} --live${opts.config ? ' --config' : ''}`;
      rb.libvirtOperations.push(op);
      rb.mark(`command issued: ${op}`);
      await ctx.driver.setVcpus(domain, target, { live: true, config: opts.config });
      rb.mark('libvirt returned');
      if (client) await waitForGuest(ctx, client, rb, (s) => cpuCount(s.present) >= target && cpuCount(s.online) >= target, `${target} vCPUs present and online`, opts.timeoutMs);
      return 'hotplug';
    }
    case 'none':
      if (plan.persistConfig) await persist('libvirt returned: config persisted');
      else rb.mark(`nothing to do: ${target} vCPUs already`);
      return 'none';
    case 'guest-online':
      await guestSet(
        ctx,
        client!,
        rb,
        plan.cpus.map((cpu) => ({ cpu, online: true })),
        target,
      );
      await persist(undefined);
      return 'guest-online';
    case 'unplug': {
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
    case 'guest-offline':
      setIntended(true);
      // Already down to `target` inside the guest (offlined earlier, by vcpuctl
      // or not): nothing to offline; the caller records it as intended.
      if (plan.cpus.length)
        await guestSet(
          ctx,
          client!,
          rb,
          plan.cpus.map((cpu) => ({ cpu, online: false })),
          target,
        );
      else rb.mark(`the guest already has ${target} CPU${target === 1 ? '' : 's'} online: nothing to offline`);
      {
        // The guest says the CPUs are offline; the hypervisor must have seen them stop running before that becomes the intent.
        const check = await checkClaims(ctx, domain, () => client!.snapshot(ctx.agentTimeoutMs));
        rb.mark(claimLine(check));
        setClaims(claimFindings(domain, check));
      }
      await persist('libvirt returned: lower count persisted for the next start');
      return 'guest-offline';
    default:
      throw new VcpuctlError('INTERNAL', `set: a plan without a strategy or a refusal for ${domain}`);
  }
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
