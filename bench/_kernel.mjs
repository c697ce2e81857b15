/**
 * The reference kernel for bench/sample-engine.mjs: the least work that answers a `cost_usd mean`
 * gate and a `latency_ms p99` gate over Poisson traffic, written by hand with nothing shared with
 * rehearse but the list of check windows.
 *
 * Per window and arm: a Poisson count (inversion below a mean of 10, Hörmann's PTRS above, as
 * numpy does); per request a status uniform, compared as a raw 32-bit draw (errors are dropped
 * from latency and cost, as in DESIGN.md); for the m requests served, three lognormals (latency,
 * input tokens, output tokens), each drawn for the whole window in one loop: ziggurat normals
 * (Marsaglia & Tsang, 256 layers, a layer from one byte of a shared draw), e^x by a 2048-entry
 * table and a cubic, tokens rounded (at least 1) and priced; per window the mean cost and the p99
 * latency, selected (Hoare's quickselect, numpy's linear interpolation) among the values above
 * the lognormal's own 97.7th percentile, which the latency loop sets aside as it goes (over the
 * whole window when fewer were), and the two ratio gates. The PRNG is xoshiro128**, written out
 * inline in 32-bit integer arithmetic with its state in locals, filling a buffer of raw draws.
 *
 * It is a yardstick, not a second engine: its stream layout differs from rehearse's, so it agrees
 * with the sample engine in distribution only (bench/sample-engine.mjs checks its answers against
 * the lognormal's closed forms).
 */

const Z99 = 2.3263478740408408;
const TWO_POW_M32 = 2.3283064365386963e-10;
const TWO_POW_M31 = 2 * TWO_POW_M32;
const TWO_POW_32 = 4294967296;

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

/** Raw draws: the next k outputs of the generator, its state in locals for the loop. */
const RAW = new Uint32Array(8192);
const RAW_SIGNED = new Int32Array(RAW.buffer);
function fill(k) {
  let s0 = S[0], s1 = S[1], s2 = S[2], s3 = S[3];
  for (let i = 0; i < k; i++) {
    const x = Math.imul(s1, 5);
    RAW[i] = Math.imul((x << 7) | (x >>> 25), 9);
    const t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
  }
  S[0] = s0; S[1] = s1; S[2] = s2; S[3] = s3;
}

// The ziggurat's layer edges, bottom up: edge[0] = V/f(R) is the base layer's width (its tail
// beyond R included), edge[1] = R, then f(edge[i + 1]) = V/edge[i] + f(edge[i]), edge[256] = 0,
// with f(x) = e^(−x²/2). Layer i draws x uniform on (−edge[i], edge[i]) and keeps it at once when
// |x| < edge[i + 1].
const LAYERS = 256, ZR = 3.6541528853610088, ZV = 4.92867323399e-3;
const f = (x) => Math.exp(-0.5 * x * x);
const edge = new Float64Array(LAYERS + 1);
edge[0] = ZV / f(ZR);
edge[1] = ZR;
for (let i = 1; i < LAYERS - 1; i++) edge[i + 1] = Math.sqrt(-2 * Math.log(ZV / edge[i] + f(edge[i])));
const scale = edge.map((e) => e * TWO_POW_M31);

/** A layer-i ziggurat draw whose first x missed the fast test: wedge or tail, then fresh tries. */
function zigguratMiss(i, x) {
  for (;;) {
    if (i === 0) {
      let xt, y;
      do {
        xt = -Math.log(u01()) / ZR;
        y = -Math.log(u01());
      } while (y + y < xt * xt);
      return x > 0 ? ZR + xt : -ZR - xt;
    }
    if (f(edge[i]) + u01() * (f(edge[i + 1]) - f(edge[i])) < f(x)) return x;
    i = Math.floor(u01() * LAYERS);
    x = (2 * u01() - 1) * edge[i];
    if (Math.abs(x) < edge[i + 1]) return x;
  }
}

// e^x = 2^(k/2048) · e^r, |r| ≤ ln 2/4096: a table of 2^(j/2048) and a cubic for e^r.
const EXP_TABLE = Float64Array.from({ length: 2048 }, (_, j) => 2 ** (j / 2048));
const POW2 = Float64Array.from({ length: 2046 }, (_, e) => 2 ** (e - 1022));
function exp(x) {
  if (!(x > -700 && x < 700)) return Math.exp(x);
  const kf = Math.floor(x * 2954.639443740597 + 0.5);
  const r = x - kf * 3.3845077175941655e-4;
  const k = kf | 0;
  return POW2[(k >> 11) + 1022] * EXP_TABLE[k & 2047] * (1 + r + (r * r) / 2 + (r * r * r) / 6);
}

