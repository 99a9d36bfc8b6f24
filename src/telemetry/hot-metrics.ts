// The instruments every request updates, aggregated here and handed to the
// OpenTelemetry readers as a MetricProducer at collection time. The SDK's
// own instruments hash their attributes on every update (sorting the keys
// and JSON-encoding them); here a series is found by its label values
// joined into one string, and its attributes object is made once. What the
// readers get is the same MetricData the SDK would give them, cumulative or
// delta as each reader's exporter asks.
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

const SEP = '\u0001';

interface Series {
  readonly attributes: Attributes;
  readonly start: HrTime;
  sum: number;
  count: number;
  /** per bucket, for histograms (boundaries.length + 1 buckets) */
  readonly counts: number[] | undefined;
}

abstract class HotInstrument {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly labels: readonly string[];
  readonly series = new Map<string, Series>();
  readonly #buckets: number;

  constructor(name: string, description: string, unit: string, labels: readonly string[], buckets: number) {
    this.name = name;
    this.description = description;
    this.unit = unit;
    this.labels = labels;
    this.#buckets = buckets;
  }

  /** `values` in the order of `labels`; bounded by the caller (values from the config or a fixed set). */
  protected seriesOf(values: readonly string[]): Series {
    const key = values.join(SEP);
    let s = this.series.get(key);
    if (!s) {
      const attributes: Record<string, string> = {};
      this.labels.forEach((l, i) => (attributes[l] = values[i]));
      s = { attributes, start: hrNow(), sum: 0, count: 0, counts: this.#buckets ? new Array<number>(this.#buckets).fill(0) : undefined };
      this.series.set(key, s);
    }
    return s;
  }
}

export class HotCounter extends HotInstrument {
  constructor(name: string, description: string, labels: readonly string[]) {
    super(name, description, '', labels, 0);
  }

  add(n: number, values: readonly string[]): void {
    this.seriesOf(values).sum += n;
  }
}

export class HotHistogram extends HotInstrument {
  readonly boundaries: readonly number[];

  constructor(name: string, description: string, unit: string, boundaries: readonly number[], labels: readonly string[]) {
    super(name, description, unit, labels, boundaries.length + 1);
    this.boundaries = boundaries;
  }

  record(v: number, values: readonly string[]): void {
    const s = this.seriesOf(values);
    s.sum += v;
    s.count++;
    let i = 0;
    while (i < this.boundaries.length && v > this.boundaries[i]) i++;
    s.counts![i]++;
  }
}

/** The hot instruments, and a producer per reader. */
export class HotMetrics {
  readonly #counters: HotCounter[] = [];
  readonly #histograms: HotHistogram[] = [];
  readonly #scope: { name: string; version: string };

  constructor(scope: { name: string; version: string }) {
    this.#scope = scope;
  }

  counter(name: string, description: string, labels: readonly string[]): HotCounter {
    const c = new HotCounter(name, description, labels);
    this.#counters.push(c);
    return c;
  }

  histogram(name: string, description: string, unit: string, boundaries: readonly number[], labels: readonly string[]): HotHistogram {
    const h = new HotHistogram(name, description, unit, boundaries, labels);
    this.#histograms.push(h);
    return h;
  }

  /** A producer for one reader; a delta reader gets what changed since its last collection. */
  producer(temporality: AggregationTemporality): MetricProducer {
    const delta = temporality === AggregationTemporality.DELTA;
    /** per instrument and series: what the last collection reported, and when */
    const last = new Map<HotInstrument, Map<string, { sum: number; count: number; counts: number[] | undefined; at: HrTime }>>();
    const collect = async (): Promise<CollectionResult> => {
      const now = hrNow();
      const metrics: MetricData[] = [];
      const points = (inst: HotInstrument) => {
        let seen = last.get(inst);
        if (!seen) last.set(inst, (seen = new Map()));
        const out: { attributes: Attributes; startTime: HrTime; endTime: HrTime; sum: number; count: number; counts: number[] | undefined }[] = [];
        for (const [key, s] of inst.series) {
          const counts = s.counts ? [...s.counts] : undefined;
          if (!delta) {
            out.push({ attributes: s.attributes, startTime: s.start, endTime: now, sum: s.sum, count: s.count, counts });
            continue;
          }
          const before = seen.get(key);
          seen.set(key, { sum: s.sum, count: s.count, counts, at: now });
          out.push({
            attributes: s.attributes,
            startTime: before?.at ?? s.start,
            endTime: now,
            sum: s.sum - (before?.sum ?? 0),
            count: s.count - (before?.count ?? 0),
            counts: counts && before?.counts ? counts.map((c, i) => c - before.counts![i]) : counts,
          });
        }
        return out;
      };
      for (const c of this.#counters) {
        metrics.push({
          descriptor: { name: c.name, description: c.description, unit: c.unit, valueType: ValueType.INT },
          aggregationTemporality: temporality,
          dataPointType: DataPointType.SUM,
          isMonotonic: true,
          dataPoints: points(c).map((p) => ({ attributes: p.attributes, startTime: p.startTime, endTime: p.endTime, value: p.sum })),
        });
      }
      for (const h of this.#histograms) {
        metrics.push({
          descriptor: { name: h.name, description: h.description, unit: h.unit, valueType: ValueType.DOUBLE },
          aggregationTemporality: temporality,
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints: points(h).map((p) => ({
            attributes: p.attributes,
            startTime: p.startTime,
            endTime: p.endTime,
            value: { buckets: { boundaries: [...h.boundaries], counts: p.counts! }, sum: p.sum, count: p.count },
          })),
        });
      }
      // The reader keeps its own resource (the SDK producer's); this one is not used.
      return { resourceMetrics: { resource: EMPTY_RESOURCE, scopeMetrics: [{ scope: this.#scope, metrics }] }, errors: [] };
    };
    return { collect };
  }
}

const EMPTY_RESOURCE = resourceFromAttributes({});

function hrNow(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}
