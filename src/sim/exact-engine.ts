import type { Gate, Scenario } from '../config/model.js';
import { isRateMetric } from '../config/model.js';
import { CONTINUOUS_METRICS, type ContinuousMetric } from '../config/schema.js';
import { quantileSorted } from '../stats/quantile.js';
import type { Rng } from '../stats/random.js';
import { binomial, gamma, normalQuantile } from '../stats/samplers.js';
import { ksTwoSample, mannWhitney, normalCdf, normalSf } from '../stats/tests.js';
import type { CheckWindow } from './ladder.js';
import { type ArmLaw, UNCHANGED, armLaw, checkFactor, runCandidate } from './sample-engine.js';
import {
  ARM_COUNTS,
  BASELINE,
  CANARY,
  ERRORS,
  METRIC_WIDTH,
  type MetricNeeds,
  N,
  OK,
  QUANTILE_PROBS,
  REFUSALS,
  type SummaryNeeds,
  THUMBS_DOWN,
  TESTS_OFFSET,
  TEST_FIELDS,
  WINDOW_WIDTH,
  metricIndex,
  needsOf,
} from '../gates/window.js';

/**
 * The `exact` engine: each window's statistics are drawn from their exact sampling distributions
 * instead of from every request, so a window costs the same at 10 requests as at 10 million.
 *
 * Per window and arm (the counts, factors and candidate are drawn exactly as in SampleRun):
 * - status counts: errors ~ Bin(n, e'), refusals ~ Bin(n − errors, r'), thumbs-down ~ Bin(ok, td'),
 *   which is the law of SampleRun's one-uniform-per-request status draw;
 * - a quantile of latency, ttft or tokens: the order statistics it interpolates are drawn jointly
 *   as order statistics of m uniforms (a Beta variate, then Beta spacings up an ascending chain
 *   shared by p50..p999) and mapped through the metric's quantile function, which is monotone;
 * - a mean: the m values are split at a uniform level q (q = 1, or 1 − 2^-j): the count above q
 *   is Bin(m, 1 − q) and those values are drawn one by one; given that count, the others are iid
 *   from the law truncated below q, and their sum is drawn from the Cornish–Fisher expansion
 *   (skewness and kurtosis terms) built on the exact first four cumulants of that truncated law.
 *   The level is the lowest that makes the expansion's standardised skewness and excess kurtosis
 *   at most 0.05 each; below MEAN_PER_REQUEST_BELOW values, or when no level qualifies, the values
 *   are drawn one by one.
 * - cost: cost_i = in_i·p_in + out_i·p_out, so its mean is p_in·mean(in) + p_out·mean(out).
 * Statistics with no such shortcut (Mann–Whitney and KS tests, stage-window quantiles, cost
 * quantiles) draw the metric request by request, as SampleRun does; in a window where a metric is
 * drawn request by request, all its statistics come from those draws.
 */

const METRICS = CONTINUOUS_METRICS.length;
const LAT = 0;
const TTFT = 1;
const OUT = 2;
const IN = 3;
const COST = 4;
const QUANTILES = QUANTILE_PROBS.length;

/**
 * Below this many values of a metric (m = requests − errors) its mean is computed from per-request
 * draws. Two reasons: (1) per-request draws cost ~50 ns a value, so below ~1000 they take less than
 * ~50 µs and there is little to save; (2) at m ≥ 1000 the split law qualifies with a small top part
 * for the usual shapes (σ ≤ 1: at most m/16 values drawn one by one), while at a few hundred values
 * it would need a top part of a large share of m. The exact law itself is valid at any m.
 */
export const MEAN_PER_REQUEST_BELOW = 1000;

/** Largest standardised skewness and excess kurtosis of a sum accepted for the Cornish–Fisher law. */
const MAX_SKEW = 0.05;
const MAX_KURT = 0.05;
/** Φ(−8.5) ≈ 1e-17: beyond ±8.5σ a lognormal has no mass that a double can see. */
const TAIL_Z = 8.5;
/** Euler–Maclaurin takes over the integer sums from k·σ ≥ this (the density's scale is then ≥ ~10 units). */
const EM_SCALE = 40;
/** Deepest split level: E[count above] = m·2^-j ≥ 8 for the first level tried. */
const MAX_LEVEL = 52;

// ---------------------------------------------------------------------------------------------
// Laws of one value

/** Φ(hi) − Φ(lo) for lo ≤ hi, without cancellation in either tail. */
function normalMass(lo: number, hi: number): number {
  if (lo >= hi) return 0;
  return lo > 0 ? normalSf(lo) - normalSf(hi) : normalCdf(hi) - normalCdf(lo);
}

