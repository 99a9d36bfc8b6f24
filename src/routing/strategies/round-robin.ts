// Each available target in turn.
import type { Chooser } from './candidate.ts';

export function roundRobin(): Chooser {
  let next = 0;
  return (candidates) => candidates[next++ % candidates.length];
}
