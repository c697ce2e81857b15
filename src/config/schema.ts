import { z } from 'zod';
import { finite, multiplier, quantilePair, rate } from './fields.js';

/**
 * The scenario and gate file formats. Every field is described where it is declared, with its
 * default and edge cases: `rehearse schema` turns these into the JSON Schemas in schema/, and the
 * README's reference is generated from the same descriptions, so the schema is the documentation.
 */

export { CONTINUOUS_METRICS, RATE_METRICS, METRICS, STATS, TESTS } from './metrics.js';
export type { ContinuousMetric, RateMetric, Metric, Stat, TestKind } from './metrics.js';
import { METRICS, STATS, TESTS } from './metrics.js';

/** Run numbers are stored as 32-bit INTEGERs (`outcomes.run`, `checks.run`). */
export const MAX_RUNS = 2_147_483_647;

/**
 * Runs one process simulates. Every run's rows stay in memory until they are written: measured
 * with the bundled default gates, a clean candidate's run (about 200 gate readings in `checks`)
 * holds 13 kB, so 100,000 runs need about 1.5 GB and several minutes; with `--no-checks` a run
 * keeps its outcome only, under 0.5 kB, and a million fit in as much. Beyond, `--shard i/n`.
 */
export const MAX_RUNS_PER_PROCESS = { checks: 100_000, outcomesOnly: 1_000_000 } as const;

/**
 * Request counts are doubles, exact below 2^53 ≈ 9·10^15: at a billion a minute a rollout would
 * have to last 17 years to lose one, and `canary_requests` (a BIGINT) to last 17,000 to overflow.
 */
export const MAX_REQUESTS_PER_MINUTE = 1e9;

const DURATION_PATTERN = '^\\s*(\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)\\s*)+$';

const duration = (what: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), { message: 'must be a duration such as 90s, 30m, 2h or 1h30m' })
    .describe(`${what} A duration: a number and a unit (ms, s, m, h, d), e.g. \`90s\`, \`30m\`, \`2h\`, \`1h30m\`.`);



export const GateSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .optional()
      .describe('Names the gate in reports, in `expect.gate` and in the `checks` table. Defaults to the metric name; must be unique within a gate list.'),
    description: z.string().optional().describe('What the gate protects, in the words a release owner would use. Shown in reports.'),
    metric: z
      .enum(METRICS)
      .describe(
        'What the gate reads. Continuous: latency_ms, ttft_ms (needs `traffic.baseline.ttft_ms`), output_tokens, input_tokens, cost_usd (these exclude error requests). ' +
          'Rates: error_rate, refusal_rate, error_or_refusal_rate (shares of all requests), thumbs_down_rate (a share of ok requests).',
      ),
    stat: z
      .enum(STATS)
      .optional()
      .describe('The statistic of a continuous metric compared between the arms: mean, or a quantile p50 to p999 (linear interpolation between order statistics, as numpy). Default mean. Not allowed on rate metrics. A `test` gate reads it too: its thresholds, if any, apply to this statistic (and the test to the samples), and it abstains while the statistic is missing.'),
    max_ratio: finite().gt(0).optional().describe('Breach when canary / baseline > this. A zero baseline gives a ratio of +∞ when the canary is above zero, and 1 when both are zero.'),
    min_ratio: finite().min(0).optional().describe('Breach when canary / baseline < this.'),
    max: finite().optional().describe('Breach when the canary value alone > this (an absolute ceiling, e.g. an error-rate SLO).'),
    min: finite().optional().describe('Breach when the canary value alone < this.'),
    max_delta: finite().optional().describe('Breach when canary − baseline > this (in the metric\'s own unit).'),
    test: z
      .enum(TESTS)
      .optional()
      .describe('A statistical gate: breach when the test\'s p-value < `alpha`. mann_whitney and ks compare the two arms\' samples of a continuous metric; proportion is a pooled two-proportion z test on a rate metric. mann_whitney and proportion are one-sided in `direction`; ks is two-sided.'),
    alpha: finite().gt(0).lt(1).optional().describe('Significance level of a `test` gate. Default 0.01. Remember a gate is judged at every check: the chance of a false breach over a rollout grows with the number of checks.'),
    direction: z.enum(['increase', 'decrease']).optional().describe('Which way a one-sided test looks for harm: increase (the default: the canary is larger) or decrease.'),
    action: z.enum(['rollback', 'hold']).default('rollback').describe('What firing does: rollback (hard: revert now; the default) or hold (soft: pause the ramp and alert). Either ends the simulated run.'),
    sustained: z.number().int().min(1).default(1).describe('Consecutive breaching checks needed to fire, counted across stage boundaries. A check where the gate abstains neither counts nor resets. Default 1.'),
    min_samples: z.number().int().min(0).default(0).describe('Fewer canary requests than this in the window (all statuses counted) and the gate abstains. Default 0.'),
    window: z.enum(['check', 'stage']).default('check').describe('The data a check reads: check (the requests since the previous check; the default) or stage (every request since the current stage began).'),
  })
  .strict()
  .describe('One gate: a metric, a statistic, and the condition under which the canary is judged worse than the baseline.');

