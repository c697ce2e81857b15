import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { Target, TargetRequest, TargetResponse } from '../targets/target.js';
import { loadTarget } from '../targets/target.js';
import { StubTarget } from '../targets/stub.js';
import { batchFromArrow } from '../traces/arrow.js';
import type { TraceBatch } from '../traces/canonical.js';
import { OutputSchema, costOf, isRefusal, refusalDetector, similarity } from './compare.js';
import { type Pacing, dueOffsetMs } from './pacing.js';

/**
 * A replay worker: takes a batch of trace rows (Arrow IPC, transferred), sends each to the
 * candidate at its due time with at most `concurrency` in flight, compares the answer with the
 * baseline the trace recorded, and hands back the result columns (typed arrays transferred).
 */

export interface ReplayTask {
  ipc: Uint8Array;
  target: string;
  pacing: Pacing;
  /** Date.now() at the start of the replay: every worker paces from the same instant. */
  startEpochMs: number;
  firstTimestampMs: number;
  /** Position, in replay order, of the batch's first row (rate pacing counts requests). */
  indexBase: number;
  concurrency: number;
  refusalPatterns: string[];
  schema: object | null;
  /** Prices for the baseline's cost when the trace has none. */
  baselinePrice: { input_per_million: number; output_per_million: number } | null;
}

export interface ReplayResult {
  length: number;
  request_id: string[];
  row_index: Float64Array;
  timestamp_ms: Float64Array;
  session_id: (string | null)[];
  tenant: (string | null)[];
  route: (string | null)[];
  model: (string | null)[];
  input_tokens: Float64Array;
  baseline_latency_ms: Float64Array;
  candidate_latency_ms: Float64Array;
  baseline_ttft_ms: Float64Array;
  candidate_ttft_ms: Float64Array;
  baseline_output_tokens: Float64Array;
  candidate_output_tokens: Float64Array;
  candidate_input_tokens: Float64Array;
  baseline_cost_usd: Float64Array;
  candidate_cost_usd: Float64Array;
  baseline_status: string[];
  candidate_status: string[];
  baseline_refusal: Uint8Array;
  candidate_refusal: Uint8Array;
  baseline_feedback: Float64Array;
  similarity: Float64Array;
  /** 1 valid, 0 invalid, 255 no schema. */
  schema_valid: Uint8Array;
  finish_reason: (string | null)[];
  error: (string | null)[];
  attempts: Float64Array;
  sent_offset_ms: Float64Array;
}

const targets = new Map<string, Promise<{ candidate: Target; baseline: Target | null }>>();

/**
 * The candidate, and for a stub the same stub with every regression at 1: it answers for the
 * baseline where the trace is silent (a token-only trace has no latency), from the same draws.
 */
function targetsFor(spec: string): Promise<{ candidate: Target; baseline: Target | null }> {
  let t = targets.get(spec);
  if (!t) {
    t = loadTarget(spec).then((candidate) => {
      if (!(candidate instanceof StubTarget)) return { candidate, baseline: null };
      const ones = { latency: 1, latency_tail: 1, output_length: 1, price: 1, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 };
      const config = { ...candidate.config, candidate: ones, inject: 'virtual' as const };
      return { candidate, baseline: new StubTarget(config, { label: `${candidate.label} (baseline)`, source: candidate.source }) };
    });
    targets.set(spec, t);
  }
  return t;
}

function allocate(b: TraceBatch): ReplayResult {
  const n = b.length;
  const f = () => new Float64Array(n).fill(NaN);
  return {
    length: n,
    request_id: b.request_id,
    row_index: b.row,
    timestamp_ms: b.timestamp,
    session_id: b.session_id,
    tenant: b.tenant,
    route: b.route,
    model: b.model,
    input_tokens: b.input_tokens,
    baseline_latency_ms: b.latency_ms,
    candidate_latency_ms: f(),
    baseline_ttft_ms: b.ttft_ms,
    candidate_ttft_ms: f(),
    baseline_output_tokens: b.output_tokens,
    candidate_output_tokens: f(),
    candidate_input_tokens: f(),
    baseline_cost_usd: b.cost_usd,
    candidate_cost_usd: f(),
    baseline_status: b.status.slice(),
    candidate_status: new Array<string>(n).fill('error'),
    baseline_refusal: b.refusal,
    candidate_refusal: new Uint8Array(n),
    baseline_feedback: b.feedback,
    similarity: f(),
    schema_valid: new Uint8Array(n).fill(255),
    finish_reason: new Array<string | null>(n).fill(null),
    error: new Array<string | null>(n).fill(null),
    attempts: f(),
    sent_offset_ms: f(),
  };
}

const nullable = (x: number) => (Number.isNaN(x) ? null : x);

function sleepUntil(epochMs: number): Promise<void> {
  const wait = epochMs - Date.now();
  return wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : Promise.resolve();
}

