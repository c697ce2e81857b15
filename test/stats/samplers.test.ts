/**
 * The exact samplers: each is checked against its law's closed forms.
 *
 * Tolerances come from the sample size K: a sample mean within 4 standard errors of the true
 * mean (a two-sided normal level of 6e-5), a sample variance within 4 standard errors of the
 * true variance (SE² = σ⁴·(2/(K − 1) + κ/K), κ the excess kurtosis); distribution shape by a
 * chi-square goodness-of-fit test (discrete laws) or a one-sample KS test (continuous laws),
 * rejecting at p < 0.001. Seeds are fixed, so each test either always passes or always fails.
 */
import { describe, expect, it } from 'vitest';
import { Rng, logGamma } from '../../src/stats/random.js';
import { beta, binomial, gamma, logGammaVariate, normalQuantile } from '../../src/stats/samplers.js';
import { kstwoSf, normalCdf } from '../../src/stats/tests.js';
import { chiSquareGof, gammaQ } from '../sim/reference-model.js';

const ALPHA = 0.001;

function moments(xs: Float64Array): { mean: number; variance: number } {
  let mean = 0;
  for (const x of xs) mean += x;
  mean /= xs.length;
  let v = 0;
  for (const x of xs) v += (x - mean) * (x - mean);
  return { mean, variance: v / (xs.length - 1) };
}

/** Asserts sample mean and variance of `xs` against the law's mean, variance and excess kurtosis. */
function expectMoments(xs: Float64Array, mean: number, variance: number, exKurt: number): void {
  const K = xs.length;
  const got = moments(xs);
  expect(Math.abs(got.mean - mean)).toBeLessThanOrEqual(4 * Math.sqrt(variance / K) + 1e-12 * Math.abs(mean));
  const seVar = variance * Math.sqrt(2 / (K - 1) + exKurt / K);
  expect(Math.abs(got.variance - variance)).toBeLessThanOrEqual(4 * seVar + 1e-12 * variance);
}

/** One-sample two-sided KS p-value of `xs` against the CDF `cdf` (exact kstwo law, scipy's kstest). */
function ksOneSample(xs: Float64Array, cdf: (x: number) => number): number {
  const s = Float64Array.from(xs).sort();
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]!);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return kstwoSf(d, n);
}

function draw(K: number, f: () => number): Float64Array {
  const xs = new Float64Array(K);
  for (let i = 0; i < K; i++) xs[i] = f();
  return xs;
}

describe('normalQuantile (AS 241)', () => {
  // python3 -c "from scipy.stats import norm; [print(repr(p), repr(float(norm.ppf(p)))) for p in
  //   [1e-300,1e-100,1e-20,1e-10,1e-5,0.001,0.01,0.02425,0.075,0.2,0.3,0.5,0.6,0.9,0.97,0.999]]"
  // (scipy 1.17.1)
  const SCIPY: [number, number][] = [
    [1e-300, -37.0470962993612],
    [1e-100, -21.273453560965322],
    [1e-20, -9.262340089798409],
    [1e-10, -6.361340902404056],
    [1e-5, -4.264890793922825],
    [0.001, -3.090232306167813],
    [0.01, -2.3263478740408408],
    [0.02425, -1.972961051311885],
    [0.075, -1.4395314709384563],
    [0.2, -0.8416212335729142],
    [0.3, -0.5244005127080409],
    [0.5, 0.0],
    [0.6, 0.2533471031357997],
    [0.9, 1.2815515655446004],
    [0.97, 1.8807936081512509],
    [0.999, 3.090232306167813],
  ];
  // python3 -c "from scipy.stats import norm; [print(repr(c), repr(float(norm.isf(c)))) for c in [1e-300,1e-50,1e-12,1e-7]]"
  const SCIPY_ISF: [number, number][] = [
    [1e-300, 37.0470962993612],
    [1e-50, 14.933337534788487],
    [1e-12, 7.034483825301131],
    [1e-7, 5.1993375821928165],
  ];

  it('matches scipy.stats.norm.ppf to ~1e-15 relative', () => {
    for (const [p, z] of SCIPY) {
      const got = normalQuantile(p);
      expect(Math.abs(got - z)).toBeLessThanOrEqual(2e-15 * Math.max(1, Math.abs(z)));
    }
  });

  it('gives upper-tail quantiles with full precision as −Φ⁻¹(complement)', () => {
    for (const [c, z] of SCIPY_ISF) expect(Math.abs(-normalQuantile(c) - z)).toBeLessThanOrEqual(2e-15 * z);
  });

  it('inverts Φ across the whole range, and handles the ends', () => {
    for (let e = -300; e <= -1; e += 0.7) {
      const p = Math.pow(10, e);
      const z = normalQuantile(p);
      // Φ's relative condition number at z is about z², so the round trip amplifies a 1e-16 error.
      expect(Math.abs(normalCdf(z) - p) / p).toBeLessThan(1e-15 * (1 + z * z));
    }
    for (let p = 0.01; p < 1; p += 0.01) expect(Math.abs(normalCdf(normalQuantile(p)) - p)).toBeLessThan(2e-16 / Math.min(p, 1 - p));
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(normalQuantile(-0.1)).toBeNaN();
    expect(normalQuantile(1.1)).toBeNaN();
    expect(normalQuantile(NaN)).toBeNaN();
    for (const p of [1e-9, 0.01, 0.3]) expect(normalQuantile(1 - p)).toBeCloseTo(-normalQuantile(p), 6);
  });
});

