import { describe, expect, it } from 'vitest';
import type { EmpiricalTraffic, Gate, GateConfig, Scenario } from '../../src/config/model.js';
import { BASELINE, CANARY, N, WINDOW_WIDTH, allNeeds, needsOf, statOffset } from '../../src/gates/window.js';
import { ENGINES, type EngineKind, createEngine, describeGatePaths } from '../../src/sim/engine.js';
import { ExactRun } from '../../src/sim/exact-engine.js';
import { checkSchedule } from '../../src/sim/ladder.js';
import { SampleRun } from '../../src/sim/sample-engine.js';
import { Rng } from '../../src/stats/random.js';

const scenario: Scenario = {
  name: 'engines',
  file: 'inline',
  runs: 10,
  seed: 5,
  requestsPerMinute: 200,
  baseline: {
    latency_ms: { p50: 800, p99: 4000 },
    ttft_ms: { p50: 250, p99: 1200 },
    output_tokens: { p50: 300, p99: 1500 },
    input_tokens: { p50: 1000, p99: 6000 },
    error_rate: 0.01,
    refusal_rate: 0.02,
    thumbs_down_rate: 0.05,
  },
  price: { input_per_million: 0.5, output_per_million: 1.5 },
  candidate: { latency: 1, latency_tail: 1, output_length: 1, price: 1, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 },
  nondeterminism: { run: 0, check: 0 },
  stages: [
    { percent: 10, holdMinutes: 20 },
    { percent: 50, holdMinutes: 20 },
    { percent: 100, holdMinutes: null },
  ],
  checkEveryMinutes: 10,
  gates: null,
};

/** Trace rows that all carry the same values: resampling them can give nothing else. */
function constantTraffic(rows: number): EmpiricalTraffic {
  const col = (v: number) => new Float64Array(rows).fill(v);
  return { source: 'constant.parquet', rows, latency_ms: col(1234), ttft_ms: col(321), input_tokens: col(777), output_tokens: col(55), medianLatency: 1234 };
}
const empirical: Scenario = { ...scenario, name: 'empirical', empirical: constantTraffic(16) };

const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);

