// Entra ID tokens for `auth: {type: entra}` endpoints, from @azure/identity
// (DefaultAzureCredential's chain, or the credential the config names). One
// token is shared by every request and refreshed in the background ahead of
// its expiry, so the hot path reads a string and awaits nothing. When no
// token can be had, the credential says so (`unavailableUntil`): routing
// takes the endpoint's targets out at once instead of letting each request
// fail slowly, while fetches are retried with a bounded backoff.
import type { AccessToken, TokenCredential } from '@azure/identity';
import type { EndpointAuthConfig } from '../config/schema.ts';
import { createTokenCredential } from './azure-identity.ts';
import type { CredentialStatus, UpstreamCredential } from './credentials.ts';

type EntraConfig = Extract<EndpointAuthConfig, { type: 'entra' }>;

/** Refresh this long before the token expires (at most half its remaining life). */
const REFRESH_MARGIN_MS = 5 * 60_000;
/** A token this close to its expiry is not sent any more. */
const EXPIRY_GUARD_MS = 2_000;
/** One token fetch may take this long (the identity libraries retry inside it). */
const FETCH_TIMEOUT_MS = 10_000;
/** Retries after a failed fetch: 1 s, 2 s, 4 s … at most a minute. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** What a failure's reason keeps of the identity library's message. */
const REASON_MAX_CHARS = 400;

/** What the credential tells whoever watches it (the gateway logs it): once per failure episode, and its end. */
export type CredentialChange =
  | { readonly kind: 'refresh-failed'; readonly reason: string; readonly tokenExpiresAt: number }
  | { readonly kind: 'unavailable'; readonly reason: string }
  | { readonly kind: 'recovered'; readonly downMs: number };

export class CredentialUnavailableError extends Error {
  readonly code = 'CREDENTIAL_UNAVAILABLE';
}

export class EntraCredential implements UpstreamCredential {
  readonly type = 'entra';
  readonly #cfg: EntraConfig;
  #credential: TokenCredential | undefined;
  /** `Bearer …`, and when it expires */
  #value: string | undefined;
  #expiresAt = 0;
  #refreshAt = 0;
  #fetching: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;
  #failures = 0;
  #failingSince: number | undefined;
  #reason: string | undefined;
  #nextAttemptAt = 0;
  /** what was said of the current failure episode */
  #announced: 'nothing' | 'refresh-failed' | 'unavailable' = 'nothing';

  /** told of failures (once per episode) and of the recovery */
  onChange: ((change: CredentialChange) => void) | undefined;

  constructor(cfg: EntraConfig, credential?: TokenCredential) {
    this.#cfg = cfg;
    this.#credential = credential;
  }

