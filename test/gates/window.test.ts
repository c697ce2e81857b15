import { describe, expect, it } from 'vitest';
import { CONTINUOUS_METRICS, STATS } from '../../src/config/metrics.js';
import type { Gate, GateConfig } from '../../src/config/model.js';
import {
  ARM_COUNTS,
  ARM_WIDTH,
  BASELINE,
  CANARY,
  ERRORS,
  METRIC_STATS,
  type MetricNeeds,
  N,
  OK,
  QUANTILE_PROBS,
  REFUSALS,
  TESTS_OFFSET,
  TESTS_WIDTH,
  TEST_FIELDS,
  THUMBS_DOWN,
  WINDOW_WIDTH,
  allNeeds,
  metricIndex,
  needsOf,
  statOffset,
  testOffset,
} from '../../src/gates/window.js';

function gate(partial: Partial<Gate> & Pick<Gate, 'metric'>): Gate {
  return { name: partial.name ?? partial.metric, stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...partial };
}

function config(...gates: Gate[]): GateConfig {
  return { label: 'g', source: 'g.yaml', gates };
}

/** Needs with nothing marked, written out independently of the module's own helper. */
function nothing(): MetricNeeds {
  return {
    sorted: [false, false, false, false, false],
    tests: [false, false, false, false, false],
    quantiles: [0, 1, 2, 3, 4].map(() => [false, false, false, false, false]),
    means: [false, false, false, false, false],
    mannWhitney: [false, false, false, false, false],
    ks: [false, false, false, false, false],
  };
}

// CONTINUOUS_METRICS order: latency_ms 0, ttft_ms 1, output_tokens 2, input_tokens 3, cost_usd 4.
const LAT = 0, TTFT = 1, OUT = 2, IN = 3, COST = 4;

describe('window summary layout', () => {
  it('has the widths its description implies', () => {
    // One arm: 5 counts, then 5 continuous metrics × (count + mean + 5 quantiles = 7) = 40.
    expect(ARM_COUNTS.length).toBe(5);
    expect(METRIC_STATS).toEqual(['count', 'mean', 'p50', 'p90', 'p95', 'p99', 'p999']);
    expect(ARM_WIDTH).toBe(5 + 5 * 7);
    // Tests: 5 metrics × (mw_increase, mw_decrease, ks) = 15; a window is two arms and the tests.
    expect(TESTS_WIDTH).toBe(15);
    expect(WINDOW_WIDTH).toBe(2 * 40 + 15);
    expect(CANARY).toBe(0);
    expect(BASELINE).toBe(40);
    expect(TESTS_OFFSET).toBe(80);
    expect([N, ERRORS, REFUSALS, OK, THUMBS_DOWN]).toEqual([0, 1, 2, 3, 4]);
  });

  it('places statistics and tests at hand-computed offsets', () => {
    // statOffset = 5 counts + metric index × 7 + position in (count, mean, p50, …, p999).
    expect(statOffset('latency_ms', 'count')).toBe(5);
    expect(statOffset('latency_ms', 'mean')).toBe(6);
    expect(statOffset('ttft_ms', 'p50')).toBe(5 + 7 + 2);
    expect(statOffset('output_tokens', 'p99')).toBe(5 + 14 + 5);
    expect(statOffset('cost_usd', 'p999')).toBe(5 + 28 + 6); // the arm's last slot
    expect(statOffset('cost_usd', 'p999')).toBe(ARM_WIDTH - 1);
    // testOffset = 80 + metric index × 3 + position in (mw_increase, mw_decrease, ks).
    expect(testOffset('latency_ms', 'mw_increase')).toBe(80);
    expect(testOffset('input_tokens', 'mw_decrease')).toBe(80 + 9 + 1);
    expect(testOffset('cost_usd', 'ks')).toBe(80 + 12 + 2); // the window's last slot
    expect(testOffset('cost_usd', 'ks')).toBe(WINDOW_WIDTH - 1);
    expect(CONTINUOUS_METRICS.map(metricIndex)).toEqual([0, 1, 2, 3, 4]);
  });

  it('gives every count, statistic (in either arm) and test its own slot, covering the window exactly', () => {
    const slots: number[] = [];
    for (const arm of [CANARY, BASELINE]) {
      for (let c = 0; c < ARM_COUNTS.length; c++) slots.push(arm + c);
      for (const m of CONTINUOUS_METRICS) for (const s of METRIC_STATS) slots.push(arm + statOffset(m, s));
    }
    for (const m of CONTINUOUS_METRICS) for (const f of TEST_FIELDS) slots.push(testOffset(m, f));
    // Distinct, and all inside [0, WINDOW_WIDTH): together a bijection onto the window.
    expect(new Set(slots).size).toBe(slots.length);
    expect(slots.length).toBe(WINDOW_WIDTH);
    expect(Math.min(...slots)).toBe(0);
    expect(Math.max(...slots)).toBe(WINDOW_WIDTH - 1);
    // Statistics stay inside their arm, tests after both arms.
    for (const m of CONTINUOUS_METRICS) {
      for (const s of METRIC_STATS) {
        expect(statOffset(m, s)).toBeGreaterThanOrEqual(ARM_COUNTS.length);
        expect(statOffset(m, s)).toBeLessThan(ARM_WIDTH);
      }
      for (const f of TEST_FIELDS) {
        expect(testOffset(m, f)).toBeGreaterThanOrEqual(2 * ARM_WIDTH);
        expect(testOffset(m, f)).toBeLessThan(WINDOW_WIDTH);
      }
    }
  });

  it('lists the quantile probabilities in the order of the p50..p999 statistics', () => {
    expect(STATS.slice(1)).toEqual(['p50', 'p90', 'p95', 'p99', 'p999']);
    expect([...QUANTILE_PROBS]).toEqual([0.5, 0.9, 0.95, 0.99, 0.999]);
  });
});

