import { fastExp } from './fast-exp.js';
import type { Rng } from './random.js';
import { exponential } from './ziggurat.js';

/**
 * Exact variate generators on top of a run's {@link Rng}, for the `exact` engine: binomial,
 * gamma and beta variates, and the standard normal quantile function. "Exact" means the variate
 * has the stated law up to the floating-point rounding of its arithmetic: every method here is an
 * inversion or a rejection method, never an approximation of the law.
 */

// ---------------------------------------------------------------------------------------------
// Binomial

/**
 * Binomial(n, p). n must be a non-negative integer; p is clamped to [0, 1] (p ≤ 0 or NaN gives 0,
 * p ≥ 1 gives n). Works on r = min(p, 1 − p) and reflects: inversion (sequential search from 0)
 * when n·r < 30, else Kachitvichyanukul & Schmeiser's BTPE (1988), as numpy does, but with the
 * correct Stirling constant 13860 in the final acceptance test (numpy inherits the paper's typo
 * 13680 in one of the four terms, which biases the acceptance ratio by ~1e-3/(m+1) in the log).
 * lnQ, where the caller has it for a p ≤ 1/2 it draws with again and again, is ln(1 − p): the
 * inversion then spends no logarithm.
 */
export function binomial(rng: Rng, n: number, p: number, lnQ = NaN): number {
  if (!(n > 0) || !(p > 0)) return 0;
  if (p >= 1) return n;
  const r = p <= 0.5 ? p : 1 - p;
  const x = n * r < INVERSION_BELOW ? binomialInversion(rng, n, r, p <= 0.5 ? lnQ : NaN) : binomialBtpe(rng, n, r);
  return p <= 0.5 ? x : n - x;
}

/**
 * Inversion below this mean, BTPE from it, as numpy does: with multiplications only, a step of
 * inversion costs ~2 ns, so it beats BTPE's ~85 ns up to a mean of ~30 (measured: 70 ns at 23).
 */
const INVERSION_BELOW = 30;

/** 1/x for the inversion's steps (x ≤ its bound < 128), so that a step is multiplications only. */
const RECIPROCALS = Float64Array.from({ length: 128 }, (_, x) => (x === 0 ? Infinity : 1 / x));

/**
 * Sequential inversion for n·p < INVERSION_BELOW, p ≤ 1/2: P(X = 0) = (1 − p)^n ≥ e^-42, never
 * underflows P(X = x) = P(X = x − 1)·(n − x + 1)/x·p/q, by multiplications only: a division in
 * the loop's dependency chain costs several times as much, and the inversion's cost is its steps.
 */
function binomialInversion(rng: Rng, n: number, p: number, lnQ: number): number {
  const q = 1 - p;
  const odds = p / q;
  const lnQn = n * (lnQ === lnQ ? lnQ : Math.log1p(-p));
  // fastExp is within 4e-15 of e^x for |x| < 30; the rare rest (p near 1/2) takes Math.exp.
  const qn = lnQn > -30 ? fastExp(lnQn) : Math.exp(lnQn);
  const np = n * p;
  // Mass beyond ten standard deviations (plus ten) is below 1e-20: restarting there instead of
  // walking on is exact for any practical purpose and guards against rounding in the running sum.
  const bound = Math.min(n, np + 10 * Math.sqrt(np * q + 1));
  for (;;) {
    let x = 0;
    let px = qn;
    let u = rng.uniform();
    while (u > px) {
      x++;
      if (x > bound) break;
      u -= px;
      px *= (n - x + 1) * odds * RECIPROCALS[x]!;
    }
    if (x <= bound) return x;
  }
}

const stirlingTail = (x: number): number => {
  const x2 = x * x;
  return (13860 - (462 - (132 - (99 - 140 / x2) / x2) / x2) / x2) / x / 166320;
};