  /** Fetches the first token now rather than at the first request. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    void this.#fetch();
  }

  apply(headers: Record<string, string>): void | Promise<void> {
    if (this.#usable(Date.now())) {
      headers.authorization = this.#value as string;
      return;
    }
    // Failing: say so at once; routing keeps requests away meanwhile.
    if (this.#failingSince !== undefined) return Promise.reject(new CredentialUnavailableError(this.#reason));
    // The first token: every request waits for the one fetch.
    this.#started = true;
    return (this.#fetching ?? this.#fetch()).then(() => {
      if (!this.#usable(Date.now())) throw new CredentialUnavailableError(this.#reason ?? 'no token');
      headers.authorization = this.#value as string;
    });
  }

  /** 0 while a token can be had (or none was asked for yet); else when the next fetch may bring one. */
  unavailableUntil(): number {
    if (this.#failingSince === undefined) return 0;
    const now = Date.now();
    if (this.#usable(now)) return 0;
    return Math.max(this.#nextAttemptAt, now + RETRY_MIN_MS);
  }

  status(): CredentialStatus {
    const now = Date.now();
    const usable = this.#usable(now);
    return {
      type: this.type,
      state: !this.#started ? 'idle' : usable ? (this.#failingSince === undefined ? 'ok' : 'refresh-failing') : this.#failingSince === undefined ? 'fetching' : 'failed',
      reason: this.#reason ?? null,
      tokenExpiresAt: usable ? this.#expiresAt : null,
      failingSince: this.#failingSince ?? null,
      nextAttemptAt: this.#failingSince !== undefined ? this.#nextAttemptAt : usable ? this.#refreshAt : null,
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #usable(now: number): boolean {
    return this.#value !== undefined && now < this.#expiresAt - EXPIRY_GUARD_MS;
  }

  #fetch(): Promise<void> {
    clearTimeout(this.#timer);
    this.#fetching ??= (async () => {
      try {
        const credential = (this.#credential ??= await createTokenCredential(this.#cfg));
        const token = await withTimeout(credential, this.#cfg.scope);
        if (!token?.token) throw new Error('the identity returned no token');
        this.#succeeded(token);
      } catch (err) {
        this.#failed(err);
      } finally {
        this.#fetching = undefined;
        this.#schedule();
      }
    })();
    return this.#fetching;
  }

  #succeeded(token: AccessToken): void {
    const now = Date.now();
    this.#value = `Bearer ${token.token}`;
    this.#expiresAt = token.expiresOnTimestamp;
    const life = Math.max(0, token.expiresOnTimestamp - now);
    let at = token.expiresOnTimestamp - Math.min(REFRESH_MARGIN_MS, life / 2);
    // The identity's own hint (managed identities send refresh_in), when sooner.
    if (token.refreshAfterTimestamp !== undefined && token.refreshAfterTimestamp > now) at = Math.min(at, token.refreshAfterTimestamp);
    this.#refreshAt = Math.max(at, now + Math.min(RETRY_MIN_MS, life / 2));
    if (this.#failingSince !== undefined && this.#announced !== 'nothing') this.onChange?.({ kind: 'recovered', downMs: now - this.#failingSince });
    this.#failures = 0;
    this.#failingSince = undefined;
    this.#reason = undefined;
    this.#announced = 'nothing';
  }

  #failed(err: unknown): void {
    const now = Date.now();
    this.#failures++;
    this.#failingSince ??= now;
    this.#reason = describeFailure(err, this.#cfg.clientSecret);
    const backoff = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.#failures - 1));
    this.#nextAttemptAt = now + backoff * (0.8 + Math.random() * 0.4);
    if (this.#usable(now)) {
      // Try again before the token in hand runs out.
      this.#nextAttemptAt = Math.min(this.#nextAttemptAt, Math.max(now + 250, this.#expiresAt - EXPIRY_GUARD_MS - 250));
      if (this.#announced === 'nothing') {
        this.#announced = 'refresh-failed';
        this.onChange?.({ kind: 'refresh-failed', reason: this.#reason, tokenExpiresAt: this.#expiresAt });
      }
    } else if (this.#announced !== 'unavailable') {
      this.#announced = 'unavailable';
      this.onChange?.({ kind: 'unavailable', reason: this.#reason });
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    const at = this.#failingSince !== undefined ? this.#nextAttemptAt : this.#refreshAt;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#fetch(), Math.max(0, at - Date.now()));
    this.#timer.unref();
  }
}

/** getToken, bounded: a managed identity endpoint that answers 5xx is retried by the library for a long time. */
async function withTimeout(credential: TokenCredential, scope: string): Promise<AccessToken | null> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`no token within ${FETCH_TIMEOUT_MS / 1000} s`));
    }, FETCH_TIMEOUT_MS);
    timer.unref();
  });
  try {
    return await Promise.race([credential.getToken(scope, { abortSignal: abort.signal }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/**
 * Why a fetch failed, for the state report and the log: the identity
 * library's error, without anything token-shaped and without the client
 * secret (its messages never should carry one; this makes sure).
 */
export function describeFailure(err: unknown, secret?: string): string {
  const e = err as { name?: unknown; message?: unknown } | undefined;
  const name = typeof e?.name === 'string' && e.name !== 'Error' ? `${e.name}: ` : '';
  let text = `${name}${typeof e?.message === 'string' ? e.message : String(err)}`;
  if (secret) text = text.split(secret).join('[secret]');
  text = text.replace(JWT_LIKE, '[token]').replace(/\s+/g, ' ').trim();
  return text.length > REASON_MAX_CHARS ? `${text.slice(0, REASON_MAX_CHARS - 1)}…` : text;
}
