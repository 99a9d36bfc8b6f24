// A target's limits as the state store checks them, from its config.
import type { ResilienceConfig, TargetConfig } from '../config/schema.ts';
import type { BreakerSpec, TargetLimits } from '../state/store.ts';

/** Azure counts tokens over a running minute and requests over 10 s; the margin absorbs jitter between our clock and Azure's admission. */
const TOKEN_WINDOW_MS = 60_000;
const REQUEST_WINDOW_MS = 10_000;
const PACING_MARGIN_MS = 500;
/** The even spread of a target that spills to a lower group: at most tpm/6 in any 10 s. */
const EVEN_WINDOW_MS = 10_000;

export function breakerSpec(r: ResilienceConfig): BreakerSpec {
  const cb = r.circuitBreaker;
  const percent = typeof cb.failures === 'string';
  return {
    threshold: percent ? parseFloat(cb.failures as string) : (cb.failures as number),
    percent,
    minimumCalls: cb.minimumCalls,
    windowMs: cb.windowSeconds * 1000,
    tripMs: cb.tripSeconds * 1000,
    acceptRetryAfter: cb.acceptRetryAfter,
    trialLeaseMs: r.timeouts.totalMs,
  };
}

/**
 * `spills`: the target has a lower priority group to spill to (under the
 * priority strategy), so it spreads its tokens evenly: a PTU that took every
 * request until its minute was full would then take none until its first
 * reservations expired, and the whole stream would spill in waves.
 */
export function targetLimits(id: string, t: TargetConfig, breaker: BreakerSpec, spills: boolean): TargetLimits {
  return {
    id,
    tokens: t.tpm ? { capacity: t.tpm, windowMs: TOKEN_WINDOW_MS + PACING_MARGIN_MS } : undefined,
    requests: t.rpm ? { capacity: Math.max(1, Math.floor(t.rpm / 6)), windowMs: REQUEST_WINDOW_MS + PACING_MARGIN_MS } : undefined,
    evenly: spills && t.tpm ? { capacity: t.tpm / 6, windowMs: EVEN_WINDOW_MS } : undefined,
    breaker,
  };
}

/** Which statuses count as failures for the circuit. */
export function failureStatus(r: ResilienceConfig): (status: number) => boolean {
  const ranges = r.circuitBreaker.statusRanges.map((s) => {
    const [lo, hi] = s.split('-').map(Number);
    return [lo, hi ?? lo] as const;
  });
  return (status) => ranges.some(([lo, hi]) => status >= lo && status <= hi);
}
