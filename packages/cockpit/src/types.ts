/**
 * What the page reads from vcpuctl's JSON (status --all, watch --json,
 * set --dry-run, report list/show): only the fields it shows, all optional
 * where vcpuctl may leave them out. Every string in here can come from a
 * guest or from libvirt and is rendered as text, never as markup.
 */
export interface Counts {
  current: number;
  maximum: number;
}

export interface Finding {
  kind: string;
  severity: string;
  message: string;
  advice: string;
}

export interface Verdict {
  ok: boolean;
  findings: Finding[];
}

export interface GuestRow {
  reachable: boolean;
  via?: string;
  /** The guest's own hostname, as its agent said it. */
  hostname?: string;
  present?: string;
  online?: string;
  error?: string;
}

/** One domain's line in the fleet table, from status --all or the latest watch record. */
export interface Row {
  domain: string;
  uri: string;
  state?: string;
  live?: Counts;
  config?: Counts;
  qemuPlugged?: number;
  intent?: number;
  guest: GuestRow;
  verdict?: Verdict;
  operationBy?: number;
  error?: VcpuctlFailure;
  /** When it last changed, and what changed (watch only). */
  at?: string;
  changes?: string[];
}

/** vcpuctl's failure as the CLI gives it: `vcpuctl: CODE: message` (stderr), `{"error": {...}}` (stdout with --json). */
export interface VcpuctlFailure {
  code: string;
  message: string;
  exit?: number;
}

export interface PlanEntry {
  domain: string;
  uri: string | null;
  target: number;
  plan?: { strategy?: string; steps?: string[]; refusal?: string; [k: string]: unknown };
  error?: VcpuctlFailure;
  lockHeldBy?: number;
  guest?: { reachable: boolean; via?: string; error?: string };
}

/** `vcpuctl online|offline DOMAIN CPU --dry-run --json`: each CPU's state in the guest now and what the run would ask. */
export interface GuestCpuPlan {
  present: string;
  online: string;
  cpus: { cpu: number; now: string; change: string }[];
  lockHeldBy?: number;
}

/** `vcpuctl agent attach DOMAIN --dry-run --json`: what would be added on each side. */
export interface ChannelPlan {
  live: string;
  config: string;
  note?: string;
  lockHeldBy?: number;
}
