import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  type DuckDBAppender,
  DuckDBDataChunk,
  type DuckDBType,
  type DuckDBVector,
  ENUM16,
  ENUM32,
  ENUM8,
  INTEGER,
  VARCHAR,
} from './duckdb.js';
import type { Store } from './database.js';
import { vectorItems } from './vectors.js';

/**
 * One batch of replayed requests, column by column, as `replay_requests` stores them (see
 * database.ts for the table): numbers NaN for NULL, text null for NULL, flags 0/1 (255 for NULL
 * where a flag may be unknown). Text columns may instead be codes into a `texts` list.
 */
export interface ReplayRequestColumns {
  length: number;
  request_id: readonly string[];
  row_index: Float64Array;
  timestamp_ms: Float64Array;
  session_id: readonly (string | null)[];
  tenant: readonly (string | null)[];
  route: readonly (string | null)[];
  model: readonly (string | null)[];
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
  baseline_status: readonly (string | null)[];
  candidate_status: Coded;
  baseline_refusal: Uint8Array;
  candidate_refusal: Uint8Array;
  baseline_feedback: Float64Array;
  similarity: Float64Array;
  schema_valid: Uint8Array;
  finish_reason: Coded;
  error: Coded;
  attempts: Float64Array;
  sent_offset_ms: Float64Array;
  candidate_model: Coded;
}

/** Text as small integer codes into `texts` (a null entry stands for NULL). */
export interface Coded {
  codes: Uint8Array | Uint16Array;
  texts: readonly (string | null)[];
}

type Kind = 'invocation' | 'text' | 'coded' | 'double' | 'bigint' | 'integer' | 'flag';

/** replay_requests' columns in table order, with how each is filled. */
const COLUMNS: readonly (readonly [keyof ReplayRequestColumns | 'invocation_id', Kind])[] = [
  ['invocation_id', 'invocation'],
  ['request_id', 'text'],
  ['row_index', 'bigint'],
  ['timestamp_ms', 'double'],
  ['session_id', 'text'],
  ['tenant', 'text'],
  ['route', 'text'],
  ['model', 'text'],
  ['input_tokens', 'double'],
  ['baseline_latency_ms', 'double'],
  ['candidate_latency_ms', 'double'],
  ['baseline_ttft_ms', 'double'],
  ['candidate_ttft_ms', 'double'],
  ['baseline_output_tokens', 'double'],
  ['candidate_output_tokens', 'double'],
  ['candidate_input_tokens', 'double'],
  ['baseline_cost_usd', 'double'],
  ['candidate_cost_usd', 'double'],
  ['baseline_status', 'text'],
  ['candidate_status', 'coded'],
  ['baseline_refusal', 'flag'],
  ['candidate_refusal', 'flag'],
  ['baseline_feedback', 'double'],
  ['similarity', 'double'],
  ['schema_valid', 'flag'],
  ['finish_reason', 'coded'],
  ['error', 'coded'],
  ['attempts', 'integer'],
  ['sent_offset_ms', 'double'],
  ['candidate_model', 'coded'],
];

const TYPES: Record<Kind, DuckDBType> = {
  invocation: VARCHAR,
  text: VARCHAR,
  coded: VARCHAR,
  double: DOUBLE,
  bigint: BIGINT,
  integer: INTEGER,
  flag: BOOLEAN,
};

/** DuckDB's vectors hold at most this many rows; a batch goes in as several chunks. */
const CHUNK_ROWS = 2048;

/**
 * Appends batches to `replay_requests` column by column: numbers are copied into DuckDB's vectors
 * a whole column at a time. Batches are committed together, once `commitRows` rows or
 * `commitMs` milliseconds have gathered: DuckDB's cost per commit is high, and a commit is the
 * unit `--resume` relies on (a batch is stored whole or not at all, so a killed replay loses at
 * most the work since the last commit and never stores a request twice).
 */
export class ReplayRequestsWriter {
  private appender: DuckDBAppender | null = null;
  private pending = 0;
  private since = 0;
  /** Rows committed so far. */
  committed = 0;

  constructor(
    private readonly store: Store,
    private readonly invocationId: string,
    private readonly options: { commitRows?: number; commitMs?: number } = {},
  ) {}

  async append(batch: ReplayRequestColumns): Promise<void> {
    if (!this.appender) {
      this.appender = await this.store.appender('replay_requests');
      this.since = performance.now();
    }
    appendColumns(this.appender, this.invocationId, batch);
    this.pending += batch.length;
    if (this.pending >= (this.options.commitRows ?? 32_768) || performance.now() - this.since >= (this.options.commitMs ?? 2000)) this.commit();
  }

  /** Commits what has been appended (nothing to do when nothing has). */
  commit(): void {
    if (!this.appender) return;
    const a = this.appender;
    this.appender = null;
    try {
      a.flushSync();
      this.committed += this.pending;
    } finally {
      this.pending = 0;
      a.closeSync();
    }
  }
}

/** Appends and commits one batch. */
export async function appendReplayRequests(store: Store, invocationId: string, batch: ReplayRequestColumns): Promise<void> {
  const w = new ReplayRequestsWriter(store, invocationId);
  await w.append(batch);
  w.commit();
}

/**
 * Text goes in as DuckDB ENUM vectors (the chunk's distinct values once, then a small code per
 * row), which DuckDB casts to the table's VARCHAR: setting a VARCHAR vector costs one call into
 * DuckDB per value, and the replay's nine text columns made that its main cost per row.
 */
