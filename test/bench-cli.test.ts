// `aoai-gateway bench` run as a user runs it (a child process) against the
// simulator with two accounts behind a gateway: the per-endpoint figures add
// up, tokens match what the simulator generated, streams time their first
// content, 429s are counted with their retry-after, the open loop keeps to its
// rate, the HTML report is self-contained, bad flags exit 2, and the key is
// never printed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { after, before, beforeEach, test } from 'node:test';
import { encode } from 'gpt-tokenizer';
import { UsageError } from '../src/cli/args.ts';
import { parseBenchOptions } from '../src/loadtest/options.ts';
import { Histogram } from '../src/loadtest/histogram.ts';
import { chatMessages } from '../src/loadtest/request-plan.ts';
import { Recorder } from '../src/loadtest/stats.ts';
import type { Summary } from '../src/loadtest/summary.ts';
import { KEY_A, startHarness, type Harness } from './helpers/harness.ts';

let h: Harness;
const dir = mkdtempSync(`${tmpdir()}/aoaigw-bench-cli-`);
const printed: string[] = [];

before(async () => {
  h = await startHarness({
    simulator: {
      accounts: {
        east: { deployments: { 'gpt4o-ptu': { completionTokens: 7, latency: { baseMs: 5, perTokenMs: 2 } }, tight: { rpm: 6, completionTokens: 3 } } },
        west: { deployments: { 'gpt-4o': { completionTokens: 7, latency: { baseMs: 5, perTokenMs: 2 } }, faulty: { completionTokens: 7 } } },
      },
    },
    patch: (raw) => {
      raw.deployments = {
        'gpt-4o': { strategy: 'round-robin', targets: [{ endpoint: 'east', deployment: 'gpt4o-ptu' }, { endpoint: 'west', deployment: 'gpt-4o' }] },
        'gpt-4o-west': { targets: [{ endpoint: 'west', deployment: 'gpt-4o' }] },
        tight: { targets: [{ endpoint: 'east', deployment: 'tight' }] },
        faulty: { targets: [{ endpoint: 'west', deployment: 'faulty' }] },
      };
      delete raw.consumers['team-b'];
    },
  });
});
after(async () => {
  await h.close();
  // Whatever the runs printed, the key is not in it.
  for (const text of printed) assert.ok(!text.includes(KEY_A), 'the key is never printed');
});
beforeEach(() => h.sim.reset());

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/aoai-gateway.js', 'bench', ...args], { env: { ...process.env, AOAIGW_BENCH_KEY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      printed.push(out, err);
      resolve({ code, out, err });
    });
  });
}

async function benchJson(...args: string[]): Promise<Summary> {
  const r = await cli(['--url', h.url, '--json', ...args], { AOAIGW_BENCH_KEY: KEY_A });
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as Summary;
}

function simTokens(): { prompt: number; completion: number } {
  let prompt = 0;
  let completion = 0;
  for (const [account, d] of [['east', 'gpt4o-ptu'], ['west', 'gpt-4o']]) {
    const s = h.sim.account(account).stats(d);
    prompt += s.promptTokens;
    completion += s.completionTokens;
  }
  return { prompt, completion };
}

test('per-endpoint rows name both endpoints, add up to --requests, and count the tokens the simulator generated', async () => {
  const s = await benchJson('--deployment', 'gpt-4o', '--requests', '40', '--concurrency', '4', '--prompt-tokens', '50', '--max-tokens', '20');
  assert.deepEqual(s.endpoints.map((e) => e.name).sort(), ['east', 'west']);
  assert.equal(s.endpoints.reduce((n, e) => n + e.requests, 0), 40);
  assert.equal(s.totals.requests, 40);
  assert.ok(Math.abs(s.endpoints.reduce((n, e) => n + e.share, 0) - 100) < 0.05);
  assert.deepEqual(s.totals.statuses, { '200': 40 });
  const sim = simTokens();
  assert.equal(s.totals.completionTokens, sim.completion);
  assert.equal(s.totals.completionTokens, 40 * 7);
  assert.equal(s.totals.promptTokens, sim.prompt);
  for (const e of s.endpoints) assert.ok(e.latencyMs.p50 !== null && e.latencyMs.p99 !== null && e.latencyMs.p50 <= e.latencyMs.p99);
});

test('the prompt is about --prompt-tokens to a GPT tokenizer too', () => {
  for (const n of [20, 100, 1000]) {
    const tokens = chatMessages(n).reduce((t, m) => t + encode(m.content).length + 4, 3);
    assert.ok(Math.abs(tokens - n) <= Math.max(3, n * 0.05), `${n} asked, ${tokens} by the tokenizer`);
  }
});

