/**
 * The metric, statistic and test vocabularies, apart from the zod schemas: the engines and the
 * judge need these lists in every worker thread, and importing zod there costs each worker
 * ~0.1 s of start-up.
 */
export const CONTINUOUS_METRICS = ['latency_ms', 'ttft_ms', 'output_tokens', 'input_tokens', 'cost_usd'] as const;
export const RATE_METRICS = ['error_rate', 'refusal_rate', 'error_or_refusal_rate', 'thumbs_down_rate'] as const;
export const METRICS = [...CONTINUOUS_METRICS, ...RATE_METRICS] as const;
export const STATS = ['mean', 'p50', 'p90', 'p95', 'p99', 'p999'] as const;
export const TESTS = ['mann_whitney', 'ks', 'proportion'] as const;

export type ContinuousMetric = (typeof CONTINUOUS_METRICS)[number];
export type RateMetric = (typeof RATE_METRICS)[number];
export type Metric = (typeof METRICS)[number];
export type Stat = (typeof STATS)[number];
export type TestKind = (typeof TESTS)[number];
