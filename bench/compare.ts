// The side-by-side performance suite, one run on one simulator, loopback
// only: the simulator directly; nginx and haproxy as pass-through proxies;
// a bare undici proxy; the Portkey gateway load-balancing over the same
// targets; aoai-gateway with its defaults, with everything on, and with
// everything on over 2 workers. Figures: req/s at concurrency 50, added
// latency p50/p99 at concurrency 1 and 50, CPU µs per request of the proxy,
// plain and streamed; RSS and chunk relay latency with ~10,000 concurrent
// slow streams; RSS over a soak at a fixed rate. Ratios to nginx and to the
// bare proxy come from the same run.
//
//   npm run bench:compare -- [--quick] [--write-readme] [--json FILE] [--profile]
//     [--duration 6] [--rounds 3] [--streams 10000] [--chunk-ms 1000] [--soak 10m] [--soak-rate 300]
//     [--phases rps,streams,soak] [--only nginx,gw-all,…]
//
// Pinning (taskset): the proxy under test runs alone on CPU 1 (its whole
// process tree: nginx's master and worker, the gateway's primary and
// workers); the simulator or the slow-stream backend, every load generator
// and this script run on CPU 0. The 2-worker gateway gets CPUs 0 and 1.
import { spawnSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startOtlpSink } from './lib/otlp-sink.ts';
import { HAS_TASKSET } from './lib/processes.ts';
import { FD_LIMIT, stopAndClean } from './lib/compare-proc.ts';
import { CONNECTIONS_PER_PROXY, ensureNative } from './lib/compare-native.ts';
import { ensurePortkey, PORTKEY_VERSION } from './lib/compare-portkey.ts';
import { workersFlagAvailable } from './lib/compare-gateway.ts';
import { startSimulatorPair, targets } from './lib/compare-targets.ts';
import { runRps, type RpsRow } from './lib/compare-rps.ts';
import { runStreams, startSlowBackend, type StreamsRow } from './lib/compare-streams.ts';
import { runSoak, type SoakResult } from './lib/compare-soak.ts';
import { profileGateway } from './lib/compare-profile.ts';
import { END, render, START, writeReadme } from './lib/compare-table.ts';

const options = {
  quick: { type: 'boolean', default: false },
  duration: { type: 'string' },
  rounds: { type: 'string' },
  streams: { type: 'string' },
  soak: { type: 'string' },
  'chunk-ms': { type: 'string' },
  'soak-rate': { type: 'string', default: '300' },
  phases: { type: 'string', default: 'rps,streams,soak' },
  only: { type: 'string' },
  profile: { type: 'boolean', default: false },
  'write-readme': { type: 'boolean', default: false },
  json: { type: 'string' },
} as const;
let values: ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];
try {
  ({ values } = parseArgs({ options }));
} catch (err) {
  process.stderr.write(`bench:compare: ${(err as Error).message}\n`);
  process.exit(2);
}

