import type { Candidate, EmpiricalTraffic, Quantiles, Scenario } from '../config/model.js';
import { CANDIDATE_FIELDS } from '../config/model.js';
import { CONTINUOUS_METRICS } from '../config/metrics.js';
import { quantileSorted } from '../stats/quantile.js';
import { quantilesByFilter } from '../stats/quantile-filter.js';
import { fastExp } from '../stats/fast-exp.js';
import { type Rng, Z99 } from '../stats/random.js';
import { StageSamples } from './stage-pool.js';
import { writeTests } from './arm-tests.js';
import { sortAscending } from '../stats/sort.js';
import { fillNormals } from '../stats/ziggurat.js';
import type { CheckWindow } from './ladder.js';
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
} from '../gates/window.js';

/**
 * The `sample` engine: every request of every window is drawn, as DESIGN.md describes them, and
 * the window's statistics are computed from the draws. It is the reference the faster engines are
 * checked against, so its laws are DESIGN.md's literally; its speed comes only from how the draws
 * are organised (drawArm) and from doing no work nobody reads (values are kept only for the
 * metrics whose order statistics or tests a gate reads).
 */

const METRICS = CONTINUOUS_METRICS.length;
const LAT = 0;
const TTFT = 1;
const OUT = 2;
const IN = 3;
const COST = 4;

/** One arm's per-request laws for a run: lognormal parameters, per-token prices and rates. */
export interface ArmLaw {
  muLatency: number;
  sigmaLatency: number;
  /** NaN when the scenario has no ttft: no draw is made. */
  muTtft: number;
  sigmaTtft: number;
  muOutput: number;
  sigmaOutput: number;
  muInput: number;
  sigmaInput: number;
  inputPrice: number;
  outputPrice: number;
  errorRate: number;
  refusalRate: number;
  thumbsDownRate: number;
  /** Empirical traffic (`traffic.traces`), with the multipliers to apply to its values. */
  empirical: EmpiricalTraffic | null;
  latencyScale: number;
  latencyTail: number;
  outputScale: number;
  /** The baseline's own latency law, for trace rows without a latency. */
  baseMuLatency: number;
  baseSigmaLatency: number;
}

const sigmaOf = (q: Quantiles) => Math.log(q.p99 / q.p50) / Z99;

/** The law of an arm given the candidate multipliers in force (all 1 for the baseline). */
export function armLaw(scenario: Scenario, m: Candidate): ArmLaw {
  const b = scenario.baseline;
  const cap = (r: number) => Math.min(1, r);
  return {
    muLatency: Math.log(b.latency_ms.p50 * m.latency),
    sigmaLatency: sigmaOf(b.latency_ms) * m.latency_tail,
    muTtft: b.ttft_ms ? Math.log(b.ttft_ms.p50 * m.latency) : NaN,
    sigmaTtft: b.ttft_ms ? sigmaOf(b.ttft_ms) : NaN,
    // output_length scales tokens before rounding: the same as scaling the lognormal's median.
    muOutput: Math.log(b.output_tokens.p50 * m.output_length),
    sigmaOutput: sigmaOf(b.output_tokens),
    muInput: Math.log(b.input_tokens.p50),
    sigmaInput: sigmaOf(b.input_tokens),
    inputPrice: (scenario.price.input_per_million * m.price) / 1e6,
    outputPrice: (scenario.price.output_per_million * m.price) / 1e6,
    errorRate: cap(b.error_rate * m.error_rate),
    refusalRate: cap(b.refusal_rate * m.refusal_rate),
    thumbsDownRate: cap(b.thumbs_down_rate * m.thumbs_down_rate),
    empirical: scenario.empirical ?? null,
    latencyScale: m.latency,
    latencyTail: m.latency_tail,
    outputScale: m.output_length,
    baseMuLatency: Math.log(b.latency_ms.p50),
    baseSigmaLatency: sigmaOf(b.latency_ms),
  };
}

export const UNCHANGED: Candidate = {
  latency: 1,
  latency_tail: 1,
  output_length: 1,
  price: 1,
  error_rate: 1,
  refusal_rate: 1,
  thumbs_down_rate: 1,
};

/**
 * The candidate's multipliers for one run: each times its own factor uniform in [1 − r, 1 + r].
 * These are the first draws of a run's stream, in CANDIDATE_FIELDS order, so every engine that
 * shares the stream layout sees the same candidate in the same run.
 */
export function runCandidate(scenario: Scenario, rng: Rng): Candidate {
  const r = scenario.nondeterminism.run;
  const out = { ...scenario.candidate };
  if (r > 0) for (const k of CANDIDATE_FIELDS) out[k] *= 1 + r * (2 * rng.uniform() - 1);
  return out;
}

