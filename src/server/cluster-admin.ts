// The admin port of `serve --workers`: the primary serves it and asks the
// workers. What lives in Redis or the ledger (cooldowns, circuits, keys,
// usage) any one worker can answer; what each worker sees alone (requests in
// flight, its recent activity, its metrics) is asked of all and added up, so
// the dashboard and a scraper see one gateway.
import type { ActivitySnapshot, Refusal } from '../admin/activity.ts';
import type { AdminPort } from '../admin/admin-server.ts';
import { GatewayError } from '../proxy/errors.ts';
import { mergePrometheus } from '../telemetry/prometheus-merge.ts';
import type { GatewayState, TargetReport } from './state-report.ts';

/** as many refusals as one gateway lists */
const REFUSALS = 50;

export type WorkerCall = 'state' | 'activity' | 'usage' | 'keys' | 'createKey' | 'revokeKey' | 'refreshKeys' | 'reload' | 'drain' | 'metrics';

export interface WorkerCalls {
  /** every live worker's answer (a worker that fails or is restarting is left out) */
  call(method: WorkerCall, ...args: unknown[]): Promise<unknown[]>;
  /** one worker's answer */
  callOne(method: WorkerCall, ...args: unknown[]): Promise<unknown>;
  reload: AdminPort['reload'];
  adminKey: AdminPort['adminKey'];
}

export function mergedAdminPort(w: WorkerCalls): AdminPort {
  return {
    state: async () => mergeStates((await w.call('state')) as GatewayState[]),
    // activity() is synchronous on one gateway; the admin server awaits whatever it returns.
    activity: async () => mergeActivity((await w.call('activity')) as ActivitySnapshot[]),
    usage: (by, since) => w.callOne('usage', by, since) as Promise<unknown>,
    keys: () => w.callOne('keys') as Promise<unknown>,
    createKey: async (consumer, expires) => {
      const created = await w.callOne('createKey', consumer, expires);
      // The worker that made it takes it at once; the others now rather than at their next refresh.
      await w.call('refreshKeys');
      return created;
    },
    revokeKey: async (id) => {
      const n = (await w.callOne('revokeKey', id)) as number;
      if (n > 0) await w.call('refreshKeys');
      return n;
    },
    reload: () => w.reload(),
    // Drains are kept in the state store: every worker sets it, so it holds even for one restarting.
    drain: async (id, drained) => ((await w.call('drain', id, drained)) as boolean[]).some(Boolean),
    metrics: (_req, res) => {
      void w.call('metrics').then(
        (texts) => {
          const scrapes = texts.filter((t): t is string => typeof t === 'string');
          if (scrapes.length === 0) {
            res.writeHead(texts.length === 0 ? 503 : 404, { 'content-type': 'text/plain' });
            return void res.end(texts.length === 0 ? 'No worker answered.\n' : 'Prometheus metrics are off (telemetry.prometheus: false)\n');
          }
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          res.end(mergePrometheus(scrapes));
        },
        () => {
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end('The workers did not answer.\n');
        },
      );
    },
    adminKey: () => w.adminKey(),
  };
}

/** What the admin API answers while no worker is running (they are being restarted). */
export const noWorker = (): GatewayError => new GatewayError('workers_unavailable', 'No worker process answered; they are being restarted. Try again shortly.');

/** Routing state is shared (the first answer's); counts each worker keeps alone are summed. */
export function mergeStates(states: readonly GatewayState[]): GatewayState {
  if (states.length === 0) throw noWorker();
  const [first, ...rest] = states;
  const targetsOf = (s: GatewayState) => new Map(s.deployments.flatMap((d) => d.targets.map((t) => [`${d.name}\u0000${t.id}`, t] as const)));
  const others = rest.map(targetsOf);
  const sum = (f: (s: GatewayState) => number) => states.reduce((n, s) => n + f(s), 0);
  return {
    ...first,
    inFlight: sum((s) => s.inFlight),
    stateStore: { ...first.stateStore, up: states.every((s) => s.stateStore.up) },
    ledger: { up: states.every((s) => s.ledger.up), pending: sum((s) => s.ledger.pending), dropped: sum((s) => s.ledger.dropped) },
    deployments: first.deployments.map((d) => ({
      ...d,
      queue: d.queue + rest.reduce((n, s) => n + (s.deployments.find((x) => x.name === d.name)?.queue ?? 0), 0),
      targets: d.targets.map((t): TargetReport => {
        const same = others.map((m) => m.get(`${d.name}\u0000${t.id}`)).filter((x): x is TargetReport => x !== undefined);
        return {
          ...t,
          inFlight: same.reduce((n, x) => n + x.inFlight, t.inFlight),
          tokensThisMinute: same.reduce((n, x) => n + x.tokensThisMinute, t.tokensThisMinute),
        };
      }),
    })),
    workers: states.length,
  };
}

/** Buckets are aligned to the clock in every worker, so they add up slot by slot. */
export function mergeActivity(snaps: readonly ActivitySnapshot[]): ActivitySnapshot {
  if (snaps.length === 0) return { bucketSeconds: 10, series: [], topConsumers: [], refusals: [] };
  const series = new Map<number, ActivitySnapshot['series'][number]>();
  const top = new Map<string, { consumer: string; requests: number; tokens: number }>();
  const refusals: Refusal[] = [];
  for (const s of snaps) {
    for (const b of s.series) {
      const acc = series.get(b.t);
      if (!acc) series.set(b.t, { ...b });
      else {
        acc.requests += b.requests;
        acc.errors += b.errors;
        acc.throttled += b.throttled;
        acc.tokens += b.tokens;
      }
    }
    for (const c of s.topConsumers) {
      const acc = top.get(c.consumer);
      if (!acc) top.set(c.consumer, { ...c });
      else {
        acc.requests += c.requests;
        acc.tokens += c.tokens;
      }
    }
    refusals.push(...s.refusals);
  }
  return {
    bucketSeconds: snaps[0].bucketSeconds,
    series: [...series.values()].sort((a, b) => a.t - b.t),
    topConsumers: [...top.values()].sort((a, b) => b.tokens - a.tokens || b.requests - a.requests).slice(0, 10),
    // newest first, as one gateway lists them, and no longer than one gateway's list
    refusals: refusals.sort((a, b) => b.time - a.time).slice(0, REFUSALS),
  };
}
