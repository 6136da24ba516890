/**
 * Every check of `vcpuctl doctor`, in the order they are shown: the host
 * side first (they need no guest), then the guest side. `set --dry-run`
 * shows the risks of the same functions under its plan.
 */
import { DoctorCheck, DoctorInputs } from './check';
import { kernelHotplugCheck, qemuGaCheck, udevCheck } from './guest-checks';
import { headroomCheck, migratedCheck, numaCheck, pinCheck, topologyCheck } from './host-checks';

export const DOCTOR_CHECKS: readonly ((i: DoctorInputs) => DoctorCheck)[] = [headroomCheck, pinCheck, numaCheck, topologyCheck, migratedCheck, qemuGaCheck, kernelHotplugCheck, udevCheck];

export function doctorChecks(i: DoctorInputs): DoctorCheck[] {
  return DOCTOR_CHECKS.map((check) => check(i));
}

export interface CheckCounts {
  ok: number;
  risk: number;
  notChecked: number;
}

export function countChecks(checks: readonly DoctorCheck[]): CheckCounts {
  return {
    ok: checks.filter((c) => c.status === 'ok').length,
    risk: checks.filter((c) => c.status === 'risk').length,
    notChecked: checks.filter((c) => c.status === 'not checked').length,
  };
}
