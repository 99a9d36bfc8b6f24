// Entra ID tokens for `auth: {type: entra}` endpoints, from @azure/identity
// (DefaultAzureCredential's chain, or a managed identity / app named by
// clientId). One token is shared by every request and refreshed ahead of its
// expiry, so the hot path reads a string and awaits nothing.
import type { TokenCredential } from '@azure/identity';
import type { EndpointAuthConfig } from '../config/schema.ts';
import { createTokenCredential } from './azure-identity.ts';
import type { UpstreamCredential } from './credentials.ts';

type EntraConfig = Extract<EndpointAuthConfig, { type: 'entra' }>;

/** Refresh this long before the token expires. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export class EntraCredential implements UpstreamCredential {
  readonly type = 'entra';
  readonly #cfg: EntraConfig;
  #credential: TokenCredential | undefined;
  #value: string | undefined;
  #refreshAt = 0;
  #pending: Promise<void> | undefined;

  constructor(cfg: EntraConfig, credential?: TokenCredential) {
    this.#cfg = cfg;
    this.#credential = credential;
  }

  apply(headers: Record<string, string>): void | Promise<void> {
    if (this.#value !== undefined && Date.now() < this.#refreshAt) {
      headers.authorization = this.#value;
      return;
    }
    // An expiring but still valid token is used while a refresh runs.
    const refreshing = this.#refresh();
    if (this.#value !== undefined && Date.now() < this.#refreshAt + REFRESH_MARGIN_MS) {
      headers.authorization = this.#value;
      refreshing.catch(() => {});
      return;
    }
    return refreshing.then(() => {
      headers.authorization = this.#value as string;
    });
  }

  #refresh(): Promise<void> {
    this.#pending ??= (async () => {
      try {
        const credential = (this.#credential ??= await this.#create());
        const token = await credential.getToken(this.#cfg.scope);
        if (!token) throw new Error('the identity returned no token');
        this.#value = `Bearer ${token.token}`;
        this.#refreshAt = token.expiresOnTimestamp - REFRESH_MARGIN_MS;
      } finally {
        this.#pending = undefined;
      }
    })();
    return this.#pending;
  }

  #create(): Promise<TokenCredential> {
    return createTokenCredential(this.#cfg);
  }

  close(): void {}
}