/** BTPE for n·p ≥ 30, p ≤ 1/2 (Kachitvichyanukul & Schmeiser 1988, in numpy's transcription). */
function binomialBtpe(rng: Rng, n: number, p: number): number {
  const r = p;
  const q = 1 - r;
  const fm = n * r + r;
  const m = Math.floor(fm);
  const nrq = n * r * q;
  const p1 = Math.floor(2.195 * Math.sqrt(nrq) - 4.6 * q) + 0.5;
  const xm = m + 0.5;
  const xl = xm - p1;
  const xr = xm + p1;
  const c = 0.134 + 20.5 / (15.3 + m);
  let a = (fm - xl) / (fm - xl * r);
  const laml = a * (1 + a / 2);
  a = (xr - fm) / (xr * q);
  const lamr = a * (1 + a / 2);
  const p2 = p1 * (1 + 2 * c);
  const p3 = p2 + c / laml;
  const p4 = p3 + c / lamr;
  for (;;) {
    const u = rng.uniform() * p4;
    let v = rng.uniform();
    let y: number;
    if (u <= p1) {
      // Triangular region: accept at once.
      return Math.floor(xm - p1 * v + u);
    }
    if (u <= p2) {
      // Parallelograms.
      const x = xl + (u - p1) / c;
      v = v * c + 1 - Math.abs(m - x + 0.5) / p1;
      if (v > 1) continue;
      y = Math.floor(x);
    } else if (u <= p3) {
      // Left exponential tail.
      y = Math.floor(xl + Math.log(v) / laml);
      if (y < 0 || v === 0) continue;
      v = v * (u - p2) * laml;
    } else {
      // Right exponential tail.
      y = Math.floor(xr - Math.log(v) / lamr);
      if (y > n || v === 0) continue;
      v = v * (u - p3) * lamr;
    }
    const k = Math.abs(y - m);
    if (k <= 20 || k >= nrq / 2 - 1) {
      // Explicit evaluation of f(y)/f(m) by the recurrence.
      const s = r / q;
      const aa = s * (n + 1);
      let f = 1;
      if (m < y) for (let i = m + 1; i <= y; i++) f *= aa / i - s;
      else if (m > y) for (let i = y + 1; i <= m; i++) f /= aa / i - s;
      if (v > f) continue;
      return y;
    }
    // Squeeze on log f(y)/f(m), then the Stirling-based exact comparison.
    const rho = (k / nrq) * ((k * (k / 3 + 0.625) + 0.16666666666666666) / nrq + 0.5);
    const t = (-k * k) / (2 * nrq);
    const A = Math.log(v);
    if (A < t - rho) return y;
    if (A > t + rho) continue;
    const x1 = y + 1;
    const f1 = m + 1;
    const z = n + 1 - m;
    const w = n - y + 1;
    const bound =
      xm * Math.log(f1 / x1) +
      (n - m + 0.5) * Math.log(z / w) +
      (y - m) * Math.log((w * r) / (x1 * q)) +
      stirlingTail(f1) +
      stirlingTail(z) +
      stirlingTail(x1) +
      stirlingTail(w);
    if (A > bound) continue;
    return y;
  }
}

// ---------------------------------------------------------------------------------------------
// Gamma and beta

/**
 * Gamma(shape, 1) by Marsaglia & Tsang (2000); for shape < 1, Gamma(shape + 1)·U^(1/shape).
 * shape ≤ 0 or NaN gives NaN. For very small shapes the result may underflow to 0: use
 * {@link logGammaVariate} when the logarithm is what is needed.
 */
export function gamma(rng: Rng, shape: number): number {
  if (!(shape > 0)) return NaN;
  // Shapes 1 and 2 (the exact engine's order-statistic chains take them for adjacent ranks and
  // the top of small windows): a sum of exponentials, cheaper than Marsaglia–Tsang's rejection.
  if (shape === 1) return exponential(rng);
  if (shape === 2) return exponential(rng) + exponential(rng);
  if (shape < 1) return gammaAtLeastOne(rng, shape + 1) * Math.pow(rng.uniform(), 1 / shape);
  return gammaAtLeastOne(rng, shape);
}

