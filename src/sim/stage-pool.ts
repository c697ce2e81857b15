import { CONTINUOUS_METRICS } from '../config/metrics.js';
import { type MetricNeeds, QUANTILE_PROBS } from '../gates/window.js';
import { GrowingQuantiles } from '../stats/growing-quantiles.js';
import { quantileSorted } from '../stats/quantile.js';

/**
 * A stage window's pooled values, per metric, as both engines keep them: every value drawn since
 * the stage began. A metric a stage-window test reads (KS, Mann–Whitney) needs the whole pool in
 * order, so its windows are merged in sorted (StagePool); a metric whose stage quantiles alone
 * are read keeps them with GrowingQuantiles, whose work per window does not grow with the pool
 * (merging cost the pool's size at every check: a stage of hours cost its square).
 */

/** Sorted pooled samples since the stage began, merged in window by window. */
export class StagePool {
  sorted: Float64Array = new Float64Array(0);
  len = 0;
  private scratch: Float64Array = new Float64Array(0);

  reset(): void {
    this.len = 0;
  }

  /** Merges add[0, addLen), sorted, into the pool. */
  merge(add: Float64Array, addLen: number): void {
    const total = this.len + addLen;
    if (this.scratch.length < total) this.scratch = new Float64Array(Math.max(total, this.scratch.length * 2));
    if (this.sorted.length < this.scratch.length) {
      // Keep both buffers the same size so that swapping them never loses capacity.
      const grown = new Float64Array(this.scratch.length);
      grown.set(this.sorted.subarray(0, this.len));
      this.sorted = grown;
    }
    const a = this.sorted, out = this.scratch;
    let i = 0, j = 0, k = 0;
    while (i < this.len && j < addLen) out[k++] = a[i]! <= add[j]! ? a[i++]! : add[j++]!;
    while (i < this.len) out[k++] = a[i++]!;
    while (j < addLen) out[k++] = add[j++]!;
    // The old pool becomes the next merge's scratch: two buffers, no allocation per window.
    this.scratch = this.sorted;
    this.sorted = out;
    this.len = total;
  }
}

/** One arm's stage-window values, per continuous metric, kept as the stage needs say. */
export class StageSamples {
  private readonly pools: (StagePool | null)[];
  private readonly growing: (GrowingQuantiles | null)[];
  /** Per metric, the QUANTILE_PROBS index of each of growing[k]'s probabilities. */
  private readonly slots: number[][];

  constructor(needs: MetricNeeds | null) {
    this.pools = CONTINUOUS_METRICS.map((_, k) => (needs?.tests[k] ? new StagePool() : null));
    this.slots = CONTINUOUS_METRICS.map((_, k) => (needs && !needs.tests[k] && needs.sorted[k] ? QUANTILE_PROBS.flatMap((_, q) => (needs.quantiles[k]![q] ? [q] : [])) : []));
    this.growing = this.slots.map((s) => (s.length ? new GrowingQuantiles(s.map((q) => QUANTILE_PROBS[q]!)) : null));
  }

  reset(): void {
    for (const p of this.pools) p?.reset();
    for (const g of this.growing) g?.reset();
  }

  /** Whether metric k's values are kept at all. */
  keeps(k: number): boolean {
    return this.pools[k] !== null || this.growing[k] !== null;
  }

  /** Whether add() needs metric k's window values sorted (a tested metric's are merged). */
  mergesSorted(k: number): boolean {
    return this.pools[k] !== null;
  }

  /** Pools a window's values of metric k: sorted when mergesSorted(k), in any order otherwise. */
  add(k: number, values: Float64Array, n: number): void {
    const pool = this.pools[k];
    if (pool) pool.merge(values, n);
    else this.growing[k]?.add(values, n);
  }

  /**
   * Writes metric k's pooled quantiles p50..p999 at out[at..at + 5): all five from a sorted pool,
   * the ones read otherwise, NaN the rest.
   */
  writeQuantiles(k: number, out: Float64Array, at: number): void {
    const pool = this.pools[k];
    if (pool) {
      for (let q = 0; q < QUANTILE_PROBS.length; q++) out[at + q] = quantileSorted(pool.sorted, pool.len, QUANTILE_PROBS[q]!);
      return;
    }
    out.fill(NaN, at, at + QUANTILE_PROBS.length);
    const g = this.growing[k];
    if (!g) return;
    const slots = this.slots[k]!;
    for (let i = 0; i < slots.length; i++) out[at + slots[i]!] = g.quantile(i);
  }

  /** Metric k's sorted pool, for a stage-window test. */
  sorted(k: number): { values: Float64Array; len: number } {
    const pool = this.pools[k]!;
    return { values: pool.sorted, len: pool.len };
  }
}
