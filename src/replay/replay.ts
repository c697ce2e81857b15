import { randomUUID } from 'node:crypto';
import type { Piscina } from 'piscina';
import { IN_FLIGHT_SLOT } from './in-flight.js';
import { REACHED_SLOT, SETUP_FAULTS_SLOT, SETUP_REASON_SLOT, SETUP_STATE_SLOT, STOP_SLOT, setupStopped } from './setup-watch.js';
import type { Store } from '../store/database.js';
import { tableToIPC } from '../traces/arrow-bundle.js';
import { type ReplayRequestColumns, ReplayRequestsWriter } from '../store/replay-requests.js';
import { batchToArrowTable } from '../traces/arrow.js';
import type { TraceBatch } from '../traces/canonical.js';
import type { Trace } from '../traces/reader.js';
import type { Pacing } from './pacing.js';
import { CANDIDATE_STATUSES } from './compare.js';
import type { ReplayResult, ReplayTask } from './worker.js';
import type { TraceRates } from '../targets/stub.js';
import { TASKS_PER_WORKER, startReplayPool } from './pool.js';

const ERROR = CANDIDATE_STATUSES.indexOf('error');
const TIMEOUT = CANDIDATE_STATUSES.indexOf('timeout');

/**
 * The replay engine: trace batches stream out of DuckDB, cross to workers as Arrow IPC by
 * transfer, come back as result columns, and are appended to `replay_requests` one batch per
 * transaction. A batch is either wholly stored or not at all, so a replay killed at any point
 * resumes by skipping the rows already stored: every request ends up there exactly once.
 */

export interface ReplayOptions {
  target: string;
  pacing: Pacing;
  concurrency: number;
  workers: number;
  refusalPatterns: string[];
  schema: object | null;
  baselinePrice: { input_per_million: number; output_per_million: number } | null;
  /** Whether the trace records failures and refusals (ReplayTask.traceSays); by default, whether it has the columns. */
  traceSays?: { failure: boolean; refusal: boolean };
  /** The trace's failure and refusal rates, for a stub whose multipliers scale them (ReplayTask.traceRates). */
  traceRates?: TraceRates | null;
  /**
   * Polled: once true (Ctrl-C), no new request is sent; the requests in flight are answered and
   * stored, the rest left for `--resume`.
   */
  stopped?: () => boolean;
  /** Rows stored, per batch as it is written. */
  onResults?: (rows: number, errors: number) => void;
  /** Every 100 ms: requests answered so far (stored or not yet) and candidate errors among them. */
  onProgress?: (answered: number, errors: number) => void;
  /**
   * Which rows' input text the target needs: a stub reads it only to estimate input tokens
   * (and to make up answers to check against a schema); real targets send it.
   */
  inputText?: 'all' | 'without-input-tokens';
  /** A pool from {@link startReplayPool} with `workers` threads, left for the caller to destroy (one is started and destroyed here otherwise). */
  pool?: Piscina;
  /** Rows gathered before a commit (default 32,768); a commit also happens every 2 seconds. */
  commitRows?: number;
  /** Stop after this many answers failed in the setup and none came from the target (default SETUP_FAULTS_TO_STOP; 0 never stops). */
  setupFaultsToStop?: number;
  /** After a stop, how long answers in flight are waited for (default STOP_GRACE_MS). */
  stopGraceMs?: number;
}

export interface ReplayCounts {
  replayed: number;
  skipped: number;
  candidateErrors: number;
  interrupted: boolean;
  /** How late, at most, a paced request went out after its due time: the pace asked was not kept when this is large. */
  maxLateMs: number;
  /** Paced requests that went out more than PACE_SLACK_MS late. */
  late: number;
  /** The replay stopped because its first answers all failed in the setup (SETUP_FAULTS_TO_STOP): nothing about the candidate to judge. */
  setupFault: boolean;
}

