import type { Gate } from '../config/model.js';
import { isRateMetric } from '../config/model.js';
import type { ContinuousMetric, RateMetric } from '../config/metrics.js';
import {
  BASELINE,
  CANARY,
  ERRORS,
  N,
  OK,
  REFUSALS,
  THUMBS_DOWN,
  WINDOW_WIDTH,
  statOffset,
  testOffset,
} from './window.js';
import { twoProportion } from '../stats/tests.js';

/**
 * The one judge every command shares. Like Kayenta's, it is a pipeline of small pure steps:
 * read the statistic from a window summary (readGate), classify it against the gate's condition
 * (breach, pass or abstain), then fold the classifications over the checks of a run into an
 * outcome (judgeRun). Nothing here does I/O or draws random numbers.
 */

export type Verdict = 'breach' | 'pass' | 'abstain';

export interface GateReading {
  verdict: Verdict;
  canary: number;
  baseline: number;
  /** Canary requests in the window the gate read (all statuses). */
  canaryN: number;
  /** The test's p-value for statistical gates, NaN otherwise. */
  p: number;
}

/** Numerator and denominator of a rate metric in one arm. */
function rateParts(metric: RateMetric, s: Float64Array, arm: number): [number, number] {
  switch (metric) {
    case 'error_rate':
      return [s[arm + ERRORS]!, s[arm + N]!];
    case 'refusal_rate':
      return [s[arm + REFUSALS]!, s[arm + N]!];
    case 'error_or_refusal_rate':
      return [s[arm + ERRORS]! + s[arm + REFUSALS]!, s[arm + N]!];
    case 'thumbs_down_rate':
      return [s[arm + THUMBS_DOWN]!, s[arm + OK]!];
  }
}

/** canary / baseline, with DESIGN.md's zero rule: x/0 is +∞ for x > 0, and 0/0 is 1. */
export function ratio(canary: number, baseline: number): number {
  if (baseline === 0) return canary > 0 ? Infinity : canary === 0 ? 1 : -Infinity;
  return canary / baseline;
}

/** Whether the gate's thresholds are breached by these values (tests aside). */
export function thresholdsBreached(gate: Gate, canary: number, baseline: number): boolean {
  if (gate.max !== undefined && canary > gate.max) return true;
  if (gate.min !== undefined && canary < gate.min) return true;
  if (gate.max_ratio !== undefined && ratio(canary, baseline) > gate.max_ratio) return true;
  if (gate.min_ratio !== undefined && ratio(canary, baseline) < gate.min_ratio) return true;
  if (gate.max_delta !== undefined && canary - baseline > gate.max_delta) return true;
  return false;
}

/** Whether a gate compares with the baseline at all (an absolute max/min alone does not). */
function readsBaseline(gate: Gate): boolean {
  return gate.test !== undefined || gate.max_ratio !== undefined || gate.min_ratio !== undefined || gate.max_delta !== undefined;
}

/**
 * Reads one gate at one check. `at` is the offset of the check's summary; a stage-window gate
 * reads the stage summary stored right after it.
 */
export function readGate(gate: Gate, s: Float64Array, at: number): GateReading {
  const w = gate.window === 'stage' ? at + WINDOW_WIDTH : at;
  const canaryN = s[w + CANARY + N]!;
  let canary: number, baseline: number, p = NaN;
  let canaryCount: number, baselineCount: number;
  if (isRateMetric(gate.metric)) {
    const [xc, nc] = rateParts(gate.metric, s, w + CANARY);
    const [xb, nb] = rateParts(gate.metric, s, w + BASELINE);
    canary = nc > 0 ? xc / nc : NaN;
    baseline = nb > 0 ? xb / nb : NaN;
    canaryCount = nc;
    baselineCount = nb;
    if (gate.test) p = twoProportion(xc, nc, xb, nb, gate.test.direction).p;
  } else {
    const metric = gate.metric as ContinuousMetric;
    canary = s[w + CANARY + statOffset(metric, gate.stat)]!;
    baseline = s[w + BASELINE + statOffset(metric, gate.stat)]!;
    canaryCount = s[w + CANARY + statOffset(metric, 'count')]!;
    baselineCount = s[w + BASELINE + statOffset(metric, 'count')]!;
    if (gate.test) {
      const field = gate.test.kind === 'ks' ? 'ks' : gate.test.direction === 'increase' ? 'mw_increase' : 'mw_decrease';
      p = s[w + testOffset(metric, field)]!;
    }
  }
  const abstain =
    canaryN < gate.minSamples ||
    !(canaryCount > 0) ||
    Number.isNaN(canary) ||
    (readsBaseline(gate) && (!(baselineCount > 0) || Number.isNaN(baseline)));
  if (abstain) return { verdict: 'abstain', canary, baseline, canaryN, p };
  const breach = thresholdsBreached(gate, canary, baseline) || (gate.test !== undefined && p < gate.test.alpha);
  return { verdict: breach ? 'breach' : 'pass', canary, baseline, canaryN, p };
}

