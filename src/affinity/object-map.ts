// Where each stored object lives: object id → the endpoint that made it, the
// consumer that made it, and the gateway deployment it was made with. Kept
// in the state store, so every replica on the same Redis knows it; an entry
// goes `affinity.ttlSeconds` after it was last written.
import type { StateStore } from '../state/store.ts';

export interface ObjectHome {
  /** the endpoint's name in the config */
  readonly endpoint: string;
  /** the consumer that created it: no other may reach it */
  readonly consumer: string;
  /** the gateway deployment it was made with, if one was named */
  readonly deployment: string | undefined;
  /** when it was written (ms) */
  readonly at: number;
}

const key = (id: string) => `affinity:${id}`;

export async function findHome(store: StateStore, id: string, now: number): Promise<ObjectHome | undefined> {
  const raw = await store.getValue(key(id), now);
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as { e?: unknown; c?: unknown; d?: unknown; t?: unknown };
    if (typeof v.e !== 'string' || typeof v.c !== 'string') return undefined;
    return { endpoint: v.e, consumer: v.c, deployment: typeof v.d === 'string' ? v.d : undefined, at: typeof v.t === 'number' ? v.t : 0 };
  } catch {
    return undefined;
  }
}

export function rememberHome(store: StateStore, id: string, home: Omit<ObjectHome, 'at'>, ttlMs: number, now: number): Promise<void> {
  return store.putValue(key(id), JSON.stringify({ e: home.endpoint, c: home.consumer, d: home.deployment, t: now }), ttlMs, now);
}
