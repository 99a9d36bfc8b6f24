// Validates Entra ID access tokens that apps send instead of a key, as API
// Management's validate-azure-ad-token does: an RS256 signature by one of
// the tenant's signing keys, the issuer, the audience, exp/nbf with a small
// clock skew, the required roles. `jose` does the JWT and JWK work (a
// dependency-free, audited implementation of the JOSE specs, on WebCrypto);
// fetching the keys is done here so that its bounds are ours: one fetch at a
// time, at most one per cooldown for an unknown kid, stale keys refreshed
// in the background while the old ones keep serving. A validated token is
// kept by its hash until it expires, so a client's next requests cost one
// hash and one map lookup.
import { createHash } from 'node:crypto';
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { EntraConsumersConfig } from '../config/schema.ts';

/** Why a token was refused: a fixed set (audit details and metric labels stay bounded). */
export type TokenFailure =
  | 'malformed'
  | 'expired'
  | 'not_yet_valid'
  | 'audience'
  | 'issuer'
  | 'signature'
  | 'algorithm'
  | 'unknown_key'
  | 'no_app_id'
  | 'missing_role'
  | 'keys_unavailable';

const MESSAGES: Record<TokenFailure, string> = {
  malformed: 'The Entra ID token is not a well-formed JWT.',
  expired: 'The Entra ID token has expired.',
  not_yet_valid: 'The Entra ID token is not valid yet.',
  audience: 'The Entra ID token was not issued for this gateway (audience).',
  issuer: 'The Entra ID token was not issued by the expected tenant (issuer).',
  signature: 'The Entra ID token signature is invalid.',
  algorithm: 'The Entra ID token is not signed with RS256.',
  unknown_key: 'The Entra ID token is signed with a key the tenant does not publish.',
  no_app_id: 'The Entra ID token names no application (appid or azp).',
  missing_role: 'The Entra ID token lacks a role this gateway requires.',
  keys_unavailable: "The tenant's signing keys could not be fetched; the token cannot be checked now.",
};

export class EntraTokenError extends Error {
  readonly code = 'ENTRA_TOKEN_INVALID';
  readonly reason: TokenFailure;
  constructor(reason: TokenFailure) {
    super(MESSAGES[reason]);
    this.reason = reason;
  }
}

export interface ValidToken {
  /** appid (v1 tokens) or azp (v2): the calling application's client id */
  readonly appId: string;
  /** epoch ms */
  readonly expiresAt: number;
}

/** Access tokens are JWS compact strings; anything else is a key, not a token. */
const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_TOKEN_CHARS = 16 * 1024;

export function looksLikeJwt(s: string): boolean {
  return s.length <= MAX_TOKEN_CHARS && JWT_SHAPE.test(s);
}

/** A JWKS or an OpenID configuration is small; more than this is refused. */
const MAX_DOCUMENT_BYTES = 1024 * 1024;
const FETCH_TIMEOUT_MS = 5_000;
/** Keys older than this are fetched again in the background (the old ones serve meanwhile). */
const KEYS_MAX_AGE_MS = 60 * 60_000;

type GetKey = ReturnType<typeof createLocalJWKSet>;

export class EntraTokenValidator {
  readonly cfg: EntraConsumersConfig;
  readonly #issuers: string[];
  readonly #cache = new Map<string, ValidToken>();
  #jwksUri: string | undefined;
  #keys: GetKey | undefined;
  #keysAt = 0;
  #lastFetch = Number.NEGATIVE_INFINITY;
  #fetching: Promise<void> | undefined;

  constructor(cfg: EntraConsumersConfig) {
    this.cfg = cfg;
    const authority = cfg.authorityHost.replace(/\/+$/, '');
    this.#issuers = cfg.issuers ?? [`${authority}/${cfg.tenantId}/v2.0`, `https://sts.windows.net/${cfg.tenantId}/`];
    this.#jwksUri = cfg.jwksUri;
  }

  /** The validated token, if it was seen before and has not expired: no I/O, no crypto. */
  cached(token: string, now = Date.now()): ValidToken | undefined {
    const id = digest(token);
    const hit = this.#cache.get(id);
    if (hit === undefined) return undefined;
    if (hit.expiresAt > now) return hit;
    this.#cache.delete(id);
    return undefined;
  }

