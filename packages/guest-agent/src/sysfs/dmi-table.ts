/**
 * The SMBIOS structure table the kernel exports whole at
 * /sys/firmware/dmi/tables/DMI. lscpu walks it on a live system for three
 * strings that name a hypervisor: the BIOS vendor (type 0) and the system
 * manufacturer and product (type 1). Layout per the SMBIOS spec: each
 * structure is a header (type, length, handle), a formatted area of
 * `length` bytes, then NUL-terminated strings ending with an empty one.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface DmiSystem {
  biosVendor?: string;
  manufacturer?: string;
  product?: string;
}

/**
 * SMBIOS 3 allows a table of up to 4 GiB, but firmware tables are a few KiB
 * (QEMU's is under 1 KiB, large servers' under 64 KiB); a bigger file is not
 * a table we should hold in memory.
 */
export const MAX_DMI_TABLE_BYTES = 1024 * 1024;

/** String `index` (1-based) of the structure at `start` with formatted length `length`; undefined for 0 or missing. */
function structString(table: Buffer, start: number, length: number, end: number, index: number): string | undefined {
  if (index === 0) return undefined;
  let pos = start + length;
  for (let i = 1; i < index; i++) {
    const nul = table.indexOf(0, pos);
    if (nul < 0 || nul >= end || nul === pos) return undefined;
    pos = nul + 1;
  }
  const nul = table.indexOf(0, pos);
  if (nul <= pos || nul > end) return undefined;
  return table.toString('latin1', pos, nul);
}

export function parseDmiTable(table: Buffer): DmiSystem {
  const out: DmiSystem = {};
  let at = 0;
  while (at + 4 <= table.length) {
    const type = table[at]!;
    const length = table[at + 1]!;
    // A structure shorter than its own header leaves no way to find the next one.
    if (length < 4) break;
    let next = at + length;
    while (next + 1 < table.length && (table[next] !== 0 || table[next + 1] !== 0)) next++;
    next += 2;
    if (next > table.length) break;
    const str = (offset: number) => (length > offset ? structString(table, at, length, next, table[at + offset]!) : undefined);
    if (type === 0) out.biosVendor = str(0x04);
    else if (type === 1) {
      out.manufacturer = str(0x04);
      out.product = str(0x05);
    }
    at = next;
  }
  return out;
}

/** undefined when the tree has no table (no SMBIOS, or an older kernel): lscpu then tries /dev/mem, which we do not. */
export function readDmiTable(root: string): DmiSystem | undefined {
  const path = join(root, 'sys/firmware/dmi/tables/DMI');
  try {
    if (statSync(path).size > MAX_DMI_TABLE_BYTES) return undefined;
    return parseDmiTable(readFileSync(path));
  } catch {
    return undefined;
  }
}
