/**
 * Files under /sys and /proc are the guest kernel's word, and a tree given
 * with --sysroot may be damaged or hand-made. Data no kernel writes is the
 * guest's problem, not a bug of ours: it gets its own code, so a report says
 * which file to look at instead of "internal error".
 */
import { VcpuctlError, parseCpuList } from '@vcpuctl/proto';

export function guestDataError(message: string): VcpuctlError {
  return new VcpuctlError('GUEST_DATA', message);
}

/** parseCpuList, with a malformed list reported as guest data and naming its file. */
export function parseGuestCpuList(text: string, where: string): number[] {
  try {
    return parseCpuList(text);
  } catch (err) {
    throw guestDataError(`${where}: ${(err as Error).message}`);
  }
}