export const GateListSchema = z.array(GateSchema).min(1, { message: 'must list at least one gate' });

export const GateFileSchema = z
  .object({
    $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editors.'),
    gates: GateListSchema.describe('The gates, judged at every check in this order; when several fire at the same check a rollback beats a hold, then the earlier gate wins.'),
  })
  .strict()
  .describe('A rehearse gate file: the conditions that halt a canary.');

export const StageSchema = z
  .object({
    percent: finite().gt(0).max(100).describe('Share of production traffic sent to the canary during this stage, in percent (above 0, at most 100).'),
    hold: duration('How long the stage lasts before the next one starts. Required on every stage but the last; a last stage without hold is reached by promotion and has no checks.').optional(),
  })
  .strict();

export const ExpectSchema = z
  .object({
    outcome: z.enum(['rollback', 'hold', 'promote']).describe('The outcome a run must reach to meet the expectation.'),
    gate: z.string().optional().describe('The gate that must fire (by name). Omit to accept any gate.'),
    by_stage: z.number().int().min(1).optional().describe('The run must halt at or before this stage (1-based). Omit for any stage.'),
    probability: finite().min(0).max(1).default(0.95).describe('Share of runs that must meet the expectation for `rehearse check` to pass. Default 0.95.'),
  })
  .strict()
  .describe('What `rehearse check` expects of this scenario.');

