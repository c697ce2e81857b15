/**
 * The q-quantile of an ascending sample, interpolating linearly between order statistics:
 * numpy's default (`method='linear'`), h = (n − 1)·q. NaN for an empty sample.
 */
export function quantileSorted(sorted: ArrayLike<number>, n: number, q: number): number {
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const x = sorted[lo]!;
  return lo + 1 < n ? x + (h - lo) * (sorted[lo + 1]! - x) : x;
}

/**
 * Puts the k-th smallest of a[from, to) at a[k], smaller ones before it and larger ones after
 * (Hoare's quickselect with a median-of-three pivot). Expected O(n): cheaper than a sort when a
 * window needs one or two quantiles.
 */
export function selectKth(a: Float64Array, from: number, to: number, k: number): void {
  let lo = from;
  let hi = to - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three as the pivot, so sorted or reversed input stays linear.
    let x = a[lo]!, y = a[mid]!, z = a[hi]!;
    if (x > y) [x, y] = [y, x];
    if (y > z) [y, z] = [z, y];
    if (x > y) [x, y] = [y, x];
    const pivot = y;
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/**
 * The numpy-linear quantiles of a[0, n) at the given probabilities, found by selection (the
 * array is reordered, not sorted). Order statistics are placed from the largest down, each
 * search confined below the previous one, so the total work stays near-linear.
 */
export function quantilesBySelection(a: Float64Array, n: number, probs: readonly number[], out: number[]): void {
  if (n === 0) {
    for (let i = 0; i < probs.length; i++) out[i] = NaN;
    return;
  }
  // At most two ranks per probability, kept in a reused buffer: this runs for every window.
  let count = 0;
  for (const q of probs) {
    const lo = Math.floor((n - 1) * q);
    count = insertDescending(RANKS, count, lo);
    if (lo + 1 < n) count = insertDescending(RANKS, count, lo + 1);
  }
  let bound = n;
  for (let i = 0; i < count; i++) {
    selectKth(a, 0, bound, RANKS[i]!);
    bound = RANKS[i]!;
  }
  for (let i = 0; i < probs.length; i++) {
    const h = (n - 1) * probs[i]!;
    const lo = Math.floor(h);
    const x = a[lo]!;
    out[i] = lo + 1 < n ? x + (h - lo) * (a[lo + 1]! - x) : x;
  }
}

const RANKS = new Int32Array(64);

/** Inserts r into the descending, duplicate-free ranks[0, count); returns the new count. */
function insertDescending(ranks: Int32Array, count: number, r: number): number {
  let i = 0;
  while (i < count && ranks[i]! > r) i++;
  if (i < count && ranks[i] === r) return count;
  for (let j = count; j > i; j--) ranks[j] = ranks[j - 1]!;
  ranks[i] = r;
  return count + 1;
}