/** A set of 1-based row numbers as one bit each: a resumed 10-million-row replay needs 1.25 MB. */
export class RowSet {
  private bits = new Uint8Array(0);
  size = 0;

  add(row: number): void {
    const byte = row >> 3;
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (row & 7);
    if ((this.bits[byte]! & mask) === 0) {
      this.bits[byte]! |= mask;
      this.size++;
    }
  }

  has(row: number): boolean {
    const byte = row >> 3;
    return byte < this.bits.length && (this.bits[byte]! & (1 << (row & 7))) !== 0;
  }
}

/** Row indices (1-based source rows) already stored for this invocation: what a resume skips. */
export async function storedRows(store: Store, invocationId: string): Promise<RowSet> {
  const rows = new RowSet();
  const result = await store.connection.stream(`SELECT row_index::INTEGER FROM replay_requests WHERE invocation_id = '${invocationId.replace(/'/g, "''")}'`);
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const v = chunk.getColumnVector(0);
    for (let i = 0; i < chunk.rowCount; i++) rows.add(v.getItem(i) as number);
  }
  // A stream DuckDB gave up on looks finished (see Trace.batches); a short set would store
  // requests twice.
  const counted = await store.connection.runAndReadAll(`SELECT count(DISTINCT row_index)::DOUBLE FROM replay_requests WHERE invocation_id = '${invocationId.replace(/'/g, "''")}'`);
  const expected = Number(counted.getRows()[0]![0]);
  if (rows.size !== expected) throw new Error(`reading the stored rows of ${invocationId} stopped after ${rows.size} of ${expected}`);
  return rows;
}

/** The rows of a batch not yet stored, as a batch of its own. */
function withoutStored(b: TraceBatch, stored: RowSet): TraceBatch | null {
  if (stored.size === 0) return b;
  const keep: number[] = [];
  for (let i = 0; i < b.length; i++) if (!stored.has(b.row[i]!)) keep.push(i);
  if (keep.length === b.length) return b;
  if (keep.length === 0) return null;
  return pickRows(b, keep);
}

/** The rows `keep` (indices, ascending) of a batch, as a batch of its own. */
function pickRows(b: TraceBatch, keep: readonly number[]): TraceBatch {
  const pick = <T>(xs: ArrayLike<T>): T[] => keep.map((i) => xs[i]!);
  return {
    length: keep.length,
    row: Float64Array.from(pick(b.row)),
    request_id: pick(b.request_id),
    timestamp: Float64Array.from(pick(b.timestamp)),
    session_id: pick(b.session_id),
    tenant: pick(b.tenant),
    route: pick(b.route),
    model: pick(b.model),
    input: pick(b.input),
    output: pick(b.output),
    input_tokens: Float64Array.from(pick(b.input_tokens)),
    output_tokens: Float64Array.from(pick(b.output_tokens)),
    latency_ms: Float64Array.from(pick(b.latency_ms)),
    ttft_ms: Float64Array.from(pick(b.ttft_ms)),
    status: pick(b.status),
    refusal: Uint8Array.from(pick(b.refusal)),
    cost_usd: Float64Array.from(pick(b.cost_usd)),
    feedback: Float64Array.from(pick(b.feedback)),
  };
}

/** The rows `keep` of a worker's result: typed arrays picked, the text table shared. */
function pickResult(r: ReplayResult, keep: readonly number[]): ReplayResult {
  const out = { ...r, length: keep.length, sent: keep.length } as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(r)) {
    if (!ArrayBuffer.isView(value)) continue;
    const from = value as unknown as { length: number; [i: number]: number };
    const Ctor = (value as unknown as { constructor: new (n: number) => typeof from }).constructor;
    const to = new Ctor(keep.length);
    for (let j = 0; j < keep.length; j++) to[j] = from[keep[j]!]!;
    out[key] = to;
  }
  return out as unknown as ReplayResult;
}

