/**
 * The reference kernel for bench/sample-engine.mjs: the least work that answers a `cost_usd mean`
 * gate and a `latency_ms p99` gate over Poisson traffic, written by hand with nothing shared with
 * rehearse but the list of check windows.
 *
 * Per window and arm: a Poisson count (inversion below a mean of 10, Hörmann's PTRS above, as
 * numpy does); per request a status uniform (errors are dropped from latency and cost, as in
 * DESIGN.md), then three lognormal draws through Marsaglia's polar method (latency, input tokens,
 * output tokens; a window's normals drawn first in one loop), tokens rounded (at least 1) and
 * priced; per window the mean cost and the p99 latency by quantile selection (Hoare quickselect,
 * numpy's linear interpolation), and the two ratio gates. The PRNG is xoshiro128**, written out
 * inline in 32-bit integer arithmetic with its state in locals.
 *
 * It is a yardstick, not a second engine: its stream layout differs from rehearse's, so it agrees
 * with the sample engine in distribution only (bench/sample-engine.mjs checks its answers against
 * the lognormal's closed forms).
 */

const Z99 = 2.3263478740408408;
const TWO_POW_M32 = 2.3283064365386963e-10;
const TWO_POW_M31 = 2 * TWO_POW_M32;

// PRNG state between windows; the hot loops copy it into locals.
const S = new Int32Array(4);

/** splitmix32 expands (seed, run) into the xoshiro state. */
function seedRun(seed, run) {
  let x = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(run + 1, 0x85ebca6b)) | 0;
  const next = () => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) | 0;
  };
  S[0] = next(); S[1] = next(); S[2] = next(); S[3] = next();
  if ((S[0] | S[1] | S[2] | S[3]) === 0) S[0] = 1;
}

/** xoshiro128**: a uniform in (0, 1), never 0. */
function u01() {
  const s0 = S[0], s1 = S[1];
  let s2 = S[2], s3 = S[3];
  const x = Math.imul(s1, 5);
  const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
  const t = s1 << 9;
  s2 ^= s0;
  s3 ^= s1;
  S[1] = s1 ^ s2;
  S[0] = s0 ^ s3;
  S[2] = s2 ^ t;
  S[3] = (s3 << 11) | (s3 >>> 21);
  return (result + 0.5) * TWO_POW_M32;
}

/** ln k! by Stirling's series (k ≥ 7) or a table: what PTRS needs, no more. */
const LOG_FACT = [0, 0, Math.log(2), Math.log(6), Math.log(24), Math.log(120), Math.log(720)];
function logFactorial(k) {
  if (k < 7) return LOG_FACT[k];
  const x = k + 1;
  const x2 = 1 / (x * x);
  return (x - 0.5) * Math.log(x) - x + 0.9189385332046728 + (1 / x) * (1 / 12 - x2 * (1 / 360 - x2 / 1260));
}

function poisson(lambda) {
  if (!(lambda > 0)) return 0;
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0, prod = u01();
    while (prod > limit) {
      k++;
      prod *= u01();
    }
    return k;
  }
  const slam = Math.sqrt(lambda), loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const U = u01() - 0.5, V = u01();
    const us = 0.5 - Math.abs(U);
    const k = Math.floor(((2 * a) / us + b) * U + lambda + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (Math.log(V) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logFactorial(k)) return k;
  }
}

/** The k-th smallest of a[0..n) (0-based), partially reordering a: Hoare's quickselect. */
function select(a, n, k) {
  let lo = 0, hi = n - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i]; a[i] = a[j]; a[j] = t;
        i++; j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

/** numpy's linear-interpolated q-quantile of a[0..n) by selection. */
function quantileSelect(a, n, q) {
  if (n === 0) return NaN;
  const h = (n - 1) * q, lo = Math.floor(h);
  const x = select(a, n, lo);
  if (lo + 1 >= n) return x;
  // After selecting lo, everything above index lo is ≥ x: the next order statistic is their minimum.
  let y = a[lo + 1];
  for (let i = lo + 2; i < n; i++) if (a[i] < y) y = a[i];
  return x + (h - lo) * (y - x);
}

/**
 * One arm of one window: draws the requests, writes the mean cost to out[0] and the p99 latency
 * to out[1], returns the request count. The PRNG state lives in locals for the whole window, and
 * the window's 3n normals are drawn first in one tight loop (polar pairs), then consumed.
 */
