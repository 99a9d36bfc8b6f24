// What the gateway's hot path costs, side by side in one run: requests to the
// simulator directly, through a bare undici pass-through proxy, and through
// aoai-gateway (key auth, routing, header rewriting, access log), for plain
// and streamed chat completions.
//
//   npm run bench -- [--duration 8] [--concurrency 50] [--rounds 3]
//
// The proxy under test runs alone on CPU 1; the simulator and the load
// generator share CPU 0 (taskset), so the proxy's CPU time per request is
// its own. Every target runs once per round, rounds one after another, and
// the figures are medians over the rounds: ratios to the bare proxy
// measured in the same run.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { measure } from './lib/measure.ts';
import { interleaved, median } from './lib/rounds.ts';
import { HAS_TASKSET, startNode, tempFile, type Started } from './lib/processes.ts';
import { CHAT_PATH, chatRequest, SIM_KEY, startGatewayProcess, startSimulator } from './lib/sim-process.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const durationMs = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);

const CLIENT_KEY = 'bench-client-key-0001';
const PROXY_CPU = 1;
const LOAD_CPU = 0;

const { url: simUrl, proc: sim } = await startSimulator(LOAD_CPU);

const gatewayYaml = `listen: { host: 127.0.0.1, port: 0 }
admin: { port: 0 }
ledger: { url: "sqlite:${tempFile('ledger.db')}" }
endpoints:
  bench: { url: ${simUrl}, auth: { type: api-key, key: ${SIM_KEY} } }
deployments:
  gpt-4o: { targets: [ { endpoint: bench } ] }
consumers:
  bench: { keys: [ ${CLIENT_KEY} ], deployments: ['*'] }
`;

interface Target {
  name: string;
  start?: () => Promise<Started>;
  url?: string;
  key: string;
}

const targets: Target[] = [
  { name: 'simulator, direct', url: simUrl, key: SIM_KEY },
  {
    name: 'bare undici proxy',
    start: () => startNode(['bench/bare-proxy.ts', simUrl], { cpu: PROXY_CPU, ready: /listening (http:\/\/\S+)/ }),
    key: SIM_KEY,
  },
  {
    name: 'aoai-gateway',
    start: () => startGatewayProcess('gateway', gatewayYaml, PROXY_CPU),
    key: CLIENT_KEY,
  },
];

const PATH = CHAT_PATH;
const body = chatRequest;

interface Run {
  rps: number;
  cpu: number;
  p50: number;
  p99: number;
}
const cases = [false, true].flatMap((stream) => targets.map((t) => ({ ...t, stream })));
const results = await interleaved(cases, rounds, async (c, round): Promise<Run> => {
  const started = c.start ? await c.start() : undefined;
  const url = started ? started.match[1] : (c.url as string);
  const pid = started?.proc.pid ?? sim.proc.pid;
  const load = (conc: number, ms: number) =>
    measure(
      { url, path: PATH, headers: { 'api-key': c.key, 'content-type': 'application/json' }, body: body(c.stream), concurrency: conc, durationMs: ms, warmupMs: 2000 },
      pid,
      LOAD_CPU,
    );
  const loaded = await load(concurrency, durationMs);
  const single = await load(1, durationMs / 2);
  process.stderr.write(
    `round ${round + 1} ${c.stream ? 'stream' : 'plain '} ${c.name.padEnd(20)} ${loaded.rps.toFixed(0)} req/s  cpu ${loaded.cpuPerRequestUs?.toFixed(0)} µs/req  p50@1 ${single.p50.toFixed(3)} ms  errors ${loaded.errors + single.errors}  statuses ${JSON.stringify(loaded.statuses)}\n`,
  );
  await started?.stop();
  return { rps: loaded.rps, cpu: loaded.cpuPerRequestUs ?? NaN, p50: single.p50, p99: single.p99 };
});
await sim.stop();

const rows = cases.map((c, i) => {
  const m = (k: keyof Run) => median(results[i].map((r) => r[k]));
  return { mode: c.stream ? 'stream' : 'plain', target: c.name, rps: m('rps'), cpu: m('cpu'), p50: m('p50'), p99: m('p99') };
});

const out: string[] = [];
out.push(
  `| request | path | req/s at c=${concurrency} | CPU µs per request (proxy) | CPU vs bare proxy | added p50 at c=1 | added p99 at c=1 |`,
  '|---|---|---:|---:|---:|---:|---:|',
);
for (const mode of ['plain', 'stream']) {
  const direct = rows.find((r) => r.mode === mode && r.target === 'simulator, direct')!;
  const bare = rows.find((r) => r.mode === mode && r.target === 'bare undici proxy')!;
  for (const r of rows.filter((x) => x.mode === mode)) {
    const isDirect = r === direct;
    const cpu = isDirect ? '—' : r.cpu.toFixed(0);
    const ratio = isDirect ? '—' : `${(r.cpu / bare.cpu).toFixed(2)}x`;
    const added = (a: number, b: number) => (isDirect ? '—' : `${(a - b).toFixed(3)} ms`);
    out.push(`| ${mode} | ${r.target} | ${r.rps.toFixed(0)} | ${cpu} | ${ratio} | ${added(r.p50, direct.p50)} | ${added(r.p99, direct.p99)} |`);
  }
}
const table = out.join('\n');
process.stdout.write(`\n${table}\n\nmedians of ${rounds} interleaved rounds; ${HAS_TASKSET ? `proxy pinned to CPU ${PROXY_CPU}, simulator and load generator to CPU ${LOAD_CPU}` : 'taskset not found: processes were not pinned'}\n`);
if (values.json) writeFileSync(values.json, JSON.stringify(rows, null, 2));
