// The README's bench report (docs/bench-report.html and its picture
// docs/bench-report.png): a simulated estate of one PTU-like deployment
// (declared TPM, priority 1) and two pay-as-you-go ones (priority 2, limits
// learnt from their 429s), a gateway with priority routing over them, and
// `aoai-gateway bench` driving it at a fixed rate above the PTU's capacity
// and a little above the pool's, streaming, so the charts show the spill-over
// to pay-as-you-go and then the 429s once every deployment's minute is full.
//
//   npx node bench/capacity-report.ts [--seconds 60] [--rate 12]
//        [--out docs/bench-report.html] [--png docs/bench-report.png] [--chromium /usr/bin/chromium]
//
// Everything stays on 127.0.0.1; chromium is Debian's (nothing is downloaded).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { formatIssues, validateConfig } from '../src/config/load.ts';
import { parseBenchOptions, renderHtml, renderTable, startBench } from '../src/loadtest/index.ts';
import { Gateway } from '../src/server/gateway.ts';
import { Simulator } from '../src/simulator/index.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '12' },
    out: { type: 'string', default: 'docs/bench-report.html' },
    png: { type: 'string', default: 'docs/bench-report.png' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});

const KEY = 'capacity-report-key-0001';
const SIM_KEY = 'capacity-report-sim-key';
const PTU_TPM = 120_000;
const PAYG_TPM = 40_000;
const fast = { baseMs: 120, perTokenMs: 3 };
const slow = { baseMs: 250, perTokenMs: 6 };

const sim = await Simulator.start({
  accounts: {
    eastus: { region: 'eastus', keys: [SIM_KEY], deployments: { 'gpt-4o-ptu': { tpm: PTU_TPM, latency: fast, completionTokens: 120 } } },
    swedencentral: { region: 'swedencentral', keys: [SIM_KEY], deployments: { 'gpt-4o': { tpm: PAYG_TPM, latency: slow, completionTokens: 120 } } },
    westus: { region: 'westus', keys: [SIM_KEY], deployments: { 'gpt-4o': { tpm: PAYG_TPM, latency: slow, completionTokens: 120 } } },
  },
});
const auth = { type: 'api-key', key: SIM_KEY };
const config = validateConfig({
  listen: { host: '127.0.0.1', port: 0 },
  ledger: { url: 'sqlite::memory:' },
  endpoints: {
    'eastus-ptu': { url: sim.account('eastus').url, auth },
    'swedencentral-payg': { url: sim.account('swedencentral').url, auth },
    'westus-payg': { url: sim.account('westus').url, auth },
  },
  deployments: {
    'gpt-4o': {
      strategy: 'priority',
      targets: [
        { endpoint: 'eastus-ptu', deployment: 'gpt-4o-ptu', priority: 1, tpm: PTU_TPM },
        { endpoint: 'swedencentral-payg', deployment: 'gpt-4o', priority: 2 },
        { endpoint: 'westus-payg', deployment: 'gpt-4o', priority: 2 },
      ],
    },
  },
  consumers: { bench: { keys: [KEY], deployments: ['*'] } },
  telemetry: { accessLog: false },
});
if (!config.ok) throw new Error(formatIssues(config.issues));
const gw = await Gateway.start(config.config, { adminPort: false });

try {
  const o = parseBenchOptions(
    ['--url', gw.url, '--deployment', 'gpt-4o', '--rate', values.rate, '--duration', `${values.seconds}s`, '--stream', '--prompt-tokens', '200', '--max-tokens', '150'],
    { AOAIGW_BENCH_KEY: KEY },
  );
  if (o === 'help') throw new Error('unreachable');
  process.stderr.write(`PTU ${PTU_TPM} TPM, two pay-as-you-go ${PAYG_TPM} TPM; ${values.rate} req/s of ~350 tokens for ${values.seconds} s\n`);
  const summary = await startBench(o, { progress: true }).done;
  process.stdout.write(renderTable(summary));
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, renderHtml(summary));
  process.stderr.write(`wrote ${values.out}\n`);
} finally {
  await gw.close(1000);
  await sim.close();
}

if (!existsSync(values.chromium)) {
  process.stderr.write(`${values.chromium} is missing (apt-get install chromium): no picture taken\n`);
  process.exit(1);
}
const browser = await chromium.launch({
  executablePath: values.chromium,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1230, height: 800 }, deviceScaleFactor: 1 });
  await page.goto(pathToFileURL(resolve(values.out)).href);
  mkdirSync(dirname(values.png), { recursive: true });
  await page.screenshot({ path: values.png, fullPage: true });
  process.stderr.write(`wrote ${values.png}\n`);
} finally {
  await browser.close();
}
