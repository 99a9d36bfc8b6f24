// `serve --workers N`: N worker processes serve the data port together (each
// listens with SO_REUSEPORT, so the kernel spreads connections over them and
// no process relays another's); the primary keeps the admin port, the config
// file and the signals. Shared state (limits, cooldowns, circuits, budgets)
// is in Redis, so the workers behave as one gateway; what each observes
// itself (requests in flight, metrics, recent activity) the primary asks
// them for over the cluster's IPC channel and merges.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AdminServer, type AdminPort } from '../admin/admin-server.ts';
import type { Config } from '../config/schema.ts';
import { KeyVaultSecrets, loadConfigFileWithSecrets } from '../secrets/index.ts';
import { createLogger, flushLogsSync } from '../telemetry/access-log.ts';
import { adminPortOf } from './admin-port.ts';
import { GatewayError, type GatewayErrorCode } from '../proxy/errors.ts';
import { mergedAdminPort, noWorker, type WorkerCall } from './cluster-admin.ts';
import { Gateway } from './gateway.ts';

const CALL_TIMEOUT_MS = 5000;
/** a worker that dies sooner than this after starting is restarted after a growing pause */
const STABLE_MS = 60_000;

type ToWorker = { type: 'call'; id: number; method: WorkerCall; args: unknown[] } | { type: 'stop' };
/** a worker's failure as it crosses to the primary: a GatewayError keeps its code (and so its status) */
type WorkerFailure = { message: string; code?: GatewayErrorCode; param?: string };
type FromWorker = { type: 'listening'; port: number; url: string } | { type: 'reply'; id: number; result?: unknown; error?: WorkerFailure };