const Z = new Float64Array(4096);
/**
 * Draws m values e^(mu + sigma·Z) and returns their sum, the values rounded to token counts
 * (at least 1) when `tokens`, else kept in lat[0..m), with those above `tailCut` also in tail,
 * whose count goes to TAIL_COUNT[0].
 */
function lognormals(m, mu, sigma, tokens, lat, tailCut, tail) {
  let sum = 0, nTail = 0;
  for (let done = 0; done < m; ) {
    const c = Math.min(Z.length, m - done), words = (c + 3) >> 2;
    fill(words + c);
    for (let j = 0; j < c; j++) {
      const i = (RAW[j >> 2] >>> (8 * (j & 3))) & 255;
      const x = RAW_SIGNED[words + j] * scale[i];
      if (Math.abs(x) < edge[i + 1]) Z[j] = x;
      else Z[j] = zigguratMiss(i, x);
    }
    if (tokens) {
      for (let j = 0; j < c; j++) {
        const v = exp(mu + sigma * Z[j]);
        sum += v < 2147483647 ? (v + 0.5) | 0 || 1 : Math.round(v);
      }
    } else {
      for (let j = 0; j < c; j++) {
        const v = exp(mu + sigma * Z[j]);
        sum += v;
        lat[done + j] = v;
        if (v > tailCut) tail[nTail++] = v;
      }
    }
    done += c;
  }
  if (!tokens) TAIL_COUNT[0] = nTail;
  return sum;
}
const TAIL_COUNT = new Int32Array(1);

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

/**
 * numpy's linear-interpolated q-quantile of a[0..n) by selection, where the largest t values
 * are also in tail[0..t) (any order): among those when they hold both order statistics.
 */
function quantileSelect(a, n, q, tail, t) {
  if (n === 0) return NaN;
  const h = (n - 1) * q, lo = Math.floor(h);
  const inTail = lo >= n - t;
  const arr = inTail ? tail : a, len = inTail ? t : n, k = inTail ? lo - (n - t) : lo;
  const x = select(arr, len, k);
  if (k + 1 >= len) return x;
  // After selecting k, everything above index k is ≥ x: the next order statistic is their minimum.
  let y = arr[k + 1];
  for (let i = k + 2; i < len; i++) if (arr[i] < y) y = arr[i];
  return x + (h - lo) * (y - x);
}

/**
 * One arm of one window: draws the requests, writes the mean cost to out[0] and the p99 latency
 * to out[1], returns the request count.
 */
function arm(law, mean, lat, tail, out) {
  const n = poisson(mean);
  if (n > lat.length) throw new Error(`kernel buffers too small for a window of ${n} requests`);
  const { errorRate, muL, sL, muI, sI, muO, sO, pin, pout } = law;
  // The status uniforms: an error is dropped from latency and cost; ok and refusal are kept.
  const errorCut = errorRate * TWO_POW_32;
  let m = 0;
  for (let done = 0; done < n; ) {
    const c = Math.min(RAW.length, n - done);
    fill(c);
    for (let j = 0; j < c; j++) if (RAW[j] >= errorCut) m++;
    done += c;
  }
  // 2.0 standard deviations: the 97.7th percentile, below the p99 by ~1.3% of the requests.
  lognormals(m, muL, sL, false, lat, Math.exp(muL + 2 * sL), tail);
  const sumIn = lognormals(m, muI, sI, true), sumOut = lognormals(m, muO, sO, true);
  out[0] = m > 0 ? (sumIn * pin + sumOut * pout) / m : NaN;
  out[1] = quantileSelect(lat, m, 0.99, tail, TAIL_COUNT[0]);
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
  const lat = new Float64Array(cap), tail = new Float64Array(cap);
  const c = new Float64Array(2), bl = new Float64Array(2);
  let requests = 0, halts = 0, checks = 0, baselineCost = 0, baselineP99 = 0;
  for (let run = runFrom; run < runFrom + runs; run++) {
    seedRun(seed, run);
    for (let w = 0; w < windows; w++) {
      requests += arm(law, canaryMeans[w], lat, tail, c);
      requests += arm(law, baselineMeans[w], lat, tail, bl);
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