function gate(partial: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate {
  return { stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...partial };
}

describe('createEngine', () => {
  it('offers auto, exact and sample', () => {
    expect([...ENGINES]).toEqual(['auto', 'exact', 'sample']);
  });

  it('builds the sample engine for sample, and the exact engine for exact and auto', () => {
    const needs = allNeeds();
    expect(createEngine('sample', scenario, needs, Rng.forRun(1, 0))).toBeInstanceOf(SampleRun);
    expect(createEngine('exact', scenario, needs, Rng.forRun(1, 0))).toBeInstanceOf(ExactRun);
    expect(createEngine('auto', scenario, needs, Rng.forRun(1, 0))).toBeInstanceOf(ExactRun);
  });

  it('builds the sample engine for empirical traffic, whatever the kind', () => {
    for (const kind of ENGINES) expect(createEngine(kind, empirical, allNeeds(), Rng.forRun(1, 0))).toBeInstanceOf(SampleRun);
  });

  it('hands the engine the scenario, needs and stream: auto and exact give the same windows draw for draw', () => {
    const needs = needsOf([{ label: 'g', source: 'g', gates: [gate({ name: 'p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.5 }), gate({ name: 'err', metric: 'error_rate', max: 0.1, window: 'stage' })] }]);
    const run = (kind: EngineKind) => {
      const e = createEngine(kind, scenario, needs, Rng.forRun(scenario.seed, 3));
      const out = new Float64Array(schedule.length * 2 * WINDOW_WIDTH);
      const canary = schedule.map((w, c) => e.window(w, out, c * 2 * WINDOW_WIDTH));
      return { out: Array.from(out), canary };
    };
    const direct = () => {
      const e = new ExactRun(scenario, needs, Rng.forRun(scenario.seed, 3));
      const out = new Float64Array(schedule.length * 2 * WINDOW_WIDTH);
      const canary = schedule.map((w, c) => e.window(w, out, c * 2 * WINDOW_WIDTH));
      return { out: Array.from(out), canary };
    };
    const auto = run('auto');
    expect(run('exact')).toEqual(auto);
    expect(direct()).toEqual(auto);
    // And a different stream gives different windows, or the comparison above would prove little.
    const other = new ExactRun(scenario, needs, Rng.forRun(scenario.seed, 4));
    const out = new Float64Array(2 * WINDOW_WIDTH);
    other.window(schedule[0]!, out, 0);
    expect(Array.from(out.subarray(0, 2 * WINDOW_WIDTH))).not.toEqual(auto.out.slice(0, 2 * WINDOW_WIDTH));
  });

  it.each(ENGINES)('%s: window() writes its summary at `at` (a stage summary after it) and returns the canary requests', (kind) => {
    const checkOnly = needsOf([{ label: 'g', source: 'g', gates: [gate({ name: 'cost', metric: 'cost_usd', max_ratio: 1.2 })] }]);
    const withStage = needsOf([{ label: 'g', source: 'g', gates: [gate({ name: 'err', metric: 'error_rate', max: 0.1, window: 'stage' })] }]);
    for (const [needs, width] of [[checkOnly, WINDOW_WIDTH], [withStage, 2 * WINDOW_WIDTH]] as const) {
      const e = createEngine(kind, scenario, needs, Rng.forRun(9, 0));
      const at = 37;
      const out = new Float64Array(at + width + 11).fill(-12345);
      for (const w of schedule) {
        const canary = e.window(w, out, at);
        expect(canary).toBe(out[at + CANARY + N]);
        // 200/min × 10 min × percent: a Poisson mean of 200 (10%) or 1000 (50%), so a count > 0
        // (P(0) = e^-200) and the baseline arm serves the rest.
        expect(canary).toBeGreaterThan(0);
        expect(out[at + BASELINE + N]).toBeGreaterThan(0);
      }
      // Nothing written before `at` or past its summaries.
      expect(Array.from(out.subarray(0, at)).every((x) => x === -12345)).toBe(true);
      expect(Array.from(out.subarray(at + width)).every((x) => x === -12345)).toBe(true);
      // Every slot of the summaries written (a statistic nobody asked for is NaN, not left alone).
      expect(Array.from(out.subarray(at, at + width)).some((x) => x === -12345)).toBe(false);
    }
  });

  it('resamples the trace rows for empirical traffic (constant rows give constant statistics)', () => {
    // Candidate unchanged and no non-determinism: every latency is 1 × 1234 × (1234/1234)^1 × 1.
    const e = createEngine('exact', empirical, allNeeds(), Rng.forRun(2, 0));
    const out = new Float64Array(WINDOW_WIDTH * 2);
    e.window(schedule[0]!, out, 0);
    for (const arm of [CANARY, BASELINE]) {
      expect(out[arm + statOffset('latency_ms', 'count')]).toBeGreaterThan(0);
      expect(out[arm + statOffset('latency_ms', 'p50')]).toBe(1234);
      expect(out[arm + statOffset('latency_ms', 'p999')]).toBe(1234);
      expect(out[arm + statOffset('latency_ms', 'mean')]).toBe(1234);
      expect(out[arm + statOffset('ttft_ms', 'p99')]).toBe(321);
      expect(out[arm + statOffset('input_tokens', 'p50')]).toBe(777);
      expect(out[arm + statOffset('output_tokens', 'p90')]).toBe(55);
    }
  });
});

describe('describeGatePaths', () => {
  const config: GateConfig = {
    label: 'mixed',
    source: 'mixed.yaml',
    gates: [
      gate({ name: 'errors', metric: 'error_rate', max: 0.05 }),
      gate({ name: 'refusals', metric: 'refusal_rate', test: { kind: 'proportion', alpha: 0.01, direction: 'increase' } }),
      gate({ name: 'latency-p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.5 }),
      gate({ name: 'output-ks', metric: 'output_tokens', test: { kind: 'ks', alpha: 0.001, direction: 'increase' } }),
      gate({ name: 'output-mean', metric: 'output_tokens', max_ratio: 1.2 }),
      gate({ name: 'ttft-stage-p95', metric: 'ttft_ms', stat: 'p95', max_ratio: 1.3, window: 'stage' }),
    ],
  };
  const names = config.gates.map((g) => g.name);

  it('says per-request for every gate under the sample engine, and for empirical traffic under any engine', () => {
    const all = Object.fromEntries(names.map((n) => [n, 'per-request']));
    expect(describeGatePaths('sample', scenario, config)).toEqual(all);
    for (const kind of ENGINES) expect(describeGatePaths(kind, empirical, config)).toEqual(all);
  });

  it.each(['exact', 'auto'] as const)('%s: rates and check-window quantiles and means are exact; tests and stage quantiles per-request', (kind) => {
    expect(describeGatePaths(kind, scenario, config)).toEqual({
      errors: 'exact', // a rate: binomial counts
      refusals: 'exact', // a proportion test reads binomial counts too
      'latency-p99': 'exact', // a check-window quantile: order statistics
      'output-ks': 'per-request', // a KS test needs the samples
      'output-mean': 'per-request', // …and makes every statistic of output_tokens per-request
      'ttft-stage-p95': 'per-request', // a stage-window quantile pools samples
    });
  });

  it('exact: a cost quantile is per-request, and makes the token metrics cost is priced from per-request', () => {
    const cfg: GateConfig = {
      label: 'cost',
      source: 'cost.yaml',
      gates: [
        gate({ name: 'cost-p90', metric: 'cost_usd', stat: 'p90', max_ratio: 1.2 }),
        gate({ name: 'input-mean', metric: 'input_tokens', max_ratio: 1.2 }),
        gate({ name: 'latency-mean', metric: 'latency_ms', max_ratio: 1.2 }),
      ],
    };
    expect(describeGatePaths('exact', scenario, cfg)).toEqual({ 'cost-p90': 'per-request', 'input-mean': 'per-request', 'latency-mean': 'exact' });
    // Without the cost quantile, a cost mean and the token mean are exact.
    const means: GateConfig = { ...cfg, gates: [gate({ name: 'cost-mean', metric: 'cost_usd', max_ratio: 1.2 }), cfg.gates[1]!] };
    expect(describeGatePaths('exact', scenario, means)).toEqual({ 'cost-mean': 'exact', 'input-mean': 'exact' });
  });
});
