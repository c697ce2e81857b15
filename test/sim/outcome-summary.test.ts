import { describe, expect, it } from 'vitest';
import type { Gate, GateConfig, Scenario } from '../../src/config/model.js';
import { summariseOutcomes } from '../../src/sim/outcome-summary.js';
import type { CheckPoint, OutcomeColumns, RunBatch } from '../../src/store/columns.js';
import type { SimulatedScenario } from '../../src/store/outcomes.js';

const R = 0, H = 1, P = 2; // OUTCOME_CODES: rollback, hold, promote

function gate(name: string, action: 'rollback' | 'hold' = 'rollback'): Gate {
  return { name, metric: 'error_rate', stat: 'mean', max: 0.05, action, sustained: 1, minSamples: 0, window: 'check' };
}

const configs: GateConfig[] = [
  { label: 'strict', source: 's.yaml', gates: [gate('cost'), gate('errors'), gate('latency', 'hold')] },
  { label: 'loose', source: 'l.yaml', gates: [gate('errors')] },
  { label: 'unused', source: 'u.yaml', gates: [gate('errors')] },
];

// Three stages with two checks each; endMinute is what a halted run's detected minute reads.
const schedule: CheckPoint[] = [
  { stage: 0, percent: 5, endMinute: 10 },
  { stage: 0, percent: 5, endMinute: 20 },
  { stage: 1, percent: 25, endMinute: 30 },
  { stage: 1, percent: 25, endMinute: 40 },
  { stage: 2, percent: 50, endMinute: 50 },
  { stage: 2, percent: 50, endMinute: 60 },
];

interface Row {
  config: number;
  run: number;
  outcome: number;
  gate: number;
  check: number;
  canary: number;
}

function batch(rows: Row[]): RunBatch {
  const outcomes: OutcomeColumns = {
    config: Int32Array.from(rows.map((r) => r.config)),
    run: Int32Array.from(rows.map((r) => r.run)),
    outcome: Uint8Array.from(rows.map((r) => r.outcome)),
    // 1-based stage of the halting check, 0 on promote (as the columns document).
    stage: Int32Array.from(rows.map((r) => (r.check >= 0 ? schedule[r.check]!.stage + 1 : 0))),
    gate: Int32Array.from(rows.map((r) => r.gate)),
    check: Int32Array.from(rows.map((r) => r.check)),
    canaryRequests: Float64Array.from(rows.map((r) => r.canary)),
  };
  return { outcomes, checks: null, simulatedRequests: 0 };
}

const promoted = (config: number, run: number, canary: number): Row => ({ config, run, outcome: P, gate: -1, check: -1, canary });

// Two batches (as two workers would send them), the configs' rows interleaved.
const result: SimulatedScenario = {
  scenario: { name: 'regression' } as Scenario,
  configs,
  schedule,
  batches: [
    batch([
      { config: 0, run: 0, outcome: R, gate: 1, check: 0, canary: 50 }, // errors, stage 1, minute 10
      { config: 1, run: 0, outcome: R, gate: 0, check: 3, canary: 900 }, // errors, stage 2, minute 40
      { config: 0, run: 1, outcome: H, gate: 2, check: 3, canary: 700 }, // latency, stage 2, minute 40
      promoted(1, 1, 3000),
      { config: 0, run: 2, outcome: R, gate: 1, check: 4, canary: 1500 }, // errors, stage 3, minute 50
    ]),
    batch([
      promoted(0, 3, 4000),
      { config: 0, run: 4, outcome: R, gate: 0, check: 1, canary: 150 }, // cost, stage 1, minute 20
      promoted(1, 2, 3000),
      { config: 0, run: 5, outcome: R, gate: 1, check: 2, canary: 400 }, // errors, stage 2, minute 30
      promoted(1, 3, 3000),
    ]),
  ],
};

