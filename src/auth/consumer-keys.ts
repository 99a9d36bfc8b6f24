// Consumer keys. Only SHA-256 digests are held: a presented key is hashed,
// looked up by digest, and the digests are compared in constant time, so
// neither the lookup nor the comparison tells how much of a key was right.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ConsumerConfig } from '../config/schema.ts';
import { NetworkList } from './networks.ts';

export interface Consumer {
  readonly name: string;
  /** undefined: every deployment ("*") */
  readonly deployments: ReadonlySet<string> | undefined;
  readonly limits: ConsumerConfig['limits'];
  readonly requireUser: boolean;
  /** where it may call from; undefined: anywhere */
  readonly networks: NetworkList | undefined;
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** The digest a key from the config stands for: given as `sha256:<hex>`, or hashed here. */
export function configuredKeyDigest(key: string): Buffer {
  return key.startsWith('sha256:') ? Buffer.from(key.slice(7).toLowerCase(), 'hex') : hashKey(key);
}

/** `sha256:<hex>` for a key, the form to paste into a config file. */
export function formatKeyHash(key: string): string {
  return `sha256:${hashKey(key).toString('hex')}`;
}

interface Entry {
  readonly digest: Buffer;
  readonly consumer: Consumer;
  /** keys from the ledger may expire */
  readonly expiresAt: number | undefined;
}

/** A key kept in the ledger (created with `aoai-gateway keys create`). */
export interface StoredKeyEntry {
  /** SHA-256 of the key, hex */
  readonly hash: string;
  readonly consumer: string;
  readonly expiresAt: number | undefined;
}

/**
 * The keys of the config's consumers, and those of the ledger (replaced
 * whole on each refresh, so a revoked key stops working at the next one).
 */
export class KeyIndex {
  readonly consumers: ReadonlyMap<string, Consumer>;
  readonly #fromConfig = new Map<string, Entry>();
  #fromLedger = new Map<string, Entry>();

  constructor(consumers: Record<string, ConsumerConfig>) {
    const byName = new Map<string, Consumer>();
    for (const [name, c] of Object.entries(consumers)) {
      const consumer: Consumer = {
        name,
        deployments: c.deployments.includes('*') ? undefined : new Set(c.deployments),
        limits: c.limits,
        requireUser: c.requireUser,
        networks: c.allowedNetworks ? new NetworkList(c.allowedNetworks) : undefined,
      };
      byName.set(name, consumer);
      for (const key of c.keys) {
        const digest = configuredKeyDigest(key);
        this.#fromConfig.set(digest.toString('base64'), { digest, consumer, expiresAt: undefined });
      }
    }
    this.consumers = byName;
  }

  /** Replaces the ledger's keys. Keys of consumers the config does not have are ignored. */
  setStored(keys: readonly StoredKeyEntry[]): void {
    const next = new Map<string, Entry>();
    for (const k of keys) {
      const consumer = this.consumers.get(k.consumer);
      if (!consumer || !/^[0-9a-f]{64}$/.test(k.hash)) continue;
      const digest = Buffer.from(k.hash, 'hex');
      next.set(digest.toString('base64'), { digest, consumer, expiresAt: k.expiresAt });
    }
    this.#fromLedger = next;
  }

  /** The consumer a presented key belongs to, if any. */
  authenticate(presented: string, now = Date.now()): Consumer | undefined {
    const digest = hashKey(presented);
    const id = digest.toString('base64');
    const entry = this.#fromConfig.get(id) ?? this.#fromLedger.get(id);
    if (!entry || !timingSafeEqual(entry.digest, digest)) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) return undefined;
    return entry.consumer;
  }
}

/** The key a client presented: `api-key`, else `Authorization: Bearer`. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers['api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey;
  const auth = headers.authorization;
  if (auth && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim() || undefined;
  return undefined;
}

export function mayUse(consumer: Consumer, deployment: string): boolean {
  return consumer.deployments === undefined || consumer.deployments.has(deployment);
}