export default async function replayTask(task: ReplayTask): Promise<unknown> {
  const batch = batchFromArrow(task.ipc);
  const out = allocate(batch);
  const { candidate, baseline } = await targetsFor(task.target);
  const detector = refusalDetector(task.refusalPatterns);
  const schema = task.schema ? new OutputSchema(task.schema) : null;

  const one = async (i: number): Promise<void> => {
    const req: TargetRequest = {
      request_id: batch.request_id[i]!,
      timestamp_ms: batch.timestamp[i]!,
      input: batch.input[i] ?? null,
      input_tokens: nullable(batch.input_tokens[i]!),
      output_tokens: nullable(batch.output_tokens[i]!),
      latency_ms: nullable(batch.latency_ms[i]!),
      model: batch.model[i] ?? null,
    };
    const due = task.startEpochMs + dueOffsetMs(task.pacing, task.indexBase + i, batch.timestamp[i]!, task.firstTimestampMs);
    await sleepUntil(due);
    out.sent_offset_ms[i] = Date.now() - task.startEpochMs;
    const res: TargetResponse = await candidate.call(req);
    out.candidate_latency_ms[i] = res.latency_ms;
    out.candidate_ttft_ms[i] = res.ttft_ms ?? NaN;
    out.candidate_output_tokens[i] = res.output_tokens ?? NaN;
    out.candidate_input_tokens[i] = res.input_tokens ?? NaN;
    out.candidate_cost_usd[i] = res.cost_usd ?? NaN;
    out.finish_reason[i] = res.finish_reason;
    out.error[i] = res.error;
    out.attempts[i] = res.attempts;
    const refused = res.status === 'refusal' || (res.status === 'ok' && isRefusal(detector, res.output, res.finish_reason));
    out.candidate_status[i] = refused ? 'refusal' : res.status;
    out.candidate_refusal[i] = refused ? 1 : 0;
    if (batch.refusal[i] === 0 && batch.output[i]) out.baseline_refusal[i] = isRefusal(detector, batch.output[i]!, null) ? 1 : 0;
    if (res.output !== null && batch.output[i]) out.similarity[i] = similarity(batch.output[i]!, res.output);
    if (schema && res.status === 'ok') out.schema_valid[i] = schema.check(res.output) ? 1 : 0;

    // Where the trace is silent, the baseline stub answers for the baseline from the same draws.
    const traceHasCost = !Number.isNaN(out.baseline_cost_usd[i]!);
    if (baseline && (traceHasCost || Number.isNaN(out.baseline_latency_ms[i]!) || Number.isNaN(out.baseline_output_tokens[i]!))) {
      const b = await baseline.call(req);
      // A trace that records its own cost was priced by its own provider, not by the stub's
      // prices: the candidate's cost is the trace's, scaled as the stub's prices and tokens change.
      if (traceHasCost && b.cost_usd !== null && b.cost_usd > 0 && res.cost_usd !== null) {
        out.candidate_cost_usd[i] = out.baseline_cost_usd[i]! * (res.cost_usd / b.cost_usd);
      }
      if (Number.isNaN(out.baseline_latency_ms[i]!) && b.status !== 'error') out.baseline_latency_ms[i] = b.latency_ms;
      if (Number.isNaN(out.baseline_ttft_ms[i]!) && b.ttft_ms !== null) out.baseline_ttft_ms[i] = b.ttft_ms;
      if (Number.isNaN(out.baseline_output_tokens[i]!) && b.output_tokens !== null) out.baseline_output_tokens[i] = b.output_tokens;
      if (Number.isNaN(out.input_tokens[i]!) && b.input_tokens !== null) out.input_tokens[i] = b.input_tokens;
    }
    if (Number.isNaN(out.baseline_cost_usd[i]!)) {
      const price = task.baselinePrice ?? (candidate instanceof StubTarget ? candidate.config.price : null);
      if (price) out.baseline_cost_usd[i] = costOf(nullable(out.input_tokens[i]!), nullable(out.baseline_output_tokens[i]!), price.input_per_million, price.output_per_million) ?? NaN;
    }
  };

  // `concurrency` loops pull row indices in order: at most that many requests in flight.
  let next = 0;
  const loops = Array.from({ length: Math.max(1, Math.min(task.concurrency, batch.length)) }, async () => {
    while (next < batch.length) await one(next++);
  });
  await Promise.all(loops);

  const buffers = Object.values(out)
    .filter((v): v is Float64Array | Uint8Array => v instanceof Float64Array || v instanceof Uint8Array)
    .map((v) => v.buffer as ArrayBuffer);
  return move({
    get [transferableSymbol]() {
      return [...new Set(buffers)];
    },
    get [valueSymbol]() {
      return out;
    },
  } as unknown as ArrayBuffer);
}
