import type { Gate } from '../config/model.js';
import { CONTINUOUS_METRICS, type ContinuousMetric } from '../config/metrics.js';
import { type GateReading, readGate } from '../gates/judge.js';
import {
  ARM_COUNTS,
  BASELINE,
  CANARY,
  ERRORS,
  METRIC_WIDTH,
  N,
  OK,
  QUANTILE_PROBS,
  REFUSALS,
  THUMBS_DOWN,
  TEST_FIELDS,
  TESTS_OFFSET,
  WINDOW_WIDTH,
} from '../gates/window.js';
import { quantilesBySelection } from '../stats/quantile.js';
import { ksTwoSample, mannWhitney } from '../stats/tests.js';
import { columnValues, exactMeanSql, fixedPointExponent, maxAbsSql } from './column-values.js';
import type { Store } from '../store/database.js';

/**
 * Shadow gates: the candidate against the baseline over the replayed requests, judged by the same
 * judge as simulate. The replay's rows are summarised in DuckDB into the window-summary layout
 * (one "window": the whole replay, or one segment of it) and handed to readGate, so a shadow gate
 * and a canary gate with the same fields mean exactly the same thing.
 */

/** Where is the candidate worse? The segments every gate is also judged on. */
export const SEGMENT_KINDS = {
  route: 'route',
  tenant: 'tenant',
  input_size: `CASE WHEN input_tokens IS NULL THEN NULL
      WHEN input_tokens < 256 THEN 'input <256'
      WHEN input_tokens < 1024 THEN 'input 256-1k'
      WHEN input_tokens < 4096 THEN 'input 1k-4k'
      WHEN input_tokens < 16384 THEN 'input 4k-16k'
      ELSE 'input >=16k' END`,
} as const;

const COLUMN: Record<ContinuousMetric, [string, string]> = {
  latency_ms: ['baseline_latency_ms', 'candidate_latency_ms'],
  ttft_ms: ['baseline_ttft_ms', 'candidate_ttft_ms'],
  output_tokens: ['baseline_output_tokens', 'candidate_output_tokens'],
  input_tokens: ['input_tokens', 'coalesce(candidate_input_tokens, input_tokens)'],
  cost_usd: ['baseline_cost_usd', 'candidate_cost_usd'],
};

/** Error statuses leave latency, token and cost statistics, as in simulation. */
const BASELINE_OK = "coalesce(baseline_status, 'ok') NOT IN ('error', 'timeout')";
const CANDIDATE_OK = "candidate_status NOT IN ('error', 'timeout')";

export interface ShadowVerdict {
  gate: string;
  action: 'rollback' | 'hold';
  segmentKind: string | null;
  segment: string | null;
  requests: number;
  reading: GateReading;
}

/** Where a metric's candidate values come from, for a gate that found none. */
const MISSING_CANDIDATE: Partial<Record<string, string>> = {
  cost_usd: 'its answers carry no usage to price, or the target no prices: give `price` in a target file',
  output_tokens: 'its answers carry no usage, so no token counts',
  thumbs_down_rate: 'no user sees a shadow answer, so none rates it: the gate is for canaries',
  ttft_ms: 'time to first token is measured on streamed answers: `stream: true` in a target file',
};

/**
 * Why a shadow gate over all traffic abstained, in a release owner's words: a gate that cannot
 * judge passes nothing, and a replay that exits 0 must not read as if it had.
 */
