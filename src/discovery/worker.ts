// One endpoint's discovery: asks Resource Manager for the account's
// deployments every refreshSeconds, keeps the last list that came back
// whole, and says when it changed. A failed refresh keeps that list, is
// logged once per run of failures, and is retried sooner (backing off up to
// refreshSeconds).
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { DiscoveryConfig } from '../config/schema.ts';
import { armScope, DiscoveryError, type ArmClient, type ArmDeployment, type ArmTokens } from './arm-client.ts';

const FIRST_RETRY_MS = 5_000;

export interface DiscoveryMetrics {
  add(name: string, n: number, labels?: Record<string, string>): void;
  set(name: string, v: number, labels?: Record<string, string>): void;
}

export const DISCOVERY_METRICS = {
  refreshes: 'aoai_gateway_discovery_refreshes_total',
  lastSuccess: 'aoai_gateway_discovery_last_success_seconds',
  failing: 'aoai_gateway_discovery_failing',
} as const;

export interface WorkerDeps {
  arm: ArmClient;
  tokens: ArmTokens;
  logger: Logger | undefined;
  metrics: DiscoveryMetrics | undefined;
  /** the list changed (a first list, or a deployment added, removed or altered) */
  changed: () => void;
}

export class Worker {
  readonly endpoint: string;
  /** what identifies the list: a worker whose source changes is replaced, its list dropped */
  readonly source: string;
  cfg: DiscoveryConfig;
  /** the endpoint's data-plane URL, to check it against the account's */
  url: string;
  /** the last good list; undefined until one came back */
  list: ArmDeployment[] | undefined;
  malformed = 0;
  lastAttempt: number | undefined;
  lastSuccess: number | undefined;
  lastError: { code: string; message: string; at: number } | undefined;
  failures = 0;
  /** whether the account's own endpoint is this endpoint's URL; undefined until read */
  urlMatches: boolean | undefined;
  nextAt: number | undefined;
  /** the first attempt, done (well or not) */
  readonly first: Promise<void>;
  readonly #deps: WorkerDeps;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(endpoint: string, source: string, cfg: DiscoveryConfig, url: string, deps: WorkerDeps) {
    this.endpoint = endpoint;
    this.source = source;
    this.cfg = cfg;
    this.url = url;
    this.#deps = deps;
    this.first = this.refresh();
  }

  /** Refreshes now (or joins the refresh running). */
  refresh(): Promise<void> {
    clearTimeout(this.#timer);
    this.#running ??= this.#attempt().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
    return this.#running;
  }

  close(): void {
    this.#abort.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#abort.signal.aborted) return;
    const every = this.cfg.refreshSeconds * 1000;
    const ms = this.failures === 0 ? every : Math.min(every, FIRST_RETRY_MS * 2 ** Math.min(this.failures - 1, 16));
    this.nextAt = Date.now() + ms;
    this.#timer = setTimeout(() => void this.refresh(), ms);
    this.#timer.unref();
  }

  async #attempt(): Promise<void> {
    const { logger, metrics, arm, tokens } = this.#deps;
    const cfg = this.cfg;
    this.lastAttempt = Date.now();
    // One deadline for the whole refresh: token, account and every page.
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(cfg.timeoutMs)]);
    try {
      const token = await tokens.get(armScope(cfg.armUrl), signal);
      if (this.urlMatches === undefined) await this.#checkAccount(token, signal);
      const listing = await arm.listDeployments(cfg, token, signal);
      if (this.#abort.signal.aborted) return;
      const changed = this.list === undefined || !isDeepStrictEqual(this.list, listing.deployments);
      if (this.list && changed) logger?.info({ endpoint: this.endpoint, ...difference(this.list, listing.deployments) }, 'discovery: the account\'s deployments changed');
      if (this.failures > 0) logger?.info({ endpoint: this.endpoint, failures: this.failures }, 'discovery: Resource Manager answers again');
      this.list = listing.deployments;
      this.malformed = listing.malformed;
      this.lastSuccess = Date.now();
      this.failures = 0;
      metrics?.add(DISCOVERY_METRICS.refreshes, 1, { endpoint: this.endpoint, outcome: 'ok' });
      metrics?.set(DISCOVERY_METRICS.lastSuccess, Math.floor(this.lastSuccess / 1000), { endpoint: this.endpoint });
      metrics?.set(DISCOVERY_METRICS.failing, 0, { endpoint: this.endpoint });
      if (changed) this.#deps.changed();
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      const e = err instanceof DiscoveryError ? err : new DiscoveryError('body', (err as Error).message);
      this.lastError = { code: e.code, message: e.message, at: Date.now() };
      if (this.failures === 0) {
        // Once per run of failures; the state report and the metrics show the rest.
        const keeps = this.list ? `the last good list (${this.list.length} deployments) stays` : 'serving the config\'s own deployments until one comes';
        logger?.warn({ endpoint: this.endpoint, code: e.code, err: e.message }, `discovery: refresh failed; ${keeps}; retrying`);
      }
      this.failures++;
      metrics?.add(DISCOVERY_METRICS.refreshes, 1, { endpoint: this.endpoint, outcome: e.code });
      metrics?.set(DISCOVERY_METRICS.failing, 1, { endpoint: this.endpoint });
    }
  }

  /** Once: is the account ARM describes the one this endpoint's URL points at? A mismatch routes to deployments that are not there. */
  async #checkAccount(token: string, signal: AbortSignal): Promise<void> {
    let urls: string[];
    try {
      urls = await this.#deps.arm.accountEndpoints(this.cfg, token, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      // Not fatal: an identity may list deployments without reading the account. Tried again next refresh.
      this.#deps.logger?.debug({ endpoint: this.endpoint, err: (err as Error).message }, 'discovery: the account could not be read');
      return;
    }
    const mine = origin(this.url);
    this.urlMatches = urls.some((u) => origin(u) === mine);
    if (!this.urlMatches) {
      this.#deps.logger?.warn(
        { endpoint: this.endpoint, account: this.cfg.account, accountEndpoints: urls, url: this.url },
        'discovery: the account\'s endpoint is not this endpoint\'s url; discovered deployments are called at the url',
      );
    }
  }
}

function origin(u: string): string | undefined {
  try {
    return new URL(u).origin.toLowerCase();
  } catch {
    return undefined;
  }
}

function difference(before: readonly ArmDeployment[], after: readonly ArmDeployment[]) {
  const names = (l: readonly ArmDeployment[]) => new Map(l.map((d) => [d.name, d]));
  const was = names(before);
  const now = names(after);
  return {
    added: [...now.keys()].filter((n) => !was.has(n)),
    removed: [...was.keys()].filter((n) => !now.has(n)),
    changed: [...now.keys()].filter((n) => was.has(n) && !isDeepStrictEqual(was.get(n), now.get(n))),
  };
}
