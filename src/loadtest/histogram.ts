// A log-linear histogram (the HDR histogram's layout): values 0–127 exactly,
// above that 64 buckets per power of two, so a percentile is within 1.6% of
// the true sample whatever the run's length, in a fixed 6.5 KiB.
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // buckets per power of two
const LINEAR = SUB * 2; // values below this are their own bucket
const MAX_VALUE = 0x7fffffff;
export const BUCKETS = LINEAR + (31 - SUB_BITS - 1) * SUB;

function indexOf(v: number): number {
  if (v < LINEAR) return v;
  const shift = 31 - Math.clz32(v) - SUB_BITS; // v >> shift is in [SUB, 2·SUB)
  return LINEAR + (shift - 1) * SUB + ((v >>> shift) - SUB);
}

/** The middle of bucket `i`'s value range. */
function valueOf(i: number): number {
  if (i < LINEAR) return i;
  const shift = Math.floor((i - LINEAR) / SUB) + 1;
  const low = (SUB + ((i - LINEAR) % SUB)) * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  total = 0;
  max = 0;
  sum = 0;

  /** Records a non-negative value (fractions are rounded; values over 2^31 are clamped). */
  record(value: number): void {
    const v = value <= 0 ? 0 : value >= MAX_VALUE ? MAX_VALUE : Math.round(value);
    this.counts[indexOf(v)]++;
    this.total++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  add(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** Its non-empty buckets, [index, count], to send to another process. */
  toSparse(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) out.push([i, this.counts[i]]);
    return out;
  }

  /** Adds what another process's toSparse() gave, with that histogram's sum and max. */
  addSparse(buckets: readonly [number, number][], sum: number, max: number): void {
    for (const [i, n] of buckets) {
      this.counts[i] += n;
      this.total += n;
    }
    this.sum += sum;
    if (max > this.max) this.max = max;
  }

  /** The value at quantile q (0–1); NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(valueOf(i), this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.total === 0 ? NaN : this.sum / this.total;
  }
}
