// "did you mean" hints for names in the config.

/** ` (did you mean "x"?)` for the closest candidate, or a list of what exists. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  if (candidates.length === 0) return '';
  let best = '';
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(input.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  if (bestDistance <= Math.max(2, Math.floor(input.length / 3))) return ` (did you mean "${best}"?)`;
  const shown = candidates.slice(0, 8).map((c) => `"${c}"`).join(', ');
  return ` (known: ${shown}${candidates.length > 8 ? ', …' : ''})`;
}

/** Levenshtein distance, two rows. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  let cur = new Array<number>(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}
