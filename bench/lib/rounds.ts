// Noise on a shared machine drifts over minutes. Running every scenario once
// per round, rounds after one another, and keeping each figure's median
// compares the scenarios under the same drift.

/** results[scenario][round] */
export async function interleaved<S, R>(scenarios: readonly S[], rounds: number, run: (s: S, round: number) => Promise<R>): Promise<R[][]> {
  const out: R[][] = scenarios.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, s] of scenarios.entries()) out[i].push(await run(s, round));
  }
  return out;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
