// One scenario table for every StateStore: what a single instance does in
// memory, Redis must do for many replicas. Times are given, not read, so the
// answers are exact.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BreakerSpec, ConsumerLimits, StateStore, TargetLimits } from '../../src/state/store.ts';

/** A bucket boundary, so window arithmetic gives round numbers. */
export const T0 = 1_800_000_000_000;

const breaker: BreakerSpec = { threshold: 3, percent: false, minimumCalls: 1, windowMs: 10_000, tripMs: 30_000, acceptRetryAfter: true, trialLeaseMs: 5_000 };

let n = 0;
/** Fresh ids per test, so runs against one shared Redis never meet. */
const uid = (p: string) => `${p}-${process.pid}-${Date.now()}-${n++}`;

function target(o: Partial<TargetLimits> = {}): TargetLimits {
  return { id: uid('t'), tokens: undefined, requests: undefined, evenly: undefined, breaker, ...o };
}
function consumer(o: Partial<ConsumerLimits> = {}): ConsumerLimits {
  return { key: uid('c'), rpm: undefined, tpm: undefined, concurrent: undefined, quota: undefined, ...o };
}

/** Reserves one target on its own: the view it was judged by ('available': it was taken). */
async function reserveOne(s: StateStore, t: TargetLimits, cost: number, now: number) {
  const r = await s.reserve([t], 0, cost, now);
  assert.equal(r.reserved, r.views[0].condition === 'available');
  return r.views[0];
}

