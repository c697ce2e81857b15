import type { ContinuousMetric, Metric, RateMetric, Stat, TestKind } from './schema.js';

/**
 * The validated, normalised forms the engines and the judge work on: durations in minutes,
 * defaults applied, gates resolved. Files are parsed into these once, in config/load.ts.
 */

export interface Quantiles {
  p50: number;
  p99: number;
}

export interface Baseline {
  latency_ms: Quantiles;
  ttft_ms: Quantiles | null;
  output_tokens: Quantiles;
  input_tokens: Quantiles;
  error_rate: number;
  refusal_rate: number;
  thumbs_down_rate: number;
}

export interface Candidate {
  latency: number;
  latency_tail: number;
  output_length: number;
  price: number;
  error_rate: number;
  refusal_rate: number;
  thumbs_down_rate: number;
}

export const CANDIDATE_FIELDS = [
  'latency',
  'latency_tail',
  'output_length',
  'price',
  'error_rate',
  'refusal_rate',
  'thumbs_down_rate',
] as const satisfies readonly (keyof Candidate)[];

export interface Stage {
  percent: number;
  /** null only on a last stage: reaching it is promotion. */
  holdMinutes: number | null;
}

export interface Gate {
  name: string;
  description?: string;
  metric: Metric;
  stat: Stat;
  max_ratio?: number;
  min_ratio?: number;
  max?: number;
  min?: number;
  max_delta?: number;
  test?: { kind: TestKind; alpha: number; direction: 'increase' | 'decrease' };
  action: 'rollback' | 'hold';
  sustained: number;
  minSamples: number;
  window: 'check' | 'stage';
}

/** A gate list with where it came from: the unit `tune` and `simulate --gates a --gates b` vary. */
export interface GateConfig {
  /** Short label used in tables: the gate file's name, or `inline`. */
  label: string;
  /** The file the gates were read from (the scenario file for inline gates). */
  source: string;
  gates: Gate[];
}

export interface Expectation {
  outcome: 'rollback' | 'hold' | 'promote';
  gate?: string;
  by_stage?: number;
  probability: number;
}

/**
 * Empirical traffic: trace rows' continuous values, resampled per request. Loaded once by the
 * command (it needs DuckDB), in SharedArrayBuffers so workers share rather than copy it.
 */
export interface EmpiricalTraffic {
  /** The trace file as the scenario names it, resolved. */
  source: string;
  map?: string;
  rows: number;
  /** Per row; NaN where the trace has no value (the lognormal stands in). */
  latency_ms: Float64Array;
  ttft_ms: Float64Array;
  input_tokens: Float64Array;
  output_tokens: Float64Array;
  /** The median latency of the rows that have one: the centre `latency_tail` widens around. */
  medianLatency: number;
}

export interface Scenario {
  name: string;
  description?: string;
  file: string;
  runs: number;
  seed: number;
  requestsPerMinute: number;
  baseline: Baseline;
  price: { input_per_million: number; output_per_million: number };
  candidate: Candidate;
  nondeterminism: { run: number; check: number };
  stages: Stage[];
  checkEveryMinutes: number;
  gates: GateConfig | null;
  expect?: Expectation;
  /** Set when `traffic.traces` names a trace: its path (resolved) until loaded, then its data. */
  tracesFile?: { path: string; map?: string };
  empirical?: EmpiricalTraffic;
}

export function isRateMetric(metric: Metric): metric is RateMetric {
  return metric.endsWith('_rate');
}

export function isContinuousMetric(metric: Metric): metric is ContinuousMetric {
  return !isRateMetric(metric);
}