/** Indices of the rows a worker sent (a stopped worker leaves the rest unsent, for --resume). */
function sentRows(r: ReplayResult): number[] | null {
  if (r.sent === r.length) return null;
  const keep: number[] = [];
  for (let i = 0; i < r.length; i++) if (!Number.isNaN(r.sent_offset_ms[i]!)) keep.push(i);
  return keep;
}

/**
 * The default rows per batch. A batch is the unit of hand-off and of storage, so for a target
 * that waits (HTTP, a stub that really sleeps, a module) it is kept to a few rounds of its
 * requests in flight: answers then land and survive a `kill -9` every few rounds, not every few
 * thousand requests. A virtual stub answers 2,048 rows in milliseconds, and larger batches cost
 * less per row.
 */
export function defaultBatchSize(waits: boolean, concurrency: number, workers: number): number {
  if (!waits) return 2048;
  // 16 rounds: with fewer, the requests in flight thin out at each batch's end often enough to
  // cost a fast endpoint's replay ~15% (measured against serve-stub at 64 in flight).
  return Math.min(2048, Math.max(128, 16 * perTaskConcurrency(concurrency, workers)));
}

function perTaskConcurrency(concurrency: number, workers: number): number {
  return Math.max(1, Math.ceil(concurrency / (Math.max(1, workers) * TASKS_PER_WORKER)));
}

/** Shared counters between the replay and its workers (Int32 slots of `ReplayTask.control`). */
export const CONTROL = {
  stop: STOP_SLOT,
  answered: 1,
  errors: 2,
  setupFaults: SETUP_FAULTS_SLOT,
  reached: REACHED_SLOT,
  inFlight: IN_FLIGHT_SLOT,
  setupState: SETUP_STATE_SLOT,
  setupReason: SETUP_REASON_SLOT,
  slots: 8,
} as const;

/**
 * Answers that must all have failed in the setup (TargetResponse.setup_fault), for one reason and
 * with none from a model, before a replay pauses to see whether it stops (setup-watch.ts).
 */
export const SETUP_FAULTS_TO_STOP = 10;

/**
 * After a stop (Ctrl-C, a failure, the setup), how long requests in flight may still answer:
 * most answers are seconds away, and a hung endpoint must not hold the stop for its timeout.
 * Those abandoned are not stored; `--resume` sends them again.
 */
export const STOP_GRACE_MS = 3000;

/** The trace's columns a worker reads: the rest stay here and are written beside its results. */
const WORKER_COLUMNS = ['request_id', 'timestamp', 'model', 'input', 'output', 'input_tokens', 'output_tokens', 'latency_ms', 'ttft_ms', 'status', 'refusal', 'cost_usd'] as const;

/** A batch's stored form: the trace's own columns and what the worker computed. */
function requestColumns(b: TraceBatch, r: ReplayResult): ReplayRequestColumns {
  return {
    length: b.length,
    request_id: b.request_id,
    row_index: b.row,
    timestamp_ms: b.timestamp,
    session_id: b.session_id,
    tenant: b.tenant,
    route: b.route,
    model: b.model,
    input_tokens: r.input_tokens,
    baseline_latency_ms: r.baseline_latency_ms,
    candidate_latency_ms: r.candidate_latency_ms,
    baseline_ttft_ms: r.baseline_ttft_ms,
    candidate_ttft_ms: r.candidate_ttft_ms,
    baseline_output_tokens: r.baseline_output_tokens,
    candidate_output_tokens: r.candidate_output_tokens,
    candidate_input_tokens: r.candidate_input_tokens,
    baseline_cost_usd: r.baseline_cost_usd,
    candidate_cost_usd: r.candidate_cost_usd,
    baseline_status: r.baseline_failed.includes(1) ? b.status.map((st, i) => (r.baseline_failed[i] ? 'error' : st)) : b.status,
    candidate_status: { codes: r.candidate_status, texts: CANDIDATE_STATUSES },
    baseline_refusal: r.baseline_refusal,
    candidate_refusal: r.candidate_refusal,
    baseline_feedback: b.feedback,
    similarity: r.similarity,
    schema_valid: r.schema_valid,
    finish_reason: { codes: r.finish_reason, texts: r.texts },
    error: { codes: r.error, texts: r.texts },
    attempts: r.attempts,
    sent_offset_ms: r.sent_offset_ms,
    candidate_model: { codes: r.candidate_model, texts: r.texts },
  };
}

