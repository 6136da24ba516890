/**
 * /proc/sysinfo, which s390 kernels write: the machine type, the layers of
 * hypervisors (LPAR, then z/VM or KVM guests) and the topology the machine
 * reports to software. lscpu reads three things from it, each the first
 * match in the file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Sysinfo {
  /** "Type:" of the machine, lscpu's "Machine type". */
  machineType?: string;
  /** The first "Control Program:" line's value, blanks collapsed (e.g. "z/VM 7.3.0", "KVM/Linux"). */
  controlProgram?: string;
  /** Whether that line names KVM anywhere, as lscpu tests it. */
  controlProgramIsKvm: boolean;
  /** "CPU Topology SW:" counts: drawers per system, books per drawer, sockets per book, cores per socket. */
  swTopology?: { drawers: number; booksPerDrawer: number; socketsPerBook: number; coresPerSocket: number };
}

/** The file is about 4 KiB on every machine documented; more is not /proc/sysinfo. */
const MAX_SYSINFO_BYTES = 64 * 1024;

/** lscpu's lookup(): "<key> <blanks>: <value>", the value trimmed, an empty value not a match. */
function lookup(line: string, key: string): string | undefined {
  if (!line.startsWith(key)) return undefined;
  const m = /^\s*:\s*(.*?)\s*$/.exec(line.slice(key.length));
  return m && m[1] !== '' ? m[1] : undefined;
}

export function parseSysinfo(text: string): Sysinfo {
  const out: Sysinfo = { controlProgramIsKvm: false };
  for (const line of text.split('\n')) {
    out.machineType ??= lookup(line, 'Type');
    if (out.controlProgram === undefined && line.includes('Control Program:')) {
      out.controlProgram = line
        .slice(line.indexOf(':') + 1)
        .trim()
        .replace(/\s+/g, ' ');
      out.controlProgramIsKvm = line.includes('KVM');
    }
    if (!out.swTopology) {
      const m = /^CPU Topology SW:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
      if (m) out.swTopology = { drawers: Number(m[3]), booksPerDrawer: Number(m[4]), socketsPerBook: Number(m[5]), coresPerSocket: Number(m[6]) };
    }
  }
  return out;
}

/** undefined when the tree has no /proc/sysinfo (every architecture but s390). */
export function readSysinfo(root: string): Sysinfo | undefined {
  try {
    return parseSysinfo(readFileSync(join(root, 'proc/sysinfo'), 'latin1').slice(0, MAX_SYSINFO_BYTES));
  } catch {
    return undefined;
  }
}
