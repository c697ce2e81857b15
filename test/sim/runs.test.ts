import { describe, expect, it } from 'vitest';
import type { Gate, GateConfig, Scenario } from '../../src/config/model.js';
import { simulateRuns } from '../../src/sim/runs.js';
import type { RunBatch } from '../../src/store/columns.js';

/**
 * simulateRuns: a range of runs of one scenario judged under several gate configs at once.
 *
 * The scenario makes outcomes certain: the baseline fails half its requests and the candidate
 * doubles that (capped at 1), so every canary request is an error and the canary error rate is
 * exactly 1 in every window. Which check each config halts at then follows from the gates alone;
 * only the request counts are random, and those are Poisson with means known in closed form.
 */

const scenario: Scenario = {
  name: 'runs',
  file: 'inline',
  runs: 6,
  seed: 3,
  requestsPerMinute: 600,
  baseline: {
    latency_ms: { p50: 800, p99: 4000 },
    ttft_ms: null,
    output_tokens: { p50: 300, p99: 1500 },
    input_tokens: { p50: 1000, p99: 6000 },
    error_rate: 0.5,
    refusal_rate: 0,
    thumbs_down_rate: 0,
  },
  price: { input_per_million: 0.5, output_per_million: 1.5 },
  candidate: { latency: 1, latency_tail: 1, output_length: 1, price: 1, error_rate: 2, refusal_rate: 1, thumbs_down_rate: 1 },
  nondeterminism: { run: 0, check: 0 },
  // Checks: stage 1 (10%) at minutes 10, 20; stage 2 (50%) at 30, 40 and 45 (a shorter last window).
  stages: [
    { percent: 10, holdMinutes: 20 },
    { percent: 50, holdMinutes: 25 },
    { percent: 100, holdMinutes: null },
  ],
  checkEveryMinutes: 10,
  gates: null,
};
const CHECKS = 5;

const gate = (over: Partial<Gate> & Pick<Gate, 'name'>): Gate => ({ metric: 'error_rate', stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...over });

const configs: GateConfig[] = [
  // Canary error rate 1 > 0.9: fires at the first check. → rollback, stage 1, gate 0, check 0.
  { label: 'halts', source: 'inline', gates: [gate({ name: 'errors', max: 0.9 })] },
  // Gate 0 always abstains (never 10^9 canary requests); gate 1 breaches every check (canary 1 vs a
  // baseline near 0.5: ratio ≈ 2 > 1.5) and fires on the third, the streak carried across the stage
  // boundary: check 2 is minute 30, the first check of stage 2. → hold, stage 2, gate 1, check 2.
  {
    label: 'holds',
    source: 'inline',
    gates: [gate({ name: 'abstains', max: 0, minSamples: 1e9 }), gate({ name: 'ratio', max_ratio: 1.5, action: 'hold', sustained: 3 })],
  },
  // A rate is never above 1: passes every check. → promote.
  { label: 'promotes', source: 'inline', gates: [gate({ name: 'never', max: 1 })] },
];

const ENGINES = ['sample', 'exact'] as const;

function run(runFrom: number, runTo: number, engine: (typeof ENGINES)[number], recordChecks = true, cfgs = configs, s = scenario): RunBatch {
  return simulateRuns(s, { configs: cfgs, runFrom, runTo, recordChecks, engine });
}

/** Rows of a columnar object, for readable comparisons. */
function rowsOf<T extends object>(cols: T): Record<keyof T, number>[] {
  const c = cols as Record<keyof T, ArrayLike<number>>;
  const keys = Object.keys(c) as (keyof T)[];
  const n = c[keys[0]!].length;
  return Array.from({ length: n }, (_, i) => Object.fromEntries(keys.map((k) => [k, c[k][i]!])) as Record<keyof T, number>);
}

