import { describe, expect, it } from 'vitest';
import type { Gate, GateConfig, Scenario } from '../../src/config/model.js';
import { RunJudge, readGate } from '../../src/gates/judge.js';
import { CANARY, ERRORS, N, OK, WINDOW_WIDTH } from '../../src/gates/window.js';
import { checkSchedule } from '../../src/sim/ladder.js';
import { simulateRuns } from '../../src/sim/runs.js';
import { type CheckColumns, type CheckPoint, OUTCOME_CODES, type OutcomeColumns, type RunBatch, VERDICT_CODES } from '../../src/store/columns.js';

/**
 * The columnar wire format between a worker and the store: Uint8 codes for outcomes and verdicts,
 * typed columns as declared, and the conventions the interface comments promise for a promoted
 * run (stage 0, gate -1, check -1).
 */

describe('codes', () => {
  it('outcome codes 0, 1, 2 are rollback, hold, promote: the `outcomes.outcome` values of DESIGN.md', () => {
    expect([...OUTCOME_CODES]).toEqual(['rollback', 'hold', 'promote']);
  });

  it('verdict codes 0, 1, 2 are pass, breach, abstain', () => {
    expect([...VERDICT_CODES]).toEqual(['pass', 'breach', 'abstain']);
  });

  it('each code survives a Uint8 column', () => {
    const col = Uint8Array.from([...OUTCOME_CODES.keys(), ...VERDICT_CODES.keys()]);
    expect(Array.from(col)).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it('cover every outcome the judge produces and every verdict it reads', () => {
    const gate = (over: Partial<Gate>): Gate => ({ name: 'g', metric: 'error_rate', stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', max: 0.5, ...over });
    // One window: 10 canary requests, 10 errors (rate 1 > 0.5: a breach).
    const s = new Float64Array(WINDOW_WIDTH).fill(NaN);
    s[CANARY + N] = 10;
    s[CANARY + ERRORS] = 10;
    s[CANARY + OK] = 0;
    const meta = { stage: 0, percent: 1, endMinute: 5, canaryRequests: 10 };
    const outcomes = [
      new RunJudge([gate({ action: 'rollback' })]).check(0, meta, s, 0)!.outcome,
      new RunJudge([gate({ action: 'hold' })]).check(0, meta, s, 0)!.outcome,
      new RunJudge([gate({})]).promote().outcome,
    ];
    expect(outcomes.map((o) => OUTCOME_CODES.indexOf(o))).toEqual([0, 1, 2]);
    const verdicts = [gate({ max: 1 }), gate({ max: 0.5 }), gate({ minSamples: 11 })].map((g) => readGate(g, s, 0).verdict);
    expect(verdicts.map((v) => VERDICT_CODES.indexOf(v))).toEqual([0, 1, 2]);
  });
});

describe('the columns a simulation hands over', () => {
  const scenario: Scenario = {
    name: 'columns',
    file: 'inline',
    runs: 3,
    seed: 4,
    requestsPerMinute: 120,
    baseline: {
      latency_ms: { p50: 800, p99: 4000 },
      ttft_ms: null,
      output_tokens: { p50: 300, p99: 1500 },
      input_tokens: { p50: 1000, p99: 6000 },
      error_rate: 0,
      refusal_rate: 0,
      thumbs_down_rate: 0,
    },
    price: { input_per_million: 0.5, output_per_million: 1.5 },
    candidate: { latency: 1, latency_tail: 1, output_length: 1, price: 1, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 },
    nondeterminism: { run: 0, check: 0 },
    stages: [
      { percent: 50, holdMinutes: 10 },
      { percent: 100, holdMinutes: null },
    ],
    checkEveryMinutes: 5,
    gates: null,
  };
  // An error rate is 0 in both arms (error_rate 0), so `max: 0.5` always passes: every run promotes.
  const config: GateConfig = {
    label: 'never',
    source: 'inline',
    gates: [{ name: 'errors', metric: 'error_rate', stat: 'mean', max: 0.5, action: 'rollback', sustained: 1, minSamples: 0, window: 'check' }],
  };
  const batch: RunBatch = simulateRuns(scenario, { configs: [config], runFrom: 0, runTo: 3, recordChecks: true, engine: 'exact' });

  it('outcome columns are exactly the declared fields, in their declared typed arrays', () => {
    const kinds: Record<keyof OutcomeColumns, unknown> = {
      config: Int32Array,
      run: Int32Array,
      outcome: Uint8Array,
      stage: Int32Array,
      gate: Int32Array,
      check: Int32Array,
      canaryRequests: Float64Array,
    };
    expect(Object.keys(batch.outcomes).sort()).toEqual(Object.keys(kinds).sort());
    for (const [k, C] of Object.entries(kinds)) expect(batch.outcomes[k as keyof OutcomeColumns]).toBeInstanceOf(C);
  });

  it('check columns are exactly the declared fields, in their declared typed arrays', () => {
    const kinds: Record<keyof CheckColumns, unknown> = {
      config: Int32Array,
      run: Int32Array,
      check: Int32Array,
      gate: Int32Array,
      canary: Float64Array,
      baseline: Float64Array,
      canaryN: Float64Array,
      p: Float64Array,
      verdict: Uint8Array,
      fired: Uint8Array,
    };
    expect(Object.keys(batch.checks!).sort()).toEqual(Object.keys(kinds).sort());
    for (const [k, C] of Object.entries(kinds)) expect(batch.checks![k as keyof CheckColumns]).toBeInstanceOf(C);
  });

  it('a promoted run is stage 0, gate -1, check -1, with the promote code', () => {
    // 10 minutes at 50% checked every 5: two checks, no halt, so all three runs promote.
    expect(Array.from(batch.outcomes.outcome)).toEqual([2, 2, 2]);
    expect(Array.from(batch.outcomes.stage)).toEqual([0, 0, 0]);
    expect(Array.from(batch.outcomes.gate)).toEqual([-1, -1, -1]);
    expect(Array.from(batch.outcomes.check)).toEqual([-1, -1, -1]);
    // Every reading passed: verdict code 0, never fired; 3 runs × 2 checks × 1 gate rows.
    expect(Array.from(batch.checks!.verdict)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(batch.checks!.fired)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('a check window is a CheckPoint: a 0-based stage, its percent and its end minute', () => {
    const points: CheckPoint[] = checkSchedule(scenario.stages, scenario.checkEveryMinutes).map(({ stage, percent, endMinute }) => ({ stage, percent, endMinute }));
    expect(points).toEqual([
      { stage: 0, percent: 50, endMinute: 5 },
      { stage: 0, percent: 50, endMinute: 10 },
    ]);
    // and the check column indexes into it
    expect(Array.from(batch.checks!.check)).toEqual([0, 1, 0, 1, 0, 1]);
  });
});