/**
 * Cumulants κ1..κ4 of X = exp(σZ) given Φ(Z) < 1 − c (c = 0: not truncated), into out[0..3].
 * Scale-free: X·s has cumulants s^r·κr. The untruncated forms use expm1, so they keep full
 * relative accuracy for small σ.
 */
export function lognormalCumulants(sigma: number, c: number, out: Float64Array): void {
  const s2 = sigma * sigma;
  if (c === 0) {
    const e = Math.expm1(s2);
    const k1 = Math.exp(s2 / 2);
    const k1sq = k1 * k1;
    out[0] = k1;
    out[1] = k1sq * e;
    out[2] = k1sq * k1 * e * e * (e + 3);
    out[3] = k1sq * k1sq * e * e * (16 * e + 15 * e * e + 6 * e * e * e + e * e * e * e);
    return;
  }
  const zq = -normalQuantile(c);
  const q = 1 - c;
  const r1 = (Math.exp(s2 / 2) * normalCdf(zq - sigma)) / q;
  const r2 = (Math.exp(2 * s2) * normalCdf(zq - 2 * sigma)) / q;
  const r3 = (Math.exp(4.5 * s2) * normalCdf(zq - 3 * sigma)) / q;
  const r4 = (Math.exp(8 * s2) * normalCdf(zq - 4 * sigma)) / q;
  centralCumulants(r1, r2, r3, r4, 0, out);
}

/** Cumulants from the raw moments e1..e4 of Y − shift. */
function centralCumulants(e1: number, e2: number, e3: number, e4: number, shift: number, out: Float64Array): void {
  const m1sq = e1 * e1;
  const c2 = e2 - m1sq;
  const c3 = e3 - 3 * e1 * e2 + 2 * m1sq * e1;
  const c4 = e4 - 4 * e1 * e3 + 6 * m1sq * e2 - 3 * m1sq * m1sq;
  out[0] = shift + e1;
  out[1] = c2 > 0 ? c2 : 0;
  out[2] = c2 > 0 ? c3 : 0;
  out[3] = c2 > 0 ? c4 - 3 * c2 * c2 : 0;
}

const EM_ACC = new Float64Array(4);

/**
 * Cumulants κ1..κ4 of Y = max(1, round(X)), X = exp(μ + σZ), given Φ(Z) < 1 − c (c = 0: not
 * truncated), into out[0..3]. This is one token count of a window (μ includes ln factor).
 *
 * With g(y) = (y − s)^r about an integer s near the mean (so that central moments do not cancel),
 * Abel summation gives E g(Y) = g(kA − 1) + Σ_{k ≥ kA} (g(k) − g(k − 1))·P(Y ≥ k), where
 * P(Y ≥ k) = (S(k − ½) − c)/(1 − c), S the lognormal survival function, and kA lies ≥ 8.5σ below
 * the median (so P(Y < kA − 1) < 1e-17). The terms are summed one by one while k·σ < EM_SCALE
 * (there the summand varies on a scale of a few units), and from there on by Euler–Maclaurin:
 * the integral in closed form through lognormal partial moments, plus the end corrections up to
 * the third derivative. The summand is then smooth on a scale of k·σ/(1 + |z|) ≳ 10 units, so
 * the remainder is below 1e-10 relative; the test suite checks 1e-9 against direct summation.
 * Cost: at most ~EM_SCALE·2·TAIL_Z terms (σ·e^μ ≈ EM_SCALE), typically EM_SCALE/σ.
 */
export function roundedLognormalCumulants(mu: number, sigma: number, c: number, out: Float64Array): void {
  if (!(sigma > 0)) {
    out[0] = Math.max(1, Math.round(Math.exp(mu)));
    out[1] = out[2] = out[3] = 0;
    return;
  }
  const q = 1 - c;
  const xc = c > 0 ? Math.exp(mu - sigma * normalQuantile(c)) : Infinity;
  // Largest k with k − ½ < xc: values above the cut are excluded.
  const kMax = c > 0 ? Math.ceil(xc + 0.5) - 1 : Infinity;
  if (kMax < 2) {
    out[0] = 1;
    out[1] = out[2] = out[3] = 0;
    return;
  }
  const s = Math.max(1, Math.round(Math.min(Math.exp(mu + (sigma * sigma) / 2), xc)));
  let kA = Math.max(2, Math.floor(Math.exp(mu - TAIL_Z * sigma) + 0.5));
  if (kA > kMax) kA = kMax;
  const v0 = kA - 1 - s;
  let e1 = v0, e2 = v0 * v0, e3 = e2 * v0, e4 = e2 * e2;
  const kHi = Math.floor(Math.exp(mu + TAIL_Z * sigma) + 1);
  const kSw = Math.max(kA, Math.ceil(EM_SCALE / sigma));
  const exactEnd = Math.min(kSw - 1, kMax, kHi);
  for (let k = kA; k <= exactEnd; k++) {
    const t = k - 0.5;
    const w = (normalSf((Math.log(t) - mu) / sigma) - c) / q;
    if (!(w > 0)) break;
    const v = t - s;
    e1 += w;
    e2 += 2 * v * w;
    e3 += (3 * v * v + 0.25) * w;
    e4 += (4 * v * v + 1) * v * w;
  }
  if (kSw <= kMax && kSw <= kHi) {
    eulerMaclaurin(mu, sigma, c, s, kSw, kMax, EM_ACC);
    e1 += EM_ACC[0]!;
    e2 += EM_ACC[1]!;
    e3 += EM_ACC[2]!;
    e4 += EM_ACC[3]!;
  }
  centralCumulants(e1, e2, e3, e4, s, out);
}

