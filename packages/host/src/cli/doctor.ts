import { Command } from 'commander';
import { VcpuctlError } from '@vcpuctl/proto/errors';
import type { DoctorCheck } from '../core/doctor/check';
import type { DoctorFleetResult, DoctorResult } from '../commands/doctor';
import { fleetError } from '../core/fleet-exit';
import { domainName } from '../core/input';
import { addFleetOptions, checkFleetUse, FleetFlags, fleetFrom } from './fleet-options';
import { contextFrom, print } from './globals';

const WORD: Record<DoctorCheck['status'], string> = { ok: 'ok', risk: 'RISK', 'not checked': 'not checked' };

/** One line per check, and the fix under each risk. */
export function checksText(checks: readonly DoctorCheck[], indent = '  '): string {
  const title = Math.max(...checks.map((c) => c.title.length));
  return checks.map((c) => `${indent}${WORD[c.status].padEnd(11)}  ${c.title.padEnd(title)}  ${c.detail}${c.fix ? `\n${indent}${' '.repeat(13 + title + 2)}fix: ${c.fix}` : ''}`).join('\n');
}

function countsText(r: DoctorResult): string {
  const c = r.counts;
  return `${c.risk} risk${c.risk === 1 ? '' : 's'}, ${c.ok} ok, ${c.notChecked} not checked`;
}

export function doctorText(r: DoctorResult): string {
  return `${r.domain} (${r.state}): ${countsText(r)}\n${checksText(r.checks)}`;
}

function fleetDoctorText(r: DoctorFleetResult): string {
  const parts: string[] = [];
  for (const h of r.hosts) {
    if (!h.reachable) {
      parts.push(`${h.uri} (host ${h.hostName}): unreachable: ${h.error?.code}: ${h.error?.message}`, '');
      continue;
    }
    parts.push(`${h.uri} (host ${h.hostName}): ${h.domains.length} domain${h.domains.length === 1 ? '' : 's'}`);
    for (const d of h.domains) parts.push(d.result ? doctorText(d.result) : `${d.domain} (${d.state}): error ${d.error?.code}: ${d.error?.message}`);
    parts.push('');
  }
  const s = r.summary;
  parts.push(`${s.hosts} host${s.hosts === 1 ? '' : 's'} (${s.unreachableHosts} unreachable), ${s.domains} domains: ${s.withRisks} with risks, ${s.clean} without, ${s.unread} unread`);
  return parts.join('\n');
}

const HELP = `
Checks, host side first: maximum headroom; <vcpupin> covering the vCPUs a hot-add plugs; <numa> cells they land in;
<topology> (a hot-added vCPU as a new socket); migrated since boot (libvirt's state reason); then the guest:
qemu-ga's guest-get-vcpus/guest-set-vcpus enabled (guest-info); the guest kernel's CPU hotplug (vcpuctl-agent's
snapshot); the udev auto-online rule (not checked: the agent does not report it). Each is ok, RISK (with its fix) or
not checked (with why; never counted as a pass). Exit status: 0 when no check found a risk, 3 (MISMATCH) when one
did; with --all the worst problem, ranked as for status --all, each domain with a risk counting as MISMATCH.`;

export function doctorCommand(): Command {
  return addFleetOptions(new Command('doctor'))
    .description('pre-flight checks of a vCPU resize, each ok, a risk with its fix, or not checked and why; changes nothing; exits 3 (MISMATCH) when a check finds a risk')
    .argument('[domain...]', 'domain names or UUIDs (or --all)')
    .addHelpText('after', HELP)
    .action(async (domains: string[], o: FleetFlags, cmd: Command) => {
      checkFleetUse(o, domains);
      if (o.all) {
        const { doctorFleet, doctorFleetProblems } = await import('../commands/doctor');
        const { ctxs, flags, opts } = await fleetFrom(cmd, o);
        const r = await doctorFleet(ctxs, opts);
        const s = r.summary;
        const err = fleetError(doctorFleetProblems(r), `${s.withRisks} of ${s.domains} domains with risks, ${s.unreachableHosts} of ${s.hosts} hosts unreachable, ${s.unread} domains unread`);
        print(flags, { ...r, exit: { status: err?.exitCode ?? 0, code: err?.code ?? null } }, fleetDoctorText(r));
        if (err) throw err;
        return;
      }
      if (domains.length === 0) throw new VcpuctlError('USAGE', 'doctor wants one or more domain names, or --all');
      const { doctor, doctorError } = await import('../commands/doctor');
      const names = domains.map(domainName);
      const { ctx, flags } = await contextFrom(cmd);
      const results: DoctorResult[] = [];
      for (const d of names) results.push(await doctor(ctx, d));
      const err = doctorError(results);
      print(flags, { domains: results, exit: { status: err?.exitCode ?? 0, code: err?.code ?? null } }, results.map(doctorText).join('\n\n'));
      if (err) throw err;
    });
}
