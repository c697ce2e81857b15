import type { GateConfig } from '../config/model.js';
import { isRateMetric } from '../config/model.js';
import { CONTINUOUS_METRICS, type ContinuousMetric, STATS, type Stat } from '../config/metrics.js';

/**
 * A window summary is a flat run of float64s with a fixed layout, so that a run's summaries move
 * between threads as one transferable buffer and the judge reads them without allocating. It does
 * not depend on the gate config: any gate list can be judged over the same summaries.
 *
 * Layout of one window: [canary arm][baseline arm][tests]; one arm is
 *   n, errors, refusals, ok, thumbs_down, then per continuous metric: count, mean, p50..p999.
 * tests holds, per continuous metric, the Mann–Whitney p-values (increase, decrease) and the KS p-value.
 * A statistic no gate asked for is NaN.
 */

export const ARM_COUNTS = ['n', 'errors', 'refusals', 'ok', 'thumbs_down'] as const;
export const METRIC_STATS = ['count', ...STATS] as const;
export const METRIC_WIDTH = METRIC_STATS.length;
export const ARM_WIDTH = ARM_COUNTS.length + CONTINUOUS_METRICS.length * METRIC_WIDTH;
export const TEST_FIELDS = ['mw_increase', 'mw_decrease', 'ks'] as const;
export const TESTS_WIDTH = CONTINUOUS_METRICS.length * TEST_FIELDS.length;
export const WINDOW_WIDTH = 2 * ARM_WIDTH + TESTS_WIDTH;

export const CANARY = 0;
export const BASELINE = ARM_WIDTH;
export const TESTS_OFFSET = 2 * ARM_WIDTH;

export const N = 0;
export const ERRORS = 1;
export const REFUSALS = 2;
export const OK = 3;
export const THUMBS_DOWN = 4;

export function metricIndex(metric: ContinuousMetric): number {
  return CONTINUOUS_METRICS.indexOf(metric);
}

/** Offset, within an arm, of a continuous metric's statistic. */
export function statOffset(metric: ContinuousMetric, stat: Stat | 'count'): number {
  return ARM_COUNTS.length + metricIndex(metric) * METRIC_WIDTH + METRIC_STATS.indexOf(stat);
}

export function testOffset(metric: ContinuousMetric, field: (typeof TEST_FIELDS)[number]): number {
  return TESTS_OFFSET + metricIndex(metric) * TEST_FIELDS.length + TEST_FIELDS.indexOf(field);
}

/** The quantile probabilities of p50..p999, in layout order. */
export const QUANTILE_PROBS = [0.5, 0.9, 0.95, 0.99, 0.999] as const;

/**
 * Which work a window summary must do, per window kind (check, stage): which metrics need their
 * samples sorted (for quantiles or tests), which need tests and which need their mean. Counts are
 * always computed. The `sample` engine draws every request whatever the needs (its means come
 * free with the draws), so needs change only the work done with its draws; the `exact` engine
 * draws only the statistics read, so its draws depend on the needs.
 */
export interface SummaryNeeds {
  check: MetricNeeds;
  stage: MetricNeeds | null;
}

export interface MetricNeeds {
  /** Per continuous metric, in CONTINUOUS_METRICS order: some quantile or a test is read. */
  sorted: boolean[];
  tests: boolean[];
  /** Per metric, per QUANTILE_PROBS entry: the quantiles read (an engine may fill more). */
  quantiles: boolean[][];
  /** Per metric: the mean is read (an engine may fill more). */
  means: boolean[];
  /** Per metric, which tests are read (`tests` is their union); the others' fields may stay NaN. */
  mannWhitney: boolean[];
  ks: boolean[];
}

function emptyNeeds(): MetricNeeds {
  return {
    sorted: CONTINUOUS_METRICS.map(() => false),
    tests: CONTINUOUS_METRICS.map(() => false),
    quantiles: CONTINUOUS_METRICS.map(() => QUANTILE_PROBS.map(() => false)),
    means: CONTINUOUS_METRICS.map(() => false),
    mannWhitney: CONTINUOUS_METRICS.map(() => false),
    ks: CONTINUOUS_METRICS.map(() => false),
  };
}

export function needsOf(configs: readonly GateConfig[]): SummaryNeeds {
  const check = emptyNeeds();
  let stage: MetricNeeds | null = null;
  for (const config of configs) {
    for (const gate of config.gates) {
      // Any stage gate, rate gates included, needs the stage summary's pooled counts.
      const target = gate.window === 'stage' ? (stage ??= emptyNeeds()) : check;
      if (isRateMetric(gate.metric)) continue;
      const i = metricIndex(gate.metric);
      if (gate.test && gate.test.kind !== 'proportion') {
        target.sorted[i] = true;
        target.tests[i] = true;
        if (gate.test.kind === 'ks') target.ks[i] = true;
        else target.mannWhitney[i] = true;
      }
      // A gate with a test reads its stat too (it abstains when that is missing).
      if (gate.stat === 'mean') target.means[i] = true;
      else {
        target.sorted[i] = true;
        target.quantiles[i]![STATS.indexOf(gate.stat) - 1] = true;
      }
    }
  }
  return { check, stage };
}

/** Everything computed: for callers that keep summaries to judge gate configs not known yet. */
export function allNeeds(): SummaryNeeds {
  const full = (): MetricNeeds => ({
    sorted: CONTINUOUS_METRICS.map(() => true),
    tests: CONTINUOUS_METRICS.map(() => true),
    quantiles: CONTINUOUS_METRICS.map(() => QUANTILE_PROBS.map(() => true)),
    means: CONTINUOUS_METRICS.map(() => true),
    mannWhitney: CONTINUOUS_METRICS.map(() => true),
    ks: CONTINUOUS_METRICS.map(() => true),
  });
  return { check: full(), stage: full() };
}
