import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadScenarioFile } from '../../src/config/load.js';
import type { Scenario } from '../../src/config/model.js';
import { CONTINUOUS_METRICS } from '../../src/config/metrics.js';
import { type MetricNeeds, QUANTILE_PROBS, type SummaryNeeds, WINDOW_WIDTH, allNeeds } from '../../src/gates/window.js';
import { checkSchedule } from '../../src/sim/ladder.js';
import { SampleRun, tokens } from '../../src/sim/sample-engine.js';
import { Rng } from '../../src/stats/random.js';

describe('tokens', () => {
  it('is Math.max(1, Math.round(v)) for every v ≥ 0, at the edges of its fast path too', () => {
    const edges = [0, 1e-300, 0.25, 0.49999999999999994, 0.5, 0.5000000000000001, 0.9999999999999999, 1, 1.5, 2.5, 1e6 + 0.5,
      2 ** 31 - 1.5, 2 ** 31 - 1, 2 ** 31 - 0.5, 2 ** 31, 2 ** 31 + 0.5, 2 ** 52 - 0.5, 2 ** 52, 2 ** 52 + 1, 2 ** 53 + 2, 1e300, Infinity];
    const rng = new Rng('tokens');
    const random = Array.from({ length: 100_000 }, () => Math.exp(20 * rng.uniform() - 3));
    const wrong = [...edges, ...random].filter((v) => tokens(v) !== Math.max(1, Math.round(v)));
    expect(wrong).toEqual([]);
    expect(tokens(NaN)).toBeNaN();
  });
});

describe('SampleRun computes only what the needs ask, from the same draws', () => {
  // A bundled regression with ttft added, at 60,000 requests a minute: windows of 75k canary and
  // 225k baseline requests, so selection goes through its filter path.
  const bundled = loadScenarioFile(fileURLToPath(new URL('../../scenarios/regressions/combined.yaml', import.meta.url)));
  const scenario: Scenario = {
    ...bundled,
    requestsPerMinute: 60_000,
    baseline: { ...bundled.baseline, ttft_ms: { p50: 250, p99: 1200 } },
    stages: [
      { percent: 25, holdMinutes: 10 },
      { percent: 100, holdMinutes: null },
    ],
    checkEveryMinutes: 5,
  };
  const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
  const stride = 2 * WINDOW_WIDTH;

  const none = (): MetricNeeds => ({
    sorted: CONTINUOUS_METRICS.map(() => false),
    tests: CONTINUOUS_METRICS.map(() => false),
    quantiles: CONTINUOUS_METRICS.map(() => QUANTILE_PROBS.map(() => false)),
    means: CONTINUOUS_METRICS.map(() => false),
    mannWhitney: CONTINUOUS_METRICS.map(() => false),
    ks: CONTINUOUS_METRICS.map(() => false),
  });
  const quantile = (metric: (typeof CONTINUOUS_METRICS)[number], q: number, needs = none()): MetricNeeds => {
    const k = CONTINUOUS_METRICS.indexOf(metric);
    needs.sorted[k] = true;
    needs.quantiles[k]![q] = true;
    return needs;
  };
  const test = (metric: (typeof CONTINUOUS_METRICS)[number], needs = none()): MetricNeeds => {
    const k = CONTINUOUS_METRICS.indexOf(metric);
    needs.sorted[k] = true;
    needs.tests[k] = needs.mannWhitney[k] = needs.ks[k] = true;
    return needs;
  };

  function summaries(needs: SummaryNeeds): Float64Array {
    const out = new Float64Array(schedule.length * stride);
    const run = new SampleRun(scenario, needs, Rng.forRun(scenario.seed, 0));
    schedule.forEach((w, c) => run.window(w, out, c * stride));
    return out;
  }
  const full = summaries(allNeeds());

  const cases: Record<string, SummaryNeeds> = {
    'nothing but counts and means': { check: none(), stage: null },
    'latency p99': { check: quantile('latency_ms', 3), stage: null },
    'cost p50 and p999 (values formed from kept token counts)': { check: quantile('cost_usd', 4, quantile('cost_usd', 0)), stage: null },
    'output tokens KS, ttft p90 over the stage': { check: test('output_tokens'), stage: quantile('ttft_ms', 1) },
    'input tokens p95 in both windows': { check: quantile('input_tokens', 2), stage: quantile('input_tokens', 2) },
  };
  for (const [name, needs] of Object.entries(cases)) {
    it(name, () => {
      const narrow = summaries(needs);
      let computed = 0;
      for (let i = 0; i < narrow.length; i++) {
        // Without stage needs nothing is written after each check summary.
        if (Number.isNaN(narrow[i]!) || (needs.stage === null && i % stride >= WINDOW_WIDTH)) continue;
        computed++;
        // Identical draws whatever the needs: every computed field is the full computation's, bit for bit.
        expect(narrow[i], `field ${i % stride} of window ${Math.floor(i / stride)}`).toBe(full[i]);
      }
      expect(computed).toBeGreaterThan(0);
    });
  }
});
