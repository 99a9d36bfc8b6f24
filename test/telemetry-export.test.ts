// Telemetry pushed out of the gateway after real traffic: OTLP/HTTP metrics
// and traces to a local receiver, and Azure Monitor envelopes to a local
// stand-in of the ingestion endpoint; spans per request and per attempt, and
// the attempt's span context as the traceparent upstream sees.
import assert from 'node:assert/strict';
import { subscribe } from 'node:diagnostics_channel';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  chatBody,
  defaultSimulator,
  KEY_A,
  KEY_B,
  startHarness,
  UPSTREAM_KEY_EAST,
  UPSTREAM_KEY_WEST,
  type Harness,
} from './helpers/harness.ts';
import { json, send } from './helpers/http.ts';
import { azureExporterOptions } from '../src/telemetry/telemetry.ts';

// Statsbeat (the Azure SDK's report on itself to Microsoft's hosts) is off
// by the gateway's default: the connection log below shows nothing leaves
// 127.0.0.1. Offline storage (only written when an export fails) goes under
// os.tmpdir(): a directory of this file's own.
const tmp = mkdtempSync(join(tmpdir(), 'aoaigw-telemetry-'));
process.env.TMPDIR = tmp;

// Every host this process opens an HTTP connection to (node:http/https: the
// exporters; undici: the gateway's upstream calls), to show none is remote.
const hosts = new Set<string>();
subscribe('http.client.request.created', (m) => hosts.add(String((m as { request: { host: string } }).request.host)));
subscribe('undici:client:beforeConnect', (m) => hosts.add(String((m as { connectParams: { hostname: string } }).connectParams.hostname)));

const OTLP_TOKEN = 'Bearer otlp-receiver-token-0001';
const IKEY = '00000000-0000-0000-0000-000000000000';
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const SECRETS = [KEY_A, KEY_B, UPSTREAM_KEY_EAST, UPSTREAM_KEY_WEST];
const CHAT = (deployment: string) => `/openai/deployments/${deployment}/chat/completions?api-version=2024-10-21`;
// OTLP span kinds (opentelemetry.proto.trace.v1.Span.SpanKind)
const SERVER = 2;
const CLIENT = 3;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  /** the body as text, decompressed */
  text: string;
}

/** A plain HTTP server that keeps every POST it gets and answers `answer`. */
async function receiver(answer: (path: string) => string): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
      got.push({ path: req.url ?? '', headers: req.headers, text });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(answer(req.url ?? ''));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, server };
}

function closeServer(s: Server): Promise<void> {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}

/** Flushes the gateway's exporters until `check` passes (a span ends on the response's close, just after the client has it). */
async function flushUntil<T>(h: Harness, check: () => T | undefined, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    await h.gw.telemetry.flush();
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('the export did not arrive in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- OTLP JSON, as the exporters send it (proto3 JSON mapping, ids in hex) ----

interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: KeyValue[];
  startTimeUnixNano: string;
}
interface DataPoint {
  attributes: KeyValue[];
  asInt?: number | string;
  asDouble?: number;
  sum?: number;
  count?: number | string;
}
interface OtlpMetric {
  name: string;
  sum?: { dataPoints: DataPoint[] };
  gauge?: { dataPoints: DataPoint[] };
  histogram?: { dataPoints: DataPoint[] };
}
interface Resource {
  attributes: KeyValue[];
}

function attrs(kvs: KeyValue[] | undefined): Record<string, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const { key, value } of kvs ?? []) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.doubleValue ?? value.boolValue;
  }
  return out;
}

function spans(got: Received[]): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  for (const r of got.filter((g) => g.path === '/v1/traces')) {
    const body = JSON.parse(r.text) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
    for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) out.push(...ss.spans);
  }
  return out;
}

/** The metrics of the newest export (cumulative: it holds everything so far) and its resource. */
function lastMetrics(got: Received[]): { resource: Resource; metrics: Map<string, OtlpMetric> } | undefined {
  const last = got.filter((g) => g.path === '/v1/metrics').at(-1);
  if (!last) return undefined;
  const body = JSON.parse(last.text) as { resourceMetrics: { resource: Resource; scopeMetrics: { metrics: OtlpMetric[] }[] }[] };
  const metrics = new Map<string, OtlpMetric>();
  for (const rm of body.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) metrics.set(m.name, m);
  return { resource: body.resourceMetrics[0].resource, metrics };
}