const BINOM = [
  [1, 0, 0, 0, 0],
  [1, 1, 0, 0, 0],
  [1, 2, 1, 0, 0],
  [1, 3, 3, 1, 0],
  [1, 4, 6, 4, 1],
];
// Scratch for the Euler–Maclaurin step: no allocation per window.
const PM = new Float64Array(5);
const CPM = new Float64Array(5);
const JJ = new Float64Array(4);
const END_A = new Float64Array(4);
const END_B = new Float64Array(4);
const END_H = new Float64Array(4);
const END_H1 = new Float64Array(4);
const END_H3 = new Float64Array(4);

/**
 * Σ_{k=a}^{b} D_r(k − ½ − s)·W(k − ½) for r = 1..4 by Euler–Maclaurin, where W(t) = (S(t) − c)/(1 − c)
 * and D_r(v) = (v + ½)^r − (v − ½)^r: 1, 2v, 3v² + ¼, 4v³ + v. b = ∞ when c = 0.
 * Σ h(k) = ∫_a^b h + (h(a) + h(b))/2 + (h'(b) − h'(a))/12 − (h'''(b) − h'''(a))/720 + R.
 */
function eulerMaclaurin(mu: number, sigma: number, c: number, s: number, a: number, b: number, acc: Float64Array): void {
  const q = 1 - c;
  const finiteB = Number.isFinite(b);
  const ta = a - 0.5;
  const tb = b - 0.5;
  const alpha = (Math.log(ta) - mu) / sigma;
  const beta = finiteB ? (Math.log(tb) - mu) / sigma : Infinity;
  // Partial moments PM_l = E[X^l; ta < X < tb], then centred ones CPM_i = E[(X − s)^i; ta < X < tb].
  for (let l = 0; l <= 4; l++) PM[l] = Math.exp(l * mu + (l * l * sigma * sigma) / 2) * normalMass(alpha - l * sigma, beta - l * sigma);
  for (let i = 0; i <= 4; i++) {
    let sum = 0;
    for (let l = 0; l <= i; l++) sum += BINOM[i]![l]! * Math.pow(-s, i - l) * PM[l]!;
    CPM[i] = sum;
  }
  // J_j = ∫_{ta}^{tb} (t − s)^j (S(t) − c) dt = [(t − s)^{j+1}/(j+1)·(S(t) − c)] + CPM_{j+1}/(j+1).
  const wa = normalSf(alpha) - c;
  const wb = finiteB ? normalSf(beta) - c : 0;
  for (let j = 0; j < 4; j++) {
    const atB = finiteB ? (Math.pow(tb - s, j + 1) * wb) / (j + 1) : 0;
    const atA = (Math.pow(ta - s, j + 1) * wa) / (j + 1);
    JJ[j] = atB - atA + CPM[j + 1]! / (j + 1);
  }
  endTerms(mu, sigma, c, s, ta, -1, END_A);
  if (finiteB) endTerms(mu, sigma, c, s, tb, 1, END_B);
  else END_B.fill(0);
  acc[0] = JJ[0]! / q + END_A[0]! + END_B[0]!;
  acc[1] = (2 * JJ[1]!) / q + END_A[1]! + END_B[1]!;
  acc[2] = (3 * JJ[2]! + 0.25 * JJ[0]!) / q + END_A[2]! + END_B[2]!;
  acc[3] = (4 * JJ[3]! + JJ[1]!) / q + END_A[3]! + END_B[3]!;
}

/**
 * h_r/2 + sgn·h_r'/12 − sgn·h_r'''/720 at t = x − ½ for the four summands h_r(x) = D_r(t − s)·W(t):
 * sgn = −1 at the lower end, +1 at the upper end.
 */