/**
 * Replays the selected rows of `trace` against the target. Batches are dispatched in trace
 * order with at most 2 per worker in flight, so memory stays bounded under backpressure.
 */
/** Whether a trace records how its requests ended: failures in a status column, refusals in it or a refusal column. */
export function traceSaysOf(trace: Trace): { failure: boolean; refusal: boolean } {
  return { failure: trace.columns.includes('status'), refusal: trace.columns.includes('refusal') };
}

/**
 * The trace's failure rate and refusal rate (among requests that did not fail) over the rows
 * selected: what a stub's multipliers scale. One pass over the trace in DuckDB.
 */
export async function traceRatesOf(trace: Trace, says = traceSaysOf(trace)): Promise<TraceRates> {
  const [row] = await trace.query(`SELECT count(*)::DOUBLE AS n,
      count(*) FILTER (WHERE status IN ('error', 'timeout'))::DOUBLE AS failed,
      count(*) FILTER (WHERE status NOT IN ('error', 'timeout') AND coalesce(refusal, false))::DOUBLE AS refused
    FROM (${trace.selectSql({ columns: 'all' })})`);
  const n = Number(row!.n), failed = Number(row!.failed), refused = Number(row!.refused);
  return {
    failed: !says.failure ? null : n > 0 ? failed / n : 0,
    refused: !says.refusal ? null : n - failed > 0 ? refused / (n - failed) : 0,
  };
}

