// What the content safety check adds per request, side by side in one run
// against the simulator: the gateway with no policy; with a policy of the
// four categories (one text:analyze call); and with the four categories and
// Prompt Shields (text:analyze and text:shieldPrompt in parallel). The
// Content Safety service is the tests' local stand-in, which answers at
// once, so the figure is the gateway's own cost plus one loopback round
// trip — a real service adds its own time on top (tens of ms).
//
//   node bench/content-safety-cost.ts [--duration 8] [--concurrency 50] [--rounds 3]
//
// The gateway runs alone on CPU 1; the simulator, the stand-in and the load
// generator on CPU 0. Every scenario runs once per round; the figures are
// medians over the rounds.
import { SAFETY_KEY } from '../test/helpers/content-safety-stand-in.ts';
import { measure } from './lib/measure.ts';
import { HAS_TASKSET, startNode, tempFile } from './lib/processes.ts';
import { interleaved, median } from './lib/rounds.ts';
import { CHAT_PATH, chatRequest, SIM_KEY, startGatewayProcess, startSimulator } from './lib/sim-process.ts';
import { benchArgs } from './lib/bench-args.ts';

const { durationMs, concurrency, rounds } = benchArgs({ duration: 8 });
const KEY = 'bench-client-key-0001';

const { url: simUrl, proc: sim } = await startSimulator(0);
const standIn = await startNode(['bench/lib/safety-stand-in-main.ts'], { cpu: 0, ready: /content-safety (http:\/\/\S+)/ });
const csUrl = standIn.match[1];

const POLICIES = {
  none: '',
  categories: ', contentSafety: { categories: { Hate: 4, SelfHarm: 4, Sexual: 4, Violence: 4 } }',
  shields: ', contentSafety: { categories: { Hate: 4, SelfHarm: 4, Sexual: 4, Violence: 4 }, promptShields: true }',
};
const yaml = (policy: keyof typeof POLICIES, name: string) => `listen: { host: 127.0.0.1, port: 0 }
admin: { port: 0 }
ledger: { url: "sqlite:${tempFile(`${name}.db`)}" }
contentSafety: { endpoint: ${csUrl}, auth: { type: api-key, key: ${SAFETY_KEY} } }
endpoints: { bench: { url: ${simUrl}, auth: { type: api-key, key: ${SIM_KEY} } } }
deployments: { gpt-4o: { targets: [ { endpoint: bench } ]${POLICIES[policy]} } }
consumers: { bench: { keys: [ ${KEY} ], deployments: ['*'] } }
`;

const scenarios = [
  { name: 'no policy (check off)', policy: 'none' as const },
  { name: 'four categories (1 call)', policy: 'categories' as const },
  { name: 'four categories + Prompt Shields (2 calls)', policy: 'shields' as const },
];

interface Run {
  rps: number;
  cpu: number;
  p50: number;
  p99: number;
}

const cases = [false, true].flatMap((stream) => scenarios.map((s, i) => ({ ...s, i, stream })));
const results = await interleaved(cases, rounds, async (c, round): Promise<Run> => {
  const gw = await startGatewayProcess(`safety-${c.i}-${c.stream ? 's' : 'p'}-${round}`, yaml(c.policy, `safety-${c.i}-${round}`), 1);
  const opts = (n: number, ms: number) => ({
    url: gw.match[1],
    path: CHAT_PATH,
    headers: { 'api-key': KEY, 'content-type': 'application/json' },
    body: chatRequest(c.stream),
    concurrency: n,
    durationMs: ms,
    warmupMs: 2000,
  });
  const loaded = await measure(opts(concurrency, durationMs), gw.proc.pid, 0);
  const single = await measure(opts(1, durationMs / 2), gw.proc.pid, 0);
  await gw.stop();
  process.stderr.write(
    `round ${round + 1} ${c.stream ? 'stream' : 'plain '} ${c.name.padEnd(44)} ${loaded.rps.toFixed(0)} req/s  cpu ${loaded.cpuPerRequestUs?.toFixed(0)} µs/req  p50@1 ${single.p50.toFixed(3)} ms  p99@1 ${single.p99.toFixed(3)} ms  ${JSON.stringify(loaded.statuses)}\n`,
  );
  if (Object.keys(loaded.statuses).some((s) => s !== '200')) throw new Error(`not every request succeeded: ${JSON.stringify(loaded.statuses)}`);
  return { rps: loaded.rps, cpu: loaded.cpuPerRequestUs!, p50: single.p50, p99: single.p99 };
});
await sim.stop();
await standIn.stop();

const out = [
  `| request | gateway | req/s at c=${concurrency} | CPU µs per request | CPU added | p50 at c=1 | p50 added | p99 at c=1 | p99 added |`,
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
];
for (const mode of ['plain', 'stream']) {
  const rows = cases.map((c, i) => ({ c, r: results[i] })).filter((x) => (x.c.stream ? 'stream' : 'plain') === mode);
  const m = (r: Run[], k: keyof Run) => median(r.map((x) => x[k]));
  const base = rows[0].r;
  for (const { c, r } of rows) {
    const added = (k: keyof Run, digits: number, unit: string) => `${m(r, k) - m(base, k) >= 0 ? '+' : ''}${(m(r, k) - m(base, k)).toFixed(digits)}${unit}`;
    out.push(
      `| ${mode} | ${c.name} | ${m(r, 'rps').toFixed(0)} | ${m(r, 'cpu').toFixed(0)} | ${added('cpu', 0, ' µs')} | ${m(r, 'p50').toFixed(3)} ms | ${added('p50', 3, ' ms')} | ${m(r, 'p99').toFixed(3)} ms | ${added('p99', 3, ' ms')} |`,
    );
  }
}
process.stdout.write(
  `\n${out.join('\n')}\n\nmedians of ${rounds} interleaved rounds; ${HAS_TASKSET ? 'gateway pinned to CPU 1; simulator, Content Safety stand-in and load generator to CPU 0' : 'taskset not found: processes were not pinned'}\n`,
);
