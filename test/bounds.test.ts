// Every size and time has a bound: body size, connect, first byte, stream
// idle and total time; a client that leaves takes its upstream request along.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { chatBody, eventually, KEY_A, startHarness, startSingle, type Harness } from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';

const CHAT = '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21';

describe('body size', () => {
  let h: Harness;
  before(async () => (h = await startHarness({ patch: (raw) => (raw.listen.maxBodyBytes = 4096) })));
  after(() => h.close());

  test('a declared length over the limit gets 413 before the body is read', async () => {
    const r = await send(h.url, CHAT, { headers: json(KEY_A), body: chatBody({ pad: 'x'.repeat(5000) }) });
    assert.equal(r.status, 413);
    assert.equal(r.json().error.code, 'body_too_large');
  });

  test('a chunked body that grows over the limit gets 413', async () => {
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(`${h.url}${CHAT}`, { method: 'POST', headers: json(KEY_A) }, resolve);
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(1000));
      req.end();
    });
    assert.equal(res.statusCode, 413);
    res.resume();
  });

  test('a client that sends its request too slowly is cut off after requestTimeoutMs', async () => {
    const h2 = await startSingle({}, (raw) => (raw.listen.requestTimeoutMs = 1000));
    try {
      const sock = connect(h2.gw.port, '127.0.0.1');
      await once(sock, 'connect');
      sock.write(`POST ${CHAT} HTTP/1.1\r\nhost: x\r\napi-key: ${KEY_A}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"mess`);
      let answer = '';
      sock.on('data', (c: Buffer) => (answer += c.toString()));
      await once(sock, 'close');
      assert.match(answer, /^HTTP\/1\.1 408/);
    } finally {
      await h2.close();
    }
  });

  test('connections over listen.maxConnections are closed as they arrive; those within are served', async () => {
    const h2 = await startSingle({}, (raw) => (raw.listen.maxConnections = 2));
    const open: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const sock = connect(h2.gw.port, '127.0.0.1');
        await once(sock, 'connect');
        open.push(sock);
      }
      await new Promise((r) => setTimeout(r, 50));
      const third = connect(h2.gw.port, '127.0.0.1');
      third.on('error', () => {});
      third.write(`GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n`);
      let answer = '';
      third.on('data', (c: Buffer) => (answer += c.toString()));
      await once(third, 'close');
      assert.equal(answer, '', 'closed without an answer');
      open[0].write(`GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n`);
      const [first] = await once(open[0], 'data');
      assert.match(String(first), /^HTTP\/1\.1 200/);
    } finally {
      for (const s of open) s.destroy();
      await h2.close();
    }
  });

  test('a body within the limit passes', async () => {
    assert.equal((await send(h.url, CHAT, { headers: json(KEY_A), body: chatBody({ pad: 'x'.repeat(3000) }) })).status, 200);
  });
});

describe('upstream timeouts', () => {
  let h: Harness;
  before(
    async () =>
      (h = await startSingle({ completionTokens: 20, latency: { baseMs: 0, perTokenMs: 150 } }, (raw) => {
        raw.resilience = { timeouts: { connectMs: 300, firstByteMs: 400, idleStreamMs: 1000, totalMs: 1500 } };
      })),
  );
  after(() => h.close());

  test('no first byte within firstByteMs: 504, and the upstream request is dropped', async () => {
    const t0 = Date.now();
    const r = await send(h.url, CHAT, { headers: json(KEY_A, { 'x-sim-fault': 'hang' }), body: chatBody() });
    assert.equal(r.status, 504);
    assert.equal(r.json().error.code, 'upstream_timeout');
    assert.equal(r.headers['x-gateway-endpoint'], 'east');
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    await eventually(() => h.sim.account('east').stats('gpt4o-ptu').aborted === 1);
  });

  test('a stream idle for longer than idleStreamMs ends with an SSE error event', async () => {
    h.sim.account('east').deployments.get('gpt4o-ptu')!.cfg.latency.perTokenMs = 1300;
    try {
      const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
      const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
      await assert.rejects(
        (async () => {
          for await (const _ of stream);
        })(),
        (err: Error) => err instanceof OpenAI.APIError && /upstream_stream_timeout/.test(JSON.stringify(err.error)),
      );
    } finally {
      h.sim.account('east').deployments.get('gpt4o-ptu')!.cfg.latency.perTokenMs = 150;
    }
  });

  test('a stream longer than totalMs is cut with an error event the SDK raises', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const t0 = Date.now();
    let text = '';
    await assert.rejects(async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    }, OpenAI.APIError);
    assert.ok(text.length > 0, 'part of the answer arrived first');
    assert.ok(Date.now() - t0 < 5000);
  });

  test('an endpoint that does not accept the connection: 502 after connectMs', async () => {
    // A process that listens but never accepts: once its backlog is full, SYNs go unanswered.
    const hole = spawn(process.execPath, [
      '--input-type=module',
      '-e',
      `import net from 'node:net';
       const s = net.createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000);
       });`,
    ]);
    const fillers: Socket[] = [];
    try {
      const [line] = (await once(hole.stdout!, 'data')) as [Buffer];
      const port = Number(line.toString().trim());
      for (let i = 0; i < 3; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => {}));
      await new Promise((r) => setTimeout(r, 200));
      const h2 = await startHarness({
        patch: (raw) => {
          raw.endpoints.hole = { url: `http://127.0.0.1:${port}`, auth: { type: 'api-key', key: 'k' } };
          raw.deployments['gpt-4o'] = { targets: [{ endpoint: 'hole', deployment: 'x' }] };
          raw.resilience = { timeouts: { connectMs: 300 } };
        },
      });
      try {
        const t0 = Date.now();
        const r = await send(h2.url, CHAT, { headers: json(KEY_A), body: chatBody() });
        assert.equal(r.status, 502);
        assert.equal(r.json().error.code, 'upstream_unreachable');
        assert.match(r.json().error.message, /UND_ERR_CONNECT_TIMEOUT/);
        assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
      } finally {
        await h2.close();
      }
    } finally {
      for (const s of fillers) s.destroy();
      hole.kill('SIGKILL');
    }
  });

  test('a refused connection: 502 upstream_unreachable', async () => {
    const h2 = await startHarness({
      patch: (raw) => {
        raw.endpoints.gone = { url: 'http://127.0.0.1:1', auth: { type: 'api-key', key: 'k' } };
        raw.deployments['gpt-4o'] = { targets: [{ endpoint: 'gone', deployment: 'x' }] };
      },
    });
    try {
      const r = await send(h2.url, CHAT, { headers: json(KEY_A), body: chatBody() });
      assert.equal(r.status, 502);
      assert.equal(r.json().error.code, 'upstream_unreachable');
      assert.equal(r.headers['x-gateway-attempts'], '1');
    } finally {
      await h2.close();
    }
  });
});