test('percentiles are within 1.6% of the exact ones, and the timeline of a long run stays bounded', () => {
  const h = new Histogram();
  const values: number[] = [];
  for (let i = 0; i < 50_000; i++) {
    const v = Math.exp(8 + 2 * Math.sin(i * 12.9898) * Math.cos(i * 78.233)) * 10; // spread over ~4 decades
    values.push(Math.round(v));
    h.record(v);
  }
  values.sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99, 0.999]) {
    const exact = values[Math.ceil(q * values.length) - 1];
    assert.ok(Math.abs(h.quantile(q) - exact) / exact <= 0.016, `q${q}: ${h.quantile(q)} vs ${exact}`);
  }
  const rec = new Recorder('host');
  const outcome = { deployment: 'd', endpoint: 'east', status: 200, error: undefined, latencyUs: 1000, ttfbUs: 500, promptTokens: 1, completionTokens: 2, retryAfterMs: -1 };
  for (let s = 0; s < 3600; s += 2) rec.add(outcome, s * 1000); // an hour, one every 2 s
  assert.ok(rec.timeline.length <= 600 && rec.bucketMs === 8000, `${rec.timeline.length} buckets of ${rec.bucketMs} ms`);
  assert.equal(rec.timeline.reduce((n, b) => n + b.requests, 0), 1800);
  assert.equal(rec.total.completionTokens, 3600);
});

test('streaming: time to first content is at most the latency, and usage comes from the final chunk', async () => {
  const s = await benchJson('--deployment', 'gpt-4o', '--requests', '20', '--concurrency', '4', '--stream');
  assert.equal(s.totals.ok, 20);
  for (const g of [s.totals, ...s.endpoints]) {
    assert.ok(g.ttfbMs.p50 !== null && g.latencyMs.p50 !== null);
    assert.ok(g.ttfbMs.p50 <= g.latencyMs.p50, `ttfb ${g.ttfbMs.p50} ≤ latency ${g.latencyMs.p50}`);
    assert.ok((g.ttfbMs.max ?? 0) <= (g.latencyMs.max ?? 0));
  }
  assert.equal(s.totals.usageMissing, 0);
  assert.equal(s.totals.completionTokens, simTokens().completion);
  assert.equal(s.totals.completionTokens, 20 * 7);
});

test('a tight RPM limit upstream shows as 429s in the statuses, with their retry-after', async () => {
  const s = await benchJson('--deployment', 'tight', '--requests', '8', '--concurrency', '2');
  assert.equal(s.totals.requests, 8);
  const n429 = s.totals.statuses['429'] ?? 0;
  assert.ok(n429 >= 1 && (s.totals.statuses['200'] ?? 0) >= 1, JSON.stringify(s.totals.statuses));
  assert.equal(s.totals.throttled, n429);
  assert.ok(s.totals.retryAfterMs.count >= 1 && (s.totals.retryAfterMs.max ?? 0) > 0);
  assert.equal(s.totals.successRate, Math.round(((8 - n429) / 8) * 10000) / 100);
});

test('--rate sends the count at about the rate', async () => {
  const s = await benchJson('--deployment', 'gpt-4o', '--rate', '20', '--requests', '30', '--quiet');
  assert.equal(s.totals.requests, 30);
  assert.equal(s.totals.dropped, 0);
  // 30 arrivals at 20/s: the last one leaves 1.45 s after the first.
  assert.ok(s.seconds >= 29 / 20 - 0.05, `${s.seconds} s`);
  assert.equal(s.target.load.kind, 'rate');
});

test('a stream that breaks is counted as broken, a request over --timeout as a timeout', async () => {
  const broken = await benchJson('--deployment', 'faulty', '--stream', '--requests', '3', '--concurrency', '1', '--header', 'x-sim-fault: reset-after-chunks=3');
  assert.deepEqual(broken.totals.statuses, { broken: 3 });
  assert.equal(broken.totals.errors.broken, 3);
  assert.equal(broken.totals.ok, 0);
  const r = await cli(['--url', h.url, '--deployment', 'faulty', '--requests', '2', '--timeout', '300ms', '--header', 'x-sim-fault: hang', '--json', '--quiet'], { AOAIGW_BENCH_KEY: KEY_A });
  assert.equal(r.code, 1, 'no answer at all');
  const timedOut = JSON.parse(r.out) as Summary;
  assert.deepEqual(timedOut.totals.statuses, { timeout: 2 });
  assert.equal(timedOut.totals.latencyMs.max, null, 'latency is of answers only');
  assert.match(r.err, /no request got an answer .*\(2 tried; BENCH_TIMEOUT: timed out\)/);
});

