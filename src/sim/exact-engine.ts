import type { Gate, Scenario } from '../config/model.js';
import { isRateMetric } from '../config/model.js';
import { CONTINUOUS_METRICS, type ContinuousMetric } from '../config/metrics.js';
import { quantileSorted } from '../stats/quantile.js';
import { quantilesByFilter } from '../stats/quantile-filter.js';
import type { Rng } from '../stats/random.js';
import { binomial, gamma, normalQuantile } from '../stats/samplers.js';
import { normalCdf, normalSf } from '../stats/tests.js';
import type { CheckWindow } from './ladder.js';
import { type ArmLaw, UNCHANGED, armLaw, checkFactor, runCandidate, tokens } from './sample-engine.js';
import { fastExp } from '../stats/fast-exp.js';
import { fillNormals } from '../stats/ziggurat.js';
import { NORMAL_ABOVE_FROM, NormalAboveTable, normalAbove } from '../stats/normal-above.js';
import { StageSamples } from './stage-pool.js';
import { writeTests } from './arm-tests.js';
import { sortAscending } from '../stats/sort.js';
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
 * - quantiles of latency, ttft or tokens: the order statistics they interpolate, drawn as order
 *   statistics of m uniforms (a Beta variate, then Beta spacings up one ascending chain shared by
 *   the quantiles a gate reads, `needs.check.quantiles`; the others are NaN, as in SampleRun) and
 *   mapped through the metric's monotone quantile function;
 * - means: the sum of the m values, split at a level of the uniform scale: the values above it
 *   (a binomial count of them, kept small) are drawn one by one, the sum of the others from a
 *   Cornish–Fisher expansion on the exact cumulants of the truncated law (SumSampler). When the
 *   metric's quantiles are drawn too, the sum is drawn given them, gap by gap between the order
 *   statistics, so that mean and quantiles have their joint law (their correlation is ~0.5 for a
 *   latency p99 and mean). In small windows the values are drawn one by one (MEAN_PER_REQUEST_BELOW).
 * - cost: cost_i = in_i·p_in + out_i·p_out, so its mean is p_in·mean(in) + p_out·mean(out).
 * Statistics with no such shortcut (Mann–Whitney and KS tests, stage-window quantiles, cost
 * quantiles) draw the metric request by request, as SampleRun does; in a window where a metric is
 * drawn request by request, all its statistics come from those draws.
 */

const METRICS = CONTINUOUS_METRICS.length;
const TTFT = 1;
const OUT = 2;
const IN = 3;
const COST = 4;
const QUANTILES = QUANTILE_PROBS.length;

/**
 * Below this many values of a metric (m = requests − errors) in a window, a metric whose mean is
 * read is drawn request by request, and its mean and quantiles computed from the draws (a metric
 * whose quantiles alone are read takes the order-statistic chain at any m: a few variates); so too
 * below MEAN_LAW_FROM where no split level may qualify (SumSampler.meanPerRequest). The exact laws
 * are valid at any m (the sum's Cornish–Fisher law checks its own accuracy and falls back to
 * drawing values one by one), so this is a matter of cost. Measured on sums of rounded lognormal
 * token counts (p50 300, σ 0.3–1.4): one by one ~12 ns a value, so 2.4 µs at 200 and 6 µs at
 * 500; by the law 1.2–1.7 µs from 200 values where a split level qualifies (σ ≤ 0.77 there), and
 * ~6 µs where none does and the tail is halved (σ ≥ 1 below ~500); 0.9 µs for a large window.
 */
export const MEAN_PER_REQUEST_BELOW = 200;
/** From this many values a window's mean always takes its law, whatever its tail. */
export const MEAN_LAW_FROM = 500;

/** Largest standardised skewness and excess kurtosis of a sum accepted for the Cornish–Fisher law. */
const MAX_SKEW = 0.05;
const MAX_KURT = 0.05;
/** Φ(−8.5) ≈ 1e-17: beyond ±8.5σ a lognormal has no mass that a double can see. */
const TAIL_Z = 8.5;
/** Euler–Maclaurin takes over the integer sums from k·σ ≥ this (the density's scale is then ≳ 7 units). */
const EM_SCALE = 30;
/** Deepest split level: Φ^-1(1 − 2^-52) ≈ 8.0, beyond which a double sees no normal mass worth splitting off. */
const MAX_LEVEL = 52;
/** Scratch standard normals for values drawn one by one. */
const NORMALS = new Float64Array(2048);
/** Interval sums of at most this many values are drawn one by one. */
const DIRECT_MAX = 32;
/**
 * Where no split qualifies, intervals of more than this many values are halved (halves), and
 * halving stops when at most this many are left: a half of fewer than ~50 values rarely qualifies,
 * and a failed try costs as much as drawing ~30 values.
 */
const HALVE_DIRECT = 96;
/** The split levels' top shares 2^-j (0 for j = 0: no split). */
const LEVEL_SHARE = Float64Array.from({ length: MAX_LEVEL + 1 }, (_, j) => (j === 0 ? 0 : Math.pow(2, -j)));
/** The whole-window split levels in z: Φ^-1(1 − 2^-j), ∞ for j = 0. */
const LEVEL_Z = Float64Array.from({ length: MAX_LEVEL + 1 }, (_, j) => (j === 0 ? Infinity : -normalQuantile(Math.pow(2, -j))));
/** ln(1 − 2^-j): the split count's binomial needs it, and a logarithm costs as much as the rest. */
const LEVEL_LN_KEEP = LEVEL_SHARE.map((p) => Math.log1p(-p));
/** Per level, a ziggurat for Z | Z > LEVEL_Z[j], built on first use (~1 ms): the values above a split. */
const LEVEL_TABLES: (NormalAboveTable | undefined)[] = [];
/** Φ and 1 − Φ at each level, computed once: every cumulant evaluation at a level needs them. */
const LEVEL_CDF = LEVEL_Z.map((z) => normalCdf(z));
const LEVEL_SF = LEVEL_Z.map((z) => normalSf(z));

// ---------------------------------------------------------------------------------------------
// Laws of one value on an interval of the uniform scale

/** Φ(hi) − Φ(lo) for lo ≤ hi, without cancellation in either tail. */
function normalMass(lo: number, hi: number): number {
  if (!(lo < hi)) return 0;
  return lo > 0 ? normalSf(lo) - normalSf(hi) : normalCdf(hi) - normalCdf(lo);
}

/** normalMass(lo, hi) given Φ(hi) and 1 − Φ(hi), the same arithmetic with two fewer evaluations. */
function massBelow(lo: number, hi: number, cdfHi: number, sfHi: number): number {
  if (!(lo < hi)) return 0;
  return lo > 0 ? normalSf(lo) - sfHi : cdfHi - normalCdf(lo);
}

/** Where to centre the moments of a law on (zLo, zHi): near the mean, inside the interval. */
function centreZ(sigma: number, zLo: number, zHi: number): number {
  let z = sigma / 2;
  const half = Math.min(0.5, (zHi - zLo) / 2);
  if (z < zLo + half) z = zLo + half;
  if (z > zHi - half) z = zHi - half;
  return z;
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

const BINOM = [
  [1, 0, 0, 0, 0],
  [1, 1, 0, 0, 0],
  [1, 2, 1, 0, 0],
  [1, 3, 3, 1, 0],
  [1, 4, 6, 4, 1],
];
// Scratch: no allocation per window.
const PM = new Float64Array(5);
const CPM = new Float64Array(5);
const CPM_WIDE = new Float64Array(5);
const NEG_S_POW = new Float64Array(5);
const JJ = new Float64Array(4);
const EM_ACC = new Float64Array(4);
const END_A = new Float64Array(4);
const END_B = new Float64Array(4);
const END_H = new Float64Array(4);
const END_H1 = new Float64Array(4);
const END_H3 = new Float64Array(4);

/** Nodes and weights of n-point Gauss–Legendre quadrature on (−1, 1), by Newton's method. */
function gaussLegendre(n: number): [Float64Array, Float64Array] {
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1, p1 = x;
      for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k];
      dp = (n * (x * p1 - p0)) / (x * x - 1);
      const dx = p1 / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-16) break;
    }
    nodes[i] = x;
    weights[i] = 2 / ((1 - x * x) * dp * dp);
  }
  return [nodes, weights];
}
const [GL_NODES, GL_WEIGHTS] = gaussLegendre(20);
/**
 * Narrower intervals need fewer nodes. Against the 20-point rule over σ = 0.1..3 and intervals
 * anywhere in (−8.5, 8.5), the mass, mean and variance agree to 1e-13 relative and the
 * standardised skewness and kurtosis to 1e-10 (the 20-point rule's own rounding floor is ~1e-14)
 * with 4 nodes up to a width of 0.01 (the slivers below a split level's cut are ~1e-3), 6 up to
 * 0.05, 8 up to 0.2, 10 up to 0.4, 12 up to 0.6 and 16 up to 1; test/sim/exact-engine-speed.test.ts
 * checks widths from 0.0005 against Simpson's rule.
 */
