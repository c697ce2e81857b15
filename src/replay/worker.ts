import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import type { Target, TargetRequest, TargetResponse } from '../targets/target.js';
import { loadTarget } from '../targets/target.js';
import { StubTarget, type TraceRates } from '../targets/stub.js';
import { batchFromArrow } from '../traces/arrow.js';
import type { TraceBatch } from '../traces/canonical.js';
import { CANDIDATE_STATUSES, OutputSchema, costOf, isRefusal, refusalDetector, similarity } from './compare.js';
import { InFlight } from './in-flight.js';
import { maySendNow, mayStillSend, noteAnswer, noteReached, setupStopped } from './setup-watch.js';
import { PACE_SLACK_MS, type Pacing, dueOffsetMs } from './pacing.js';

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
  /** Requests in flight at most over the whole replay (`--concurrency`), counted in the control slots. */
  concurrency: number;
  /** Whether other workers send for this replay too (they share the count of requests in flight). */
  sharedInFlight: boolean;
  /** Names the replay: the tasks of one replay in a worker wait for slots in one queue. */
  replay: string;
  /** Int32 slots shared with the replay (CONTROL in replay.ts): the stop flag, answers and errors so far, and how many answers failed in the setup or came from the target. */
  control: SharedArrayBuffer;
  refusalPatterns: string[];
  schema: object | null;
  /** Prices for the baseline's cost when the trace has none. */
  baselinePrice: { input_per_million: number; output_per_million: number } | null;
  /** Stop sending once this many answers failed in the setup and none came from the target (0: never). */
  setupFaultsToStop: number;
  /** After a stop, how long the requests in flight may still answer before they are abandoned, unsent. */
  stopGraceMs: number;
  /** Whether the trace records failures (a status column) and refusals (a status or refusal column). */
  traceSays: { failure: boolean; refusal: boolean };
  /** The trace's failure and refusal rates over the rows replayed, for a stub whose multipliers scale them (null: not needed). */
  traceRates: TraceRates | null;
}

/**
 * What a worker computed for a batch, column by column: the candidate's side, the comparison, and
 * the baseline's values where the trace was silent and a stub answered for it. The trace's own
 * columns stay with the main thread, which sent them and writes them beside these.
 */
export interface ReplayResult {
  length: number;
  /** Rows sent (all but those a stop left unsent, whose sent_offset_ms is NaN). */
  sent: number;
  candidate_latency_ms: Float64Array;
  candidate_ttft_ms: Float64Array;
  candidate_output_tokens: Float64Array;
  candidate_input_tokens: Float64Array;
  candidate_cost_usd: Float64Array;
  /** Index in CANDIDATE_STATUSES (compare.ts). */
  candidate_status: Uint8Array;
  candidate_refusal: Uint8Array;
  baseline_refusal: Uint8Array;
  /** 1 where the trace has no status and the baseline stub's draw failed the request (stored as an error). */
  baseline_failed: Uint8Array;
  /** The trace's values, filled in by the baseline stub where they were missing. */
  input_tokens: Float64Array;
  baseline_latency_ms: Float64Array;
  baseline_ttft_ms: Float64Array;
  baseline_output_tokens: Float64Array;
  baseline_cost_usd: Float64Array;
  similarity: Float64Array;
  /** 1 valid, 0 invalid, 255 no schema. */
  schema_valid: Uint8Array;
  /** Index into `texts`, 0 for null: finish reasons and errors repeat, so they travel as codes. */
  finish_reason: Uint16Array;
  error: Uint16Array;
  /** The model that answered (TargetResponse.model; a stub's own), as a code into `texts`. */
  candidate_model: Uint16Array;
  texts: (string | null)[];
  attempts: Float64Array;
  sent_offset_ms: Float64Array;
  /** How late, at most, a request of the batch went out after its due time (paced replays; 0 at --max). */
  late_ms: number;
  /** Requests of the batch that went out more than PACE_SLACK_MS after their due time. */
  late_count: number;
}

const STATUS_CODE: Record<string, number> = Object.fromEntries(CANDIDATE_STATUSES.map((s, i) => [s, i]));