export async function replayTrace(trace: Trace, store: Store, invocationId: string, options: ReplayOptions): Promise<ReplayCounts> {
  const traceSays = options.traceSays ?? traceSaysOf(trace);
  // Not given (an API caller): measured, when the trace records anything a stub would scale.
  const traceRates = options.traceRates !== undefined ? options.traceRates : traceSays.failure || traceSays.refusal ? await traceRatesOf(trace, traceSays) : null;
  const stored = await storedRows(store, invocationId);
  const workers = Math.max(1, options.workers);
  const pool = options.pool ?? startReplayPool(workers);
  const replay = randomUUID();
  const counts: ReplayCounts = { replayed: 0, skipped: 0, candidateErrors: 0, interrupted: false, maxLateMs: 0, late: 0, setupFault: false };
  const setupFaultsToStop = options.setupFaultsToStop ?? SETUP_FAULTS_TO_STOP;
  // Workers read the stop flag before each request (and while waiting for one's due time), and
  // count answers as they come: Ctrl-C stops within one request's time, and the progress bar
  // moves between batches.
  const control = new Int32Array(new SharedArrayBuffer(4 * CONTROL.slots));
  // The workers decide it (setup-watch.ts) and set the stop flag; this reads their verdict.
  const checkSetup = () => {
    counts.setupFault ||= setupStopped(control);
  };
  const watch = setInterval(() => {
    if (options.stopped?.()) Atomics.store(control, CONTROL.stop, 1);
    checkSetup();
    options.onProgress?.(Atomics.load(control, CONTROL.answered), Atomics.load(control, CONTROL.errors));
  }, 100);
  // The schedule starts at the first row sent: a resumed paced replay must not first wait out
  // the stretch of trace the interrupted run already covered.
  let first: number | null = stored.size === 0 ? (trace.timeSpan?.start ?? 0) : null;
  const startEpochMs = Date.now();
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  // A worker that dies outside a task (or answers one already settled) is reported on the pool:
  // a failure of the replay, not an unhandled 'error' event.
  const onPoolError = (err: unknown) => {
    failure ??= err;
    Atomics.store(control, CONTROL.stop, 1);
  };
  pool.on('error', onPoolError);
  let index = 0;
  // Stored results are appended strictly one batch at a time, in completion order.
  let writing: Promise<void> = Promise.resolve();
  const writer = new ReplayRequestsWriter(store, invocationId, { commitRows: options.commitRows });
  try {
    for await (const raw of trace.batches({ texts: { input: options.inputText ?? 'all' } })) {
      if (options.stopped?.()) {
        counts.interrupted = true;
        break;
      }
      // Not another batch read and handed out only to be left unsent.
      checkSetup();
      if (failure || counts.setupFault) break;
      const batch = withoutStored(raw, stored);
      if (!batch) {
        counts.skipped += raw.length;
        continue;
      }
      counts.skipped += raw.length - batch.length;
      // Rate pacing counts the rows sent, so stored ones leave no gaps in it.
      const indexBase = index;
      index += batch.length;
      first ??= batch.timestamp[0]!;
      const ipc = tableToIPC(batchToArrowTable(batch, WORKER_COLUMNS), 'stream');
      const task: ReplayTask = {
        ipc,
        target: options.target,
        pacing: options.pacing,
        startEpochMs,
        firstTimestampMs: first,
        indexBase,
        concurrency: options.concurrency,
        sharedInFlight: workers > 1,
        replay,
        control: control.buffer as SharedArrayBuffer,
        refusalPatterns: options.refusalPatterns,
        schema: options.schema,
        baselinePrice: options.baselinePrice,
        traceSays,
        traceRates,
        setupFaultsToStop,
        stopGraceMs: options.stopGraceMs ?? STOP_GRACE_MS,
      };
      const p: Promise<void> = (pool.run(task, { transferList: [ipc.buffer as ArrayBuffer] }) as Promise<ReplayResult>)
        .then((whole) => {
          const keep = sentRows(whole);
          // Rows a stopped worker never sent are not stored: `--resume` sends them.
          if (keep !== null) counts.interrupted = true;
          const result = keep === null ? whole : pickResult(whole, keep);
          const rows = keep === null ? batch : pickRows(batch, keep);
          writing = writing.then(async () => {
            if (result.length === 0) return;
            await writer.append(requestColumns(rows, result));
            let errors = 0;
            for (const code of result.candidate_status) if (code === ERROR || code === TIMEOUT) errors++;
            counts.replayed += result.length;
            counts.candidateErrors += errors;
            counts.maxLateMs = Math.max(counts.maxLateMs, whole.late_ms);
            counts.late += whole.late_count;
            options.onResults?.(result.length, errors);
          });
          return writing;
        })
        .catch((err) => {
          failure ??= err;
          // The other batches in flight stop sending too (what they answered is stored): under
          // --speed they could otherwise run on for a long time before the error is reported.
          Atomics.store(control, CONTROL.stop, 1);
        })
        .finally(() => {
          inFlight.delete(p);
        });
      inFlight.add(p);
      // At least 4 batches out: with one worker, 2 left the main thread waiting on each round trip.
      while (inFlight.size >= Math.max(4, 2 * TASKS_PER_WORKER * workers)) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await writing;
    checkSetup();
    options.onProgress?.(Atomics.load(control, CONTROL.answered), Atomics.load(control, CONTROL.errors));
    if (failure) throw failure;
    return counts;
  } finally {
    clearInterval(watch);
    // Leaving early (the trace failed to read): the batches out stop sending and land first, so
    // their answers are stored and the pool is not destroyed under them.
    if (inFlight.size) {
      Atomics.store(control, CONTROL.stop, 1);
      await Promise.allSettled(inFlight);
    }
    // Whatever was appended is whole batches: it is committed even when a worker failed.
    await writing.catch(() => {});
    writer.commit();
    if (!options.pool) await pool.destroy();
  }
}
