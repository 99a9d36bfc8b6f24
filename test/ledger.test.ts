// The ledger on SQLite and on the machine's PostgreSQL: the same behaviour
// from both, migrations, batching, the shutdown flush, and outages that lose
// no record that fit the buffer.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { Ledger, LEDGER_DROPPED, LEDGER_UP } from '../src/ledger/ledger.ts';
import { PostgresLedger } from '../src/ledger/postgres.ts';
import type { LedgerBackend, UsageRecord } from '../src/ledger/records.ts';
import { SqliteLedger } from '../src/ledger/sqlite.ts';
import { MetricsRecorder } from './helpers/metrics-recorder.ts';
import { chatBody, eventually, KEY_A, startSingle } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';
import { PG_URL, tempSchema } from './helpers/pg.ts';
import { TcpProxy } from './helpers/tcp-proxy.ts';

const T = Date.UTC(2026, 10, 21, 12);
let n = 0;
function usage(o: Partial<UsageRecord> = {}): UsageRecord {
  return {
    id: `rec-${n++}`,
    time: T,
    requestId: `req-${n}`,
    consumer: 'team-a',
    deployment: 'gpt-4o',
    endpoint: 'eastus',
    upstreamDeployment: 'gpt4o-ptu',
    model: 'gpt-4o-2024-08-06',
    promptTokens: 10,
    completionTokens: 5,
    cachedTokens: 2,
    reasoningTokens: 0,
    totalTokens: 15,
    usageKnown: true,
    status: 200,
    attempts: 1,
    latencyMs: 12.5,
    ttfbMs: 10.25,
    user: 'u-1',
    stream: false,
    clientIp: '127.0.0.1',
    ...o,
  };
}

const schemas: { drop(): Promise<void> }[] = [];
after(async () => {
  for (const s of schemas) await s.drop();
});

async function pgBackend(): Promise<PostgresLedger> {
  const schema = await tempSchema();
  schemas.push(schema);
  return new PostgresLedger(schema.url());
}

const backends: [string, () => Promise<LedgerBackend>][] = [
  ['sqlite', async () => new SqliteLedger(':memory:')],
  ['postgres', pgBackend],
];

for (const [name, make] of backends) {
  describe(`ledger backend: ${name}`, () => {
    test('records, sums and groups usage; a record written twice counts once', async () => {
      const b = await make();
      try {
        await b.migrate();
        await b.migrate();
        const twice = usage();
        await b.insertUsage([twice, usage({ consumer: 'team-b', deployment: 'gpt-4o-mini', totalTokens: 100, promptTokens: 60, completionTokens: 40, status: 429 })]);
        await b.insertUsage([twice, usage({ time: T - 3_600_000 })]);
        assert.equal(await b.tokensSince('team-a', T - 1), 15);
        assert.equal(await b.tokensSince('team-a', 0), 30);
        const rows = await b.usage('consumer', T - 1);
        assert.deepEqual(
          rows.map((r) => [r.group, r.requests, r.errors, r.totalTokens, r.cachedTokens]),
          [
            ['team-a', 1, 0, 15, 2],
            ['team-b', 1, 1, 100, 2],
          ],
        );
        assert.deepEqual((await b.usage('deployment', 0)).map((r) => [r.group, r.requests]), [['gpt-4o', 2], ['gpt-4o-mini', 1]]);
      } finally {
        await b.close();
      }
    });

    test('audit records and keys', async () => {
      const b = await make();
      try {
        await b.migrate();
        await b.insertAudit([{ id: 'a1', time: T, requestId: 'r1', consumer: 'team-a', kind: 'user_required', detail: { deployment: 'gpt-4o' }, clientIp: '10.0.0.1' }]);
        const audit = await b.audit(0);
        assert.deepEqual(audit[0], { id: 'a1', time: T, requestId: 'r1', consumer: 'team-a', kind: 'user_required', detail: { deployment: 'gpt-4o' }, clientIp: '10.0.0.1' });
        await b.createKey({ id: 'k1', consumer: 'team-a', hash: 'ab'.repeat(32), prefix: 'aoai-abcdefg', createdAt: T, expiresAt: T + 1000, revokedAt: undefined });
        assert.equal((await b.keys())[0].expiresAt, T + 1000);
        assert.equal(await b.revokeKey('aoai-abcdefg', T + 5), 1);
        assert.equal(await b.revokeKey('k1', T + 6), 0, 'already revoked');
        assert.equal((await b.keys())[0].revokedAt, T + 5);
      } finally {
        await b.close();
      }
    });
  });
}

test('migrations are versioned: a database at the current version is left alone', async () => {
  const dir = mkdtempSync(`${tmpdir()}/aoaigw-ledger-`);
  const first = new SqliteLedger(`${dir}/l.db`);
  await first.insertUsage([usage()]);
  await first.close();
  const again = new SqliteLedger(`${dir}/l.db`);
  assert.equal(await again.tokensSince('team-a', 0), 15, 'the data survived the second start');
  assert.deepEqual(again.db.prepare('SELECT version FROM aoaigw_schema_version').all().map((r) => r.version), [1, 2]);
  await again.close();
});