/** Worker processes to run: `auto` or 0 is the machine's CPU count; bounded 1…64. */
export function workerCount(given: string | undefined, config: Config, cpus: number): number {
  if (given === undefined) return config.state.store === 'redis' ? cpus : 1;
  const n = given === 'auto' || given === '0' ? cpus : Number(given);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--workers takes a number from 1 to 64, or auto (got "${given}")`);
  if (n > 1 && config.state.store !== 'redis') {
    throw new Error(
      '--workers above 1 needs state: { store: redis }: with the memory store every worker would keep its own limits, cooldowns and budgets, so a limit would count once per worker',
    );
  }
  return n;
}

interface Member {
  readonly index: number;
  worker: Worker;
  startedAt: number;
  failures: number;
}

/** The primary: starts the workers, serves the admin port, forwards reloads and signals. */
export class Primary {
  readonly #path: string;
  readonly #logger: Logger;
  readonly #count: number;
  #config: Config;
  #port = 0;
  #url = '';
  readonly #members: Member[] = [];
  readonly #calls = new Map<number, { member: Member; resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  readonly #restarts = new Set<NodeJS.Timeout>();
  #nextCall = 1;
  #stopping = false;
  admin: AdminServer | undefined;

  readonly #secrets: KeyVaultSecrets;

  constructor(path: string, config: Config, count: number, logger: Logger, secrets: KeyVaultSecrets) {
    this.#secrets = secrets;
    this.#path = path;
    this.#config = config;
    this.#count = count;
    this.#logger = logger;
  }

  get url(): string {
    return this.#url;
  }

  /** Starts the first worker (which picks the port when the config says 0), then the others on its port. */
  async start(): Promise<void> {
    cluster.setupPrimary({ exec: process.argv[1], args: process.argv.slice(2), silent: false });
    try {
      await this.#fork(0);
      await Promise.all(Array.from({ length: this.#count - 1 }, (_, i) => this.#fork(i + 1)));
    } catch (err) {
      await this.stop();
      throw err;
    }
    const port: AdminPort = mergedAdminPort({
      call: (method, ...args) => this.#callAll(method, args),
      callOne: (method, ...args) => this.#callOne(method, args),
      reload: () => this.reload(),
      adminKey: () => this.#config.admin.key,
    });
    this.admin = new AdminServer(port, this.#config.admin.tls, this.#logger);
    await this.admin.listen(this.#config.admin.port, this.#config.admin.host);
  }

  /** Reads the config file again; every worker reloads it. The first answer (they read the same file) is the answer. */
  async reload(): Promise<{ ok: boolean; issues?: unknown; restartNeeded?: string[] }> {
    const results = (await this.#callAll('reload', [])) as { ok: boolean; issues?: unknown; restartNeeded?: string[] }[];
    const loaded = await loadConfigFileWithSecrets(this.#path, process.env, this.#secrets);
    if (loaded.ok) this.#config = loaded.config;
    return results.find((r) => !r.ok) ?? results[0] ?? { ok: false, issues: [{ path: '(workers)', message: 'no worker answered' }] };
  }

  /** Every worker drains (listen.shutdownGraceMs), then the primary closes the admin port. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const exits = this.#members.map((m) => (m.worker.isDead() ? Promise.resolve() : new Promise<void>((r) => m.worker.once('exit', () => r()))));
    for (const t of this.#restarts) clearTimeout(t);
    this.#restarts.clear();
    for (const m of this.#members) if (m.worker.isConnected()) m.worker.send({ type: 'stop' } satisfies ToWorker, () => {});
    const bound = this.#config.listen.shutdownGraceMs + 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(exits), new Promise<void>((r) => (timer = setTimeout(r, bound)))]);
    clearTimeout(timer);
    for (const m of this.#members) if (!m.worker.isDead()) m.worker.process.kill('SIGKILL');
    await this.admin?.close();
  }

  #fork(index: number, failures = 0): Promise<void> {
    const worker = cluster.fork({ AOAIGW_WORKER: String(index), AOAIGW_WORKER_PORT: String(this.#port) });
    const member: Member = this.#members[index] ?? { index, worker, startedAt: Date.now(), failures };
    member.worker = worker;
    member.startedAt = Date.now();
    member.failures = failures;
    this.#members[index] = member;
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    worker.on('exit', (code, signal) => {
      // What it was asked and did not answer, it never will.
      for (const [id, call] of this.#calls) {
        if (call.member.worker !== worker) continue;
        this.#calls.delete(id);
        clearTimeout(call.timer);
        call.reject(noWorker());
      }
      if (this.#stopping) return;
      const quick = Date.now() - member.startedAt < STABLE_MS;
      const pause = quick ? Math.min(30_000, 1000 * 2 ** member.failures) : 1000;
      this.#logger.error({ worker: index, code, signal, restartInMs: pause }, 'worker exited; starting a new one');
      const timer = setTimeout(() => {
        this.#restarts.delete(timer);
        this.#fork(index, quick ? member.failures + 1 : 0).catch((err: Error) => this.#logger.error({ worker: index, err: err.message }, 'worker did not start'));
      }, pause);
      this.#restarts.add(timer);
    });
    return new Promise<void>((resolve, reject) => {
      const onListening = (m: FromWorker) => {
        if (m.type !== 'listening') return;
        worker.off('message', onListening);
        worker.off('exit', onExit);
        if (this.#port === 0) {
          this.#port = m.port;
          this.#url = m.url;
        }
        resolve();
      };
      const onExit = (code: number | null) => reject(new Error(`worker ${index} exited with ${code} before it listened`));
      worker.on('message', onListening);
      worker.once('exit', onExit);
    });
  }

  #onMessage(m: FromWorker): void {
    if (m.type !== 'reply') return;
    const call = this.#calls.get(m.id);
    if (!call) return;
    this.#calls.delete(m.id);
    clearTimeout(call.timer);
    if (m.error !== undefined) call.reject(m.error.code ? new GatewayError(m.error.code, m.error.message, { param: m.error.param }) : new Error(m.error.message));
    else call.resolve(m.result);
  }

  #call(member: Member, method: WorkerCall, args: unknown[]): Promise<unknown> {
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(new GatewayError('workers_unavailable', `Worker ${member.index} did not answer in time.`));
      }, CALL_TIMEOUT_MS);
      this.#calls.set(id, { member, resolve, reject, timer });
      // A worker that is going away: the exit handler answers for it.
      member.worker.send({ type: 'call', id, method, args } satisfies ToWorker, () => {});
    });
  }

  /** Asks every live worker; answers of workers that fail or are restarting are left out. */
  async #callAll(method: WorkerCall, args: unknown[]): Promise<unknown[]> {
    const live = this.#members.filter((m) => m.worker.isConnected());
    const settled = await Promise.allSettled(live.map((m) => this.#call(m, method, args)));
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  /** Asks one worker (the ledger and Redis are the same for all). */
  #callOne(method: WorkerCall, args: unknown[]): Promise<unknown> {
    const m = this.#members.find((x) => x.worker.isConnected());
    if (!m) return Promise.reject(noWorker());
    return this.#call(m, method, args);
  }
}

/** A worker: the gateway of `serve` without its admin port, answering the primary's calls. */
export async function runWorker(path: string): Promise<number> {
  try {
    return await work(path);
  } finally {
    // The IPC channel would keep this process alive once the gateway is closed (or failed to start).
    if (process.connected) process.disconnect();
  }
}

async function work(path: string): Promise<number> {
  const index = Number(process.env.AOAIGW_WORKER);
  const logger = createLogger(1, 'info', { fields: { worker: index }, shared: true });
  const secrets = new KeyVaultSecrets(logger);
  const loaded = await loadConfigFileWithSecrets(path, process.env, secrets);
  if (!loaded.ok) {
    logger.error({ problems: loaded.issues.map((i) => `${i.path}: ${i.message}`) }, 'worker: the config has problems');
    flushLogsSync();
    return 1;
  }
  const port = Number(process.env.AOAIGW_WORKER_PORT) || undefined;
  const gateway = await Gateway.start(loaded.config, { logger, configPath: path, secrets, adminPort: false, reusePort: true, port });
  secrets.watch(() => gateway.reload());
  const admin = adminPortOf(gateway);
  const calls: Record<WorkerCall, (...args: never[]) => unknown> = {
    state: () => gateway.state(),
    activity: () => admin.activity(),
    usage: (by: Parameters<AdminPort['usage']>[0], since: number) => admin.usage(by, since),
    keys: () => admin.keys(),
    // undefined crosses IPC (JSON) as null: no expiry, not an expiry now
    createKey: (consumer: string, expires: number | null | undefined) => admin.createKey(consumer, expires ?? undefined),
    revokeKey: (id: string) => admin.revokeKey(id),
    refreshKeys: () => gateway.refreshKeys(),
    reload: () => gateway.reload(),
    drain: (id: string, drained: boolean) => admin.drain(id, drained),
    metrics: () => gateway.telemetry.prometheusText(),
  };
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  process.on('message', (m: ToWorker) => {
    if (m.type === 'stop') return stop();
    const fn = calls[m.method] as (...args: unknown[]) => unknown;
    Promise.resolve()
      .then(() => fn(...m.args))
      .then(
        (result) => process.send?.({ type: 'reply', id: m.id, result } satisfies FromWorker),
        (err: Error) =>
          process.send?.({
            type: 'reply',
            id: m.id,
            error: err instanceof GatewayError ? { message: err.message, code: err.code, param: err.param ?? undefined } : { message: err.message },
          } satisfies FromWorker),
      );
  });
  // The primary decides when to stop; a signal sent to the whole group (Ctrl-C) is its to handle.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => stop());
  process.send?.({ type: 'listening', port: gateway.port, url: gateway.url } satisfies FromWorker);
  logger.info({ url: gateway.url, pid: process.pid }, 'worker listening');
  await stopped;
  secrets.close();
  await gateway.close();
  flushLogsSync();
  return 0;
}

export const isWorker = (): boolean => cluster.isWorker;