function points(m: OtlpMetric | undefined, where: Record<string, string>): DataPoint[] {
  const all = m?.sum?.dataPoints ?? m?.gauge?.dataPoints ?? m?.histogram?.dataPoints ?? [];
  return all.filter((p) => {
    const a = attrs(p.attributes);
    return Object.entries(where).every(([k, v]) => a[k] === v);
  });
}

const value = (p: DataPoint): number => Number(p.asInt ?? p.asDouble);
const traceparentOf = (s: OtlpSpan): string => `00-${s.traceId}-${s.spanId}-01`;

describe('OTLP/HTTP export', () => {
  let h: Harness;
  let otlp: Awaited<ReturnType<typeof receiver>>;

  before(async () => {
    otlp = await receiver(() => '{}');
    const simulator = defaultSimulator();
    simulator.accounts.east.deployments['gpt-4o-mini'] = { completionTokens: 5, tpm: 100_000 };
    // A pool of two targets on deployments of their own, so the failover's cooldown touches nothing else.
    simulator.accounts.east.deployments['pool-a'] = { completionTokens: 3 };
    simulator.accounts.west.deployments['pool-b'] = { completionTokens: 3 };
    h = await startHarness({
      simulator,
      patch: (raw) => {
        raw.deployments.pool = {
          targets: [
            { endpoint: 'east', deployment: 'pool-a', priority: 1 },
            { endpoint: 'west', deployment: 'pool-b', priority: 2 },
          ],
        };
        // A long interval: every export in this file is a flush the test asks for.
        raw.telemetry = { serviceName: 'gw-under-test', otlp: { endpoint: `${otlp.url}/`, headers: { authorization: OTLP_TOKEN }, intervalSeconds: 3600 } };
      },
    });
  });
  after(async () => {
    await h.close();
    await closeServer(otlp.server);
  });

  test('metrics arrive with the gateway\'s names, labels and counts, and the resource names the service', async () => {
    const usage = { input: 0, output: 0 };
    for (let i = 0; i < 3; i++) {
      const r = await send(h.url, CHAT('gpt-4o-mini'), { headers: json(KEY_B), body: chatBody({ messages: [{ role: 'user', content: `question number ${i}` }] }) });
      assert.equal(r.status, 200, r.text);
      const u = (r.json() as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
      usage.input += u.prompt_tokens;
      usage.output += u.completion_tokens;
    }
    const where = { consumer: 'team-b', deployment: 'gpt-4o-mini', endpoint: 'east' };
    const { resource, metrics } = await flushUntil(h, () => {
      const m = lastMetrics(otlp.got);
      return m && points(m.metrics.get('aoai_gateway_requests_total'), where).length ? m : undefined;
    });

    assert.equal(attrs(resource.attributes)['service.name'], 'gw-under-test');
    const requests = points(metrics.get('aoai_gateway_requests_total'), where);
    assert.deepEqual(requests.map((p) => [attrs(p.attributes).status, value(p)]), [['200', 3]]);

    const tokens = metrics.get('gen_ai.client.token.usage');
    assert.ok(tokens?.histogram, 'gen_ai.client.token.usage is a histogram');
    const input = points(tokens, { ...where, 'gen_ai.token.type': 'input' });
    const output = points(tokens, { ...where, 'gen_ai.token.type': 'output' });
    assert.equal(input.length, 1);
    assert.equal(output.length, 1);
    assert.ok(usage.input > 0 && usage.output === 15, JSON.stringify(usage));
    assert.deepEqual([input[0].sum, Number(input[0].count)], [usage.input, 3]);
    assert.deepEqual([output[0].sum, Number(output[0].count)], [usage.output, 3]);
    assert.equal(attrs(input[0].attributes)['gen_ai.operation.name'], 'chat');

    const remaining = points(metrics.get('reverseproxy_azure_openai_remaining_tokens'), { account_name: 'east', deployment_name: 'gpt-4o-mini' });
    assert.equal(remaining.length, 1);
    assert.ok(value(remaining[0]) > 0 && value(remaining[0]) < 100_000, `remaining tokens ${value(remaining[0])}`);

    const metricPosts = otlp.got.filter((g) => g.path === '/v1/metrics');
    assert.ok(metricPosts.every((g) => g.headers.authorization === OTLP_TOKEN && g.headers['content-type'] === 'application/json'));
  });

  test('a client\'s traceparent: its trace continues in the request span, whose attempt span is the parent upstream sees', async () => {
    const r = await send(h.url, CHAT('gpt-4o'), { headers: json(KEY_A, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` }), body: chatBody() });
    assert.equal(r.status, 200, r.text);
    const upstream = h.sim.account('east').received.at(-1)!;

    const [request, attempt] = await flushUntil(h, () => {
      const mine = spans(otlp.got).filter((s) => s.traceId === CLIENT_TRACE);
      const server = mine.find((s) => s.kind === SERVER);
      const client = mine.find((s) => s.kind === CLIENT);
      return server && client ? [server, client] : undefined;
    });
    assert.equal(request.parentSpanId, CLIENT_SPAN, 'the request span is a child of the client\'s span');
    assert.equal(request.name, 'POST gpt-4o');
    assert.equal(attempt.parentSpanId, request.spanId, 'the attempt span is a child of the request span');
    assert.equal(upstream.headers.traceparent, traceparentOf(attempt), 'upstream sees the attempt span as its parent');
    assert.equal(r.headers.traceparent, traceparentOf(request), 'the client gets the request span back');

    const ra = attrs(request.attributes);
    assert.equal(ra['http.response.status_code'], 200);
    assert.equal(ra['aoai.consumer'], 'team-a');
    assert.equal(ra['gen_ai.request.model'], 'gpt-4o');
    assert.equal(ra['aoai.attempts'], 1);
    const aa = attrs(attempt.attributes);
    assert.equal(aa['aoai.endpoint'], 'east');
    assert.match(String(aa['aoai.target']), /east/);
    assert.equal(aa['aoai.attempt'], 1);
    assert.equal(aa['http.response.status_code'], 200);
    assert.equal(aa['aoai.retry_reason'], undefined);
    assert.ok(otlp.got.filter((g) => g.path === '/v1/traces').every((g) => g.headers.authorization === OTLP_TOKEN));
  });

  test('a failover after a 429: two attempt spans under one request span, the second saying why it retried', async () => {
    h.sim.account('east').setFault('pool-a', 'status=429;retry-after-ms=1500');
    let r;
    try {
      r = await send(h.url, CHAT('pool'), { headers: json(KEY_A), body: chatBody() });
    } finally {
      h.sim.account('east').setFault('pool-a', undefined);
    }
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-gateway-attempts'], '2');
    const traceId = String(r.headers.traceparent).split('-')[1];

    const { request, attempts } = await flushUntil(h, () => {
      const mine = spans(otlp.got).filter((s) => s.traceId === traceId);
      const request = mine.find((s) => s.kind === SERVER);
      const attempts = mine.filter((s) => s.kind === CLIENT).sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
      return request && attempts.length === 2 ? { request, attempts } : undefined;
    });
    assert.ok(!request.parentSpanId, 'no client trace: the request span is a root');
    assert.deepEqual(
      attempts.map((s) => {
        const a = attrs(s.attributes);
        return [s.parentSpanId, a['aoai.endpoint'], a['aoai.attempt'], a['http.response.status_code'], a['aoai.retry_reason']];
      }),
      [
        [request.spanId, 'east', 1, 429, undefined],
        [request.spanId, 'west', 2, 200, '429'],
      ],
    );
    assert.notEqual(attrs(attempts[0].attributes)['aoai.target'], attrs(attempts[1].attributes)['aoai.target']);
    assert.equal(h.sim.account('east').received.at(-1)!.headers.traceparent, traceparentOf(attempts[0]));
    assert.equal(h.sim.account('west').received.at(-1)!.headers.traceparent, traceparentOf(attempts[1]));
    assert.equal(r.headers.traceparent, traceparentOf(request));
  });

  test('no traceparent from the client: a new trace, still passed upstream and returned', async () => {
    const r = await send(h.url, CHAT('gpt-4o'), { headers: json(KEY_A), body: chatBody() });
    assert.equal(r.status, 200, r.text);
    const [, traceId, spanId] = String(r.headers.traceparent).split('-');
    assert.notEqual(traceId, CLIENT_TRACE);
    const upstream = h.sim.account('east').received.at(-1)!;

    const [request, attempt] = await flushUntil(h, () => {
      const mine = spans(otlp.got).filter((s) => s.traceId === traceId);
      const server = mine.find((s) => s.kind === SERVER);
      const client = mine.find((s) => s.kind === CLIENT);
      return server && client ? [server, client] : undefined;
    });
    assert.equal(request.spanId, spanId);
    assert.ok(!request.parentSpanId);
    assert.equal(attempt.parentSpanId, request.spanId);
    assert.equal(upstream.headers.traceparent, traceparentOf(attempt));
  });

  test('a trace the client did not sample: propagated unsampled, nothing exported for it', async () => {
    const traceId = 'aaaabbbbccccddddeeeeffff00001111';
    const r = await send(h.url, CHAT('gpt-4o'), { headers: json(KEY_A, { traceparent: `00-${traceId}-${CLIENT_SPAN}-00` }), body: chatBody() });
    assert.equal(r.status, 200, r.text);
    const [, returned, spanId, flags] = String(r.headers.traceparent).split('-');
    assert.deepEqual([returned, flags], [traceId, '00']);
    assert.notEqual(spanId, CLIENT_SPAN);
    const [, upTrace, , upFlags] = String(h.sim.account('east').received.at(-1)!.headers.traceparent).split('-');
    assert.deepEqual([upTrace, upFlags], [traceId, '00']);
    await h.gw.telemetry.flush();
    assert.deepEqual(spans(otlp.got).filter((s) => s.traceId === traceId), []);
  });

  test('no consumer key and no upstream key in anything exported', () => {
    assert.ok(otlp.got.length > 0);
    for (const g of otlp.got) {
      for (const secret of SECRETS) assert.ok(!g.text.includes(secret), `${g.path} carries ${secret}`);
    }
  });
});

test('traceSampleRatio: 0 records no new trace, yet a client\'s sampled trace is still recorded', async () => {
  const otlp = await receiver(() => '{}');
  const h = await startHarness({
    patch: (raw) => (raw.telemetry = { traceSampleRatio: 0, otlp: { endpoint: otlp.url, intervalSeconds: 3600, metrics: false } }),
  });
  try {
    const fresh = await send(h.url, CHAT('gpt-4o'), { headers: json(KEY_A), body: chatBody() });
    const [, freshTrace, , freshFlags] = String(fresh.headers.traceparent).split('-');
    assert.equal(freshFlags, '00', 'not sampled');
    assert.equal(String(h.sim.account('east').received.at(-1)!.headers.traceparent).split('-')[3], '00', 'and upstream is told so');
    const theirs = await send(h.url, CHAT('gpt-4o'), { headers: json(KEY_A, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` }), body: chatBody() });
    assert.equal(theirs.status, 200);
    const mine = await flushUntil(h, () => {
      const s = spans(otlp.got);
      return s.some((x) => x.traceId === CLIENT_TRACE && x.kind === CLIENT) ? s : undefined;
    });
    assert.deepEqual(mine.filter((x) => x.traceId === freshTrace), []);
  } finally {
    await h.close();
    await closeServer(otlp.server);
  }
});

describe('Azure Monitor export', () => {
  test('only a loopback ingestion endpoint may be plain http; any other keeps the SDK\'s upgrade to https', () => {
    const cs = (endpoint: string) => `InstrumentationKey=${IKEY};IngestionEndpoint=${endpoint}`;
    assert.deepEqual(azureExporterOptions(cs('http://127.0.0.1:4319/')), { connectionString: cs('http://127.0.0.1:4319/'), host: 'http://127.0.0.1:4319', allowInsecureConnection: true });
    assert.equal(azureExporterOptions(cs('http://localhost:8080/ingest/')).host, 'http://localhost:8080/ingest');
    for (const endpoint of ['https://westeurope-5.in.applicationinsights.azure.com/', 'http://westeurope-5.in.applicationinsights.azure.com/', 'http://10.0.0.7/', 'not a url']) {
      assert.deepEqual(azureExporterOptions(cs(endpoint)), { connectionString: cs(endpoint) }, endpoint);
    }
    assert.deepEqual(azureExporterOptions(`InstrumentationKey=${IKEY}`), { connectionString: `InstrumentationKey=${IKEY}` });
  });

  test('a local stand-in of the ingestion endpoint gets requests, dependencies and the gateway\'s metrics, with the instrumentation key', async () => {
    const standIn = await receiver(() => JSON.stringify({ itemsReceived: 0, itemsAccepted: 0, errors: [] }));
    const h = await startHarness({
      patch: (raw) => {
        raw.telemetry = {
          azureMonitor: { connectionString: `InstrumentationKey=${IKEY};IngestionEndpoint=${standIn.url}/`, intervalSeconds: 3600 },
        };
      },
    });
    try {
      const r = await send(h.url, CHAT('gpt-4o'), { headers: json(KEY_A, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` }), body: chatBody() });
      assert.equal(r.status, 200, r.text);

      interface Envelope {
        name: string;
        iKey: string;
        tags: Record<string, string>;
        data: { baseType: string; baseData: { id?: string; name?: string; responseCode?: string; resultCode?: string; metrics?: { name: string; value: number }[] } };
      }
      const envelopes = (): Envelope[] => standIn.got.flatMap((g) => JSON.parse(g.text) as Envelope[]);
      const all = await flushUntil(h, () => {
        const e = envelopes();
        const types = new Set(e.map((x) => x.data.baseType));
        const names = new Set(e.flatMap((x) => x.data.baseData.metrics?.map((m) => m.name) ?? []));
        return types.has('RequestData') && types.has('RemoteDependencyData') && names.has('aoai_gateway_requests_total') ? e : undefined;
      });

      assert.ok(standIn.got.every((g) => /\/v2(\.1)?\/track$/.test(g.path)), standIn.got.map((g) => g.path).join(' '));
      assert.ok(all.every((e) => e.iKey === IKEY));
      const request = all.find((e) => e.data.baseType === 'RequestData')!;
      const dependency = all.find((e) => e.data.baseType === 'RemoteDependencyData')!;
      assert.equal(request.tags['ai.operation.id'], CLIENT_TRACE);
      assert.equal(request.tags['ai.operation.parentId'], CLIENT_SPAN);
      assert.equal(request.data.baseData.responseCode, '200');
      assert.equal(dependency.tags['ai.operation.id'], CLIENT_TRACE);
      assert.equal(dependency.tags['ai.operation.parentId'], request.data.baseData.id);
      assert.equal(h.sim.account('east').received.at(-1)!.headers.traceparent, `00-${CLIENT_TRACE}-${dependency.data.baseData.id}-01`);
      const names = new Set(all.flatMap((e) => e.data.baseData.metrics?.map((m) => m.name) ?? []));
      for (const n of ['aoai_gateway_requests_total', 'gen_ai.client.token.usage', 'reverseproxy_azure_openai_remaining_tokens']) assert.ok(names.has(n), n);
      for (const g of standIn.got) for (const secret of SECRETS) assert.ok(!g.text.includes(secret), `the stand-in got ${secret}`);
    } finally {
      await h.close();
      await closeServer(standIn.server);
    }
    // The SDK's poll of its settings service (settings.sdk.monitor.azure.com, 5–15 s after start) ends with the gateway.
    const settings = (await import(new URL('./_configuration/configurationManager.js', import.meta.resolve('@azure/monitor-opentelemetry-exporter')).href)) as {
      ConfigurationManager: { getInstance(): { worker: unknown } };
    };
    assert.equal(settings.ConfigurationManager.getInstance().worker, undefined);
  });
});

after(() => {
  assert.deepEqual([...hosts], ['127.0.0.1'], 'every connection stayed on 127.0.0.1');
  // Every export succeeded: nothing was kept for a later retry.
  const persisted = readdirSync(tmp, { recursive: true }).filter((f) => String(f).endsWith('.ai.json'));
  assert.deepEqual(persisted, []);
  rmSync(tmp, { recursive: true, force: true });
});
