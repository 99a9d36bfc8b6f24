// The gateway process: puts the parts together (telemetry, state store,
// router, ledger, limits, the admin plane), serves the data plane of
// proxy/handler.ts, swaps configs in on reload, and shuts down gracefully —
// stop accepting, let in-flight requests (streams included) finish within a
// bound, write the ledger's queue, then close the rest.
import { watchConfigFile } from './config-watch.ts';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Activity } from '../admin/activity.ts';
import { AdminServer } from '../admin/admin-server.ts';
import type { StoredKeyEntry } from '../auth/consumer-keys.ts';
import type { Issue } from '../config/load.ts';
import { loadConfigFileWithSecrets, type KeyVaultSecrets } from '../secrets/index.ts';
import type { Config } from '../config/schema.ts';
import { Ledger, openLedgerBackend } from '../ledger/ledger.ts';
import { ConsumerLimiter } from '../limits/consumer-limiter.ts';
import { ResponseCache } from '../cache/index.ts';
import { ContentSafetyGuard } from '../safety/index.ts';
import { createRequestHandler } from '../proxy/handler.ts';
import { ActiveProber } from '../routing/active-probes.ts';
import { Router } from '../routing/router.ts';
import { compileRuntime, retiredEndpoints, type Runtime } from '../runtime/runtime.ts';
import { FallbackStore } from '../state/fallback-store.ts';
import { createStore } from '../state/index.ts';
import type { StateStore } from '../state/store.ts';
import { createAccessLog, noAccessLog } from '../telemetry/access-log.ts';
import type { GatewayMetrics, Snapshot } from '../telemetry/gateway-metrics.ts';
import { Telemetry } from '../telemetry/telemetry.ts';
import { adminPortOf } from './admin-port.ts';
import { holdBoundFields } from './restart-fields.ts';
import { createListener, listen, listenerUrl, watchTls, type Listener } from './listener.ts';
import { describeState, type GatewayState } from './state-report.ts';
import { Discovery } from '../discovery/index.ts';
import { superviseCredentials } from '../upstream/credential-watch.ts';

export interface GatewayOptions {
  /** the gateway's logger; access lines go to it too when telemetry.accessLog is on */
  logger?: Logger;
  /** overrides listen.host / listen.port (tests listen on port 0) */
  host?: string;
  port?: number;
  /** overrides admin.host / admin.port; false: no admin server */
  adminHost?: string;
  adminPort?: number | false;
  /** the file the config came from: a reload reads it again */
  configPath?: string;
  /** reload when the config file changes */
  watch?: boolean;
  /** share the listen port with other processes (`serve --workers`) */
  reusePort?: boolean;
  /** Key Vault values of the config file, kept across reloads (the last good ones serve while the vault is away) */
  secrets?: KeyVaultSecrets;
}

export type ReloadResult = { ok: true; restartNeeded: string[] } | { ok: false; issues: Issue[] };

