/**
 * The `exact` engine against the `sample` engine (the reference), in distribution.
 *
 * Both engines are driven directly, window by window, on scenarios loaded from files through the
 * public loader, with independent random streams (purposes 'sample' and 'exact'): they are
 * compared in distribution, never draw for draw.
 *
 * Tolerances, all derived from sample sizes, with fixed seeds (a test always passes or always
 * fails):
 * - continuous and count statistics: two-sample KS (ksTwoSample, scipy's asymptotic p-value),
 *   rejecting at p < 1e-4 each; the window battery makes 88 such comparisons, so under the null
 *   the family-wise false-alarm rate is below 1%. KS is conservative for discrete statistics.
 * - run outcomes (outcome × halted check × firing gate): Pearson's chi-square test of homogeneity,
 *   cells with an expected count below 5 pooled, rejecting at p < 0.001.
 * - the exact laws' internals: cumulants against direct summation of the pmf (or quadrature) to
 *   5e-10 and 2e-9 relative (mean, variance) and 1e-7 and 1e-6 absolute (standardised skewness,
 *   excess kurtosis); the laws of sums, order statistics and their joint law against brute force
 *   by KS at p < 1e-4 and Fisher's z on correlations at 4 standard errors.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadScenarioFile } from '../../src/config/load.js';
import type { Gate, Scenario } from '../../src/config/model.js';
import { type CheckMeta, RunJudge, type RunOutcome } from '../../src/gates/judge.js';
import {
  BASELINE,
  CANARY,
  ERRORS,
  N,
  REFUSALS,
  type MetricNeeds,
  QUANTILE_PROBS,
  type SummaryNeeds,
  THUMBS_DOWN,
  WINDOW_WIDTH,
  allNeeds,
  needsOf,
  statOffset,
  testOffset,
} from '../../src/gates/window.js';
import {
  ExactRun,
  MEAN_LAW_FROM,
  MEAN_PER_REQUEST_BELOW,
  SumSampler,
  gatePaths,
  lognormalCumulants,
  roundedLognormalCumulants,
  wholeRoundedCumulants,
} from '../../src/sim/exact-engine.js';
import { type CheckWindow, checkSchedule } from '../../src/sim/ladder.js';
import { SampleRun, UNCHANGED, armLaw } from '../../src/sim/sample-engine.js';
import { quantileSorted } from '../../src/stats/quantile.js';
import { Rng } from '../../src/stats/random.js';
import { normalQuantile } from '../../src/stats/samplers.js';
import { ksTwoSample, normalCdf, normalSf } from '../../src/stats/tests.js';
import { chiSquareTwoSample } from './reference-model.js';

const KS_ALPHA = 1e-4;
const CHI_ALPHA = 0.001;

// ---------------------------------------------------------------------------------------------
// Plumbing

const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-exact-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Writes a scenario file (JSON is YAML) and loads it through the public loader. */
function load(doc: Record<string, unknown>): Scenario {
  const file = path.join(dir, `scenario-${fileCount++}.json`);
  writeFileSync(file, JSON.stringify(doc, null, 2));
  return loadScenarioFile(file);
}

type EngineCtor = new (scenario: Scenario, needs: SummaryNeeds, rng: Rng) => { window(w: CheckWindow, out: Float64Array, at: number): number };
const ENGINES: Record<'sample' | 'exact', EngineCtor> = { sample: SampleRun, exact: ExactRun };

function sorted(xs: readonly number[]): Float64Array {
  return Float64Array.from(xs).sort();
}

/** KS p-value of two samples; NaN (an empty window's statistic) is mapped below every value. */
function ksP(a: readonly number[], b: readonly number[]): { d: number; p: number } {
  const fix = (x: number) => (Number.isNaN(x) ? -1e300 : x);
  return ksTwoSample(sorted(a.map(fix)), sorted(b.map(fix)));
}

const QUANTILE_STATS = ['p50', 'p90', 'p95', 'p99', 'p999'] as const;

/** Needs with every quantile of the `sorted` metrics read, every mean read, and no test. */
function metricNeeds(sorted: boolean[]): MetricNeeds {
  return {
    sorted,
    tests: sorted.map(() => false),
    quantiles: sorted.map((x) => QUANTILE_PROBS.map(() => x)),
    means: sorted.map(() => true),
    mannWhitney: sorted.map(() => false),
    ks: sorted.map(() => false),
  };
}

const baselineDoc = {
  latency_ms: { p50: 800, p99: 4000 },
  ttft_ms: { p50: 250, p99: 1200 },
  output_tokens: { p50: 300, p99: 1500 },
  input_tokens: { p50: 1000, p99: 6000 },
  error_rate: 0.01,
  refusal_rate: 0.02,
  thumbs_down_rate: 0.05,
};

// ---------------------------------------------------------------------------------------------
// The exact laws, piece by piece

