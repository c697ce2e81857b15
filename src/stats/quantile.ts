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