/** log of a Gamma(shape, 1) variate, without underflow for tiny shapes. */
export function logGammaVariate(rng: Rng, shape: number): number {
  if (!(shape > 0)) return NaN;
  if (shape < 1) return Math.log(gammaAtLeastOne(rng, shape + 1)) + Math.log(rng.uniform()) / shape;
  return Math.log(gammaAtLeastOne(rng, shape));
}

function gammaAtLeastOne(rng: Rng, shape: number): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.uniform();
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b): exact for any positive shapes
 * (Marsaglia–Tsang is exact at every shape, so large a and b cost the same as small ones).
 * When a shape is below 1 the ratio is formed from the logarithms, so that it cannot become 0/0.
 */
export function beta(rng: Rng, a: number, b: number): number {
  if (!(a > 0) || !(b > 0)) return NaN;
  if (a >= 1 && b >= 1) {
    const x = gammaAtLeastOne(rng, a);
    const y = gammaAtLeastOne(rng, b);
    return x / (x + y);
  }
  const lx = logGammaVariate(rng, a);
  const ly = logGammaVariate(rng, b);
  // x/(x+y) = 1/(1 + e^(ly − lx)), in the form that keeps relative accuracy near 0.
  const d = ly - lx;
  return d > 0 ? Math.exp(-d) / (1 + Math.exp(-d)) : 1 / (1 + Math.exp(d));
}

// ---------------------------------------------------------------------------------------------
// Normal quantile

// Wichura, "Algorithm AS 241: The percentage points of the normal distribution", Applied
// Statistics 37 (1988) 477–484: PPND16, relative accuracy about 1e-16.
const A = [
  3.387132872796366608, 133.14166789178437745, 1971.5909503065514427, 13731.693765509461125, 45921.953931549871457,
  67265.770927008700853, 33430.575583588128105, 2509.0809287301226727,
];
const B = [
  1, 42.313330701600911252, 687.1870074920579083, 5394.1960214247511077, 21213.794301586595867, 39307.89580009271061,
  28729.085735721942674, 5226.495278852854561,
];
const C = [
  1.42343711074968357734, 4.6303378461565452959, 5.7694972214606914055, 3.64784832476320460504, 1.27045825245236838258,
  0.24178072517745061177, 0.0227238449892691845833, 7.7454501427834140764e-4,
];
const D = [
  1, 2.05319162663775882187, 1.6763848301838038494, 0.68976733498510000455, 0.14810397642748007459,
  0.015198666563616457197, 5.475938084995344946e-4, 1.05075007164441684324e-9,
];
const E = [
  6.6579046435011037772, 5.4637849111641143699, 1.7848265399172913358, 0.29656057182850489123, 0.026532189526576123093,
  0.0012426609473880784386, 2.71155556874348757815e-5, 2.01033439929228813265e-7,
];
const F = [
  1, 0.59983220655588793769, 0.13692988092273580531, 0.0148753612908506148525, 7.868691311456132591e-4,
  1.8463183175100546818e-5, 1.4215117583164458887e-7, 2.04426310338993978564e-15,
];

function poly(c: readonly number[], x: number): number {
  let s = c[7]!;
  for (let i = 6; i >= 0; i--) s = s * x + c[i]!;
  return s;
}

/**
 * Φ⁻¹(p), the standard normal quantile (Wichura's AS 241, PPND16; relative error ~1e-16).
 * Φ⁻¹(0) = −∞, Φ⁻¹(1) = +∞, NaN outside [0, 1]. For an upper-tail probability known as its
 * complement c = 1 − p, call −normalQuantile(c): it keeps full relative accuracy for tiny c.
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * poly(A, r)) / poly(B, r);
  }
  let r = q < 0 ? p : 1 - p;
  if (r === 0) return q < 0 ? -Infinity : Infinity;
  r = Math.sqrt(-Math.log(r));
  let v: number;
  if (r <= 5) {
    r -= 1.6;
    v = poly(C, r) / poly(D, r);
  } else {
    r -= 5;
    v = poly(E, r) / poly(F, r);
  }
  return q < 0 ? -v : v;
}
