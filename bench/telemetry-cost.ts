// What telemetry costs per request, side by side in one run against the
// simulator: the gateway with every telemetry feature off; with its access
// log only; with the default (access log and the Prometheus metrics); and
// with OTLP export of metrics and traces on top (one span per request and
// per attempt) to a local receiver that accepts and drops what it gets; and
// that with a tenth of the traces sampled (telemetry.traceSampleRatio).
//
//   node bench/telemetry-cost.ts [--duration 8] [--concurrency 50] [--rounds 3]
//
// The gateway runs alone on CPU 1; the simulator and the load generator on
// CPU 0; the OTLP receiver in this process, unpinned. Every scenario runs
// once per round; the figures are medians over the rounds.
import { startOtlpSink } from './lib/otlp-sink.ts';
import { HAS_TASKSET, tempFile } from './lib/processes.ts';
import { interleaved, median } from './lib/rounds.ts';
import { runGateway, type GatewayRun } from './lib/gateway-scenario.ts';
import { SIM_KEY, startSimulator } from './lib/sim-process.ts';
import { benchArgs } from './lib/bench-args.ts';

const { durationMs, concurrency, rounds } = benchArgs({ duration: 8 });
const KEY = 'bench-client-key-0001';

const { url: simUrl, proc: sim } = await startSimulator(0);

const receiver = await startOtlpSink();
const otlpUrl = receiver.url;

const scenarios = [
  { name: 'no telemetry', telemetry: '{ prometheus: false, accessLog: false }' },
  { name: 'access log', telemetry: '{ prometheus: false, accessLog: true }' },
  { name: 'access log + Prometheus (default)', telemetry: '{ prometheus: true, accessLog: true }' },
  { name: 'default + OTLP metrics and traces', telemetry: `{ prometheus: true, accessLog: true, otlp: { endpoint: "${otlpUrl}", intervalSeconds: 5 } }` },
  {
    name: 'the same, 10% of traces sampled',
    telemetry: `{ prometheus: true, accessLog: true, traceSampleRatio: 0.1, otlp: { endpoint: "${otlpUrl}", intervalSeconds: 5 } }`,
  },
];
const yaml = (telemetry: string, name: string) => `listen: { host: 127.0.0.1, port: 0 }
admin: { port: 0 }
ledger: { url: "sqlite:${tempFile(`${name}.db`)}" }
telemetry: ${telemetry}
endpoints: { bench: { url: ${simUrl}, auth: { type: api-key, key: ${SIM_KEY} } } }
deployments: { gpt-4o: { targets: [ { endpoint: bench } ] } }
consumers: { bench: { keys: [ ${KEY} ], deployments: ['*'] } }
`;

const cases = [false, true].flatMap((stream) => scenarios.map((s, i) => ({ ...s, i, stream })));
const results = await interleaved(cases, rounds, (c, round) => {
  const name = `telemetry-${c.i}-${c.stream ? 's' : 'p'}-${round}`;
  return runGateway(name, yaml(c.telemetry, name), { stream: c.stream, key: KEY, concurrency, durationMs, label: c.name, round });
});
await sim.stop();
receiver.close();

const out = [
  `| request | telemetry | req/s at c=${concurrency} | CPU µs per request | CPU vs none | µs added per request | p50 at c=1 |`,
  '|---|---|---:|---:|---:|---:|---:|',
];
for (const mode of ['plain', 'stream']) {
  const rows = cases.map((c, i) => ({ c, r: results[i] })).filter((x) => (x.c.stream ? 'stream' : 'plain') === mode);
  const cpu = (r: GatewayRun[]) => median(r.map((x) => x.cpu));
  const base = cpu(rows[0].r);
  for (const { c, r } of rows) {
    out.push(
      `| ${mode} | ${c.name} | ${median(r.map((x) => x.rps)).toFixed(0)} | ${cpu(r).toFixed(0)} | ${(cpu(r) / base).toFixed(2)}x | ${(cpu(r) - base).toFixed(0)} | ${median(r.map((x) => x.p50)).toFixed(3)} ms |`,
    );
  }
}
process.stdout.write(
  `\n${out.join('\n')}\n\nmedians of ${rounds} interleaved rounds; ${receiver.exports()} OTLP exports received; ${HAS_TASKSET ? 'gateway pinned to CPU 1, simulator and load generator to CPU 0' : 'taskset not found: processes were not pinned'}\n`,
);
