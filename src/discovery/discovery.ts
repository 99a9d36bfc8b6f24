// Deployment discovery for every endpoint that has `discovery`: one worker
// per endpoint, and the config they make together with the file's. The
// gateway calls apply() with every config it is about to run (at start and
// on each reload, the file's or one given), so discovered targets survive a
// file reload; when a list changes, discovery asks the gateway to reload the
// file's config again, which goes through the same apply().
import type { Logger } from 'pino';
import type { AzureIdentityConfig, Config, EndpointConfig } from '../config/schema.ts';
import { ArmClient, ArmTokens } from './arm-client.ts';
import { mergeDiscovered, type Discovered, type Merged } from './merge.ts';
import { selectTargets, type DiscoveredTarget } from './select.ts';
import { Worker, type DiscoveryMetrics } from './worker.ts';

export interface DiscoveryOptions {
  logger?: Logger;
  metrics?: DiscoveryMetrics;
  /** Runs a reload of `base` (which calls apply). Without it, lists are only read (the CLI's check). */
  reload?: (base: Config) => Promise<unknown>;
}

/** One endpoint's discovery, as GET /admin/api/state shows it. */
export interface DiscoveryReport {
  endpoint: string;
  account: string;
  lastSuccess: string | null;
  lastAttempt: string | null;
  nextRefresh: string | null;
  /** the last failure, kept after a success for the record; `failing` says whether it is current */
  lastError: { code: string; message: string; at: string } | null;
  failing: boolean;
  consecutiveFailures: number;
  /** deployments in the last good list; null before the first */
  listed: number | null;
  targets: Pick<DiscoveredTarget, 'deployment' | 'upstream' | 'model' | 'sku' | 'priority' | 'tpm' | 'rpm'>[];
  skipped: { name: string; reason: string }[];
  /** whether the account's own endpoint is the endpoint's url; null until read */
  urlMatches: boolean | null;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
/** changes applied in a row before discovery stops asking (a reload that never calls apply) */
const MAX_PUMP = 5;

export class Discovery {
  readonly #opts: DiscoveryOptions;
  readonly #arm = new ArmClient();
  readonly #workers = new Map<string, Worker>();
  #tokens = new Map<string, ArmTokens>();
  #base: Config | undefined;
  #added: Merged['added'] = [];
  /** bumped by each list change; `#applied` is the generation the running config was merged from */
  #generation = 0;
  #applied = 0;
  #pumping: Promise<void> | undefined;
  #warnedMissing = '';
  #closed = false;

  constructor(opts: DiscoveryOptions = {}) {
    this.#opts = opts;
  }

  /** The config last given to apply(): the file's, without discovered targets. */
  get base(): Config | undefined {
    return this.#base;
  }

  /** What discovery added to the running config. */
  get added(): Merged['added'] {
    return this.#added;
  }

