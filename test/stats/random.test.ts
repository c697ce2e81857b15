import { describe, expect, it } from 'vitest';
import { Rng, logGamma } from '../../src/stats/random.js';
import { normalCdf } from '../../src/stats/tests.js';

describe('Rng', () => {
  it('is a pure function of its key', () => {
    const a = Rng.forRun(7, 3);
    const b = Rng.forRun(7, 3);
    const c = Rng.forRun(7, 4);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(xs);
  });

  it('derives streams that leave the parent as it was, differ by index, and are uncorrelated with it and each other', () => {
    const parent = Rng.forRun(7, 3);
    const twin = Rng.forRun(7, 3);
    const kids = [0, 1, 2, 3].map((i) => parent.derive(i));
    // The parent's draws are unmoved, and deriving is a pure function of its state and the index.
    expect(Array.from({ length: 5 }, () => parent.nextUint32())).toEqual(Array.from({ length: 5 }, () => twin.nextUint32()));
    expect(Rng.forRun(7, 3).derive(2).nextUint32()).toBe(Rng.forRun(7, 3).derive(2).nextUint32());
    // Correlation of uniforms, stream against stream and against the parent's continuation: under
    // independence each is N(0, 1/n), so |r| < 5/sqrt(n) fails by chance once in ~3.5 million.
    const n = 100_000;
    const draws = [...kids, parent].map((r) => Float64Array.from({ length: n }, () => r.uniform()));
    for (let a = 0; a < draws.length; a++) {
      for (let b = a + 1; b < draws.length; b++) {
        let sxy = 0;
        for (let i = 0; i < n; i++) sxy += (draws[a]![i]! - 0.5) * (draws[b]![i]! - 0.5);
        const r = sxy / n / (1 / 12);
        expect(Math.abs(r), `streams ${a} and ${b}`).toBeLessThan(5 / Math.sqrt(n));
      }
    }
  });

  it('draws uniforms in the open interval with mean 1/2 and variance 1/12', () => {
    const rng = new Rng('uniform');
    const n = 200_000;
    let sum = 0, sq = 0, min = 1, max = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      sum += u;
      sq += u * u;
      min = Math.min(min, u);
      max = Math.max(max, u);
    }
    expect(min).toBeGreaterThan(0);
    expect(max).toBeLessThan(1);
    // Standard error of the mean: sqrt(1/12/n) = 6.5e-4; allow 5 of them.
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(5 * 6.5e-4);
    expect(Math.abs(sq / n - (sum / n) ** 2 - 1 / 12)).toBeLessThan(0.002);
  });

  it('draws standard normals: the KS distance to Φ and the tail shares match', () => {
    const rng = new Rng('normal');
    const n = 400_000;
    const xs = new Float64Array(n);
    for (let i = 0; i < n; i++) xs[i] = rng.normal();
    xs.sort();
    let d = 0;
    for (let i = 0; i < n; i++) {
      const f = normalCdf(xs[i]!);
      d = Math.max(d, Math.abs(f - i / n), Math.abs(f - (i + 1) / n));
    }
    // Kolmogorov: P(√n·D > 1.95) ≈ 0.001, so D < 1.95/√n = 0.0031 fails once in a thousand seeds.
    expect(d).toBeLessThan(1.95 / Math.sqrt(n));
    const share = (t: number) => xs.filter((x) => x > t).length / n;
    // scipy.stats.norm.sf: 1 → 0.158655, 2.5 → 0.0062097, 3.4426 (the ziggurat tail start) → 2.8805e-4, 4 → 3.1671e-5.
    for (const [t, p] of [[1, 0.158655], [2.5, 0.0062097], [3.442619855899, 2.8805e-4], [4, 3.1671e-5]] as const) {
      const se = Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs(share(t) - p)).toBeLessThan(5 * se + 1 / n);
      expect(Math.abs(xs.filter((x) => x < -t).length / n - p)).toBeLessThan(5 * se + 1 / n);
    }
  });

  it('draws Poisson counts with the right law, small and large means', () => {
    const rng = new Rng('poisson');
    const n = 100_000;
    // scipy.stats.poisson.pmf(range(6), 3.5)
    const pmf = [0.030197383, 0.105690842, 0.184958973, 0.215785469, 0.188812285, 0.13216860];
    const counts = new Array(6).fill(0);
    for (let i = 0; i < n; i++) {
      const k = rng.poisson(3.5);
      if (k < 6) counts[k]++;
    }
    pmf.forEach((p, k) => expect(Math.abs(counts[k] / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n)));
    for (const lambda of [12, 250, 40_000]) {
      let sum = 0, sq = 0;
      const m = 50_000;
      for (let i = 0; i < m; i++) {
        const k = rng.poisson(lambda);
        sum += k;
        sq += k * k;
      }
      const mean = sum / m;
      const variance = sq / m - mean * mean;
      expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / m));
      // Var of the sample variance ≈ 2λ²/m for large λ: allow 5 standard errors.
      expect(Math.abs(variance - lambda)).toBeLessThan(5 * lambda * Math.sqrt(2 / m) + 1);
    }
  });

  it('computes ln Γ', () => {
    // math.lgamma in Python: lgamma(0.5) = 0.5723649429247001, lgamma(10) = 12.801827480081469, lgamma(1000.5) = 5908.674175848678
    expect(logGamma(0.5)).toBeCloseTo(0.5723649429247001, 12);
    expect(logGamma(10)).toBeCloseTo(12.801827480081469, 11);
    expect(logGamma(1000.5)).toBeCloseTo(5908.674175848678, 8);
  });
});
