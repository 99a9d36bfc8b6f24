// The gateway process's data-plane server: puts the parts together (state
// store, router, ledger, limits), listens, serves the pipeline of
// proxy/handler.ts, and shuts down gracefully — stop accepting, let in-flight
// requests (streams included) finish within a bound, write the ledger's
// queue, then close the rest.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { Ledger, openLedgerBackend } from '../ledger/ledger.ts';
import { ConsumerLimiter } from '../limits/consumer-limiter.ts';
import { createRequestHandler } from '../proxy/handler.ts';
import { ActiveProber } from '../routing/active-probes.ts';
import { Router } from '../routing/router.ts';
import { compileRuntime, type Runtime } from '../runtime/runtime.ts';
import { createStore } from '../state/index.ts';
import type { StateStore } from '../state/store.ts';
import { createAccessLog, noAccessLog } from '../telemetry/access-log.ts';
import { MetricsRegistry } from '../telemetry/metrics.ts';

export interface GatewayOptions {
  /** the gateway's logger; access lines go to it too when telemetry.accessLog is on */
  logger?: Logger;
  /** overrides listen.host / listen.port (tests listen on port 0) */
  host?: string;
  port?: number;
}

export class Gateway {
  readonly server: Server;
  readonly metrics: MetricsRegistry;
  readonly store: StateStore;
  readonly ledger: Ledger;
  #runtime: Runtime;
  readonly #prober: ActiveProber | undefined;
  readonly #logger: Logger | undefined;
  readonly #keysTimer: NodeJS.Timeout;
  #inFlight = 0;
  #draining = false;
  #idle: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  private constructor(config: Config, store: StateStore, metrics: MetricsRegistry, opts: GatewayOptions) {
    this.metrics = metrics;
    this.store = store;
    this.#logger = opts.logger;
    this.#runtime = compileRuntime(config, new Router(config.resilience, store));
    this.ledger = new Ledger(openLedgerBackend(config.ledger.url), {
      maxPending: config.ledger.maxPendingRecords,
      logger: opts.logger,
      metrics,
    });
    const limiter = new ConsumerLimiter(store, {
      ledger: this.ledger.backend,
      leaseMs: config.resilience.timeouts.totalMs + 60_000,
      logger: opts.logger,
    });
    const probes = config.resilience.activeHealth;
    this.#prober = probes ? new ActiveProber(this.#runtime, probes) : undefined;
    this.#keysTimer = setInterval(() => void this.refreshKeys(), config.ledger.keysRefreshSeconds * 1000);
    this.#keysTimer.unref();
    const accessLog = opts.logger && config.telemetry.accessLog ? createAccessLog(opts.logger) : noAccessLog;
    const handler = createRequestHandler({
      runtime: () => this.#runtime,
      ready: async () => {
        if (this.#draining) return false;
        try {
          await this.store.ping();
          return true;
        } catch {
          return false;
        }
      },
      accessLog,
      limiter,
      ledger: this.ledger,
      track: (delta) => {
        this.#inFlight += delta;
        if (this.#inFlight === 0) this.#idle?.();
      },
    });
    this.server = createServer(
      {
        requestTimeout: config.listen.requestTimeoutMs,
        headersTimeout: Math.min(60_000, config.listen.requestTimeoutMs),
        keepAliveTimeout: 5_000,
        maxHeaderSize: 32 * 1024,
        // how often request/header timeouts are checked (Node's default is 30 s)
        connectionsCheckingInterval: Math.min(1_000, config.listen.requestTimeoutMs),
      },
      (req, res) => {
        if (this.#draining) res.setHeader('connection', 'close');
        handler(req, res);
      },
    );
  }

  static async start(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
    const metrics = new MetricsRegistry();
    const store = await createStore(config.state, { logger: opts.logger, metrics });
    const gw = new Gateway(config, store, metrics, opts);
    try {
      await gw.refreshKeys();
      const host = opts.host ?? config.listen.host;
      const port = opts.port ?? config.listen.port;
      await new Promise<void>((resolve, reject) => {
        gw.server.once('error', reject);
        gw.server.listen(port, host, () => {
          gw.server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await gw.close(0);
      throw err;
    }
    return gw;
  }

  get runtime(): Runtime {
    return this.#runtime;
  }

  get prober(): ActiveProber | undefined {
    return this.#prober;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address === '::' ? '::1' : a.address}]` : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
    return `http://${host}:${a.port}`;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Picks up keys created or revoked in the ledger (the CLI writes there). Runs every ledger.keysRefreshSeconds. */
  async refreshKeys(): Promise<void> {
    try {
      const now = Date.now();
      const keys = await this.ledger.backend.keys();
      this.#runtime.keys.setStored(keys.filter((k) => k.revokedAt === undefined && (k.expiresAt === undefined || k.expiresAt > now)));
    } catch (err) {
      this.#logger?.warn({ err: (err as Error).message }, 'keys: the ledger could not be read; the keys known before stay in use');
    }
  }

  /**
   * Stops accepting, waits up to `graceMs` (default listen.shutdownGraceMs)
   * for in-flight requests, then closes every connection, writes the
   * ledger's queue and closes the upstream pools and the state store.
   */
  close(graceMs = this.#runtime.config.listen.shutdownGraceMs): Promise<void> {
    this.#closed ??= (async () => {
      this.#draining = true;
      clearInterval(this.#keysTimer);
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeIdleConnections();
      if (this.#inFlight > 0) {
        this.#logger?.info({ inFlight: this.#inFlight, graceMs }, 'shutting down: waiting for in-flight requests');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve) => (this.#idle = resolve)),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
        ]);
        clearTimeout(timer);
      }
      if (this.#inFlight > 0) this.#logger?.warn({ inFlight: this.#inFlight }, 'shutdown grace over: closing open requests');
      this.server.closeAllConnections();
      await stopped;
      this.#prober?.close();
      this.#runtime.router.close();
      await this.#runtime.close(this.#inFlight > 0);
      await this.ledger.close();
      await this.store.close();
      this.#logger?.flush();
    })();
    return this.#closed;
  }
}
