/**
 * The pre-flight checks of a vCPU resize (`vcpuctl doctor`, and the risks
 * `set --dry-run` prints under its plan): what each check is given and what
 * it says. Every check is a pure function of these inputs (host-checks.ts,
 * guest-checks.ts); commands/doctor.ts reads them.
 */
import { DomainSnapshot } from '../../libvirt/driver';
import { DomainRisksXml } from '../../libvirt/domain-risks-xml';
import { GuestView } from '../verdict';
import { GuestInfo } from './guest-info';

export type CheckId = 'headroom' | 'vcpupin' | 'numa' | 'topology' | 'migrated' | 'qemu-ga-rpcs' | 'kernel-hotplug' | 'udev-auto-online';

/** `not checked` is never a pass: the check could not be made, and `detail` says why. */
export type CheckStatus = 'ok' | 'risk' | 'not checked';

export interface DoctorCheck {
  id: CheckId;
  /** A few words for the text output. */
  title: string;
  status: CheckStatus;
  /** What was found (ok, risk), or why it could not be judged (not checked). */
  detail: string;
  /** What to do about a risk. */
  fix?: string;
}

/** What qemu-guest-agent's guest-info gave, or why it was not asked. */
export type GuestInfoRead = { kind: 'no-channel' } | { kind: 'unread'; why: string } | { kind: 'read'; info: GuestInfo };

export interface DoctorInputs {
  /** The name the fixes use. */
  domain: string;
  host: DomainSnapshot;
  /** The live XML's facts when the domain runs, else the persistent config's; undefined when it could not be read (`xmlError`). */
  xml: DomainRisksXml | undefined;
  xmlError?: string;
  guest: GuestView;
  guestInfo: GuestInfoRead;
  /** set --dry-run's count: the checks then judge the vCPUs this plan would plug, not every one up to the maximum. */
  target?: number;
}

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "vCPU 2", "vCPUs 2, 3". */
export function vcpusText(ids: readonly number[]): string {
  return `vCPU${ids.length === 1 ? '' : 's'} ${ids.join(', ')}`;
}

/**
 * The vCPU ids a hot-add would plug, in the order libvirt plugs them (the
 * lowest disabled id first): up to the maximum, or up to `target`.
 */
export function plugIds(xml: DomainRisksXml, target?: number): number[] {
  if (target === undefined) return xml.disabled;
  return xml.disabled.slice(0, Math.max(0, target - xml.enabled.length));
}
