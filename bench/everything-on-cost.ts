// What makes "everything on" of bench/compare.ts cost more than the
// defaults: the same gateway config with one part taken out at a time, side
// by side in one run, and Redis's own count of the commands and the time it
// spent per request.
//
//   node bench/everything-on-cost.ts [--duration 4] [--rounds 2]
//
// The gateway runs alone on CPU 1; the simulator and the load generator on
// CPU 0 (taskset). Redis (a system service) is not pinned.
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { gatewayYaml, GATEWAY_KEY, startGateway } from './lib/compare-gateway.ts';
import { loadRun } from './lib/compare-load.ts';
import { startSimulatorPair } from './lib/compare-targets.ts';
import { startOtlpSink } from './lib/otlp-sink.ts';
import { interleaved, median } from './lib/rounds.ts';
import { CHAT_PATH, chatRequest } from './lib/sim-process.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '4' }, rounds: { type: 'string', default: '2' } } });
const durationMs = Number(values.duration) * 1000;
const rounds = Number(values.rounds);

const otlp = await startOtlpSink();
const otlpUrl = otlp.url;
const { sim, up } = await startSimulatorPair('0');
const redis = new Redis('redis://127.0.0.1:6379');

const all = (l: string) => gatewayYaml('everything', up, { otlpUrl, redisPrefix: `aoaigw-cost-${process.pid}:` }, l);
const variants: { name: string; yaml: (ledger: string) => string }[] = [
  { name: 'default', yaml: (l) => gatewayYaml('default', up, { otlpUrl, redisPrefix: 'unused:' }, l) },
  { name: 'everything on', yaml: all },
  { name: '… on the memory store instead of Redis', yaml: (l) => all(l).replace(/^state:.*$/m, '') },
  { name: '… without OTLP export', yaml: (l) => all(l).replace(/otlp: \{[^}]*\} /, '') },
  { name: '… without the token quota and concurrency limit', yaml: (l) => all(l).replace(/, tokenQuota: \d+, tokenQuotaPeriod: monthly, concurrent: \d+/, '') },
  { name: "… without the first target's tpm/rpm budget", yaml: (l) => all(l).replace(/, tpm: \d+, rpm: \d+/, '') },
];

interface Run {
  cpu: number;
  rps: number;
  p50: number;
  scripts: number;
  redisUs: number;
}

/** Redis's script calls and the microseconds it spent in them, since the last reset. */
async function scriptStats(): Promise<{ calls: number; usec: number }> {
  const info = await redis.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  return { calls, usec };
}

const results = await interleaved(variants, rounds, async (v, round): Promise<Run> => {
  const gw = await startGateway(v.yaml, { cpus: '1', workers: 1 });
  const opts = (concurrency: number, ms: number) => ({
    url: gw.url,
    path: CHAT_PATH,
    headers: { 'api-key': GATEWAY_KEY, 'content-type': 'application/json' },
    body: chatRequest(false),
    concurrency,
    durationMs: ms,
    warmupMs: 1000,
  });
  const single = await loadRun(opts(1, durationMs / 2), gw.pid, 0);
  await redis.config('RESETSTAT');
  const loaded = await loadRun(opts(50, durationMs), gw.pid, 0);
  const s = await scriptStats();
  await gw.stop();
  // Redis counts every request of the run, warm-up included: per request of the whole run.
  const total = Object.values(loaded.statuses).reduce((a, b) => a + b, 0) * (1 + 1000 / durationMs);
  const run = { cpu: loaded.cpuPerRequestUs ?? NaN, rps: loaded.rps, p50: single.p50, scripts: s.calls / total, redisUs: s.usec / total };
  process.stderr.write(`round ${round + 1} ${v.name.padEnd(50)} ${run.rps.toFixed(0)} req/s  cpu ${run.cpu.toFixed(0)} µs/req  p50 c=1 ${run.p50.toFixed(3)} ms  Redis scripts ${run.scripts.toFixed(1)}/req, ${run.redisUs.toFixed(0)} µs/req\n`);
  return run;
});
await sim.stop();
redis.disconnect();
otlp.close();

const base = median(results[0].map((r) => r.cpu));
const lines = [
  '| gateway config (plain requests) | req/s at c=50 | CPU µs per request | vs default | p50 at c=1 | Redis scripts per request | Redis time per request |',
  '|---|---:|---:|---:|---:|---:|---:|',
];
variants.forEach((v, i) => {
  const m = (k: keyof Run) => median(results[i].map((r) => r[k]));
  const redisCols = m('scripts') > 0 ? `${m('scripts').toFixed(1)} | ${m('redisUs').toFixed(0)} µs` : '— | —';
  lines.push(`| ${v.name} | ${m('rps').toFixed(0)} | ${m('cpu').toFixed(0)} | ${(m('cpu') / base).toFixed(2)}x | ${m('p50').toFixed(3)} ms | ${redisCols} |`);
});
process.stdout.write(`\n${lines.join('\n')}\n\nmedians of ${rounds} interleaved rounds, ${durationMs / 1000} s at c=50 and ${durationMs / 2000} s at c=1 each\n`);