  async validate(token: string, now = Date.now()): Promise<ValidToken> {
    const hit = this.cached(token, now);
    if (hit) return hit;
    if (!looksLikeJwt(token)) throw new EntraTokenError('malformed');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header, t) => this.#key(header, t), {
        issuer: this.#issuers,
        audience: this.cfg.audiences,
        algorithms: ['RS256'],
        clockTolerance: this.cfg.clockSkewSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw err instanceof EntraTokenError ? err : new EntraTokenError(failureOf(err));
    }
    const appId = typeof payload.azp === 'string' ? payload.azp : typeof payload.appid === 'string' ? payload.appid : undefined;
    if (!appId) throw new EntraTokenError('no_app_id');
    const roles = Array.isArray(payload.roles) ? payload.roles : [];
    if (!this.cfg.requiredRoles.every((r) => roles.includes(r))) throw new EntraTokenError('missing_role');
    const valid: ValidToken = { appId, expiresAt: (payload.exp as number) * 1000 };
    this.#remember(digest(token), valid);
    return valid;
  }

  #remember(id: string, valid: ValidToken): void {
    const max = this.cfg.cacheMaxEntries;
    if (max === 0) return;
    // Oldest first out (a Map keeps insertion order).
    while (this.#cache.size >= max) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(id, valid);
  }

  /** The signing key for a token's header: from the keys in hand, fetched when there are none or the kid is new. */
  async #key(header: Parameters<GetKey>[0], token: Parameters<GetKey>[1]): ReturnType<GetKey> {
    const now = Date.now();
    if (!this.#keys) await this.#fetchKeys(now);
    else if (now - this.#keysAt > KEYS_MAX_AGE_MS) void this.#fetchKeys(now).catch(() => {});
    try {
      return await this.#keys!(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      // A new kid: the tenant may have rotated its keys. Ask again, at most once per cooldown.
      if (now - this.#lastFetch < this.cfg.jwksCooldownSeconds * 1000) throw err;
      await this.#fetchKeys(now);
      return this.#keys!(header, token);
    }
  }

  /** One fetch at a time; after a failure, none again within the cooldown (at least a second). */
  #fetchKeys(now: number): Promise<void> {
    if (this.#fetching) return this.#fetching;
    if (!this.#keys && now - this.#lastFetch < Math.max(1000, this.cfg.jwksCooldownSeconds * 1000)) {
      return Promise.reject(new EntraTokenError('keys_unavailable'));
    }
    this.#lastFetch = now;
    this.#fetching = (async () => {
      try {
        this.#jwksUri ??= await discoverJwksUri(this.cfg);
        const jwks = await fetchJson(this.#jwksUri);
        if (!isJwks(jwks)) throw new Error('not a JWKS');
        this.#keys = createLocalJWKSet(jwks);
        this.#keysAt = Date.now();
      } catch {
        // The keys in hand, if any, keep serving.
        if (!this.#keys) throw new EntraTokenError('keys_unavailable');
      } finally {
        this.#fetching = undefined;
      }
    })();
    return this.#fetching;
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}

function failureOf(err: unknown): TokenFailure {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'audience';
    if (err.claim === 'iss') return 'issuer';
    if (err.claim === 'nbf' || err.claim === 'iat') return 'not_yet_valid';
    return 'malformed';
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm';
  if (err instanceof errors.JWKSNoMatchingKey) return 'unknown_key';
  return 'malformed';
}

/** The jwks_uri of the tenant's OpenID configuration. */
async function discoverJwksUri(cfg: EntraConsumersConfig): Promise<string> {
  const doc = await fetchJson(`${cfg.authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(cfg.tenantId)}/v2.0/.well-known/openid-configuration`);
  const uri = (doc as { jwks_uri?: unknown } | null)?.jwks_uri;
  if (typeof uri !== 'string' || !/^https?:\/\//.test(uri)) throw new Error('the OpenID configuration has no jwks_uri');
  return uri;
}

function isJwks(v: unknown): v is JSONWebKeySet {
  return typeof v === 'object' && v !== null && Array.isArray((v as { keys?: unknown }).keys);
}

/** GET a small JSON document: bounded in time and size, no redirects. */
async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  if (Number(res.headers.get('content-length') ?? 0) > MAX_DOCUMENT_BYTES) throw new Error('document too large');
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > MAX_DOCUMENT_BYTES) throw new Error('document too large');
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}
