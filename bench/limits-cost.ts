// What consumer limits, the shared state store and the ledger cost per
// request, side by side in one run against the simulator: the gateway with
// a consumer without limits; with limits (requests and tokens per minute,
// concurrency, a token quota — all high enough never to refuse) on the
// in-memory store; the same on Redis; and that with the ledger on
// PostgreSQL instead of SQLite.
//
//   node bench/limits-cost.ts [--duration 8] [--concurrency 50] [--rounds 3]
//
// The gateway runs alone on CPU 1; the simulator and the load generator on
// CPU 0. Redis and PostgreSQL are the machine's own, unpinned. Every
// scenario runs once per round; the figures are medians over the rounds.
import { HAS_TASKSET, tempFile } from './lib/processes.ts';
import { interleaved, median } from './lib/rounds.ts';
import { runGateway } from './lib/gateway-scenario.ts';
import { SIM_KEY, startSimulator } from './lib/sim-process.ts';
import { benchArgs } from './lib/bench-args.ts';

const { durationMs, concurrency, rounds } = benchArgs({ duration: 8 });
const PG = process.env.AOAIGW_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS = process.env.AOAIGW_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const KEY = 'bench-client-key-0001';

const { url: simUrl, proc: sim } = await startSimulator(0);

const LIMITS = '{ requestsPerMinute: 100000000, tokensPerMinute: 1000000000, concurrent: 10000, tokenQuota: 100000000000, tokenQuotaPeriod: monthly }';
const yaml = (o: { limits: boolean; redis: boolean; pg: boolean; name: string }) => `listen: { host: 127.0.0.1, port: 0 }
admin: { port: 0 }
state: ${o.redis ? `{ store: redis, url: "${REDIS}", prefix: "aoaigw-bench-${process.pid}-${o.name}:" }` : '{ store: memory }'}
ledger: { url: "${o.pg ? PG : `sqlite:${tempFile(`${o.name}.db`)}`}" }
endpoints: { bench: { url: ${simUrl}, auth: { type: api-key, key: ${SIM_KEY} } } }
deployments: { gpt-4o: { targets: [ { endpoint: bench } ] } }
consumers: { bench: { keys: [ ${KEY} ], deployments: ['*']${o.limits ? `, limits: ${LIMITS}` : ''} } }
`;

const scenarios = [
  { name: 'no limits, memory store, SQLite ledger', limits: false, redis: false, pg: false },
  { name: 'limits, memory store, SQLite ledger', limits: true, redis: false, pg: false },
  { name: 'limits, Redis store, SQLite ledger', limits: true, redis: true, pg: false },
  { name: 'limits, Redis store, PostgreSQL ledger', limits: true, redis: true, pg: true },
];

const cases = [false, true].flatMap((stream) => scenarios.map((s, i) => ({ ...s, i, stream })));
const results = await interleaved(cases, rounds, (c, round) => {
  const name = `limits-${c.i}-${c.stream ? 's' : 'p'}-${round}`;
  return runGateway(name, yaml({ ...c, name }), { stream: c.stream, key: KEY, concurrency, durationMs, label: c.name, round });
});
const rows = cases.map((c, i) => ({
  name: c.name,
  mode: c.stream ? 'stream' : 'plain',
  rps: median(results[i].map((r) => r.rps)),
  cpu: median(results[i].map((r) => r.cpu)),
  p50: median(results[i].map((r) => r.p50)),
}));
await sim.stop();

const out = [
  `| request | gateway | req/s at c=${concurrency} | CPU µs per request | CPU vs no limits | p50 at c=1 | p50 vs no limits |`,
  '|---|---|---:|---:|---:|---:|---:|',
];
for (const mode of ['plain', 'stream']) {
  const base = rows.find((r) => r.mode === mode)!;
  for (const r of rows.filter((x) => x.mode === mode)) {
    const dp = r.p50 - base.p50;
    out.push(
      `| ${mode} | ${r.name} | ${r.rps.toFixed(0)} | ${r.cpu.toFixed(0)} | ${(r.cpu / base.cpu).toFixed(2)}x | ${r.p50.toFixed(3)} ms | ${dp >= 0 ? '+' : ''}${dp.toFixed(3)} ms |`,
    );
  }
}
process.stdout.write(`\n${out.join('\n')}\n\nmedians of ${rounds} interleaved rounds; ${HAS_TASKSET ? 'gateway pinned to CPU 1, simulator and load generator to CPU 0' : 'taskset not found: processes were not pinned'}\n`);
