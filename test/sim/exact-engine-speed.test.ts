// Checks for the exact engine's cheaper routes: fewer Gauss–Legendre nodes on narrow intervals,
// halving a tail where no split qualifies, and drawing only the wanted quantiles' order statistics.
import { describe, expect, it } from 'vitest';
import { SumSampler, lognormalCumulants } from '../../src/sim/exact-engine.js';
import { quantileSorted } from '../../src/stats/quantile.js';
import { normalAbove } from '../../src/stats/normal-above.js';
import { Rng } from '../../src/stats/random.js';
import { normalQuantile } from '../../src/stats/samplers.js';
import { ksTwoSample, normalSf } from '../../src/stats/tests.js';

const KS_ALPHA = 1e-4;
const ksP = (a: readonly number[], b: readonly number[]) => ksTwoSample(Float64Array.from(a).sort(), Float64Array.from(b).sort()).p;

/** Cumulants of exp(σZ) given a < Z < b by composite Simpson's rule on 4000 panels: the reference. */
function simpsonCumulants(sigma: number, a: number, b: number): number[] {
  const n = 4000, h = (b - a) / n;
  const m = [0, 0, 0, 0, 0];
  const s = Math.exp(sigma * (a + b) / 2);
  for (let i = 0; i <= n; i++) {
    const z = a + i * h;
    const w = (i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * Math.exp(-0.5 * z * z);
    const d = Math.exp(sigma * z) - s;
    for (let r = 0; r <= 4; r++) m[r]! += w * d ** r;
  }
  const [e1, e2, e3, e4] = [m[1]! / m[0]!, m[2]! / m[0]!, m[3]! / m[0]!, m[4]! / m[0]!];
  const c2 = e2 - e1 * e1;
  const c3 = e3 - 3 * e1 * e2 + 2 * e1 ** 3;
  const c4 = e4 - 4 * e1 * e3 + 6 * e1 * e1 * e2 - 3 * e1 ** 4 - 3 * c2 * c2;
  return [s + e1, c2, c3 / c2 ** 1.5, c4 / c2 ** 2];
}

describe('cumulants on narrow intervals (fewer quadrature nodes)', () => {
  it('match a fine Simpson reference for widths 0.0005..1 and σ 0.1..3', () => {
    const out = new Float64Array(4);
    for (const sigma of [0.1, 0.69, 1.4, 3]) {
      for (const width of [0.0005, 0.002, 0.005, 0.01, 0.03, 0.05, 0.15, 0.2, 0.3, 0.4, 0.55, 0.6, 0.8, 1]) {
        for (const a of [-6, -2.5, -0.3, 0.7, 2.2, 4.5]) {
          lognormalCumulants(0, sigma, a, a + width, out);
          const ref = simpsonCumulants(sigma, a, a + width);
          const g1 = out[2]! / out[1]! ** 1.5, g2 = out[3]! / out[1]! ** 2;
          const at = `σ ${sigma}, (${a}, ${a + width})`;
          expect(Math.abs(out[0]! / ref[0]! - 1), `mean ${at}`).toBeLessThan(1e-12);
          expect(Math.abs(out[1]! / ref[1]! - 1), `variance ${at}`).toBeLessThan(1e-9);
          expect(Math.abs(g1 - ref[2]!), `skewness ${at}`).toBeLessThan(1e-7);
          expect(Math.abs(g2 - ref[3]!), `kurtosis ${at}`).toBeLessThan(1e-6);
        }
      }
    }
  });
});

describe('sums where no split qualifies (halving)', () => {
  it.each([
    [1000, 800, 3, false],
    [300, 800, 1.4, false],
    [400, 300, 2, true],
  ] as [number, number, number, boolean][])('of m = %d values (p50 %d, σ %d, rounded %s) match brute-force sums', (m, p50, sigma, rounded) => {
    const law = new SumSampler(Math.log(p50), sigma, rounded);
    const rngE = new Rng(`exact:halves:${m}:${sigma}`);
    const rngB = new Rng(`brute:halves:${m}:${sigma}`);
    const exact: number[] = [], brute: number[] = [];
    for (let i = 0; i < 3000; i++) {
      exact.push(Math.log(law.sum(rngE, m, 1)));
      let s = 0;
      for (let j = 0; j < m; j++) s += law.value(rngB.normal(), 1);
      brute.push(Math.log(s));
    }
    expect(ksP(exact, brute)).toBeGreaterThan(KS_ALPHA);
  });
});

describe('only the wanted quantiles', () => {
  it.each([
    [3000, 0.69, [false, false, false, true, false]],
    [20000, 0.69, [false, false, false, true, false]],
    [5000, 1.4, [true, false, false, false, true]],
  ] as [number, number, boolean[]][])('m = %d, σ %d: the wanted quantiles and the mean match sorted brute-force samples, jointly', (m, sigma, wanted) => {
    const law = new SumSampler(Math.log(800), sigma, false);
    const probs = [0.5, 0.9, 0.95, 0.99, 0.999];
    const rngE = new Rng(`exact:wanted:${m}`);
    const rngB = new Rng(`brute:wanted:${m}`);
    const reps = 1200;
    const out = new Float64Array(5);
    const buf = new Float64Array(m);
    const cols = probs.map((_, q) => q).filter((q) => wanted[q]);
    const exact = cols.map(() => [] as number[]), brute = cols.map(() => [] as number[]);
    const meanE: number[] = [], meanB: number[] = [];
    for (let i = 0; i < reps; i++) {
      meanE.push(law.quantilesAndSum(rngE, m, 1, out, 0, wanted) / m);
      for (let q = 0; q < 5; q++) if (!wanted[q]) expect(out[q]).toBeNaN();
      cols.forEach((q, c) => exact[c]!.push(out[q]!));
      let s = 0;
      for (let j = 0; j < m; j++) s += buf[j] = law.value(rngB.normal(), 1);
      buf.sort();
      cols.forEach((q, c) => brute[c]!.push(quantileSorted(buf, m, probs[q]!)));
      meanB.push(s / m);
    }
    for (let c = 0; c < cols.length; c++) expect(ksP(exact[c]!, brute[c]!), `p${probs[cols[c]!]}`).toBeGreaterThan(KS_ALPHA);
    expect(ksP(meanE, meanB), 'mean').toBeGreaterThan(KS_ALPHA);
    // The mean keeps its correlation with a quantile of the same sample (Fisher's z, 4 standard errors).
    const corr = (x: number[], y: number[]) => {
      const n = x.length, mx = x.reduce((a, b) => a + b) / n, my = y.reduce((a, b) => a + b) / n;
      let sxy = 0, sxx = 0, syy = 0;
      for (let i = 0; i < n; i++) {
        sxy += (x[i]! - mx) * (y[i]! - my);
        sxx += (x[i]! - mx) ** 2;
        syy += (y[i]! - my) ** 2;
      }
      return sxy / Math.sqrt(sxx * syy);
    };
    const last = cols.length - 1;
    const re = corr(exact[last]!, meanE), rb = corr(brute[last]!, meanB);
    expect(Math.abs(Math.atanh(re) - Math.atanh(rb))).toBeLessThan(4 * Math.sqrt(2 / (reps - 3)));
  });
});

describe('normalAbove', () => {
  it.each([1, 1.7, 2.33, 4, 9])('draws Z given Z > %d as inversion does', (a) => {
    const rngE = new Rng(`above:${a}`), rngB = new Rng(`inverse:${a}`);
    const q = normalSf(a);
    const above: number[] = [], inverse: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const x = normalAbove(rngE, a);
      expect(x).toBeGreaterThan(a);
      above.push(x);
      inverse.push(-normalQuantile(q * rngB.uniform()));
    }
    expect(ksP(above, inverse)).toBeGreaterThan(KS_ALPHA);
  });
});
