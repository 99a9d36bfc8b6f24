// Secrets read from Azure Key Vault with Microsoft's client
// (@azure/keyvault-secrets: the challenge-based auth, the API versions and
// the retries are its business), as `${keyvault:…}` references of the
// config ask. The last value read of each secret is kept: when the vault
// cannot be reached, a reload or a refresh goes on with it (and says so in
// the log); a secret the vault says does not exist is a config problem.
// `watch` reads the secrets the running config uses every refreshSeconds and
// reports a change, which the caller applies like a reload.
import type { SecretClient } from '@azure/keyvault-secrets';
import type { Logger } from 'pino';
import { isDeepStrictEqual } from 'node:util';
import type { KeyVaultConfig } from '../config/schema.ts';
import { createTokenCredential } from '../upstream/azure-identity.ts';
import type { KeyVaultRef } from './references.ts';

export type SecretRead =
  | { readonly ok: true; readonly value: string; readonly stale: boolean }
  | { readonly ok: false; readonly message: string };

/** At most this many secrets per config (each is a call to the vault). */
export const MAX_SECRETS = 500;

interface Client {
  readonly cfg: KeyVaultConfig;
  readonly vaultUrl: string;
  readonly client: Promise<SecretClient>;
}

export class KeyVaultSecrets {
  readonly #logger: Logger | undefined;
  readonly #clients = new Map<string, Client>();
  readonly #lastGood = new Map<string, string>();
  /** what the running config references, and how it reaches the vault */
  #inUse: { refs: readonly KeyVaultRef[]; cfg: KeyVaultConfig } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(logger?: Logger) {
    this.#logger = logger;
  }

  /** Reads every reference (at once); a vault out of reach gives the last value read, marked stale. */
  async read(refs: readonly KeyVaultRef[], cfg: KeyVaultConfig): Promise<Map<string, SecretRead>> {
    const out = new Map<string, SecretRead>();
    await Promise.all(refs.map(async (ref) => out.set(ref.id, await this.#readOne(ref, cfg))));
    const stale = [...out].filter(([, r]) => r.ok && r.stale).map(([id]) => id);
    if (stale.length > 0) this.#logger?.warn({ secrets: stale }, 'keyvault: refresh failed: the vault could not be read; the last values read stay in use');
    return out;
  }

  /** The references of the config now running: what `watch` reads again. */
  use(refs: readonly KeyVaultRef[], cfg: KeyVaultConfig): void {
    this.#inUse = refs.length > 0 ? { refs, cfg } : undefined;
  }

  /**
   * Every refreshSeconds, reads the running config's secrets again; when
   * one changed, calls `changed` (the gateway reloads). A failed read keeps
   * the last values and is logged.
   */
  watch(changed: () => void | Promise<unknown>): void {
    const next = () => {
      if (this.#closed) return;
      const seconds = this.#inUse?.cfg.refreshSeconds ?? 60;
      this.#timer = setTimeout(() => void this.#refresh(changed).finally(next), seconds * 1000);
      this.#timer.unref();
    };
    next();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  async #refresh(changed: () => void | Promise<unknown>): Promise<void> {
    const inUse = this.#inUse;
    if (!inUse) return;
    const before = new Map(inUse.refs.map((r) => [r.id, this.#lastGood.get(r.id)]));
    const reads = await this.read(inUse.refs, inUse.cfg);
    // Stale ones (the vault away) were logged by read(); these are answers: not found, forbidden.
    const refused = [...reads].flatMap(([, r]) => (r.ok ? [] : [r.message]));
    if (refused.length > 0) this.#logger?.warn({ problems: refused }, 'keyvault: refresh failed for some secrets; the running config keeps their last values');
    const moved = [...reads].some(([id, r]) => r.ok && !r.stale && r.value !== before.get(id));
    if (moved) {
      this.#logger?.info({ secrets: inUse.refs.length }, 'keyvault: a secret changed; reloading the config');
      await changed();
    }
  }

  async #readOne(ref: KeyVaultRef, cfg: KeyVaultConfig): Promise<SecretRead> {
    try {
      const client = await this.#client(ref.vault, cfg);
      const secret = await client.getSecret(ref.name, { ...(ref.version ? { version: ref.version } : {}), abortSignal: AbortSignal.timeout(cfg.timeoutMs) });
      if (secret.value === undefined) return { ok: false, message: `Key Vault secret "${ref.id}" has no value` };
      this.#lastGood.set(ref.id, secret.value);
      return { ok: true, value: secret.value, stale: false };
    } catch (err) {
      const e = err as { statusCode?: number; code?: string; name?: string; message?: string };
      if (e.statusCode === 404) return { ok: false, message: `Key Vault secret "${ref.id}" not found` };
      const last = this.#lastGood.get(ref.id);
      // Forbidden is a decision of the vault's owner, not an outage: no last value hides it.
      if (last !== undefined && e.statusCode !== 403) return { ok: true, value: last, stale: true };
      const why = e.statusCode ? `${e.statusCode} ${e.code ?? ''}`.trim() : (e.name ?? 'error');
      return { ok: false, message: `Key Vault secret "${ref.id}" could not be read (${why}: ${clip(e.message ?? '')})` };
    }
  }

  #client(vault: string, cfg: KeyVaultConfig): Promise<SecretClient> {
    const vaultUrl = cfg.vaultUrl.replaceAll('{vault}', vault);
    const known = this.#clients.get(vaultUrl);
    if (known && isDeepStrictEqual(known.cfg, cfg)) return known.client;
    const client = (async () => {
      const { SecretClient } = await import('@azure/keyvault-secrets');
      return new SecretClient(vaultUrl, await createTokenCredential(cfg), {
        disableChallengeResourceVerification: cfg.disableChallengeResourceVerification,
        // Bounded: the whole read is also held to timeoutMs.
        retryOptions: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 2000 },
      });
    })();
    // A failed construction is not kept.
    client.catch(() => this.#clients.delete(vaultUrl));
    this.#clients.set(vaultUrl, { cfg, vaultUrl, client });
    return client;
  }
}

function clip(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? `${one.slice(0, 199)}…` : one;
}
