// The gateway process's data-plane server: listens, serves the pipeline of
// proxy/handler.ts, and shuts down gracefully — stop accepting, let in-flight
// requests (streams included) finish within a bound, then close the rest.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { createRequestHandler } from '../proxy/handler.ts';
import { ActiveProber } from '../routing/active-probes.ts';
import { compileRuntime, type Runtime } from '../runtime/runtime.ts';
import { createAccessLog, noAccessLog } from '../telemetry/access-log.ts';

export interface GatewayOptions {
  /** the gateway's logger; access lines go to it too when telemetry.accessLog is on */
  logger?: Logger;
  /** overrides listen.host / listen.port (tests listen on port 0) */
  host?: string;
  port?: number;
}

export class Gateway {
  readonly server: Server;
  #runtime: Runtime;
  readonly #prober: ActiveProber | undefined;
  readonly #logger: Logger | undefined;
  #inFlight = 0;
  #draining = false;
  #idle: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  private constructor(config: Config, opts: GatewayOptions) {
    this.#runtime = compileRuntime(config);
    this.#logger = opts.logger;
    const probes = config.resilience.activeHealth;
    this.#prober = probes ? new ActiveProber(this.#runtime, probes) : undefined;
    const accessLog = opts.logger && config.telemetry.accessLog ? createAccessLog(opts.logger) : noAccessLog;
    const handler = createRequestHandler({
      runtime: () => this.#runtime,
      ready: () => !this.#draining,
      accessLog,
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
    const gw = new Gateway(config, opts);
    const host = opts.host ?? config.listen.host;
    const port = opts.port ?? config.listen.port;
    await new Promise<void>((resolve, reject) => {
      gw.server.once('error', reject);
      gw.server.listen(port, host, () => {
        gw.server.off('error', reject);
        resolve();
      });
    });
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

  /**
   * Stops accepting, waits up to `graceMs` (default listen.shutdownGraceMs)
   * for in-flight requests, then closes every connection and upstream pool.
   */
  close(graceMs = this.#runtime.config.listen.shutdownGraceMs): Promise<void> {
    this.#closed ??= (async () => {
      this.#draining = true;
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
      this.#logger?.flush();
    })();
    return this.#closed;
  }
}
