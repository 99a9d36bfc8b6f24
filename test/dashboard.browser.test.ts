// The dashboard on the admin port, in a real browser (Debian's chromium
// driven by playwright-core), as an operator sees it: the admin-key login, a
// target the simulator throttles shown cooling down with a running countdown,
// the drain button taking a target out of rotation (and undrain putting it
// back), refusals, top consumers and the charts.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chatBody, KEY_A, startHarness, type Harness } from './helpers/harness.ts';
import { json, send, type RawResponse } from './helpers/http.ts';

// Debian's package; CHROMIUM_PATH points elsewhere if need be.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN_KEY = 'admin-key-dashboard-0123456789';
const KEY_LIMITED = 'limited-key-0123456789abcdef';
const CHAT = (d: string) => `/openai/deployments/${d}/chat/completions?api-version=2024-10-21`;

let h: Harness;
let browser: Browser;
let page: Page;
const pageErrors: Error[] = [];

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the dashboard tests drive Debian's chromium. Run .ci/run, or: apt-get install -y chromium`);
  }
  h = await startHarness({
    simulator: {
      accounts: {
        east: { region: 'eastus', deployments: { d: { completionTokens: 3 }, e: { completionTokens: 3 } } },
        west: { region: 'westus', deployments: { d: { completionTokens: 3 }, e: { completionTokens: 3 } } },
      },
    },
    patch: (raw) => {
      raw.admin = { key: ADMIN_KEY };
      raw.deployments = {
        // east/d is throttled by its account in the cooling test …
        chat: { targets: [{ endpoint: 'east', deployment: 'd', priority: 1 }, { endpoint: 'west', deployment: 'd', priority: 2 }] },
        // … and east/e drained from the page in the drain test.
        pool: { targets: [{ endpoint: 'east', deployment: 'e', priority: 1, tpm: 100_000 }, { endpoint: 'west', deployment: 'e', priority: 2 }] },
      };
      raw.consumers = {
        'team-a': { keys: [KEY_A], deployments: ['*'] },
        limited: { keys: [KEY_LIMITED], deployments: ['*'], limits: { requestsPerMinute: 1 } },
      };
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // A fresh profile; without the background-networking flags Chromium's own
    // connections are refused on a closed network and slow it down.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  page.setDefaultTimeout(5000);
  page.on('pageerror', (err) => pageErrors.push(err));
});

after(async () => {
  await browser?.close();
  await h?.close();
});

const chat = (deployment: string, key = KEY_A): Promise<RawResponse> => send(h.url, CHAT(deployment), { headers: json(key), body: chatBody() });
const row = (target: string) => `[data-target="${target}"]`;
const stateOf = (target: string) => page.getAttribute(`${row(target)} [data-state]`, 'data-state');
const receivedBy = (account: string, deployment: string) => h.sim.account(account).received.filter((r) => r.deployment === deployment).length;

// The DOM the functions run in the page use (the project's types have no DOM lib; these are erased).
interface PageDocument {
  querySelector(selector: string): { textContent: string | null; getAttribute(name: string): string | null } | null;
}

describe('dashboard in chromium', () => {
  test('login: without a key the key form; a wrong key shows the error; the right key shows the deployments', async () => {
    await page.goto(`${h.gw.admin!.url}/`);
    await page.waitForSelector('#login-form #key', { state: 'visible' });
    assert.equal(await page.isVisible('#app'), false, 'nothing but the form without a key');

    await page.fill('#key', 'not-the-admin-key-000000');
    await page.press('#key', 'Enter');
    await page.waitForFunction(() => /Incorrect admin key/.test((globalThis as unknown as { document: PageDocument }).document.querySelector('#login-error')?.textContent ?? ''));
    assert.equal(await page.isVisible('#app'), false);

    await page.fill('#key', ADMIN_KEY);
    await page.click('#login-form button');
    await page.waitForSelector(`[data-deployment="chat"] ${row('east/d')}`, { state: 'visible' });
    await page.waitForSelector(`[data-deployment="pool"] ${row('west/e')}`, { state: 'visible' });
    assert.equal(await page.isVisible('#login'), false, 'the form is gone');
    assert.equal(await page.textContent('#login-error'), '', 'and its error with it');
    assert.equal(await stateOf('east/d'), 'available');
  });

  test('a link with #key= opens the dashboard at once and takes the key out of the address bar', async () => {
    const other = await browser.newPage();
    try {
      await other.goto(`${h.gw.admin!.url}/#key=${ADMIN_KEY}`);
      await other.waitForSelector(`${row('east/d')} [data-state]`, { timeout: 5000 });
      assert.equal(new URL(other.url()).hash, '');
      assert.equal(await other.isVisible('#login'), false);
    } finally {
      await other.close();
    }
  });

  test('a target the simulator throttles shows as cooling, its countdown running down; the other stays available', async () => {
    h.sim.account('east').setFault('d', 'status=429;retry-after=30');
    try {
      const r = await chat('chat');
      assert.equal(r.status, 200, 'the client never sees the 429');
      assert.equal(r.headers['x-gateway-endpoint'], 'west');

      await page.waitForSelector(`${row('east/d')} [data-state="cooling"]`);
      assert.equal(await stateOf('west/d'), 'available');
      const countdown = `${row('east/d')} [data-countdown]`;
      const first = parseFloat((await page.textContent(countdown)) ?? '');
      assert.ok(first > 25 && first <= 30, `countdown starts near the Retry-After: ${first}`);
      // It goes down between polls, and polls keep it cooling while throttled.
      await page.waitForFunction(
        ([sel, from]) => parseFloat((globalThis as unknown as { document: PageDocument }).document.querySelector(sel)?.textContent ?? '') < from - 1,
        [countdown, first] as const,
        { timeout: 4000 },
      );
      assert.equal((await chat('chat')).headers['x-gateway-endpoint'], 'west');
      assert.equal(await stateOf('east/d'), 'cooling');
      assert.equal(await stateOf('west/d'), 'available');
    } finally {
      h.sim.account('east').setFault('d', undefined);
    }
  });

  test('the drain button takes a target out of rotation; undrain puts it back', async () => {
    assert.equal((await chat('pool')).headers['x-gateway-endpoint'], 'east', 'priority 1 serves first');

    await page.click(`${row('east/e')} button[data-action="drain"]`);
    await page.waitForSelector(`${row('east/e')} [data-state="drained"]`);
    await page.waitForSelector(`${row('east/e')} button[data-action="undrain"]`);
    const before = receivedBy('east', 'e');
    for (let i = 0; i < 8; i++) {
      const r = await chat('pool');
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-gateway-endpoint'], 'west');
      assert.equal(r.headers['x-gateway-deployment'], 'e');
    }
    assert.equal(receivedBy('east', 'e'), before, 'nothing reached the drained target');
    assert.equal(await stateOf('west/e'), 'available');

    await page.click(`${row('east/e')} button[data-action="undrain"]`);
    await page.waitForSelector(`${row('east/e')} [data-state="available"]`);
    await page.waitForSelector(`${row('east/e')} button[data-action="drain"]`);
    for (let i = 0; i < 3; i++) assert.equal((await chat('pool')).headers['x-gateway-endpoint'], 'east');
    assert.equal(receivedBy('east', 'e'), before + 3, 'it serves again');
  });

  test('refusals, top consumers and the charts show the traffic', async () => {
    assert.equal((await chat('chat', 'sk-not-a-key-000000000000000')).status, 401);
    assert.equal((await chat('pool', KEY_LIMITED)).status, 200);
    assert.equal((await chat('pool', KEY_LIMITED)).status, 429, 'over its 1 request a minute');

    await page.waitForSelector('[data-refusal][data-reason="auth_failed"]');
    const limited = await page.waitForSelector('[data-refusal][data-reason="rate_limited"]');
    assert.match((await limited.textContent()) ?? '', /limited.*pool.*rate limited.*429/);

    const team = await page.waitForSelector('[data-consumer="team-a"]');
    const cells = await team.$$eval('td', (tds) => tds.map((td) => td.textContent ?? ''));
    assert.equal(cells[0], 'team-a');
    assert.ok(Number(cells[1].replace(/,/g, '')) >= 10, `team-a's requests: ${cells[1]}`);
    await page.waitForSelector('[data-consumer="limited"]');

    // Three series on the requests chart, one on the tokens chart; the
    // requests line rises above zero once the bucket with the traffic is drawn.
    assert.equal(await page.locator('[data-chart="requests"] polyline').count(), 3);
    assert.equal(await page.locator('[data-chart="tokens"] polyline').count(), 1);
    await page.waitForFunction(
      () => {
        const doc = (globalThis as unknown as { document: PageDocument }).document;
        const ys = (sel: string) => (doc.querySelector(sel)?.getAttribute('points') ?? '').split(' ').map((p: string) => Number(p.split(',')[1]));
        const rises = (ps: number[]) => ps.length > 1 && Math.min(...ps) < Math.max(...ps);
        return rises(ys('[data-chart="requests"] polyline[data-series="requests"]')) && rises(ys('[data-chart="tokens"] polyline'));
      },
      undefined,
      { timeout: 6000 },
    );
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });
});