describe('binomial', () => {
  it('handles the degenerate cases', () => {
    const rng = new Rng('samplers:binomial:edges');
    expect(binomial(rng, 0, 0.3)).toBe(0);
    expect(binomial(rng, 10, 0)).toBe(0);
    expect(binomial(rng, 10, -1)).toBe(0);
    expect(binomial(rng, 10, NaN)).toBe(0);
    expect(binomial(rng, 10, 1)).toBe(10);
    expect(binomial(rng, 10, 1.5)).toBe(10);
    expect(binomial(rng, 3e9, 1)).toBe(3e9);
    const xs = draw(1000, () => binomial(rng, 7, 0.999));
    expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x <= 7)).toBe(true);
  });

  const logPmf = (k: number, n: number, p: number) =>
    logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log1p(-p);

  // Inversion (n·min(p, 1 − p) < 30), BTPE above, both reflections, tiny and huge n.
  const CASES: [number, number][] = [
    [1, 0.5],
    [10, 0.3],
    [59, 0.5],
    [61, 0.5],
    // Inversion at means 20 to 29.4: P(0) through fastExp (n·ln q > −30), and through Math.exp (below).
    [40, 0.5],
    [750, 0.03],
    [60, 0.49],
    [100, 0.9],
    [1000, 0.05],
    [20000, 0.002],
    [3e6, 0.01],
    [3e6, 0.5],
    [1e9, 1e-6],
    [1e5, 0.9999],
  ];
  it.each(CASES)('Binomial(%d, %d) has the right mean, variance and pmf', (n, p) => {
    const rng = new Rng(`samplers:binomial:${n}:${p}`);
    const K = 20000;
    const xs = draw(K, () => binomial(rng, n, p));
    expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x <= n)).toBe(true);
    const v = n * p * (1 - p);
    expectMoments(xs, n * p, v, (1 - 6 * p * (1 - p)) / v);
    // Chi-square against the pmf over mean ± 9 sd (cells with expectation < 5 pooled).
    const lo = Math.max(0, Math.floor(n * p - 9 * Math.sqrt(v) - 2));
    const hi = Math.min(n, Math.ceil(n * p + 9 * Math.sqrt(v) + 2));
    const observed = new Array<number>(hi - lo + 1).fill(0);
    for (const x of xs) observed[x - lo]! += 1;
    const probs = observed.map((_, i) => Math.exp(logPmf(lo + i, n, p)));
    expect(chiSquareGof(observed, probs).p).toBeGreaterThan(ALPHA);
  });
});

