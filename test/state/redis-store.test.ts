// The same contract, against the Redis this machine runs (127.0.0.1:6379).
import { RedisStore } from '../../src/state/redis-store.ts';
import { storeContract } from './store-contract.ts';

export const REDIS_URL = process.env.AOAIGW_TEST_REDIS ?? 'redis://127.0.0.1:6379';

storeContract('redis', async () => {
  const s = new RedisStore({ url: REDIS_URL, prefix: `aoaigw-test:${process.pid}:` });
  await s.connect();
  return s;
});
