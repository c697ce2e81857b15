/**
 * The canonical trace: the one shape every trace format is read into (DESIGN.md, "Canonical
 * trace"). One row is one production request. Only `timestamp` and one of `input_tokens`,
 * `output_tokens` or `latency_ms` are required; a trace without `request_id` gets one from its row
 * number.
 *
 * In memory a trace travels as {@link TraceBatch}es: plain columnar objects, numbers in
 * Float64Arrays with NaN for null, text in string arrays with null for null. A batch converts to an
 * Apache Arrow table or IPC buffer (see ./arrow.ts) to cross to a worker thread by transfer.
 */

export const CANONICAL_COLUMNS = [
  'request_id',
  'timestamp',
  'session_id',
  'tenant',
  'route',
  'model',
  'input',
  'output',
  'input_tokens',
  'output_tokens',
  'latency_ms',
  'ttft_ms',
  'status',
  'refusal',
  'cost_usd',
  'feedback',
] as const;
export type CanonicalColumn = (typeof CANONICAL_COLUMNS)[number];

/** Free text (request_id is text too, but never null in a batch). */
export const TEXT_COLUMNS = ['session_id', 'tenant', 'route', 'model', 'input', 'output'] as const;
export type TextColumn = (typeof TEXT_COLUMNS)[number];

/** Numbers: Float64Array, NaN for null. `timestamp` is never NaN in a batch. */
export const NUMBER_COLUMNS = ['timestamp', 'input_tokens', 'output_tokens', 'latency_ms', 'ttft_ms', 'cost_usd', 'feedback'] as const;
export type NumberColumn = (typeof NUMBER_COLUMNS)[number];

/** The columns of which a trace needs at least one, besides timestamp. */
export const MEASURE_COLUMNS = ['input_tokens', 'output_tokens', 'latency_ms'] as const;

export const STATUSES = ['ok', 'error', 'timeout'] as const;
export type TraceStatus = (typeof STATUSES)[number];

export function isCanonicalColumn(name: string): name is CanonicalColumn {
  return (CANONICAL_COLUMNS as readonly string[]).includes(name);
}

/**
 * Why a row was set aside. A bad row is never fatal: it is counted, left out of the batches and
 * reported with its reason. When several apply, the first in this list is given.
 *
 * - `unreadable`: a JSONL line that is not a JSON object (cut off, malformed, an array or a
 *   number), or an object with none of the trace's fields (`{}`); its `raw` is empty
 * - `extra_fields`: a CSV row with more fields than the header (more than DuckDB's sample of the
 *   file showed), so its values are shifted: most often a comma in unquoted text, or in quoted
 *   text where the sample had no quote; `raw` shows the extra values as `extra_fields` (beyond
 *   the sample, the first of them only)
 * - `bad_timestamp`: no timestamp, or one that is neither a number (milliseconds) nor a date, or
 *   one beyond ±8.64e15 ms (a JavaScript Date's range)
 * - `bad_number`: a token, latency, ttft, cost or feedback value that is not a finite number
 * - `negative_tokens`: input_tokens or output_tokens below zero
 * - `negative_value`: latency_ms, ttft_ms or cost_usd below zero
 * - `missing_measures`: none of input_tokens, output_tokens, latency_ms
 * - `bad_status`: a status other than ok, error, timeout (any case; also success/failed/timed_out,
 *   `refusal`, and HTTP codes: 2xx ok, 408 and 504 timeout, other 4xx and 5xx error)
 * - `bad_refusal`: a refusal that is not a boolean (true/false, 1/0, yes/no)
 * - `bad_feedback`: a feedback other than −1, 0 or 1
 * - `duplicate_request_id`: a request_id already seen on an earlier row of the file
 */
export const BAD_ROW_REASONS = [
  'unreadable',
  'extra_fields',
  'bad_timestamp',
  'bad_number',
  'negative_tokens',
  'negative_value',
  'missing_measures',
  'bad_status',
  'bad_refusal',
  'bad_feedback',
  'duplicate_request_id',
] as const;
export type BadRowReason = (typeof BAD_ROW_REASONS)[number];

/** One bad row, ready for a `trace_errors` table. */
export interface TraceError {
  /**
   * 1-based row number in the source: a CSV's data row, a JSON file's record (blank lines are
   * not counted, so it can differ from the line number), an OpenTelemetry span's position.
   */
  row: number;
  /** The row's request_id (generated from the row number when the source has none). */
  request_id: string | null;
  reason: BadRowReason;
  /** The canonical column at fault, when there is one. */
  column: CanonicalColumn | null;
  /** The source row as JSON text, as read (before mapping). */
  raw: string;
}

