/**
 * Byte counts as util-linux prints them (size_to_human_string with a space
 * and three-letter suffixes): "96 KiB", "1.3 MiB", one rounded decimal, a
 * trailing zero dropped.
 */
const LETTERS = 'BKMGTPE';

export function humanSize(bytes: number): string {
  let exp = 0;
  while (exp < 60 && bytes >= 2 ** (exp + 10)) exp += 10;
  const unit = 2 ** exp;
  let dec = Math.floor(bytes / unit);
  let frac = exp ? bytes % unit : 0;
  const letter = LETTERS[exp / 10]!;
  const suffix = letter === 'B' ? ' B' : ` ${letter}iB`;
  if (frac) {
    frac = Math.floor((frac * 1000) / unit);
    frac = Math.floor((frac + 50) / 100) * 10;
    if (frac === 100) {
      dec++;
      frac = 0;
    }
  }
  if (!frac) return `${dec}${suffix}`;
  let digits = String(frac).padStart(2, '0');
  if (digits.endsWith('0')) digits = digits.slice(0, -1);
  return `${dec}.${digits}${suffix}`;
}

/** Kernel cache sizes ("32K", "1024K", "2M") in bytes. */
export function parseKernelSize(text: string): number {
  const m = /^(\d+)\s*([KMG]?)$/i.exec(text.trim());
  if (!m) return 0;
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * mult;
}