function endTerms(mu: number, sigma: number, c: number, s: number, t: number, sgn: number, out: Float64Array): void {
  const q = 1 - c;
  const z = (Math.log(t) - mu) / sigma;
  const w = (normalSf(z) - c) / q;
  // W' = −p/q, W'' = −p'/q, W''' = −p''/q with the lognormal density p and, for A = 1 + z/σ,
  // p' = −p·A/t and p'' = p·(A² + A − 1/σ²)/t².
  const p = Math.exp(-0.5 * z * z) / (Math.sqrt(2 * Math.PI) * sigma * t);
  const A = 1 + z / sigma;
  const w1 = -p / q;
  const w2 = (p * A) / t / q;
  const w3 = (-p * (A * A + A - 1 / (sigma * sigma))) / (t * t) / q;
  const v = t - s;
  // h''' = D'''·W + 3D''·W' + 3D'·W'' + D·W''' for D = 1, 2v, 3v² + ¼, 4v³ + v.
  const d1 = 2 * v, d2 = 3 * v * v + 0.25, d3 = (4 * v * v + 1) * v;
  END_H[0] = w;
  END_H[1] = d1 * w;
  END_H[2] = d2 * w;
  END_H[3] = d3 * w;
  END_H1[0] = w1;
  END_H1[1] = 2 * w + d1 * w1;
  END_H1[2] = 6 * v * w + d2 * w1;
  END_H1[3] = (12 * v * v + 1) * w + d3 * w1;
  END_H3[0] = w3;
  END_H3[1] = 6 * w2 + d1 * w3;
  END_H3[2] = 18 * w1 + 18 * v * w2 + d2 * w3;
  END_H3[3] = 24 * w + 72 * v * w1 + 3 * (12 * v * v + 1) * w2 + d3 * w3;
  for (let r = 0; r < 4; r++) out[r] = END_H[r]! / 2 + (sgn * END_H1[r]!) / 12 - (sgn * END_H3[r]!) / 720;
}

/** x + (γ1/6)(z² − 1) + (γ2/24)(z³ − 3z) − (γ1²/36)(2z³ − 5z): the second-order Cornish–Fisher quantile. */
export function cornishFisher(z: number, g1: number, g2: number): number {
  const z2 = z * z;
  return z + (g1 / 6) * (z2 - 1) + (g2 / 24) * z * (z2 - 3) - ((g1 * g1) / 36) * z * (2 * z2 - 5);
}

/**
 * Draws the sum of m iid values of one metric in one window: lognormal exp(μ + σZ)·f, rounded to
 * max(1, round(·)) for token counts. Returns NaN when no split level qualifies (the caller then
 * draws the values one by one). Caches: the scale-free continuous cumulants per level for the
 * run, the rounded cumulants per level for the last factor seen.
 */
export class SumSampler {
  private readonly contCache = new Float64Array(4 * (MAX_LEVEL + 1));
  private readonly contValid = new Uint8Array(MAX_LEVEL + 1);
  private readonly roundCache = new Float64Array(4 * (MAX_LEVEL + 1));
  private readonly roundValid = new Uint8Array(MAX_LEVEL + 1);
  private roundFactor = NaN;
  private readonly cum = new Float64Array(4);
  /** The split level used by the last draw (0: none; j: top share 2^-j); -1 when none qualified. */
  lastLevel = 0;

  constructor(
    readonly mu: number,
    readonly sigma: number,
    readonly rounded: boolean,
  ) {}

  value(z: number, factor: number): number {
    const x = Math.exp(this.mu + this.sigma * z) * factor;
    return this.rounded ? Math.max(1, Math.round(x)) : x;
  }

  private cumulants(level: number, factor: number): Float64Array {
    const c = level === 0 ? 0 : Math.pow(2, -level);
    if (this.rounded) {
      if (factor !== this.roundFactor) {
        this.roundValid.fill(0);
        this.roundFactor = factor;
      }
      const at = 4 * level;
      if (!this.roundValid[level]) {
        roundedLognormalCumulants(this.mu + Math.log(factor), this.sigma, c, this.cum);
        this.roundCache.set(this.cum, at);
        this.roundValid[level] = 1;
      }
      for (let i = 0; i < 4; i++) this.cum[i] = this.roundCache[at + i]!;
      return this.cum;
    }
    const at = 4 * level;
    if (!this.contValid[level]) {
      lognormalCumulants(this.sigma, c, this.cum);
      this.contCache.set(this.cum, at);
      this.contValid[level] = 1;
    }
    const scale = Math.exp(this.mu) * factor;
    let sr = 1;
    for (let i = 0; i < 4; i++) {
      sr *= scale;
      this.cum[i] = this.contCache[at + i]! * sr;
    }
    return this.cum;
  }

