/** The kernel's `offline` list also names possible-but-absent CPUs; an operator wants present-but-offline. */
export function guestCpus(g: { present?: string | null; online?: string | null; possible?: string | null; cpus?: { index?: number | null; present?: boolean | null; online?: boolean | null }[] | null }): string {
  const idle = (g.cpus ?? []).filter((c) => c.present && !c.online).map((c) => c.index ?? 0);
  return `present ${g.present}, online ${g.online}${idle.length ? `, present but offline ${idle.join(',')}` : ''}${g.possible ? ` (possible ${g.possible})` : ''}`;
}
