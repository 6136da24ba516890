/**
 * SMBIOS processor information (type 4), as lscpu shows it in "BIOS Vendor
 * ID", "BIOS Model name" and "BIOS CPU family". QEMU fills it in for every
 * guest. Layout per the SMBIOS spec: a formatted area of `length` bytes, then
 * NUL-terminated strings referenced by 1-based index.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DmiProcessor {
  manufacturer: string | undefined;
  version: string | undefined;
  partNumber: string | undefined;
  /** MHz */
  currentSpeed: number;
  family: number;
}

/** A type-4 structure is under 100 bytes plus a few short strings. */
const MAX_ENTRY_BYTES = 4096;

function dmiString(data: Buffer, length: number, index: number): string | undefined {
  if (index === 0) return undefined;
  let pos = length;
  for (let i = 1; i < index; i++) {
    const end = data.indexOf(0, pos);
    if (end < 0 || end === pos) return undefined;
    pos = end + 1;
  }
  const end = data.indexOf(0, pos);
  if (end <= pos) return undefined;
  return data.toString('latin1', pos, end);
}

export function parseDmiProcessor(data: Buffer): DmiProcessor | undefined {
  if (data.length < 0x1a || data[0] !== 4) return undefined;
  const length = data[1]!;
  if (length < 0x1a || length > data.length) return undefined;
  const byte = (off: number) => (off < length ? data[off]! : 0);
  const family = byte(0x06) === 0xfe && length >= 0x2a ? data.readUInt16LE(0x28) : byte(0x06);
  return {
    manufacturer: dmiString(data, length, byte(0x07)),
    version: dmiString(data, length, byte(0x10)),
    partNumber: length > 0x22 ? dmiString(data, length, byte(0x22)) : undefined,
    currentSpeed: data.readUInt16LE(0x16),
    family,
  };
}

export function readDmiProcessor(root: string): DmiProcessor | undefined {
  try {
    const data = readFileSync(join(root, 'sys/firmware/dmi/entries/4-0/raw'));
    return data.length > MAX_ENTRY_BYTES ? undefined : parseDmiProcessor(data);
  } catch {
    return undefined;
  }
}
