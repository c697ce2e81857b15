/**
 * A naive, independent reference implementation of DESIGN.md's canary semantics, for tests only.
 *
 * Written from DESIGN.md alone (scenario file, gate file, "Semantics", "Comparisons"), without
 * reading the simulator's engine or judge: it shares no code with src/ and takes the scenario in
 * its *file* form (the same plain object the tests write to disk), applying DESIGN.md's defaults
 * itself. It draws every request one by one, with its own PRNG (mulberry32), normal variates
 * (Box–Muller) and Poisson variates (Knuth's multiplication method, split into chunks of mean ≤ 30
 * so exp(−λ) never underflows). Statistical tests (`test:` gates) are not implemented.
 *
 * Also here: the closed-form helpers the tests compare against (Poisson pmf/cdf, the regularised
 * incomplete gamma for chi-square p-values, normal density/quantile constants).
 */

// ---------------------------------------------------------------------------------------------
// Random numbers

/** mulberry32: a small 32-bit PRNG with a 2^32 period; plenty for a test reference. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class RefRandom {
  private readonly u: () => number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.u = mulberry32(seed);
  }
  uniform(): number {
    return this.u();
  }
  /** Box–Muller, both variates used. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u1 = this.u();
    while (u1 <= 0) u1 = this.u();
    const u2 = this.u();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
  /** Knuth's method; a large mean is the sum of independent Poissons of mean ≤ 30 (exact). */
  poisson(mean: number): number {
    let total = 0;
    let left = mean;
    while (left > 0) {
      const m = Math.min(30, left);
      left -= m;
      const l = Math.exp(-m);
      let k = 0;
      let p = this.u();
      while (p > l) {
        k++;
        p *= this.u();
      }
      total += k;
    }
    return total;
  }
}

// ---------------------------------------------------------------------------------------------
// Closed-form helpers

/** Φ⁻¹(0.99): the lognormal's σ is ln(p99/p50) / Z99. */
export const Z99 = 2.3263478740408408;

export function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}

function logGamma(x: number): number {
  // Lanczos (g = 7, n = 9).
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised upper incomplete gamma Q(a, x) (series below a+1, continued fraction above). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(lead);
  }
  // Lentz's continued fraction.
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.exp(lead) * h;
}

/** P(χ²_df ≥ x). */
export function chiSquareSf(x: number, df: number): number {
  return gammaQ(df / 2, x / 2);
}

export function poissonPmf(k: number, mean: number): number {
  if (mean === 0) return k === 0 ? 1 : 0;
  return Math.exp(-mean + k * Math.log(mean) - logGamma(k + 1));
}

/** P(Poisson(mean) ≤ k), by direct summation. */
export function poissonCdf(k: number, mean: number): number {
  let s = 0;
  for (let i = 0; i <= k; i++) s += poissonPmf(i, mean);
  return Math.min(1, s);
}

/**
 * Pearson's chi-square test of observed counts against expected probabilities. Cells whose
 * expected count is below `minExpected` are pooled into one (and that pool dropped if still small).
 */
export function chiSquareGof(observed: readonly number[], probs: readonly number[], minExpected = 5): { stat: number; df: number; p: number } {
  const n = observed.reduce((a, b) => a + b, 0);
  const cells: [number, number][] = [];
  let poolO = 0;
  let poolE = 0;
  observed.forEach((o, i) => {
    const e = probs[i]! * n;
    if (e < minExpected) {
      poolO += o;
      poolE += e;
    } else cells.push([o, e]);
  });
  if (poolE >= minExpected) cells.push([poolO, poolE]);
  else if (poolO > poolE + 5 * Math.sqrt(Math.max(poolE, 1)) + 5) return { stat: Infinity, df: 1, p: 0 };
  const stat = cells.reduce((s, [o, e]) => s + ((o - e) * (o - e)) / e, 0);
  const df = cells.length - 1;
  return { stat, df, p: chiSquareSf(stat, df) };
}