  private qualifies(k: Float64Array, n: number): boolean {
    const k2 = k[1]!;
    if (!(k2 > 1e-24 * (k[0]! * k[0]! + 1))) return true; // constant: the sum is n·κ1
    const g1 = k[2]! / (k2 * Math.sqrt(k2 * n));
    const g2 = k[3]! / (k2 * k2 * n);
    return Math.abs(g1) <= MAX_SKEW && Math.abs(g2) <= MAX_KURT;
  }

  /** The sum of m values with window factor `factor`, or NaN (draw them one by one). */
  draw(rng: Rng, m: number, factor: number): number {
    if (m === 0) return 0;
    if (!(factor > 0)) return this.rounded ? m : 0;
    if (!(this.sigma > 0)) return m * this.value(0, factor);
    let level = -1;
    if (this.qualifies(this.cumulants(0, factor), m)) level = 0;
    else {
      const start = Math.min(MAX_LEVEL, Math.floor(Math.log2(m / 8)));
      for (let j = start; j >= 3; j--) {
        if (this.qualifies(this.cumulants(j, factor), m * (1 - Math.pow(2, -j)))) {
          level = j;
          break;
        }
      }
    }
    this.lastLevel = level;
    if (level < 0) return NaN;
    const k = this.cumulants(level, factor);
    let top = 0;
    let n = m;
    if (level > 0) {
      const c = Math.pow(2, -level);
      const J = binomial(rng, m, c);
      n = m - J;
      // Values above the split: U = 1 − c·V, so Φ⁻¹(U) = −Φ⁻¹(c·V) keeps the tail's precision.
      for (let i = 0; i < J; i++) top += this.value(-normalQuantile(c * rng.uniform()), factor);
    }
    if (n === 0) return top;
    const k1 = k[0]!, k2 = k[1]!;
    let lower: number;
    if (!(k2 > 1e-24 * (k1 * k1 + 1))) lower = n * k1;
    else {
      const g1 = k[2]! / (k2 * Math.sqrt(k2 * n));
      const g2 = k[3]! / (k2 * k2 * n);
      lower = n * k1 + Math.sqrt(n * k2) * cornishFisher(rng.normal(), g1, g2);
    }
    // Keep the sum inside its support; for token counts, on its lattice (a continuity correction).
    const hi = level > 0 ? n * this.value(-normalQuantile(Math.pow(2, -level)), factor) : Infinity;
    if (this.rounded) lower = Math.round(lower);
    lower = Math.min(hi, Math.max(this.rounded ? n : 0, lower));
    return top + lower;
  }
}

// ---------------------------------------------------------------------------------------------
// Order statistics

/**
 * Draws the five quantiles p50..p999 (numpy's linear interpolation) of m iid values of one
 * metric: the needed order statistics of m uniforms form one ascending chain, U_(k1) ~ Beta(k1,
 * m − k1 + 1) and U_(k') = U_(k) + (1 − U_(k))·Beta(k' − k, m − k' + 1) given U_(k), each Beta as
 * a ratio of gammas; both U and 1 − U are carried so that either tail keeps its precision.
 */
export class QuantileSampler {
  private readonly positions = new Int32Array(2 * QUANTILES);
  private readonly values = new Float64Array(2 * QUANTILES);

