// SPDX-License-Identifier: Apache-2.0
/**
 * Retry schedule and dead-letter policy of a spool destination. Pure functions: the spool node
 * and the tests call them with an injected random source.
 */

/** What happens to a message that keeps failing at its destination. */
export type FailurePolicy = 'block' | 'dead-letter';

export interface RetryPolicy {
  baseMs: number;        // delay before the 2nd attempt
  capMs: number;         // no delay is longer than this
  jitter: number;        // 0..1: fraction of the delay that is randomised away (0 = none)
  policy: FailurePolicy;
  maxAttempts: number;   // dead-letter: park after this many message failures (transient ones excluded)
  transientCodes: ReadonlySet<string>;   // failures that say "destination down", not "message bad"
  parkCodes: ReadonlySet<string>;        // failures parked at once, for staff ('CODE' or 'CODE:SUBCODE', e.g. 'MLLP_NAK:AE')
}

/** Error codes that mean the destination is down or slow, not that the message is bad. */
export const DEFAULT_TRANSIENT_CODES: readonly string[] = [
  'SPOOL_TIMEOUT', 'EMR_UNREACHABLE', 'EMR_TIMEOUT', 'MLLP_NOT_CONNECTED', 'MLLP_TIMEOUT', 'MLLP_SESSION_CLOSED',
];

/** A receiver's AE says the message itself was refused: hold it for staff instead of retrying (case 23). */
export const DEFAULT_PARK_CODES: readonly string[] = ['MLLP_NAK:AE'];

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseMs: 1000, capMs: 60_000, jitter: 0.2, policy: 'dead-letter', maxAttempts: 5,
  transientCodes: new Set(DEFAULT_TRANSIENT_CODES), parkCodes: new Set(DEFAULT_PARK_CODES),
};

/**
 * Delay before the next attempt after `attempt` failed attempts (1 = the first try failed):
 * base * 2^(attempt-1), capped, then shortened by up to `jitter` of itself so that many
 * gateways (or destinations) restarting together do not retry in lock-step.
 */
export function retryDelay(attempt: number, p: Pick<RetryPolicy, 'baseMs' | 'capMs' | 'jitter'>,
                           random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempt));
  const exp = Math.min(p.capMs, p.baseMs * 2 ** Math.min(n - 1, 52));
  const jitter = Math.min(1, Math.max(0, p.jitter));
  return Math.max(0, Math.round(exp * (1 - jitter * random())));
}

/** True when a failure with this code says nothing about the message itself (destination down, time-out). */
export function isTransient(code: string | undefined, p: Pick<RetryPolicy, 'transientCodes'>): boolean {
  return code !== undefined && p.transientCodes.has(code);
}

export type FailureDecision =
  | { action: 'retry'; delayMs: number; failures: number }
  | { action: 'dead'; failures: number };

/**
 * Decides what to do after a failed attempt. `attempts` counts every attempt made so far
 * (this one included); `failures` counts the message failures before this one. Transient
 * failures are retried for ever under both policies, so an EMR outage never turns a backlog
 * into dead letters; only failures that blame the message count towards `maxAttempts`.
 * A failure listed in `parkCodes` (by its code, or 'code:subCode' such as 'MLLP_NAK:AE') is
 * parked at once under both policies: it was configured as "hold for staff".
 */
export function decideFailure(attempts: number, failures: number, code: string | undefined, p: RetryPolicy,
                              random: () => number = Math.random, subCode?: string): FailureDecision {
  const counted = isTransient(code, p) ? failures : failures + 1;
  if (code !== undefined && (p.parkCodes.has(code) || (subCode && p.parkCodes.has(`${code}:${subCode}`)))) {
    return { action: 'dead', failures: counted };
  }
  if (p.policy === 'dead-letter' && counted >= Math.max(1, p.maxAttempts)) return { action: 'dead', failures: counted };
  return { action: 'retry', delayMs: retryDelay(attempts, p, random), failures: counted };
}

/** Parses a comma/space separated list of error codes (node config) into a set. */
export function parseCodeList(text: string | undefined): Set<string> {
  return new Set((text ?? '').split(/[\s,;]+/).map((s) => s.trim()).filter((s) => s !== ''));
}