export const ScenarioSchema = z
  .object({
    $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editors.'),
    name: z.string().min(1).optional().describe('Names the scenario in reports and tables. Defaults to the file name without its extension.'),
    description: z.string().optional().describe('What this scenario rehearses, in a sentence.'),
    runs: z
      .number()
      .int()
      .min(1)
      .max(MAX_RUNS)
      .default(100)
      .describe(
        `Monte-Carlo runs. Default 100; \`--runs\` overrides. At most ${MAX_RUNS} (runs are numbered with 32-bit integers). ` +
          `One process simulates at most ${MAX_RUNS_PER_PROCESS.checks} runs in all, summed over the scenarios of the command (${MAX_RUNS_PER_PROCESS.outcomesOnly} with \`--no-checks\`), because ` +
          'every run\'s rows stay in memory until they are written (about 13 kB a run with its gate readings): ' +
          'split more across processes with `rehearse simulate --shard i/n`, each into its own `--db`, and join the files with `rehearse merge`.',
      ),
    seed: z.number().int().min(0).default(1).describe('Base seed: run i draws from a stream derived from (seed, i) alone. Default 1; `--seed` overrides.'),
    traffic: z
      .object({
        requests_per_minute: finite()
          .gt(0)
          .max(MAX_REQUESTS_PER_MINUTE)
          .default(600)
          .describe(
            'All production traffic, canary and baseline together; arrivals are Poisson. Default 600. ' +
              `At most ${MAX_REQUESTS_PER_MINUTE} (a billion a minute, beyond any production service), so that ` +
              'request counts stay exact: they are 64-bit floats, exact below 2^53, which at that rate lasts a 17-year rollout. ' +
              'The exact engine costs the same at any rate, but gates drawn per request (ks, mann_whitney, stage-window and cost quantiles) and `--engine sample` cost time and memory in proportion to traffic: ' +
              'at a million requests a minute a run takes tens of seconds.',
          ),
        baseline: z
          .object({
            latency_ms: quantilePair('End-to-end latency in milliseconds.', 800, 4000),
            ttft_ms: z
              .object({ p50: finite().gt(0).describe('Median. Must be above 0.'), p99: finite().gt(0).describe('99th percentile. Must be at least p50.') })
              .strict()
              .refine((q) => q.p99 >= q.p50, { message: 'p99 must be at least p50', path: ['p99'] })
              .optional()
              .describe('Time to first token in milliseconds, lognormal through p50 and p99. Optional: only gates on ttft_ms need it. The `latency` regression scales it as well.'),
            output_tokens: quantilePair('Output tokens per request (rounded to the nearest integer, at least 1).', 300, 1500),
            input_tokens: quantilePair('Input tokens per request (rounded to the nearest integer, at least 1).', 1000, 6000),
            error_rate: rate('Share of requests that fail.'),
            refusal_rate: rate('Share of the requests that did not fail which the model refuses.'),
            thumbs_down_rate: rate('Share of ok requests that receive a thumbs-down.'),
          })
          .strict()
          .prefault({})
          .describe('The baseline model\'s traffic, per request. The canary draws from the same distributions with the candidate\'s multipliers applied.'),
        traces: z
          .union([
            z.string().min(1),
            z
              .object({
                path: z.string().min(1).describe('The trace file (relative to this scenario file), in any format `rehearse replay` reads.'),
                map: z.string().optional().describe('Column renames for a foreign format, as `--map`: `SRC=dst,...`. A time column may name the unit of its numbers: `ts=timestamp:s` (s, ms, us or ns; default ms).'),
              })
              .strict(),
          ])
          .optional()
          .describe(
            'Empirical traffic: each request resamples a row of this trace (uniformly, with replacement), taking its latency, ttft and token counts together, so their joint distribution is the trace\'s. Values the trace lacks come from the lognormals above. Rates stay those of `baseline` (error, refusal and thumbs-down are not resampled), and every regression applies as to parametric traffic (`latency_tail` around the trace\'s median latency). Simulated by per-request draws under every engine.',
          ),
        price: z
          .object({
            input_per_million: finite().min(0).default(0.5).describe('USD per million input tokens. Default 0.5.'),
            output_per_million: finite().min(0).default(1.5).describe('USD per million output tokens. Default 1.5.'),
          })
          .strict()
          .prefault({})
          .describe('Baseline prices; a request costs (input_tokens·input_per_million + output_tokens·output_per_million) / 1e6 USD.'),
      })
      .strict()
      .prefault({})
      .describe('Production traffic and the baseline model.'),
    candidate: z
      .object({
        latency: multiplier('Scales the latency lognormal\'s median (and ttft\'s): every request slower.'),
        latency_tail: multiplier('Scales the latency lognormal\'s σ: p99 moves, p50 stays.'),
        output_length: multiplier('Scales output tokens before rounding.'),
        price: multiplier('Scales both prices.'),
        error_rate: multiplier('Scales the error rate (capped at 1).'),
        refusal_rate: multiplier('Scales the refusal rate (capped at 1).'),
        thumbs_down_rate: multiplier('Scales the thumbs-down rate (capped at 1).'),
      })
      .strict()
      .prefault({})
      .describe('Injected regressions: multipliers on the baseline. All default to 1 (the candidate behaves as the baseline).'),
    nondeterminism: z
      .object({
        run: finite().min(0).lt(1).default(0).describe('Run-to-run variation: per run, each candidate multiplier is multiplied by an independent factor uniform in [1 − run, 1 + run]. 0.15 is the ±15% LLM non-determinism ceiling. Default 0.'),
        check: finite().min(0).default(0).describe('Window-to-window variation: per check window and arm, one factor ~ Normal(1, check) multiplies that window\'s latencies, token counts and rates (clamped at 0). Default 0.'),
      })
      .strict()
      .prefault({})
      .describe('Run-to-run and window-to-window non-determinism.'),
    rollout: z
      .object({
        stages: z
          .array(StageSchema)
          .min(1, { message: 'must list at least one stage' })
          .default([{ percent: 1, hold: '30m' }, { percent: 5, hold: '2h' }, { percent: 25, hold: '4h' }, { percent: 100 }])
          .describe('The canary ladder, in order. Default 1% for 30m → 5% for 2h → 25% for 4h → 100%.'),
        check_every: duration('Interval between gate checks within a stage. A stage whose hold is not a multiple of it gets a last, shorter check at its end. A run may have at most 100,000 checks over the holds of its stages. Default 5m.').default('5m'),
      })
      .strict()
      .prefault({})
      .describe('The canary progression.'),
    gates: z
      .union([z.string().min(1), GateListSchema])
      .optional()
      .describe('The gates: a path to a gate file (relative to this scenario file) or an inline list. `--gates` overrides.'),
    expect: ExpectSchema.optional(),
  })
  .strict()
  .describe('A rehearse scenario: traffic, a candidate\'s injected regressions, non-determinism, the canary ladder and its gates.');

export type GateInput = z.input<typeof GateSchema>;
export type ScenarioFile = z.output<typeof ScenarioSchema>;
export type GateFile = z.output<typeof GateFileSchema>;
export type ExpectFile = z.output<typeof ExpectSchema>;

/** Generated JSON Schemas, keyed by the file name they are written to. */
export function jsonSchemas(): Record<string, unknown> {
  const opts = { io: 'input', target: 'draft-2020-12' } as const;
  return {
    'scenario.schema.json': { title: 'rehearse scenario', ...z.toJSONSchema(ScenarioSchema, opts) },
    'gates.schema.json': { title: 'rehearse gate file', ...z.toJSONSchema(GateFileSchema, opts) },
  };
}