function arm(law, mean, lat, z, out) {
  const n = poisson(mean);
  if (n > lat.length) throw new Error(`kernel buffers too small for a window of ${n} requests`);
  const { errorRate, muL, sL, muI, sI, muO, sO, pin, pout } = law;
  let s0 = S[0], s1 = S[1], s2 = S[2], s3 = S[3];
  let x = 0, r = 0, t = 0;
  const need = 3 * n;
  for (let k = 0; k < need; ) {
    x = Math.imul(s1, 5); r = Math.imul((x << 7) | (x >>> 25), 9) >>> 0; t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
    const u = (r + 0.5) * TWO_POW_M31 - 1;
    x = Math.imul(s1, 5); r = Math.imul((x << 7) | (x >>> 25), 9) >>> 0; t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
    const v = (r + 0.5) * TWO_POW_M31 - 1;
    const s = u * u + v * v;
    if (s >= 1 || s === 0) continue;
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    z[k] = u * f;
    z[k + 1] = v * f;
    k += 2;
  }
  let m = 0, sumCost = 0;
  for (let i = 0, k = 0; i < n; i++, k += 3) {
    // The status uniform: an error is dropped from latency and cost; ok and refusal are kept.
    x = Math.imul(s1, 5); r = Math.imul((x << 7) | (x >>> 25), 9) >>> 0; t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
    if ((r + 0.5) * TWO_POW_M32 < errorRate) continue;
    lat[m++] = Math.exp(muL + sL * z[k]);
    const ti = Math.max(1, Math.round(Math.exp(muI + sI * z[k + 1])));
    const to = Math.max(1, Math.round(Math.exp(muO + sO * z[k + 2])));
    sumCost += ti * pin + to * pout;
  }
  S[0] = s0; S[1] = s1; S[2] = s2; S[3] = s3;
  out[0] = m > 0 ? sumCost / m : NaN;
  out[1] = quantileSelect(lat, m, 0.99);
  return n;
}

/** The per-request law of an arm from a loaded rehearse scenario (plain numbers only). */
export function kernelLaw(scenario) {
  const b = scenario.baseline;
  const sigma = (q) => Math.log(q.p99 / q.p50) / Z99;
  return {
    errorRate: b.error_rate,
    muL: Math.log(b.latency_ms.p50), sL: sigma(b.latency_ms),
    muI: Math.log(b.input_tokens.p50), sI: sigma(b.input_tokens),
    muO: Math.log(b.output_tokens.p50), sO: sigma(b.output_tokens),
    pin: scenario.price.input_per_million / 1e6,
    pout: scenario.price.output_per_million / 1e6,
  };
}

/**
 * Runs `runs` rollouts (from run `runFrom`) over the given windows (per-window Poisson means of each arm) and judges
 * the two ratio gates at every check. Returns the requests drawn (both arms), the halts (none
 * with never-firing gates), and the baseline's mean cost and p99 latency averaged over the checks
 * (to check the kernel computes what the gates read).
 */
export function runKernel({ canaryMeans, baselineMeans, law, runs, runFrom = 0, seed, maxCostRatio, maxP99Ratio }) {
  const windows = canaryMeans.length;
  let maxMean = 0;
  for (let w = 0; w < windows; w++) maxMean = Math.max(maxMean, canaryMeans[w], baselineMeans[w]);
  const cap = Math.ceil(maxMean + 20 * Math.sqrt(maxMean) + 64);
  const lat = new Float64Array(cap), z = new Float64Array(3 * cap + 2);
  const c = new Float64Array(2), bl = new Float64Array(2);
  let requests = 0, halts = 0, checks = 0, baselineCost = 0, baselineP99 = 0;
  for (let run = runFrom; run < runFrom + runs; run++) {
    seedRun(seed, run);
    for (let w = 0; w < windows; w++) {
      requests += arm(law, canaryMeans[w], lat, z, c);
      requests += arm(law, baselineMeans[w], lat, z, bl);
      checks++;
      baselineCost += bl[0];
      baselineP99 += bl[1];
      if (c[0] / bl[0] > maxCostRatio || c[1] / bl[1] > maxP99Ratio) {
        halts++;
        break;
      }
    }
  }
  return { requests, halts, meanBaselineCost: baselineCost / checks, meanBaselineP99: baselineP99 / checks };
}
