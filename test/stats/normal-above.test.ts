/**
 * normalAbove(rng, a) against the closed form of the standard normal truncated to (a, ∞).
 *
 * With λ(a) = φ(a)/(1 − Φ(a)) (the inverse Mills ratio), Z | Z > a has
 *   mean     λ
 *   variance 1 + aλ − λ²
 *   CDF      F(x) = 1 − (1 − Φ(x))/(1 − Φ(a)) for x > a.
 *
 * Tolerances, all from the sample size N with fixed seeds (so each assertion always passes or
 * always fails): the sample mean within 4 standard errors √(variance/N) (two-sided p ≈ 6e-5 under
 * the null); the sample variance within 5 standard errors √((μ₄ − σ⁴)/N), with μ₄ estimated from
 * the sample; the one-sample Kolmogorov distance √N·D < 1.95 (Kolmogorov's law: P ≈ 0.001).
 */
import { describe, expect, it } from 'vitest';
import { NORMAL_ABOVE_FROM, NormalAboveTable, normalAbove } from '../../src/stats/normal-above.js';
import { Rng } from '../../src/stats/random.js';
import { normalSf } from '../../src/stats/tests.js';

const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
/** The inverse Mills ratio φ(a)/(1 − Φ(a)): the truncated mean. */
const mills = (a: number) => phi(a) / normalSf(a);

/** Asserts that xs (N draws) have the law of Z | Z > a: support, mean, variance and the KS distance; sorts xs. */
function expectTruncatedNormal(xs: Float64Array, a: number): void {
  const N = xs.length;
  let min = Infinity, sum = 0;
  for (let i = 0; i < N; i++) {
    min = Math.min(min, xs[i]!);
    sum += xs[i]!;
  }
  expect(min).toBeGreaterThanOrEqual(a);

  const lambda = mills(a);
  const variance = 1 + a * lambda - lambda * lambda;
  const mean = sum / N;
  expect(Math.abs(mean - lambda)).toBeLessThan(4 * Math.sqrt(variance / N));

  let m2 = 0, m4 = 0;
  for (let i = 0; i < N; i++) {
    const d = xs[i]! - mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= N - 1;
  m4 /= N;
  expect(Math.abs(m2 - variance)).toBeLessThan(5 * Math.sqrt((m4 - m2 * m2) / N));

  // One-sample KS against F(x) = 1 − sf(x)/sf(a); sf is accurate far into the tail.
  const sorted = xs.sort();
  const tail = normalSf(a);
  let d = 0;
  for (let i = 0; i < N; i++) {
    const f = 1 - normalSf(sorted[i]!) / tail;
    d = Math.max(d, Math.abs(f - i / N), Math.abs(f - (i + 1) / N));
  }
  expect(Math.sqrt(N) * d).toBeLessThan(1.95);
}

describe('normalAbove', () => {
  const N = 200_000;

  it.each([0.5, NORMAL_ABOVE_FROM, 2.326, 4, 7])('draws Z | Z > %s: above a, with the exact mean, variance and CDF', (a) => {
    const rng = Rng.forRun(20240917, Math.round(a * 1000), 'normal-above');
    const xs = new Float64Array(N);
    for (let i = 0; i < N; i++) xs[i] = normalAbove(rng, a);

    expectTruncatedNormal(xs, a);
    expect(xs[0]!).toBeGreaterThan(a);
  });

  it('matches known truncated means (λ(1) = 1.525135, λ(2) = 2.373216, λ(3) = 3.283099)', () => {
    // scipy.stats.truncnorm(a, inf).mean(): checks the closed form (and normalSf) the test relies on.
    for (const [a, m] of [[1, 1.525135276160981], [2, 2.37321553282284], [3, 3.28309865493044]] as const) expect(mills(a)).toBeCloseTo(m, 6);
    // And the tail mass puts P(Z > a + 1 | Z > a) at sf(a + 1)/sf(a): at a = 2, 0.0013499/0.0227501 = 0.059336 (scipy).
    const rng = Rng.forRun(7, 0, 'normal-above');
    const n = 100_000;
    let above = 0;
    for (let i = 0; i < n; i++) if (normalAbove(rng, 2) > 3) above++;
    const p = normalSf(3) / normalSf(2);
    expect(p).toBeCloseTo(0.05934, 4);
    // Binomial standard error √(p(1 − p)/n) ≈ 7.5e-4; 5 of them.
    expect(Math.abs(above / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
  });

  it('is a function of the stream alone', () => {
    const draw = () => {
      const rng = Rng.forRun(3, 1);
      return Array.from({ length: 1000 }, (_, i) => normalAbove(rng, 1 + (i % 4)));
    };
    expect(draw()).toEqual(draw());
  });
});

describe('NormalAboveTable (a ziggurat for one cut)', () => {
  const N = 200_000;

  // 0 (a half-normal), the exact engine's split levels 3, 5 and 12 (Φ^-1(1 − 2^-j)), and far cuts.
  it.each([0, 1.1503493803760083, 1.8627318674216515, 3.3527947805048592, 5, 8])('draws Z | Z > %s: above a, with the exact mean, variance, CDF and tail beyond r', (a) => {
    const table = new NormalAboveTable(a);
    const rng = Rng.forRun(20261203, Math.round(a * 1000), 'normal-above-table');
    const xs = new Float64Array(N);
    for (let i = 0; i < N; i++) xs[i] = table.draw(rng);

    // The share beyond the base strip's edge a + r (drawn by normalAbove) is sf(a + r)/sf(a).
    const p = normalSf(a + table.r) / normalSf(a);
    let beyond = 0;
    for (let i = 0; i < N; i++) if (xs[i]! > a + table.r) beyond++;
    expect(Math.abs(beyond / N - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N) + 1 / N);

    expectTruncatedNormal(xs, a);
  });

  it('has the normal ziggurat base edge at a = 0 (Marsaglia & Tsang: r = 3.6541528853610088 for 256 strips)', () => {
    // At a = 0 the density is the half-normal's, whose 256-strip ziggurat is the published one.
    expect(new NormalAboveTable(0).r).toBeCloseTo(3.6541528853610088, 9);
  });

  it('is a function of the stream alone, and refuses a cut it cannot build', () => {
    const draw = () => {
      const rng = Rng.forRun(3, 1);
      const t = new NormalAboveTable(2);
      return Array.from({ length: 1000 }, () => t.draw(rng));
    };
    expect(draw()).toEqual(draw());
    expect(() => new NormalAboveTable(-1)).toThrow(RangeError);
    expect(() => new NormalAboveTable(Infinity)).toThrow(RangeError);
  });
});