describe.each(ENGINES)('simulateRuns (%s engine)', (engine) => {
  const R = scenario.runs;
  const batch = run(0, R, engine);
  const outcomes = rowsOf(batch.outcomes);
  const checks = rowsOf(batch.checks!);

  it('writes one outcome row per run and config, run-major, configs in order', () => {
    expect(outcomes.map((o) => [o.run, o.config])).toEqual(Array.from({ length: R * 3 }, (_, i) => [Math.floor(i / 3), i % 3]));
  });

  it('halts each config where its gates say: outcome code, 1-based stage, gate, check', () => {
    // Codes: rollback 0, hold 1, promote 2; a promotion is stage 0, gate -1, check -1.
    for (const o of outcomes) {
      const expected = [
        { outcome: 0, stage: 1, gate: 0, check: 0 },
        { outcome: 1, stage: 2, gate: 1, check: 2 },
        { outcome: 2, stage: 0, gate: -1, check: -1 },
      ][o.config]!;
      expect({ outcome: o.outcome, stage: o.stage, gate: o.gate, check: o.check }).toEqual(expected);
    }
  });

  it('records each gate at each check until its config halts, with verdict codes and the firing', () => {
    // Per run: halts 1 check × 1 gate, holds 3 checks × 2 gates, promotes 5 checks × 1 gate.
    expect(checks.length).toBe(R * (1 + 6 + CHECKS));
    for (const c of checks) {
      // The canary error rate is exactly 1 in every window.
      expect(c.canary).toBe(1);
      if (c.config === 0) expect({ check: c.check, verdict: c.verdict, fired: c.fired }).toEqual({ check: 0, verdict: 1, fired: 1 });
      if (c.config === 1 && c.gate === 0) expect({ verdict: c.verdict, fired: c.fired }).toEqual({ verdict: 2, fired: 0 });
      if (c.config === 1 && c.gate === 1) {
        expect(c.check).toBeLessThanOrEqual(2);
        expect({ verdict: c.verdict, fired: c.fired }).toEqual({ verdict: 1, fired: c.check === 2 ? 1 : 0 });
      }
      if (c.config === 2) expect({ verdict: c.verdict, fired: c.fired }).toEqual({ verdict: 0, fired: 0 });
      // Threshold gates have no p-value; the baseline's error rate is a share near 0.5.
      expect(c.p).toBeNaN();
      expect(c.baseline).toBeGreaterThan(0.4);
      expect(c.baseline).toBeLessThan(0.6);
    }
  });

  it('judges every config on the same windows, and counts the canary requests served until the halt', () => {
    for (let r = 0; r < R; r++) {
      // canaryN of each check window, read off the config that sees them all.
      const perCheck = checks.filter((c) => c.run === r && c.config === 2).sort((a, b) => a.check - b.check).map((c) => c.canaryN);
      expect(perCheck).toHaveLength(CHECKS);
      for (const c of checks.filter((x) => x.run === r)) expect(c.canaryN).toBe(perCheck[c.check]);
      const sum = (k: number) => perCheck.slice(0, k).reduce((a, b) => a + b, 0);
      const byConfig = outcomes.filter((o) => o.run === r).map((o) => o.canaryRequests);
      expect(byConfig).toEqual([sum(1), sum(3), sum(CHECKS)]);
    }
  });

  it('serves Poisson canary and total traffic at the documented rates', () => {
    // Canary requests over the whole ladder: Poisson with mean 600/min × (20 min × 10% + 25 min × 50%)
    // = 8700 per run; summed over R runs the sd is √(8700 R). Five sd either side.
    const promoted = outcomes.filter((o) => o.config === 2).reduce((a, o) => a + o.canaryRequests, 0);
    expect(Math.abs(promoted - 8700 * R)).toBeLessThan(5 * Math.sqrt(8700 * R));
    // Both arms, every window drawn (one config never halts): 600 × 45 = 27000 per run.
    expect(Math.abs(batch.simulatedRequests - 27000 * R)).toBeLessThan(5 * Math.sqrt(27000 * R));
  });

  it('stops drawing a run once every config has halted', () => {
    // Only the config that halts at the first check: one 10-minute window per run, 600 × 10 = 6000 requests.
    const b = run(0, R, engine, false, [configs[0]!]);
    expect(Math.abs(b.simulatedRequests - 6000 * R)).toBeLessThan(5 * Math.sqrt(6000 * R));
  });

  it('a run depends on (seed, run) alone: a range split in two gives the same rows', () => {
    const a = run(0, 2, engine);
    const b = run(2, R, engine);
    expect([...rowsOf(a.outcomes), ...rowsOf(b.outcomes)]).toEqual(outcomes);
    expect([...rowsOf(a.checks!), ...rowsOf(b.checks!)]).toEqual(checks);
    expect(a.simulatedRequests + b.simulatedRequests).toBe(batch.simulatedRequests);
    // and another seed draws other traffic
    const other = run(0, R, engine, true, configs, { ...scenario, seed: 4 });
    expect(Array.from(other.outcomes.canaryRequests)).not.toEqual(Array.from(batch.outcomes.canaryRequests));
  });

  it('hands back exactly-sized columns, each on its own buffer (nothing shared, no slack to transfer)', () => {
    const arrays = [...Object.values(batch.outcomes), ...Object.values(batch.checks!)];
    for (const a of arrays) {
      expect(a.byteOffset).toBe(0);
      expect(a.buffer.byteLength).toBe(a.length * a.BYTES_PER_ELEMENT);
    }
    expect(new Set(arrays.map((a) => a.buffer)).size).toBe(arrays.length);
  });
});

