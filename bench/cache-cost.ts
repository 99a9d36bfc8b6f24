// What the response cache costs and saves per request, side by side in one
// run against the simulator: the same temperature-0 chat request to a
// deployment without a cache (forwarded every time); with a cache, where
// every request is forwarded and stored (`x-gateway-cache: refresh`: keyed,
// held, written, never read — the cost of a miss, less its lookup); and
// with a cache that answers every request (hits), in memory and on Redis.
// Plain requests, and streamed ones (a hit is replayed as a stream).
//
//   node bench/cache-cost.ts [--duration 6] [--concurrency 50] [--rounds 3]
//
// The gateway runs alone on CPU 1; the simulator and the load generator on
// CPU 0. Redis is the machine's own, unpinned.
import { runGateway } from './lib/gateway-scenario.ts';
import { HAS_TASKSET, tempFile } from './lib/processes.ts';
import { interleaved, median } from './lib/rounds.ts';
import { SIM_KEY, startSimulator } from './lib/sim-process.ts';
import { benchArgs } from './lib/bench-args.ts';

const { durationMs, concurrency, rounds } = benchArgs({ duration: 6 });
const REDIS = process.env.AOAIGW_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const KEY = 'bench-client-key-0001';

const { url: simUrl, proc: sim } = await startSimulator(0);

const yaml = (o: { cache: boolean; redis: boolean; name: string }) => `listen: { host: 127.0.0.1, port: 0 }
admin: { port: 0 }
state: ${o.redis ? `{ store: redis, url: "${REDIS}", prefix: "aoaigw-bench-${process.pid}-${o.name}:" }` : '{ store: memory }'}
ledger: { url: "sqlite:${tempFile(`${o.name}.db`)}" }
endpoints: { bench: { url: ${simUrl}, auth: { type: api-key, key: ${SIM_KEY} } } }
deployments: { gpt-4o: { targets: [ { endpoint: bench } ]${o.cache ? ', cache: { ttlSeconds: 3600 }' : ''} } }
consumers: { bench: { keys: [ ${KEY} ], deployments: ['*'] } }
`;

const body = (stream: boolean) =>
  JSON.stringify({
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Write a haiku about load balancers and quota.' },
    ],
    max_tokens: 64,
    temperature: 0,
    ...(stream ? { stream: true } : {}),
  });

const scenarios = [
  { name: 'no cache (forwarded)', cache: false, redis: false, header: undefined },
  { name: 'cache, every request stored (refresh)', cache: true, redis: false, header: 'refresh' },
  { name: 'cache hits, memory', cache: true, redis: false, header: undefined },
  { name: 'cache hits, Redis', cache: true, redis: true, header: undefined },
] as const;

const cases = [false, true].flatMap((stream) => scenarios.map((s, i) => ({ ...s, i, stream })));
const results = await interleaved(cases, rounds, (c, round) => {
  const name = `cache-${c.i}-${c.stream ? 's' : 'p'}-${round}`;
  return runGateway(name, yaml({ ...c, name }), {
    stream: c.stream,
    key: KEY,
    concurrency,
    durationMs,
    label: c.name,
    round,
    headers: c.header ? { 'x-gateway-cache': c.header } : {},
    body: body(c.stream),
  });
});
await sim.stop();

const rows = cases.map((c, i) => ({
  name: c.name,
  mode: c.stream ? 'stream' : 'plain',
  rps: median(results[i].map((r) => r.rps)),
  cpu: median(results[i].map((r) => r.cpu)),
  p50: median(results[i].map((r) => r.p50)),
}));
const out = [
  `| request | gateway | req/s at c=${concurrency} | CPU µs per request | CPU vs no cache | p50 at c=1 |`,
  '|---|---|---:|---:|---:|---:|',
];
for (const mode of ['plain', 'stream']) {
  const base = rows.find((r) => r.mode === mode)!;
  for (const r of rows.filter((x) => x.mode === mode)) {
    out.push(`| ${mode} | ${r.name} | ${r.rps.toFixed(0)} | ${r.cpu.toFixed(0)} | ${(r.cpu / base.cpu).toFixed(2)}x | ${r.p50.toFixed(3)} ms |`);
  }
}
process.stdout.write(`\n${out.join('\n')}\n\nmedians of ${rounds} interleaved rounds; ${HAS_TASKSET ? 'gateway pinned to CPU 1, simulator and load generator to CPU 0' : 'taskset not found: processes were not pinned'}\n`);
