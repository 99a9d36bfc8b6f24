// A Metrics that keeps the last value of every series, for tests of modules
// that count about themselves.
import type { Labels, Metrics } from '../../src/telemetry/metrics.ts';

export class MetricsRecorder implements Metrics {
  readonly #values = new Map<string, number>();

  add(name: string, n: number, labels: Labels = {}): void {
    const k = key(name, labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + n);
  }

  set(name: string, v: number, labels: Labels = {}): void {
    this.#values.set(key(name, labels), v);
  }

  value(name: string, labels: Labels = {}): number | undefined {
    return this.#values.get(key(name, labels));
  }
}

function key(name: string, labels: Labels): string {
  return `${name}${JSON.stringify(Object.entries(labels).sort())}`;
}
