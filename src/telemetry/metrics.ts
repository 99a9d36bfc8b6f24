// What the gateway counts about itself. One small interface, so call sites do
// not depend on the exporter; `MetricsRegistry` keeps the values in memory
// and renders them for Prometheus.

export type Labels = Readonly<Record<string, string>>;

export interface Metrics {
  /** a counter goes up by `n` */
  add(name: string, n: number, labels?: Labels): void;
  /** a gauge is set to `v` */
  set(name: string, v: number, labels?: Labels): void;
}

export const noMetrics: Metrics = { add() {}, set() {} };

interface Series {
  readonly name: string;
  readonly labels: Labels;
  value: number;
}

export class MetricsRegistry implements Metrics {
  readonly #series = new Map<string, Series>();
  readonly #kinds = new Map<string, 'counter' | 'gauge'>();
  readonly #help = new Map<string, string>();

  describe(name: string, kind: 'counter' | 'gauge', help: string): void {
    this.#kinds.set(name, kind);
    this.#help.set(name, help);
  }

  add(name: string, n: number, labels: Labels = {}): void {
    this.#get(name, labels).value += n;
  }

  set(name: string, v: number, labels: Labels = {}): void {
    this.#get(name, labels).value = v;
  }

  /** The current value of a series (undefined if never touched). */
  value(name: string, labels: Labels = {}): number | undefined {
    return this.#series.get(seriesKey(name, labels))?.value;
  }

  /** Prometheus text exposition format. */
  render(): string {
    const byName = new Map<string, Series[]>();
    for (const s of this.#series.values()) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    const out: string[] = [];
    for (const [name, series] of byName) {
      const help = this.#help.get(name);
      if (help) out.push(`# HELP ${name} ${help}`);
      out.push(`# TYPE ${name} ${this.#kinds.get(name) ?? 'gauge'}`);
      for (const s of series) out.push(`${name}${formatLabels(s.labels)} ${s.value}`);
    }
    return `${out.join('\n')}\n`;
  }

  #get(name: string, labels: Labels): Series {
    const k = seriesKey(name, labels);
    let s = this.#series.get(k);
    if (!s) this.#series.set(k, (s = { name, labels, value: 0 }));
    return s;
  }
}

function seriesKey(name: string, labels: Labels): string {
  let k = name;
  for (const l of Object.keys(labels).sort()) k += `\0${l}=${labels[l]}`;
  return k;
}

function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}
