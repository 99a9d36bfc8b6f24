// Every strategy passes one contract; each then shows its own distribution.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { STRATEGY, type Candidate, type StrategyName } from '../../src/routing/strategies/index.ts';
import type { Target } from '../../src/routing/target.ts';

/** A seeded generator, so distributions are the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function target(id: string, o: Partial<Target> = {}): Target {
  return { id, endpoint: {} as Target['endpoint'], upstreamName: id, priority: 1, weight: 1, tpm: undefined, rpm: undefined, ...o } as Target;
}
function cand(t: Target, o: Partial<Candidate> = {}): Candidate {
  return { target: t, inFlight: 0, latencyMs: undefined, headroom: undefined, ...o };
}
function counts(choose: (c: readonly Candidate[]) => Candidate, cs: readonly Candidate[], n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const id = choose(cs).target.id;
    out[id] = (out[id] ?? 0) + 1;
  }
  return out;
}

describe('the contract every strategy keeps', () => {
  for (const name of Object.keys(STRATEGY) as StrategyName[]) {
    test(name, () => {
      const choose = STRATEGY[name](mulberry32(1));
      const cs = [cand(target('a')), cand(target('b', { priority: 2, weight: 3 })), cand(target('c', { weight: 0.5 }), { inFlight: 2 })];
      for (let i = 0; i < 200; i++) {
        const c = choose(cs);
        assert.ok(cs.includes(c), 'returns one of the candidates');
      }
      // One candidate: that one.
      const only = [cand(target('solo'))];
      assert.equal(choose(only), only[0]);
      // Candidates change between calls (targets come and go): still one of them.
      assert.ok(cs.slice(1).includes(choose(cs.slice(1))));
      // It does not modify the candidates.
      assert.deepEqual(cs.map((c) => c.target.id), ['a', 'b', 'c']);
    });
  }
});

describe('distributions', () => {
  test('priority: only the lowest group, weighted inside it', () => {
    const cs = [cand(target('ptu-a', { weight: 3 })), cand(target('ptu-b', { weight: 1 })), cand(target('payg', { priority: 2, weight: 100 }))];
    const n = counts(STRATEGY.priority(mulberry32(2)), cs, 8000);
    assert.equal(n.payg, undefined);
    assert.ok(Math.abs(n['ptu-a'] / 8000 - 0.75) < 0.02, JSON.stringify(n));
    // The next group only when the whole first group is gone.
    const spill = counts(STRATEGY.priority(mulberry32(3)), [cs[2]], 10);
    assert.deepEqual(spill, { payg: 10 });
  });

  test('round-robin: each in turn', () => {
    const cs = ['a', 'b', 'c'].map((id) => cand(target(id)));
    const choose = STRATEGY['round-robin'](Math.random);
    assert.deepEqual(Array.from({ length: 6 }, () => choose(cs).target.id), ['a', 'b', 'c', 'a', 'b', 'c']);
  });

  test('weighted-round-robin: exact shares, no bursts', () => {
    const cs = [cand(target('a', { weight: 5 })), cand(target('b')), cand(target('c'))];
    const choose = STRATEGY['weighted-round-robin'](Math.random);
    const seq = Array.from({ length: 7 }, () => choose(cs).target.id).join('');
    assert.equal(seq, 'aabacaa');
    const n = counts(choose, cs, 700);
    assert.deepEqual(n, { a: 500, b: 100, c: 100 });
    assert.ok(!/a{5}/.test(Array.from({ length: 70 }, () => choose(cs).target.id).join('')), 'never all five of a period in a row');
  });

  test('random: weighted over every target, priorities ignored', () => {
    const cs = [cand(target('a', { weight: 1 })), cand(target('b', { priority: 5, weight: 3 }))];
    const n = counts(STRATEGY.random(mulberry32(4)), cs, 8000);
    assert.ok(Math.abs(n.b / 8000 - 0.75) < 0.02, JSON.stringify(n));
  });

  test('least-requests: the fewest in flight', () => {
    const cs = [cand(target('busy'), { inFlight: 5 }), cand(target('idle'), { inFlight: 1 }), cand(target('mid'), { inFlight: 3 })];
    assert.deepEqual(counts(STRATEGY['least-requests'](mulberry32(5)), cs, 100), { idle: 100 });
  });

  test('power-of-two: the less busy of two random draws', () => {
    const cs = [cand(target('a'), { inFlight: 0 }), cand(target('b'), { inFlight: 10 }), cand(target('c'), { inFlight: 20 })];
    const n = counts(STRATEGY['power-of-two'](mulberry32(6)), cs, 9000);
    // The busiest wins only when drawn with itself, which cannot happen: it never wins.
    assert.equal(n.c, undefined);
    // a wins every pair it is in (2 of 3 pairs).
    assert.ok(Math.abs(n.a / 9000 - 2 / 3) < 0.03, JSON.stringify(n));
  });

  test('latency: unmeasured first, then the fastest', () => {
    const fast = cand(target('fast'), { latencyMs: 40 });
    const slow = cand(target('slow'), { latencyMs: 400 });
    const fresh = cand(target('fresh'));
    const choose = STRATEGY.latency(mulberry32(7));
    assert.equal(choose([fast, slow, fresh]).target.id, 'fresh');
    assert.deepEqual(counts(choose, [fast, slow], 50), { fast: 50 });
  });

  test('capacity: the most headroom; unknown headroom only when none is known', () => {
    const cs = [cand(target('small'), { headroom: 1000 }), cand(target('big'), { headroom: 50_000 }), cand(target('unknown'))];
    const choose = STRATEGY.capacity(mulberry32(8));
    assert.deepEqual(counts(choose, cs, 20), { big: 20 });
    assert.equal(choose([cs[2]]).target.id, 'unknown');
  });
});
