/** Writes an operation's intent through the driver, and says what happened for its report. */
import { Intent, IntentFlags } from './intent';
import { Context } from './context';
import { INTENT_KEY, INTENT_NAMESPACE, intentElement } from '../libvirt/intent-xml';

export interface IntentRecord {
  intent: Intent;
  flags: IntentFlags;
  /** Why it could not be recorded (the change itself stands; later verdicts compare against the older intent). */
  error?: string;
}

export async function recordIntent(ctx: Context, domain: string, intent: Intent, flags: IntentFlags): Promise<IntentRecord> {
  try {
    await ctx.driver.recordIntent(domain, intent, flags);
    return { intent, flags };
  } catch (err) {
    return { intent, flags, error: (err as Error).message };
  }
}

/** The operation as a report lists it (what an operator would type to do the same). */
export function intentOperation(domain: string, r: IntentRecord): string {
  return `virsh metadata ${domain} --uri ${INTENT_NAMESPACE} --key ${INTENT_KEY} --set '${intentElement(r.intent)}'${r.flags.live ? ' --live' : ''}${r.flags.config ? ' --config' : ''}`;
}
