/**
 * Scoring gate configs over kept window summaries. The summaries are written by hand (no
 * simulation), so every run's outcome, and from them every score, is worked out in the comments.
 */
import { describe, expect, it } from 'vitest';
import type { Expectation, Gate, GateConfig } from '../../src/config/model.js';
import { BASELINE, CANARY, ERRORS, N, OK, REFUSALS, THUMBS_DOWN, WINDOW_WIDTH } from '../../src/gates/window.js';
import { checkSchedule } from '../../src/sim/ladder.js';
import type { RunWindows } from '../../src/sim/windows.js';
import { type TuningScenario, scoreConfig, scoreScenario } from '../../src/tune/evaluate.js';

// Checks: stage 1 (5%) at minutes 10 and 20, stage 2 (25%) at minute 30; stage 3 is promotion.
const schedule = checkSchedule(
  [
    { percent: 5, holdMinutes: 20 },
    { percent: 25, holdMinutes: 10 },
    { percent: 100, holdMinutes: null },
  ],
  10,
);
// Canary requests served in each check window (the same in every run).
const SERVED = [10, 10, 50];

/** One check of one run: canary errors and refusals out of 100 requests. */
type Cell = [errors: number, refusals: number];
const OKAY: Cell = [1, 0]; // 1% errors, 0% refusals: breaches nothing below
const ERR: Cell = [9, 0]; // 9% errors > 5%: the errors gate breaches
const REF: Cell = [1, 20]; // 20% refusals > 10%: the refusals gate breaches
const BOTH: Cell = [9, 20];

function windows(runs: Cell[][], runFrom = 0): RunWindows {
  const checks = schedule.length;
  const summaries = new Float64Array(runs.length * checks * WINDOW_WIDTH).fill(NaN);
  const canaryRequests = new Float64Array(runs.length * checks);
  runs.forEach((cells, r) => {
    cells.forEach(([errors, refusals], c) => {
      const at = (r * checks + c) * WINDOW_WIDTH;
      summaries[at + CANARY + N] = 100;
      summaries[at + CANARY + ERRORS] = errors;
      summaries[at + CANARY + REFUSALS] = refusals;
      summaries[at + CANARY + OK] = 100 - errors - refusals;
      summaries[at + CANARY + THUMBS_DOWN] = 0;
      summaries[at + BASELINE + N] = 1000;
      summaries[at + BASELINE + ERRORS] = 10;
      summaries[at + BASELINE + REFUSALS] = 10;
      summaries[at + BASELINE + OK] = 980;
      summaries[at + BASELINE + THUMBS_DOWN] = 0;
      canaryRequests[r * checks + c] = SERVED[c]!;
    });
  });
  return { runFrom, runTo: runFrom + runs.length, checks, stride: WINDOW_WIDTH, summaries, canaryRequests };
}

