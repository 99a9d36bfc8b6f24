// Capacity efficiency: how much of a pool's summed TPM reaches clients, per
// strategy, against the simulator — three deployments of 60k, 120k and 240k
// TPM (the 240k one first, priority 1; the others priority 2, weighted by
// size) — with load offered at 50, 85, 100 and 120% of the summed capacity,
// open loop, no client retries. Two baselines run alongside in the same run:
// round-robin that hands upstream 429s to the client, and round-robin that
// retries a 429 on the next deployment at once, without a cooldown.
//
//   node bench/capacity.ts [--warmup 60] [--measure 60] [--levels 50,85,100,120]
//
// Every scenario runs at the same time on its own simulated account (so the
// run takes warmup + measure per level); figures are taken over the measured
// part only, after Azure's one-minute token window has filled.
import { parseArgs } from 'node:util';
import { STRATEGIES } from '../src/config/schema.ts';
import { validateConfig, formatIssues } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator, type SimulatorConfig } from '../src/simulator/index.ts';
import { estimateRequestTokens } from '../src/tokens/estimate.ts';
import { startBaseline, type BaselineKind } from './lib/baselines.ts';
import { openLoop, type Sample } from './lib/open-loop.ts';

const { values } = parseArgs({
  options: {
    warmup: { type: 'string', default: '60' },
    measure: { type: 'string', default: '60' },
    levels: { type: 'string', default: '50,85,100,120' },
    strategies: { type: 'string', default: STRATEGIES.join(',') },
  },
});
const warmupMs = Number(values.warmup) * 1000;
const measureMs = Number(values.measure) * 1000;
const levels = values.levels.split(',').map(Number);
const strategies = values.strategies.split(',') as (typeof STRATEGIES)[number][];
const BASELINES: BaselineKind[] = ['round-robin, 429 to client', 'retry on 429, no cooldown'];

const DEPLOYMENTS = [
  { name: 'ptu-240k', tpm: 240_000, priority: 1, weight: 1 },
  { name: 'payg-60k', tpm: 60_000, priority: 2, weight: 1 },
  { name: 'payg-120k', tpm: 120_000, priority: 2, weight: 2 },
];
const SUMMED_TPM = DEPLOYMENTS.reduce((s, d) => s + d.tpm, 0);
const rpm = (tpm: number) => Math.floor((tpm / 1000) * 6);
const KEY = 'capacity-bench-key-0001';
const SIM_KEY = 'capacity-sim-key';

const request = {
  messages: [
    { role: 'system', content: 'You are a concise assistant for a support team.' },
    { role: 'user', content: 'Summarise the customer ticket below in two sentences and suggest the next step for the agent.' },
  ],
  max_tokens: 160,
};
const BODY = JSON.stringify(request);
const COST = estimateRequestTokens(request, 0);
const FULL_RATE = SUMMED_TPM / COST / 60; // requests per second at 100% of the summed TPM

interface Row {
  scenario: string;
  level: number;
  requests: number;
  success: number;
  client429: number;
  otherErrors: number;
  upstreamAttempts: number;
  upstream429: number;
  tokenShare: number;
  p50: number;
  p99: number;
  with429RetryAfter: number;
  retryAfterErrorP50: number | undefined;
}

const rows: Row[] = [];
process.stderr.write(`request cost ${COST} tokens; 100% = ${FULL_RATE.toFixed(1)} req/s over ${SUMMED_TPM} TPM\n`);

