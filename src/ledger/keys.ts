// Consumer keys kept in the ledger: made here, stored as SHA-256 only, for
// both the CLI and the admin API.
import { randomBytes, randomUUID } from 'node:crypto';
import { hashKey } from '../auth/consumer-keys.ts';
import type { LedgerBackend, StoredKey } from './records.ts';

const PREFIX_LENGTH = 12;

export interface NewKey {
  /** the key itself: shown once, never stored */
  readonly key: string;
  readonly stored: StoredKey;
}

export async function createKey(ledger: LedgerBackend, consumer: string, expiresInMs: number | undefined, now = Date.now()): Promise<NewKey> {
  const key = `aoai-${randomBytes(32).toString('base64url')}`;
  const stored: StoredKey = {
    id: randomUUID().slice(0, 8),
    consumer,
    hash: hashKey(key).toString('hex'),
    prefix: key.slice(0, PREFIX_LENGTH),
    createdAt: now,
    expiresAt: expiresInMs === undefined ? undefined : now + expiresInMs,
    revokedAt: undefined,
  };
  await ledger.createKey(stored);
  await ledger.insertAudit([
    { id: randomUUID(), time: now, requestId: undefined, consumer, kind: 'key_created', detail: { keyId: stored.id, prefix: stored.prefix, expiresAt: stored.expiresAt }, clientIp: undefined },
  ]);
  return { key, stored };
}

/** Revokes the active keys with this id or prefix; returns them. */
export async function revokeKey(ledger: LedgerBackend, idOrPrefix: string, now = Date.now()): Promise<StoredKey[]> {
  const matching = (await ledger.keys()).filter((k) => k.revokedAt === undefined && (k.id === idOrPrefix || k.prefix === idOrPrefix));
  if (matching.length === 0) return [];
  await ledger.revokeKey(idOrPrefix, now);
  await ledger.insertAudit(
    matching.map((k) => ({ id: randomUUID(), time: now, requestId: undefined, consumer: k.consumer, kind: 'key_revoked' as const, detail: { keyId: k.id, prefix: k.prefix }, clientIp: undefined })),
  );
  return matching;
}

export type KeyStatus = 'active' | 'revoked' | 'expired';

export function keyStatus(k: StoredKey, now = Date.now()): KeyStatus {
  if (k.revokedAt !== undefined) return 'revoked';
  return k.expiresAt !== undefined && k.expiresAt <= now ? 'expired' : 'active';
}
