import {
  Float64,
  type RecordBatch,
  Table,
  Uint8,
  Utf8,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  type Vector,
} from './arrow-bundle.js';
import { CANONICAL_COLUMNS, NUMBER_COLUMNS, TEXT_COLUMNS, type TraceBatch, type TraceStatus } from './canonical.js';

/**
 * A {@link TraceBatch} as Apache Arrow: the columnar currency between threads and files
 * (DESIGN.md, "Data flow"). Numbers are Float64 (NaN for null, as in the batch, so a column comes
 * back as a Float64Array view without copying), text Utf8 with nulls, `refusal` Uint8 (0/1),
 * `status` Utf8, `row` Float64 (1-based source row).
 */
export const ARROW_COLUMN_ORDER = ['row', ...CANONICAL_COLUMNS] as const;

/**
 * The batch as an Arrow table; `columns` picks (and orders) the columns, every one by default.
 * With every column, the table holds exactly one record batch.
 */
export function batchToArrowTable(b: TraceBatch, columns: readonly (typeof ARROW_COLUMN_ORDER)[number][] = ARROW_COLUMN_ORDER): Table {
  const cols: Record<string, Vector> = {};
  for (const name of columns) {
    if (name === 'row' || (NUMBER_COLUMNS as readonly string[]).includes(name)) {
      cols[name] = makeVector(b[name as 'row'] as Float64Array);
    } else if (name === 'refusal') {
      cols[name] = makeVector(b.refusal);
    } else {
      cols[name] = utf8Vector(b[name as 'request_id'] as (string | null)[]);
    }
  }
  return new Table(cols);
}

/**
 * Text as an Arrow Utf8 vector, encoded in one pass: the strings joined and encoded at once,
 * offsets from each one's UTF-8 length. Arrow's builder encodes and grows string by string, which
 * made it the costliest step of handing a batch to a worker.
 */
export function utf8Vector(strings: readonly (string | null)[]): Vector<Utf8> {
  const n = strings.length;
  const offsets = new Int32Array(n + 1);
  let nulls = 0;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const s = strings[i];
    if (s === null || s === undefined) nulls++;
    else at += Buffer.byteLength(s, 'utf8');
    offsets[i + 1] = at;
  }
  let nullBitmap: Uint8Array | undefined;
  if (nulls > 0) {
    nullBitmap = new Uint8Array((n + 7) >> 3);
    for (let i = 0; i < n; i++) if (strings[i] !== null && strings[i] !== undefined) nullBitmap[i >> 3]! |= 1 << (i & 7);
  }
  const joined = Buffer.from(nulls > 0 ? strings.map((s) => s ?? '').join('') : (strings as string[]).join(''), 'utf8');
  // A lone surrogate encodes to 3 bytes in both passes, so the lengths always add up; checked anyway.
  if (joined.length !== at) throw new Error(`utf8Vector: ${joined.length} bytes encoded, ${at} counted (internal error)`);
  const data = new Uint8Array(joined.buffer, joined.byteOffset, joined.length);
  return makeVector(makeData({ type: new Utf8(), length: n, nullCount: nulls, nullBitmap, valueOffsets: offsets, data }));
}

/** The batch as one Arrow RecordBatch. */
export function batchToRecordBatch(b: TraceBatch): RecordBatch {
  const t = batchToArrowTable(b);
  if (t.batches.length !== 1) throw new Error(`expected one record batch, got ${t.batches.length}`);
  return t.batches[0]!;
}

/** The batch as an Arrow IPC stream; transfer it with `postMessage(ipc, [ipc.buffer])`. */
export function batchToIPC(b: TraceBatch): Uint8Array {
  return tableToIPC(batchToArrowTable(b), 'stream');
}

/** Back from Arrow (a table, a record batch or IPC bytes) to a plain batch. */
export function batchFromArrow(source: Table | RecordBatch | Uint8Array): TraceBatch {
  const table = source instanceof Uint8Array ? tableFromIPC(source) : source instanceof Table ? source : new Table([source]);
  const n = table.numRows;
  const f64 = (name: string): Float64Array => {
    const v = table.getChild(name);
    if (!v) return new Float64Array(n).fill(NaN);
    if (v.type instanceof Float64 && v.nullCount === 0) return v.toArray() as Float64Array;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const x = v.get(i);
      out[i] = x === null || x === undefined ? NaN : Number(x);
    }
    return out;
  };
  const text = (name: string): (string | null)[] => {
    const v = table.getChild(name);
    const out = new Array<string | null>(n).fill(null);
    if (!v) return out;
    for (let i = 0; i < n; i++) {
      const x = v.get(i);
      out[i] = x === null || x === undefined ? null : String(x);
    }
    return out;
  };
  const refusalVec = table.getChild('refusal');
  let refusal: Uint8Array;
  if (refusalVec && refusalVec.type instanceof Uint8 && refusalVec.nullCount === 0) refusal = refusalVec.toArray() as Uint8Array;
  else {
    refusal = new Uint8Array(n);
    for (let i = 0; i < n; i++) refusal[i] = refusalVec?.get(i) ? 1 : 0;
  }
  const batch: TraceBatch = {
    length: n,
    row: f64('row'),
    request_id: text('request_id') as string[],
    timestamp: f64('timestamp'),
    session_id: [],
    tenant: [],
    route: [],
    model: [],
    input: [],
    output: [],
    input_tokens: f64('input_tokens'),
    output_tokens: f64('output_tokens'),
    latency_ms: f64('latency_ms'),
    ttft_ms: f64('ttft_ms'),
    status: text('status').map((s) => (s ?? 'ok') as TraceStatus),
    refusal,
    cost_usd: f64('cost_usd'),
    feedback: f64('feedback'),
  };
  for (const c of TEXT_COLUMNS) batch[c] = text(c);
  return batch;
}
