// Optional active health checks (resilience.activeHealth): every interval, a
// one-token request to each target that has not served real traffic
// successfully within the interval. A failed or slow probe takes the target
// out (in this process) until a probe succeeds again.
import type { Runtime } from '../runtime/runtime.ts';
import type { Target } from './target.ts';

const PROBE_MESSAGES = '"messages":[{"role":"user","content":"ping"}],"max_tokens":1';
const API_VERSION = '2024-10-21';

export class ActiveProber {
  readonly #runtime: Runtime;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #timers: NodeJS.Timeout[] = [];
  /** probes sent, for tests and metrics */
  sent = 0;

  constructor(runtime: Runtime, cfg: { intervalSeconds: number; timeoutMs: number }) {
    this.#runtime = runtime;
    this.#intervalMs = cfg.intervalSeconds * 1000;
    this.#timeoutMs = cfg.timeoutMs;
    const targets = new Map<string, Target>();
    for (const pool of runtime.deployments.values()) for (const t of pool.targets) targets.set(t.id, t);
    for (const t of targets.values()) {
      const timer = setInterval(() => void this.probe(t), this.#intervalMs);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  /** Probes one target now unless it served real traffic within the interval. */
  async probe(target: Target): Promise<void> {
    const { router } = this.#runtime;
    if (router.health(target).lastSuccessAt > Date.now() - this.#intervalMs) return;
    const ep = target.endpoint;
    // Without an Entra token the target is out already (credential-failed); a probe would only mark it twice.
    if ((ep.credential.unavailableUntil?.() ?? 0) > 0) return;
    const openai = ep.kind === 'openai';
    const path = openai
      ? `${ep.basePath}/v1/chat/completions`
      : `${ep.basePath}/openai/deployments/${target.upstreamName}/chat/completions?api-version=${API_VERSION}`;
    const body = Buffer.from(openai ? `{"model":${JSON.stringify(target.upstreamName)},${PROBE_MESSAGES}}` : `{${PROBE_MESSAGES}}`);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(body.length) };
    this.sent++;
    try {
      await ep.credential.apply(headers);
      const res = await ep.pool.request({
        path,
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      await res.body.dump();
      router.probed(target, { status: res.statusCode, headers: res.headers }, this.#intervalMs);
    } catch {
      router.probed(target, undefined, this.#intervalMs);
    }
  }

  close(): void {
    for (const t of this.#timers) clearInterval(t);
  }
}
