// The README's dashboard screenshot (docs/dashboard.png): starts the demo's
// simulated accounts plus a gpt-4o-mini pool, and a gateway over them with an
// admin key and a few consumers with limits; drives a mix of traffic from
// them for --seconds (some over their limits, a wrong key and a forbidden
// deployment now and then); halfway through, West US starts answering 429
// with a long Retry-After, so that target cools down; one gpt-4o-mini target
// is drained near the end. Then it opens the dashboard in Chromium, while
// traffic still flows, and saves the screenshot.
//
//   npx node bench/dashboard-screenshot.ts [--seconds 60] [--out docs/dashboard.png]
//        [--chromium /usr/bin/chromium] [--width 1440] [--height 900]
//
// Needs Debian's chromium (.ci/run installs it); nothing is downloaded and all
// traffic stays on 127.0.0.1.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { Agent } from 'undici';
import { demoGatewayConfig, demoSimulatorConfig } from '../src/cli/demo-setup.ts';
import { formatIssues, validateConfig } from '../src/config/load.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator } from '../src/simulator/index.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    out: { type: 'string', default: 'docs/dashboard.png' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    width: { type: 'string', default: '1440' },
    height: { type: 'string', default: '900' },
  },
});
const durationMs = Number(values.seconds) * 1000;
if (!existsSync(values.chromium)) {
  console.error(`${values.chromium} is missing: run .ci/run, or apt-get install chromium`);
  process.exit(1);
}

const ADMIN_KEY = 'admin-key-screenshot-0001';
const KEYS = {
  'web-app': 'web-app-key-0123456789abcdef',
  'batch-jobs': 'batch-jobs-key-0123456789abcd',
  'support-bot': 'support-bot-key-0123456789abc',
  'search-indexer': 'search-indexer-key-012345678',
  'intern-sandbox': 'intern-sandbox-key-012345678',
};

const simConfig = demoSimulatorConfig(0);
const mini = { tpm: 50_000, latency: { baseMs: 80, perTokenMs: 8 }, completionTokens: 40, defaultMaxTokens: 500 };
simConfig.accounts.eastus.deployments['gpt-4o-mini'] = mini;
simConfig.accounts.swedencentral.deployments['gpt-4o-mini'] = mini;
const sim = await Simulator.start(simConfig);
const urls = { eastus: sim.account('eastus').url, swedencentral: sim.account('swedencentral').url, westus: sim.account('westus').url };
const raw = demoGatewayConfig(urls, 0);
// Declared TPMs give every target a "tokens this minute" bar.
const gpt4o = raw.deployments['gpt-4o'].targets.map((t) => ({ ...t, tpm: t.tpm ?? 20_000 }));
const config = validateConfig({
  ...raw,
  ledger: { url: 'sqlite::memory:' },
  admin: { key: ADMIN_KEY },
  deployments: {
    'gpt-4o': { targets: gpt4o },
    'gpt-4o-mini': {
      strategy: 'least-requests',
      targets: [
        { endpoint: 'eastus', tpm: 50_000 },
        { endpoint: 'swedencentral', tpm: 50_000 },
      ],
    },
    'text-embedding-3-small': raw.deployments['text-embedding-3-small'],
  },
  consumers: {
    'web-app': { keys: [KEYS['web-app']], deployments: ['*'] },
    'batch-jobs': { keys: [KEYS['batch-jobs']], deployments: ['gpt-4o', 'gpt-4o-mini'], limits: { tokensPerMinute: 6_000 } },
    'support-bot': { keys: [KEYS['support-bot']], deployments: ['gpt-4o', 'gpt-4o-mini'], limits: { requestsPerMinute: 60, concurrent: 3 } },
    'search-indexer': { keys: [KEYS['search-indexer']], deployments: ['text-embedding-3-small'] },
    'intern-sandbox': { keys: [KEYS['intern-sandbox']], deployments: ['text-embedding-3-small', 'gpt-4o-mini'], limits: { requestsPerMinute: 10 } },
  },
});
if (!config.ok) throw new Error(formatIssues(config.issues));
const gw = await Gateway.start(config.config, { adminPort: 0 });
const agent = new Agent({ connections: 256 });