export class Gateway {
  readonly server: Listener;
  readonly admin: AdminServer | undefined;
  readonly telemetry: Telemetry;
  readonly store: StateStore;
  readonly ledger: Ledger;
  readonly activity = new Activity();
  readonly router: Router;
  readonly contentSafety: ContentSafetyGuard;
  /** deployments listed through Resource Manager, joined to every config this gateway runs */
  readonly discovery: Discovery;
  #runtime: Runtime;
  #prober: ActiveProber | undefined;
  readonly #logger: Logger | undefined;
  readonly #opts: GatewayOptions;
  readonly #keysTimer: NodeJS.Timeout;
  #storedKeys: StoredKeyEntry[] = [];
  #unwatch: (() => void) | undefined;
  /** stops watching certificate files */
  #stopTls: (() => void) | undefined;
  #reloading: Promise<ReloadResult> | undefined;
  #inFlight = 0;
  #draining = false;
  #idle: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  private constructor(config: Config, store: StateStore, telemetry: Telemetry, opts: GatewayOptions) {
    this.store = store;
    this.telemetry = telemetry;
    this.#logger = opts.logger;
    this.#opts = opts;
    this.router = new Router(config.resilience, store);
    this.router.onCooldown = (t) => telemetry.metrics.cooldown(t.id, t.endpoint.name);
    this.discovery = new Discovery({ logger: opts.logger, metrics: telemetry.metrics, reload: (base) => this.reload(base) });
    this.#runtime = compileRuntime(this.discovery.apply(config), this.router);
    superviseCredentials(this.#runtime.endpoints.values(), opts.logger);
    this.ledger = new Ledger(openLedgerBackend(config.ledger.url), {
      maxPending: config.ledger.maxPendingRecords,
      logger: opts.logger,
      metrics: telemetry.metrics,
    });
    const limiter = new ConsumerLimiter(store, {
      ledger: this.ledger.backend,
      leaseMs: config.resilience.timeouts.totalMs + 60_000,
      logger: opts.logger,
    });
    this.#prober = this.#startProber(config);
    this.#keysTimer = setInterval(() => void this.refreshKeys(), config.ledger.keysRefreshSeconds * 1000);
    this.#keysTimer.unref();
    telemetry.metrics.observe(() => this.#snapshot());
    const accessLog = opts.logger && config.telemetry.accessLog ? createAccessLog(opts.logger) : noAccessLog;
    this.contentSafety = new ContentSafetyGuard({ metrics: telemetry.metrics, logger: opts.logger });
    const handler = createRequestHandler({
      runtime: () => this.#runtime,
      telemetry,
      activity: this.activity,
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
      // on Redis, cached answers are shared by every replica; else they stay in this process
      cache: new ResponseCache(config.state.store === 'redis' ? store : undefined, telemetry.metrics),
      contentSafety: this.contentSafety,
      ledger: this.ledger,
      track: (delta) => {
        this.#inFlight += delta;
        if (this.#inFlight === 0) this.#idle?.();
      },
    });
    this.server = createListener(
      config.listen.tls,
      'listen.tls',
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
    this.server.maxConnections = config.listen.maxConnections;
    this.admin =
      opts.adminPort === false
        ? undefined
        : new AdminServer(adminPortOf(this), config.admin.tls, opts.logger);
  }

  static async start(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
    const telemetry = await Telemetry.create(config.telemetry);
    const store = await createStore(config.state, { logger: opts.logger, metrics: telemetry.metrics });
    const gw = new Gateway(config, store, telemetry, opts);
    try {
      await gw.refreshKeys();
      // The first lists (each bounded by its timeoutMs); one that fails leaves the config's own deployments, retried.
      await gw.discovery.ready();
      await listen(gw.server, opts.port ?? config.listen.port, opts.host ?? config.listen.host, opts.reusePort);
      if (config.listen.tls && 'setSecureContext' in gw.server) gw.#stopTls = watchTls(gw.server, config.listen.tls, 'listen.tls', opts.logger);
      if (gw.admin) await gw.admin.listen(typeof opts.adminPort === 'number' ? opts.adminPort : config.admin.port, opts.adminHost ?? config.admin.host);
      if (opts.watch && opts.configPath) gw.#unwatch = watchConfigFile(opts.configPath, () => void gw.reload());
    } catch (err) {
      await gw.close(0);
      throw err;
    }
    return gw;
  }

  get runtime(): Runtime {
    return this.#runtime;
  }

  get metrics(): GatewayMetrics {
    return this.telemetry.metrics;
  }

  get prober(): ActiveProber | undefined {
    return this.#prober;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return listenerUrl(this.server);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Every deployment and target as routing sees them now, with the health of the store and the ledger. */
  async state(): Promise<GatewayState> {
    return describeState(this.#runtime, {
      inFlight: this.#inFlight,
      store: { kind: this.store.kind, up: this.store instanceof FallbackStore ? this.store.up : true },
      ledger: { up: this.ledger.up, pending: this.ledger.pending, dropped: this.ledger.dropped },
      discovery: this.discovery.report(),
    });
  }

  /**
   * Swaps in a new config: the one given, or the config file read again.
   * An invalid one is refused with its problems and the running config
   * stays. Requests in flight finish on the config they started with;
   * targets that still exist keep their health. Sections a process cannot
   * take over while running (listen, state, ledger, telemetry; admin's host
   * and port) keep their running values and are named in `restartNeeded`.
   */
  reload(next?: Config): Promise<ReloadResult> {
    // One reload at a time; a second asks for the same outcome.
    this.#reloading ??= this.#reload(next).finally(() => (this.#reloading = undefined));
    return this.#reloading;
  }

  async #reload(given: Config | undefined): Promise<ReloadResult> {
    let next = given;
    if (!next) {
      if (!this.#opts.configPath) return { ok: false, issues: [{ path: '(config)', message: 'this gateway was started without a config file; there is nothing to read again' }] };
      const loaded = await loadConfigFileWithSecrets(this.#opts.configPath, process.env, this.#opts.secrets);
      if (!loaded.ok) {
        this.#logger?.error({ problems: loaded.issues.map((i) => `${i.path}: ${i.message}`) }, 'reload refused: the config has problems; the running config stays');
        return { ok: false, issues: loaded.issues };
      }
      next = loaded.config;
    }
    next = this.discovery.apply(next);
    const current = this.#runtime;
    const { effective, restartNeeded } = holdBoundFields(current.config, next);
    const runtime = compileRuntime(effective, this.router, current);
    runtime.keys.setStored(this.#storedKeys);
    superviseCredentials(runtime.endpoints.values(), this.#logger);
    this.#runtime = runtime;
    this.#prober?.close();
    this.#prober = this.#startProber(effective);
    this.server.maxConnections = effective.listen.maxConnections;
    // Endpoints the new config dropped or changed close once their requests are done.
    for (const e of retiredEndpoints(current, runtime)) void e.close().catch(() => {});
    this.#logger?.info({ deployments: runtime.deployments.size, restartNeeded }, 'config reloaded');
    return { ok: true, restartNeeded };
  }

  /** Picks up keys created or revoked in the ledger (the CLI writes there). Runs every ledger.keysRefreshSeconds. */
  async refreshKeys(): Promise<void> {
    try {
      const now = Date.now();
      const keys = await this.ledger.backend.keys();
      this.#storedKeys = keys.filter((k) => k.revokedAt === undefined && (k.expiresAt === undefined || k.expiresAt > now));
      this.#runtime.keys.setStored(this.#storedKeys);
    } catch (err) {
      this.#logger?.warn({ err: (err as Error).message }, 'keys: the ledger could not be read; the keys known before stay in use');
    }
  }

  /**
   * Stops accepting, waits up to `graceMs` (default listen.shutdownGraceMs)
   * for in-flight requests, then closes every connection, writes the
   * ledger's queue and closes the upstream pools, the state store and the
   * exporters (which send what they hold).
   */
  close(graceMs = this.#runtime.config.listen.shutdownGraceMs): Promise<void> {
    this.#closed ??= (async () => {
      this.#draining = true;
      clearInterval(this.#keysTimer);
      await this.discovery.close();
      this.#unwatch?.();
      this.#stopTls?.();
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
      await this.admin?.close();
      this.#prober?.close();
      this.router.close();
      await this.#runtime.close(this.#inFlight > 0);
      await this.contentSafety.close();
      await this.ledger.close();
      await this.store.close();
      await this.telemetry.shutdown();
      this.#logger?.flush();
    })();
    return this.#closed;
  }

  #startProber(config: Config): ActiveProber | undefined {
    const probes = config.resilience.activeHealth;
    return probes ? new ActiveProber(this.#runtime, probes) : undefined;
  }

  async #snapshot(): Promise<Snapshot> {
    const s = await this.state();
    return {
      inFlight: this.#inFlight,
      queues: s.deployments.map((d) => ({ deployment: d.name, length: d.queue })),
      targets: s.deployments.flatMap((d) =>
        d.targets.map((t) => ({
          deployment: d.name,
          target: t.id,
          endpoint: t.endpoint,
          upstreamDeployment: t.deployment,
          state: t.state,
          remainingRequests: t.remainingRequests ?? undefined,
          remainingTokens: t.remainingTokens ?? undefined,
        })),
      ),
    };
  }
}