describe('summariseOutcomes', () => {
  const [strict, loose, unused] = summariseOutcomes(result);

  it('summarises each config over the runs of every batch', () => {
    // strict: 6 runs: rollbacks 0, 2, 4, 5; hold 1; promote 3.
    expect(strict!.scenario).toBe('regression');
    expect(strict!.gateConfig).toBe('strict');
    expect(strict!.runs).toBe(6);
    expect(strict!.rollback).toBeCloseTo(4 / 6, 12);
    expect(strict!.hold).toBeCloseTo(1 / 6, 12);
    expect(strict!.promote).toBeCloseTo(1 / 6, 12);
    // Gates: errors ended runs 0, 2, 5; latency run 1; cost run 4.
    expect(strict!.gateCounts).toEqual({ errors: 3, latency: 1, cost: 1 });
    expect(strict!.topGate).toBe('errors');
    expect(strict!.topGateShare).toBeCloseTo(3 / 6, 12);
    // Halted runs' 1-based stages 1, 2, 3, 1, 2 → sorted 1 1 2 2 3 → median 2.
    expect(strict!.medianHaltStage).toBe(2);
    // Their minutes 10, 40, 50, 20, 30 → median 30.
    expect(strict!.medianDetectedMinute).toBe(30);
    // Canary requests of all six runs, promoted included: (50 + 700 + 1500 + 4000 + 150 + 400) / 6 = 6800 / 6.
    expect(strict!.meanCanaryRequests).toBeCloseTo(6800 / 6, 9);
  });

  it('takes medians over the halted runs only, averaging the middle pair of an even count', () => {
    // loose: 4 runs, one rollback by errors at check 3 (stage 2, minute 40), three promotes.
    expect(loose).toMatchObject({
      gateConfig: 'loose',
      runs: 4,
      rollback: 0.25,
      hold: 0,
      promote: 0.75,
      topGate: 'errors',
      topGateShare: 0.25,
      medianHaltStage: 2,
      medianDetectedMinute: 40,
      meanCanaryRequests: (900 + 3 * 3000) / 4,
      gateCounts: { errors: 1 },
    });
    const even: SimulatedScenario = {
      ...result,
      configs: [configs[1]!],
      batches: [
        batch([
          { config: 0, run: 0, outcome: R, gate: 0, check: 0, canary: 10 }, // stage 1, minute 10
          { config: 0, run: 1, outcome: R, gate: 0, check: 5, canary: 10 }, // stage 3, minute 60
          promoted(0, 2, 10),
        ]),
      ],
    };
    const [s] = summariseOutcomes(even);
    // Stages 1 and 3 → 2; minutes 10 and 60 → 35.
    expect(s!.medianHaltStage).toBe(2);
    expect(s!.medianDetectedMinute).toBe(35);
  });

  it('reports a config without runs as zeros and nulls, and one that never halted without a top gate', () => {
    expect(unused).toEqual({
      scenario: 'regression',
      gateConfig: 'unused',
      runs: 0,
      rollback: 0,
      hold: 0,
      promote: 0,
      topGate: null,
      topGateShare: 0,
      medianHaltStage: null,
      medianDetectedMinute: null,
      meanCanaryRequests: 0,
      gateCounts: {},
    });
    const clean: SimulatedScenario = { ...result, configs: [configs[1]!], batches: [batch([promoted(0, 0, 100), promoted(0, 1, 300)])] };
    expect(summariseOutcomes(clean)[0]).toMatchObject({
      runs: 2,
      promote: 1,
      rollback: 0,
      topGate: null,
      topGateShare: 0,
      medianHaltStage: null,
      medianDetectedMinute: null,
      meanCanaryRequests: 200,
      gateCounts: {},
    });
  });

  it('names as top gate the one that ended the most runs, whatever the gate order or action', () => {
    // latency (a hold, last in the file) ends two runs, cost one.
    const r: SimulatedScenario = {
      ...result,
      configs: [configs[0]!],
      batches: [
        batch([
          { config: 0, run: 0, outcome: R, gate: 0, check: 0, canary: 1 },
          { config: 0, run: 1, outcome: H, gate: 2, check: 1, canary: 1 },
          { config: 0, run: 2, outcome: H, gate: 2, check: 2, canary: 1 },
          promoted(0, 3, 1),
        ]),
      ],
    };
    const [s] = summariseOutcomes(r);
    expect(s!.topGate).toBe('latency');
    expect(s!.topGateShare).toBe(0.5);
    expect(s!.hold).toBe(0.5);
    expect(s!.rollback).toBe(0.25);
  });
});