describe('binomial given ln(1 − p)', () => {
  it('draws exactly what binomial draws without it, on the same stream', () => {
    for (const [n, p] of [[750, 1 / 32], [2970, 2 ** -12], [40, 0.5], [5000, 0.01], [100, 0.9]] as const) {
      const a = new Rng(`samplers:lnq:${n}`), b = new Rng(`samplers:lnq:${n}`);
      for (let i = 0; i < 2000; i++) expect(binomial(b, n, p, Math.log1p(-p))).toBe(binomial(a, n, p));
    }
  });
});

describe('gamma', () => {
  it.each([0.1, 0.5, 1, 2, 2.5, 30, 1e6])('Gamma(%d) has mean = variance = shape and the right CDF', (a) => {
    const rng = new Rng(`samplers:gamma:${a}`);
    const K = 20000;
    const xs = draw(K, () => gamma(rng, a));
    expect(xs.every((x) => x >= 0)).toBe(true);
    expectMoments(xs, a, a, 6 / a);
    expect(ksOneSample(xs, (x) => 1 - gammaQ(a, x))).toBeGreaterThan(ALPHA);
  });

  it('logGammaVariate is the log of a gamma variate, even where the variate underflows', () => {
    const rng = new Rng('samplers:loggamma');
    const a = 0.3;
    const xs = draw(20000, () => Math.exp(logGammaVariate(rng, a)));
    expect(ksOneSample(xs, (x) => 1 - gammaQ(a, x))).toBeGreaterThan(ALPHA);
    // Shape 0.001: most variates are below 1e-300, which only the log can hold.
    const tiny = draw(2000, () => logGammaVariate(rng, 0.001));
    expect(tiny.every((l) => Number.isFinite(l))).toBe(true);
    expect(tiny.some((l) => l < -700)).toBe(true);
    expect(gamma(rng, 0)).toBeNaN();
    expect(gamma(rng, -1)).toBeNaN();
  });
});

describe('beta', () => {
  /** For integer shapes, P(Beta(a, b) ≤ x) = P(Binomial(a + b − 1, x) ≥ a). */
  function betaCdfInt(a: number, b: number, x: number): number {
    const n = a + b - 1;
    const pmf = (k: number) => Math.exp(logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(x) + (n - k) * Math.log1p(-x));
    let s = 0;
    if (a <= b) {
      for (let k = 0; k < a; k++) s += pmf(k);
      return Math.max(0, 1 - s);
    }
    for (let k = a; k <= n; k++) s += pmf(k);
    return Math.min(1, s);
  }

  it.each([
    [0.2, 0.3],
    [0.5, 5],
    [1, 1],
    [3, 8],
    [50, 51],
    [1e6, 3e6],
    [1, 5e6],
  ])('Beta(%d, %d) has the right mean and variance', (a, b) => {
    const rng = new Rng(`samplers:beta:${a}:${b}`);
    const K = 20000;
    const xs = draw(K, () => beta(rng, a, b));
    expect(xs.every((x) => x >= 0 && x <= 1)).toBe(true);
    const mean = a / (a + b);
    const variance = (a * b) / ((a + b) ** 2 * (a + b + 1));
    const exKurt = (6 * ((a - b) ** 2 * (a + b + 1) - a * b * (a + b + 2))) / (a * b * (a + b + 2) * (a + b + 3));
    expectMoments(xs, mean, variance, exKurt);
  });

  it.each([
    [1, 1],
    [3, 8],
    [50, 51],
    [2, 200],
  ])('Beta(%d, %d) has the right CDF', (a, b) => {
    const rng = new Rng(`samplers:beta-cdf:${a}:${b}`);
    const xs = draw(20000, () => beta(rng, a, b));
    expect(ksOneSample(xs, (x) => betaCdfInt(a, b, x))).toBeGreaterThan(ALPHA);
  });

  it('rejects non-positive shapes', () => {
    const rng = new Rng('samplers:beta:bad');
    expect(beta(rng, 0, 1)).toBeNaN();
    expect(beta(rng, 1, -2)).toBeNaN();
  });
});