/** Pearson's chi-square test of homogeneity of two count vectors over the same categories. */
export function chiSquareTwoSample(a: readonly number[], b: readonly number[], minExpected = 5): { stat: number; df: number; p: number } {
  const na = a.reduce((s, x) => s + x, 0);
  const nb = b.reduce((s, x) => s + x, 0);
  // Pool categories whose expected count in either sample would be small.
  const cells: [number, number][] = [];
  let pa = 0;
  let pb = 0;
  a.forEach((x, i) => {
    const tot = x + b[i]!;
    if ((tot * Math.min(na, nb)) / (na + nb) < minExpected) {
      pa += x;
      pb += b[i]!;
    } else cells.push([x, b[i]!]);
  });
  if (((pa + pb) * Math.min(na, nb)) / (na + nb) >= minExpected) cells.push([pa, pb]);
  let stat = 0;
  for (const [x, y] of cells) {
    const tot = x + y;
    const ea = (tot * na) / (na + nb);
    const eb = (tot * nb) / (na + nb);
    stat += ((x - ea) ** 2) / ea + ((y - eb) ** 2) / eb;
  }
  const df = Math.max(1, cells.length - 1);
  return { stat, df, p: chiSquareSf(stat, df) };
}

// ---------------------------------------------------------------------------------------------
// Scenario and gate files (DESIGN.md's file format, with its defaults)

export interface QuantilePair {
  p50: number;
  p99: number;
}

export interface ScenarioDoc {
  name?: string;
  runs?: number;
  seed?: number;
  traffic?: {
    requests_per_minute?: number;
    baseline?: {
      latency_ms?: QuantilePair;
      output_tokens?: QuantilePair;
      input_tokens?: QuantilePair;
      error_rate?: number;
      refusal_rate?: number;
      thumbs_down_rate?: number;
    };
    price?: { input_per_million?: number; output_per_million?: number };
  };
  candidate?: Partial<Record<'latency' | 'latency_tail' | 'output_length' | 'price' | 'error_rate' | 'refusal_rate' | 'thumbs_down_rate', number>>;
  nondeterminism?: { run?: number; check?: number };
  rollout: { stages: { percent: number; hold?: string }[]; check_every?: string };
  gates?: GateDoc[];
}

export interface GateDoc {
  name?: string;
  metric: 'latency_ms' | 'output_tokens' | 'input_tokens' | 'cost_usd' | 'error_rate' | 'refusal_rate' | 'error_or_refusal_rate' | 'thumbs_down_rate';
  stat?: 'mean' | 'p50' | 'p90' | 'p95' | 'p99' | 'p999';
  max_ratio?: number;
  min_ratio?: number;
  max?: number;
  min?: number;
  max_delta?: number;
  action?: 'rollback' | 'hold';
  sustained?: number;
  min_samples?: number;
  window?: 'check' | 'stage';
}