function fail(message: string): never {
  process.stderr.write(`bench:compare: ${message}\n`);
  process.exit(2);
}
function num(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} takes a number from ${min} to ${max} (got "${v}")`);
  return n;
}
function duration(v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) fail(`--soak takes a duration such as 10m, 90s or 0 (got "${v}")`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  if (ms > 2 * 3_600_000) fail('--soak is at most 2h');
  return ms;
}

const quick = values.quick;
const LOAD_CPU = 0;
const PROXY_CPUS = '1';
const rpsPlan = {
  durationMs: num('duration', values.duration, quick ? 2 : 6, 1, 120) * 1000,
  warmupMs: quick ? 1000 : 2000,
  rounds: num('rounds', values.rounds, quick ? 1 : 3, 1, 9),
  concurrency: 50,
  loadCpu: LOAD_CPU,
};
const wantedStreams = num('streams', values.streams, quick ? 1000 : 10_000, 10, 100_000);
const streamsPlan = {
  streams: Math.min(wantedStreams, CONNECTIONS_PER_PROXY),
  rampMs: quick ? 2000 : 10_000,
  intervalMs: num('chunk-ms', values['chunk-ms'], 1000, 10, 5000),
  chunks: 0,
  loadCpu: LOAD_CPU,
};
// each stream lasts about 20 s (6 s with --quick), whatever the interval
streamsPlan.chunks = Math.max(2, Math.round((quick ? 6000 : 20_000) / streamsPlan.intervalMs));
const soakMs = duration(values.soak, quick ? 60_000 : 600_000);
const soakPlan = {
  durationMs: soakMs,
  warmupMs: Math.min(60_000, Math.round(soakMs / 4)),
  sampleMs: soakMs >= 300_000 ? 10_000 : 5000,
  ratePerSecond: num('soak-rate', values['soak-rate'], 300, 1, 5000),
  loadCpu: LOAD_CPU,
};
const phases = new Set(values.phases.split(',').map((s) => s.trim()));
for (const p of phases) if (!['rps', 'streams', 'soak'].includes(p)) fail(`--phases takes rps, streams, soak (got "${p}")`);
if (soakMs === 0) phases.delete('soak');

// This script (and the libuv threads it has) stays off the proxy's CPU.
if (HAS_TASKSET) spawnSync('taskset', ['-a', '-p', '-c', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });

// What is there to compare.
const native = ensureNative();
const portkeyMissing = ensurePortkey();
const workersFlag = workersFlagAvailable();
const redisPrefix = `aoaigw-bench-compare-${process.pid}-${Date.now()}:`;
const redisDown = await redisProblem();

// OTLP receiver for "everything on": reads each export, answers 200, keeps nothing.
const otlp = await startOtlpSink();
const otlpUrl = otlp.url;

const all = targets({ otlpUrl, redisPrefix, workersFlag, proxyCpus: PROXY_CPUS });
for (const t of all) {
  if (t.id === 'nginx') t.na ??= native.nginx;
  if (t.id === 'haproxy') t.na ??= native.haproxy;
  if (t.id === 'portkey') t.na ??= portkeyMissing;
  if (t.id.startsWith('gw-all')) t.na ??= redisDown;
}
const only = values.only?.split(',').map((s) => s.trim());
if (only) for (const id of only) if (!all.some((t) => t.id === id)) fail(`--only: no target "${id}" (${all.map((t) => t.id).join(', ')})`);
const chosen = all.filter((t) => !only || t.id === 'direct' || only.includes(t.id));
const live = chosen.filter((t) => !t.na);
const streamTargets = chosen.filter((t) => !t.bothCpus);

// Print how long this takes before it starts.
const perRps = 2000 + 2 * (2 * rpsPlan.warmupMs + 1.5 * rpsPlan.durationMs) + 1000;
const perStreams = streamsPlan.rampMs + streamsPlan.chunks * streamsPlan.intervalMs + 6000;
const estimate =
  (phases.has('rps') ? rpsPlan.rounds * live.length * perRps : 0) +
  (phases.has('streams') ? streamTargets.filter((t) => !t.na).length * perStreams : 0) +
  (phases.has('soak') ? soakMs + 5000 : 0) +
  (values.profile ? 30_000 : 0);
process.stderr.write(
  `bench:compare: ${live.length} targets (${chosen.filter((t) => t.na).map((t) => `${t.id} ${t.na}`).join('; ') || 'all available'}); ` +
    `phases ${[...phases].join(', ')}${values.profile ? ', profile' : ''}; about ${Math.ceil(estimate / 60_000)} min\n`,
);
if (streamsPlan.streams < wantedStreams) {
  process.stderr.write(`streams: ${streamsPlan.streams} instead of ${wantedStreams}: the open-files limit here is ${FD_LIMIT} per process and a proxy holds two sockets per stream\n`);
}

const { sim, up } = await startSimulatorPair(String(LOAD_CPU));

const started = new Date();
let rps: RpsRow[] = [];
const streams: StreamsRow[] = [];
let soak: SoakResult | undefined;
let profile: Awaited<ReturnType<typeof profileGateway>> | undefined;
try {
  if (phases.has('rps')) rps = await runRps(chosen, up, rpsPlan);
  if (phases.has('streams')) {
    const backend = await startSlowBackend(streamsPlan);
    try {
      for (const t of streamTargets) streams.push(t.na ? { id: t.id, name: t.name, na: t.na } : await runStreams(t, backend.url, streamsPlan));
    } finally {
      await stopAndClean(backend);
    }
  }
  const gwAll = all.find((t) => t.id === 'gw-all')!;
  if (phases.has('soak')) soak = await runSoak(gwAll, up, soakPlan);
  if (values.profile && !gwAll.na) profile = await profileGateway(gwAll, up, { durationMs: quick ? 3000 : 8000, loadCpu: LOAD_CPU, top: 25 });
} finally {
  await sim.stop();
  otlp.close();
  await dropRedisKeys();
}

const cpu = cpus();
const version = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '?';
};
const meta = [
  `Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC with \`npm run bench:compare --${process.argv.slice(2).map((a) => ` ${a}`).join('')}\` on ${cpu.length} CPUs (${cpu[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}; ` +
    `Node ${process.version}, ${version('nginx', ['-v']).replace('nginx version: ', '')}, ${version('haproxy', ['-v']).replace(/ - https.*$/, '')}, Portkey gateway ${PORTKEY_VERSION} on @hono/node-server 1.13.5.`,
  HAS_TASKSET
    ? `Pinned with taskset: the proxy under test alone on CPU ${PROXY_CPUS} (CPU and RSS are its whole process tree's: nginx master + worker, the gateway's primary + workers); the simulator or slow-stream backend, the load generators and the suite itself on CPU ${LOAD_CPU}. The 2-worker gateway runs on CPUs 0 and 1 (so it shares CPU 0 with the load; its CPU per request is the sum over both workers). Redis (a system service) is not pinned.`
    : 'taskset was not found: nothing was pinned, so these figures mix the proxy with the load.',
  `Per path and round: ${rpsPlan.durationMs / 1000} s at c=${rpsPlan.concurrency} and ${rpsPlan.durationMs / 2000} s at c=1 (after ${rpsPlan.warmupMs / 1000} s warm-ups), closed loop over keep-alive connections; medians of ${rpsPlan.rounds} interleaved round(s). ` +
    `Streams: ${streamsPlan.streams} opened over ${streamsPlan.rampMs / 1000} s, ${streamsPlan.chunks} chunks ${streamsPlan.intervalMs} ms apart each, from bench/slow-stream-backend.ts, ${Math.max(1, Math.ceil(streamsPlan.streams / 2500))} client process(es).` +
    (streamsPlan.streams < wantedStreams ? ` (${wantedStreams} asked: a proxy holds two sockets per stream and the open-files hard limit here is ${FD_LIMIT}.)` : ''),
  `${otlp.exports()} OTLP exports received from "everything on".`,
];
const report = { rps, streams, soak, concurrency: rpsPlan.concurrency, meta };
const md = render(report);
process.stdout.write(`\n${md}\n`);
if (profile) {
  process.stdout.write(`\nCPU profile of aoai-gateway, everything on, c=50 plain then stream (${profile.file}), by self time:\n\n| self ms | % | function | where |\n|---:|---:|---|---|\n`);
  for (const f of profile.top) process.stdout.write(`| ${f.ms.toFixed(0)} | ${f.pct.toFixed(1)} | ${f.fn} | ${f.where} |\n`);
}
if (values.json) writeFileSync(values.json, JSON.stringify({ plan: { rps: rpsPlan, streams: streamsPlan, soak: soakPlan }, ...report, profile }, null, 2));
if (values['write-readme']) {
  if (writeReadme('README.md', md)) process.stderr.write('README.md: the table was written between the bench:compare markers\n');
  else process.stderr.write(`README.md has no ${START} … ${END} markers: nothing was written (the table is above)\n`);
}

async function redisProblem(): Promise<string | undefined> {
  const r = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch {
    return 'n/a: Redis is not reachable at 127.0.0.1:6379';
  } finally {
    r.disconnect();
  }
}

/** The run's counters are under its own prefix: remove them. */
async function dropRedisKeys(): Promise<void> {
  if (redisDown) return;
  const r = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1, connectTimeout: 2000 });
  r.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
      if (keys.length) await r.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch {
    // best effort: the keys expire
  } finally {
    r.disconnect();
  }
}