describe('needsOf', () => {
  it('asks for nothing when there are no gates, and has no stage needs', () => {
    expect(needsOf([])).toEqual({ check: nothing(), stage: null });
    expect(needsOf([config()])).toEqual({ check: nothing(), stage: null });
  });

  it('marks only the mean of a mean gate: no sorting', () => {
    const needs = needsOf([config(gate({ metric: 'cost_usd', max_ratio: 1.2 }))]);
    const want = nothing();
    want.means[COST] = true;
    expect(needs).toEqual({ check: want, stage: null });
  });

  it('marks sorting and the one quantile a p99 gate reads (index 3 of p50, p90, p95, p99, p999)', () => {
    const needs = needsOf([config(gate({ metric: 'ttft_ms', stat: 'p99', max_ratio: 1.3 }))]);
    const want = nothing();
    want.sorted[TTFT] = true;
    want.quantiles[TTFT]![3] = true;
    expect(needs).toEqual({ check: want, stage: null });
  });

  it('marks each quantile stat at its own index', () => {
    const stats = ['p50', 'p90', 'p95', 'p99', 'p999'] as const;
    stats.forEach((stat, q) => {
      const needs = needsOf([config(gate({ metric: 'latency_ms', stat, max: 1 }))]);
      const row = [false, false, false, false, false];
      row[q] = true;
      expect(needs.check.quantiles[LAT]).toEqual(row);
      expect(needs.check.means[LAT]).toBe(false);
    });
  });

  it.each(['ks', 'mann_whitney'] as const)('marks sorting, the test and also the stat of a %s gate', (kind) => {
    // A test gate with the default stat (mean) reads the mean too.
    const withMean = needsOf([config(gate({ metric: 'output_tokens', test: { kind, alpha: 0.01, direction: 'increase' } }))]);
    const want = nothing();
    want.sorted[OUT] = true;
    want.tests[OUT] = true;
    // Only the kind of test the gate runs: the other's fields are not computed.
    (kind === 'ks' ? want.ks : want.mannWhitney)[OUT] = true;
    want.means[OUT] = true;
    expect(withMean).toEqual({ check: want, stage: null });
    // And with a quantile stat, that quantile instead of the mean.
    const withP90 = needsOf([config(gate({ metric: 'input_tokens', stat: 'p90', test: { kind, alpha: 0.01, direction: 'decrease' } }))]);
    const want2 = nothing();
    want2.sorted[IN] = true;
    want2.tests[IN] = true;
    (kind === 'ks' ? want2.ks : want2.mannWhitney)[IN] = true;
    want2.quantiles[IN]![1] = true;
    expect(withP90).toEqual({ check: want2, stage: null });
  });

  it('marks nothing for rate metrics, proportion tests included', () => {
    const needs = needsOf([
      config(
        gate({ metric: 'error_rate', max: 0.05 }),
        gate({ metric: 'refusal_rate', test: { kind: 'proportion', alpha: 0.01, direction: 'increase' } }),
        gate({ metric: 'error_or_refusal_rate', max_ratio: 2 }),
        gate({ metric: 'thumbs_down_rate', max_delta: 0.01 }),
      ),
    ]);
    expect(needs).toEqual({ check: nothing(), stage: null });
  });

  it('creates stage needs for a stage-window rate gate, with nothing marked in them', () => {
    const needs = needsOf([config(gate({ metric: 'error_rate', max: 0.05, window: 'stage' }))]);
    expect(needs.stage).not.toBeNull();
    expect(needs).toEqual({ check: nothing(), stage: nothing() });
  });

  it('sends stage-window gates to the stage needs and check-window gates to the check needs', () => {
    const needs = needsOf([
      config(
        gate({ name: 'stage-p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.3, window: 'stage' }),
        gate({ name: 'check-mean', metric: 'latency_ms', max_ratio: 1.1 }),
      ),
    ]);
    const check = nothing();
    check.means[LAT] = true;
    const stage = nothing();
    stage.sorted[LAT] = true;
    stage.quantiles[LAT]![3] = true;
    expect(needs).toEqual({ check, stage });
  });

  it('unions the needs of several configs', () => {
    const needs = needsOf([
      config(gate({ metric: 'cost_usd', max_ratio: 1.2 })),
      config(gate({ metric: 'cost_usd', stat: 'p50', max_ratio: 1.2 }), gate({ metric: 'ttft_ms', test: { kind: 'ks', alpha: 0.001, direction: 'increase' } })),
    ]);
    const want = nothing();
    want.means[COST] = true;
    want.sorted[COST] = true;
    want.quantiles[COST]![0] = true;
    want.sorted[TTFT] = true;
    want.tests[TTFT] = true;
    want.ks[TTFT] = true;
    want.means[TTFT] = true;
    expect(needs).toEqual({ check: want, stage: null });
  });
});

describe('allNeeds', () => {
  it('marks everything, in both windows, in fresh arrays', () => {
    const all = allNeeds();
    const full = {
      sorted: [true, true, true, true, true],
      tests: [true, true, true, true, true],
      quantiles: [0, 1, 2, 3, 4].map(() => [true, true, true, true, true]),
      means: [true, true, true, true, true],
      mannWhitney: [true, true, true, true, true],
      ks: [true, true, true, true, true],
    };
    expect(all).toEqual({ check: full, stage: full });
    // Check and stage do not share arrays: marking one leaves the other alone.
    all.check.sorted[0] = false;
    all.check.quantiles[0]![0] = false;
    expect(all.stage!.sorted[0]).toBe(true);
    expect(all.stage!.quantiles[0]![0]).toBe(true);
    expect(allNeeds().check.sorted[0]).toBe(true);
  });
});
