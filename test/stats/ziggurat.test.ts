import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/stats/random.js';
import { normalCdf } from '../../src/stats/tests.js';
import { exponential, fillNormals } from '../../src/stats/ziggurat.js';

describe('fillNormals (256-layer ziggurat)', () => {
  const n = 1_000_000;
  const xs = new Float64Array(n);
  // Odd sizes: chunks that end inside a layer draw, and calls that span several chunks.
  const rng = new Rng('ziggurat');
  for (let done = 0; done < n; ) {
    const c = Math.min(n - done, 1 + ((done * 7919) % 5003));
    fillNormals(rng, xs.subarray(done), c);
    done += c;
  }

  it('draws standard normals: the KS distance to Φ, the moments and the tail shares match', () => {
    let sum = 0, sq = 0, cross = 0;
    for (let i = 0; i < n; i++) {
      sum += xs[i]!;
      sq += xs[i]! * xs[i]!;
      if (i > 0) cross += xs[i]! * xs[i - 1]!;
    }
    // Standard errors: mean 1/√n = 0.001, variance √(2/n) = 0.0014, lag-1 correlation 1/√n.
    expect(Math.abs(sum / n)).toBeLessThan(5e-3);
    expect(Math.abs(sq / n - 1)).toBeLessThan(7e-3);
    expect(Math.abs(cross / n)).toBeLessThan(5e-3);
    const sorted = Float64Array.from(xs).sort();
    let d = 0;
    for (let i = 0; i < n; i++) {
      const f = normalCdf(sorted[i]!);
      d = Math.max(d, Math.abs(f - i / n), Math.abs(f - (i + 1) / n));
    }
    // Kolmogorov: P(√n·D > 1.95) ≈ 0.001.
    expect(d).toBeLessThan(1.95 / Math.sqrt(n));
    // scipy.stats.norm.sf: 1 → 0.158655, 2.5 → 0.0062097, 3.6542 (this ziggurat's tail start) → 1.29016e-4, 4 → 3.1671e-5.
    for (const [t, p] of [[1, 0.158655], [2.5, 0.0062097], [3.6541528853610088, 1.29016e-4], [4, 3.1671e-5]] as const) {
      const se = Math.sqrt((p * (1 - p)) / n);
      let above = 0, below = 0;
      for (let i = 0; i < n; i++) {
        if (xs[i]! > t) above++;
        else if (xs[i]! < -t) below++;
      }
      expect(Math.abs(above / n - p)).toBeLessThan(5 * se + 1 / n);
      expect(Math.abs(below / n - p)).toBeLessThan(5 * se + 1 / n);
    }
  });

  it('is a function of the stream alone', () => {
    const a = new Float64Array(5000), b = new Float64Array(5000);
    fillNormals(Rng.forRun(3, 1), a, 5000);
    fillNormals(Rng.forRun(3, 1), b, 5000);
    expect(Array.from(b)).toEqual(Array.from(a));
  });
});

describe('exponential (256-layer ziggurat)', () => {
  const n = 1_000_000;
  const rng = new Rng('exponential');
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = exponential(rng);

  it('draws standard exponentials: the KS distance to 1 − e^-x, the moments and the tail shares match', () => {
    let sum = 0, sq = 0, cross = 0, min = Infinity;
    for (let i = 0; i < n; i++) {
      sum += xs[i]!;
      sq += xs[i]! * xs[i]!;
      min = Math.min(min, xs[i]!);
      if (i > 0) cross += (xs[i]! - 1) * (xs[i - 1]! - 1);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    // Standard errors: mean 1/√n = 0.001; E X² = 2 with variance E X⁴ − 4 = 20, so √(20/n) = 0.0045;
    // lag-1 covariance 1/√n.
    expect(Math.abs(sum / n - 1)).toBeLessThan(5e-3);
    expect(Math.abs(sq / n - 2)).toBeLessThan(0.0225);
    expect(Math.abs(cross / n)).toBeLessThan(5e-3);
    const sorted = Float64Array.from(xs).sort();
    let d = 0;
    for (let i = 0; i < n; i++) {
      const f = -Math.expm1(-sorted[i]!);
      d = Math.max(d, Math.abs(f - i / n), Math.abs(f - (i + 1) / n));
    }
    // Kolmogorov: P(√n·D > 1.95) ≈ 0.001.
    expect(d).toBeLessThan(1.95 / Math.sqrt(n));
    // P(X > t) = e^-t, across layers, at the base strip's start r = 7.697 (the tail drawn by inversion) and beyond.
    for (const t of [0.5, 2, 5, 7.69711747013104972, 9]) {
      const p = Math.exp(-t);
      const se = Math.sqrt((p * (1 - p)) / n);
      let above = 0;
      for (let i = 0; i < n; i++) if (xs[i]! > t) above++;
      expect(Math.abs(above / n - p), `P(X > ${t})`).toBeLessThan(5 * se + 1 / n);
    }
  });

  it('is a function of the stream alone', () => {
    const a = Rng.forRun(3, 1), b = Rng.forRun(3, 1);
    for (let i = 0; i < 1000; i++) expect(exponential(b)).toBe(exponential(a));
  });
});