test('several deployments are called in turn, with a row each; the v1 API and a bearer key work too', async () => {
  const s = await benchJson('--deployment', 'gpt-4o,gpt-4o-west', '--api', 'v1', '--bearer', '--requests', '12', '--concurrency', '3');
  assert.deepEqual(
    s.deployments.map((d) => [d.name, d.requests, d.ok]),
    [
      ['gpt-4o', 6, 6],
      ['gpt-4o-west', 6, 6],
    ],
  );
  // gpt-4o-west is served by west only; gpt-4o by both in turn.
  assert.equal(s.endpoints.find((e) => e.name === 'west')?.requests, 9);
});

test('--html writes one self-contained file with the three charts; the table goes to stdout', async () => {
  const file = `${dir}/report.html`;
  const r = await cli(['--url', h.url, '--key', KEY_A, '--deployment', 'gpt-4o', '--requests', '20', '--concurrency', '2', '--html', file]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^endpoint\s+requests\s+share\s+p50 ms/m);
  assert.match(r.out, /^east\s+10\s+50\.0%/m);
  assert.match(r.out, /^total\s+20\s+100\.0%.*200:20$/m);
  const html = readFileSync(file, 'utf8');
  printed.push(html);
  assert.equal(html.match(/<svg/g)?.length, 3);
  for (const title of ['Successful requests per second, by serving endpoint', 'Latency of successful requests', 'Status mix']) assert.ok(html.includes(title), title);
  assert.ok(!/<script|<link|<img|@import|url\(|(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i.test(html), 'nothing is fetched');
  assert.match(html, /<td>east<\/td><td>10<\/td>/);
});

test('bad or conflicting flags: one line on stderr, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['--url', h.url, '--deployment', 'd', '--concurrency', '2', '--rate', '5'], /^aoai-gateway bench: --concurrency and --rate exclude each other/],
    [['--url', h.url, '--deployment', 'd', '--rate', '0'], /--rate: a number above 0/],
    [['--url', h.url, '--deployment', 'd', '--api', 'openai'], /--api: azure or v1/],
    [['--url', 'ftp://127.0.0.1', '--deployment', 'd'], /--url: http or https only/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args, { AOAIGW_BENCH_KEY: KEY_A });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.equal(r.out, '');
  }
});

test('the flags are checked before anything is sent', () => {
  const url = ['--url', 'http://127.0.0.1:1'];
  const cases: [string[], RegExp][] = [
    [['--deployment', 'd'], /--url is required/],
    [[...url], /--deployment: name one or more deployments/],
    [[...url, '--deployment', 'd', '--duration', '10s', '--requests', '5'], /--duration and --requests exclude each other/],
    [[...url, '--deployment', 'd', '--duration', 'soon'], /--duration: write a duration like 500ms/],
    [[...url, '--deployment', 'd', '--requests', '0'], /--requests: a whole number from 1/],
    [[...url, '--deployment', 'd', '--max-outstanding', '5'], /--max-outstanding bounds the open loop: use it with --rate/],
    [[...url, '--deployment', 'd', '--header', 'no-colon'], /--header: write 'name: value'/],
    [[...url, '--deployment', 'd', '--header', 'content-length: 5'], /--header content-length: set by the tool itself/],
    [[...url, '--deployment', 'd', '--bearer'], /--bearer sends the key as a bearer token/],
    [[...url, '--deployment', 'd', '--wat'], /Unknown option '--wat'/],
    [['--url', 'http://user:secret@127.0.0.1', '--deployment', 'd'], /--url: no credentials in the URL/],
  ];
  for (const [args, message] of cases) assert.throws(() => parseBenchOptions(args, {}), (err: Error) => err instanceof UsageError && message.test(err.message), args.join(' '));
  const o = parseBenchOptions([...url, '--deployment', 'a,b', '--deployment', 'c', '--header', 'X-Team: search'], { AOAIGW_BENCH_KEY: 'k' });
  assert.ok(o !== 'help');
  assert.deepEqual([o.deployments, o.key, o.load, o.stop, o.headers], [['a', 'b', 'c'], 'k', { kind: 'concurrency', concurrency: 10 }, { kind: 'duration', ms: 30_000 }, [['x-team', 'search']]]);
});

test('nothing reachable: a clear message and a non-zero exit', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const r = await cli(['--url', `http://127.0.0.1:${port}`, '--key', KEY_A, '--deployment', 'gpt-4o', '--requests', '5', '--quiet']);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`no request got an answer from http://127\\.0\\.0\\.1:${port} \\(5 tried; ECONNREFUSED`));
  assert.equal(r.out, '');
});