/** A window's common non-determinism factor for one arm, ~ Normal(1, check), clamped at 0. */
export function checkFactor(scenario: Scenario, rng: Rng): number {
  const c = scenario.nondeterminism.check;
  return c > 0 ? Math.max(0, 1 + c * rng.normal()) : 1;
}

/** Growable per-metric sample buffers of one arm in one window. */
class ArmSamples {
  values: Float64Array[] = CONTINUOUS_METRICS.map(() => new Float64Array(1024));
  m = 0;
  n = 0;
  errors = 0;
  refusals = 0;
  ok = 0;
  thumbsDown = 0;
  sums = new Float64Array(METRICS);

  /** Stores a window's tallies, kept in locals while drawing so the hot loop stays in registers. */
  tally(m: number, errors: number, refusals: number, ok: number, td: number, sLat: number, sTtft: number, sOut: number, sIn: number, sCost: number): void {
    this.m = m;
    this.errors = errors;
    this.refusals = refusals;
    this.ok = ok;
    this.thumbsDown = td;
    this.sums[LAT] = sLat;
    this.sums[TTFT] = sTtft;
    this.sums[OUT] = sOut;
    this.sums[IN] = sIn;
    this.sums[COST] = sCost;
  }

  reset(capacity: number): void {
    this.m = this.n = this.errors = this.refusals = this.ok = this.thumbsDown = 0;
    this.sums.fill(0);
    if (this.values[0]!.length < capacity) {
      const size = Math.max(capacity, this.values[0]!.length * 2);
      this.values = CONTINUOUS_METRICS.map(() => new Float64Array(size));
    }
  }
}

/** Running totals of one arm since the stage began. */
class StageArm {
  counts = new Float64Array(ARM_COUNTS.length);
  m = new Float64Array(METRICS);
  sums = new Float64Array(METRICS);
  readonly samples: StageSamples;

  constructor(needs: MetricNeeds | null) {
    this.samples = new StageSamples(needs);
  }

  reset(): void {
    this.counts.fill(0);
    this.m.fill(0);
    this.sums.fill(0);
    this.samples.reset();
  }
}

/**
 * Raw 32-bit draws for the status and thumbs-down uniforms, refilled from the run's stream by
 * Rng.fillUint32 (the generator stepped with its state in locals), a fraction of the cost of a
 * method call per draw. Each fill is consumed whole and never reused. One buffer per thread.
 */
const RAW = new Uint32Array(4096);
const TWO_POW_32 = 4294967296;
const COUNTS = new Float64Array(2);
/** A chunk of standard normals: exponentiated a chunk at a time, so they stay in cache. */
const NORMALS = new Float64Array(2048);

/**
 * Draws n uniforms, as raw 32-bit draws, and counts those below lowCut·2^32 and below
 * highCut·2^32 into COUNTS: P(draw < c·2^32) = c to within 2^-32, so the draw needs no scaling
 * to (0, 1).
 */
function countUniforms(rng: Rng, n: number, lowCut: number, highCut: number): void {
  const low = lowCut * TWO_POW_32, high = highCut * TWO_POW_32;
  let below = 0, belowHigh = 0;
  for (let done = 0; done < n; ) {
    const c = Math.min(RAW.length, n - done);
    rng.fillUint32(RAW, c);
    for (let j = 0; j < c; j++) {
      const u = RAW[j]!;
      if (u < high) {
        belowHigh++;
        if (u < low) below++;
      }
    }
    done += c;
  }
  COUNTS[0] = below;
  COUNTS[1] = belowHigh;
}

/**
 * Draws m values exp(mu + sigma·Z)·factor, Z standard normal (rounded to token counts when
 * `rounded`), and returns their sum; the values go to keep[0, m) when given.
 */
function lognormalSum(rng: Rng, m: number, mu: number, sigma: number, factor: number, rounded: boolean, keep: Float64Array | null): number {
  const z = NORMALS;
  let sum = 0;
  for (let done = 0; done < m; ) {
    const c = Math.min(z.length, m - done);
    fillNormals(rng, z, c);
    if (rounded) {
      for (let j = 0; j < c; j++) {
        const v = tokens(fastExp(mu + sigma * z[j]!) * factor);
        sum += v;
        if (keep !== null) keep[done + j] = v;
      }
    } else {
      for (let j = 0; j < c; j++) {
        const v = fastExp(mu + sigma * z[j]!) * factor;
        sum += v;
        if (keep !== null) keep[done + j] = v;
      }
    }
    done += c;
  }
  return sum;
}