describe('client disconnect', () => {
  let h: Harness;
  before(
    async () =>
      (h = await startSingle({ completionTokens: 50, latency: { baseMs: 0, perTokenMs: 50 } })),
  );
  after(() => h.close());

  test('a client that leaves mid-stream aborts the upstream request', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let n = 0;
    for await (const _ of stream) if (++n === 3) break; // break aborts the SDK's request
    await eventually(() => h.sim.account('east').stats('gpt4o-ptu').aborted === 1);
    await eventually(() => h.log.access().some((l) => l.status === 200 && l.stream === true));
  });

  test('a client that leaves before the answer aborts the upstream request', async () => {
    const ac = new AbortController();
    const p = fetch(`${h.url}${CHAT}`, { method: 'POST', headers: json(KEY_A, { 'x-sim-fault': 'hang' }), body: chatBody(), signal: ac.signal });
    await eventually(() => h.sim.account('east').received.at(-1)?.headers['x-sim-fault'] === 'hang');
    ac.abort();
    await assert.rejects(p);
    await eventually(() => h.sim.account('east').stats('gpt4o-ptu').aborted === 2);
    await eventually(() => h.log.access().some((l) => l.status === 499));
  });
});

describe('shutdown', () => {
  let h: Harness;
  before(
    async () =>
      (h = await startSingle({ completionTokens: 8, latency: { baseMs: 0, perTokenMs: 100 } })),
  );
  after(() => h.close());

  async function startServe(graceMs: number): Promise<{ proc: ChildProcess; url: string; output: () => string }> {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/aoaigw-`);
    writeFileSync(
      `${dir}/gw.yaml`,
      `listen: { host: 127.0.0.1, port: 0, shutdownGraceMs: ${graceMs} }
admin: { port: 0 }
ledger: { url: "sqlite:${dir}/ledger.db" }
endpoints:
  east: { url: ${h.sim.account('east').url}, auth: { type: api-key, key: any-key } }
deployments:
  gpt-4o: { targets: [ { endpoint: east, deployment: gpt4o-ptu } ] }
consumers:
  a: { keys: [ ${KEY_A} ], deployments: ['*'] }
`,
    );
    const proc = spawn(process.execPath, ['bin/aoai-gateway.js', 'serve', '--config', `${dir}/gw.yaml`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    await eventually(() => /"url":"(http:[^"]+)"/.test(out), 10_000);
    return { proc, url: /"url":"(http:[^"]+)"/.exec(out)![1], output: () => out };
  }

  test('health and readiness answer without a key', async () => {
    const hz = await send(h.url, '/healthz');
    assert.equal(hz.status, 200);
    assert.deepEqual(hz.json(), { status: 'ok' });
    assert.equal((await send(h.url, '/readyz')).status, 200);
  });

  test('SIGTERM: new connections are refused, an in-flight stream finishes whole, the process exits 0', async () => {
    const { proc, url } = await startServe(10_000);
    const client = new OpenAI({ baseURL: `${url}/openai/v1`, apiKey: KEY_A, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const exited = once(proc, 'exit');
    let text = '';
    let signalled = false;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      if (!signalled) {
        proc.kill('SIGTERM');
        signalled = true;
        await new Promise((r) => setTimeout(r, 100));
        await assert.rejects(fetch(`${url}/healthz`));
      }
    }
    assert.equal(text, 'lorem ipsum dolor sit amet consectetur adipiscing elit');
    const [code] = (await exited) as [number];
    assert.equal(code, 0);
  });

  test('SIGTERM with a request that never ends: closed after shutdownGraceMs', async () => {
    const { proc, url } = await startServe(300);
    const pending = send(url, CHAT, { headers: json(KEY_A, { 'x-sim-fault': 'hang' }), body: chatBody() }).catch((e: Error) => e);
    await eventually(() => h.sim.account('east').received.at(-1)?.headers['x-sim-fault'] === 'hang');
    const t0 = Date.now();
    proc.kill('SIGTERM');
    const [code] = (await once(proc, 'exit')) as [number];
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
    assert.ok((await pending) instanceof Error, 'the hanging request was cut');
  });
});
