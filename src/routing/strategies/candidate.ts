import type { Target } from '../target.ts';

/** An available target as a strategy sees it. */
export interface Candidate {
  readonly target: Target;
  readonly inFlight: number;
  /** EWMA of time to first byte, ms; undefined until measured */
  readonly latencyMs: number | undefined;
  /** tokens it can still take this window; undefined when unknown */
  readonly headroom: number | undefined;
}

/**
 * Picks one of `candidates` (never empty). Strategies that keep state (a
 * round-robin position, smooth weights) keep it in the closure made per
 * deployment by their factory.
 */
export type Chooser = (candidates: readonly Candidate[]) => Candidate;

export type Random = () => number;

/** Weighted random choice; all weights zero → uniform. */
export function weightedRandom(candidates: readonly Candidate[], random: Random): Candidate {
  let total = 0;
  for (const c of candidates) total += c.target.weight;
  if (total <= 0) return candidates[Math.floor(random() * candidates.length)];
  let r = random() * total;
  for (const c of candidates) {
    r -= c.target.weight;
    if (r < 0) return c;
  }
  return candidates[candidates.length - 1];
}