const GL_RULES: readonly (readonly [number, Float64Array, Float64Array])[] = [
  [0.01, ...gaussLegendre(4)],
  [0.05, ...gaussLegendre(6)],
  [0.2, ...gaussLegendre(8)],
  [0.4, ...gaussLegendre(10)],
  [0.6, ...gaussLegendre(12)],
  [1, ...gaussLegendre(16)],
];
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * E[(X − s)^i; zLo < Z < zHi] for i = 0..4 into CPM, X = exp(μ + σZ). On intervals up to one unit
 * of z, by 20-point Gauss–Legendre on (x − s)^i·φ(z) (error ~1e-16 for σ ≤ 3): no cancellation
 * however narrow the interval. Wider, through the lognormal partial moments e^(lμ + l²σ²/2)·
 * (Φ(zHi − lσ) − Φ(zLo − lσ)), whose binomial recombination loses ~4·log10(mean/sd) digits —
 * at most ~8 for the spreads a wider interval has. phiHi, where given, holds Φ(zHi − lσ) and
 * 1 − Φ(zHi − lσ) at phiHi[phiAt + 2l], [phiAt + 2l + 1] for l = 0..4 (a split level's, computed once).
 */
function centredPartialMoments(mu: number, sigma: number, zLo: number, zHi: number, s: number, phiHi: Float64Array | null = null, phiAt = 0): void {
  const width = zHi - zLo;
  if (width <= 1) {
    let nodes = GL_NODES, weights = GL_WEIGHTS;
    if (sigma <= 3) {
      for (const rule of GL_RULES) {
        if (width <= rule[0]) {
          nodes = rule[1];
          weights = rule[2];
          break;
        }
      }
    }
    const half = width / 2, mid = (zHi + zLo) / 2, scale = half * INV_SQRT_2PI;
    let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0;
    for (let i = 0; i < nodes.length; i++) {
      const z = mid + half * nodes[i]!;
      const w = weights[i]! * scale * Math.exp(-0.5 * z * z);
      const d = Math.exp(mu + sigma * z) - s;
      const wd = w * d, wd2 = wd * d;
      c0 += w;
      c1 += wd;
      c2 += wd2;
      c3 += wd2 * d;
      c4 += wd2 * d * d;
    }
    CPM[0] = c0;
    CPM[1] = c1;
    CPM[2] = c2;
    CPM[3] = c3;
    CPM[4] = c4;
    return;
  }
  for (let l = 0; l <= 4; l++) {
    const mass = phiHi === null ? normalMass(zLo - l * sigma, zHi - l * sigma) : massBelow(zLo - l * sigma, zHi - l * sigma, phiHi[phiAt + 2 * l]!, phiHi[phiAt + 2 * l + 1]!);
    PM[l] = Math.exp(l * mu + (l * l * sigma * sigma) / 2) * mass;
  }
  // (−s)^k by products: Math.pow costs as much as the rest of the recombination.
  const n1 = -s, n2 = n1 * n1, n3 = n2 * n1, n4 = n2 * n2;
  NEG_S_POW[0] = 1;
  NEG_S_POW[1] = n1;
  NEG_S_POW[2] = n2;
  NEG_S_POW[3] = n3;
  NEG_S_POW[4] = n4;
  for (let i = 0; i <= 4; i++) {
    let sum = 0;
    for (let l = 0; l <= i; l++) sum += BINOM[i]![l]! * NEG_S_POW[i - l]! * PM[l]!;
    CPM[i] = sum;
  }
}

/**
 * Cumulants κ1..κ4 of X = exp(μ + σZ) given zLo < Z < zHi (either end may be infinite), into
 * out[0..3]. Untruncated, the closed forms (through expm1, so small σ keeps full accuracy);
 * otherwise the lognormal partial moments E[X^l; a < X < b] = e^(lμ + l²σ²/2)·(Φ(zHi − lσ) −
 * Φ(zLo − lσ)), centred near the mean.
 */
export function lognormalCumulants(mu: number, sigma: number, zLo: number, zHi: number, out: Float64Array): void {
  const s2 = sigma * sigma;
  if (zLo === -Infinity && zHi === Infinity) {
    const e = Math.expm1(s2);
    const k1 = Math.exp(mu + s2 / 2);
    const k1sq = k1 * k1;
    out[0] = k1;
    out[1] = k1sq * e;
    out[2] = k1sq * k1 * e * e * (e + 3);
    out[3] = k1sq * k1sq * e * e * (16 * e + 15 * e * e + 6 * e * e * e + e * e * e * e);
    return;
  }
  const s = Math.exp(mu + sigma * centreZ(sigma, zLo, zHi));
  centredPartialMoments(mu, sigma, zLo, zHi, s);
  const mass = CPM[0]!;
  centralCumulants(CPM[1]! / mass, CPM[2]! / mass, CPM[3]! / mass, CPM[4]! / mass, s, out);
}

/**
 * Cumulants κ1..κ4 of a token count Y = max(1, round(X)), X = exp(μ + σZ) (μ includes the log of
 * the window factor), given zLo < Z < zHi (either end may be infinite), into out[0..3].
 *
 * With g(y) = (y − s)^r about an integer s near the mean (so that central moments do not cancel),
 * Abel summation gives E g(Y) = g(kA − 1) + Σ_{k ≥ kA} (g(k) − g(k − 1))·P(Y ≥ k), where kA − 1
 * is the least value (or lies 8.5σ below the median, where P(Y < kA − 1) < 1e-17) and
 * P(Y ≥ k) = (Φ(zHi) − Φ(z(k − ½)))/(Φ(zHi) − Φ(zLo)). The terms are summed one by one while
 * k·σ < EM_SCALE (there the summand varies on a scale of a few units), and from there on by
 * Euler–Maclaurin: the integral in closed form through lognormal partial moments, plus the end
 * corrections up to the third derivative. The summand is then smooth on a scale of
 * k·σ/(1 + |z|) ≳ 7 units where it carries mass; against direct summation of the pmf over 111
 * (shape, interval) cases the worst errors are 1e-10 (mean) and 5e-10 (variance) relative, 6e-9
 * and 6e-7 on the standardised skewness and excess kurtosis. Cost: at most ~2·TAIL_Z·EM_SCALE
 * terms, typically EM_SCALE/σ.
 */
export function roundedLognormalCumulants(mu: number, sigma: number, zLo: number, zHi: number, out: Float64Array): void {
  if (!(sigma > 0)) {
    out[0] = Math.max(1, Math.round(Math.exp(mu)));
    out[1] = out[2] = out[3] = 0;
    return;
  }
  const mass = normalMass(zLo, zHi);
  const xLo = Math.exp(mu + sigma * zLo);
  const xHi = Math.exp(mu + sigma * zHi);
  // Largest k with k − ½ < xHi: the values reachable below the upper cut.
  const kMax = xHi === Infinity ? Infinity : Math.ceil(xHi + 0.5) - 1;
  const kA = Math.max(2, Math.max(1, Math.round(xLo)) + 1, Math.floor(Math.exp(mu - TAIL_Z * sigma) + 0.5));
  if (kA >= 4503599627370496) {
    // Counts beyond 2^52 wherever the law has mass: rounding moves a value by under 1e-16 of it
    // (and k + 1 no longer steps the sum below), so the law is the unrounded one.
    lognormalCumulants(mu, sigma, zLo, zHi, out);
    return;
  }
  if (kMax < kA) {
    // A single reachable value.
    out[0] = Math.max(1, Math.min(kA - 1, kMax));
    out[1] = out[2] = out[3] = 0;
    return;
  }
  const s = Math.min(kMax, Math.max(kA - 1, Math.round(Math.exp(mu + sigma * centreZ(sigma, zLo, zHi)))));
  const v0 = kA - 1 - s;
  let e1 = v0, e2 = v0 * v0, e3 = e2 * v0, e4 = e2 * e2;
  const kHi = Math.floor(Math.exp(mu + TAIL_Z * sigma) + 1);
  const kSw = Math.max(kA, Math.ceil(EM_SCALE / sigma));
  const exactEnd = Math.min(kSw - 1, kMax, kHi);
  // Φ(zHi) and 1 − Φ(zHi) once, for P(Y ≥ k) = (Φ(zHi) − Φ(z))/mass in whichever tail keeps precision.
  const cdfHi = normalCdf(zHi), sfHi = normalSf(zHi);
  for (let k = kA; k <= exactEnd; k++) {
    const t = k - 0.5;
    const z = (Math.log(t) - mu) / sigma;
    const w = (z > 0 ? normalSf(z) - sfHi : cdfHi - normalCdf(z)) / mass;
    if (!(w > 0)) break;
    const v = t - s;
    e1 += w;
    e2 += 2 * v * w;
    e3 += (3 * v * v + 0.25) * w;
    e4 += (4 * v * v + 1) * v * w;
  }
  if (kSw <= kMax && kSw <= kHi) {
    eulerMaclaurin(mu, sigma, zHi, cdfHi, sfHi, mass, s, kSw, kMax, EM_ACC);
    e1 += EM_ACC[0]!;
    e2 += EM_ACC[1]!;
    e3 += EM_ACC[2]!;
    e4 += EM_ACC[3]!;
  }
  centralCumulants(e1, e2, e3, e4, s, out);
}

/**
 * Σ_{k=a}^{b} D_r(k − ½ − s)·W(k − ½) for r = 1..4 by Euler–Maclaurin, where W(t) = Φ(zHi) −
 * Φ(z(t)) over `mass`, and D_r(v) = (v + ½)^r − (v − ½)^r: 1, 2v, 3v² + ¼, 4v³ + v. b may be ∞.
 * Σ h(k) = ∫_a^b h + (h(a) + h(b))/2 + (h'(b) − h'(a))/12 − (h'''(b) − h'''(a))/720 + R.
 */
function eulerMaclaurin(mu: number, sigma: number, zHi: number, cdfHi: number, sfHi: number, mass: number, s: number, a: number, b: number, acc: Float64Array, phiHi: Float64Array | null = null, phiAt = 0): void {
  const finiteB = Number.isFinite(b);
  const ta = a - 0.5;
  const tb = b - 0.5;
  const alpha = (Math.log(ta) - mu) / sigma;
  const beta = finiteB ? (Math.log(tb) - mu) / sigma : Infinity;
  let wb = 0;
  if (finiteB && phiHi !== null && zHi - alpha > 1) {
    // At a split level, (α, β) is (α, zHi) less the sliver (β, zHi) below the cut, under one
    // lattice step wide: the wide part takes Φ at zHi from the level's table, the sliver a few
    // quadrature nodes, where (α, β) directly costs five more normal tails (and wb a sixth).
    centredPartialMoments(mu, sigma, alpha, zHi, s, phiHi, phiAt);
    CPM_WIDE.set(CPM);
    centredPartialMoments(mu, sigma, beta, zHi, s);
    wb = CPM[0]!;
    for (let i = 0; i <= 4; i++) CPM[i] = CPM_WIDE[i]! - CPM[i]!;
  } else {
    centredPartialMoments(mu, sigma, alpha, beta, s);
    if (finiteB) wb = massBelow(beta, zHi, cdfHi, sfHi);
  }
  // J_j = ∫_{ta}^{tb} (t − s)^j M(t) dt with M(t) = Φ(zHi) − Φ(z(t)), M' = −p:
  //     = [(t − s)^{j+1}/(j+1)·M(t)] + E[(X − s)^{j+1}; ta < X < tb]/(j+1).
  const wa = massBelow(alpha, zHi, cdfHi, sfHi);
  let pb = finiteB ? tb - s : 0, pa = ta - s;
  const db = pb, da = pa;
  for (let j = 0; j < 4; j++) {
    // pb = (tb − s)^(j+1), pa = (ta − s)^(j+1).
    const atB = finiteB ? (pb * wb) / (j + 1) : 0;
    const atA = (pa * wa) / (j + 1);
    JJ[j] = atB - atA + CPM[j + 1]! / (j + 1);
    pb *= db;
    pa *= da;
  }
  endTerms(sigma, alpha, wa, mass, s, ta, -1, END_A);
  if (finiteB) endTerms(sigma, beta, wb, mass, s, tb, 1, END_B);
  else END_B.fill(0);
  acc[0] = JJ[0]! / mass + END_A[0]! + END_B[0]!;
  acc[1] = (2 * JJ[1]!) / mass + END_A[1]! + END_B[1]!;
  acc[2] = (3 * JJ[2]! + 0.25 * JJ[0]!) / mass + END_A[2]! + END_B[2]!;
  acc[3] = (4 * JJ[3]! + JJ[1]!) / mass + END_A[3]! + END_B[3]!;
}

/**
 * h_r/2 + sgn·h_r'/12 − sgn·h_r'''/720 at t = x − ½ for the four summands h_r(x) = D_r(t − s)·W(t):
 * sgn = −1 at the lower end, +1 at the upper end; z = z(t) and massAbove = Φ(zHi) − Φ(z), as the caller has them.
 */
function endTerms(sigma: number, z: number, massAbove: number, mass: number, s: number, t: number, sgn: number, out: Float64Array): void {
  const w = massAbove / mass;
  // W' = −p/mass, W'' = −p'/mass, W''' = −p''/mass with the lognormal density p and, for
  // A = 1 + z/σ, p' = −p·A/t and p'' = p·(A² + A − 1/σ²)/t².
  const p = Math.exp(-0.5 * z * z) / (Math.sqrt(2 * Math.PI) * sigma * t);
  const A = 1 + z / sigma;
  const w1 = -p / mass;
  const w2 = (p * A) / t / mass;
  const w3 = (-p * (A * A + A - 1 / (sigma * sigma))) / (t * t) / mass;
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

// ---------------------------------------------------------------------------------------------
// Cumulants of a whole-window token count over the window factor

/**
 * With a window factor f, a token count is max(1, round(exp(μ' + σZ))) with μ' = μ + ln f, and its
 * whole-window law (Z below a split level zHi, fixed in z) changes with μ' from window to window.
 * roundedLognormalCumulants spends most of its time on the terms k < K = ⌈EM_SCALE/σ⌉, summed one by
 * one; the Euler–Maclaurin rest costs a few special functions. That lower part is
 *     Σ_{k=2}^{K−1} D_r(t_k − s)·(Q(z_k) − Q(zHi))/Φ(zHi),  t_k = k − ½, z_k = (ln t_k − μ')/σ,
 * (Q = 1 − Φ), a polynomial in s whose μ'-dependent coefficients are the sums
 *     T_i(μ') = Σ_{k=2}^{K−1} t_k^i·Q(z_k),  i = 0..3,
 * smooth in μ' (each term a normal tail in μ' of width σ) and independent of zHi. (Truncation at a
 * fixed z leaves the law itself only piecewise smooth in μ' — it has a kink each time the cut crosses
 * a half-integer — so it is these sums, not the cumulants, that are interpolated.) T_i are
 * interpolated per σ by Chebyshev polynomials of degree CHEB_N − 1 on segments of μ' of width
 * min(0.25, σ/2) aligned on multiples of it, so arms and runs with the same σ share them: a pure
 * function of (σ, μ'), whatever was drawn before. Each segment is checked when built against direct
 * summation at the CHEB_N + 1 points between and beyond its nodes (where the interpolation error
 * peaks), to T_ABS_TOL of Σ t_k^i; a segment that fails is computed directly. Used only for factors
 * with ln f in [LN_F_MIN, LN_F_MAX], when the cut and the tail cut-off leave k < K whole (xHi ≥ K − ½,
 * e^(μ' − TAIL_Z·σ) < K − 1) and σ ≥ T_MIN_SIGMA; otherwise roundedLognormalCumulants. Against
 * roundedLognormalCumulants over σ 0.1..2, levels 0..30 and medians ~10..10^4 (the test): at most
 * ~5e-13 relative on mean and variance, ~1e-11 on the standardised skewness, ~2e-10 on the
 * standardised excess kurtosis (the worst at σ = 0.1).
 */
const CHEB_N = 16;
/**
 * Smallest σ for this route: the sums start from Y = 1, so the moments about s ≈ the median cancel by
 * ~(s/sd)^4 ≈ σ^-4; at σ = 0.1 that leaves ~1e-10 on the standardised kurtosis.
 */
const T_MIN_SIGMA = 0.1;
const T_ABS_TOL = 1e-13;
const LN_F_MIN = -2;
const LN_F_MAX = 1.5;
/** Segments kept (about 0.5 KB each) before the cache is emptied; rebuilding gives the same values. */
const T_MAX_SEGMENTS = 8192;
/** Values of σ kept (a table of ~EM_SCALE/σ logarithms each) before the cache is emptied. */
const T_MAX_TABLES = 256;
/** Chebyshev nodes on (−1, 1). */
const CHEB_X = Float64Array.from({ length: CHEB_N }, (_, i) => Math.cos((Math.PI * (i + 0.5)) / CHEB_N));
/** Per σ: Σ t_k^i (i = 0..3) over k = 2..K−1, and the segments' coefficients (null: computed directly). */
interface TTable {
  K: number;
  width: number;
  P: Float64Array;
  logT: Float64Array;
  segments: Map<number, Float64Array | null>;
}
const tTables = new Map<number, TTable>();
let tSegmentCount = 0;
const T_DIRECT = new Float64Array(4);
const T_VALS = new Float64Array(4 * CHEB_N);
const T_OUT = new Float64Array(4);

function tTable(sigma: number): TTable {
  let tab = tTables.get(sigma);
  if (tab === undefined) {
    if (tTables.size >= T_MAX_TABLES) {
      tTables.clear();
      tSegmentCount = 0;
    }
    const K = Math.ceil(EM_SCALE / sigma);
    const P = new Float64Array(4);
    const logT = new Float64Array(Math.max(0, K - 2));
    for (let k = 2; k < K; k++) {
      const t = k - 0.5;
      logT[k - 2] = Math.log(t);
      P[0] += 1;
      P[1] += t;
      P[2] += t * t;
      P[3] += t * t * t;
    }
    tab = { K, width: Math.min(0.25, sigma / 2), P, logT, segments: new Map() };
    tTables.set(sigma, tab);
  }
  return tab;
}

/** T_0..T_3 at μ' by direct summation, into out. */
function tSumsDirect(tab: TTable, mu: number, sigma: number, out: Float64Array): void {
  let t0 = 0, t1 = 0, t2 = 0, t3 = 0;
  for (let k = 2; k < tab.K; k++) {
    const t = k - 0.5;
    const q = normalSf((tab.logT[k - 2]! - mu) / sigma);
    t0 += q;
    t1 += t * q;
    t2 += t * t * q;
    t3 += t * t * t * q;
  }
  out[0] = t0;
  out[1] = t1;
  out[2] = t2;
  out[3] = t3;
}

/** Clenshaw's recurrence on c[r·N .. r·N + N) at x. */
function chebEval(c: Float64Array, r: number, x: number): number {
  const base = r * CHEB_N;
  let b1 = 0, b2 = 0;
  const x2 = 2 * x;
  for (let i = CHEB_N - 1; i >= 1; i--) {
    const b0 = x2 * b1 - b2 + c[base + i]!;
    b2 = b1;
    b1 = b0;
  }
  return x * b1 - b2 + c[base]!;
}

function buildTSegment(tab: TTable, sigma: number, seg: number): Float64Array | null {
  const half = tab.width / 2;
  const mid = seg * tab.width + half;
  for (let i = 0; i < CHEB_N; i++) {
    tSumsDirect(tab, mid + half * CHEB_X[i]!, sigma, T_DIRECT);
    for (let r = 0; r < 4; r++) T_VALS[r * CHEB_N + i] = T_DIRECT[r]!;
  }
  const c = new Float64Array(4 * CHEB_N);
  for (let r = 0; r < 4; r++) {
    for (let k = 0; k < CHEB_N; k++) {
      let s = 0;
      for (let i = 0; i < CHEB_N; i++) s += T_VALS[r * CHEB_N + i]! * Math.cos((Math.PI * k * (i + 0.5)) / CHEB_N);
      c[r * CHEB_N + k] = ((k === 0 ? 1 : 2) / CHEB_N) * s;
    }
  }
  for (let i = 0; i <= CHEB_N; i++) {
    const x = Math.cos((Math.PI * i) / CHEB_N);
    tSumsDirect(tab, mid + half * x, sigma, T_DIRECT);
    for (let r = 0; r < 4; r++) if (!(Math.abs(chebEval(c, r, x) - T_DIRECT[r]!) <= T_ABS_TOL * tab.P[r]!)) return null;
  }
  return c;
}

/** T_0..T_3 at μ' by interpolation, into out; false where the segment is computed directly. */
function tSumsInterpolated(tab: TTable, mu: number, sigma: number, out: Float64Array): boolean {
  const seg = Math.floor(mu / tab.width);
  let c = tab.segments.get(seg);
  if (c === undefined) {
    if (tSegmentCount >= T_MAX_SEGMENTS) {
      for (const t of tTables.values()) t.segments.clear();
      tSegmentCount = 0;
    }
    c = buildTSegment(tab, sigma, seg);
    tab.segments.set(seg, c);
    tSegmentCount++;
  }
  if (c === null) return false;
  const x = ((mu - seg * tab.width) / tab.width) * 2 - 1;
  for (let r = 0; r < 4; r++) out[r] = chebEval(c, r, x);
  return true;
}

/**
 * Cumulants of max(1, round(exp(μ' + σZ))) given Z < zHi, into out: the terms k < ⌈EM_SCALE/σ⌉ from
 * interpolated sums T_i(μ'), the rest as in roundedLognormalCumulants. `interpolate` false sums the
 * T_i directly (for tests). Returns false, out untouched, where this route does not apply.
 */
export function wholeRoundedCumulants(mu: number, sigma: number, zHi: number, out: Float64Array, interpolate = true, cdfHi = normalCdf(zHi), sfHi = normalSf(zHi), phiHi: Float64Array | null = null, phiAt = 0): boolean {
  if (!(sigma >= T_MIN_SIGMA) || !Number.isFinite(mu) || !(zHi > -Infinity)) return false;
  const tab = tTable(sigma);
  const K = tab.K;
  if (K < 3) return false;
  const xHi = Math.exp(mu + sigma * zHi);
  const kMax = xHi === Infinity ? Infinity : Math.ceil(xHi + 0.5) - 1;
  if (!(kMax >= K) || !(Math.exp(mu - TAIL_Z * sigma) < K - 1)) return false;
  if (interpolate) {
    if (!tSumsInterpolated(tab, mu, sigma, T_OUT)) return false;
  } else tSumsDirect(tab, mu, sigma, T_OUT);
  const mass = cdfHi;
  const s = Math.min(kMax, Math.max(1, Math.round(Math.exp(mu + sigma * centreZ(sigma, -Infinity, zHi)))));
  const T0 = T_OUT[0]!, T1 = T_OUT[1]!, T2 = T_OUT[2]!, T3 = T_OUT[3]!;
  const P = tab.P;
  const P0 = P[0]!, P1 = P[1]!, P2 = P[2]!, P3 = P[3]!;
  // Σ D_r(t − s)·(Q(z_k) − Q(zHi)) with D_r(v) = 1, 2v, 3v² + ¼, 4v³ + v expanded in powers of t.
  const s2 = s * s;
  const d1 = T0 - sfHi * P0;
  const d2 = 2 * (T1 - sfHi * P1) - 2 * s * d1;
  const d3 = 3 * (T2 - sfHi * P2) - 6 * s * (T1 - sfHi * P1) + (3 * s2 + 0.25) * d1;
  const d4 = 4 * (T3 - sfHi * P3) - 12 * s * (T2 - sfHi * P2) + (12 * s2 + 1) * (T1 - sfHi * P1) - (4 * s2 * s + s) * d1;
  const v0 = 1 - s;
  let e1 = v0 + d1 / mass;
  let e2 = v0 * v0 + d2 / mass;
  let e3 = v0 * v0 * v0 + d3 / mass;
  let e4 = v0 * v0 * v0 * v0 + d4 / mass;
  const kHi = Math.floor(Math.exp(mu + TAIL_Z * sigma) + 1);
  if (K <= kHi) {
    eulerMaclaurin(mu, sigma, zHi, cdfHi, sfHi, mass, s, K, kMax, EM_ACC, phiHi, phiAt);
    e1 += EM_ACC[0]!;
    e2 += EM_ACC[1]!;
    e3 += EM_ACC[2]!;
    e4 += EM_ACC[3]!;
  }
  centralCumulants(e1, e2, e3, e4, s, out);
  return true;
}

/** z + (γ1/6)(z² − 1) + (γ2/24)(z³ − 3z) − (γ1²/36)(2z³ − 5z): the second-order Cornish–Fisher quantile. */
export function cornishFisher(z: number, g1: number, g2: number): number {
  const z2 = z * z;
  return z + (g1 / 6) * (z2 - 1) + (g2 / 24) * z * (z2 - 3) - ((g1 * g1) / 36) * z * (2 * z2 - 5);
}

// ---------------------------------------------------------------------------------------------
// Sums and order statistics of one metric in one window

const SCRATCH_CUM = new Float64Array(4);
const SCRATCH_PROXY = new Float64Array(4);
const SCRATCH_RANKS = new Float64Array(2 * QUANTILES);
const CHAIN_Z = new Float64Array(2 * QUANTILES);
const CHAIN_U = new Float64Array(2 * QUANTILES);
const CHAIN_V = new Float64Array(2 * QUANTILES);
const CHAIN_X = new Float64Array(2 * QUANTILES);

/**
 * Per σ, the cumulants of the unrounded lognormal with μ = 0 below each whole-window level (NaN
 * until computed): the token samplers' proxy, a pure function of σ, so shared by every run.
 */
const proxyTables = new Map<number, Float64Array>();
const MAX_PROXY_TABLES = 256;
function proxyTable(sigma: number): Float64Array {
  let t = proxyTables.get(sigma);
  if (t === undefined) {
    if (proxyTables.size >= MAX_PROXY_TABLES) proxyTables.clear();
    t = new Float64Array(4 * (MAX_LEVEL + 1)).fill(NaN);
    proxyTables.set(sigma, t);
  }
  return t;
}

/**
 * Per σ, for each whole-window level j, the number of values below the level from which the
 * unrounded lognormal's sum qualifies: max((γ1/MAX_SKEW)², |γ2|/MAX_KURT) for the standardised
 * skewness γ1 and excess kurtosis γ2 of one value (the sum's are γ1/√n and γ2/n). NaN until computed.
 */
const levelNeedTables = new Map<number, Float64Array>();
function levelNeeds(sigma: number): Float64Array {
  let t = levelNeedTables.get(sigma);
  if (t === undefined) {
    if (levelNeedTables.size >= MAX_PROXY_TABLES) levelNeedTables.clear();
    t = new Float64Array(MAX_LEVEL + 1);
    const k = new Float64Array(4);
    for (let j = 0; j <= MAX_LEVEL; j++) {
      lognormalCumulants(0, sigma, -Infinity, LEVEL_Z[j]!, k);
      const g1 = k[2]! / Math.pow(k[1]!, 1.5), g2 = k[3]! / (k[1]! * k[1]!);
      // NaN (σ = 0, or cumulants that underflow) never qualifies.
      t[j] = Math.max((g1 / MAX_SKEW) ** 2, Math.abs(g2) / MAX_KURT);
      if (Number.isNaN(t[j]!)) t[j] = Infinity;
    }
    levelNeedTables.set(sigma, t);
  }
  return t;
}

/**
 * One metric of one arm, for a run: values exp(μ + σZ)·f, rounded to max(1, round(·)) for token
 * counts, f the window factor. Draws, for m values of a window, their sum (`sum`), or their
 * quantiles p50..p999 together with their sum (`quantilesAndSum`), from the exact joint law.
 *
 * A sum of c iid values on an interval (a, b) of the uniform scale is drawn by splitting it at a
 * level t (no split, or the top share 2^-j of the interval): the count above t is Bin(c, 2^-j) and
 * those values are drawn one by one; given it, the others are iid on (a, t), and their sum is
 * drawn from the second-order Cornish–Fisher expansion on the exact first four cumulants of that
 * truncated law. The level is the lowest whose standardised skewness and excess kurtosis of the sum
 * are both at most 0.05 (the neglected third-order terms are then ~1e-3 of a standard deviation);
 * when c ≤ DIRECT_MAX they are drawn one by one, and when no level qualifies the interval is halved
 * (halves) down to HALVE_DIRECT values, drawn one by one. Token sums are rounded
 * to the lattice (a continuity correction) and every sum is kept inside its support.
 *
 * Quantiles: the order statistics that p50..p999 interpolate form one ascending chain of ranks
 * k1 < k2 < ...: U_(k1) ~ Beta(k1, m − k1 + 1) and U_(k') = U_(k) + (1 − U_(k))·Beta(k' − k,
 * m − k' + 1) given U_(k) (each Beta a ratio of gammas; U and 1 − U are both carried so that
 * either tail keeps its precision), mapped through the monotone quantile function. Given the
 * chain, the values between two links are iid on the interval between them, so the window's sum
 * is the chain's values plus one interval sum per gap: mean and quantiles come out jointly, as
 * they do from one sample.
 */
export class SumSampler {
  // Per-level caches, allocated on first use (a run makes eight samplers, most of which never
  // touch some of them); the scratch arrays are shared by every sampler, none of whose calls
  // interleave.
  private wholeCum: Float64Array | null = null;
  private wholeValid: Uint8Array | null = null;
  private wholeFactor = NaN;
  private baseCum: Float64Array | null = null;
  private baseValid: Uint8Array | null = null;
  private levelNeed: Float64Array | null = null;
  private proxyCum: Float64Array | null = null;
  private phiTable: Float64Array | null = null;
  private readonly cum = SCRATCH_CUM;
  private readonly proxy = SCRATCH_PROXY;
  private readonly ranks = SCRATCH_RANKS;
  private readonly chainZ = CHAIN_Z;
  private readonly chainU = CHAIN_U;
  private readonly chainV = CHAIN_V;
  private readonly chainX = CHAIN_X;
  /** The split level of the last whole-window sum: 0 none, j the top share 2^-j, -1 drawn one by one. */
  lastLevel = 0;

  /** e^μ and e^(−5σ), for the lattice test (latticeSafe), computed once. */
  private readonly expMu: number;
  private readonly expMinus5Sigma: number;

  constructor(
    readonly mu: number,
    readonly sigma: number,
    readonly rounded: boolean,
  ) {
    this.expMu = Math.exp(mu);
    this.expMinus5Sigma = Math.exp(-5 * sigma);
  }

  /**
   * Whether a whole window's token counts are large on the lattice at this factor (median·σ ≥ 10,
   * and under 1e-6 of the mass below 1.5, where max(1, ·) bites): there rounding moves the
   * standardised cumulants by ~1/(8κ2) ≤ 1e-3 relative, so the unrounded proxy is within 2%.
   */
  private latticeSafe(factor: number): boolean {
    const median = this.expMu * factor;
    return median * this.sigma >= 10 && median * this.expMinus5Sigma >= 1.5;
  }

  // fastExp (relative error < 4e-15 for |x| < 30) and `tokens`, as SampleRun draws its values.
  value(z: number, factor: number): number {
    const x = fastExp(this.mu + this.sigma * z) * factor;
    return this.rounded ? tokens(x) : x;
  }

  /** m values drawn one by one into buf[0, m); returns their sum. */
  perRequest(rng: Rng, m: number, factor: number, buf: Float64Array): number {
    const z = NORMALS, mu = this.mu, sigma = this.sigma;
    let sum = 0;
    for (let done = 0; done < m; ) {
      const c = Math.min(z.length, m - done);
      fillNormals(rng, z, c);
      if (this.rounded) {
        for (let j = 0; j < c; j++) {
          const v = tokens(fastExp(mu + sigma * z[j]!) * factor);
          buf[done + j] = v;
          sum += v;
        }
      } else {
        for (let j = 0; j < c; j++) {
          const v = fastExp(mu + sigma * z[j]!) * factor;
          buf[done + j] = v;
          sum += v;
        }
      }
      done += c;
    }
    return sum;
  }

  /** Cumulants of one value given zLo < Z < zHi, into this.cum. */
  private intervalCumulants(factor: number, zLo: number, zHi: number): Float64Array {
    if (this.rounded) roundedLognormalCumulants(this.mu + Math.log(factor), this.sigma, zLo, zHi, this.cum);
    else lognormalCumulants(this.mu + Math.log(factor), this.sigma, zLo, zHi, this.cum);
    return this.cum;
  }

  /**
   * Cumulants of one value below the whole-window split level (fixed in z, so independent of the
   * factor). Latency and ttft: f·X has κ_r = f^r·κ_r(X), from κ_r(X) cached per level. Token
   * counts: through interpolated sums in μ + ln f (wholeRoundedCumulants) where that applies, else
   * roundedLognormalCumulants; cached per factor (either way a pure function of μ + ln f and level).
   */
  /**
   * Φ(zHi − lσ) and 1 − Φ(zHi − lσ), l = 0..4, for the cut zHi of whole-window level j, at
   * [10j + 2l], [10j + 2l + 1] of the returned table: every cumulant evaluation at the level needs
   * them, whatever the factor.
   */
  private levelPhi(level: number): Float64Array {
    const t = (this.phiTable ??= new Float64Array(10 * (MAX_LEVEL + 1)).fill(NaN));
    if (Number.isNaN(t[10 * level])) {
      for (let l = 0; l <= 4; l++) {
        const z = LEVEL_Z[level]! - l * this.sigma;
        t[10 * level + 2 * l] = normalCdf(z);
        t[10 * level + 2 * l + 1] = normalSf(z);
      }
    }
    return t;
  }

  private wholeCumulants(level: number, factor: number): Float64Array {
    const zHi = LEVEL_Z[level]!;
    if (!this.rounded) {
      const at = 4 * level;
      if (this.baseCum === null) {
        this.baseCum = new Float64Array(4 * (MAX_LEVEL + 1));
        this.baseValid = new Uint8Array(MAX_LEVEL + 1);
      }
      if (!this.baseValid![level]) {
        lognormalCumulants(this.mu, this.sigma, -Infinity, zHi, this.cum);
        this.baseCum.set(this.cum, at);
        this.baseValid![level] = 1;
      }
      let p = factor;
      for (let i = 0; i < 4; i++) {
        this.cum[i] = this.baseCum[at + i]! * p;
        p *= factor;
      }
      return this.cum;
    }
    if (this.wholeCum === null) {
      this.wholeCum = new Float64Array(4 * (MAX_LEVEL + 1));
      this.wholeValid = new Uint8Array(MAX_LEVEL + 1);
    }
    if (factor !== this.wholeFactor) {
      this.wholeValid!.fill(0);
      this.wholeFactor = factor;
    }
    const at = 4 * level;
    if (!this.wholeValid![level]) {
      const lnF = Math.log(factor);
      if (!(lnF >= LN_F_MIN && lnF <= LN_F_MAX && wholeRoundedCumulants(this.mu + lnF, this.sigma, zHi, this.cum, true, LEVEL_CDF[level]!, LEVEL_SF[level]!, this.levelPhi(level), 10 * level))) this.intervalCumulants(factor, -Infinity, zHi);
      this.wholeCum.set(this.cum, at);
      this.wholeValid![level] = 1;
    }
    for (let i = 0; i < 4; i++) this.cum[i] = this.wholeCum[at + i]!;
    return this.cum;
  }

  private qualifies(k: Float64Array, n: number, slack = 1): boolean {
    const k2 = k[1]!;
    if (!(k2 > 1e-24 * (k[0]! * k[0]! + 1))) return true; // constant: the sum is n·κ1
    const g1 = k[2]! / (k2 * Math.sqrt(k2 * n));
    const g2 = k[3]! / (k2 * k2 * n);
    return Math.abs(g1) <= slack * MAX_SKEW && Math.abs(g2) <= slack * MAX_KURT;
  }

  /**
   * For token counts, whether the unrounded lognormal on the same interval misses the thresholds
   * by a wide margin (1.5 times), in which case the rounded law, whose cumulants cost several
   * times more, is not tried at that level. Skipping a level never affects exactness, only which
   * (deeper) level or direct draw is used. Where values are large on the lattice (latticeSafe),
   * the margin for whole-window laws is 2%.
   */
  private hopeless(j: number, factor: number, zLo: number, zCut: number, n: number, whole: boolean): boolean {
    if (!this.rounded) return false;
    if (whole) {
      const at = 4 * j;
      const proxyCum = (this.proxyCum ??= proxyTable(this.sigma));
      if (Number.isNaN(proxyCum[at])) {
        lognormalCumulants(0, this.sigma, -Infinity, LEVEL_Z[j]!, this.proxy);
        proxyCum.set(this.proxy, at);
      }
      for (let i = 0; i < 4; i++) this.proxy[i] = proxyCum[at + i]!;
    } else lognormalCumulants(this.mu + Math.log(factor), this.sigma, zLo, zCut, this.proxy);
    const slack = whole && this.latticeSafe(factor) ? 1.02 : 1.5;
    return !this.qualifies(this.proxy, n, slack);
  }

  /**
   * Whether a window's mean of m values costs less drawn request by request than by its law (both
   * exact): always below MEAN_PER_REQUEST_BELOW values, never from MEAN_LAW_FROM, and between them
   * where neither the whole law nor a split at the top eighth may qualify, by the proxy the level
   * search uses (deepestLevel), so that the law would halve its tail, at the cost of ~500 values.
   */
  meanPerRequest(m: number, factor: number): boolean {
    if (m < MEAN_PER_REQUEST_BELOW) return true;
    if (m >= MEAN_LAW_FROM) return false;
    if (!(this.sigma > 0) || !(factor > 0)) return false; // a constant: no draw either way
    let margin = 1;
    if (this.rounded) {
      if (!this.latticeSafe(factor)) return true;
      margin = 1.02 * 1.02;
    }
    const need = (this.levelNeed ??= levelNeeds(this.sigma));
    return !(m >= need[0]! * margin || m * (1 - LEVEL_SHARE[3]!) >= need[3]! * margin);
  }

  /**
   * The first split level tried after no split (-1: none), for c values. Between two links of a
   * quantile chain: where ~8 values are expected above the cut. For a whole window: the deepest
   * (the fewest values drawn one by one above it, however few: c·2^-j may be below 1) at which the
   * law's proxy qualifies for c·(1 − 2^-j) values, so that a level is rarely tried in vain, each
   * try costing a cumulant evaluation (~1 µs, ~30 values drawn one by one). The proxy is exact
   * for latency; for token counts it is the unrounded law, which rounding moves by under 2% where
   * values are large on the lattice (latticeSafe), so a level must qualify with that margin.
   * Elsewhere the rounded law can differ more, and the search starts where ~8 values are expected
   * above the cut.
   */
  private deepestLevel(c: number, factor: number, whole: boolean): number {
    const start = Math.min(MAX_LEVEL, Math.floor(Math.log2(c / 8)));
    if (!whole) return start >= 3 ? start : -1;
    let margin = 1;
    if (this.rounded) {
      if (!this.latticeSafe(factor)) return start >= 3 ? start : -1;
      margin = 1.02 * 1.02;
    }
    const need = (this.levelNeed ??= levelNeeds(this.sigma));
    let j = 3;
    while (j < MAX_LEVEL && c * (1 - LEVEL_SHARE[j + 1]!) >= need[j + 1]! * margin) j++;
    return j;
  }

  /** The sum of c values iid above whole-window level j (Z > LEVEL_Z[j]), one by one, from the level's table. */
  private aboveLevel(rng: Rng, c: number, factor: number, j: number): number {
    const table = (LEVEL_TABLES[j] ??= new NormalAboveTable(LEVEL_Z[j]!));
    const mu = this.mu, sigma = this.sigma;
    let sum = 0;
    // value() inlined, each branch its own loop: a call per value costs as much as the draw.
    if (this.rounded) for (let i = 0; i < c; i++) sum += tokens(fastExp(mu + sigma * table.draw(rng)) * factor);
    else for (let i = 0; i < c; i++) sum += fastExp(mu + sigma * table.draw(rng)) * factor;
    return sum;
  }

  /** The sum of c values iid on (u_lo, u_hi) of the uniform scale (1 − u given as v), one by one. */
  private direct(rng: Rng, c: number, factor: number, zLo: number, uLo: number, vLo: number, uHi: number, vHi: number): number {
    let sum = 0;
    if (uLo === 0 && uHi === 1) {
      for (let i = 0; i < c; i++) sum += this.value(rng.normal(), factor);
      return sum;
    }
    if (vHi === 0 && zLo >= NORMAL_ABOVE_FROM) {
      // An upper tail: rejection costs a logarithm and a root a try, inversion three times that.
      for (let i = 0; i < c; i++) sum += this.value(normalAbove(rng, zLo), factor);
      return sum;
    }
    const du = uHi - uLo, dv = vLo - vHi;
    for (let i = 0; i < c; i++) {
      const r = rng.uniform();
      const u = uLo + du * r;
      sum += this.value(u < 0.5 ? normalQuantile(u) : -normalQuantile(vLo - dv * r), factor);
    }
    return sum;
  }

  /**
   * The sum of c values iid on the interval with ends (zLo, uLo, vLo) and (zHi, uHi, vHi): z the
   * normal quantile, u the uniform, v = 1 − u. `whole` marks the whole range, whose cumulants are
   * cached.
   */
  private intervalSum(rng: Rng, c: number, factor: number, zLo: number, uLo: number, vLo: number, zHi: number, uHi: number, vHi: number, whole: boolean): number {
    if (c === 0) return 0;
    if (!(factor > 0)) return this.rounded ? c : 0; // every value is 0, or max(1, round(0)) = 1
    if (!(this.sigma > 0)) return c * this.value(0, factor);
    if (c <= DIRECT_MAX) return this.direct(rng, c, factor, zLo, uLo, vLo, uHi, vHi);
    // Levels tried: no split, then top shares 2^-j from the deepest that may qualify up to 1/8.
    let level = -1;
    let zCut = zHi;
    for (let j = 0; j === 0 || j >= 3; j = j === 0 ? this.deepestLevel(c, factor, whole) : j - 1) {
      const share = LEVEL_SHARE[j]!;
      if (!whole) zCut = j === 0 ? zHi : this.cutZ(uLo, vLo, uHi, vHi, share);
      if (this.hopeless(j, factor, zLo, zCut, c * (1 - share), whole)) continue;
      const k = whole ? this.wholeCumulants(j, factor) : this.intervalCumulants(factor, zLo, zCut);
      if (this.qualifies(k, c * (1 - share))) {
        level = j;
        break;
      }
    }
    if (whole) this.lastLevel = level;
    if (level < 0) return c > HALVE_DIRECT ? this.halves(rng, c, factor, zLo, uLo, vLo, uHi, vHi) : this.direct(rng, c, factor, zLo, uLo, vLo, uHi, vHi);
    const k = whole ? this.wholeCumulants(level, factor) : this.cum;
    let top = 0, n = c;
    if (level > 0) {
      const share = LEVEL_SHARE[level]!;
      const uCut = uLo + (uHi - uLo) * (1 - share);
      const vCut = vHi + (vLo - vHi) * share;
      zCut = whole ? LEVEL_Z[level]! : zCut;
      const above = whole ? binomial(rng, c, share, LEVEL_LN_KEEP[level]!) : binomial(rng, c, share);
      n = c - above;
      top = whole ? this.aboveLevel(rng, above, factor, level) : this.direct(rng, above, factor, zCut, uCut, vCut, uHi, vHi);
    }
    if (n === 0) return top;
    return top + this.cornishFisherSum(rng, n, k, factor, zLo, zCut);
  }

  /**
   * The sum of n values iid on (zLo, zCut) with cumulants k (which qualify for n): the
   * Cornish–Fisher law, on the lattice for token counts, kept inside its support.
   */
  private cornishFisherSum(rng: Rng, n: number, k: Float64Array, factor: number, zLo: number, zCut: number): number {
    const k1 = k[0]!, k2 = k[1]!, k3 = k[2]!, k4 = k[3]!;
    let lower: number;
    if (!(k2 > 1e-24 * (k1 * k1 + 1))) lower = n * k1;
    else {
      const g1 = k3 / (k2 * Math.sqrt(k2 * n));
      const g2 = k4 / (k2 * k2 * n);
      lower = n * k1 + Math.sqrt(n * k2) * cornishFisher(rng.normal(), g1, g2);
      if (this.rounded) lower = Math.round(lower);
    }
    // Keep the sum inside its support: n·least ≤ n·κ1 ≤ n·most, so the upper end, a value at the
    // cut, is only needed above the mean.
    const least = zLo === -Infinity ? (this.rounded ? 1 : 0) : this.value(zLo, factor);
    const sum = Math.max(n * least, lower);
    return zCut === Infinity || sum <= n * k1 ? sum : Math.min(n * this.value(zCut, factor), sum);
  }

  /**
   * The sum of c values iid on (u_lo, u_hi) where no split level qualifies (a tail too skewed
   * for the count): rather than drawing all c one by one, the interval is halved on the uniform
   * scale, the count in the lower half drawn as Bin(c, ½), and the lower half's sum taken from
   * the Cornish–Fisher law where its cumulants qualify; the upper half is halved in turn. A half
   * of a tail is nearly a truncated exponential over ln 2 of its scale, whose sums are close to
   * normal from a few dozen values, so most of a tail's values go into a few qualified halves,
   * each held to the same skewness and kurtosis bounds as any split. What is left (at most
   * HALVE_DIRECT values, or a half that does not qualify) is drawn one by one.
   */
  private halves(rng: Rng, c: number, factor: number, zLo: number, uLo: number, vLo: number, uHi: number, vHi: number): number {
    let sum = 0;
    while (c > HALVE_DIRECT) {
      const uMid = uLo + (uHi - uLo) * 0.5;
      const vMid = vHi + (vLo - vHi) * 0.5;
      const zMid = uMid < 0.5 ? normalQuantile(uMid) : -normalQuantile(vMid);
      const below = binomial(rng, c, 0.5);
      if (below > DIRECT_MAX && this.qualifies(this.intervalCumulants(factor, zLo, zMid), below)) sum += this.cornishFisherSum(rng, below, this.cum, factor, zLo, zMid);
      else sum += this.direct(rng, below, factor, zLo, uLo, vLo, uMid, vMid);
      c -= below;
      uLo = uMid;
      vLo = vMid;
      zLo = zMid;
    }
    return sum + this.direct(rng, c, factor, zLo, uLo, vLo, uHi, vHi);
  }

  /** The normal quantile of the level splitting off the top `share` of (u_lo, u_hi). */
  private cutZ(uLo: number, vLo: number, uHi: number, vHi: number, share: number): number {
    const u = uLo + (uHi - uLo) * (1 - share);
    return u < 0.5 ? normalQuantile(u) : -normalQuantile(vHi + (vLo - vHi) * share);
  }

  /** The sum of a window's m values (its mean times m). */
  sum(rng: Rng, m: number, factor: number): number {
    // The level search sets it when the sum reaches it; the early paths draw one by one, or nothing.
    this.lastLevel = -1;
    return this.intervalSum(rng, m, factor, -Infinity, 0, 1, Infinity, 1, 0, true);
  }

  /**
   * Writes the window's quantiles p50..p999 (numpy's linear interpolation) at out[at..at+5) and
   * returns the sum of its m values, drawn jointly. With `wanted`, only the quantiles it marks
   * are drawn (the others are NaN): fewer links in the chain, hence fewer gaps to sum, and the
   * same joint law of those quantiles and the sum. Without `withSum` the chain alone is drawn
   * and NaN returned.
   */
  quantilesAndSum(rng: Rng, m: number, factor: number, out: Float64Array, at: number, wanted?: readonly boolean[], withSum = true): number {
    if (!(m >= 1)) {
      // No values (m is a count: 0, or anything that is not one).
      out.fill(NaN, at, at + QUANTILES);
      return 0;
    }
    const ranks = this.ranks;
    let count = 0;
    for (let i = 0; i < QUANTILES; i++) {
      if (wanted && !wanted[i]) continue;
      const h = (m - 1) * QUANTILE_PROBS[i]!;
      const lo = Math.floor(h);
      // 1-based ranks of the order statistics the quantile interpolates.
      if (count === 0 || ranks[count - 1]! < lo + 1) ranks[count++] = lo + 1;
      if (h > lo && lo + 1 < m && ranks[count - 1]! < lo + 2) ranks[count++] = lo + 2;
    }
    if (count === 0) {
      out.fill(NaN, at, at + QUANTILES);
      return withSum ? this.sum(rng, m, factor) : NaN;
    }
    let u = 0, v = 1, rank = 0;
    for (let i = 0; i < count; i++) {
      const k = ranks[i]!;
      const x = gamma(rng, k - rank);
      const y = gamma(rng, m - k + 1);
      const s = x + y;
      u += (v * x) / s;
      v = (v * y) / s;
      rank = k;
      const z = u <= 0.5 ? normalQuantile(u) : -normalQuantile(v);
      this.chainZ[i] = z;
      this.chainU[i] = u;
      this.chainV[i] = v;
      this.chainX[i] = this.value(z, factor);
    }
    for (let i = 0; i < QUANTILES; i++) {
      if (wanted && !wanted[i]) {
        out[at + i] = NaN;
        continue;
      }
      const h = (m - 1) * QUANTILE_PROBS[i]!;
      const lo = Math.floor(h);
      let j = 0;
      while (ranks[j]! !== lo + 1) j++;
      const x = this.chainX[j]!;
      out[at + i] = h > lo && lo + 1 < m ? x + (h - lo) * (this.chainX[j + 1]! - x) : x;
    }
    if (!withSum) return NaN;
    // The sum: the chain's values plus, for each gap between links, the sum of its values.
    let sum = 0;
    let zPrev = -Infinity, uPrev = 0, vPrev = 1, rPrev = 0;
    for (let i = 0; i < count; i++) {
      sum += this.chainX[i]!;
      const gap = ranks[i]! - rPrev - 1;
      sum += this.intervalSum(rng, gap, factor, zPrev, uPrev, vPrev, this.chainZ[i]!, this.chainU[i]!, this.chainV[i]!, false);
      zPrev = this.chainZ[i]!;
      uPrev = this.chainU[i]!;
      vPrev = this.chainV[i]!;
      rPrev = ranks[i]!;
    }
    sum += this.intervalSum(rng, m - rPrev, factor, zPrev, uPrev, vPrev, Infinity, 1, 0, false);
    return sum;
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
 * Metrics whose window sum ExactRun draws: those whose mean a gate reads in either window (the
 * stage mean pools the check sums), and input and output tokens when the cost mean is read
 * (cost is priced from their sums). Where none is read the mean is NaN, and drawing it would
 * cost more than the quantiles do (the sum given the quantiles goes gap by gap).
 */
export function meansRead(needs: SummaryNeeds): boolean[] {
  const read = CONTINUOUS_METRICS.map((_, k) => needs.check.means[k]! || (needs.stage?.means[k] ?? false));
  if (read[COST]) read[IN] = read[OUT] = true;
  return read;
}

/**
 * Which path each gate (by name) takes under ExactRun: rates and proportion tests are exact
 * (binomial counts); check-window quantiles of latency, ttft and tokens are exact (order
 * statistics); means are exact (split Cornish–Fisher law, per-request in windows where that is
 * cheaper: MEAN_PER_REQUEST_BELOW); KS and Mann–Whitney tests,
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

  private readonly probs: number[] = [];
  private readonly picked: number[] = [];

  /** The wanted quantiles of metric k's per-request values into quantiles (NaN the others); reorders the values. */
  selectQuantiles(k: number, wanted: readonly boolean[]): void {
    this.probs.length = 0;
    for (let q = 0; q < QUANTILES; q++) if (wanted[q]) this.probs.push(QUANTILE_PROBS[q]!);
    if (this.m > 0) quantilesByFilter(this.values[k]!, this.m, this.probs, this.picked);
    const at = k * QUANTILES;
    for (let q = 0, j = 0; q < QUANTILES; q++) this.quantiles[at + q] = wanted[q] && this.m > 0 ? this.picked[j++]! : NaN;
  }

  sortedValues(k: number): Float64Array {
    const win = this.values[k]!.subarray(0, this.m);
    if (!this.sorted[k]) {
      sortAscending(win);
      this.sorted[k] = 1;
    }
    return win;
  }
}

/** Running totals of one arm since the stage began. */
class StageArm {
  counts = new Float64Array(ARM_COUNTS.length);
  m = 0;
  sums = new Float64Array(METRICS);
  readonly samples: StageSamples;

  constructor(needs: MetricNeeds) {
    this.samples = new StageSamples(needs);
  }

  reset(): void {
    this.counts.fill(0);
    this.m = 0;
    this.sums.fill(0);
    this.samples.reset();
  }
}

function writeCounts(out: Float64Array, at: number, n: number, errors: number, refusals: number, ok: number, td: number): void {
  out[at + N] = n;
  out[at + ERRORS] = errors;
  out[at + REFUSALS] = refusals;
  out[at + OK] = ok;
  out[at + THUMBS_DOWN] = td;
}


const SHARED_ARMS = [new ArmWindow(), new ArmWindow()];

/** Simulates the windows of one run, in order, with the `exact` engine. Same contract as SampleRun. */
export class ExactRun {
  private readonly laws: [ArmLaw, ArmLaw];
  /** Per arm, per continuous metric but cost: the sum and quantile law. */
  private readonly samplers: SumSampler[][];
  // A window's arms never outlive window(), so every run shares one pair (and its buffers);
  // stage totals persist across windows, so each run that needs them has its own.
  private readonly arms = SHARED_ARMS;
  private readonly stageArms: StageArm[];
  private readonly hasTtft: boolean;
  private readonly perRequest: boolean[];
  private readonly meanRead: boolean[];
  /** Per continuous metric but cost, its own stream (see the constructor). */
  private readonly metricRngs: Rng[];

  constructor(
    private readonly scenario: Scenario,
    private readonly needs: SummaryNeeds,
    private readonly rng: Rng,
  ) {
    // The candidate is the stream's first draw, as in SampleRun: both engines see the same one.
    this.laws = [armLaw(scenario, runCandidate(scenario, rng)), armLaw(scenario, UNCHANGED)];
    // The engine draws only what the gates read, so one stream for everything made a config's
    // results depend on the other configs judged in the same command: a latency p99 gate beside
    // a cost gate shifted every cost draw after it. Each metric now draws from its own stream,
    // derived from the run's (not drawn from it, so the counts that follow stay SampleRun's
    // draws). Within one metric, which statistics are read still decides how they are drawn; cost
    // is drawn as the input and output tokens it is priced from, so it shares their streams.
    this.metricRngs = Array.from({ length: COST }, (_, k) => rng.derive(k));
    this.hasTtft = scenario.baseline.ttft_ms !== null;
    this.samplers = this.laws.map((l) => [
      new SumSampler(l.muLatency, l.sigmaLatency, false),
      new SumSampler(l.muTtft, l.sigmaTtft, false),
      new SumSampler(l.muOutput, l.sigmaOutput, true),
      new SumSampler(l.muInput, l.sigmaInput, true),
    ]);
    this.perRequest = perRequestMetrics(needs);
    this.meanRead = meansRead(needs);
    this.stageArms = needs.stage ? [new StageArm(needs.stage), new StageArm(needs.stage)] : [];
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
    s.sorted.fill(0);
    for (let k = 0; k < COST; k++) {
      if (k === TTFT && !this.hasTtft) {
        s.sums[k] = 0;
        s.perRequest[k] = 0;
        continue;
      }
      const sampler = this.samplers[a]![k]!;
      const metricRng = this.metricRngs[k]!;
      // Small windows draw a mean request by request (cheaper than its law there); quantiles alone
      // come from the order-statistic chain, which costs the same at any size.
      const pr = this.perRequest[k]! || (this.meanRead[k]! && sampler.meanPerRequest(m, f));
      s.perRequest[k] = pr ? 1 : 0;
      if (pr) {
        s.sums[k] = sampler.perRequest(metricRng, m, f, s.buffer(k, m));
      } else if (this.needs.check.sorted[k]) s.sums[k] = sampler.quantilesAndSum(metricRng, m, f, s.quantiles, k * QUANTILES, this.needs.check.quantiles[k], this.meanRead[k]);
      else s.sums[k] = this.meanRead[k] ? sampler.sum(metricRng, m, f) : NaN;
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
          // Quantiles alone are found by selection, as SampleRun does: a sort only where a test or
          // the stage pool needs the order.
          const fullSort = needs.tests[k] || (this.needs.stage?.tests[k] ?? false);
          if (s.perRequest[k] && !fullSort) {
            s.selectQuantiles(k, needs.quantiles[k]!);
            this.writeMetric(out, armAt, k, s.m, s.sums[k]!, s.quantiles, k * QUANTILES, null, 0);
          } else if (s.perRequest[k]) this.writeMetric(out, armAt, k, s.m, s.sums[k]!, null, 0, s.sortedValues(k), s.m);
          else this.writeMetric(out, armAt, k, s.m, s.sums[k]!, s.quantiles, k * QUANTILES, null, 0);
        } else this.writeMetric(out, armAt, k, s.m, s.sums[k]!, null, 0, null, 0);
      }
    }
    const [c, b] = this.arms as [ArmWindow, ArmWindow];
    for (let k = 0; k < METRICS; k++) {
      const base = at + TESTS_OFFSET + k * TEST_FIELDS.length;
      if (needs.tests[k] && (k !== TTFT || this.hasTtft)) writeTests(out, at, k, c.sortedValues(k), c.m, b.sortedValues(k), b.m, needs);
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
        this.writeMetric(out, armAt, k, st.m, st.sums[k]!, null, 0, null, 0);
        if (needs.sorted[k] && present) {
          // Per-request in every window (perRequestMetrics), so the pool gets every value.
          st.samples.add(k, st.samples.mergesSorted(k) ? s.sortedValues(k) : s.values[k]!, s.m);
          st.samples.writeQuantiles(k, out, armAt + ARM_COUNTS.length + k * METRIC_WIDTH + 2);
        }
      }
    }
    const [c, b] = this.stageArms as [StageArm, StageArm];
    for (let k = 0; k < METRICS; k++) {
      const base = at + TESTS_OFFSET + k * TEST_FIELDS.length;
      if (needs.tests[k] && (k !== TTFT || this.hasTtft)) {
        const pc = c.samples.sorted(k), pb = b.samples.sorted(k);
        writeTests(out, at, k, pc.values, pc.len, pb.values, pb.len, needs);
      } else out.fill(NaN, base, base + TEST_FIELDS.length);
    }
  }
}
