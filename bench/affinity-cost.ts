// What affinity for stored objects costs per request, on the in-memory store
// and on Redis: a Responses create with `store: false` (routed like any
// request, nothing to record: the baseline); a new stored conversation (its
// id is written before the answer goes); a turn with previous_response_id
// (a lookup, then a write); and `GET /files/{id}` (a lookup).
//
//   node bench/affinity-cost.ts [--duration 6] [--concurrency 50] [--rounds 3]
//
// The gateway runs alone on CPU 1; the simulator and the load generator on
// CPU 0; Redis is the machine's own, unpinned. Medians over the rounds.
import { measure } from './lib/measure.ts';
import { HAS_TASKSET } from './lib/processes.ts';
import { interleaved, median } from './lib/rounds.ts';
import { SIM_KEY, startGatewayProcess, startSimulator } from './lib/sim-process.ts';
import { benchArgs } from './lib/bench-args.ts';

const { durationMs, concurrency, rounds } = benchArgs({ duration: 6 });
const REDIS = process.env.AOAIGW_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const KEY = 'bench-client-key-0001';
const headers = { 'api-key': KEY, 'content-type': 'application/json' };

const { url: simUrl, proc: sim } = await startSimulator(0);

const yaml = (redis: boolean, name: string) => `listen: { host: 127.0.0.1, port: 0 }
admin: { port: 0 }
state: ${redis ? `{ store: redis, url: "${REDIS}", prefix: "aoaigw-bench-${process.pid}-${name}:" }` : '{ store: memory }'}
ledger: { url: "sqlite::memory:" }
endpoints: { bench: { url: ${simUrl}, auth: { type: api-key, key: ${SIM_KEY} } } }
deployments: { gpt-4o: { targets: [ { endpoint: bench } ] } }
consumers: { bench: { keys: [ ${KEY} ], deployments: ['*'] } }
`;

const requests = [
  { name: 'Responses create, store: false (baseline)', method: 'POST', path: () => '/openai/v1/responses', body: () => JSON.stringify({ model: 'gpt-4o', input: 'Hello', store: false }) },
  { name: 'Responses create, stored (id written)', method: 'POST', path: () => '/openai/v1/responses', body: () => JSON.stringify({ model: 'gpt-4o', input: 'Hello' }) },
  { name: 'turn with previous_response_id (lookup + write)', method: 'POST', path: () => '/openai/v1/responses', body: (s: Seeds) => JSON.stringify({ model: 'gpt-4o', input: 'And then?', previous_response_id: s.response }) },
  { name: 'GET /files/{id} (lookup)', method: 'GET', path: (s: Seeds) => `/openai/v1/files/${s.file}`, body: () => undefined },
];

interface Seeds {
  response: string;
  file: string;
}

/** Objects made through the gateway before it is measured. */
async function seed(url: string): Promise<Seeds> {
  const r = await fetch(`${url}/openai/v1/responses`, { method: 'POST', headers, body: JSON.stringify({ model: 'gpt-4o', input: 'Hello' }) });
  const form = new FormData();
  form.set('purpose', 'assistants');
  form.set('file', new Blob(['notes']), 'notes.txt');
  const f = await fetch(`${url}/openai/v1/files`, { method: 'POST', headers: { 'api-key': KEY }, body: form });
  return { response: ((await r.json()) as { id: string }).id, file: ((await f.json()) as { id: string }).id };
}

const cases = [false, true].flatMap((redis) => requests.map((q, i) => ({ ...q, i, redis })));
const results = await interleaved(cases, rounds, async (c, round) => {
  const name = `affinity-${c.i}-${c.redis ? 'r' : 'm'}-${round}`;
  const gw = await startGatewayProcess(name, yaml(c.redis, name), 1);
  const url = gw.match[1];
  const seeds = await seed(url);
  const opts = (n: number, ms: number) => ({ url, path: c.path(seeds), method: c.method, headers, body: c.body(seeds), concurrency: n, durationMs: ms, warmupMs: 1500 });
  const loaded = await measure(opts(concurrency, durationMs), gw.proc.pid, 0);
  const single = await measure(opts(1, durationMs / 2), gw.proc.pid, 0);
  await gw.stop();
  process.stderr.write(`round ${round + 1} ${c.redis ? 'redis ' : 'memory'} ${c.name.padEnd(48)} ${loaded.rps.toFixed(0)} req/s  cpu ${loaded.cpuPerRequestUs?.toFixed(0)} µs  p50@1 ${single.p50.toFixed(3)} ms  ${JSON.stringify(loaded.statuses)}\n`);
  return { rps: loaded.rps, cpu: loaded.cpuPerRequestUs!, p50: single.p50 };
});
await sim.stop();

const out = [`| store | request | req/s at c=${concurrency} | CPU µs per request | p50 at c=1 | p50 vs baseline |`, '|---|---|---:|---:|---:|---:|'];
for (const redis of [false, true]) {
  const rows = cases.map((c, i) => ({ c, i })).filter((x) => x.c.redis === redis);
  const base = median(results[rows[0].i].map((r) => r.p50));
  for (const { c, i } of rows) {
    const p50 = median(results[i].map((r) => r.p50));
    const d = p50 - base;
    out.push(`| ${redis ? 'Redis' : 'memory'} | ${c.name} | ${median(results[i].map((r) => r.rps)).toFixed(0)} | ${median(results[i].map((r) => r.cpu)).toFixed(0)} | ${p50.toFixed(3)} ms | ${d >= 0 ? '+' : ''}${d.toFixed(3)} ms |`);
  }
}
process.stdout.write(`\n${out.join('\n')}\n\nmedians of ${rounds} interleaved rounds; ${HAS_TASKSET ? 'gateway pinned to CPU 1, simulator and load generator to CPU 0' : 'taskset not found: processes were not pinned'}\n`);