describe('the writer', () => {
  test('queues without waiting, writes in batches', async () => {
    const l = new Ledger(new SqliteLedger(':memory:'), { flushMs: 50, batchSize: 10 });
    for (let i = 0; i < 25; i++) l.usage(usage());
    assert.equal(l.pending, 25);
    await eventually(() => l.pending === 0);
    assert.equal(await l.backend.tokensSince('team-a', 0), 25 * 15);
    await l.close();
  });

  test('SQLite locked by another writer: records wait, none is lost', async () => {
    const dir = mkdtempSync(`${tmpdir()}/aoaigw-ledger-`);
    const metrics = new MetricsRecorder();
    const l = new Ledger(new SqliteLedger(`${dir}/l.db`), { flushMs: 20, metrics });
    const other = new DatabaseSync(`${dir}/l.db`);
    other.exec('BEGIN IMMEDIATE');
    for (let i = 0; i < 40; i++) l.usage(usage());
    await eventually(() => metrics.value(LEDGER_UP) === 0);
    assert.equal(l.pending, 40);
    other.exec('COMMIT');
    other.close();
    await eventually(() => l.pending === 0, 8000);
    assert.equal(metrics.value(LEDGER_UP), 1);
    assert.equal(await l.backend.tokensSince('team-a', 0), 40 * 15);
    await l.close();
  });

  test('full buffer while the database is away: new records are dropped, counted and logged once', async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: 5432 });
    const schema = await tempSchema();
    schemas.push(schema);
    const metrics = new MetricsRecorder();
    const logged: string[] = [];
    const logger = { error: (_o: unknown, msg: string) => logged.push(msg), info: () => {}, warn: () => {} } as never;
    const l = new Ledger(new PostgresLedger(schema.url(PG_URL.replace(':5432', `:${proxy.port}`))), { flushMs: 20, maxPending: 100, metrics, logger });
    try {
      await proxy.cut();
      for (let i = 0; i < 130; i++) l.usage(usage());
      assert.equal(l.pending, 100);
      assert.equal(l.dropped, 30);
      assert.equal(metrics.value(LEDGER_DROPPED, { kind: 'usage' }), 30);
      assert.equal(logged.filter((m) => /buffer is full/.test(m)).length, 1);
      await proxy.restore();
      await eventually(() => l.pending === 0, 10_000);
      assert.equal(await l.backend.tokensSince('team-a', 0), 100 * 15);
    } finally {
      await l.close(1000);
      await proxy.close();
    }
  });
});

test('PostgreSQL killed mid-run behind a serving gateway: every record that fit the buffer is written', async () => {
  const proxy = await TcpProxy.start({ host: '127.0.0.1', port: 5432 });
  const schema = await tempSchema();
  schemas.push(schema);
  const h = await startSingle({ completionTokens: 3 }, (raw) => {
    raw.ledger = { url: schema.url(PG_URL.replace(':5432', `:${proxy.port}`)) };
  });
  const CHAT = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';
  try {
    for (let i = 0; i < 20; i++) assert.equal((await send(h.url, CHAT, { headers: json(KEY_A), body: chatBody() })).status, 200);
    await proxy.cut();
    for (let i = 0; i < 30; i++) assert.equal((await send(h.url, CHAT, { headers: json(KEY_A), body: chatBody() })).status, 200, 'serving goes on');
    await eventually(() => h.gw.metrics.value(LEDGER_UP) === 0, 5000);
    await proxy.restore();
    await eventually(() => h.gw.ledger.pending === 0 && h.gw.metrics.value(LEDGER_UP) === 1, 15_000);
    const rows = await h.gw.ledger.backend.usage('consumer', 0);
    assert.equal(rows.reduce((s, r) => s + r.requests, 0), 50);
  } finally {
    await h.close();
    await proxy.close();
  }
});

test('SIGTERM writes the queued records before the process exits', async () => {
  const h = await startSingle({ completionTokens: 3 });
  const dir = mkdtempSync(`${tmpdir()}/aoaigw-ledger-`);
  writeFileSync(
    `${dir}/gw.yaml`,
    `listen: { host: 127.0.0.1, port: 0 }
admin: { port: 0 }
ledger: { url: "sqlite:${dir}/ledger.db" }
endpoints: { east: { url: ${h.sim.account('east').url}, auth: { type: api-key, key: k } } }
deployments: { gpt-4o: { targets: [ { endpoint: east, deployment: gpt4o-ptu } ] } }
consumers: { a: { keys: [ ${KEY_A} ], deployments: ['*'] } }
`,
  );
  const proc = spawn(process.execPath, ['bin/aoai-gateway.js', 'serve', '--config', `${dir}/gw.yaml`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await eventually(() => /"url":"(http:[^"]+)"/.test(out), 10_000);
    const url = /"url":"(http:[^"]+)"/.exec(out)![1];
    await Promise.all(Array.from({ length: 25 }, () => send(url, '/openai/deployments/gpt-4o/chat/completions', { headers: json(KEY_A), body: chatBody() })));
    proc.kill('SIGTERM');
    const [code] = (await once(proc, 'exit')) as [number];
    assert.equal(code, 0);
    const db = new DatabaseSync(`${dir}/ledger.db`);
    assert.equal(db.prepare('SELECT COUNT(*) AS n FROM usage_records').get()?.n, 25);
    db.close();
  } finally {
    proc.kill('SIGKILL');
    await h.close();
  }
});
