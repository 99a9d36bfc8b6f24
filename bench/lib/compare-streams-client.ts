// Child process of bench/lib/compare-streams.ts: opens `count` streaming
// requests, evenly over `rampMs`, each on its own connection, and reads
// them to the end; every chunk's relay latency is its arrival time minus the
// send time the backend wrote into it (`@<ms>@`, same machine, same clock).
// Reports the number of open streams every second and the result at the end.
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Histogram } from './compare-histogram.ts';

export interface StreamsClientOptions {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  count: number;
  rampMs: number;
  /** content chunks each stream must carry */
  chunks: number;
  /** a stream not done by then fails */
  timeoutMs: number;
}

export interface StreamsClientResult {
  ok: number;
  failed: number;
  /** first few reasons */
  reasons: string[];
  chunks: number;
  latency: ReturnType<Histogram['toJSON']>;
}

const o = JSON.parse(process.argv[2]) as StreamsClientOptions;
const STAMP = /@(\d+\.\d+)@/g;
const latency = new Histogram();
let active = 0;
let ok = 0;
let failed = 0;
let chunks = 0;
const reasons = new Map<string, number>();
const fail = (why: string) => {
  failed++;
  reasons.set(why, (reasons.get(why) ?? 0) + 1);
};

function one(): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (why?: string) => {
      if (settled) return;
      settled = true;
      active--;
      clearTimeout(timer);
      if (why) fail(why);
      else ok++;
      resolve();
    };
    active++;
    const req = request(`${o.url}${o.path}`, { method: 'POST', headers: { ...o.headers, 'content-length': Buffer.byteLength(o.body) }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return done(`status ${res.statusCode}`);
      }
      let seen = 0;
      let tail = '';
      let sawDone = false;
      res.setEncoding('latin1');
      res.on('data', (s: string) => {
        const at = performance.timeOrigin + performance.now();
        const text = tail + s;
        // a stamp cut in two by the chunking is completed by the next read
        const cut = text.lastIndexOf('\n');
        const whole = cut === -1 ? '' : text.slice(0, cut + 1);
        tail = cut === -1 ? text : text.slice(cut + 1);
        for (const m of whole.matchAll(STAMP)) {
          latency.add(at - Number(m[1]));
          seen++;
          chunks++;
        }
        if (whole.includes('data: [DONE]')) sawDone = true;
      });
      res.on('end', () => done(seen === o.chunks && sawDone ? undefined : `ended after ${seen} of ${o.chunks} chunks${sawDone ? '' : ', no [DONE]'}`));
      res.on('error', (err) => done(`response error: ${err.message}`));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done('timed out');
    }, o.timeoutMs);
    req.on('error', (err) => done(`request error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    req.end(o.body);
  });
}

const ticker = setInterval(() => process.send?.({ type: 'active', active }), 1000);
const all: Promise<void>[] = [];
const start = performance.now();
for (let i = 0; i < o.count; i++) {
  const due = (i * o.rampMs) / o.count - (performance.now() - start);
  if (due > 1) await new Promise((r) => setTimeout(r, due));
  all.push(one());
}
await Promise.all(all);
clearInterval(ticker);
const result: StreamsClientResult = {
  ok,
  failed,
  reasons: [...reasons].slice(0, 5).map(([why, n]) => `${why} (${n})`),
  chunks,
  latency: latency.toJSON(),
};
process.send?.({ type: 'result', result }, () => process.exit(0));
