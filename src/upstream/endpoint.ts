// One upstream account: its origin, its connection pool and its credential.
// The pool is bound to the configured origin, so nothing a client sends can
// make the gateway contact another host.
import { Pool } from 'undici';
import type { EndpointConfig, ResilienceConfig } from '../config/schema.ts';
import { createCredential, type UpstreamCredential } from './credentials.ts';
import { EntraCredential } from './entra-credential.ts';

export class Endpoint {
  readonly name: string;
  readonly kind: 'azure' | 'openai';
  /** `https://host[:port]` */
  readonly origin: string;
  /** the URL's path without a trailing slash: '' for an account URL, `/aoai` behind a path prefix */
  readonly basePath: string;
  readonly pool: Pool;
  readonly credential: UpstreamCredential;

  constructor(name: string, cfg: EndpointConfig, timeouts: ResilienceConfig['timeouts']) {
    const url = new URL(cfg.url);
    this.name = name;
    this.kind = cfg.kind;
    this.origin = url.origin;
    let base = url.pathname.replace(/\/+$/, '');
    // For an OpenAI-compatible server, operations live under /v1; accept the URL with or without it.
    if (cfg.kind === 'openai' && base.endsWith('/v1')) base = base.slice(0, -3);
    this.basePath = base;
    this.pool = new Pool(this.origin, {
      connections: cfg.maxConnections,
      connect: { timeout: timeouts.connectMs },
      headersTimeout: timeouts.firstByteMs,
      bodyTimeout: timeouts.idleStreamMs,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
    });
    this.credential = createCredential(cfg.auth, (c) => new EntraCredential(c));
  }

  async close(): Promise<void> {
    this.credential.close();
    await this.pool.close();
  }

  /** Like close, but aborts requests still running. */
  async destroy(): Promise<void> {
    this.credential.close();
    await this.pool.destroy();
  }
}