/** A run of consecutive canonical rows (timestamp order, ties by row number), column by column. */
export interface TraceBatch {
  length: number;
  /** 1-based source row number. */
  row: Float64Array;
  request_id: string[];
  /** Milliseconds: since the epoch for dates, or as given for numeric timestamps (offsets). */
  timestamp: Float64Array;
  session_id: (string | null)[];
  tenant: (string | null)[];
  route: (string | null)[];
  model: (string | null)[];
  /** Prompt text, or chat messages as JSON text. */
  input: (string | null)[];
  output: (string | null)[];
  input_tokens: Float64Array;
  output_tokens: Float64Array;
  latency_ms: Float64Array;
  ttft_ms: Float64Array;
  status: TraceStatus[];
  /** 1 when the answer was a refusal, else 0. */
  refusal: Uint8Array;
  cost_usd: Float64Array;
  /** −1, 0, 1, or NaN when the user gave none. */
  feedback: Float64Array;
}

/** One canonical row as a plain object (null for missing values). */
export interface TraceRow {
  row: number;
  request_id: string;
  timestamp: number;
  session_id: string | null;
  tenant: string | null;
  route: string | null;
  model: string | null;
  input: string | null;
  output: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  latency_ms: number | null;
  ttft_ms: number | null;
  status: TraceStatus;
  refusal: boolean;
  cost_usd: number | null;
  feedback: number | null;
}

/** An empty batch of `n` rows: numbers NaN, text null, status ok, refusal 0. */
export function allocateBatch(n: number): TraceBatch {
  const nan = () => new Float64Array(n).fill(NaN);
  const nul = () => new Array<string | null>(n).fill(null);
  return {
    length: n,
    row: new Float64Array(n),
    request_id: new Array<string>(n).fill(''),
    timestamp: nan(),
    session_id: nul(),
    tenant: nul(),
    route: nul(),
    model: nul(),
    input: nul(),
    output: nul(),
    input_tokens: nan(),
    output_tokens: nan(),
    latency_ms: nan(),
    ttft_ms: nan(),
    status: new Array<TraceStatus>(n).fill('ok'),
    refusal: new Uint8Array(n),
    cost_usd: nan(),
    feedback: nan(),
  };
}

/** The first `n` rows of a batch, in arrays of their own (so their buffers can be transferred). */
export function truncateBatch(b: TraceBatch, n: number): TraceBatch {
  if (n === b.length) return b;
  return {
    length: n,
    row: b.row.slice(0, n),
    request_id: b.request_id.slice(0, n),
    timestamp: b.timestamp.slice(0, n),
    session_id: b.session_id.slice(0, n),
    tenant: b.tenant.slice(0, n),
    route: b.route.slice(0, n),
    model: b.model.slice(0, n),
    input: b.input.slice(0, n),
    output: b.output.slice(0, n),
    input_tokens: b.input_tokens.slice(0, n),
    output_tokens: b.output_tokens.slice(0, n),
    latency_ms: b.latency_ms.slice(0, n),
    ttft_ms: b.ttft_ms.slice(0, n),
    status: b.status.slice(0, n),
    refusal: b.refusal.slice(0, n),
    cost_usd: b.cost_usd.slice(0, n),
    feedback: b.feedback.slice(0, n),
  };
}

const num = (x: number): number | null => (Number.isNaN(x) ? null : x);

/** Row `i` of a batch as an object. */
export function batchRow(b: TraceBatch, i: number): TraceRow {
  return {
    row: b.row[i]!,
    request_id: b.request_id[i]!,
    timestamp: b.timestamp[i]!,
    session_id: b.session_id[i]!,
    tenant: b.tenant[i]!,
    route: b.route[i]!,
    model: b.model[i]!,
    input: b.input[i]!,
    output: b.output[i]!,
    input_tokens: num(b.input_tokens[i]!),
    output_tokens: num(b.output_tokens[i]!),
    latency_ms: num(b.latency_ms[i]!),
    ttft_ms: num(b.ttft_ms[i]!),
    status: b.status[i]!,
    refusal: b.refusal[i] === 1,
    cost_usd: num(b.cost_usd[i]!),
    feedback: num(b.feedback[i]!),
  };
}

/** Every row of a batch as objects (for tests and small traces; batches are the fast path). */
export function batchRows(b: TraceBatch): TraceRow[] {
  const out: TraceRow[] = [];
  for (let i = 0; i < b.length; i++) out.push(batchRow(b, i));
  return out;
}

/** The ArrayBuffers of a batch's typed arrays: the transfer list for `postMessage(batch, list)`. */
export function batchTransferList(b: TraceBatch): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const a of [b.row, b.timestamp, b.input_tokens, b.output_tokens, b.latency_ms, b.ttft_ms, b.refusal, b.cost_usd, b.feedback]) {
    buffers.add(a.buffer as ArrayBuffer);
  }
  return [...buffers];
}
