// The same contract, against the Redis this machine runs (127.0.0.1:6379).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryStore } from '../../src/state/memory-store.ts';
import { RedisStore } from '../../src/state/redis-store.ts';
import type { ConsumerLimits } from '../../src/state/store.ts';
import { storeContract, T0 } from './store-contract.ts';

export const REDIS_URL = process.env.AOAIGW_TEST_REDIS ?? 'redis://127.0.0.1:6379';

storeContract('redis', async () => {
  const s = new RedisStore({ url: REDIS_URL, prefix: `aoaigw-test:${process.pid}:` });
  await s.connect();
  return s;
});

describe('redis windows: totals kept beside the buckets', () => {
  const limits = (key: string): ConsumerLimits => ({ key, rpm: 40, tpm: 5000, concurrent: undefined, quota: undefined });

  test('agree with the memory store over a long, random run across many bucket expiries', async () => {
    const redis = new RedisStore({ url: REDIS_URL, prefix: `aoaigw-test:${process.pid}:diff:` });
    await redis.connect();
    const memory = new MemoryStore();
    const l = limits(`c-${Date.now()}`);
    // a fixed sequence (a small LCG), so that a failure can be replayed
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    let now = T0;
    try {
      for (let i = 0; i < 400; i++) {
        now += Math.floor(rand() * 900);
        const tokens = 1 + Math.floor(rand() * 400);
        const lease = `l${i}`;
        const [a, b] = await Promise.all([redis.admit(l, tokens, lease, 60_000, now), memory.admit(l, tokens, lease, 60_000, now)]);
        assert.deepEqual(a, b, `request ${i} at +${now - T0} ms`);
        if (a.ok && rand() < 0.7) {
          const s = { lease, admittedAt: now, estimate: tokens, actual: Math.floor(rand() * tokens * 1.5) };
          await Promise.all([redis.settle(l, s, now + 5), memory.settle(l, s, now + 5)]);
        }
      }
    } finally {
      await redis.close();
    }
  });

  test('a window an earlier version passed over (dropping the totals) still counts what it holds', async () => {
    const prefix = `aoaigw-test:${process.pid}:old:`;
    const s = new RedisStore({ url: REDIS_URL, prefix });
    await s.connect();
    const raw = new Redis(REDIS_URL);
    const l = limits(`c-${Date.now()}`);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await s.admit(l, 1000, `l${i}`, 60_000, T0 + i * 1000)).ok, true);
      const key = `${prefix}c:${l.key}:tok`;
      assert.equal(await raw.hget(key, '-1'), '3000', 'the total beside the buckets');
      // What an earlier version's pass does: every field whose bucket has expired goes, these two with them.
      await raw.hdel(key, '-1', '-2');
      const refused = await s.admit(l, 2001, 'l9', 60_000, T0 + 4000);
      assert.equal(refused.ok, false);
      assert.equal(refused.remainingTokens, 2000);
      assert.equal((await s.admit(l, 2000, 'l10', 60_000, T0 + 4000)).ok, true);
      assert.equal(await raw.hget(key, '-1'), '5000');
    } finally {
      raw.disconnect();
      await s.close();
    }
  });
});
