/**
 * Wilson score interval for k successes in n trials; `z` is the two-sided normal quantile
 * (default: 95%). Unlike the Wald interval it stays inside [0, 1] and keeps sensible width at
 * k = 0 or k = n, which is exactly where canary error counts tend to sit.
 * n = 0 carries no information and yields the whole range.
 */
export function wilsonInterval(k: number, n: number, z = 1.959963984540054): { low: number; high: number } {
  if (!(n > 0)) return { low: 0, high: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // At k = 0 or k = n the bound is exactly 0 or 1 in theory; rounding would otherwise leave ±1e-17.
  return {
    low: k <= 0 ? 0 : Math.max(0, center - half),
    high: k >= n ? 1 : Math.min(1, center + half),
  };
}