function gate(partial: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate {
  return { stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...partial };
}

// The refusals gate is a hold, listed first: at a check where both fire, the rollback still wins.
const config: GateConfig = {
  label: 'base',
  source: 'base.yaml',
  gates: [gate({ name: 'refusals', metric: 'refusal_rate', max: 0.1, action: 'hold' }), gate({ name: 'errors', metric: 'error_rate', max: 0.05 })],
};

function scenario(name: string, expect: Expectation, runs: Cell[][]): TuningScenario {
  return { name, expect, schedule, windows: [windows(runs)] };
}

// clean: run 0 promotes (70 canary requests), run 1 is rolled back by errors at the first check
// (stage 1, 10 requests), runs 2 and 3 promote (70 each).
const clean = scenario('clean', { outcome: 'promote', probability: 0.75 }, [
  [OKAY, OKAY, OKAY],
  [ERR, OKAY, OKAY],
  [OKAY, OKAY, OKAY],
  [OKAY, OKAY, OKAY],
]);

// regression, expecting a rollback by the errors gate by stage 1:
//   run 0: errors at check 0 → rollback, stage 1, 10 requests      meets
//   run 1: errors at check 1 → rollback, stage 1, 20 requests      meets
//   run 2: errors at check 2 → rollback, stage 2, 70 requests      too late
//   run 3: refusals at check 0 → hold, stage 1, 10 requests        wrong outcome (and gate)
//   run 4: nothing → promote, 70 requests                          no
//   run 5: both at check 0 → the rollback (errors) wins, stage 1   meets
const regressionRuns: Cell[][] = [
  [ERR, OKAY, OKAY],
  [OKAY, ERR, OKAY],
  [OKAY, OKAY, ERR],
  [REF, OKAY, OKAY],
  [OKAY, OKAY, OKAY],
  [BOTH, OKAY, OKAY],
];
const regression = scenario('regression', { outcome: 'rollback', gate: 'errors', by_stage: 1, probability: 0.8 }, regressionRuns);

describe('scoreScenario', () => {
  it('scores a clean scenario by its false alarms', () => {
    expect(scoreScenario(clean, config)).toEqual({
      scenario: 'clean',
      falseAlarm: 1 / 4,
      detection: null,
      met: 3 / 4,
      meetsExpectation: true, // 0.75 ≥ 0.75
      medianHaltStage: 1,
      meanCanaryRequests: (70 + 10 + 70 + 70) / 4,
    });
  });

  it('scores a regression by its detections, counting holds as halts, and checks gate and stage', () => {
    const s = scoreScenario(regression, config);
    expect(s.scenario).toBe('regression');
    expect(s.falseAlarm).toBeNull();
    expect(s.detection).toBeCloseTo(5 / 6, 12); // all but run 4 halted
    expect(s.met).toBeCloseTo(3 / 6, 12); // runs 0, 1, 5
    expect(s.meetsExpectation).toBe(false); // 0.5 < 0.8
    expect(s.medianHaltStage).toBe(1); // stages 1, 1, 2, 1, 1
    expect(s.meanCanaryRequests).toBeCloseTo((10 + 20 + 70 + 10 + 70 + 10) / 6, 12);
  });

  it('judges under the config it is given: sustained 2 lets single breaches pass', () => {
    const patient: GateConfig = { ...config, gates: config.gates.map((g) => ({ ...g, sustained: 2 })) };
    // clean run 1 breaches once: every clean run promotes now.
    expect(scoreScenario(clean, patient)).toMatchObject({ falseAlarm: 0, met: 1, medianHaltStage: null, meanCanaryRequests: 70 });
    // Every regression run breaches at most once in a row: nothing halts.
    expect(scoreScenario(regression, patient)).toMatchObject({ detection: 0, met: 0, meetsExpectation: false, medianHaltStage: null, meanCanaryRequests: 70 });
  });

  it('counts any rollback when the expectation names no gate or stage, and hold only for a hold expectation', () => {
    const anyRollback = { ...regression, expect: { outcome: 'rollback', probability: 0.5 } as Expectation };
    // Rollbacks: runs 0, 1, 2, 5.
    expect(scoreScenario(anyRollback, config).met).toBeCloseTo(4 / 6, 12);
    expect(scoreScenario(anyRollback, config).meetsExpectation).toBe(true);
    const hold = { ...regression, expect: { outcome: 'hold', gate: 'refusals', probability: 0.1 } as Expectation };
    expect(scoreScenario(hold, config).met).toBeCloseTo(1 / 6, 12); // run 3 only
    expect(scoreScenario(hold, config).meetsExpectation).toBe(true); // 1/6 ≥ 0.1
  });

  it('judges every chunk of runs: the same runs split in two score the same', () => {
    const split: TuningScenario = { ...regression, windows: [windows(regressionRuns.slice(0, 4), 0), windows(regressionRuns.slice(4), 4)] };
    expect(scoreScenario(split, config)).toEqual(scoreScenario(regression, config));
  });
});

describe('scoreConfig', () => {
  it('takes the worst false alarm and detection, averages exposure over regressions, and sums the shortfalls', () => {
    // A second regression that is never caught: detection 0, 70 requests a run, met 0.
    const missed = scenario('missed', { outcome: 'rollback', probability: 0.5 }, [
      [OKAY, OKAY, OKAY],
      [OKAY, OKAY, OKAY],
    ]);
    const score = scoreConfig([clean, regression, missed], config, 0.1);
    expect(score.scenarios.map((s) => s.scenario)).toEqual(['clean', 'regression', 'missed']);
    expect(score.falseAlarm).toBe(0.25);
    expect(score.detection).toBe(0); // min(5/6, 0)
    // Exposure over the regressions only: (190/6 + 70) / 2; the clean scenario's 55 is left out.
    expect(score.exposure).toBeCloseTo((190 / 6 + 70) / 2, 12);
    // Shortfalls: false alarms 0.25 − 0.1; clean met 0.75 of 0.75 (none); regression 0.8 − 0.5; missed 0.5 − 0.
    expect(score.violation).toBeCloseTo(0.15 + 0 + 0.3 + 0.5, 12);
    expect(score.feasible).toBe(false);
  });

  it('is feasible exactly when every expectation is met and false alarms are within the budget', () => {
    const lenient = { ...regression, expect: { outcome: 'rollback', probability: 0.5 } as Expectation }; // met 4/6
    const ok = scoreConfig([clean, lenient], config, 0.25);
    expect(ok.violation).toBe(0);
    expect(ok.feasible).toBe(true);
    expect(ok.detection).toBeCloseTo(5 / 6, 12);
    expect(ok.exposure).toBeCloseTo(190 / 6, 12);
    // A tighter false-alarm budget alone makes it infeasible, by the excess.
    const tight = scoreConfig([clean, lenient], config, 0.2);
    expect(tight.feasible).toBe(false);
    expect(tight.violation).toBeCloseTo(0.05, 12);
  });

  it('defaults: no clean scenario → no false alarms; no regression → detection 1 and exposure 0', () => {
    const onlyRegression = scoreConfig([regression], config, 0);
    expect(onlyRegression.falseAlarm).toBe(0);
    expect(onlyRegression.violation).toBeCloseTo(0.3, 12); // 0.8 − 0.5 only: no false-alarm excess
    const onlyClean = scoreConfig([clean], config, 0.5);
    expect(onlyClean.detection).toBe(1);
    expect(onlyClean.exposure).toBe(0);
    expect(onlyClean.falseAlarm).toBe(0.25);
    expect(onlyClean.feasible).toBe(true);
  });
});