const chat = (maxTokens: number) => JSON.stringify({ messages: [{ role: 'user', content: 'Summarise the quarterly report in three bullet points.' }], max_tokens: maxTokens });
const embed = JSON.stringify({ input: ['the quick brown fox jumps over the lazy dog', 'a gateway in front of many deployments'] });
const CHAT = (d: string) => `/openai/deployments/${d}/chat/completions?api-version=2024-10-21`;
const EMBED = '/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21';

interface Stream {
  key: string;
  path: string;
  body: () => string;
  /** requests per second at t, from 0 to 1 over the run: rates change so the charts have a shape */
  perSecond: (t: number) => number;
}
const streams: Stream[] = [
  { key: KEYS['web-app'], path: CHAT('gpt-4o'), body: () => chat(150 + Math.floor(Math.random() * 200)), perSecond: (t) => 2 + 2.5 * Math.sin(t * Math.PI) },
  { key: KEYS['web-app'], path: CHAT('gpt-4o-mini'), body: () => chat(200), perSecond: (t) => 1 + 2 * t },
  { key: KEYS['batch-jobs'], path: CHAT('gpt-4o'), body: () => chat(400), perSecond: (t) => (t > 0.2 && t < 0.65 ? 3 : 0.3) },
  { key: KEYS['support-bot'], path: CHAT('gpt-4o'), body: () => chat(120), perSecond: () => 1.2 },
  { key: KEYS['search-indexer'], path: EMBED, body: () => embed, perSecond: (t) => 4 * t + 1 },
  { key: KEYS['intern-sandbox'], path: CHAT('gpt-4o-mini'), body: () => chat(100), perSecond: () => 0.3 },
  // Not allowed on gpt-4o: refused.
  { key: KEYS['intern-sandbox'], path: CHAT('gpt-4o'), body: () => chat(50), perSecond: () => 0.1 },
  // A wrong key now and then.
  { key: 'sk-wrong-key-000000000000000000', path: CHAT('gpt-4o'), body: () => chat(50), perSecond: () => 0.08 },
];

const stop = new AbortController();
const pending = new Set<Promise<unknown>>();
let sent = 0;
async function drive(s: Stream): Promise<void> {
  const started = Date.now();
  while (!stop.signal.aborted) {
    const rate = s.perSecond(Math.min(1, (Date.now() - started) / durationMs));
    // Poisson arrivals; the wait ends early when the run stops.
    const wait = rate > 0 ? -Math.log(1 - Math.random()) * (1000 / rate) : 500;
    if (!(await sleep(wait, true, { signal: stop.signal }).catch(() => false))) break;
    sent++;
    const p = agent
      .request({ origin: gw.url, path: s.path, method: 'POST', headers: { 'api-key': s.key, 'content-type': 'application/json' }, body: s.body() })
      .then((res) => res.body.dump())
      .catch(() => undefined)
      .finally(() => pending.delete(p));
    pending.add(p);
  }
}

const browser = await chromium.launch({
  executablePath: values.chromium,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const driving = Promise.all(streams.map(drive));
try {
  console.log(`driving traffic for ${durationMs / 1000} s …`);
  await sleep(durationMs / 2);
  sim.account('westus').setFault('gpt-4o-payg', 'status=429;retry-after=90');
  await sleep(durationMs * 0.4);
  const drained = await fetch(`${gw.admin!.url}/admin/api/targets/swedencentral/gpt-4o-mini/drain`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  if (!drained.ok) throw new Error(`drain: HTTP ${drained.status}`);
  await sleep(durationMs * 0.1);

  // The shot is taken while traffic still flows, so in-flight counts are live.
  const page = await browser.newPage({ viewport: { width: Number(values.width), height: Number(values.height) } });
  await page.goto(`${gw.admin!.url}/#key=${ADMIN_KEY}`);
  await page.waitForSelector('[data-target] [data-state]');
  await page.waitForTimeout(2200); // two more polls, so the figures are settled
  mkdirSync(dirname(values.out), { recursive: true });
  await page.screenshot({ path: values.out });
  console.log(`${sent} requests sent; saved ${values.out}`);
} finally {
  stop.abort();
  await driving;
  await browser.close();
  await Promise.all(pending);
  await agent.close();
  await gw.close(1000);
  await sim.close();
}