describe('cumulants of one value', () => {
  /** Mass of the standard normal on (lo, hi). */
  const mass = (lo: number, hi: number) => (lo >= hi ? 0 : lo > 0 ? normalSf(lo) - normalSf(hi) : normalSf(-hi) - normalSf(-lo));

  /** Cumulants of max(1, round(e^(μ+σZ))) given zLo < Z < zHi, by summing the pmf term by term. */
  function direct(mu: number, sigma: number, zLo: number, zHi: number): number[] | null {
    const total = mass(zLo, zHi);
    const xHi = Math.exp(mu + sigma * zHi);
    const kEnd = Math.min(Math.ceil(xHi + 0.5), Math.exp(mu + (8.5 + 4 * sigma) * sigma) + 2);
    if (kEnd > 3e6) return null; // a heavy untruncated tail: millions of terms
    const atLeast = (k: number) => (k <= 1 ? 1 : mass(Math.max((Math.log(k - 0.5) - mu) / sigma, zLo), zHi) / total);
    const pmf: number[] = [];
    for (let k = 1; k <= kEnd; k++) pmf.push(Math.max(0, atLeast(k) - atLeast(k + 1)));
    let mean = 0;
    pmf.forEach((p, i) => (mean += p * (i + 1)));
    let c2 = 0, c3 = 0, c4 = 0;
    pmf.forEach((p, i) => {
      const d = i + 1 - mean;
      c2 += p * d * d;
      c3 += p * d * d * d;
      c4 += p * d * d * d * d;
    });
    return [mean, c2, c3, c4 - 3 * c2 * c2];
  }

  /** Cumulants of e^(μ+σZ) given zLo < Z < zHi by Simpson's rule in z (error ~h⁴). */
  function quadrature(mu: number, sigma: number, zLo: number, zHi: number): number[] {
    const lo = Math.max(zLo, -12);
    const hi = Math.min(zHi, 4 * sigma + 12);
    const steps = 100000;
    const h = (hi - lo) / steps;
    const pts: [number, number][] = [];
    for (let i = 0; i <= steps; i++) {
      const z = lo + i * h;
      const simpson = i === 0 || i === steps ? 1 : i % 2 === 1 ? 4 : 2;
      pts.push([Math.exp(mu + sigma * z), (Math.exp(-0.5 * z * z) * h * simpson) / 3]);
    }
    const w0 = pts.reduce((a, [, w]) => a + w, 0);
    const mean = pts.reduce((a, [x, w]) => a + x * w, 0) / w0;
    const cm = (r: number) => pts.reduce((a, [x, w]) => a + (x - mean) ** r * w, 0) / w0;
    const v = cm(2);
    return [mean, v, cm(3), cm(4) - 3 * v * v];
  }

  // Whole range, truncated above (the split levels), gaps between order statistics, upper tails.
  const INTERVALS: [number, number][] = [
    [-Infinity, Infinity],
    [-Infinity, -normalQuantile(2 ** -3)],
    [-Infinity, -normalQuantile(2 ** -10)],
    [-Infinity, 0.02],
    [0.01, 1.28],
    [1.3, 2.33],
    [2.33, 3.09],
    [3.09, Infinity],
    [-0.7, -0.69],
  ];

  it('of a rounded lognormal token count match direct summation of its pmf', () => {
    const out = new Float64Array(4);
    const cases: [number, number][] = [
      [300, 0.692],
      [5, 1],
      [2, 0.5],
      [0.6, 0.3],
      [50, 0.3],
      [20, 0.1],
      [300, 0.05],
      [3000, 0.05],
      [300, 0.01],
      [300, 0.001],
      [1, 2],
      [300, 1.4],
    ];
    let checked = 0;
    for (const [p50, sigma] of cases) {
      for (const [zLo, zHi] of INTERVALS) {
        const mu = Math.log(p50);
        const ref = direct(mu, sigma, zLo, zHi);
        if (!ref) continue;
        roundedLognormalCumulants(mu, sigma, zLo, zHi, out);
        const [m, v, k3, k4] = ref as [number, number, number, number];
        const where = `p50 ${p50} σ ${sigma} z in (${zLo}, ${zHi})`;
        expect(Math.abs(out[0]! - m) / m, where).toBeLessThan(5e-10);
        if (v < 1e-12 * m * m) {
          expect(out[1]!, where).toBeLessThan(1e-10 * m * m);
          continue;
        }
        expect(Math.abs(out[1]! - v) / v, where).toBeLessThan(2e-9);
        expect(Math.abs(out[2]! - k3) / Math.pow(v, 1.5), where).toBeLessThan(1e-7);
        expect(Math.abs(out[3]! - k4) / (v * v), where).toBeLessThan(1e-6);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it('of a lognormal, truncated or not, match the closed forms and quadrature', () => {
    const out = new Float64Array(4);
    // Untruncated: mean e^(σ²/2), variance (e^σ² − 1)e^σ², skewness (e^σ² + 2)√(e^σ² − 1).
    for (const sigma of [0.01, 0.692, 1.4]) {
      lognormalCumulants(0, sigma, -Infinity, Infinity, out);
      const w = Math.exp(sigma * sigma);
      expect(out[0]).toBeCloseTo(Math.sqrt(w), 12);
      expect(Math.abs(out[1]! / ((w - 1) * w) - 1)).toBeLessThan(1e-12);
      expect(Math.abs(out[2]! / Math.pow(out[1]!, 1.5) - (w + 2) * Math.sqrt(w - 1))).toBeLessThan(1e-9 * (w + 2) * Math.sqrt(w - 1));
      expect(Math.abs(out[3]! / (out[1]! * out[1]!) - (w ** 4 + 2 * w ** 3 + 3 * w ** 2 - 6))).toBeLessThan(1e-9 * w ** 4);
    }
    for (const sigma of [0.692, 1.4, 2]) {
      for (const [zLo, zHi] of INTERVALS.slice(1)) {
        lognormalCumulants(Math.log(800), sigma, zLo, zHi, out);
        const [m, v, k3, k4] = quadrature(Math.log(800), sigma, zLo, zHi) as [number, number, number, number];
        const where = `σ ${sigma} z in (${zLo}, ${zHi})`;
        expect(Math.abs(out[0]! / m - 1), where).toBeLessThan(1e-8);
        expect(Math.abs(out[1]! / v - 1), where).toBeLessThan(1e-7);
        expect(Math.abs(out[2]! - k3) / v ** 1.5, where).toBeLessThan(1e-6);
        expect(Math.abs(out[3]! - k4) / (v * v), where).toBeLessThan(1e-5);
      }
    }
  });

  it('of a lognormal times a factor f are f^r times those at f = 1, truncated or not', () => {
    const a = new Float64Array(4), b = new Float64Array(4);
    const rng = Rng.forRun(7, 0);
    for (const sigma of [0.1, 0.692, 1.4]) {
      for (const zHi of [Infinity, -normalQuantile(2 ** -3), -normalQuantile(2 ** -12)]) {
        lognormalCumulants(Math.log(800), sigma, -Infinity, zHi, b);
        for (let i = 0; i < 50; i++) {
          const f = Math.exp(0.6 * rng.normal());
          lognormalCumulants(Math.log(800) + Math.log(f), sigma, -Infinity, zHi, a);
          // Relative on κ1, κ2; on κ3, κ4 in units of κ2^(r/2) (lognormalCumulants' own error at σ = 0.1 truncated).
          const where = `σ ${sigma} zHi ${zHi} f ${f}`;
          expect(Math.abs(a[0]! / (b[0]! * f) - 1), where).toBeLessThan(1e-13);
          expect(Math.abs(a[1]! / (b[1]! * f * f) - 1), where).toBeLessThan(1e-9);
          expect(Math.abs(a[2]! - b[2]! * f ** 3) / a[1]! ** 1.5, where).toBeLessThan(1e-7);
          expect(Math.abs(a[3]! - b[3]! * f ** 4) / a[1]! ** 2, where).toBeLessThan(1e-6);
        }
      }
    }
  });

  /**
   * Whole-window token counts at a random factor: interpolated in μ' = μ + ln f (wholeRoundedCumulants,
   * with the level's normal tails, as the sampler calls it) against roundedLognormalCumulants at
   * 9,600 random (σ, level, μ'). Tolerances: 1e-10 relative on
   * mean and variance, 1e-8 on the standardised skewness κ3/κ2^1.5 and kurtosis κ4/κ2² (absolute, or
   * relative when above 1). The interpolation alone (against the same sums done directly) is held to
   * 1e-12 relative on mean and variance and 1e-9 on the standardised ones (σ = 0.1 is the worst).
   */
  it('of a whole-window token count, interpolated over the window factor, match direct computation', () => {
    const a = new Float64Array(4), d = new Float64Array(4), u = new Float64Array(4);
    const rng = Rng.forRun(11, 0);
    const std = (k: Float64Array) => [k[0]!, k[1]!, k[2]! / k[1]! ** 1.5, k[3]! / (k[1]! * k[1]!)];
    let used = 0, tried = 0;
    const worst = [0, 0, 0, 0];
    for (const sigma of [0.1, 0.3, 0.5, 0.692, 0.77, 1, 1.4, 2]) {
      for (const level of [0, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 30]) {
        const zHi = level === 0 ? Infinity : -normalQuantile(2 ** -level);
        // As the sampler passes them: Φ and 1 − Φ at zHi − lσ, which route the Euler–Maclaurin
        // part through (α, zHi) less the sliver below the cut.
        const phi = Float64Array.from({ length: 10 }, (_, i) => (i % 2 ? normalSf : normalCdf)(zHi - Math.floor(i / 2) * sigma));
        for (let i = 0; i < 100; i++) {
          const mu = Math.log(300) + 1.2 * rng.normal() + 0.6 * (rng.uniform() - 0.5);
          tried++;
          if (!wholeRoundedCumulants(mu, sigma, zHi, a, true, normalCdf(zHi), normalSf(zHi), phi, 0)) continue;
          used++;
          roundedLognormalCumulants(mu, sigma, -Infinity, zHi, d);
          expect(wholeRoundedCumulants(mu, sigma, zHi, u, false)).toBe(true);
          const where = `σ ${sigma} level ${level} μ' ${mu}`;
          const [am, av, ag1, ag2] = std(a) as [number, number, number, number];
          const [dm, dv, dg1, dg2] = std(d) as [number, number, number, number];
          const [um, uv, ug1, ug2] = std(u) as [number, number, number, number];
          const errs = [Math.abs(am / dm - 1), Math.abs(av / dv - 1), Math.abs(ag1 - dg1) / Math.max(1, Math.abs(dg1)), Math.abs(ag2 - dg2) / Math.max(1, Math.abs(dg2))];
          errs.forEach((e, k) => (worst[k] = Math.max(worst[k]!, e)));
          expect(errs[0], where).toBeLessThan(1e-10);
          expect(errs[1], where).toBeLessThan(1e-10);
          expect(errs[2], where).toBeLessThan(1e-8);
          expect(errs[3], where).toBeLessThan(1e-8);
          expect(Math.abs(am / um - 1), where).toBeLessThan(1e-12);
          expect(Math.abs(av / uv - 1), where).toBeLessThan(1e-12);
          expect(Math.abs(ag1 - ug1) / Math.max(1, Math.abs(ug1)), where).toBeLessThan(1e-9);
          expect(Math.abs(ag2 - ug2) / Math.max(1, Math.abs(ug2)), where).toBeLessThan(1e-9);
        }
      }
    }
    // The route covers most of these (the rest: medians too small for the cut, computed directly).
    expect(used / tried, `worst ${worst.map((w) => w.toExponential(1)).join(' ')}`).toBeGreaterThan(0.6);
    // Below σ = 0.1, and for tiny medians, it declines.
    expect(wholeRoundedCumulants(Math.log(300), 0.05, Infinity, a)).toBe(false);
    expect(wholeRoundedCumulants(Math.log(2), 0.692, -normalQuantile(2 ** -3), a)).toBe(false);
  });
});

describe('the law of a window mean', () => {
  // (m, p50, σ, rounded): typical shapes at the per-request threshold, heavy tails (latency_tail
  // 2 and 3 times the default σ) that need the split, and a high count.
  const CASES: [number, number, number, boolean][] = [
    [500, 300, 0.692, true],
    [500, 800, 1.0, false],
    [1000, 300, 0.692, true],
    [1000, 800, 1.4, false],
    [1200, 300, 1.4, true],
    [3000, 800, 2.0, false],
    [5000, 1000, 0.77, true],
    // Deep splits, where under one value is expected above the cut (level ≥ 12), and the bench's 750.
    [2970, 300, 0.692, true],
    [750, 1000, 0.77, true],
  ];
  it.each(CASES)('of m = %d values (p50 %d, σ %d, rounded %s) matches brute-force sums', (m, p50, sigma, rounded) => {
    const law = new SumSampler(Math.log(p50), sigma, rounded);
    const reps = 2000;
    const rngE = new Rng(`exact:sum:${m}:${sigma}`);
    const rngB = new Rng(`brute:sum:${m}:${sigma}`);
    const exact: number[] = [];
    const brute: number[] = [];
    for (let i = 0; i < reps; i++) {
      const f = 1 + 0.05 * rngE.normal();
      exact.push(law.sum(rngE, m, f) / m);
      expect(law.lastLevel).toBeGreaterThanOrEqual(0);
    }
    for (let i = 0; i < reps; i++) {
      const f = 1 + 0.05 * rngB.normal();
      let s = 0;
      for (let j = 0; j < m; j++) s += law.value(rngB.normal(), f);
      brute.push(s / m);
    }
    expect(ksP(exact, brute).p).toBeGreaterThan(KS_ALPHA);
  });

  it('splits a whole window at the deepest level whose truncated law qualifies', () => {
    // The deepest j whose rounded law below Φ^-1(1 − 2^-j), for c(1 − 2^-j) values, has
    // |skewness| and |excess kurtosis| of the sum within 0.05, computed here level by level by
    // roundedLognormalCumulants; the sampler may stop one level short, as it picks from the
    // unrounded law with a 2% margin.
    const k = new Float64Array(4);
    for (const [m, p50, sigma] of [[2970, 300, 0.692], [2250, 1000, 0.77], [750, 300, 0.692], [750, 1000, 0.77], [1500, 50, 0.5], [1000, 50, 0.5]] as const) {
      const qualifies = (j: number) => {
        roundedLognormalCumulants(Math.log(p50), sigma, -Infinity, j === 0 ? Infinity : -normalQuantile(2 ** -j), k);
        const n = m * (1 - (j === 0 ? 0 : 2 ** -j));
        const g1 = k[2]! / (k[1]! * Math.sqrt(k[1]! * n)), g2 = k[3]! / (k[1]! * k[1]! * n);
        return Math.abs(g1) <= 0.05 && Math.abs(g2) <= 0.05;
      };
      // No split when the whole law qualifies; else the deepest level from 3 on.
      let deepest = 0;
      if (!qualifies(0)) for (let j = 3; j <= 40 && qualifies(j); j++) deepest = j;
      const law = new SumSampler(Math.log(p50), sigma, true);
      law.sum(new Rng(`exact:level:${m}`), m, 1);
      const at = `m ${m}, p50 ${p50}, σ ${sigma}`;
      if (deepest === 0) expect(law.lastLevel, at).toBe(0);
      else {
        expect(law.lastLevel, at).toBeGreaterThanOrEqual(deepest - 1);
        expect(law.lastLevel, at).toBeLessThanOrEqual(deepest);
      }
    }
    // 2,970 values at σ 0.692 expect under one value above the cut: far deeper than ~8.
    const law = new SumSampler(Math.log(300), 0.692, true);
    law.sum(new Rng('exact:level:deep'), 2970, 1);
    expect(2970 * 2 ** -law.lastLevel).toBeLessThan(1);
  });

  it('draws a mean request by request where that costs less than its law', () => {
    const light = new SumSampler(Math.log(300), 0.77, true), heavy = new SumSampler(Math.log(300), 1.4, true);
    // Small windows always; from MEAN_LAW_FROM never.
    expect(light.meanPerRequest(MEAN_PER_REQUEST_BELOW - 1, 1)).toBe(true);
    expect(heavy.meanPerRequest(MEAN_LAW_FROM, 1)).toBe(false);
    // Between: the law where a split at the top eighth qualifies (σ 0.77 from ~180 values), one by
    // one where the law would halve its tail instead (σ 1.4 needs thousands).
    expect(light.meanPerRequest(300, 1)).toBe(false);
    expect(heavy.meanPerRequest(300, 1)).toBe(true);
    // Which is what the law itself finds: a split level for the light tail, halving for the heavy one.
    const law = new SumSampler(Math.log(300), 0.77, true);
    law.sum(new Rng('exact:mean-per-request'), 300, 1);
    expect(law.lastLevel).toBeGreaterThanOrEqual(3);
    const heavyLaw = new SumSampler(Math.log(300), 1.4, true);
    heavyLaw.sum(new Rng('exact:mean-per-request'), 300, 1);
    expect(heavyLaw.lastLevel).toBe(-1);
    // Tiny medians, where rounding makes the proxy unreliable, stay one by one below MEAN_LAW_FROM.
    expect(new SumSampler(Math.log(3), 0.5, true).meanPerRequest(400, 1)).toBe(true);
  });

  it('returns at any scale and for non-counts, and says which level each sum used', () => {
    // Token counts beyond 2^53, where k + 1 === k: the rounded law's sums once looped forever.
    const huge = new SumSampler(Math.log(3), 0.3, true);
    expect(huge.sum(new Rng('exact:huge'), 33, 1e17)).toBeGreaterThan(1e18);
    const q = new Float64Array(QUANTILE_PROBS.length);
    expect(huge.quantilesAndSum(new Rng('exact:huge'), 200, 1e16, q, 0)).toBeGreaterThan(1e18);
    expect(Array.from(q).every((x) => x > 1e16)).toBe(true);
    // A window of no values (or of a non-count) has no quantiles and a sum of 0.
    for (const m of [0, NaN, -3]) {
      expect(huge.quantilesAndSum(new Rng('exact:none'), m, 1, q, 0)).toBe(0);
      expect(Array.from(q).every(Number.isNaN)).toBe(true);
    }
    // lastLevel belongs to the last sum: a small window drawn one by one reads -1, not the previous level.
    const law = new SumSampler(Math.log(50), 0.7, true);
    law.sum(new Rng('exact:level-reset'), 3000, 1);
    expect(law.lastLevel).toBeGreaterThan(0);
    law.sum(new Rng('exact:level-reset'), 20, 1);
    expect(law.lastLevel).toBe(-1);
  });

  it('draws the values one by one only where no split qualifies', () => {
    // σ = 3 at m = 1000: even a top share of 1/8 leaves the truncated sum too skewed.
    const law = new SumSampler(Math.log(800), 3, false);
    expect(law.sum(new Rng('exact:fallback'), 1000, 1)).toBeGreaterThan(0);
    expect(law.lastLevel).toBe(-1);
    expect(law.sum(new Rng('exact:fallback'), 1e6, 1)).toBeGreaterThan(0);
    expect(law.lastLevel).toBeGreaterThan(0);
    // Degenerate laws are exact without any draw.
    expect(new SumSampler(Math.log(300), 0, true).sum(new Rng('x'), 5000, 1.2)).toBe(5000 * 360);
    expect(new SumSampler(Math.log(300), 0.7, true).sum(new Rng('x'), 5000, 0)).toBe(5000);
    expect(new SumSampler(Math.log(300), 0.7, false).sum(new Rng('x'), 0, 1)).toBe(0);
  });
});

describe('the joint law of window quantiles and mean', () => {
  const PROBS = [0.5, 0.9, 0.95, 0.99, 0.999];
  /** Fisher's z: correlations r1 (n1 pairs) and r2 (n2 pairs) agree within 4 standard errors. */
  const sameCorrelation = (r1: number, n1: number, r2: number, n2: number) => Math.abs(Math.atanh(r1) - Math.atanh(r2)) <= 4 * Math.sqrt(1 / (n1 - 3) + 1 / (n2 - 3));
  function correlation(x: number[], y: number[]): number {
    const n = x.length;
    const mx = x.reduce((a, b) => a + b, 0) / n, my = y.reduce((a, b) => a + b, 0) / n;
    let sxy = 0, sxx = 0, syy = 0;
    for (let i = 0; i < n; i++) {
      sxy += (x[i]! - mx) * (y[i]! - my);
      sxx += (x[i]! - mx) ** 2;
      syy += (y[i]! - my) ** 2;
    }
    return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
  }

  it.each([
    [1, 300, 0.692, true],
    [2, 300, 0.692, true],
    [3, 300, 0.692, true],
    [7, 300, 0.692, true],
    [40, 300, 0.692, true],
    [600, 300, 0.692, true],
    [4000, 800, 1.4, false],
  ] as [number, number, number, boolean][])('of m = %d values (p50 %d, σ %d, rounded %s) match sorted brute-force samples', (m, p50, sigma, rounded) => {
    const law = new SumSampler(Math.log(p50), sigma, rounded);
    const reps = m > 1000 ? 1500 : 3000;
    const rngE = new Rng(`exact:quantiles:${m}`);
    const rngB = new Rng(`brute:quantiles:${m}`);
    const out = new Float64Array(5);
    // Columns: p50..p999, then the mean.
    const exact: number[][] = [[], [], [], [], [], []];
    const brute: number[][] = [[], [], [], [], [], []];
    const buf = new Float64Array(m);
    for (let i = 0; i < reps; i++) {
      const sum = law.quantilesAndSum(rngE, m, 1, out, 0);
      for (let q = 0; q < 5; q++) exact[q]!.push(out[q]!);
      exact[5]!.push(sum / m);
      let s = 0;
      for (let j = 0; j < m; j++) s += buf[j] = law.value(rngB.normal(), 1);
      buf.sort();
      PROBS.forEach((p, q) => brute[q]!.push(quantileSorted(buf, m, p)));
      brute[5]!.push(s / m);
    }
    for (let q = 0; q < 6; q++) expect(ksP(exact[q]!, brute[q]!).p, `column ${q}`).toBeGreaterThan(KS_ALPHA);
    // Jointly: the mean's correlation with p50 and with p99 is that of one sample.
    for (const q of [0, 3]) {
      const re = correlation(exact[q]!, exact[5]!), rb = correlation(brute[q]!, brute[5]!);
      // (For m ≤ 2 the median is the mean: both correlations are 1.)
      const same = (re > 0.9999 && rb > 0.9999) || sameCorrelation(re, reps, rb, reps);
      expect(same, `corr(column ${q}, mean): ${re.toFixed(3)} vs ${rb.toFixed(3)}`).toBe(true);
    }
    // The five quantiles of one draw are ordered, as those of one sample are.
    for (let i = 0; i < reps; i++) for (let q = 1; q < 5; q++) if (exact[q]![i]! < exact[q - 1]![i]!) throw new Error(`unordered at ${i}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Contract

describe('ExactRun output contract', () => {
  const scenarioDoc = (ttft: boolean) => ({
    name: 'contract',
    traffic: { requests_per_minute: 2000, baseline: ttft ? baselineDoc : { ...baselineDoc, ttft_ms: undefined } },
    candidate: { price: 1.2 },
    rollout: { stages: [{ percent: 10, hold: '15m' }, { percent: 100 }], check_every: '5m' },
  });

  it('writes what SampleRun writes, NaN where nobody asked, and pools stage windows exactly', () => {
    for (const ttft of [false, true]) {
      const scenario = load(scenarioDoc(ttft));
      const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
      const needs: SummaryNeeds = { check: metricNeeds([true, false, false, false, false]), stage: metricNeeds([false, false, false, false, false]) };
      const exact = new ExactRun(scenario, needs, Rng.forRun(1, 0, 'exact'));
      const sample = new SampleRun(scenario, needs, Rng.forRun(1, 0, 'exact'));
      const e = new Float64Array(2 * WINDOW_WIDTH * schedule.length);
      const s = new Float64Array(2 * WINDOW_WIDTH * schedule.length);
      const pooled = { n: 0, errors: 0, count: 0, costSum: 0, latSum: 0 };
      schedule.forEach((w, c) => {
        const at = 2 * WINDOW_WIDTH * c;
        const nE = exact.window(w, e, at);
        const nS = sample.window(w, s, at);
        expect(nE).toBe(e[at + CANARY + N]);
        // Same stream layout: the candidate, both counts and both factors of the first window
        // are the same draws in both engines.
        if (c === 0) {
          expect(nE).toBe(nS);
          expect(e[at + BASELINE + N]).toBe(s[at + BASELINE + N]);
        }
        // A number wherever SampleRun writes one; beyond that only quantiles of a metric whose
        // quantiles are read (ExactRun always fills all five).
        const latencyQuantiles = new Set([CANARY, BASELINE].flatMap((arm) => QUANTILE_STATS.map((q) => arm + statOffset('latency_ms', q))));
        for (let i = 0; i < 2 * WINDOW_WIDTH; i++) {
          const exactNaN = Number.isNaN(e[at + i]!), sampleNaN = Number.isNaN(s[at + i]!);
          if (!sampleNaN) expect(exactNaN, `field ${i}`).toBe(false);
          else if (!exactNaN) expect(latencyQuantiles.has(i), `field ${i}`).toBe(true);
        }
        const ttftCount = e[at + CANARY + statOffset('ttft_ms', 'count')]!;
        expect(ttftCount).toBe(ttft ? e[at + CANARY + statOffset('latency_ms', 'count')] : 0);
        // The stage summary pools the check summaries exactly.
        const count = e[at + CANARY + statOffset('cost_usd', 'count')]!;
        pooled.n += e[at + CANARY + N]!;
        pooled.errors += e[at + CANARY + ERRORS]!;
        pooled.count += count;
        pooled.costSum += count * e[at + CANARY + statOffset('cost_usd', 'mean')]!;
        pooled.latSum += count * e[at + CANARY + statOffset('latency_ms', 'mean')]!;
        const st = at + WINDOW_WIDTH;
        expect(e[st + CANARY + N]).toBe(pooled.n);
        expect(e[st + CANARY + ERRORS]).toBe(pooled.errors);
        expect(e[st + CANARY + statOffset('cost_usd', 'count')]).toBe(pooled.count);
        expect(e[st + CANARY + statOffset('cost_usd', 'mean')]! / (pooled.costSum / pooled.count)).toBeCloseTo(1, 12);
        expect(e[st + CANARY + statOffset('latency_ms', 'mean')]! / (pooled.latSum / pooled.count)).toBeCloseTo(1, 12);
      });
    }
  });

  it('fills every statistic under allNeeds, with tests from per-request draws', () => {
    const scenario = load(scenarioDoc(true));
    const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
    const run = new ExactRun(scenario, allNeeds(), Rng.forRun(2, 0, 'exact'));
    const out = new Float64Array(2 * WINDOW_WIDTH);
    for (const w of schedule) {
      run.window(w, out, 0);
      for (let i = 0; i < 2 * WINDOW_WIDTH; i++) expect(Number.isNaN(out[i]!), `field ${i}`).toBe(false);
      const p = out[testOffset('output_tokens', 'ks')]!;
      expect(p >= 0 && p <= 1).toBe(true);
    }
  });
});

describe('means only where a gate reads them', () => {
  it('draws the token means a cost gate prices, leaves unread means NaN, and keeps the quantiles read', () => {
    const scenario = load({ name: 'means', traffic: { requests_per_minute: 600, baseline: baselineDoc }, rollout: { stages: [{ percent: 5, hold: '30m' }, { percent: 25, hold: '30m' }, { percent: 100 }], check_every: '5m' } });
    const gate = (partial: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate => ({ stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...partial });
    const needs = needsOf([{ label: 'means', source: 'test', gates: [gate({ name: 'p99', metric: 'latency_ms', stat: 'p99', max_ratio: 2 }), gate({ name: 'cost', metric: 'cost_usd', max_ratio: 2 })] }]);
    expect(needs.check.means).toEqual([false, false, false, false, true]);
    const run = new ExactRun(scenario, needs, Rng.forRun(3, 0, 'exact'));
    const out = new Float64Array(WINDOW_WIDTH);
    const law = armLaw(scenario, UNCHANGED);
    // Windows of ~30 to ~2,900 requests: per-request means in the small ones, exact above.
    for (const w of checkSchedule(scenario.stages, scenario.checkEveryMinutes)) {
      run.window(w, out, 0);
      for (const arm of [CANARY, BASELINE]) {
        if (!(out[arm + statOffset('latency_ms', 'count')]! > 0)) continue;
        expect(out[arm + statOffset('latency_ms', 'p99')]).toBeGreaterThan(0);
        expect(out[arm + statOffset('latency_ms', 'mean')]).toBeNaN();
        expect(out[arm + statOffset('ttft_ms', 'mean')]).toBeNaN();
        const input = out[arm + statOffset('input_tokens', 'mean')]!, output = out[arm + statOffset('output_tokens', 'mean')]!;
        expect(input).toBeGreaterThanOrEqual(1);
        expect(output).toBeGreaterThanOrEqual(1);
        if (arm === BASELINE) expect(out[arm + statOffset('cost_usd', 'mean')]! / (input * law.inputPrice + output * law.outputPrice)).toBeCloseTo(1, 12);
      }
    }
  });
});

describe('gatePaths', () => {
  it('says which gates are exact and which per-request', () => {
    const g = (partial: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate => ({ stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...partial });
    const scenario = load({ name: 'paths', rollout: { stages: [{ percent: 5, hold: '1h' }, { percent: 100 }] } });
    const gates: Gate[] = [
      g({ name: 'p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.5 }),
      g({ name: 'cost', metric: 'cost_usd', max_ratio: 1.2 }),
      g({ name: 'errors', metric: 'error_or_refusal_rate', max_ratio: 2 }),
      g({ name: 'errors_z', metric: 'error_rate', test: { kind: 'proportion', alpha: 0.01, direction: 'increase' } }),
      g({ name: 'in_p90', metric: 'input_tokens', stat: 'p90', max_ratio: 1.5 }),
      g({ name: 'len_ks', metric: 'output_tokens', test: { kind: 'ks', alpha: 0.001, direction: 'increase' } }),
      g({ name: 'len_mean', metric: 'output_tokens', max_ratio: 1.2 }),
      g({ name: 'lat_stage_p50', metric: 'ttft_ms', stat: 'p50', max_ratio: 1.2, window: 'stage' }),
      g({ name: 'lat_stage_mean', metric: 'latency_ms', max_ratio: 1.2, window: 'stage' }),
    ];
    expect(Object.fromEntries(gatePaths(scenario, gates))).toEqual({
      p99: 'exact',
      cost: 'exact',
      errors: 'exact',
      errors_z: 'exact',
      in_p90: 'exact',
      len_ks: 'per-request',
      len_mean: 'per-request',
      lat_stage_p50: 'per-request',
      lat_stage_mean: 'exact',
    });
    const withCostQuantile = [...gates, g({ name: 'cost_p99', metric: 'cost_usd', stat: 'p99', max_ratio: 1.5 })];
    const paths = gatePaths(scenario, withCostQuantile);
    expect(paths.get('cost_p99')).toBe('per-request');
    expect(paths.get('cost')).toBe('per-request');
    expect(paths.get('in_p90')).toBe('per-request');
    expect(paths.get('p99')).toBe('exact');
  });
});

// ---------------------------------------------------------------------------------------------
// Agreement: window statistics

interface BatteryConfig {
  label: string;
  rpm: number;
  percent: number;
  nondeterminism: boolean;
  sampleWindows: number;
  exactWindows: number;
}

const STATS: [string, (s: Float64Array) => number][] = (() => {
  const rate = (arm: number) => (s: Float64Array) => (s[arm + ERRORS]! + s[arm + REFUSALS]!) / s[arm + N]!;
  const list: [string, (s: Float64Array) => number][] = [
    ['canary n', (s) => s[CANARY + N]!],
    ['canary errors', (s) => s[CANARY + ERRORS]!],
    ['canary refusals', (s) => s[CANARY + REFUSALS]!],
    ['canary thumbs_down', (s) => s[CANARY + THUMBS_DOWN]!],
    ['canary error_or_refusal_rate', rate(CANARY)],
    ['baseline n', (s) => s[BASELINE + N]!],
    ['baseline errors', (s) => s[BASELINE + ERRORS]!],
  ];
  const metric = (arm: number, name: string, m: 'latency_ms' | 'ttft_ms' | 'output_tokens' | 'input_tokens' | 'cost_usd', stat: 'mean' | 'p50' | 'p99') =>
    list.push([`${name} ${m} ${stat}`, (s) => s[arm + statOffset(m, stat)]!]);
  metric(CANARY, 'canary', 'latency_ms', 'mean');
  metric(CANARY, 'canary', 'latency_ms', 'p50');
  metric(CANARY, 'canary', 'latency_ms', 'p99');
  metric(CANARY, 'canary', 'ttft_ms', 'p99');
  metric(CANARY, 'canary', 'output_tokens', 'mean');
  metric(CANARY, 'canary', 'output_tokens', 'p50');
  metric(CANARY, 'canary', 'output_tokens', 'p99');
  metric(CANARY, 'canary', 'input_tokens', 'mean');
  metric(CANARY, 'canary', 'input_tokens', 'p99');
  metric(CANARY, 'canary', 'cost_usd', 'mean');
  metric(BASELINE, 'baseline', 'latency_ms', 'mean');
  metric(BASELINE, 'baseline', 'latency_ms', 'p99');
  metric(BASELINE, 'baseline', 'output_tokens', 'p50');
  metric(BASELINE, 'baseline', 'input_tokens', 'mean');
  metric(BASELINE, 'baseline', 'cost_usd', 'mean');
  return list;
})();

describe('window statistics agree between engines', () => {
  const BATTERY: BatteryConfig[] = [
    // ~10 canary requests a window (and ~990 baseline ones).
    { label: 'low traffic', rpm: 200, percent: 1, nondeterminism: false, sampleWindows: 2000, exactWindows: 2000 },
    { label: 'low traffic, non-deterministic', rpm: 200, percent: 1, nondeterminism: true, sampleWindows: 2000, exactWindows: 2000 },
    // ~20,000 canary requests a window (and ~1,050 baseline ones).
    { label: 'high traffic', rpm: 4200, percent: 95, nondeterminism: false, sampleWindows: 300, exactWindows: 3000 },
    { label: 'high traffic, non-deterministic', rpm: 4200, percent: 95, nondeterminism: true, sampleWindows: 300, exactWindows: 3000 },
  ];
  const needs: SummaryNeeds = { check: metricNeeds([true, true, true, true, false]), stage: null };

  it.each(BATTERY)('$label', (config) => {
    const scenario = load({
      name: `battery-${config.label}`,
      traffic: { requests_per_minute: config.rpm, baseline: baselineDoc },
      // Regressions on every kind of law: a heavier latency tail, longer answers, dearer tokens, more errors.
      candidate: { latency: 1.1, latency_tail: 1.6, output_length: 1.3, price: 1.25, error_rate: 2, refusal_rate: 1.5, thumbs_down_rate: 1.2 },
      nondeterminism: config.nondeterminism ? { run: 0.15, check: 0.05 } : { run: 0, check: 0 },
      rollout: { stages: [{ percent: config.percent, hold: '5m' }, { percent: 100 }], check_every: '5m' },
    });
    const [w] = checkSchedule(scenario.stages, scenario.checkEveryMinutes) as [CheckWindow];
    const values = { sample: STATS.map(() => [] as number[]), exact: STATS.map(() => [] as number[]) };
    const out = new Float64Array(WINDOW_WIDTH);
    for (const kind of ['sample', 'exact'] as const) {
      const windows = kind === 'sample' ? config.sampleWindows : config.exactWindows;
      for (let run = 0; run < windows; run++) {
        // One window per run: iid windows, each with its own run-level candidate factors.
        const engine = new ENGINES[kind](scenario, needs, Rng.forRun(7, run, kind));
        engine.window(w, out, 0);
        STATS.forEach(([, read], i) => values[kind][i]!.push(read(out)));
      }
    }
    const failures: string[] = [];
    STATS.forEach(([name], i) => {
      const { d, p } = ksP(values.sample[i]!, values.exact[i]!);
      if (!(p > KS_ALPHA)) failures.push(`${name}: KS D = ${d.toFixed(4)}, p = ${p.toExponential(2)}`);
    });
    expect(failures).toEqual([]);
    // The baseline arm does take the exact paths: its counts are above the per-request threshold.
    expect(Math.min(...values.exact[STATS.findIndex(([n]) => n === 'baseline n')]!)).toBeGreaterThan(MEAN_LAW_FROM);
  });
});

// ---------------------------------------------------------------------------------------------
// Agreement: judged outcomes

function g(partial: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate {
  return { stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...partial };
}

/** Outcome × halted check × firing gate of each run, judged incrementally as runs.ts does. */
function outcomes(kind: 'sample' | 'exact', scenario: Scenario, gates: Gate[], runs: number): string[] {
  const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
  const needs = needsOf([{ label: 'test', source: 'test', gates }]);
  const stride = needs.stage ? 2 * WINDOW_WIDTH : WINDOW_WIDTH;
  const summary = new Float64Array(stride);
  const keys: string[] = [];
  for (let run = 0; run < runs; run++) {
    const engine = new ENGINES[kind](scenario, needs, Rng.forRun(scenario.seed, run, kind));
    const judge = new RunJudge(gates);
    let result: RunOutcome | null = null;
    for (let c = 0; c < schedule.length && !result; c++) {
      const w = schedule[c]!;
      const canaryRequests = engine.window(w, summary, 0);
      const meta: CheckMeta = { stage: w.stage, percent: w.percent, endMinute: w.endMinute, canaryRequests };
      result = judge.check(c, meta, summary, 0);
    }
    const o = result ?? judge.promote();
    keys.push(o.outcome === 'promote' ? 'promote' : `${o.outcome}:${o.check}:${gates[o.gate]!.name}`);
  }
  return keys;
}

function compareOutcomes(a: string[], b: string[]): { p: number; table: string } {
  const cats = [...new Set([...a, ...b])].sort();
  const count = (xs: string[]) => cats.map((c) => xs.filter((x) => x === c).length);
  const ca = count(a), cb = count(b);
  const table = cats.map((c, i) => `${c}: ${ca[i]}/${cb[i]}`).join(', ');
  return { p: chiSquareTwoSample(ca, cb).p, table };
}

describe('judged outcomes agree between engines', () => {
  it('at moderate traffic, with rate, ratio, proportion, KS, sustained, stage and same-metric gates', () => {
    const scenario = load({
      name: 'judged-moderate',
      seed: 3,
      // ~1,500 requests a window in each arm: means and p99 take the exact paths, output tokens
      // go per-request for the KS gate.
      traffic: { requests_per_minute: 600, baseline: { ...baselineDoc, ttft_ms: undefined } },
      candidate: { latency_tail: 1.1, price: 1.03, error_rate: 1.3, refusal_rate: 1.1, thumbs_down_rate: 1.1, output_length: 1.02 },
      nondeterminism: { run: 0.05, check: 0.03 },
      rollout: { stages: [{ percent: 50, hold: '15m' }, { percent: 100 }], check_every: '5m' },
    });
    const gates = [
      g({ name: 'latency_p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.45, minSamples: 500 }),
      // Mean and p99 of one metric: their joint law (correlation ~0.5) shapes which fires.
      g({ name: 'latency_mean', metric: 'latency_ms', max_ratio: 1.12, minSamples: 500 }),
      g({ name: 'cost', metric: 'cost_usd', max_ratio: 1.07, sustained: 2 }),
      g({ name: 'cost_stage', metric: 'cost_usd', max_ratio: 1.12, window: 'stage' }),
      g({ name: 'errors', metric: 'error_or_refusal_rate', max_ratio: 1.6, minSamples: 500 }),
      g({ name: 'errors_z', metric: 'error_rate', test: { kind: 'proportion', alpha: 0.01, direction: 'increase' } }),
      g({ name: 'length_ks', metric: 'output_tokens', test: { kind: 'ks', alpha: 0.001, direction: 'increase' } }),
      g({ name: 'thumbs', metric: 'thumbs_down_rate', max_ratio: 1.4, action: 'hold' }),
    ];
    const runs = 1500;
    const a = outcomes('sample', scenario, gates, runs);
    const b = outcomes('exact', scenario, gates, runs);
    const { p, table } = compareOutcomes(a, b);
    expect(new Set(a).size, table).toBeGreaterThan(6);
    expect(p, table).toBeGreaterThan(CHI_ALPHA);
  });

  it('at low traffic over a long ladder', () => {
    const scenario = load({
      name: 'judged-low',
      seed: 4,
      traffic: { requests_per_minute: 200, baseline: { ...baselineDoc, ttft_ms: undefined } },
      candidate: { latency_tail: 1.3, price: 1.15, error_rate: 2, thumbs_down_rate: 1.3 },
      nondeterminism: { run: 0.15, check: 0.05 },
      rollout: { stages: [{ percent: 1, hold: '30m' }, { percent: 5, hold: '30m' }, { percent: 25, hold: '30m' }, { percent: 100 }], check_every: '5m' },
    });
    const gates = [
      g({ name: 'latency_p99', metric: 'latency_ms', stat: 'p99', max_ratio: 2, minSamples: 20, sustained: 2 }),
      g({ name: 'latency_p50', metric: 'latency_ms', stat: 'p50', max_ratio: 1.6, minSamples: 5 }),
      g({ name: 'cost', metric: 'cost_usd', max_ratio: 1.4, minSamples: 10 }),
      g({ name: 'errors', metric: 'error_rate', max_ratio: 4, minSamples: 40 }),
      g({ name: 'errors_z', metric: 'error_or_refusal_rate', test: { kind: 'proportion', alpha: 0.005, direction: 'increase' } }),
      g({ name: 'thumbs', metric: 'thumbs_down_rate', max_ratio: 2, minSamples: 30, action: 'hold' }),
    ];
    const runs = 1500;
    const a = outcomes('sample', scenario, gates, runs);
    const b = outcomes('exact', scenario, gates, runs);
    const { p, table } = compareOutcomes(a, b);
    expect(new Set(a).size, table).toBeGreaterThan(6);
    expect(p, table).toBeGreaterThan(CHI_ALPHA);
  });
});