/** Interns strings as small codes for the trip back; code 0 is null. */
class TextCodes {
  readonly texts: (string | null)[] = [null];
  private readonly codes = new Map<string, number>();

  code(s: string | null): number {
    if (s === null) return 0;
    let c = this.codes.get(s);
    if (c === undefined) {
      c = this.texts.length;
      // Past 65,535 distinct texts (errors quoting unique bodies) the rest share the last code's
      // neighbour: better a generic reason than a wrapped-around wrong one.
      if (c > 0xfffe) return this.code('(error text omitted: too many distinct errors in one batch)');
      this.texts.push(s);
      this.codes.set(s, c);
    }
    return c;
  }
}

const targets = new Map<string, Promise<{ candidate: Target; baseline: StubTarget | null }>>();

/** Each replay's count of requests in flight, as this worker takes and gives its slots. */
const inFlights = new Map<string, InFlight>();
function inFlightFor(task: ReplayTask, control: Int32Array): InFlight {
  let f = inFlights.get(task.replay);
  if (!f) {
    // Kept for the thread's life: a pool outlives a replay only when a caller passes one in, and
    // dropping an entry while its replay ran on would split its count in two.
    f = new InFlight(control, task.concurrency, task.sharedInFlight);
    inFlights.set(task.replay, f);
  }
  return f;
}

/**
 * The candidate, and for a stub the same stub with every regression at 1: it answers for the
 * baseline where the trace is silent (a token-only trace has no latency), from the same draws.
 */
function targetsFor(spec: string): Promise<{ candidate: Target; baseline: StubTarget | null }> {
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

// The pool names the target when it starts (pool.ts): loading it now overlaps the main thread's
// opening of the trace. A failure is not reported here: the first task awaits the same promise
// (and the main thread checked the target before sending any).
const preload = (workerData as { target?: string | null } | undefined)?.target;
if (typeof preload === 'string') targetsFor(preload).catch(() => undefined);

function allocate(b: TraceBatch): ReplayResult {
  const n = b.length;
  const f = () => new Float64Array(n).fill(NaN);
  return {
    length: n,
    sent: 0,
    candidate_latency_ms: f(),
    candidate_ttft_ms: f(),
    candidate_output_tokens: f(),
    candidate_input_tokens: f(),
    candidate_cost_usd: f(),
    candidate_status: new Uint8Array(n).fill(STATUS_CODE.error!),
    candidate_refusal: new Uint8Array(n),
    baseline_refusal: b.refusal,
    baseline_failed: new Uint8Array(n),
    input_tokens: b.input_tokens,
    baseline_latency_ms: b.latency_ms,
    baseline_ttft_ms: b.ttft_ms,
    baseline_output_tokens: b.output_tokens,
    baseline_cost_usd: b.cost_usd,
    similarity: f(),
    schema_valid: new Uint8Array(n).fill(255),
    finish_reason: new Uint16Array(n),
    error: new Uint16Array(n),
    candidate_model: new Uint16Array(n),
    texts: [],
    attempts: f(),
    sent_offset_ms: f(),
    late_ms: 0,
    late_count: 0,
  };
}

const nullable = (x: number) => (Number.isNaN(x) ? null : x);

// Slots of ReplayTask.control (CONTROL in replay.ts, not imported: the worker loads no pool code).
const STOP = 0, ANSWERED = 1, ERRORS = 2;
/** Longest sleep between looks at the stop flag while a request waits for its due time. */
const STOP_POLL_MS = 200;

/** Waits until `epochMs`; false, early, once `stopped()` (a paced request due in an hour must not hold up Ctrl-C). */
async function sleepUntil(epochMs: number, stopped: () => boolean): Promise<boolean> {
  for (;;) {
    if (stopped()) return false;
    const wait = epochMs - Date.now();
    if (wait <= 0) return true;
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, STOP_POLL_MS)));
  }
}

