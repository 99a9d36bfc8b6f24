// Consumer keys. Only SHA-256 digests are held: a presented key is hashed,
// looked up by digest, and the digests are compared in constant time, so
// neither the lookup nor the comparison tells how much of a key was right.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ConsumerConfig } from '../config/schema.ts';

export interface Consumer {
  readonly name: string;
  /** undefined: every deployment ("*") */
  readonly deployments: ReadonlySet<string> | undefined;
  readonly limits: ConsumerConfig['limits'];
  readonly requireUser: boolean;
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** `sha256:<hex>` for a key, the form to paste into a config file. */
export function formatKeyHash(key: string): string {
  return `sha256:${hashKey(key).toString('hex')}`;
}

export class KeyIndex {
  readonly #byDigest = new Map<string, { digest: Buffer; consumer: Consumer }>();

  constructor(consumers: Record<string, ConsumerConfig>) {
    for (const [name, c] of Object.entries(consumers)) {
      const consumer: Consumer = {
        name,
        deployments: c.deployments.includes('*') ? undefined : new Set(c.deployments),
        limits: c.limits,
        requireUser: c.requireUser,
      };
      for (const key of c.keys) {
        const digest = key.startsWith('sha256:') ? Buffer.from(key.slice(7).toLowerCase(), 'hex') : hashKey(key);
        this.#byDigest.set(digest.toString('base64'), { digest, consumer });
      }
    }
  }

  /** The consumer a presented key belongs to, if any. */
  authenticate(presented: string): Consumer | undefined {
    const digest = hashKey(presented);
    const entry = this.#byDigest.get(digest.toString('base64'));
    if (!entry || !timingSafeEqual(entry.digest, digest)) return undefined;
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