  /**
   * Takes `base` as the file's config: starts, restarts or stops workers to
   * match its endpoints, and returns it with every last good list joined in.
   */
  apply(base: Config): Config {
    this.#base = base;
    if (!this.#closed) this.#reconcile(base);
    this.#applied = this.#generation;
    let merged: Merged;
    try {
      merged = mergeDiscovered(base, this.#selected());
    } catch (err) {
      this.#opts.logger?.error({ err: (err as Error).message }, 'discovery: the discovered deployments could not be joined; running the config\'s own');
      merged = { config: base, added: [] };
    }
    this.#added = merged.added;
    this.#warnMissing(merged.config);
    return merged.config;
  }

  /** Resolves when every worker made its first attempt (at start: bounded by each one's timeoutMs). */
  async ready(): Promise<void> {
    await Promise.all([...this.#workers.values()].map((w) => w.first));
    await this.#pumping;
  }

  /** Refreshes now (one endpoint, or all) and resolves once a change is running. */
  async refresh(endpoint?: string): Promise<void> {
    const workers = [...this.#workers.values()].filter((w) => endpoint === undefined || w.endpoint === endpoint);
    await Promise.all(workers.map((w) => w.refresh()));
    await this.#pumping;
  }

  report(): DiscoveryReport[] {
    return [...this.#workers.values()].map((w) => {
      const selection = w.list ? selectTargets(w.list, w.cfg) : undefined;
      return {
        endpoint: w.endpoint,
        account: w.cfg.account,
        lastSuccess: iso(w.lastSuccess),
        lastAttempt: iso(w.lastAttempt),
        nextRefresh: iso(w.nextAt),
        lastError: w.lastError ? { code: w.lastError.code, message: w.lastError.message, at: iso(w.lastError.at)! } : null,
        failing: w.failures > 0,
        consecutiveFailures: w.failures,
        listed: w.list ? w.list.length : null,
        targets: (selection?.targets ?? []).map(({ deployment, upstream, model, sku, priority, tpm, rpm }) => ({ deployment, upstream, model, sku, priority, tpm, rpm })),
        skipped: [...(selection?.skipped ?? []), ...(w.malformed ? [{ name: '(malformed entries)', reason: `${w.malformed} list entries were not deployments` }] : [])],
        urlMatches: w.urlMatches ?? null,
      };
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#workers.values()) w.close();
    this.#workers.clear();
    await this.#arm.close();
  }

  /** Reads every endpoint's list once (no timers, no reload): what `aoai-gateway check --discover` prints. */
  static async once(config: Config, logger?: Logger): Promise<{ merged: Merged; reports: DiscoveryReport[] }> {
    const d = new Discovery({ logger });
    try {
      d.apply(config);
      await d.ready();
      return { merged: mergeDiscovered(config, d.#selected()), reports: d.report() };
    } finally {
      await d.close();
    }
  }

  #selected(): Discovered {
    const out = new Map<string, DiscoveredTarget[]>();
    for (const w of this.#workers.values()) if (w.list) out.set(w.endpoint, selectTargets(w.list, w.cfg).targets);
    return out;
  }

  #reconcile(base: Config): void {
    const tokens = new Map<string, ArmTokens>();
    for (const [name, ep] of Object.entries(base.endpoints)) {
      const cfg = ep.discovery;
      if (!cfg) continue;
      const identity = identityOf(ep);
      const idKey = JSON.stringify(identity);
      const source = JSON.stringify([cfg.armUrl, cfg.subscriptionId, cfg.resourceGroup, cfg.account, cfg.apiVersion, identity]);
      if (!tokens.has(idKey)) tokens.set(idKey, this.#tokens.get(idKey) ?? new ArmTokens(identity));
      const w = this.#workers.get(name);
      if (w && w.source === source) {
        // Same list; the patterns, priorities and timings are read from the new config.
        const sooner = cfg.refreshSeconds < w.cfg.refreshSeconds;
        w.cfg = cfg;
        w.url = ep.url;
        if (sooner) void w.refresh();
        continue;
      }
      w?.close();
      this.#workers.set(
        name,
        new Worker(name, source, cfg, ep.url, {
          arm: this.#arm,
          tokens: tokens.get(idKey)!,
          logger: this.#opts.logger,
          metrics: this.#opts.metrics,
          changed: () => this.#changed(),
        }),
      );
    }
    for (const [name, w] of this.#workers) {
      if (base.endpoints[name]?.discovery) continue;
      w.close();
      this.#workers.delete(name);
    }
    this.#tokens = tokens;
  }

  #changed(): void {
    this.#generation++;
    if (!this.#opts.reload || this.#closed) return;
    this.#pumping ??= this.#pump().finally(() => (this.#pumping = undefined));
  }

  /** Reloads until the running config is merged from the newest lists (a reload already running may have merged older ones). */
  async #pump(): Promise<void> {
    for (let i = 0; i < MAX_PUMP && this.#applied < this.#generation && !this.#closed && this.#base; i++) {
      try {
        await this.#opts.reload!(this.#base);
      } catch (err) {
        this.#opts.logger?.error({ err: (err as Error).message }, 'discovery: applying the new deployments failed; the running config stays');
        return;
      }
    }
  }

  /** Consumers may name deployments only discovery brings; say once which of those are still missing. */
  #warnMissing(config: Config): void {
    const missing = Object.entries(config.consumers).flatMap(([c, cfg]) =>
      cfg.deployments.filter((d) => d !== '*' && !(d in config.deployments)).map((d) => `${c}: ${d}`),
    );
    const key = missing.join(',');
    if (key === this.#warnedMissing) return;
    // Not before every endpoint had its first answer: until then, missing is expected.
    if (key && ![...this.#workers.values()].every((w) => w.lastSuccess !== undefined || w.failures > 0)) return;
    if (key) this.#opts.logger?.warn({ missing }, 'discovery: consumers name deployments that neither the config nor discovery has (404 until they appear)');
    this.#warnedMissing = key;
  }
}

/** Who asks ARM: discovery.identity, else the endpoint's own entra identity, else the default chain. */
function identityOf(ep: EndpointConfig): AzureIdentityConfig {
  if (ep.discovery?.identity) return ep.discovery.identity;
  if (ep.auth?.type === 'entra') {
    const { type: _type, scope: _scope, ...identity } = ep.auth;
    return identity;
  }
  return { credential: 'default' };
}

