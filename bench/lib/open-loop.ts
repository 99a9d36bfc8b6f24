// An open-loop load generator: requests arrive as a Poisson process at a
// fixed rate, whatever happens to earlier ones, and each is recorded (no
// client retries).
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';

export interface Sample {
  /** ms since the run started */
  readonly at: number;
  readonly ms: number;
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  readonly endpoint: string | undefined;
}

export interface OpenLoopOptions {
  readonly url: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly ratePerSecond: number;
  readonly durationMs: number;
  readonly random?: () => number;
}

const agent = new Agent({ connections: 512, keepAliveTimeout: 10_000 });

export async function openLoop(o: OpenLoopOptions): Promise<Sample[]> {
  const samples: Sample[] = [];
  const pending = new Set<Promise<void>>();
  const random = o.random ?? Math.random;
  const start = performance.now();
  let next = 0;
  while (next < o.durationMs) {
    const wait = next - (performance.now() - start);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const sentAt = performance.now();
    const p = agent
      .request({ origin: o.url, path: o.path, method: 'POST', headers: o.headers, body: o.body })
      .then(async (res) => {
        await res.body.dump();
        const ra = res.headers['retry-after-ms'];
        samples.push({
          at: sentAt - start,
          ms: performance.now() - sentAt,
          status: res.statusCode,
          retryAfterMs: ra === undefined ? undefined : Number(ra),
          endpoint: res.headers['x-gateway-endpoint'] as string | undefined,
        });
      })
      .catch(() => {
        samples.push({ at: sentAt - start, ms: performance.now() - sentAt, status: 0, retryAfterMs: undefined, endpoint: undefined });
      })
      .finally(() => pending.delete(p));
    pending.add(p);
    next += -Math.log(1 - random()) * (1000 / o.ratePerSecond);
  }
  await Promise.all(pending);
  return samples.sort((a, b) => a.at - b.at);
}
