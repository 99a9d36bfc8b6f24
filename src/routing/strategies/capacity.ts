// The target with the most budget left this window: its declared TPM minus
// what the gateway sent it, or the remaining tokens it last reported, the
// lower of the two. Targets that report nothing are used when no target with
// known headroom is left.
import { weightedRandom, type Chooser, type Random } from './candidate.ts';

export function capacity(random: Random): Chooser {
  return (candidates) => {
    let best: (typeof candidates)[number] | undefined;
    for (const c of candidates) {
      if (c.headroom !== undefined && (best === undefined || c.headroom > (best.headroom as number))) best = c;
    }
    return best ?? weightedRandom(candidates, random);
  };
}