export default async function replayTask(task: ReplayTask): Promise<unknown> {
  const batch = batchFromArrow(task.ipc);
  const out = allocate(batch);
  const { candidate, baseline } = await targetsFor(task.target);
  const detector = refusalDetector(task.refusalPatterns);
  const schema = task.schema ? await OutputSchema.compile(task.schema) : null;
  const texts = new TextCodes();
  const price = task.baselinePrice ?? (candidate instanceof StubTarget ? candidate.config.price : null);
  const control = new Int32Array(task.control);
  // A stop on the setup (setup-watch.ts) is seen here at once, not a watch interval later.
  const stopped = () => Atomics.load(control, STOP) !== 0 || setupStopped(control);
  const failed = (i: number) => out.candidate_status[i] === STATUS_CODE.error || out.candidate_status[i] === STATUS_CODE.timeout;

  // A request that failed in production recorded how long the failure took (a 30 s timeout, a
  // 200 ms error) and no answer's tokens: not a latency or a length for the target to reproduce.
  // Without them a stub draws its own, as for a trace that has none (scaling a timeout into an
  // "ok" answer of 30 s made a stub without a latency regression breach a p99 gate), and an HTTP
  // request gets no max_tokens from an answer that never came.
  const answered = (i: number) => batch.status[i] === 'ok';
  // A stub repeats how the baseline's request ended (the trace's status and refusal, or the
  // detector's reading of its answer), and scales those rates by its multipliers. Other targets
  // get only what a request carries: the baseline's outcome is not theirs to see.
  const isStub = candidate instanceof StubTarget;
  const stubModel = candidate instanceof StubTarget ? candidate.config.model : null;
  if (isStub) candidate.model.traceRates = task.traceRates;
  // The baseline's answer as the detector reads it (null: no text), read once per row: the row
  // stores it where the trace's flag is not set, and a stub repeats it where the trace has no
  // refusal column.
  const textReads = new Int8Array(batch.length).fill(-2);
  const textRefused = (i: number): boolean | null => {
    let r = textReads[i]!;
    if (r === -2) {
      const text = batch.output[i];
      r = text ? (isRefusal(detector, text, null) ? 1 : 0) : -1;
      textReads[i] = r;
    }
    return r < 0 ? null : r === 1;
  };
  const refusedOf = (i: number): boolean | null => (task.traceSays.refusal ? batch.refusal[i] === 1 : textRefused(i));
  const requestOf = (i: number): TargetRequest => {
    const req: TargetRequest = {
      request_id: batch.request_id[i]!,
      timestamp_ms: batch.timestamp[i]!,
      input: batch.input[i] ?? null,
      input_tokens: nullable(batch.input_tokens[i]!),
      output_tokens: answered(i) ? nullable(batch.output_tokens[i]!) : null,
      latency_ms: answered(i) ? nullable(batch.latency_ms[i]!) : null,
      model: batch.model[i] ?? null,
    };
    if (isStub) {
      req.ttft_ms = answered(i) ? nullable(batch.ttft_ms[i]!) : null;
      req.failure = task.traceSays.failure ? (batch.status[i] as 'ok' | 'error' | 'timeout') : null;
      req.refused = refusedOf(i);
    }
    return req;
  };
  // A stub's made-up words are not an answer: comparing them with the baseline's text would
  // report noise as a change, so a stub answers with text only when a schema is to be checked
  // (its refusals keep their text). Real targets always return theirs.
  const stubText = schema !== null;

  const record = (i: number, req: TargetRequest, res: TargetResponse): void => {
    out.candidate_latency_ms[i] = res.latency_ms;
    out.candidate_ttft_ms[i] = res.ttft_ms ?? NaN;
    out.candidate_output_tokens[i] = res.output_tokens ?? NaN;
    out.candidate_input_tokens[i] = res.input_tokens ?? NaN;
    out.candidate_cost_usd[i] = res.cost_usd ?? NaN;
    out.finish_reason[i] = texts.code(res.finish_reason);
    out.error[i] = texts.code(res.error);
    out.candidate_model[i] = texts.code(res.model ?? stubModel);
    out.attempts[i] = res.attempts;
    const refused = res.status === 'refusal' || (res.status === 'ok' && isRefusal(detector, res.output, res.finish_reason));
    out.candidate_status[i] = refused ? STATUS_CODE.refusal! : STATUS_CODE[res.status]!;
    out.candidate_refusal[i] = refused ? 1 : 0;
    const baselineText = batch.output[i];
    if (batch.refusal[i] === 0 && baselineText) out.baseline_refusal[i] = textRefused(i) ? 1 : 0;
    if (res.output !== null && baselineText) out.similarity[i] = similarity(baselineText, res.output);
    if (schema && res.status === 'ok') out.schema_valid[i] = schema.check(res.output) ? 1 : 0;

    // Where the trace is silent, the baseline stub answers for the baseline from the same draws.
    const traceHasCost = !Number.isNaN(out.baseline_cost_usd[i]!);
    // Refusals the trace does not record but its text shows are the detector's (above).
    const refusalUnknown = !task.traceSays.refusal && !baselineText;
    if (baseline && (traceHasCost || !task.traceSays.failure || refusalUnknown || Number.isNaN(out.baseline_latency_ms[i]!) || Number.isNaN(out.baseline_output_tokens[i]!))) {
      const b = baseline.model.answer(req, false);
      // How the baseline's request ended, where the trace does not say: the same draw as the
      // candidate's (statusOf), so an unchanged stub matches the baseline request by request.
      if (!task.traceSays.failure && (b.status === 'error' || b.status === 'timeout')) {
        // A failure drawn for the baseline has no answer: none of the trace's tokens or cost, and
        // the failure's own time, as the candidate's.
        out.baseline_failed[i] = 1;
        out.baseline_output_tokens[i] = NaN;
        out.baseline_ttft_ms[i] = NaN;
        out.baseline_cost_usd[i] = NaN;
        out.baseline_latency_ms[i] = b.latency_ms;
      }
      if (refusalUnknown) out.baseline_refusal[i] = b.status === 'refusal' ? 1 : 0;
      if (refusalUnknown && b.status === 'refusal' && !traceHasCost) {
        // A refusal drawn for the baseline is a refusal's short answer, not the one the trace
        // measured: its length and time are the baseline stub's, as the candidate's are.
        out.baseline_output_tokens[i] = b.output_tokens ?? NaN;
        out.baseline_latency_ms[i] = b.latency_ms;
        out.baseline_ttft_ms[i] = b.ttft_ms ?? NaN;
      }
      // A trace that records its own cost was priced by its own provider, not by the stub's
      // prices: the candidate's cost is the trace's, scaled as the stub's prices and tokens change.
      if (traceHasCost && b.cost_usd !== null && b.cost_usd > 0 && res.cost_usd !== null) {
        out.candidate_cost_usd[i] = out.baseline_cost_usd[i]! * (res.cost_usd / b.cost_usd);
      }
      // A failure's latency (the stub's or the trace's repeated) is not an answer's.
      if (Number.isNaN(out.baseline_latency_ms[i]!) && (b.status === 'ok' || b.status === 'refusal')) out.baseline_latency_ms[i] = b.latency_ms;
      if (Number.isNaN(out.baseline_ttft_ms[i]!) && b.ttft_ms !== null) out.baseline_ttft_ms[i] = b.ttft_ms;
      if (Number.isNaN(out.baseline_output_tokens[i]!) && b.output_tokens !== null) out.baseline_output_tokens[i] = b.output_tokens;
      if (Number.isNaN(out.input_tokens[i]!) && b.input_tokens !== null) out.input_tokens[i] = b.input_tokens;
    }
    if (Number.isNaN(out.baseline_cost_usd[i]!) && price) {
      out.baseline_cost_usd[i] = costOf(nullable(out.input_tokens[i]!), nullable(out.baseline_output_tokens[i]!), price.input_per_million, price.output_per_million) ?? NaN;
    }
    // A failure the trace records and the stub repeats costs what the baseline's did (the trace's
    // own cost, or its tokens priced), at the stub's price: a failed request may still be billed
    // for its input. Left unpriced, "cost, all requests" fell by the failures' cost on the candidate's side only.
    if (isStub && task.traceSays.failure && batch.status[i] !== 'ok' && failed(i) && !Number.isNaN(out.baseline_cost_usd[i]!)) {
      out.candidate_cost_usd[i] = out.baseline_cost_usd[i]! * candidate.config.candidate.price;
    }
  };

  if (candidate instanceof StubTarget && candidate.config.inject === 'virtual' && task.pacing.kind === 'max') {
    // A virtual stub as fast as possible waits for nothing: one plain loop, no promise per request.
    // (A batch takes milliseconds: a stop lands between batches.)
    const sent = Date.now() - task.startEpochMs;
    let errors = 0;
    for (let i = 0; i < batch.length; i++) {
      const req = requestOf(i);
      out.sent_offset_ms[i] = sent;
      record(i, req, candidate.model.answer(req, stubText));
      if (failed(i)) errors++;
    }
    out.sent = batch.length;
    Atomics.add(control, ANSWERED, batch.length);
    Atomics.add(control, ERRORS, errors);
    noteReached(control, batch.length);
  } else {
    const one = async (i: number): Promise<void> => {
      const req = requestOf(i);
      const due = task.startEpochMs + dueOffsetMs(task.pacing, task.indexBase + i, batch.timestamp[i]!, task.firstTimestampMs);
      // Each step awaits only when it has to wait: at --max, a promise per step was a measurable
      // share of a request's CPU.
      if (stopped()) return;
      if (due > Date.now() && !(await sleepUntil(due, stopped))) return;
      const may = maySendNow(control);
      if (may === false || (may === null && !(await mayStillSend(control)))) return;
      if (!inFlight.tryTake() && !(await inFlight.take(stopped))) return;
      try {
        await send(i, req, due);
      } finally {
        inFlight.give();
      }
    };
    const send = async (i: number, req: TargetRequest, due: number): Promise<void> => {
      const now = Date.now();
      out.sent_offset_ms[i] = now - task.startEpochMs;
      // At --max every request is due at once: lateness there is only the wait for a slot.
      if (task.pacing.kind !== 'max') {
        if (now - due > out.late_ms) out.late_ms = now - due;
        if (now - due > PACE_SLACK_MS) out.late_count++;
      }
      out.sent++;
      // Raced, not aborted: an AbortSignal listener per request cost ~20 µs of a replay's ~150.
      // The abandoned call runs on to its own timeout, unheard, until the pool ends the thread.
      const res = await Promise.race([candidate instanceof StubTarget ? candidate.call(req, undefined, stubText) : candidate.call(req), abandoned]);
      if (res === null) {
        // Abandoned at a stop: not an answer, and unsent, so `--resume` sends it again.
        out.sent_offset_ms[i] = NaN;
        out.sent--;
        return;
      }
      record(i, req, res);
      Atomics.add(control, ANSWERED, 1);
      if (failed(i)) Atomics.add(control, ERRORS, 1);
      noteAnswer(control, res.setup_fault === true, res.error, task.setupFaultsToStop);
    };
    // Loops pull row indices in order, and each due request waits for a slot of the replay's
    // `concurrency` (every task and worker counts in the same slots). After a stop none is sent;
    // those in flight are answered and kept, for `stopGraceMs`: then they are abandoned, unsent
    // (a hung endpoint held Ctrl-C for its whole timeout, a minute by default).
    const inFlight = inFlightFor(task, control);
    let abandon!: (none: null) => void;
    const abandoned = new Promise<null>((resolve) => (abandon = resolve));
    let stopSeenAt = 0;
    const watch = setInterval(
      () => {
        if (!stopped()) return;
        stopSeenAt ||= Date.now();
        if (Date.now() - stopSeenAt >= task.stopGraceMs) abandon(null);
      },
      Math.min(STOP_POLL_MS, Math.max(10, task.stopGraceMs / 4)),
    );
    let next = 0;
    const loops = Array.from({ length: Math.max(1, Math.min(task.concurrency, batch.length)) }, async () => {
      while (next < batch.length && !stopped()) await one(next++);
    });
    try {
      await Promise.all(loops);
    } finally {
      clearInterval(watch);
    }
  }
  out.texts = texts.texts;

  const buffers = Object.values(out)
    .filter((v): v is Float64Array | Uint8Array | Uint16Array => ArrayBuffer.isView(v))
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
