import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { FallbackStore, STORE_UP } from './fallback-store.ts';
import { MemoryStore } from './memory-store.ts';
import { RedisStore } from './redis-store.ts';
import type { StateStore } from './store.ts';

export type * from './store.ts';
export { MemoryStore } from './memory-store.ts';
export { RedisStore } from './redis-store.ts';
export { FallbackStore, StoreUnavailableError, STORE_UP } from './fallback-store.ts';

/** The store the config asks for. A Redis store starts connecting; it falls back while Redis is away. */
export async function createStore(config: Config['state'], deps: { logger?: Logger; metrics: Metrics }): Promise<StateStore> {
  if (config.store === 'memory') {
    deps.metrics.set(STORE_UP, 1);
    return new MemoryStore();
  }
  const redis = new RedisStore({ url: config.url, prefix: config.prefix });
  const store = new FallbackStore(redis, { failOpen: config.failOpen, ...deps });
  await redis.connect().catch(() => {});
  return store;
}