function appendColumns(appender: DuckDBAppender, invocationId: string, b: ReplayRequestColumns): void {
  for (let from = 0; from < b.length; from += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, b.length - from);
    const dictionaries = COLUMNS.map(([name, kind]) => {
      if (kind === 'invocation') return constant(invocationId, n);
      if (kind === 'text') return dictionary(b[name as keyof ReplayRequestColumns] as readonly (string | null)[], from, n, MAX_MEMBERS);
      if (kind === 'coded') return recode(b[name as keyof ReplayRequestColumns] as Coded, from, n);
      return null;
    });
    const types = COLUMNS.map(([, kind], j) => dictionaries[j]?.type ?? TYPES[kind]);
    const chunk = DuckDBDataChunk.create(types, n);
    COLUMNS.forEach(([name, kind], j) => {
      const v = chunk.getColumnVector(j);
      const dict = dictionaries[j];
      if (dict) fillCodes(v, dict, n);
      else if (kind === 'text') fillText(v, b[name as keyof ReplayRequestColumns] as readonly (string | null)[], from, n);
      else fill(v, kind, b[name as keyof ReplayRequestColumns], from, n);
      v.flush();
    });
    appender.appendDataChunk(chunk);
  }
}

/** A text column of a chunk as ENUM codes: -1 for NULL. */
interface Dictionary {
  type: DuckDBType;
  codes: Int32Array;
}

/**
 * ENUM types by member list: a column's values repeat from chunk to chunk (statuses, models,
 * routes), and building the type (its value index) cost ~5% of a replay's main thread.
 */
const enumTypes = new Map<string, DuckDBType>();
const MAX_ENUM_TYPES = 1024;

function enumOf(values: string[]): DuckDBType {
  // An ENUM needs at least one member; an all-NULL column gets a placeholder nobody points to.
  const members = values.length > 0 ? values : [''];
  const key = members.join('\u0000');
  let type = enumTypes.get(key);
  if (type === undefined) {
    if (enumTypes.size >= MAX_ENUM_TYPES) enumTypes.clear();
    type = members.length <= 0xff ? ENUM8(members) : members.length <= 0xffff ? ENUM16(members) : ENUM32(members);
    enumTypes.set(key, type);
  }
  return type;
}

function constant(value: string, n: number): Dictionary {
  return { type: enumOf([value]), codes: new Int32Array(n) };
}

/**
 * Past this many distinct values in a chunk (request ids, say) an ENUM costs more to build than
 * the values cost to set one by one.
 */
const MAX_MEMBERS = 255;

function fillText(v: DuckDBVector, src: readonly (string | null)[], from: number, n: number): void {
  for (let i = 0; i < n; i++) v.setItem(i, src[from + i] ?? null);
}

/** The chunk's values as codes, or null when they have more than `max` distinct values. */
function dictionary(src: readonly (string | null)[], from: number, n: number, max: number): Dictionary | null {
  const index = new Map<string, number>();
  const values: string[] = [];
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = src[from + i];
    if (s === null || s === undefined) {
      codes[i] = -1;
      continue;
    }
    let c = index.get(s);
    if (c === undefined) {
      if (values.length === max) return null;
      c = values.length;
      values.push(s);
      index.set(s, c);
    }
    codes[i] = c;
  }
  return { type: enumOf(values), codes };
}

function recode(col: Coded, from: number, n: number): Dictionary {
  const values: string[] = [];
  const member = col.texts.map((t) => (t === null ? -1 : values.push(t) - 1));
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) codes[i] = member[col.codes[from + i]!] ?? -1;
  return { type: enumOf(values), codes };
}

function fillCodes(v: DuckDBVector, d: Dictionary, n: number): void {
  const items = vectorItems(v);
  if (items instanceof Uint8Array || items instanceof Uint16Array || items instanceof Uint32Array) {
    for (let i = 0; i < n; i++) {
      const c = d.codes[i]!;
      if (c < 0) v.setItem(i, null);
      else items[i] = c;
    }
    return;
  }
  // Not the vector class this was written against: by value, through the enum's own lookup.
  const values = (d.type as unknown as { values: readonly string[] }).values;
  for (let i = 0; i < n; i++) v.setItem(i, d.codes[i]! < 0 ? null : values[d.codes[i]!]!);
}

function fill(v: DuckDBVector, kind: Kind, column: unknown, from: number, n: number): void {
  switch (kind) {
    case 'double': {
      const src = column as Float64Array;
      const items = vectorItems(v);
      if (items instanceof Float64Array) {
        items.set(src.subarray(from, from + n));
        for (let i = 0; i < n; i++) if (Number.isNaN(src[from + i]!)) v.setItem(i, null);
      } else for (let i = 0; i < n; i++) v.setItem(i, nullIfNaN(src[from + i]!));
      return;
    }
    case 'bigint': {
      const src = column as Float64Array;
      for (let i = 0; i < n; i++) v.setItem(i, Number.isNaN(src[from + i]!) ? null : BigInt(src[from + i]!));
      return;
    }
    case 'integer': {
      const src = column as Float64Array;
      for (let i = 0; i < n; i++) v.setItem(i, nullIfNaN(src[from + i]!));
      return;
    }
    case 'flag': {
      const src = column as Uint8Array;
      for (let i = 0; i < n; i++) {
        const x = src[from + i]!;
        v.setItem(i, x === 255 ? null : x === 1);
      }
      return;
    }
    default:
      throw new Error(`${kind} columns are filled as ENUM codes (internal error)`);
  }
}

const nullIfNaN = (x: number): number | null => (Number.isNaN(x) ? null : x);
