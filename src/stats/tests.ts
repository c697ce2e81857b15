// Hypothesis tests used by the gates. All inputs are sorted once by the caller (it needs quantiles
// anyway), so the rank-based tests below walk both samples with a single merge and allocate nothing.

const SQRT_32 = 5.656854249492380195206754896838;
const INV_SQRT_2PI = 0.398942280401432677939946059934;

// W. J. Cody, "Rational Chebyshev approximations for the error function" (Math. Comp. 1969), in the
// normal-CDF form of his ANORM routine (also R's pnorm). Relative error ~1e-15 in both tails; going
// through 1 - Φ would lose everything beyond z ≈ 8.
const A = [2.2352520354606839287, 161.02823106855587881, 1067.6894854603709582, 18154.981253343561249, 0.065682337918207449113];
const B = [47.20258190468824187, 976.09855173777669322, 10260.932208618978205, 45507.789335026729956];
const C = [
  0.39894151208813466764, 8.8831497943883759412, 93.506656132177855979, 597.27027639480026226, 2494.5375852903726711,
  6848.1904505362823326, 11602.651437647350124, 9842.7148383839780218, 1.0765576773720192317e-8,
];
const D = [
  22.266688044328115691, 235.38790178262499861, 1519.377599407554805, 6485.558298266760755, 18615.571640885098091,
  34900.952721145977266, 38912.003286093271411, 19685.429676859990727,
];
const P = [0.21589853405795699, 0.1274011611602473639, 0.022235277870649807, 0.001421619193227893466, 2.9112874951168792e-5, 0.02307344176494017303];
const Q = [1.28426009614491121, 0.468238212480865118, 0.0659881378689285515, 0.00378239633202758244, 7.29751555083966205e-5];

/** exp(-y²/2) · r for y ≥ 0, splitting y² so the large part is exact and exp keeps full relative precision. */
function gaussTail(y: number, r: number): number {
  const ys = Math.trunc(y * 16) / 16;
  const del = (y - ys) * (y + ys);
  return Math.exp(-ys * ys * 0.5) * Math.exp(-del * 0.5) * r;
}

/** 1 − Φ(y) for y ≥ 0; both public functions reduce to this so each tail keeps relative accuracy. */
function normalTail(y: number): number {
  if (y <= 0.67448975) {
    const ysq = y * y;
    let num = A[4]! * ysq;
    let den = ysq;
    for (let i = 0; i < 3; i++) {
      num = (num + A[i]!) * ysq;
      den = (den + B[i]!) * ysq;
    }
    return 0.5 - (y * (num + A[3]!)) / (den + B[3]!);
  }
  if (y <= SQRT_32) {
    let num = C[8]! * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + C[i]!) * y;
      den = (den + D[i]!) * y;
    }
    return gaussTail(y, (num + C[7]!) / (den + D[7]!));
  }
  if (y > 38.5) return 0; // below the smallest subnormal
  const xsq = 1 / (y * y);
  let num = P[5]! * xsq;
  let den = xsq;
  for (let i = 0; i < 4; i++) {
    num = (num + P[i]!) * xsq;
    den = (den + Q[i]!) * xsq;
  }
  const r = (INV_SQRT_2PI - (xsq * (num + P[4]!)) / (den + Q[4]!)) / y;
  return gaussTail(y, r);
}

/** Standard normal survival function 1 − Φ(z), accurate to ~1e-15 relative far into the upper tail. */
export function normalSf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  return z >= 0 ? normalTail(z) : 1 - normalTail(-z);
}

/** Standard normal CDF Φ(z), accurate to ~1e-15 relative far into the lower tail. */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  return z <= 0 ? normalTail(-z) : 1 - normalTail(z);
}

export interface MannWhitneyResult {
  /** U of the canary: pairs with a_i > b_j, plus half the tied pairs. */
  u: number;
  /** (u − n1·n2/2) / σ with the tie-corrected σ, without continuity correction; 0 when undefined. */
  z: number;
  pIncrease: number;
  pDecrease: number;
}

/**
 * Two-sample Mann–Whitney U of canary `a` against baseline `b`, both sorted ascending.
 * Matches scipy.stats.mannwhitneyu(a, b, method='asymptotic', use_continuity=True) with
 * alternative='greater' (pIncrease) and 'less' (pDecrease). Empty input or zero variance → p = 1.
 */
