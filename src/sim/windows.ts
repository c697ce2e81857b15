import type { Gate, Scenario } from '../config/model.js';
import { type CheckMeta, RunJudge, type RunOutcome } from '../gates/judge.js';
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

/** Every run's outcome under one gate list, judged over kept summaries. Pure. */
export function judgeWindows(windows: RunWindows, schedule: readonly CheckWindow[], gates: readonly Gate[]): RunOutcome[] {
  const out: RunOutcome[] = [];
  const runs = windows.runTo - windows.runFrom;
  for (let r = 0; r < runs; r++) {
    const judge = new RunJudge(gates);
    let outcome: RunOutcome | null = null;
    for (let c = 0; c < windows.checks && !outcome; c++) {
      const w = schedule[c]!;
      const meta: CheckMeta = { stage: w.stage, percent: w.percent, endMinute: w.endMinute, canaryRequests: windows.canaryRequests[r * windows.checks + c]! };
      outcome = judge.check(c, meta, windows.summaries, (r * windows.checks + c) * windows.stride);
    }
    out.push(outcome ?? judge.promote());
  }
  return out;
}
