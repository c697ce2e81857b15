import { quantilesBySelection, selectKth } from './quantile.js';

/**
 * The same numpy-linear quantiles as quantilesBySelection (the same order statistics, the same
 * interpolation: identical results), with less work on large arrays: Floyd & Rivest's idea. A
 * strided sample brackets the wanted ranks; one pass counts the values below the bracket and
 * copies those inside it; selection then runs on the copy, a few percent of the array for a tail
 * quantile. The bracket is verified from the pass's counts, and a miss falls back to selecting
 * over the whole array, so the result never depends on the sample, only the work does.
 *
 * The strided sample (an eighth of the values, at most 1,024) is a random one when the values
 * are in the order they were drawn (a window's requests): then the bracket, four standard
 * deviations of the sample quantile wide on each side, misses in fewer than one call in ten
 * thousand (none in 80,000 trials of normal samples of 600 to 225,000 values).
 */

/** Below this many values, plain selection is as cheap as the pass. */
const MIN_FILTER = 512;
/** The largest sample: an eighth of the values up to this. */
const MAX_SAMPLE = 1024;
/** Bracket half-width, in standard deviations of a sample quantile. */
const WIDTH_SD = 4;

const sample = new Float64Array(MAX_SAMPLE);
let inside = new Float64Array(0);
const ranks: number[] = [];

export function quantilesByFilter(a: Float64Array, n: number, probs: readonly number[], out: number[]): void {
  if (n < MIN_FILTER || probs.length === 0) {
    quantilesBySelection(a, n, probs, out);
    return;
  }
  // The order statistics the interpolation reads: ⌊h⌋ and ⌊h⌋ + 1 for h = (n − 1)·q.
  ranks.length = 0;
  for (const q of probs) {
    const lo = Math.floor((n - 1) * q);
    ranks.push(lo);
    if (lo + 1 < n) ranks.push(lo + 1);
  }
  ranks.sort((x, y) => y - x);
  const first = ranks[ranks.length - 1]!, last = ranks[0]!;

  const size = Math.min(MAX_SAMPLE, n >> 3);
  const step = Math.floor(n / size);
  for (let i = 0; i < size; i++) sample[i] = a[i * step]!;
  const [lo, hi] = bracketOf(sample, size, first, last, n);

  if (inside.length < n) inside = new Float64Array(Math.max(n, 2 * inside.length));
  const buf = inside;
  let below = 0, count = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v < lo) below++;
    else if (v <= hi) buf[count++] = v;
  }
  // The copy holds exactly the order statistics below .. below + count − 1 of the whole array.
  if (below > first || below + count <= last) {
    quantilesBySelection(a, n, probs, out);
    return;
  }
  let bound = count;
  for (let i = 0; i < ranks.length; i++) {
    const r = ranks[i]! - below;
    if (i > 0 && ranks[i] === ranks[i - 1]) continue;
    selectKth(buf, 0, bound, r);
    bound = r;
  }
  for (let i = 0; i < probs.length; i++) {
    const h = (n - 1) * probs[i]!;
    const k = Math.floor(h);
    const x = buf[k - below]!;
    out[i] = k + 1 < n ? x + (h - k) * (buf[k + 1 - below]! - x) : x;
  }
}

const BRACKET: [number, number] = [-Infinity, Infinity];

/**
 * The values [lo, hi] (−∞, ∞ where open) that bracket the order statistics first..last of n
 * values, from a sample of them in sample[0, size), which it reorders. Shared by this filter and
 * GrowingQuantiles; the array returned is reused by the next call.
 */
export function bracketOf(sample: Float64Array, size: number, first: number, last: number, n: number): [number, number] {
  const low = bracketIndex(first / n, size, -1);
  const high = bracketIndex((last + 1) / n, size, 1);
  // Select the upper bracket first, then the lower below it: two linear passes over the sample.
  BRACKET[0] = -Infinity;
  BRACKET[1] = Infinity;
  if (high < size) {
    selectKth(sample, 0, size, high);
    BRACKET[1] = sample[high]!;
  }
  if (low >= 0) {
    selectKth(sample, 0, high < size ? high : size, low);
    BRACKET[0] = sample[low]!;
  }
  return BRACKET;
}

/** The index in a sample of `size` a bracket side sits at for a population share p: −1 or size when open. */
function bracketIndex(p: number, size: number, side: -1 | 1): number {
  const margin = WIDTH_SD * Math.sqrt(size * p * (1 - p)) + 2;
  const j = side < 0 ? Math.floor(p * size - margin) : Math.ceil(p * size + margin);
  return side < 0 ? Math.max(-1, j) : Math.min(size, j);
}
