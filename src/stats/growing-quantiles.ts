import { selectKth } from './quantile.js';
import { bracketOf } from './quantile-filter.js';

/**
 * Numpy-linear quantiles of a pool that only grows (a stage window: every request since the
 * stage began), identical to sorting the pool and reading quantileSorted, at a cost per addition
 * that does not grow with the pool.
 *
 * Sorting and merging each window into the pool costs the pool's size at every check, so a
 * 4-hour stage cost its square. Here each wanted quantile keeps a bracket [lo, hi] of values
 * (Floyd & Rivest's idea, as quantilesByFilter): how many pooled values lie below it, and a copy
 * of those inside it. A new window's values are only compared with the bracket; a quantile is a
 * selection inside the copy, a few percent of the pool for a tail quantile. The bracket is
 * checked against the ranks the quantile reads at every call and rebuilt from the whole pool
 * when they have left it, so the result never depends on the bracket, only the work does.
 */

/** Below this many pooled values, selection over a copy of the pool is as cheap as a bracket. */
const MIN_BRACKET = 512;
/** The largest sample a bracket is chosen from. */
const MAX_SAMPLE = 1024;
/** A narrowed bracket's half-width, in standard deviations of the quantile's rank. */
const WIDTH_SD = 4;

const SAMPLE = new Float64Array(MAX_SAMPLE);
let scratch = new Float64Array(0);

class Bracket {
  valid = false;
  lo = -Infinity;
  hi = Infinity;
  below = 0;
  count = 0;
  inside = new Float64Array(0);

  push(x: number): void {
    if (this.count === this.inside.length) {
      const grown = new Float64Array(Math.max(256, 2 * this.inside.length));
      grown.set(this.inside);
      this.inside = grown;
    }
    this.inside[this.count++] = x;
  }
}

export class GrowingQuantiles {
  private pool = new Float64Array(1024);
  /** Values pooled so far. */
  len = 0;
  private readonly brackets: Bracket[];

  /** `probs`: the quantiles read, in (0, 1]. */
  constructor(readonly probs: readonly number[]) {
    this.brackets = probs.map(() => new Bracket());
  }

  reset(): void {
    this.len = 0;
    for (const b of this.brackets) {
      b.valid = false;
      b.count = 0;
    }
  }

  /** Adds values[0, n) to the pool, in any order. */
  add(values: Float64Array, n: number): void {
    if (this.len + n > this.pool.length) {
      const grown = new Float64Array(Math.max(this.len + n, 2 * this.pool.length));
      grown.set(this.pool.subarray(0, this.len));
      this.pool = grown;
    }
    this.pool.set(values.subarray(0, n), this.len);
    this.len += n;
    for (const b of this.brackets) {
      if (!b.valid) continue;
      const lo = b.lo, hi = b.hi;
      for (let i = 0; i < n; i++) {
        const x = values[i]!;
        if (x < lo) b.below++;
        else if (x <= hi) b.push(x);
      }
    }
  }

  /** The pool's probs[i]-quantile (numpy's linear interpolation); NaN for an empty pool. */
  quantile(i: number): number {
    const n = this.len;
    if (n === 0) return NaN;
    const h = (n - 1) * this.probs[i]!;
    const r = Math.floor(h);
    const last = r + 1 < n ? r + 1 : r;
    let buf: Float64Array, count: number, offset: number;
    if (n < MIN_BRACKET) {
      if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length, MIN_BRACKET));
      scratch.set(this.pool.subarray(0, n));
      buf = scratch;
      count = n;
      offset = 0;
    } else {
      const b = this.brackets[i]!;
      // The copy holds exactly the order statistics below .. below + count − 1 of the pool.
      if (!b.valid || b.below > r || b.below + b.count <= last) this.rebuild(b, r, last);
      buf = b.inside;
      count = b.count;
      offset = b.below;
    }
    const k = r - offset;
    selectKth(buf, 0, count, k);
    const x = buf[k]!;
    // Everything after k is ≥ x: the next order statistic is their least.
    let y = x;
    if (last !== r) {
      y = Infinity;
      for (let j = k + 1; j < count; j++) if (buf[j]! < y) y = buf[j]!;
    }
    if (n >= MIN_BRACKET) this.narrow(this.brackets[i]!, k, this.probs[i]!);
    return last === r ? x : x + (h - r) * (y - x);
  }

  /**
   * A bracket chosen from a small sample is wide (a few percent of the pool for a tail
   * quantile): once the pool is large, it is narrowed around the rank just found (buf is
   * partitioned at k) to WIDTH_SD standard deviations of the rank over the pool, where later
   * windows move it only slowly, so each check selects among a few hundred values, not
   * thousands. A miss later costs one rebuild.
   */
  private narrow(b: Bracket, k: number, p: number): void {
    const w = Math.ceil(WIDTH_SD * Math.sqrt(this.len * p * (1 - p))) + 16;
    if (b.count <= 8 * w) return;
    const buf = b.inside, count = b.count;
    let lo = b.lo, hi = b.hi;
    if (k - w > 0) {
      selectKth(buf, 0, k, k - w);
      lo = buf[k - w]!;
    }
    if (k + w < count - 1) {
      selectKth(buf, k + 1, count, k + w);
      hi = buf[k + w]!;
    }
    let below = b.below, kept = 0;
    for (let j = 0; j < count; j++) {
      const v = buf[j]!;
      if (v < lo) below++;
      else if (v <= hi) buf[kept++] = v;
    }
    b.lo = lo;
    b.hi = hi;
    b.below = below;
    b.count = kept;
  }

  /**
   * Brackets the ranks first..last from a sample of the pool (hashed positions: a window's
   * values may have been partitioned by a selection, so evenly spaced ones could be biased),
   * then one pass over the pool counts and copies; a bracket that misses (rare) widens to all.
   */
  private rebuild(b: Bracket, first: number, last: number): void {
    const n = this.len, pool = this.pool;
    const size = Math.min(MAX_SAMPLE, n >> 3);
    for (let j = 0; j < size; j++) SAMPLE[j] = pool[Math.floor((((j * 0x9e3779b1) >>> 0) / 4294967296) * n)]!;
    let [lo, hi] = bracketOf(SAMPLE, size, first, last, n);
    for (let attempt = 0; attempt < 2; attempt++) {
      b.lo = lo;
      b.hi = hi;
      b.below = 0;
      b.count = 0;
      for (let j = 0; j < n; j++) {
        const x = pool[j]!;
        if (x < lo) b.below++;
        else if (x <= hi) b.push(x);
      }
      b.valid = true;
      if (b.below <= first && b.below + b.count > last) return;
      lo = -Infinity;
      hi = Infinity;
    }
  }
}