/**
 * A token count: Math.max(1, Math.round(v)) for v ≥ 0, without Math.round and Math.max, which V8
 * runs several times slower than an int32 truncation. (v + 0.5) | 0 is floor(v + 0.5) for
 * 0 ≤ v < 2^31 − 1, and floor(v + 0.5) is Math.round(v): v + 0.5 is exact for v ≥ 1, and for
 * v < 1 both give 0 or 1, which the lower bound makes 1. Above 2^52, v is already an integer.
 */
export function tokens(v: number): number {
  if (v < 2147483647) {
    const r = (v + 0.5) | 0;
    return r > 0 ? r : 1;
  }
  return v < 4503599627370496 ? Math.floor(v + 0.5) : v;
}

/**
 * Draws one arm's requests for a window; keeps the values of the metrics flagged in `keep`.
 *
 * Every request is drawn as DESIGN.md says, phase by phase rather than request by request (as a
 * vectorised implementation would): the n status uniforms, then a thumbs-down uniform for each
 * ok request, then each metric's values for the m requests that are not errors. Statuses and
 * values are independent and the values of different requests exchangeable, so the joint law is
 * the same; each phase is then a short loop V8 compiles tightly.
 */
function drawArm(rng: Rng, law: ArmLaw, count: number, factor: number, s: ArmSamples, keep: readonly boolean[]): void {
  if (law.empirical) {
    drawArmEmpirical(rng, law, law.empirical, count, factor, s);
    return;
  }
  s.reset(count);
  s.n = count;
  // One uniform decides the status: error with errorRate, else refusal with refusalRate.
  const errorRate = Math.min(1, law.errorRate * factor);
  countUniforms(rng, count, errorRate, errorRate + (1 - errorRate) * Math.min(1, law.refusalRate * factor));
  const errors = COUNTS[0]!, notOk = COUNTS[1]!;
  const m = count - errors, ok = count - notOk;
  const tdRate = Math.min(1, law.thumbsDownRate * factor);
  countUniforms(rng, ok, tdRate, tdRate);
  const td = COUNTS[0]!;
  const { values } = s;
  // Cost values are formed from the kept token counts.
  const sLat = lognormalSum(rng, m, law.muLatency, law.sigmaLatency, factor, false, keep[LAT] ? values[LAT]! : null);
  const sTtft = Number.isNaN(law.muTtft) ? 0 : lognormalSum(rng, m, law.muTtft, law.sigmaTtft, factor, false, keep[TTFT] ? values[TTFT]! : null);
  const sIn = lognormalSum(rng, m, law.muInput, law.sigmaInput, factor, true, keep[IN] || keep[COST] ? values[IN]! : null);
  const sOut = lognormalSum(rng, m, law.muOutput, law.sigmaOutput, factor, true, keep[OUT] || keep[COST] ? values[OUT]! : null);
  if (keep[COST]) {
    const cost = values[COST]!, inp = values[IN]!, out = values[OUT]!;
    for (let j = 0; j < m; j++) cost[j] = inp[j]! * law.inputPrice + out[j]! * law.outputPrice;
  }
  // Token counts are integers, so their sums are exact, and Σ(in·pᵢ + out·pₒ) = pᵢ·Σin + pₒ·Σout
  // to within three roundings (closer than adding per-request costs): no per-request cost is
  // formed unless a gate reads the cost distribution.
  const sCost = sIn * law.inputPrice + sOut * law.outputPrice;
  s.tally(m, errors, notOk - errors, ok, td, sLat, sTtft, sOut, sIn, sCost);
}

/**
 * Draws one arm's requests by resampling trace rows: a row's latency, ttft and tokens travel
 * together. Statuses follow the scenario's rates as for parametric traffic; a value the row
 * lacks comes from the lognormal. Regressions apply to the row's values: latency scales it,
 * latency_tail widens it around the trace's median, output_length scales output tokens.
 */