export function mannWhitney(a: Float64Array, b: Float64Array): MannWhitneyResult {
  const n1 = a.length;
  const n2 = b.length;
  let u = 0;
  let tieTerm = 0;
  let i = 0;
  let j = 0;
  // Walk distinct values in order; every canary value at v beats all baseline values below v and
  // ties with the baseline values at v, which is exactly what mid-ranks give for U.
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    const i0 = i;
    const j0 = j;
    // `!(x > v)` rather than `x === v` so a stray NaN cannot stall the walk.
    while (i < n1 && !(a[i]! > v)) i++;
    while (j < n2 && !(b[j]! > v)) j++;
    const ca = i - i0;
    const cb = j - j0;
    u += ca * (j0 + cb / 2);
    const t = ca + cb;
    tieTerm += t * t * t - t;
  }
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const variance = n < 2 ? 0 : ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (n1 === 0 || n2 === 0 || !(variance > 0)) return { u, z: 0, pIncrease: 1, pDecrease: 1 };
  const s = Math.sqrt(variance);
  // scipy takes the SF of U1 for 'greater' and of U2 = n1·n2 − U1 for 'less', subtracting 0.5 in both.
  return {
    u,
    z: (u - mu) / s,
    pIncrease: Math.min(1, normalSf((u - mu - 0.5) / s)),
    pDecrease: Math.min(1, normalSf((mu - u - 0.5) / s)),
  };
}

export interface KsResult {
  d: number;
  p: number;
}

/**
 * Two-sample two-sided Kolmogorov–Smirnov of sorted `a` against sorted `b`.
 * D is evaluated after all values equal to each data point are consumed, as scipy does; p follows
 * scipy.stats.ks_2samp(a, b, method='asymp'), i.e. kstwo.sf(D, round(n1·n2/(n1+n2))), via {@link kstwoSf}.
 */
export function ksTwoSample(a: Float64Array, b: Float64Array): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { d: 0, p: 1 };
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    while (i < n1 && !(a[i]! > v)) i++;
    while (j < n2 && !(b[j]! > v)) j++;
    // Same operation order as scipy's searchsorted(...)/n1 − .../n2, so D agrees bit for bit.
    const diff = Math.abs(i / n1 - j / n2);
    if (diff > d) d = diff;
  }
  // numpy rounds half to even; only n1 = n2 = 1 can give en < 1, where scipy yields NaN and we say 1.
  const en = (n1 * n2) / (n1 + n2);
  let m = Math.round(en);
  if (m - en === 0.5 && m % 2 !== 0) m -= 1;
  return { d, p: m < 1 ? 1 : kstwoSf(d, m) };
}

/**
 * P(D_n ≥ d) for the one-sample two-sided Kolmogorov statistic (scipy.stats.kstwo.sf).
 *
 * Follows the case split of Simard & L'Ecuyer (2011) as scipy does, but replaces the exact
 * Durbin/Pomeranz matrix recursions (which need O(k²) scratch memory) with approximations:
 * - n·d² ≥ 2.2 or d ≥ 0.5: 2·P(D⁺_n ≥ d); the dropped two-sided intersection term is < 1e-6 relative.
 *   P(D⁺_n ≥ d) is the exact Birnbaum–Tingey sum for n ≤ 1000 and a three-term asymptotic expansion
 *   above (relative error < 1.5e-3 at n = 1000, shrinking like n^-1.5).
 * - otherwise (p ≳ 0.018): 1 − Pelz–Good, absolute error < 2e-4 for n ≥ 20, < 2e-3 for n ≥ 10.
 * - n·d ≤ 1 and n·d ≥ n − 1: the closed forms of Ruben & Gambino, exact.
 */
export function kstwoSf(d: number, n: number): number {
  if (Number.isNaN(d)) return NaN;
  if (d >= 1) return 0;
  if (d <= 0) return 1;
  const t = n * d;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    // CDF = n!/n^n · (2t − 1)^n; every factor is < 1, so stop once it underflows.
    let cdf = 1;
    const f = 2 * t - 1;
    for (let i = 1; i <= n && cdf > 0; i++) cdf *= (i / n) * f;
    return 1 - cdf;
  }
  if (t >= n - 1) return clip01(2 * Math.pow(1 - d, n));
  if (d >= 0.5 || t * d >= 2.2) return clip01(2 * smirnovSf(n, d));
  return clip01(1 - pelzGoodCdf(n, d));
}

