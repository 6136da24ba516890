/** Writes an operation's intent through the driver, and says what happened for its report. */
import { Intent, IntentFlags } from './intent';
import { Context } from './context';

export interface IntentRecord {
  intent: Intent;
  flags: IntentFlags;
  /** Why it could not be recorded (the change itself stands; later verdicts compare against the older intent). */
  error?: string;
}

export async function recordIntent(ctx: Context, domain: string, intent: Intent, flags: IntentFlags): Promise<IntentRecord> {
  if (!ctx.driver.recordIntent) return { intent, flags, error: `the ${ctx.driver.uri} driver cannot record an intent` };
  try {
    await ctx.driver.recordIntent(domain, intent, flags);
    return { intent, flags };
  } catch (err) {
    return { intent, flags, error: (err as Error).message };
  }
}