/**
 * `sustained` counts consecutive breaching checks across stage boundaries; an abstaining check
 * neither counts nor resets.
 */
export function nextStreak(streak: number, verdict: Verdict): number {
  if (verdict === 'breach') return streak + 1;
  if (verdict === 'pass') return 0;
  return streak;
}

/**
 * Of the gates that fire at one check, the one that ends the run: a rollback beats a hold, then
 * the earlier gate in the file. -1 when none fires.
 */
export function firingGate(gates: readonly Gate[], fired: ArrayLike<boolean | number>): number {
  let hold = -1;
  for (let g = 0; g < gates.length; g++) {
    if (!fired[g]) continue;
    if (gates[g]!.action === 'rollback') return g;
    if (hold < 0) hold = g;
  }
  return hold;
}

export type OutcomeKind = 'rollback' | 'hold' | 'promote';

export interface CheckMeta {
  /** 0-based stage index. */
  stage: number;
  percent: number;
  endMinute: number;
  /** Canary requests served in this check window. */
  canaryRequests: number;
}

export interface RunOutcome {
  outcome: OutcomeKind;
  /** 1-based; null on promote. */
  haltedStage: number | null;
  haltedPercent: number | null;
  /** Index of the firing gate; -1 on promote. */
  gate: number;
  detectedMinute: number | null;
  canaryRequests: number;
  /** Index of the check at which the run halted; -1 on promote. */
  check: number;
}

/**
 * Folds a run's checks into its outcome. Streak state is local, so the same summaries can be
 * judged under any number of gate configs. `onCheck` sees every reading (for the checks table).
 */
export function judgeRun(
  gates: readonly Gate[],
  checks: readonly CheckMeta[],
  summaries: Float64Array,
  stride: number,
  onCheck?: (check: number, gate: number, reading: GateReading, fired: boolean) => void,
): RunOutcome {
  const judge = new RunJudge(gates);
  for (let c = 0; c < checks.length; c++) {
    const outcome = judge.check(c, checks[c]!, summaries, c * stride, onCheck);
    if (outcome) return outcome;
  }
  return judge.promote();
}

/** The incremental form of judgeRun, for engines that stop drawing once a run has halted. */
export class RunJudge {
  private readonly streaks: Int32Array;
  private readonly fired: Uint8Array;
  private canaryRequests = 0;

  constructor(private readonly gates: readonly Gate[]) {
    this.streaks = new Int32Array(gates.length);
    this.fired = new Uint8Array(gates.length);
  }

  check(
    index: number,
    meta: CheckMeta,
    summaries: Float64Array,
    at: number,
    onCheck?: (check: number, gate: number, reading: GateReading, fired: boolean) => void,
  ): RunOutcome | null {
    this.canaryRequests += meta.canaryRequests;
    const readings: GateReading[] = [];
    let any = false;
    for (let g = 0; g < this.gates.length; g++) {
      const gate = this.gates[g]!;
      const reading = readGate(gate, summaries, at);
      readings.push(reading);
      this.streaks[g] = nextStreak(this.streaks[g]!, reading.verdict);
      const fires = reading.verdict === 'breach' && this.streaks[g]! >= gate.sustained;
      this.fired[g] = fires ? 1 : 0;
      any ||= fires;
    }
    const winner = any ? firingGate(this.gates, this.fired) : -1;
    if (onCheck) for (let g = 0; g < readings.length; g++) onCheck(index, g, readings[g]!, this.fired[g] === 1);
    if (winner < 0) return null;
    return {
      outcome: this.gates[winner]!.action,
      haltedStage: meta.stage + 1,
      haltedPercent: meta.percent,
      gate: winner,
      detectedMinute: meta.endMinute,
      canaryRequests: this.canaryRequests,
      check: index,
    };
  }

  promote(): RunOutcome {
    return {
      outcome: 'promote',
      haltedStage: null,
      haltedPercent: null,
      gate: -1,
      detectedMinute: null,
      canaryRequests: this.canaryRequests,
      check: -1,
    };
  }
}