export function abstainReason(gate: Pick<Gate, 'metric' | 'minSamples'>, reading: GateReading): string {
  if (Number.isNaN(reading.canary)) {
    const why = MISSING_CANDIDATE[gate.metric];
    return `the candidate has no ${gate.metric}${why ? ` (${why})` : ''}`;
  }
  if (Number.isNaN(reading.baseline)) return `the trace has no ${gate.metric} for the baseline`;
  if (reading.canaryN < gate.minSamples) return `${reading.canaryN.toLocaleString('en-US')} requests, fewer than its min_samples (${gate.minSamples.toLocaleString('en-US')})`;
  return 'too few values to judge';
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

async function rows(store: Store, sql: string): Promise<Record<string, unknown>[]> {
  return (await store.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

const num = (v: unknown) => (v === null || v === undefined ? NaN : Number(v));

/** The window summary of one slice of the replay: counts and every statistic a gate can read. */
async function summarise(store: Store, where: string, gates: readonly Gate[]): Promise<{ summary: Float64Array; requests: number }> {
  const s = new Float64Array(WINDOW_WIDTH).fill(NaN);
  const from = `replay_requests WHERE ${where}`;
  const [c] = await rows(
    store,
    `SELECT count(*)::DOUBLE AS n,
            count(*) FILTER (WHERE candidate_status IN ('error', 'timeout'))::DOUBLE AS c_errors,
            count(*) FILTER (WHERE ${CANDIDATE_OK} AND (candidate_status = 'refusal' OR candidate_refusal))::DOUBLE AS c_refusals,
            count(*) FILTER (WHERE coalesce(baseline_status, 'ok') IN ('error', 'timeout'))::DOUBLE AS b_errors,
            count(*) FILTER (WHERE ${BASELINE_OK} AND coalesce(baseline_refusal, false))::DOUBLE AS b_refusals,
            count(*) FILTER (WHERE ${BASELINE_OK} AND NOT coalesce(baseline_refusal, false) AND baseline_feedback = -1)::DOUBLE AS b_thumbs,
            count(baseline_feedback)::DOUBLE AS b_feedback
     FROM replay_requests WHERE ${where}`,
  );
  const n = num(c!.n);
  s[CANARY + N] = n;
  s[CANARY + ERRORS] = num(c!.c_errors);
  s[CANARY + REFUSALS] = num(c!.c_refusals);
  s[CANARY + OK] = n - num(c!.c_errors) - num(c!.c_refusals);
  // A replayed candidate gets no user feedback: its thumbs-down rate is unknown, so gates on it abstain.
  s[CANARY + THUMBS_DOWN] = NaN;
  s[BASELINE + N] = n;
  s[BASELINE + ERRORS] = num(c!.b_errors);
  s[BASELINE + REFUSALS] = num(c!.b_refusals);
  s[BASELINE + OK] = n - num(c!.b_errors) - num(c!.b_refusals);
  s[BASELINE + THUMBS_DOWN] = num(c!.b_feedback) > 0 ? num(c!.b_thumbs) : NaN;

  // The largest magnitude of every column, in one pass: the scales of the exact means below.
  const [mags] = await rows(
    store,
    `SELECT ${CONTINUOUS_METRICS.flatMap((m, k) => [`${maxAbsSql(COLUMN[m][0], BASELINE_OK)} AS b${k}`, `${maxAbsSql(COLUMN[m][1], CANDIDATE_OK)} AS c${k}`]).join(', ')} FROM ${from}`,
  );
  const exponent = (key: string) => fixedPointExponent(mags![key] === null ? null : Number(mags![key]));

  for (const metric of CONTINUOUS_METRICS) {
    const k = CONTINUOUS_METRICS.indexOf(metric);
    const [b, cand] = COLUMN[metric];
    // Means (exact, so the same in any row order) and counts in SQL; quantiles and tests from the
    // values themselves, one column at a time in a typed array (DuckDB's exact quantile holds more
    // than that at 10 million requests).
    const [q] = await rows(
      store,
      `SELECT count(${b}) FILTER (WHERE ${BASELINE_OK})::DOUBLE AS b_n, ${exactMeanSql(b, BASELINE_OK, exponent(`b${k}`))} AS b_mean,
              count(${cand}) FILTER (WHERE ${CANDIDATE_OK})::DOUBLE AS c_n, ${exactMeanSql(cand, CANDIDATE_OK, exponent(`c${k}`))} AS c_mean
       FROM ${from}`,
    );
    const needsTest = gates.some((g) => g.metric === metric && g.test && g.test.kind !== 'proportion');
    const needsQuantile = gates.some((g) => g.metric === metric && g.stat !== 'mean');
    const arms: Record<'b' | 'c', Float64Array | null> = { b: null, c: null };
    for (const [prefix, col, ok] of [['b', b, BASELINE_OK], ['c', cand, CANDIDATE_OK]] as const) {
      if (!needsTest && !needsQuantile) {
        q![`${prefix}_q`] = null;
        continue;
      }
      const values = await columnValues(store, col, `${where} AND ${ok}`);
      const out: number[] = [];
      quantilesBySelection(values, values.length, QUANTILE_PROBS, out);
      q![`${prefix}_q`] = out;
      if (needsTest) arms[prefix] = values.sort();
    }
    for (const [arm, prefix] of [[CANARY, 'c'], [BASELINE, 'b']] as const) {
      const base = arm + ARM_COUNTS.length + k * METRIC_WIDTH;
      s[base] = num(q![`${prefix}_n`]);
      s[base + 1] = num(q![`${prefix}_mean`]);
      const qs = (q![`${prefix}_q`] as number[] | null) ?? [];
      for (let i = 0; i < QUANTILE_PROBS.length; i++) s[base + 2 + i] = num(qs[i]);
    }
    // Tests need the samples themselves: only for metrics a test gate reads.
    if (needsTest) {
      const canary = arms.c!;
      const baseline = arms.b!;
      const mw = mannWhitney(canary, baseline);
      const at = TESTS_OFFSET + k * TEST_FIELDS.length;
      s[at] = mw.pIncrease;
      s[at + 1] = mw.pDecrease;
      s[at + 2] = ksTwoSample(canary, baseline).p;
    }
  }
  return { summary: s, requests: n };
}

/** Judges every gate over all traffic and over each segment of each kind. */
export async function judgeShadowGates(store: Store, invocationId: string, gates: readonly Gate[]): Promise<ShadowVerdict[]> {
  const verdicts: ShadowVerdict[] = [];
  const base = `invocation_id = ${sqlString(invocationId)}`;
  const judge = (summary: Float64Array, requests: number, segmentKind: string | null, segment: string | null) => {
    for (const gate of gates) {
      // Shadow replay has one window: the whole replay (or segment). `window` and `sustained`
      // describe a canary's passage of time, which a replay does not have.
      const reading = readGate({ ...gate, window: 'check' }, summary, 0);
      verdicts.push({ gate: gate.name, action: gate.action, segmentKind, segment, requests, reading });
    }
  };
  const all = await summarise(store, base, gates);
  judge(all.summary, all.requests, null, null);
  for (const [kind, expr] of Object.entries(SEGMENT_KINDS)) {
    const segments = await rows(store, `SELECT DISTINCT (${expr})::VARCHAR AS seg FROM replay_requests WHERE ${base} AND (${expr}) IS NOT NULL ORDER BY 1 LIMIT 200`);
    if (segments.length < 2) continue; // one segment is all traffic again
    for (const { seg } of segments) {
      const where = `${base} AND (${expr})::VARCHAR = ${sqlString(String(seg))}`;
      const part = await summarise(store, where, gates);
      judge(part.summary, part.requests, kind, String(seg));
    }
  }
  return verdicts;
}

export async function writeShadowVerdicts(store: Store, invocationId: string, verdicts: readonly ShadowVerdict[]): Promise<void> {
  const a = await store.appender('replay_gates');
  const nullable = (x: number) => (Number.isFinite(x) ? a.appendDouble(x) : a.appendNull());
  for (const v of verdicts) {
    a.appendVarchar(invocationId);
    a.appendVarchar(v.gate);
    if (v.segmentKind === null) a.appendNull();
    else a.appendVarchar(v.segmentKind);
    if (v.segment === null) a.appendNull();
    else a.appendVarchar(v.segment);
    a.appendBigInt(BigInt(v.requests));
    nullable(v.reading.baseline);
    nullable(v.reading.canary);
    nullable(v.reading.p);
    if (v.reading.verdict === 'abstain') a.appendNull();
    else a.appendBoolean(v.reading.verdict === 'breach');
    a.appendVarchar(v.action);
    a.endRow();
  }
  a.flushSync();
  a.closeSync();
}
