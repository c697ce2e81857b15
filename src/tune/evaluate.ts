import { median } from 'simple-statistics';
import { meets } from '../check/expectation.js';
import type { Expectation, GateConfig } from '../config/model.js';
import type { RunOutcome } from '../gates/judge.js';
import type { CheckWindow } from '../sim/ladder.js';
import { type RunWindows, judgeWindows } from '../sim/windows.js';

/** One scenario's simulated runs, kept for judging: the unit tune evaluates configs against. */
export interface TuningScenario {
  name: string;
  expect: Expectation;
  schedule: readonly CheckWindow[];
  windows: readonly RunWindows[];
}

export interface ScenarioScore {
  scenario: string;
  /** Clean candidates (expect promote): the share of runs halted anyway. */
  falseAlarm: number | null;
  /** Regressions: the share of runs halted (rolled back or held). */
  detection: number | null;
  /** Share of runs meeting `expect`, and whether that reaches its probability. */
  met: number;
  meetsExpectation: boolean;
  medianHaltStage: number | null;
  meanCanaryRequests: number;
}

export interface ConfigScore {
  scenarios: ScenarioScore[];
  /** The worst false-alarm rate over clean scenarios (0 when there are none). */
  falseAlarm: number;
  /** The worst detection rate over regression scenarios (1 when there are none). */
  detection: number;
  /** Mean canary requests exposed, averaged over regression scenarios: what tuning minimises. */
  exposure: number;
  /** Every scenario meets its expectation and every false-alarm rate is within the budget. */
  feasible: boolean;
  /** How far from feasible: the summed shortfalls, 0 when feasible. */
  violation: number;
}

function judgeScenario(s: TuningScenario, config: GateConfig): RunOutcome[] {
  return s.windows.flatMap((w) => judgeWindows(w, s.schedule, config.gates));
}

export function scoreScenario(s: TuningScenario, config: GateConfig): ScenarioScore {
  const outcomes = judgeScenario(s, config);
  const n = outcomes.length;
  let halted = 0;
  let met = 0;
  let exposed = 0;
  const stages: number[] = [];
  for (const o of outcomes) {
    exposed += o.canaryRequests;
    if (o.outcome !== 'promote') {
      halted++;
      stages.push(o.haltedStage!);
    }
    const gate = o.gate >= 0 ? config.gates[o.gate]!.name : null;
    if (meets(s.expect, o.outcome, gate, o.haltedStage)) met++;
  }
  const clean = s.expect.outcome === 'promote';
  return {
    scenario: s.name,
    falseAlarm: clean ? halted / n : null,
    detection: clean ? null : halted / n,
    met: met / n,
    meetsExpectation: met / n >= s.expect.probability,
    medianHaltStage: stages.length ? median(stages) : null,
    meanCanaryRequests: exposed / n,
  };
}

export function scoreConfig(scenarios: readonly TuningScenario[], config: GateConfig, maxFalseAlarm: number): ConfigScore {
  const scores = scenarios.map((s) => scoreScenario(s, config));
  const clean = scores.filter((s) => s.falseAlarm !== null);
  const regressions = scores.filter((s) => s.detection !== null);
  const falseAlarm = clean.length ? Math.max(...clean.map((s) => s.falseAlarm!)) : 0;
  const detection = regressions.length ? Math.min(...regressions.map((s) => s.detection!)) : 1;
  const exposure = regressions.length ? regressions.reduce((a, s) => a + s.meanCanaryRequests, 0) / regressions.length : 0;
  let violation = Math.max(0, falseAlarm - maxFalseAlarm);
  const expectations = scenarios.map((s, i) => [s, scores[i]!] as const);
  for (const [s, score] of expectations) violation += Math.max(0, s.expect.probability - score.met);
  return { scenarios: scores, falseAlarm, detection, exposure, feasible: violation === 0, violation };
}
