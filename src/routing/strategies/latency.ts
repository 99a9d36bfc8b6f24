// The target with the lowest time to first byte (an EWMA). A target not yet
// measured goes first, so every target gets measured.
import { weightedRandom, type Chooser, type Random } from './candidate.ts';

export function latency(random: Random): Chooser {
  return (candidates) => {
    const unmeasured = candidates.filter((c) => c.latencyMs === undefined);
    if (unmeasured.length > 0) return weightedRandom(unmeasured, random);
    let best = candidates[0];
    for (const c of candidates) if ((c.latencyMs as number) < (best.latencyMs as number)) best = c;
    return best;
  };
}