function clip01(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

/** One-sided P(D⁺_n ≥ d), for n·d > 1. */
function smirnovSf(n: number, d: number): number {
  if (n > 1000) {
    // log P = −2z² − 2z/(3√n) − 4z²(z² − 1)/(9n) + O(n^-1.5). The 1/n coefficient was read off the
    // exact sum numerically (n up to 1e6); it cuts the error at n = 1000, p = 1e-8 from 4% to 0.1%,
    // so the O(n) exact sum is only ever paid for n ≤ 1000.
    const z2 = n * d * d;
    return Math.exp(-2 * z2 - (2 * Math.sqrt(z2)) / (3 * Math.sqrt(n)) - (4 * z2 * (z2 - 1)) / (9 * n));
  }
  // Birnbaum–Tingey: d · Σ_{j=0}^{⌊n(1−d)⌋} C(n,j) (d + j/n)^(j−1) (1 − d − j/n)^(n−j), all terms
  // positive, summed in log space so that neither C(n,j) nor the powers overflow.
  const jMax = Math.floor(n * (1 - d));
  let logC = 0;
  let sum = 0;
  for (let j = 0; j <= jMax; j++) {
    const lo = d + j / n;
    const hi = (n - j - n * d) / n;
    if (hi > 0) sum += Math.exp(logC + (j - 1) * Math.log(lo) + (n - j) * Math.log(hi));
    logC += Math.log((n - j) / (j + 1));
  }
  return d * sum;
}

const PI2 = Math.PI * Math.PI;
const PI4 = PI2 * PI2;
const PI6 = PI4 * PI2;
const SQRT_2PI = Math.sqrt(2 * Math.PI);

/**
 * Pelz & Good (1976): the Li-Chien/Korolyuk expansion of P(D_n ≤ d) to order n^-3/2, rewritten via
 * Jacobi theta identities into series that converge fast for small z = d√n.
 */
function pelzGoodCdf(n: number, d: number): number {
  const z = Math.sqrt(n) * d;
  const z2 = z * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const qlog = -PI2 / 8 / z2;
  if (qlog < -708) return 0;
  const q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z4 * z4;
  // Horner over odd m = 2k − 1 of Σ c(m) q^(m²), using q^(m² − (m−2)²) = q^(8(k−1)).
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const maxK = Math.ceil((16 * z) / Math.PI);
  for (let k = maxK; k >= 1; k--) {
    const m2 = (2 * k - 1) * (2 * k - 1);
    const m4 = m2 * m2;
    const qp = Math.pow(q, 8 * k);
    s0 = s0 * qp + 1;
    s1 = s1 * qp + k1a + k1b * m2;
    s2 = s2 * qp + k2a + k2b * m2 + k2c * m4;
    s3 = s3 * qp + k3a + k3b * m2 + k3c * m4 + k3d * m4 * m2;
  }
  const scale = q * SQRT_2PI;
  s0 *= scale / z;
  s1 *= scale / (6 * z4);
  s2 *= scale / (72 * z4 * z2 * z);
  s3 *= scale / (6480 * z4 * z4 * z2);
  // Second series over all k ≥ 1, with no cancellation to worry about.
  const qq = Math.exp(-PI2 / 2 / z2);
  const sqrt3z = Math.sqrt(3) * z;
  let e2 = 0;
  let e3 = 0;
  for (let k = maxK; k >= 1; k--) {
    const k2 = k * k;
    const w = k2 * Math.pow(qq, k2);
    const kpi = Math.PI * k;
    e2 += w;
    e3 += (sqrt3z + kpi) * (sqrt3z - kpi) * w;
  }
  s2 += (e2 * PI2 * SQRT_2PI) / (-36 * z2 * z);
  s3 += (e3 * PI2 * SQRT_2PI) / (216 * z6);
  const rn = Math.sqrt(n);
  return s0 + s1 / rn + s2 / n + s3 / (n * rn);
}

/**
 * Pooled two-proportion z test of x1/n1 (canary) against x2/n2 (baseline); 'increase' tests p1 > p2.
 * Degenerate inputs (an empty arm, or a pooled rate of exactly 0 or 1) carry no evidence: z = 0, p = 1.
 */
export function twoProportion(
  x1: number,
  n1: number,
  x2: number,
  n2: number,
  direction: 'increase' | 'decrease',
): { z: number; p: number } {
  if (n1 <= 0 || n2 <= 0) return { z: 0, p: 1 };
  const pooled = (x1 + x2) / (n1 + n2);
  if (pooled <= 0 || pooled >= 1) return { z: 0, p: 1 };
  const z = (x1 / n1 - x2 / n2) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  return { z, p: direction === 'increase' ? normalSf(z) : normalCdf(z) };
}