export function storeContract(name: string, make: () => Promise<StateStore>): void {
  describe(`state store contract: ${name}`, () => {
    const withStore = (title: string, fn: (s: StateStore) => Promise<void>) =>
      test(title, async () => {
        const s = await make();
        try {
          await fn(s);
        } finally {
          await s.close();
        }
      });

    withStore('a cooldown holds a target out; a later, shorter one never shortens it', async (s) => {
      const t = target();
      await s.report(t, { outcome: 'success', coolMs: 3000 }, T0);
      assert.deepEqual(await s.targets([t], 0, T0 + 1), [{ at: T0 + 3000, condition: 'cooling', headroom: undefined }]);
      await s.report(t, { outcome: 'success', coolMs: 500 }, T0 + 100);
      assert.equal((await s.targets([t], 0, T0 + 700))[0].at, T0 + 3000);
      await s.report(t, { outcome: 'success', coolMs: 5000 }, T0 + 200);
      assert.equal((await s.targets([t], 0, T0 + 700))[0].at, T0 + 5200);
      assert.equal((await s.targets([t], 0, T0 + 5200))[0].condition, 'available');
      assert.equal((await reserveOne(s, t, 0, T0 + 1000)).condition, 'cooling');
    });

    withStore('the circuit opens after the failures in its window', async (s) => {
      const t = target();
      await s.report(t, { outcome: 'failure' }, T0);
      await s.report(t, { outcome: 'failure' }, T0 + 1000);
      await s.report(t, { outcome: 'success' }, T0 + 1500);
      assert.equal((await s.targets([t], 0, T0 + 2000))[0].condition, 'available');
      await s.report(t, { outcome: 'failure' }, T0 + 2000);
      assert.deepEqual(await s.targets([t], 0, T0 + 2000), [{ at: T0 + 32_000, condition: 'circuit-open', headroom: undefined }]);
    });

    withStore('failures that left the window do not count', async (s) => {
      const t = target();
      await s.report(t, { outcome: 'failure' }, T0);
      await s.report(t, { outcome: 'failure' }, T0 + 5000);
      await s.report(t, { outcome: 'failure' }, T0 + 10_100);
      assert.equal((await s.targets([t], 0, T0 + 10_100))[0].condition, 'available');
    });

    withStore('half-open: one trial at a time, across callers; success closes', async (s) => {
      const t = target({ breaker: { ...breaker, threshold: 1 } });
      await s.report(t, { outcome: 'failure' }, T0);
      const at = T0 + 30_000;
      assert.equal((await reserveOne(s, t, 0, at)).condition, 'available', 'the trial');
      const second = await reserveOne(s, t, 0, at + 10);
      assert.equal(second.condition, 'half-open', 'no second trial');
      assert.equal(second.at, at + 5000, 'until the trial\'s lease ends');
      await s.report(t, { outcome: 'success' }, at + 100);
      assert.equal((await reserveOne(s, t, 0, at + 200)).condition, 'available');
      assert.equal((await reserveOne(s, t, 0, at + 201)).condition, 'available', 'closed: no more trials');
    });

    withStore('a failed trial opens it again; an abandoned trial frees the slot; a lost trial times out', async (s) => {
      const t = target({ breaker: { ...breaker, threshold: 1 } });
      await s.report(t, { outcome: 'failure' }, T0);
      const at = T0 + 30_000;
      await reserveOne(s, t, 0, at);
      await s.report(t, { outcome: 'abandoned' }, at + 10);
      assert.equal((await reserveOne(s, t, 0, at + 20)).condition, 'available', 'a new trial');
      await s.report(t, { outcome: 'failure' }, at + 500);
      assert.deepEqual(await s.targets([t], 0, at + 600), [{ at: at + 30_500, condition: 'circuit-open', headroom: undefined }]);
      const later = at + 30_500;
      await reserveOne(s, t, 0, later);
      assert.equal((await s.targets([t], 0, later + 4999))[0].condition, 'half-open');
      assert.equal((await s.targets([t], 0, later + 5000))[0].condition, 'available', 'the trial\'s replica went quiet');
    });

    withStore('open for the failing answer\'s Retry-After when the breaker accepts it', async (s) => {
      const t = target({ breaker: { ...breaker, threshold: 1 } });
      await s.report(t, { outcome: 'failure', retryAfterMs: 7000 }, T0);
      assert.equal((await s.targets([t], 0, T0))[0].at, T0 + 7000);
      const u = target({ breaker: { ...breaker, threshold: 1, acceptRetryAfter: false } });
      await s.report(u, { outcome: 'failure', retryAfterMs: 7000 }, T0);
      assert.equal((await s.targets([u], 0, T0))[0].at, T0 + 30_000);
    });

    withStore('a percentage of failures, once enough calls were seen', async (s) => {
      const t = target({ breaker: { ...breaker, threshold: 50, percent: true, minimumCalls: 4 } });
      await s.report(t, { outcome: 'failure' }, T0);
      await s.report(t, { outcome: 'failure' }, T0 + 1);
      assert.equal((await s.targets([t], 0, T0 + 2))[0].condition, 'available', 'too few calls to judge');
      await s.report(t, { outcome: 'success' }, T0 + 2);
      await s.report(t, { outcome: 'failure' }, T0 + 3);
      assert.equal((await s.targets([t], 0, T0 + 4))[0].condition, 'circuit-open', '3 of 4 failed');
    });

    withStore('a budget is never exceeded; what does not fit waits for the window', async (s) => {
      const t = target({ tokens: { capacity: 1000, windowMs: 60_000 }, requests: { capacity: 3, windowMs: 10_000 } });
      assert.equal((await reserveOne(s, t, 600, T0)).condition, 'available');
      assert.equal((await s.targets([t], 400, T0 + 10))[0].condition, 'available');
      assert.deepEqual(await s.targets([t], 401, T0 + 10), [{ at: T0 + 60_500, condition: 'over-budget', headroom: 400 }]);
      assert.equal((await reserveOne(s, t, 401, T0 + 10)).condition, 'over-budget', 'reserve checks too');
      assert.equal((await reserveOne(s, t, 100, T0 + 20)).condition, 'available');
      assert.equal((await reserveOne(s, t, 100, T0 + 30)).condition, 'available');
      const fourth = await reserveOne(s, t, 1, T0 + 40);
      assert.equal(fourth.condition, 'over-budget', '3 requests per 10 s');
      assert.equal(fourth.at, T0 + 10_000 + 10_000 / 120);
      assert.equal((await s.targets([t], 400, T0 + 60_500))[0].condition, 'available', 'the first left the minute');
    });

    withStore('an even spread: at most its share in any short window', async (s) => {
      const t = target({ tokens: { capacity: 6000, windowMs: 60_000 }, evenly: { capacity: 1000, windowMs: 10_000 } });
      await reserveOne(s, t, 900, T0);
      assert.equal((await s.targets([t], 100, T0 + 1))[0].condition, 'available');
      assert.equal((await s.targets([t], 101, T0 + 1))[0].condition, 'over-budget');
    });

    withStore('reserving one target of a pool tells how all of them stand; one that cannot serve is not taken', async (s) => {
      const full = target({ tokens: { capacity: 100, windowMs: 60_000 } });
      const free = target();
      const first = await s.reserve([full, free], 0, 80, T0);
      assert.equal(first.reserved, true);
      const second = await s.reserve([full, free], 0, 80, T0 + 1);
      assert.equal(second.reserved, false);
      assert.deepEqual(second.views.map((v) => v.condition), ['over-budget', 'available']);
      assert.equal(second.views[0].headroom, 20);
      const third = await s.reserve([full, free], 1, 80, T0 + 2);
      assert.equal(third.reserved, true);
    });

    withStore('a drained target is out until undrained', async (s) => {
      const t = target();
      await s.drain(t.id, true);
      assert.deepEqual(await s.targets([t], 0, T0), [{ at: Infinity, condition: 'drained', headroom: undefined }]);
      assert.equal((await reserveOne(s, t, 0, T0)).condition, 'drained');
      await s.drain(t.id, false);
      assert.equal((await s.targets([t], 0, T0))[0].condition, 'available');
    });

    withStore('a consumer\'s requests per minute, with the exact time to come back', async (s) => {
      const c = consumer({ rpm: 3 });
      for (let i = 0; i < 3; i++) {
        const a = await s.admit(c, 10, uid('l'), 60_000, T0 + i * 1000);
        assert.equal(a.ok, true);
        assert.equal(a.remainingRequests, 2 - i);
      }
      const refused = await s.admit(c, 10, uid('l'), 60_000, T0 + 5000);
      assert.equal(refused.ok, false);
      assert.equal(refused.reason, 'requests');
      assert.equal(refused.retryAfterMs, 60_500 - 5000, 'when the first request leaves the minute');
      assert.equal(refused.remainingRequests, 0);
      assert.equal((await s.admit(c, 10, uid('l'), 60_000, T0 + 60_500)).ok, true);
    });

    withStore('tokens per minute: the estimate is held, then settled to what was used', async (s) => {
      const c = consumer({ tpm: 1000 });
      const lease = uid('l');
      const a = await s.admit(c, 800, lease, 60_000, T0);
      assert.equal(a.remainingTokens, 200);
      const over = await s.admit(c, 300, uid('l'), 60_000, T0 + 10);
      assert.equal(over.reason, 'tokens');
      assert.equal(over.retryAfterMs, 60_490);
      await s.settle(c, { lease, admittedAt: T0, estimate: 800, actual: 150 }, T0 + 20);
      const after = await s.admit(c, 300, uid('l'), 60_000, T0 + 30);
      assert.equal(after.ok, true);
      assert.equal(after.remainingTokens, 1000 - 150 - 300);
    });

    withStore('a request larger than the whole minute is admitted into an empty one', async (s) => {
      const c = consumer({ tpm: 1000 });
      assert.equal((await s.admit(c, 5000, uid('l'), 60_000, T0)).ok, true);
      assert.equal((await s.admit(c, 1, uid('l'), 60_000, T0 + 1)).ok, false);
    });

    withStore('concurrent requests hold leases until settled (or the lease lapses)', async (s) => {
      const c = consumer({ concurrent: 2 });
      const l1 = uid('l');
      assert.equal((await s.admit(c, 0, l1, 10_000, T0)).ok, true);
      assert.equal((await s.admit(c, 0, uid('l'), 10_000, T0)).ok, true);
      const third = await s.admit(c, 0, uid('l'), 10_000, T0 + 1);
      assert.equal(third.ok, false);
      assert.equal(third.reason, 'concurrent');
      await s.settle(c, { lease: l1, admittedAt: T0, estimate: 0, actual: 0 }, T0 + 2);
      assert.equal((await s.admit(c, 0, uid('l'), 10_000, T0 + 3)).ok, true);
      assert.equal((await s.admit(c, 0, uid('l'), 10_000, T0 + 10_001)).ok, true, 'the lapsed leases are gone');
    });

    withStore('a refused request takes nothing', async (s) => {
      const c = consumer({ rpm: 10, tpm: 100, concurrent: 1 });
      const held = uid('l');
      assert.equal((await s.admit(c, 50, held, 10_000, T0)).ok, true);
      assert.equal((await s.admit(c, 50, uid('l'), 10_000, T0 + 1)).reason, 'concurrent');
      await s.settle(c, { lease: held, admittedAt: T0, estimate: 50, actual: 50 }, T0 + 2);
      const a = await s.admit(c, 50, uid('l'), 10_000, T0 + 3);
      assert.equal(a.ok, true);
      assert.equal(a.remainingRequests, 8, 'the refused one was not counted');
    });

    withStore('a token quota: seeded once, counted by actual use, refused once spent', async (s) => {
      const who = uid('consumer');
      const quota = { consumer: who, limit: 1000, period: '2026-11', start: T0 - 1000, endsAt: T0 + 86_400_000 };
      const c = consumer({ quota });
      await s.seedQuota(quota, 900);
      await s.seedQuota(quota, 0);
      const lease = uid('l');
      const a = await s.admit(c, 50, lease, 10_000, T0);
      assert.equal(a.ok, true);
      assert.equal(a.quotaUsed, 900, 'a second seed does not reset it');
      await s.settle(c, { lease, admittedAt: T0, estimate: 50, actual: 120 }, T0 + 1);
      const refused = await s.admit(c, 1, uid('l'), 10_000, T0 + 2);
      assert.equal(refused.ok, false);
      assert.equal(refused.reason, 'quota');
      assert.equal(refused.quotaUsed, 1020);
      const next = await s.admit(consumer({ quota: { ...quota, period: '2026-12' } }), 1, uid('l'), 10_000, T0 + 3);
      assert.equal(next.ok, true, 'a new period starts from zero');
    });

    withStore('values: put, read, replaced, gone after their time, seen under their key only', async (s) => {
      const k = uid('value');
      const now = Date.now();
      assert.equal(await s.getValue(k, now), undefined);
      await s.putValue(k, 'east', 300, now);
      assert.equal(await s.getValue(k, now + 1), 'east');
      assert.equal(await s.getValue(`${k}-other`, now + 1), undefined);
      await s.putValue(k, 'west ünïcode', 300, now + 2);
      assert.equal(await s.getValue(k, now + 3), 'west ünïcode');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(await s.getValue(k, Date.now()), undefined, 'expired');
    });
  });
}
