// The live line on stderr: rewritten in place every second on a terminal, a
// new line every five seconds otherwise (CI logs). Rate and percentiles are
// of the last interval; counts are since the measured start.
import type { LoadEngine } from './engine.ts';
import type { Stop } from './options.ts';
import type { Recorder } from './stats.ts';

export class Progress {
  readonly #engine: LoadEngine;
  readonly #recorder: Recorder;
  readonly #stop: Stop;
  readonly #warmupMs: number;
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  #timer: NodeJS.Timeout | undefined;
  #last = 0;
  #lastWidth = 0;

  constructor(engine: LoadEngine, recorder: Recorder, stop: Stop, warmupMs: number, out: NodeJS.WriteStream = process.stderr) {
    this.#engine = engine;
    this.#recorder = recorder;
    this.#stop = stop;
    this.#warmupMs = warmupMs;
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  start(): void {
    this.#last = performance.now();
    this.#timer = setInterval(() => this.#tick(), this.#tty ? 1000 : 5000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#tty && this.#lastWidth > 0) this.#out.write(`\r${' '.repeat(this.#lastWidth)}\r`);
  }

  #tick(): void {
    const now = performance.now();
    const seconds = (now - this.#last) / 1000;
    this.#last = now;
    const line = this.line(seconds);
    if (this.#tty) {
      const width = Math.min(line.length, (this.#out.columns ?? 120) - 1);
      this.#out.write(`\r${line.slice(0, width).padEnd(this.#lastWidth)}`);
      this.#lastWidth = width;
    } else this.#out.write(`${line}\n`);
  }

  /** The line for an interval of `seconds`, and resets the interval's figures. */
  line(seconds: number): string {
    const t = this.#engine.elapsedMs();
    const flight = `${this.#engine.inFlight} in flight`;
    if (t < 0) return `[warmup ${((t + this.#warmupMs) / 1000).toFixed(0)}/${this.#warmupMs / 1000}s] ${flight}`;
    const recent = this.#recorder.takeRecent();
    const total = this.#recorder.total;
    const goal = this.#stop.kind === 'duration' ? `${(t / 1000).toFixed(0)}/${this.#stop.ms / 1000}s` : `${total.requests}/${this.#stop.count}`;
    const n429 = total.statuses.get('429') ?? 0;
    const errors = total.requests - total.ok - n429;
    const q = (p: number) => (recent.latency.total ? `${(recent.latency.quantile(p) / 1000).toFixed(0)}ms` : '—');
    const dropped = this.#recorder.dropped ? ` · dropped ${this.#recorder.dropped}` : '';
    return `[${goal}] ${(recent.requests / Math.max(seconds, 0.001)).toFixed(1)} req/s · ok ${total.ok} · 429 ${n429} · err ${errors} · p50 ${q(0.5)} p99 ${q(0.99)} · ${flight}${dropped}`;
  }
}
