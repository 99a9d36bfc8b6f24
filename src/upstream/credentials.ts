// How the gateway proves itself to an endpoint: one small interface, one
// implementation per auth type. The client's own credentials never get here;
// the forwarded headers are built without them and then `apply` adds these.
import type { EndpointAuthConfig } from '../config/schema.ts';

export interface UpstreamCredential {
  readonly type: string;
  /** Sets the auth header. Returns a promise only while a token is being fetched. */
  apply(headers: Record<string, string>): void | Promise<void>;
  close(): void;
  /** Entra: when no token can be had, the earliest time one may be again (epoch ms); 0 while it can. */
  unavailableUntil?(): number;
  /** Entra: what the admin state shows of the token (never the token). */
  status?(): CredentialStatus;
}

export interface CredentialStatus {
  readonly type: string;
  /** idle: nothing asked yet; fetching: the first token; refresh-failing: the token in hand still serves */
  readonly state: 'idle' | 'fetching' | 'ok' | 'refresh-failing' | 'failed';
  /** why the last fetch failed (no token or secret in it); null after a success */
  readonly reason: string | null;
  readonly tokenExpiresAt: number | null;
  readonly failingSince: number | null;
  /** the next fetch: a retry while failing, else the planned refresh */
  readonly nextAttemptAt: number | null;
}

class ApiKeyCredential implements UpstreamCredential {
  readonly type = 'api-key';
  readonly #key: string;
  constructor(key: string) {
    this.#key = key;
  }
  apply(headers: Record<string, string>): void {
    headers['api-key'] = this.#key;
  }
  close(): void {}
}

class BearerCredential implements UpstreamCredential {
  readonly type = 'bearer';
  readonly #value: string;
  constructor(token: string) {
    this.#value = `Bearer ${token}`;
  }
  apply(headers: Record<string, string>): void {
    headers.authorization = this.#value;
  }
  close(): void {}
}

class NoCredential implements UpstreamCredential {
  readonly type = 'none';
  apply(): void {}
  close(): void {}
}

export type EntraFactory = (cfg: Extract<EndpointAuthConfig, { type: 'entra' }>) => UpstreamCredential;

export function createCredential(cfg: EndpointAuthConfig | undefined, entra: EntraFactory): UpstreamCredential {
  switch (cfg?.type) {
    case 'api-key':
      return new ApiKeyCredential(cfg.key);
    case 'bearer':
      return new BearerCredential(cfg.token);
    case 'entra':
      return entra(cfg);
    default:
      return new NoCredential();
  }
}