for (const level of levels) {
  const scenarios = [...strategies.map((s) => ({ name: s, strategy: s as string | undefined })), ...BASELINES.map((b) => ({ name: b, strategy: undefined }))];
  const simConfig: SimulatorConfig = { accounts: {} };
  scenarios.forEach((_, i) => {
    simConfig.accounts[`s${i}`] = {
      keys: [SIM_KEY],
      deployments: Object.fromEntries(
        DEPLOYMENTS.map((d) => [d.name, { tpm: d.tpm, rpm: rpm(d.tpm), completionTokens: 100, latency: { baseMs: 150, perTokenMs: 2 } }]),
      ),
    };
  });
  const sim = await Simulator.start(simConfig);
  const closers: (() => Promise<void>)[] = [];
  const urls: { url: string; path: string }[] = [];
  for (const [i, sc] of scenarios.entries()) {
    const account = sim.account(`s${i}`);
    if (sc.strategy) {
      const r = validateConfig({
        listen: { host: '127.0.0.1', port: 0 },
        ledger: { url: 'sqlite::memory:' },
        endpoints: { sim: { url: account.url, auth: { type: 'api-key', key: SIM_KEY } } },
        deployments: {
          'gpt-4o': {
            strategy: sc.strategy,
            targets: DEPLOYMENTS.map((d) => ({ endpoint: 'sim', deployment: d.name, priority: d.priority, weight: d.weight, tpm: d.tpm, rpm: rpm(d.tpm) })),
          },
        },
        consumers: { bench: { keys: [KEY], deployments: ['*'] } },
        telemetry: { accessLog: false },
      });
      if (!r.ok) throw new Error(formatIssues(r.issues));
      const gw = await Gateway.start(r.config, { adminPort: false });
      closers.push(() => gw.close(1000));
      urls.push({ url: gw.url, path: '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21' });
    } else {
      const b = await startBaseline(
        sc.name as BaselineKind,
        DEPLOYMENTS.map((d) => ({ origin: account.url, path: `/openai/deployments/${d.name}/chat/completions?api-version=2024-10-21`, key: SIM_KEY })),
      );
      closers.push(() => b.close());
      urls.push({ url: b.url, path: '/chat' });
    }
  }

  const upstreamAt = (i: number) => {
    const a = sim.account(`s${i}`);
    let attempts = 0;
    let throttled = 0;
    for (const d of DEPLOYMENTS) {
      attempts += a.stats(d.name).requests;
      throttled += a.stats(d.name).throttled;
    }
    return { attempts, throttled };
  };
  let atWarmup: { attempts: number; throttled: number }[] = [];
  const snapshot = setTimeout(() => (atWarmup = scenarios.map((_, i) => upstreamAt(i))), warmupMs);

  process.stderr.write(`level ${level}%: ${(FULL_RATE * level) / 100} req/s for ${(warmupMs + measureMs) / 1000} s, ${scenarios.length} scenarios at once\n`);
  const results = await Promise.all(
    urls.map((u) =>
      openLoop({
        url: u.url,
        path: u.path,
        headers: { 'api-key': KEY, 'content-type': 'application/json' },
        body: BODY,
        ratePerSecond: (FULL_RATE * level) / 100,
        durationMs: warmupMs + measureMs,
      }),
    ),
  );
  clearTimeout(snapshot);
  for (const [i, sc] of scenarios.entries()) {
    const end = upstreamAt(i);
    const start = atWarmup[i] ?? { attempts: 0, throttled: 0 };
    rows.push(summarise(sc.name, level, results[i], end.attempts - start.attempts, end.throttled - start.throttled));
  }
  for (const close of closers) await close();
  await sim.close();
}

function summarise(scenario: string, level: number, all: Sample[], upstreamAttempts: number, upstream429: number): Row {
  const measured = all.filter((s) => s.at >= warmupMs);
  const ok = measured.filter((s) => s.status >= 200 && s.status < 300);
  const rejected = measured.filter((s) => s.status === 429);
  const lat = ok.map((s) => s.ms).sort((a, b) => a - b);
  const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
  // How far the announced Retry-After was from the next request that actually succeeded (sent after the refusal).
  const successesAt = all.filter((s) => s.status >= 200 && s.status < 300).map((s) => s.at);
  const errors: number[] = [];
  for (const r of rejected) {
    if (r.retryAfterMs === undefined) continue;
    const announced = r.at + r.ms + r.retryAfterMs;
    const next = successesAt.find((t) => t >= r.at + r.ms);
    if (next !== undefined) errors.push(next - announced);
  }
  errors.sort((a, b) => a - b);
  return {
    scenario,
    level,
    requests: measured.length,
    success: ok.length / measured.length,
    client429: rejected.length,
    otherErrors: measured.length - ok.length - rejected.length,
    upstreamAttempts,
    upstream429,
    tokenShare: (ok.length * COST) / (measureMs / 60_000) / SUMMED_TPM,
    p50: q(0.5),
    p99: q(0.99),
    with429RetryAfter: rejected.length ? rejected.filter((r) => r.retryAfterMs !== undefined).length / rejected.length : NaN,
    retryAfterErrorP50: errors.length ? errors[Math.floor(errors.length / 2)] : undefined,
  };
}

const pct = (x: number, digits = 1) => (Number.isNaN(x) ? '—' : `${(x * 100).toFixed(digits)}%`);
const out = [
  '| offered load | scenario | client success | client 429s | other errors | upstream 429s / attempts | tokens served / summed TPM | p50 ms | p99 ms | 429s with Retry-After | Retry-After vs next success (p50) |',
  '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
];
for (const r of rows) {
  out.push(
    `| ${r.level}% | ${r.scenario} | ${pct(r.success, 2)} | ${r.client429} | ${r.otherErrors} | ${r.upstream429} / ${r.upstreamAttempts} (${pct(r.upstreamAttempts ? r.upstream429 / r.upstreamAttempts : 0)}) | ${pct(r.tokenShare)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${pct(r.with429RetryAfter, 0)} | ${r.retryAfterErrorP50 === undefined ? '—' : `${r.retryAfterErrorP50 >= 0 ? '+' : ''}${(r.retryAfterErrorP50 / 1000).toFixed(2)} s`} |`,
  );
}
process.stdout.write(`\n${out.join('\n')}\n`);
