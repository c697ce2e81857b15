import type { Gate, Scenario } from '../config/model.js';
import { type RunOutcome, firingGate, nextStreak, readGate } from '../gates/judge.js';
import { type SummaryNeeds, WINDOW_WIDTH } from '../gates/window.js';
import { Rng } from '../stats/random.js';
import { type CheckWindow, checkSchedule } from './ladder.js';
import { type EngineKind, createEngine } from './engine.js';

/**
 * Simulate once, judge many. The window summaries of a range of runs, kept whole, do not depend
 * on any gate config: `judgeWindows` judges them under any config that reads only what `needs`
 * computed, with the same random draws behind every config (common random numbers), so a new
 * config costs a judgement, never a re-simulation. This is the API gate tuning builds on.
 */
export interface RunWindows {
  runFrom: number;
  runTo: number;
  /** Checks per run (the schedule's length): every window is simulated, none skipped. */
  checks: number;
  /** Float64s per check: a check summary, and a stage summary after it when needs.stage is set. */
  stride: number;
  /** runs × checks × stride. */
  summaries: Float64Array;
  /** runs × checks: canary requests served in each check window. */
  canaryRequests: Float64Array;
}

export function strideOf(needs: SummaryNeeds): number {
  return needs.stage ? 2 * WINDOW_WIDTH : WINDOW_WIDTH;
}

export function simulateWindows(scenario: Scenario, needs: SummaryNeeds, runFrom: number, runTo: number, engineKind: EngineKind = 'auto'): RunWindows {
  const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
  const stride = strideOf(needs);
  const runs = runTo - runFrom;
  const summaries = new Float64Array(runs * schedule.length * stride);
  const canaryRequests = new Float64Array(runs * schedule.length);
  for (let r = 0; r < runs; r++) {
    const engine = createEngine(engineKind, scenario, needs, Rng.forRun(scenario.seed, runFrom + r));
    for (let c = 0; c < schedule.length; c++) {
      const at = (r * schedule.length + c) * stride;
      canaryRequests[r * schedule.length + c] = engine.window(schedule[c]!, summaries, at);
    }
  }
  return { runFrom, runTo, checks: schedule.length, stride, summaries, canaryRequests };
}

/**
 * Per run, the first check at which `gate` completes its streak (`sustained` breaching checks in a
 * row, abstentions neither counting nor resetting), or -1 when it never does: judging many configs
 * over the same runs repeats these scans for every config that shares the gate, so they are kept
 * per RunWindows (`judgeWindows`). Pure: a function of the summaries and the gate's judged fields.
 */
export function gateFirings(windows: RunWindows, gate: Gate): Int32Array {
  const runs = windows.runTo - windows.runFrom;
  const first = new Int32Array(runs).fill(-1);
  for (let r = 0; r < runs; r++) {
    let streak = 0;
    for (let c = 0; c < windows.checks; c++) {
      const verdict = readGate(gate, windows.summaries, (r * windows.checks + c) * windows.stride).verdict;
      streak = nextStreak(streak, verdict);
      if (verdict === 'breach' && streak >= gate.sustained) {
        first[r] = c;
        break;
      }
    }
  }
  return first;
}

/** What a gate's verdicts depend on (not its name, action or description), in a fixed order. */
function judgedKey(g: Gate): string {
  return JSON.stringify([g.metric, g.stat, g.window, g.max, g.min, g.max_ratio, g.min_ratio, g.max_delta, g.test?.kind, g.test?.alpha, g.test?.direction, g.sustained, g.minSamples]);
}

/** Per RunWindows (immutable once simulated): firings by gate key, and canary requests summed up to each check. */
const firingsKept = new WeakMap<RunWindows, Map<string, Int32Array>>();
const exposureKept = new WeakMap<RunWindows, Float64Array>();

function keptFirings(windows: RunWindows, gate: Gate): Int32Array {
  let byKey = firingsKept.get(windows);
  if (!byKey) firingsKept.set(windows, (byKey = new Map()));
  const key = judgedKey(gate);
  let first = byKey.get(key);
  if (!first) byKey.set(key, (first = gateFirings(windows, gate)));
  return first;
}

function keptExposure(windows: RunWindows): Float64Array {
  let sums = exposureKept.get(windows);
  if (!sums) {
    sums = new Float64Array(windows.canaryRequests.length);
    for (let r = 0; r < windows.runTo - windows.runFrom; r++) {
      let total = 0;
      for (let c = 0; c < windows.checks; c++) sums[r * windows.checks + c] = total += windows.canaryRequests[r * windows.checks + c]!;
    }
    exposureKept.set(windows, sums);
  }
  return sums;
}

/**
 * Every run's outcome under one gate list, judged over kept summaries. The same outcomes as
 * RunJudge checking the windows one by one (test/sim/windows.test.ts compares them), computed
 * gate by gate: a gate's streak never depends on the other gates, so a run halts at the earliest
 * of its gates' first firings, and the gates firing there are exactly those whose first firing it
 * is; firingGate picks among them as RunJudge does. Each gate's firings are kept with the runs, so
 * a grid of configs that vary a few thresholds scans each distinct gate once, and a config costs
 * a minimum over its gates per run.
 */
export function judgeWindows(windows: RunWindows, schedule: readonly CheckWindow[], gates: readonly Gate[]): RunOutcome[] {
  const out: RunOutcome[] = [];
  const runs = windows.runTo - windows.runFrom;
  const firings = gates.map((g) => keptFirings(windows, g));
  const exposure = keptExposure(windows);
  const fired = new Uint8Array(gates.length);
  for (let r = 0; r < runs; r++) {
    let halt = -1;
    for (const f of firings) {
      const c = f[r]!;
      if (c >= 0 && (halt < 0 || c < halt)) halt = c;
    }
    if (halt < 0) {
      out.push({ outcome: 'promote', haltedStage: null, haltedPercent: null, gate: -1, detectedMinute: null, canaryRequests: windows.checks > 0 ? exposure[r * windows.checks + windows.checks - 1]! : 0, check: -1 });
      continue;
    }
    for (let g = 0; g < gates.length; g++) fired[g] = firings[g]![r] === halt ? 1 : 0;
    const winner = firingGate(gates, fired);
    const w = schedule[halt]!;
    out.push({
      outcome: gates[winner]!.action,
      haltedStage: w.stage + 1,
      haltedPercent: w.percent,
      gate: winner,
      detectedMinute: w.endMinute,
      canaryRequests: exposure[r * windows.checks + halt]!,
      check: halt,
    });
  }
  return out;
}