  draw(rng: Rng, law: SumSampler, m: number, factor: number, out: Float64Array, at: number): void {
    if (m === 0) {
      out.fill(NaN, at, at + QUANTILES);
      return;
    }
    const pos = this.positions;
    let count = 0;
    for (let i = 0; i < QUANTILES; i++) {
      const h = (m - 1) * QUANTILE_PROBS[i]!;
      const lo = Math.floor(h);
      if (count === 0 || pos[count - 1]! < lo) pos[count++] = lo;
      if (h > lo && lo + 1 < m && pos[count - 1]! < lo + 1) pos[count++] = lo + 1;
    }
    let u = 0, v = 1, rank = 0;
    for (let i = 0; i < count; i++) {
      const k = pos[i]! + 1;
      const x = gamma(rng, k - rank);
      const y = gamma(rng, m - k + 1);
      const sum = x + y;
      u += (v * x) / sum;
      v = (v * y) / sum;
      rank = k;
      const z = u <= 0.5 ? normalQuantile(u) : -normalQuantile(v);
      this.values[i] = law.value(z, factor);
    }
    for (let i = 0; i < QUANTILES; i++) {
      const h = (m - 1) * QUANTILE_PROBS[i]!;
      const lo = Math.floor(h);
      let j = 0;
      while (pos[j]! !== lo) j++;
      const x = this.values[j]!;
      out[at + i] = h > lo && lo + 1 < m ? x + (h - lo) * (this.values[j + 1]! - x) : x;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Which metrics are drawn request by request

/**
 * Metrics drawn request by request in every window, whatever the traffic: those with a
 * Mann–Whitney or KS test, a stage-window quantile, or (cost) any quantile; cost drawn request by
 * request needs input and output tokens drawn so too.
 */
export function perRequestMetrics(needs: SummaryNeeds): boolean[] {
  const pr = CONTINUOUS_METRICS.map((_, k) => needs.check.tests[k]! || (needs.stage !== null && (needs.stage.sorted[k]! || needs.stage.tests[k]!)));
  if (needs.check.sorted[COST]) pr[COST] = true;
  if (pr[COST]) pr[IN] = pr[OUT] = true;
  return pr;
}

/**
 * Which path each gate (by name) takes under ExactRun: rates and proportion tests are exact
 * (binomial counts); check-window quantiles of latency, ttft and tokens are exact (order
 * statistics); means are exact (split Cornish–Fisher law, per-request below
 * MEAN_PER_REQUEST_BELOW values or for tails too heavy for it); KS and Mann–Whitney tests,
 * stage-window quantiles and cost quantiles are per-request, and so is every statistic of a
 * metric that one of those gates makes per-request.
 */
export function gatePaths(scenario: Scenario, gates: readonly Gate[]): Map<string, 'exact' | 'per-request'> {
  const needs = needsOf([{ label: scenario.name, source: scenario.file, gates: [...gates] }]);
  const pr = perRequestMetrics(needs);
  const paths = new Map<string, 'exact' | 'per-request'>();
  for (const gate of gates) {
    if (isRateMetric(gate.metric)) paths.set(gate.name, 'exact');
    else paths.set(gate.name, pr[metricIndex(gate.metric as ContinuousMetric)] ? 'per-request' : 'exact');
  }
  return paths;
}

// ---------------------------------------------------------------------------------------------
// The run

/** One arm's window: counts, per-metric sums, per-request values where drawn, exact quantiles. */
class ArmWindow {
  n = 0;
  errors = 0;
  refusals = 0;
  ok = 0;
  thumbsDown = 0;
  m = 0;
  sums = new Float64Array(METRICS);
  perRequest = new Uint8Array(METRICS);
  sorted = new Uint8Array(METRICS);
  values: Float64Array[] = CONTINUOUS_METRICS.map(() => new Float64Array(0));
  quantiles = new Float64Array(METRICS * QUANTILES);

  buffer(k: number, m: number): Float64Array {
    if (this.values[k]!.length < m) this.values[k] = new Float64Array(Math.max(m, 2 * this.values[k]!.length, 1024));
    return this.values[k]!;
  }

  sortedValues(k: number): Float64Array {
    const win = this.values[k]!.subarray(0, this.m);
    if (!this.sorted[k]) {
      win.sort();
      this.sorted[k] = 1;
    }
    return win;
  }
}

/** Sorted pooled samples since the stage began, merged in window by window. */
class StagePool {
  sorted: Float64Array = new Float64Array(0);
  len = 0;
  private scratch: Float64Array = new Float64Array(0);

  merge(add: Float64Array, addLen: number): void {
    const total = this.len + addLen;
    if (this.scratch.length < total) this.scratch = new Float64Array(Math.max(total, this.scratch.length * 2));
    if (this.sorted.length < this.scratch.length) {
      // Keep both buffers the same size so that swapping them never loses capacity.
      const grown = new Float64Array(this.scratch.length);
      grown.set(this.sorted.subarray(0, this.len));
      this.sorted = grown;
    }
    const a = this.sorted, out = this.scratch;
    let i = 0, j = 0, k = 0;
    while (i < this.len && j < addLen) out[k++] = a[i]! <= add[j]! ? a[i++]! : add[j++]!;
    while (i < this.len) out[k++] = a[i++]!;
    while (j < addLen) out[k++] = add[j++]!;
    this.scratch = this.sorted;
    this.sorted = out;
    this.len = total;
  }
}

/** Running totals of one arm since the stage began. */
class StageArm {
  counts = new Float64Array(ARM_COUNTS.length);
  m = 0;
  sums = new Float64Array(METRICS);
  pools = CONTINUOUS_METRICS.map(() => new StagePool());

  reset(): void {
    this.counts.fill(0);
    this.m = 0;
    this.sums.fill(0);
    for (const p of this.pools) p.len = 0;
  }
}

function writeCounts(out: Float64Array, at: number, n: number, errors: number, refusals: number, ok: number, td: number): void {
  out[at + N] = n;
  out[at + ERRORS] = errors;
  out[at + REFUSALS] = refusals;
  out[at + OK] = ok;
  out[at + THUMBS_DOWN] = td;
}

function writeTests(out: Float64Array, at: number, metric: number, canary: Float64Array, nc: number, baseline: Float64Array, nb: number): void {
  const base = at + TESTS_OFFSET + metric * TEST_FIELDS.length;
  const a = canary.subarray(0, nc), b = baseline.subarray(0, nb);
  const mw = mannWhitney(a, b);
  out[base] = mw.pIncrease;
  out[base + 1] = mw.pDecrease;
  out[base + 2] = ksTwoSample(a, b).p;
}

/** Simulates the windows of one run, in order, with the `exact` engine. Same contract as SampleRun. */
export class ExactRun {
  private readonly laws: [ArmLaw, ArmLaw];
  /** Per arm, per continuous metric but cost: the sum and quantile law. */
  private readonly samplers: SumSampler[][];
  private readonly quantileSampler = new QuantileSampler();
  private readonly arms = [new ArmWindow(), new ArmWindow()];
  private readonly stageArms = [new StageArm(), new StageArm()];
  private readonly hasTtft: boolean;
  private readonly perRequest: boolean[];

  constructor(
    private readonly scenario: Scenario,
    private readonly needs: SummaryNeeds,
    private readonly rng: Rng,
  ) {
    // The candidate is the stream's first draw, as in SampleRun: both engines see the same one.
    this.laws = [armLaw(scenario, runCandidate(scenario, rng)), armLaw(scenario, UNCHANGED)];
    this.hasTtft = scenario.baseline.ttft_ms !== null;
    this.samplers = this.laws.map((l) => [
      new SumSampler(l.muLatency, l.sigmaLatency, false),
      new SumSampler(l.muTtft, l.sigmaTtft, false),
      new SumSampler(l.muOutput, l.sigmaOutput, true),
      new SumSampler(l.muInput, l.sigmaInput, true),
    ]);
    this.perRequest = perRequestMetrics(needs);
  }

  /**
   * Draws a window and writes its check summary at `out[at]`, and its stage summary at
   * `out[at + WINDOW_WIDTH]` when a gate reads stage windows. Returns the canary's request count.
   */
  window(w: CheckWindow, out: Float64Array, at: number): number {
    const minutes = w.endMinute - w.startMinute;
    const lambda = this.scenario.requestsPerMinute * minutes;
    const rng = this.rng;
    const nCanary = rng.poisson((lambda * w.percent) / 100);
    const nBaseline = rng.poisson((lambda * (100 - w.percent)) / 100);
    const fCanary = checkFactor(this.scenario, rng);
    const fBaseline = checkFactor(this.scenario, rng);
    this.drawArm(0, nCanary, fCanary);
    this.drawArm(1, nBaseline, fBaseline);
    this.summarise(out, at, this.needs.check);
    const stageNeeds = this.needs.stage;
    if (stageNeeds) {
      if (w.startMinute === w.stageStartMinute) for (const s of this.stageArms) s.reset();
      this.accumulateStage(out, at + WINDOW_WIDTH, stageNeeds);
    }
    return nCanary;
  }

  private drawArm(a: number, n: number, f: number): void {
    const law = this.laws[a]!, s = this.arms[a]!, rng = this.rng;
    const errorRate = Math.min(1, law.errorRate * f);
    const refusalRate = Math.min(1, law.refusalRate * f);
    const tdRate = Math.min(1, law.thumbsDownRate * f);
    s.n = n;
    s.errors = binomial(rng, n, errorRate);
    s.refusals = binomial(rng, n - s.errors, refusalRate);
    s.ok = n - s.errors - s.refusals;
    s.thumbsDown = binomial(rng, s.ok, tdRate);
    const m = (s.m = n - s.errors);
    const small = m < MEAN_PER_REQUEST_BELOW;
    s.sorted.fill(0);
    for (let k = 0; k < COST; k++) {
      if (k === TTFT && !this.hasTtft) {
        s.sums[k] = 0;
        s.perRequest[k] = 0;
        continue;
      }
      const sampler = this.samplers[a]![k]!;
      let pr = small || this.perRequest[k]!;
      if (!pr) {
        const sum = sampler.draw(rng, m, f);
        if (Number.isNaN(sum)) pr = true;
        else s.sums[k] = sum;
      }
      s.perRequest[k] = pr ? 1 : 0;
      if (pr) {
        const buf = s.buffer(k, m);
        let sum = 0;
        for (let i = 0; i < m; i++) {
          const x = sampler.value(rng.normal(), f);
          buf[i] = x;
          sum += x;
        }
        s.sums[k] = sum;
      } else if (this.needs.check.sorted[k]) {
        this.quantileSampler.draw(rng, sampler, m, f, s.quantiles, k * QUANTILES);
      }
    }
    if (this.perRequest[COST]) {
      // Input and output were drawn request by request too (perRequestMetrics).
      const buf = s.buffer(COST, m);
      const inp = s.values[IN]!, outp = s.values[OUT]!;
      let sum = 0;
      for (let i = 0; i < m; i++) {
        const c = inp[i]! * law.inputPrice + outp[i]! * law.outputPrice;
        buf[i] = c;
        sum += c;
      }
      s.sums[COST] = sum;
      s.perRequest[COST] = 1;
    } else {
      s.sums[COST] = s.sums[IN]! * law.inputPrice + s.sums[OUT]! * law.outputPrice;
      s.perRequest[COST] = 0;
    }
  }

  private writeMetric(out: Float64Array, armAt: number, k: number, m: number, sum: number, quantiles: Float64Array | null, qAt: number, sorted: Float64Array | null, len: number): void {
    const present = k !== TTFT || this.hasTtft;
    const base = armAt + ARM_COUNTS.length + k * METRIC_WIDTH;
    out[base] = present ? m : 0;
    out[base + 1] = present && m > 0 ? sum / m : NaN;
    for (let q = 0; q < QUANTILES; q++) {
      let v = NaN;
      if (present && sorted) v = quantileSorted(sorted, len, QUANTILE_PROBS[q]!);
      else if (present && quantiles) v = quantiles[qAt + q]!;
      out[base + 2 + q] = v;
    }
  }

  private summarise(out: Float64Array, at: number, needs: MetricNeeds): void {
    for (let a = 0; a < 2; a++) {
      const s = this.arms[a]!;
      const armAt = at + (a === 0 ? CANARY : BASELINE);
      writeCounts(out, armAt, s.n, s.errors, s.refusals, s.ok, s.thumbsDown);
      for (let k = 0; k < METRICS; k++) {
        const present = k !== TTFT || this.hasTtft;
        if (needs.sorted[k] && present) {
          if (s.perRequest[k]) this.writeMetric(out, armAt, k, s.m, s.sums[k]!, null, 0, s.sortedValues(k), s.m);
          else this.writeMetric(out, armAt, k, s.m, s.sums[k]!, s.quantiles, k * QUANTILES, null, 0);
        } else this.writeMetric(out, armAt, k, s.m, s.sums[k]!, null, 0, null, 0);
      }
    }
    const [c, b] = this.arms as [ArmWindow, ArmWindow];
    for (let k = 0; k < METRICS; k++) {
      const base = at + TESTS_OFFSET + k * TEST_FIELDS.length;
      if (needs.tests[k] && (k !== TTFT || this.hasTtft)) writeTests(out, at, k, c.sortedValues(k), c.m, b.sortedValues(k), b.m);
      else out.fill(NaN, base, base + TEST_FIELDS.length);
    }
  }

  private accumulateStage(out: Float64Array, at: number, needs: MetricNeeds): void {
    for (let a = 0; a < 2; a++) {
      const s = this.arms[a]!, st = this.stageArms[a]!;
      st.counts[N] += s.n;
      st.counts[ERRORS] += s.errors;
      st.counts[REFUSALS] += s.refusals;
      st.counts[OK] += s.ok;
      st.counts[THUMBS_DOWN] += s.thumbsDown;
      st.m += s.m;
      const armAt = at + (a === 0 ? CANARY : BASELINE);
      writeCounts(out, armAt, st.counts[N]!, st.counts[ERRORS]!, st.counts[REFUSALS]!, st.counts[OK]!, st.counts[THUMBS_DOWN]!);
      for (let k = 0; k < METRICS; k++) {
        const present = k !== TTFT || this.hasTtft;
        st.sums[k] += s.sums[k]!;
        if (needs.sorted[k] && present) {
          // Per-request in every window (perRequestMetrics), so the pool gets every value.
          const pool = st.pools[k]!;
          pool.merge(s.sortedValues(k), s.m);
          this.writeMetric(out, armAt, k, st.m, st.sums[k]!, null, 0, pool.sorted, pool.len);
        } else this.writeMetric(out, armAt, k, st.m, st.sums[k]!, null, 0, null, 0);
      }
    }
    const [c, b] = this.stageArms as [StageArm, StageArm];
    for (let k = 0; k < METRICS; k++) {
      const base = at + TESTS_OFFSET + k * TEST_FIELDS.length;
      if (needs.tests[k] && (k !== TTFT || this.hasTtft)) writeTests(out, at, k, c.pools[k]!.sorted, c.pools[k]!.len, b.pools[k]!.sorted, b.pools[k]!.len);
      else out.fill(NaN, base, base + TEST_FIELDS.length);
    }
  }
}