/** `1h30m` → 90 (units ms, s, m, h, d). */
export function minutesOf(duration: string): number {
  const unit: Record<string, number> = { ms: 1 / 60000, s: 1 / 60, m: 1, h: 60, d: 1440 };
  let total = 0;
  for (const m of duration.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return total;
}

export interface RefWindow {
  /** 0-based. */
  stage: number;
  percent: number;
  start: number;
  end: number;
  stageStart: number;
}

/**
 * DESIGN.md: checks at every `check_every` after a stage starts, and at the end of its hold when
 * that is off the grid; a last stage without hold has none.
 */
export function refSchedule(doc: ScenarioDoc): RefWindow[] {
  const every = minutesOf(doc.rollout.check_every ?? '5m');
  const out: RefWindow[] = [];
  let stageStart = 0;
  doc.rollout.stages.forEach((s, i) => {
    if (s.hold === undefined) return;
    const hold = minutesOf(s.hold);
    let t = 0;
    while (t < hold - 1e-9) {
      const next = Math.min(t + every, hold);
      out.push({ stage: i, percent: s.percent, start: stageStart + t, end: stageStart + next, stageStart });
      t = next;
    }
    stageStart += hold;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// One run, request by request

interface ArmParams {
  latMu: number;
  latSigma: number;
  outMu: number;
  outSigma: number;
  outScale: number;
  inMu: number;
  inSigma: number;
  priceIn: number;
  priceOut: number;
  error: number;
  refusal: number;
  thumbs: number;
}

/** The requests one arm served in one check window (errors included in the counts only). */
interface ArmWindow {
  n: number;
  errors: number;
  refusals: number;
  ok: number;
  thumbsDown: number;
  /** Values of the non-error requests. */
  latency: number[];
  outputTokens: number[];
  inputTokens: number[];
  cost: number[];
}

function emptyArm(): ArmWindow {
  return { n: 0, errors: 0, refusals: 0, ok: 0, thumbsDown: 0, latency: [], outputTokens: [], inputTokens: [], cost: [] };
}

function mergeArms(parts: readonly ArmWindow[]): ArmWindow {
  const m = emptyArm();
  for (const p of parts) {
    m.n += p.n;
    m.errors += p.errors;
    m.refusals += p.refusals;
    m.ok += p.ok;
    m.thumbsDown += p.thumbsDown;
    m.latency.push(...p.latency);
    m.outputTokens.push(...p.outputTokens);
    m.inputTokens.push(...p.inputTokens);
    m.cost.push(...p.cost);
  }
  return m;
}

/** numpy's default (linear) quantile. */
export function quantileLinear(values: readonly number[], q: number): number {
  const xs = [...values].sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const h = (xs.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, xs.length - 1);
  return xs[lo]! + (h - lo) * (xs[hi]! - xs[lo]!);
}

const STAT_Q: Record<string, number> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99, p999: 0.999 };

function armValue(arm: ArmWindow, gate: GateDoc): number {
  switch (gate.metric) {
    case 'error_rate':
      return arm.errors / arm.n;
    case 'refusal_rate':
      return arm.refusals / arm.n;
    case 'error_or_refusal_rate':
      return (arm.errors + arm.refusals) / arm.n;
    case 'thumbs_down_rate':
      return arm.thumbsDown / arm.ok;
    default: {
      const values =
        gate.metric === 'latency_ms' ? arm.latency : gate.metric === 'output_tokens' ? arm.outputTokens : gate.metric === 'input_tokens' ? arm.inputTokens : arm.cost;
      const stat = gate.stat ?? 'mean';
      if (stat === 'mean') return values.reduce((a, b) => a + b, 0) / values.length;
      return quantileLinear(values, STAT_Q[stat]!);
    }
  }
}

/** DESIGN.md "Comparisons": any configured condition breaching breaches the gate. */
function breaches(gate: GateDoc, canary: number, baseline: number): boolean {
  const ratio = baseline === 0 ? (canary > 0 ? Infinity : 1) : canary / baseline;
  if (gate.max_ratio !== undefined && ratio > gate.max_ratio) return true;
  if (gate.min_ratio !== undefined && ratio < gate.min_ratio) return true;
  if (gate.max !== undefined && canary > gate.max) return true;
  if (gate.min !== undefined && canary < gate.min) return true;
  if (gate.max_delta !== undefined && canary - baseline > gate.max_delta) return true;
  return false;
}

export interface RefOutcome {
  outcome: 'rollback' | 'hold' | 'promote';
  /** 1-based; 0 on promote. */
  stage: number;
  /** Index into the gate list; -1 on promote. */
  gate: number;
  /** Index into refSchedule(doc); -1 on promote. */
  check: number;
  detectedMinute: number | null;
  canaryRequests: number;
}

function lognormal(q: QuantilePair): { mu: number; sigma: number } {
  return { mu: Math.log(q.p50), sigma: Math.log(q.p99 / q.p50) / Z99 };
}

/**
 * Plays one run of `doc` under `gates`, drawing every request: Poisson arrivals, each routed to
 * the canary with probability percent/100; lognormal latency and tokens; status error, else
 * refusal, else ok; thumbs-down on ok requests. The run's random stream comes from `seed` alone.
 */
export function referenceRun(doc: ScenarioDoc, gates: readonly GateDoc[], seed: number): RefOutcome {
  const rng = new RefRandom(seed);
  const b = doc.traffic?.baseline ?? {};
  const lat = lognormal(b.latency_ms ?? { p50: 800, p99: 4000 });
  const out = lognormal(b.output_tokens ?? { p50: 300, p99: 1500 });
  const inp = lognormal(b.input_tokens ?? { p50: 1000, p99: 6000 });
  const priceIn = doc.traffic?.price?.input_per_million ?? 0.5;
  const priceOut = doc.traffic?.price?.output_per_million ?? 1.5;
  const e = b.error_rate ?? 0;
  const r = b.refusal_rate ?? 0;
  const t = b.thumbs_down_rate ?? 0;
  const rpm = doc.traffic?.requests_per_minute ?? 600;
  const nd = { run: doc.nondeterminism?.run ?? 0, check: doc.nondeterminism?.check ?? 0 };

  // Per run: each candidate multiplier times an independent U[1 − run, 1 + run].
  const mult = (k: keyof NonNullable<ScenarioDoc['candidate']>) => {
    const m = doc.candidate?.[k] ?? 1;
    return nd.run > 0 ? m * (1 - nd.run + 2 * nd.run * rng.uniform()) : m;
  };
  const c = {
    latency: mult('latency'),
    latency_tail: mult('latency_tail'),
    output_length: mult('output_length'),
    price: mult('price'),
    error_rate: mult('error_rate'),
    refusal_rate: mult('refusal_rate'),
    thumbs_down_rate: mult('thumbs_down_rate'),
  };
  const baseline: ArmParams = {
    latMu: lat.mu,
    latSigma: lat.sigma,
    outMu: out.mu,
    outSigma: out.sigma,
    outScale: 1,
    inMu: inp.mu,
    inSigma: inp.sigma,
    priceIn,
    priceOut,
    error: e,
    refusal: r,
    thumbs: t,
  };
  const canary: ArmParams = {
    latMu: lat.mu + Math.log(c.latency),
    latSigma: lat.sigma * c.latency_tail,
    outMu: out.mu,
    outSigma: out.sigma,
    outScale: c.output_length,
    inMu: inp.mu,
    inSigma: inp.sigma,
    priceIn: priceIn * c.price,
    priceOut: priceOut * c.price,
    error: Math.min(1, e * c.error_rate),
    refusal: Math.min(1, r * c.refusal_rate),
    thumbs: Math.min(1, t * c.thumbs_down_rate),
  };

  /** One request of an arm, with this window's common factor f (nondeterminism.check). */
  const serve = (arm: ArmWindow, p: ArmParams, f: number) => {
    arm.n++;
    const pe = Math.min(1, p.error * f);
    const pr = Math.min(1, p.refusal * f);
    const pt = Math.min(1, p.thumbs * f);
    // Draw every value for every request, so the stream does not depend on the status.
    const latency = Math.exp(p.latMu + p.latSigma * rng.normal()) * f;
    const outputTokens = Math.max(1, Math.round(Math.exp(p.outMu + p.outSigma * rng.normal()) * p.outScale * f));
    const inputTokens = Math.max(1, Math.round(Math.exp(p.inMu + p.inSigma * rng.normal()) * f));
    const u = rng.uniform();
    const ut = rng.uniform();
    if (u < pe) {
      arm.errors++;
      return;
    }
    if ((u - pe) / (1 - pe) < pr) arm.refusals++;
    else {
      arm.ok++;
      if (ut < pt) arm.thumbsDown++;
    }
    arm.latency.push(latency);
    arm.outputTokens.push(outputTokens);
    arm.inputTokens.push(inputTokens);
    arm.cost.push((inputTokens * p.priceIn + outputTokens * p.priceOut) / 1e6);
  };

  const schedule = refSchedule(doc);
  const streak = gates.map(() => 0);
  const stageParts: { canary: ArmWindow; baseline: ArmWindow }[] = [];
  let currentStage = -1;
  let canaryRequests = 0;
  for (let k = 0; k < schedule.length; k++) {
    const w = schedule[k]!;
    if (w.stage !== currentStage) {
      currentStage = w.stage;
      stageParts.length = 0;
    }
    const fc = nd.check > 0 ? Math.max(0, 1 + nd.check * rng.normal()) : 1;
    const fb = nd.check > 0 ? Math.max(0, 1 + nd.check * rng.normal()) : 1;
    const cw = emptyArm();
    const bw = emptyArm();
    const arrivals = rng.poisson(rpm * (w.end - w.start));
    for (let i = 0; i < arrivals; i++) {
      if (rng.uniform() < w.percent / 100) serve(cw, canary, fc);
      else serve(bw, baseline, fb);
    }
    canaryRequests += cw.n;
    stageParts.push({ canary: cw, baseline: bw });

    let stageWindow: { canary: ArmWindow; baseline: ArmWindow } | null = null;
    const fired: number[] = [];
    gates.forEach((g, gi) => {
      let data = { canary: cw, baseline: bw };
      if ((g.window ?? 'check') === 'stage') {
        stageWindow ??= { canary: mergeArms(stageParts.map((s) => s.canary)), baseline: mergeArms(stageParts.map((s) => s.baseline)) };
        data = stageWindow;
      }
      if (data.canary.n < (g.min_samples ?? 0)) return; // abstain: neither counts nor resets
      if (breaches(g, armValue(data.canary, g), armValue(data.baseline, g))) streak[gi]!++;
      else streak[gi] = 0;
      if (streak[gi]! >= (g.sustained ?? 1)) fired.push(gi);
    });
    if (fired.length > 0) {
      const gi = fired.find((i) => (gates[i]!.action ?? 'rollback') === 'rollback') ?? fired[0]!;
      return {
        outcome: gates[gi]!.action ?? 'rollback',
        stage: w.stage + 1,
        gate: gi,
        check: k,
        detectedMinute: w.end,
        canaryRequests,
      };
    }
  }
  return { outcome: 'promote', stage: 0, gate: -1, check: -1, detectedMinute: null, canaryRequests };
}