describe('simulateRuns edges', () => {
  it('without recordChecks there is no checks table', () => {
    expect(run(0, 2, 'exact', false).checks).toBeNull();
  });

  it('an empty range gives empty columns and no requests', () => {
    const b = run(3, 3, 'exact', true);
    expect(b.simulatedRequests).toBe(0);
    for (const a of [...Object.values(b.outcomes), ...Object.values(b.checks!)]) expect(a.length).toBe(0);
  });

  it('keeps every row when the columns outgrow their first allocation', () => {
    // 1100 configs that each halt at the first check, over 4 runs: 4400 outcome rows and 4400 check
    // rows, past the initial capacities (1024 outcomes, 4096 checks).
    const many = Array.from({ length: 1100 }, (_, k): GateConfig => ({ label: `c${k}`, source: 'inline', gates: [gate({ name: 'errors', max: 0.9 })] }));
    const b = run(0, 4, 'exact', true, many);
    const o = rowsOf(b.outcomes);
    expect(o).toHaveLength(4400);
    expect(o.every((row, i) => row.run === Math.floor(i / 1100) && row.config === i % 1100 && row.outcome === 0 && row.check === 0)).toBe(true);
    // Every config of a run saw the same first window.
    for (let r = 0; r < 4; r++) expect(new Set(o.filter((row) => row.run === r).map((row) => row.canaryRequests)).size).toBe(1);
    const c = rowsOf(b.checks!);
    expect(c).toHaveLength(4400);
    expect(c.every((row, i) => row.run === Math.floor(i / 1100) && row.config === i % 1100 && row.fired === 1 && row.canary === 1)).toBe(true);
    for (const a of [...Object.values(b.outcomes), ...Object.values(b.checks!)]) expect(a.buffer.byteLength).toBe(4400 * a.BYTES_PER_ELEMENT);
  });
});

describe('a config judged beside others gets the results it gets alone', () => {
  // Cost 25% up with run-to-run noise: the cost gate halts at varying checks, so its outcomes and
  // readings depend on every cost draw. A second config gating latency p99 needs latency draws
  // that the first does not: with one stream for every metric they shifted the cost draws after
  // them (found by review: 186 rollbacks alone, 183 beside it).
  const noisy: Scenario = {
    ...scenario,
    runs: 40,
    seed: 9,
    baseline: { ...scenario.baseline, error_rate: 0.01 },
    candidate: { ...scenario.candidate, error_rate: 1, price: 1.25 },
    nondeterminism: { run: 0.15, check: 0.15 },
  };
  const cost: GateConfig = { label: 'cost', source: 'inline', gates: [gate({ name: 'cost', metric: 'cost_usd', max_ratio: 1.2, sustained: 2 })] };
  const latency: GateConfig = { label: 'latency', source: 'inline', gates: [gate({ name: 'p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.1 })] };
  const errors: GateConfig = { label: 'errors', source: 'inline', gates: [gate({ name: 'errors', max_ratio: 2 })] };

  /** Config 0's outcome and check rows. */
  function first(batch: RunBatch) {
    const o = batch.outcomes, c = batch.checks!;
    const outcomes = Array.from(o.config, (k, i) => (k === 0 ? [o.run[i], o.outcome[i], o.stage[i], o.check[i], o.canaryRequests[i]] : null)).filter(Boolean);
    const checks = Array.from(c.config, (k, i) => (k === 0 ? [c.run[i], c.check[i], c.canary[i], c.baseline[i], c.canaryN[i], c.verdict[i]] : null)).filter(Boolean);
    return { outcomes, checks };
  }

  it.each(['exact', 'sample'] as const)('with the %s engine', (engine) => {
    const run = (configs: GateConfig[]) => first(simulateRuns(noisy, { configs, runFrom: 0, runTo: noisy.runs, recordChecks: true, engine }));
    const alone = run([cost]);
    // Not every run ends alike: otherwise a shifted stream could not show.
    expect(new Set(alone.outcomes.map((o) => `${o![1]}/${o![3]}`)).size).toBeGreaterThan(2);
    expect(run([cost, latency])).toEqual(alone);
    expect(run([cost, errors, latency])).toEqual(alone);
  });
});