function drawArmEmpirical(rng: Rng, law: ArmLaw, e: EmpiricalTraffic, count: number, factor: number, s: ArmSamples): void {
  s.reset(count);
  s.n = count;
  const errorRate = Math.min(1, law.errorRate * factor);
  const refusalCut = errorRate + (1 - errorRate) * Math.min(1, law.refusalRate * factor);
  const tdRate = Math.min(1, law.thumbsDownRate * factor);
  const hasTtft = !Number.isNaN(law.muTtft);
  const med = e.medianLatency;
  const lat = s.values[LAT]!, ttft = s.values[TTFT]!, out = s.values[OUT]!, inp = s.values[IN]!, cost = s.values[COST]!;
  let m = 0, errors = 0, refusals = 0, ok = 0, td = 0;
  let sLat = 0, sTtft = 0, sOut = 0, sIn = 0, sCost = 0;
  for (let i = 0; i < count; i++) {
    const u = rng.uniform();
    if (u < errorRate) {
      errors++;
      continue;
    }
    if (u < refusalCut) refusals++;
    else {
      ok++;
      if (rng.uniform() < tdRate) td++;
    }
    const row = Math.floor(rng.uniform() * e.rows);
    // A row without latency takes the baseline's lognormal, then the same regressions.
    let base = e.latency_ms[row]!;
    if (Number.isNaN(base)) base = Math.exp(law.baseMuLatency + law.baseSigmaLatency * rng.normal());
    const l = law.latencyScale * med * Math.pow(base / med, law.latencyTail) * factor;
    lat[m] = l;
    sLat += l;
    if (hasTtft) {
      let t = e.ttft_ms[row]!;
      t = Number.isNaN(t) ? Math.exp(law.muTtft + law.sigmaTtft * rng.normal()) : t * law.latencyScale;
      t *= factor;
      ttft[m] = t;
      sTtft += t;
    }
    let ti = e.input_tokens[row]!;
    if (Number.isNaN(ti)) ti = Math.exp(law.muInput + law.sigmaInput * rng.normal());
    let to = e.output_tokens[row]!;
    to = Number.isNaN(to) ? Math.exp(law.muOutput + law.sigmaOutput * rng.normal()) : to * law.outputScale;
    ti = Math.max(1, Math.round(ti * factor));
    to = Math.max(1, Math.round(to * factor));
    const c = ti * law.inputPrice + to * law.outputPrice;
    inp[m] = ti;
    out[m] = to;
    cost[m] = c;
    sIn += ti;
    sOut += to;
    sCost += c;
    m++;
  }
  s.tally(m, errors, refusals, ok, td, sLat, sTtft, sOut, sIn, sCost);
}

function writeCounts(out: Float64Array, at: number, n: number, errors: number, refusals: number, ok: number, td: number): void {
  out[at + N] = n;
  out[at + ERRORS] = errors;
  out[at + REFUSALS] = refusals;
  out[at + OK] = ok;
  out[at + THUMBS_DOWN] = td;
}

function writeMetric(out: Float64Array, at: number, metric: number, m: number, sum: number, sorted: Float64Array | null, present: boolean): void {
  const base = at + ARM_COUNTS.length + metric * METRIC_WIDTH;
  out[base] = present ? m : 0;
  out[base + 1] = present && m > 0 ? sum / m : NaN;
  for (let q = 0; q < QUANTILE_PROBS.length; q++) {
    out[base + 2 + q] = sorted && present ? quantileSorted(sorted, m, QUANTILE_PROBS[q]!) : NaN;
  }
}


/** Simulates the windows of one run, in order, with the `sample` engine. */
export class SampleRun {
  private readonly canaryLaw: ArmLaw;
  private readonly baselineLaw: ArmLaw;
  private readonly arms = [new ArmSamples(), new ArmSamples()];
  private readonly stageArms: [StageArm, StageArm];
  private readonly hasTtft: boolean;
  private readonly keep: boolean[];

  constructor(
    private readonly scenario: Scenario,
    private readonly needs: SummaryNeeds,
    private readonly rng: Rng,
  ) {
    this.stageArms = [new StageArm(needs.stage), new StageArm(needs.stage)];
    this.canaryLaw = armLaw(scenario, runCandidate(scenario, rng));
    this.baselineLaw = armLaw(scenario, UNCHANGED);
    this.hasTtft = scenario.baseline.ttft_ms !== null;
    // Per-request values are kept only where something reads their order: quantiles, tests or
    // the stage pool. Counts and sums (so means) come from every draw whatever the needs.
    this.keep = CONTINUOUS_METRICS.map((_, k) => needs.check.sorted[k]! || (needs.stage?.sorted[k] ?? false));
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
    const [canary, baseline] = this.arms as [ArmSamples, ArmSamples];
    drawArm(rng, this.canaryLaw, nCanary, fCanary, canary, this.keep);
    drawArm(rng, this.baselineLaw, nBaseline, fBaseline, baseline, this.keep);

    const checkNeeds = this.needs.check;
    this.summarise(out, at, checkNeeds, canary, baseline);

    const stageNeeds = this.needs.stage;
    if (stageNeeds) {
      if (w.startMinute === w.stageStartMinute) for (const s of this.stageArms) s.reset();
      this.accumulateStage(out, at + WINDOW_WIDTH, stageNeeds);
    }
    return nCanary;
  }

