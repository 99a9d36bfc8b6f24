// Sends the load: a closed loop (N requests always in flight) or an open loop
// (arrivals at a fixed rate whatever the answers take, at most maxOutstanding
// in flight: arrivals past that are dropped and counted, never queued, so a
// slow server cannot hide behind the load tool — no coordinated omission).
// A warm-up runs first at the same load and is not recorded.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { Exchange } from './exchange.ts';
import type { BenchOptions } from './options.ts';
import type { PlannedRequest } from './request-plan.ts';
import type { Outcome, Recorder } from './stats.ts';

export type Phase = 'warmup' | 'measuring' | 'draining' | 'done';

export interface RunInfo {
  /** wall-clock start of the measured phase */
  readonly startedAt: Date;
  /** from the measured start to the last answer */
  readonly seconds: number;
  /** why it ended early, if it did */
  readonly stoppedEarly: 'unreachable' | 'interrupted' | undefined;
}

/** with no answer at all after this many connection errors (and a second), the target is unreachable */
const UNREACHABLE_AFTER = 10;

export class LoadEngine {
  readonly #o: BenchOptions;
  readonly #plan: readonly PlannedRequest[];
  readonly #recorder: Recorder;
  readonly #pool: Pool;
  readonly #inFlight = new Set<Exchange>();
  #next = 0;
  #runStart = 0;
  #measuredSent = 0;
  #phase: Phase = 'warmup';
  #stoppedEarly: RunInfo['stoppedEarly'];
  #answered = 0;
  #connectionErrors = 0;
  #lastEnd = 0;
  #drained: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #sendingEnded = 0;

  constructor(o: BenchOptions, plan: readonly PlannedRequest[], recorder: Recorder) {
    this.#o = o;
    this.#plan = plan;
    this.#recorder = recorder;
    const connections = o.load.kind === 'concurrency' ? o.load.concurrency : o.load.maxOutstanding;
    this.#pool = new Pool(o.origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      connect: { timeout: Math.min(o.timeoutMs, 10_000) },
    });
  }

  get phase(): Phase {
    return this.#phase;
  }
  get inFlight(): number {
    return this.#inFlight.size;
  }
  /** ms since the measured phase started (negative in the warm-up) */
  elapsedMs(): number {
    return performance.now() - this.#runStart - this.#o.warmupMs;
  }

  /** Stops sending; what is in flight is cancelled and not recorded. */
  interrupt(): void {
    if (this.#phase === 'done') return;
    this.#stoppedEarly ??= 'interrupted';
    this.#drain();
    for (const ex of this.#inFlight) ex.timeout();
  }

  async run(): Promise<RunInfo> {
    this.#runStart = performance.now();
    const measuredAt = Date.now() + this.#o.warmupMs;
    const sweep = setInterval(() => this.#sweep(), Math.max(10, Math.min(250, this.#o.timeoutMs / 4)));
    try {
      if (this.#o.load.kind === 'concurrency') await this.#closedLoop(this.#o.load.concurrency);
      else await this.#openLoop(this.#o.load.perSecond, this.#o.load.maxOutstanding);
      this.#drain();
      if (this.#inFlight.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    } finally {
      clearInterval(sweep);
      this.#phase = 'done';
      await this.#pool.close().catch(() => undefined);
    }
    // To the last answer, and at least to when sending stopped (the whole --duration, even if nothing came back).
    const end = Math.max(this.#lastEnd, this.#sendingEnded);
    const seconds = Math.max(0.001, (end - this.#runStart - this.#o.warmupMs) / 1000);
    return { startedAt: new Date(measuredAt), seconds, stoppedEarly: this.#stoppedEarly };
  }

  /** Whether another request goes out now; moves warmup → measuring. */
  #mayStart(): boolean {
    if (this.#phase === 'draining' || this.#phase === 'done') return false;
    const t = this.elapsedMs();
    if (t < 0) return true;
    this.#phase = 'measuring';
    const stop = this.#o.stop;
    if (stop.kind === 'duration' ? t >= stop.ms : this.#measuredSent >= stop.count) {
      this.#drain();
      return false;
    }
    return true;
  }

  async #closedLoop(concurrency: number): Promise<void> {
    const worker = async () => {
      while (this.#mayStart()) await new Promise<void>((resolve) => this.#send(resolve));
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  async #openLoop(perSecond: number, maxOutstanding: number): Promise<void> {
    const gapMs = 1000 / perSecond;
    let k = 0; // arrivals since the run started
    for (;;) {
      if (!this.#mayStart()) return;
      const now = performance.now() - this.#runStart;
      while (k * gapMs <= now) {
        if (!this.#mayStart()) return;
        k++;
        if (this.#inFlight.size >= maxOutstanding) {
          if (this.#phase === 'measuring') {
            this.#measuredSent++;
            this.#recorder.dropped++;
          }
        } else this.#send(undefined);
      }
      // Until the next arrival, or the end of the run if that comes first (a slow rate's gap can be long).
      const stop = this.#o.stop;
      const endAt = stop.kind === 'duration' ? this.#o.warmupMs + stop.ms : Infinity;
      await this.#sleep(Math.min(k * gapMs, endAt) - (performance.now() - this.#runStart));
    }
  }

  /** No more sending: what is in flight ends the run. */
  #drain(): void {
    if (this.#phase === 'draining' || this.#phase === 'done') return;
    this.#phase = 'draining';
    this.#sendingEnded = performance.now();
    this.#wake?.();
  }

  /** A wait that interrupt() cuts short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, Math.max(0, ms));
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #send(done: (() => void) | undefined): void {
    const measured = this.#phase === 'measuring';
    if (measured) this.#measuredSent++;
    const req = this.#plan[this.#next++ % this.#plan.length];
    const ex = new Exchange(req.deployment, this.#o.stream, (o, endedAt) => this.#ended(ex, o, endedAt, measured, done));
    this.#inFlight.add(ex);
    this.#pool.dispatch({ path: req.path, method: 'POST', headers: req.headers, body: req.body }, ex);
  }

  #ended(ex: Exchange, o: Outcome, endedAt: number, measured: boolean, done: (() => void) | undefined): void {
    this.#inFlight.delete(ex);
    const cancelled = this.#stoppedEarly === 'interrupted' && o.error === 'timeout';
    if (o.status > 0) this.#answered++;
    else if (o.error === 'connection') this.#connectionErrors++;
    if (measured && !cancelled) {
      this.#recorder.add(o, endedAt - this.#runStart - this.#o.warmupMs);
      this.#lastEnd = Math.max(this.#lastEnd, endedAt);
    }
    if (this.#answered === 0 && this.#connectionErrors >= UNREACHABLE_AFTER && performance.now() - this.#runStart > 1000 && this.#phase !== 'draining') {
      this.#stoppedEarly = 'unreachable';
      this.#drain();
    }
    done?.();
    if (this.#inFlight.size === 0 && this.#phase === 'draining') this.#drained?.();
  }

  #sweep(): void {
    const now = performance.now();
    for (const ex of this.#inFlight) if (now - ex.startedAt > this.#o.timeoutMs) ex.timeout();
  }
}
