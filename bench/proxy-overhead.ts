// What the gateway's hot path costs, side by side in one run: requests to the
// simulator directly, through a bare undici pass-through proxy, and through
// aoai-gateway (key auth, routing, header rewriting, access log), for plain
// and streamed chat completions.
//
//   npm run bench -- [--duration 10] [--concurrency 50]
//
// The proxy under test runs alone on CPU 1; the simulator and the load
// generator share CPU 0 (taskset), so the proxy's CPU time per request is
// its own. Figures are ratios to the bare proxy measured in the same run.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { measure, type Measured } from './lib/measure.ts';
import { HAS_TASKSET, startNode, tempFile, type Started } from './lib/processes.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '50' },
    json: { type: 'string' },
  },
});
const durationMs = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);

const SIM_KEY = 'bench-sim-key-0001';
const CLIENT_KEY = 'bench-client-key-0001';
const PROXY_CPU = 1;
const LOAD_CPU = 0;

writeFileSync(
  tempFile('sim.yaml'),
  `accounts:\n  bench: { port: 0, keys: [${SIM_KEY}], deployments: { gpt-4o: { completionTokens: 20 } } }\n`,
);
const sim = await startNode(['bin/aoai-gateway.js', 'simulate', '--config', tempFile('sim.yaml')], {
  cpu: LOAD_CPU,
  ready: /bench\s+(http:\/\/\S+)/,
});
const simUrl = sim.match[1];

writeFileSync(
  tempFile('gateway.yaml'),
  `listen: { host: 127.0.0.1, port: 0 }
ledger: { url: "sqlite:${tempFile('ledger.db')}" }
endpoints:
  bench: { url: ${simUrl}, auth: { type: api-key, key: ${SIM_KEY} } }
deployments:
  gpt-4o: { targets: [ { endpoint: bench } ] }
consumers:
  bench: { keys: [ ${CLIENT_KEY} ], deployments: ['*'] }
`,
);

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
    start: () =>
      startNode(['bin/aoai-gateway.js', 'serve', '--config', tempFile('gateway.yaml')], {
        cpu: PROXY_CPU,
        ready: /"url":"(http:[^"]+)"/,
      }),
    key: CLIENT_KEY,
  },
];

const PATH = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';
const body = (stream: boolean) =>
  JSON.stringify({
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Write a haiku about load balancers and quota.' },
    ],
    max_tokens: 64,
    temperature: 0.7,
    ...(stream ? { stream: true } : {}),
  });

interface Row {
  mode: string;
  target: string;
  loaded: Measured;
  single: Measured;
}
const rows: Row[] = [];

for (const stream of [false, true]) {
  for (const t of targets) {
    const started = t.start ? await t.start() : undefined;
    const url = started ? started.match[1] : (t.url as string);
    const pid = started?.proc.pid ?? sim.proc.pid;
    const load = (c: number, ms: number) =>
      measure(
        { url, path: PATH, headers: { 'api-key': t.key, 'content-type': 'application/json' }, body: body(stream), concurrency: c, durationMs: ms, warmupMs: 2000 },
        pid,
        LOAD_CPU,
      );
    const loaded = await load(concurrency, durationMs);
    const single = await load(1, durationMs / 2);
    rows.push({ mode: stream ? 'stream' : 'plain', target: t.name, loaded, single });
    process.stderr.write(
      `${stream ? 'stream' : 'plain '} ${t.name.padEnd(20)} ${loaded.rps.toFixed(0)} req/s  cpu ${loaded.cpuPerRequestUs?.toFixed(0)} µs/req  p50@1 ${single.p50.toFixed(3)} ms  errors ${loaded.errors + single.errors}  statuses ${JSON.stringify(loaded.statuses)}\n`,
    );
    await started?.stop();
  }
}
await sim.stop();

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
    const cpu = isDirect ? '—' : r.loaded.cpuPerRequestUs!.toFixed(0);
    const ratio = isDirect ? '—' : `${(r.loaded.cpuPerRequestUs! / bare.loaded.cpuPerRequestUs!).toFixed(2)}x`;
    const added = (a: number, b: number) => (isDirect ? '—' : `${(a - b).toFixed(3)} ms`);
    out.push(
      `| ${mode} | ${r.target} | ${r.loaded.rps.toFixed(0)} | ${cpu} | ${ratio} | ${added(r.single.p50, direct.single.p50)} | ${added(r.single.p99, direct.single.p99)} |`,
    );
  }
}
const table = out.join('\n');
process.stdout.write(`\n${table}\n\n${HAS_TASKSET ? `proxy pinned to CPU ${PROXY_CPU}, simulator and load generator to CPU ${LOAD_CPU}` : 'taskset not found: processes were not pinned'}\n`);
if (values.json) writeFileSync(values.json, JSON.stringify(rows, null, 2));