  private summarise(out: Float64Array, at: number, needs: MetricNeeds, canary: ArmSamples, baseline: ArmSamples): void {
    const arms: [ArmSamples, number][] = [
      [canary, at + CANARY],
      [baseline, at + BASELINE],
    ];
    for (const [s, armAt] of arms) {
      writeCounts(out, armAt, s.n, s.errors, s.refusals, s.ok, s.thumbsDown);
      for (let k = 0; k < METRICS; k++) {
        const present = k !== TTFT || this.hasTtft;
        // A full sort only where a test or the stage pool needs the order; quantiles alone are
        // found by selection, which is linear.
        const fullSort = needs.tests[k] || (this.needs.stage?.tests[k] ?? false);
        if (needs.sorted[k] && present && !fullSort) {
          writeMetric(out, armAt, k, s.m, s.sums[k]!, null, present);
          this.writeSelected(out, armAt, k, s, needs.quantiles[k]!);
          continue;
        }
        let sorted: Float64Array | null = null;
        if (needs.sorted[k] && present) {
          sorted = sortAscending(s.values[k]!.subarray(0, s.m));
        }
        writeMetric(out, armAt, k, s.m, s.sums[k]!, sorted, present);
      }
    }
    for (let k = 0; k < METRICS; k++) {
      const base = at + TESTS_OFFSET + k * TEST_FIELDS.length;
      if (needs.tests[k] && (k !== TTFT || this.hasTtft)) writeTests(out, at, k, canary.values[k]!, canary.m, baseline.values[k]!, baseline.m, needs);
      else out.fill(NaN, base, base + TEST_FIELDS.length);
    }
  }

  private readonly probs: number[] = [];
  private readonly picked: number[] = [];

  /** Writes the wanted quantiles of one metric by selection, leaving the others NaN. */
  private writeSelected(out: Float64Array, armAt: number, k: number, s: ArmSamples, wanted: readonly boolean[]): void {
    this.probs.length = 0;
    for (let q = 0; q < QUANTILE_PROBS.length; q++) if (wanted[q]) this.probs.push(QUANTILE_PROBS[q]!);
    quantilesByFilter(s.values[k]!, s.m, this.probs, this.picked);
    const base = armAt + ARM_COUNTS.length + k * METRIC_WIDTH + 2;
    for (let q = 0, j = 0; q < QUANTILE_PROBS.length; q++) out[base + q] = wanted[q] ? this.picked[j++]! : NaN;
  }

  private accumulateStage(out: Float64Array, at: number, needs: MetricNeeds): void {
    for (let a = 0; a < 2; a++) {
      const s = this.arms[a]!, st = this.stageArms[a]!;
      st.counts[N] += s.n;
      st.counts[ERRORS] += s.errors;
      st.counts[REFUSALS] += s.refusals;
      st.counts[OK] += s.ok;
      st.counts[THUMBS_DOWN] += s.thumbsDown;
      const armAt = at + (a === 0 ? CANARY : BASELINE);
      writeCounts(out, armAt, st.counts[N]!, st.counts[ERRORS]!, st.counts[REFUSALS]!, st.counts[OK]!, st.counts[THUMBS_DOWN]!);
      for (let k = 0; k < METRICS; k++) {
        const present = k !== TTFT || this.hasTtft;
        st.m[k] += s.m;
        st.sums[k] += s.sums[k]!;
        writeMetric(out, armAt, k, st.m[k]!, st.sums[k]!, null, present);
        if (needs.sorted[k] && present) {
          const win = s.values[k]!.subarray(0, s.m);
          // A tested metric's windows merge in sorted; the check summary sorted this one only if
          // it read the metric too.
          if (st.samples.mergesSorted(k) && !this.needs.check.sorted[k]) sortAscending(win);
          st.samples.add(k, win, s.m);
          st.samples.writeQuantiles(k, out, armAt + ARM_COUNTS.length + k * METRIC_WIDTH + 2);
        }
      }
    }
    for (let k = 0; k < METRICS; k++) {
      const base = at + TESTS_OFFSET + k * TEST_FIELDS.length;
      if (needs.tests[k] && (k !== TTFT || this.hasTtft)) {
        const pc = this.stageArms[0].samples.sorted(k), pb = this.stageArms[1].samples.sorted(k);
        writeTests(out, at, k, pc.values, pc.len, pb.values, pb.len, needs);
      } else out.fill(NaN, base, base + TEST_FIELDS.length);
    }
  }
}
