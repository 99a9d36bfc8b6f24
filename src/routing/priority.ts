// The default choice: the lowest priority number that still has a candidate,
// weighted at random inside that group.
import type { Target } from './target.ts';

export function pickPriority(candidates: readonly Target[], random: () => number = Math.random): Target | undefined {
  let best = Infinity;
  let total = 0;
  for (const t of candidates) {
    if (t.priority < best) {
      best = t.priority;
      total = 0;
    }
    if (t.priority === best) total += t.weight;
  }
  if (best === Infinity) return undefined;
  let r = random() * total;
  let last: Target | undefined;
  for (const t of candidates) {
    if (t.priority !== best) continue;
    last = t;
    r -= t.weight;
    if (r < 0) return t;
  }
  return last;
}
