import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DuckDBConnection, type DuckDBDataChunk, DuckDBInstance, type DuckDBResult, type DuckDBVector } from '../store/duckdb.js';
import { UserError } from '../config/errors.js';
import { parseDateTime } from './time.js';
import {
  BAD_ROW_REASONS,
  type BadRowReason,
  CANONICAL_COLUMNS,
  type CanonicalColumn,
  STATUSES,
  TEXT_COLUMNS,
  type TextColumn,
  type TraceBatch,
  type TraceError,
  type TraceRow,
  allocateBatch,
  batchRows,
  truncateBatch,
} from './canonical.js';
import { numberExpr, presentExpr, refusalExpr, statusExpr, textExpr, timestampExpr } from './expressions.js';
import { type ResolvedSpec, type SourceRelation, type TraceFormat, type TraceSpec, duckdbReason, openSource, resolveSpec } from './formats.js';
import { type MapSpec, type MappingEntry, TIME_UNITS, type TimeUnit, checkRequired, mapUnits, normaliseMap, resolveMapping } from './mapping.js';
import { vectorItems } from '../store/vectors.js';
import { ident, lit, num } from './sql.js';

export type { TraceFormat, TraceSpec } from './formats.js';

/** The largest timestamp magnitude read as a time, in milliseconds: a JavaScript Date's range. */
export const MAX_TIMESTAMP_MS = 8.64e15;
export type { MapSpec, MappingEntry } from './mapping.js';

/** What {@link Trace.batches} reads of each text column: all of it (the default), none, or only on rows without input_tokens. */
export interface BatchOptions {
  texts?: Partial<Record<TextColumn, 'all' | 'none' | 'without-input-tokens'>>;
}

/** A time bound: milliseconds (a number, or a string of digits), an ISO date-time (UTC unless it says otherwise), or a Date. */
export type TimeBound = number | string | Date;

export interface OpenTraceOptions {
  /** Foreign columns to canonical ones: `{ TIMESTAMP: 'timestamp' }` or `'TIMESTAMP=timestamp,...'`. */
  map?: MapSpec;
  /** The format, when the file name does not tell it. */
  format?: TraceFormat;
  /** Keep rows with timestamp ≥ from (milliseconds, as the timestamps are). */
  from?: TimeBound;
  /** Keep rows with timestamp < to. */
  to?: TimeBound;
  /**
   * Keep this share (0 < sample ≤ 1) of sessions, the same ones every time: a row is kept when
   * the first 32 bits of md5(session_id, or request_id when it has none), read as a big-endian
   * unsigned integer, are below sample·2³². See {@link sampleHash}. Smaller samples are subsets of
   * larger ones.
   */
  sample?: number;
  /** At most this many rows (after from/to and sample, in timestamp order). */
  limit?: number;
  /** Rows per batch (default 8192). */
  batchSize?: number;
  /** DuckDB's memory limit for the reader (default 1GB); beyond it DuckDB spills to a temporary folder. */
  memoryLimit?: string;
  /** DuckDB threads (default: DuckDB's, the machine's cores). */
  threads?: number;
}

export interface TraceSelection {
  from?: number;
  to?: number;
  sample?: number;
  limit?: number;
}

const DEFAULT_MEMORY_LIMIT = '1GB';

const MEASURE_SOURCES = ['input_tokens', 'output_tokens', 'latency_ms', 'ttft_ms', 'cost_usd', 'feedback'] as const;
type NumericSource = (typeof MEASURE_SOURCES)[number];

const FORMAT_LABELS: Record<TraceFormat, string> = {
  parquet: 'Parquet',
  csv: 'CSV',
  jsonl: 'JSON lines',
  json: 'JSON',
  arrow: 'Arrow IPC',
  duckdb: 'DuckDB table',
  otel: 'OpenTelemetry GenAI spans (OTLP JSON)',
};

/** The first 32 bits of md5(key) as an unsigned integer: the documented, stable sampling hash. */
export function sampleHash(key: string): number {
  return parseInt(createHash('md5').update(key, 'utf8').digest('hex').slice(0, 8), 16);
}

/** Whether a session (or a request without one) with this key is in a `share` sample. */
export function inSample(key: string, share: number): boolean {
  return sampleHash(key) < share * 4294967296;
}

/** Parses a time bound to milliseconds; `field` names the option in the message. */
export function parseTimeBound(value: TimeBound, field: string): number {
  if (value instanceof Date) {
    const t = value.getTime();
    if (Number.isFinite(t)) return t;
  } else if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
  } else {
    const s = value.trim();
    if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
    // A date-time without a zone is UTC, as trace timestamps are.
    const hasZone = /(Z|[+-]\d\d:?\d\d)$/i.test(s);
    const iso = /^\d{4}-\d\d-\d\d$/.test(s) ? `${s}T00:00:00Z` : hasZone ? s.replace(' ', 'T') : `${s.replace(' ', 'T')}Z`;
    const t = parseDateTime(iso);
    if (Number.isFinite(t)) {
      // Date.parse keeps milliseconds only; carry finer digits through.
      const frac = /\.(\d{4,})/.exec(s);
      return frac ? t - (t % 1000) + Number(`0.${frac[1]}`) * 1000 : t;
    }
  }
  throw new UserError(`${field}: "${String(value)}" is neither milliseconds nor a date-time such as 2023-11-16T18:20:00Z`);
}

interface Check {
  reason: BadRowReason;
  column: CanonicalColumn | null;
  cond: string;
}

type OutKind = 'row' | 'id' | 'f64' | 'text' | 'status' | 'refusal';

/**
 * An opened trace: its format, mapping and counts (known once {@link openTrace} resolves), and
 * streams of its canonical rows and of its bad rows. Every stream runs its own DuckDB query on
 * its own connection, so streams may overlap. Call {@link close} when done.
 */
export class Trace {
  /** Rows emitted by the last finished {@link batches} stream. */
  emitted = 0;
  private closed = false;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly tempDir: string,
    /** The trace's name in messages (the path, with `:table` for a DuckDB table). */
    readonly name: string,
    readonly path: string,
    readonly format: TraceFormat,
    /** The format in words, with a recognised known format: e.g. `CSV (Azure LLM inference trace)`. */
    readonly label: string,
    /** canonical ← source, in canonical order. */
    readonly mapping: MappingEntry[],
    /** The canonical columns the trace carries (request_id and timestamp always). */
    readonly columns: CanonicalColumn[],
    /** The source's columns and DuckDB types, as read. */
    readonly sourceColumns: { name: string; type: string }[],
    /** Rows in the source (GenAI spans for OpenTelemetry). */
    readonly rows: number,
    /** Rows that passed validation (before from/to, sample and limit). */
    readonly good: number,
    readonly bad: number,
    readonly badByReason: Record<BadRowReason, number>,
    /** The first and last timestamp of the good rows (milliseconds), null when there are none. */
    readonly timeSpan: { start: number; end: number } | null,
    /** Whether the good rows are already in timestamp order in the source (no sort needed). */
    readonly sorted: boolean,
    /** Whether the file's rows are in time order (`unknown`: DuckDB read them out of file order, so it could not tell). */
    readonly timeOrder: 'ordered' | 'unordered' | 'unknown',
    readonly selection: TraceSelection,
    readonly batchSize: number,
    /** DuckDB's memory limit for this trace, as configured. */
    readonly memoryLimit: string,
    /** Good rows without input_tokens. */
    readonly withoutInputTokens: number,
  ) {}

  /** Use {@link openTrace}. */
  static async create(spec: TraceSpec, options: OpenTraceOptions): Promise<Trace> {
    const selection = checkSelection(options);
    const batchSize = options.batchSize ?? 8192;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`batchSize: must be a whole number of at least 1, got ${batchSize}`);
    const resolved = await resolveSpec(spec, options.format);
    // DuckDB creates its spill folder only when it spills; it is removed on close either way.
    const tempDir = path.join(os.tmpdir(), `rehearse-trace-${process.pid}-${randomBytes(6).toString('hex')}`);
    const config: Record<string, string> = {
      memory_limit: options.memoryLimit ?? DEFAULT_MEMORY_LIMIT,
      temp_directory: tempDir,
      preserve_insertion_order: 'true',
    };
    if (options.threads !== undefined) config.threads = String(options.threads);
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(':memory:', config);
    } catch (err) {
      rmSync(tempDir, { recursive: true, force: true });
      throw new UserError(`cannot start DuckDB for ${resolved.name}: ${(err as Error).message.split('\n')[0]}`);
    }
    try {
      const conn = await instance.connect();
      try {
        await conn.run(`SET GLOBAL TimeZone = 'UTC'`);
        await conn.run(`SET TimeZone = 'UTC'`);
        return await Trace.prepare(instance, tempDir, conn, resolved, options, selection, batchSize);
      } finally {
        conn.closeSync();
      }
    } catch (err) {
      instance.closeSync();
      rmSync(tempDir, { recursive: true, force: true });
      throw err;
    }
  }

  private static async prepare(
    instance: DuckDBInstance,
    tempDir: string,
    conn: DuckDBConnection,
    spec: ResolvedSpec,
    options: OpenTraceOptions,
    selection: TraceSelection,
    batchSize: number,
  ): Promise<Trace> {
    const map = normaliseMap(options.map, spec.name);
    const source = await openSource(conn, spec, map);
    const names = source.columns.map((c) => c.name);
    const resolved = resolveMapping(spec.name, names, source.otel ? new Map() : map);
    // OpenTelemetry spans carry their own units (nanoseconds), already converted.
    const units = source.otel ? new Map<CanonicalColumn, TimeUnit>() : mapUnits(options.map, spec.name);
    for (const e of resolved.entries) if (units.has(e.column)) e.unit = units.get(e.column);
    const mapping = source.otel ?? resolved.entries;
    const present = new Set<CanonicalColumn>(resolved.sources.keys());
    checkRequired(spec.name, names, present);
    if (!present.has('request_id')) mapping.unshift({ column: 'request_id', source: 'row number (row-000001, …)', via: 'generated' });
    // A status column can say `refusal`, so it carries refusals too.
    const columns = CANONICAL_COLUMNS.filter((c) => c === 'request_id' || present.has(c) || (c === 'refusal' && present.has('status')));
    const label = FORMAT_LABELS[spec.format] + (resolved.known ? ` (${resolved.known})` : '');

    await Trace.createViews(conn, source, resolved.sources, units);
    const fail = (err: unknown) => new UserError(`${spec.name}: cannot read as ${spec.format}: ${duckdbReason(err)}`);
    // Duplicate request ids: a pass over the ids only, when the source has them. Without any,
    // the join that marks them is left out: it would cost every later read more than the pass.
    let duplicates = 0;
    if (present.has('request_id')) {
      try {
        await conn.run(`CREATE OR REPLACE TABLE __dups AS SELECT request_id, min(__row) AS first_row FROM __base GROUP BY request_id HAVING count(*) > 1`);
        duplicates = Number((await conn.runAndReadAll(`SELECT count(*)::DOUBLE FROM __dups`)).getRows()[0]![0]);
      } catch (err) {
        throw fail(err);
      }
    }
    if (duplicates > 0) {
      await conn.run(`CREATE OR REPLACE VIEW __final AS
        SELECT b.* REPLACE (CASE WHEN b.__code > 0 THEN b.__code WHEN d.first_row IS NOT NULL AND b.__row > d.first_row THEN ${BAD_ROW_REASONS.indexOf('duplicate_request_id') + 1} ELSE 0 END::UTINYINT AS __code,
          CASE WHEN b.__code > 0 THEN b.__column WHEN d.first_row IS NOT NULL AND b.__row > d.first_row THEN 'request_id' END AS __column)
        FROM __base b LEFT JOIN __dups d ON b.request_id = d.request_id`);
    } else {
      await conn.run(`CREATE OR REPLACE VIEW __final AS SELECT * FROM __base`);
    }

    // One streamed pass: counts by reason, the time span, and whether the file is in time order.
    const counts = new Array<number>(BAD_ROW_REASONS.length + 1).fill(0);
    let start = Infinity;
    let end = -Infinity;
    let rowOrdered = true;
    let timeOrdered = true;
    let lastTs = -Infinity;
    let lastRow = -Infinity;
    let rows = 0;
    let withoutInputTokens = 0;
    try {
      const result = await conn.stream(
        // The join that sets duplicates aside keeps no order: the file's own is read back by row
        // (a sort, paid only by files with duplicates), or its time order could not be told.
        `SELECT __row::DOUBLE, __code, coalesce(timestamp, 'NaN'::DOUBLE), (__code = 0 AND input_tokens IS NULL)::UTINYINT FROM __final${duplicates > 0 ? ' ORDER BY __row' : ''}`,
      );
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const rv = doubles(chunk.getColumnVector(0));
        const cv = bytes(chunk.getColumnVector(1));
        const tv = doubles(chunk.getColumnVector(2));
        const nv = bytes(chunk.getColumnVector(3));
        for (let i = 0; i < chunk.rowCount; i++) {
          const code = cv[i]!;
          const row = rv[i]!;
          if (row <= lastRow) rowOrdered = false;
          lastRow = row;
          counts[code]!++;
          if (code !== 0) continue;
          withoutInputTokens += nv[i]!;
          const ts = tv[i]!;
          if (ts < start) start = ts;
          if (ts > end) end = ts;
          if (ts < lastTs) timeOrdered = false;
          lastTs = ts;
        }
        rows += chunk.rowCount;
      }
      // A stream DuckDB gave up on ends like a finished one (see batches): check the count.
      const total = Number((await conn.runAndReadAll(`SELECT count(*)::DOUBLE FROM __src`)).getRows()[0]![0]);
      if (rows !== total) {
        throw new Error(`DuckDB stopped after ${rows.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} rows (its memory limit here is ${options.memoryLimit ?? DEFAULT_MEMORY_LIMIT})`);
      }
    } catch (err) {
      throw fail(err);
    }
    const badByReason = Object.fromEntries(BAD_ROW_REASONS.map((r, i) => [r, counts[i + 1]!])) as Record<BadRowReason, number>;
    const good = counts[0]!;
    return new Trace(
      instance,
      tempDir,
      spec.name,
      spec.path,
      spec.format,
      label,
      mapping,
      columns,
      source.columns,
      rows,
      good,
      rows - good,
      badByReason,
      good > 0 ? { start, end } : null,
      // Batches read the join out of order too: they sort whenever it is there.
      duplicates === 0 && rowOrdered && timeOrdered,
      !rowOrdered ? 'unknown' : timeOrdered ? 'ordered' : 'unordered',
      selection,
      batchSize,
      options.memoryLimit ?? DEFAULT_MEMORY_LIMIT,
      withoutInputTokens,
    );
  }

  /** `__src` (the source with row numbers), `__parsed` (values parsed), `__base` (checked). */
  private static async createViews(conn: DuckDBConnection, source: SourceRelation, sources: Map<CanonicalColumn, string>, units: ReadonlyMap<CanonicalColumn, TimeUnit>): Promise<void> {
    const msPer = (c: CanonicalColumn) => TIME_UNITS[units.get(c) ?? 'ms'];
    await conn.run(`CREATE OR REPLACE VIEW __src AS SELECT *, row_number() OVER () AS __row FROM ${source.from}`);
    const types = new Map(source.columns.map((c) => [c.name, c.type]));
    const col = (c: CanonicalColumn) => {
      const name = sources.get(c);
      return name === undefined ? undefined : { ref: `s.${ident(name)}`, type: types.get(name)! };
    };
    const sel: string[] = ['s.__row AS __row'];
    const rid = col('request_id');
    const generated = `printf('row-%06d', s.__row)`;
    sel.push(rid ? `coalesce(nullif(trim(${textExpr(rid.ref, rid.type)}), ''), ${generated}) AS request_id` : `${generated} AS request_id`);
    const ts = col('timestamp')!;
    sel.push(`${timestampExpr(ts.ref, ts.type, msPer('timestamp'))} AS __ts`);
    for (const c of TEXT_COLUMNS) {
      const x = col(c);
      sel.push(x ? `${textExpr(x.ref, x.type)} AS ${c}` : `NULL::VARCHAR AS ${c}`);
    }
    for (const c of MEASURE_SOURCES) {
      const x = col(c);
      const scale = msPer(c);
      const value = x ? (scale === 1 ? numberExpr(x.ref, x.type) : `(${numberExpr(x.ref, x.type)} * ${scale})`) : '';
      sel.push(x ? `${value} AS __${c}, ${presentExpr(x.ref, x.type)} AS __${c}_present` : `NULL::DOUBLE AS __${c}, false AS __${c}_present`);
    }
    const st = col('status');
    sel.push(st ? `${statusExpr(st.ref, st.type)} AS __status, ${presentExpr(st.ref, st.type)} AS __status_present` : `0 AS __status, false AS __status_present`);
    const rf = col('refusal');
    sel.push(rf ? `${refusalExpr(rf.ref, rf.type)} AS __refusal, ${presentExpr(rf.ref, rf.type)} AS __refusal_present` : `NULL::BOOLEAN AS __refusal, false AS __refusal_present`);
    const unreadable = source.nullRowIsUnreadable && source.columns.length > 0 ? `(${source.columns.map((c) => `s.${ident(c.name)} IS NULL`).join(' AND ')})` : 'false';
    sel.push(`${unreadable} AS __unreadable`);
    const extras = source.extraColumns ?? [];
    const extraCond = extras.length > 0 ? `(${extras.map((c) => `s.${ident(c)} IS NOT NULL`).join(' OR ')})` : 'false';
    sel.push(`${extraCond} AS __extra_fields`);
    const rawFields = source.columns.map((c) => `${ident(c.name)} := s.${ident(c.name)}`);
    const rawOf = (fields: string[]) => `to_json(struct_pack(${fields.join(', ')}))::VARCHAR`;
    const withExtras = extras.length > 0 ? `WHEN ${extraCond} THEN ${rawOf([...rawFields, `extra_fields := list_filter([${extras.map((c) => `s.${ident(c)}`).join(', ')}], x -> x IS NOT NULL)`])}` : '';
    if (source.hasRaw) sel.push(`s.__raw AS __raw`);
    // An unreadable line's nulls are not what the file held: its raw text is left empty.
    else sel.push(`CASE WHEN ${unreadable} THEN '' ${withExtras} ELSE ${rawOf(rawFields)} END AS __raw`);
    await conn.run(`CREATE OR REPLACE VIEW __parsed AS SELECT ${sel.join(',\n  ')} FROM __src s`);

    // Beyond ±8.64e15 ms (the range of a JavaScript Date, ±275,000 years) a timestamp is no time:
    // such a value passed reading and then failed `traces convert` for the whole file.
    const checks: Check[] = [
      { reason: 'unreadable', column: null, cond: '__unreadable' },
      { reason: 'extra_fields', column: null, cond: '__extra_fields' },
      { reason: 'bad_timestamp', column: 'timestamp', cond: `__ts IS NULL OR NOT isfinite(__ts) OR abs(__ts) > ${MAX_TIMESTAMP_MS}` },
    ];
    for (const c of MEASURE_SOURCES) if (sources.has(c)) checks.push({ reason: 'bad_number', column: c, cond: `__${c}_present AND (__${c} IS NULL OR NOT isfinite(__${c}))` });
    for (const c of ['input_tokens', 'output_tokens'] as const) if (sources.has(c)) checks.push({ reason: 'negative_tokens', column: c, cond: `__${c} < 0` });
    for (const c of ['latency_ms', 'ttft_ms', 'cost_usd'] as const) if (sources.has(c)) checks.push({ reason: 'negative_value', column: c, cond: `__${c} < 0` });
    checks.push({ reason: 'missing_measures', column: null, cond: `__input_tokens IS NULL AND __output_tokens IS NULL AND __latency_ms IS NULL` });
    if (st) checks.push({ reason: 'bad_status', column: 'status', cond: `__status_present AND __status IS NULL` });
    if (rf) checks.push({ reason: 'bad_refusal', column: 'refusal', cond: `__refusal_present AND __refusal IS NULL` });
    if (sources.has('feedback')) checks.push({ reason: 'bad_feedback', column: 'feedback', cond: `__feedback NOT IN (-1, 0, 1)` });
    const code = `CASE ${checks.map((k) => `WHEN ${k.cond} THEN ${BAD_ROW_REASONS.indexOf(k.reason) + 1}`).join(' ')} ELSE 0 END::UTINYINT`;
    const column = `CASE ${checks.map((k) => `WHEN ${k.cond} THEN ${k.column === null ? 'NULL' : lit(k.column)}`).join(' ')} END`;
    const finite = (c: string) => `CASE WHEN isfinite(__${c}) THEN __${c} END AS ${c}`;
    await conn.run(`CREATE OR REPLACE VIEW __base AS SELECT
      __row, request_id, CASE WHEN isfinite(__ts) THEN __ts END AS timestamp,
      ${TEXT_COLUMNS.join(', ')},
      ${MEASURE_SOURCES.map(finite).join(', ')},
      (CASE WHEN __status = 3 THEN 0 ELSE coalesce(__status, 0) END)::UTINYINT AS status,
      (coalesce(__refusal, false) OR coalesce(__status = 3, false)) AS refusal,
      ${code} AS __code,
      ${column} AS __column,
      __raw
    FROM __parsed`);
  }

  private where(): string {
    const w = ['__code = 0'];
    const s = this.selection;
    if (s.from !== undefined) w.push(`timestamp >= ${num(s.from)}`);
    if (s.to !== undefined) w.push(`timestamp < ${num(s.to)}`);
    if (s.sample !== undefined && s.sample < 1) {
      w.push(`('0x' || substr(md5(coalesce(nullif(session_id, ''), request_id)), 1, 8))::UBIGINT < ${num(s.sample * 4294967296)}`);
    }
    return w.join(' AND ');
  }

  private tail(): string {
    return (this.sorted ? '' : ' ORDER BY timestamp, __row') + (this.selection.limit !== undefined ? ` LIMIT ${this.selection.limit}` : '');
  }

  /**
   * SQL for the selected good rows in canonical form and order, for use with {@link query} or
   * DuckDB COPY: `timestamp` in milliseconds (DOUBLE), `status` as text, `refusal` BOOLEAN,
   * `feedback` TINYINT. `columns: 'present'` (the default) keeps the trace's own columns,
   * `'all'` every canonical column; `row: true` adds the 1-based source row.
   */
  selectSql(opts: { columns?: 'present' | 'all'; row?: boolean } = {}): string {
    const cols = opts.columns === 'all' ? [...CANONICAL_COLUMNS] : this.columns;
    const exprs = cols.map((c) => {
      if (c === 'status') return `CASE status WHEN 0 THEN 'ok' WHEN 1 THEN 'error' ELSE 'timeout' END AS status`;
      if (c === 'feedback') return `feedback::TINYINT AS feedback`;
      return ident(c);
    });
    if (opts.row) exprs.unshift('__row AS row');
    return `SELECT ${exprs.join(', ')} FROM __final WHERE ${this.where()}${this.tail()}`;
  }

  private selected: Promise<number> | null = null;

  /** How many rows {@link batches} yields: the good rows, or a count when from/to, sample or limit select among them. */
  selectedRows(): Promise<number> {
    const s = this.selection;
    if (s.from === undefined && s.to === undefined && s.sample === undefined) {
      return Promise.resolve(s.limit === undefined ? this.good : Math.min(s.limit, this.good));
    }
    this.selected ??= this.query(`SELECT count(*)::DOUBLE AS n FROM (${this.selectSql()})`).then((r) => Number(r[0]!.n));
    return this.selected;
  }

  /** Runs SQL (e.g. over `(${trace.selectSql()})`) on a connection of its own; rows as JSON-ready objects. */
  async query(sql: string): Promise<Record<string, unknown>[]> {
    const conn = await this.connect();
    try {
      const r = await conn.runAndReadAll(sql);
      return r.getRowObjectsJson() as Record<string, unknown>[];
    } finally {
      conn.closeSync();
    }
  }

  /** Runs a statement (e.g. COPY) on a connection of its own; returns the rows it changed (COPY: wrote). */
  async run(sql: string): Promise<number> {
    const conn = await this.connect();
    try {
      const r = await conn.run(sql);
      return r.rowsChanged;
    } finally {
      conn.closeSync();
    }
  }

  private async connect(): Promise<DuckDBConnection> {
    if (this.closed) throw new Error(`trace ${this.name} is closed`);
    const conn = await this.instance.connect();
    await conn.run(`SET TimeZone = 'UTC'`);
    return conn;
  }

  /**
   * The selected good rows, `batchSize` at a time, in timestamp order (ties by row), as DuckDB
   * streams them: at most one DuckDB chunk and one batch are in JavaScript memory at a time, and
   * each batch owns its arrays (transferable). Canonical columns the trace lacks are NaN / null /
   * 'ok' / 0.
   */
  async *batches(options: BatchOptions = {}): AsyncGenerator<TraceBatch, void, undefined> {
    const out: { name: string; kind: OutKind }[] = [
      { name: 'row', kind: 'row' },
      { name: 'request_id', kind: 'id' },
      { name: 'timestamp', kind: 'f64' },
      { name: 'status', kind: 'status' },
      { name: 'refusal', kind: 'refusal' },
    ];
    for (const c of this.columns) {
      if ((TEXT_COLUMNS as readonly string[]).includes(c)) out.push({ name: c, kind: 'text' });
      else if ((MEASURE_SOURCES as readonly string[]).includes(c)) out.push({ name: c, kind: 'f64' });
    }
    // Numbers come as DOUBLE with NaN for NULL and the codes as UTINYINT, never NULL: their
    // vectors are then copied whole from DuckDB's memory, with no per-value validity test.
    const select = out
      .map((o) => {
        if (o.kind === 'row') return '__row::DOUBLE';
        if (o.kind === 'f64') return `coalesce(${ident(o.name)}::DOUBLE, 'NaN'::DOUBLE)`;
        if (o.kind === 'status') return `coalesce(status, 0)::UTINYINT`;
        if (o.kind === 'refusal') return `coalesce(refusal, false)::UTINYINT`;
        // Texts are the costly part of a row to bring into JavaScript: one left out where it is
        // not wanted is never read from DuckDB.
        const wanted = options.texts?.[o.name as TextColumn];
        // With input_tokens on every row, the column is never even read from the file.
        if (wanted === 'none' || (wanted === 'without-input-tokens' && this.withoutInputTokens === 0)) return `NULL::VARCHAR AS ${ident(o.name)}`;
        if (wanted === 'without-input-tokens') return `CASE WHEN input_tokens IS NULL THEN ${ident(o.name)} END AS ${ident(o.name)}`;
        return ident(o.name);
      })
      .join(', ');
    const sql = `SELECT ${select} FROM __final WHERE ${this.where()}${this.tail()}`;
    const size = this.batchSize;
    const conn = await this.connect();
    let emitted = 0;
    // The next chunk is always being fetched: DuckDB computes it on its own threads while this
    // one is converted here and the consumer works between batches.
    let ahead: Promise<DuckDBDataChunk | null> | null = null;
    try {
      const stopped = (err: unknown, rows: number) =>
        new UserError(`${this.name}: reading stopped after ${rows.toLocaleString('en-US')} rows: ${(err as Error).message.split('\n')[0]} (DuckDB's memory limit for this trace is ${this.memoryLimit})`);
      let result: DuckDBResult;
      try {
        result = await conn.stream(sql);
      } catch (err) {
        throw stopped(err, 0);
      }
      let batch = allocateBatch(size);
      let n = 0;
      let lastTs = -Infinity;
      let lastRow = -Infinity;
      ahead = result.fetchChunk();
      for (;;) {
        let chunk: DuckDBDataChunk | null;
        try {
          chunk = await ahead;
        } catch (err) {
          throw stopped(err, emitted + n);
        } finally {
          ahead = null;
        }
        if (!chunk || chunk.rowCount === 0) break;
        ahead = result.fetchChunk();
        const count = chunk.rowCount;
        const vectors = out.map((_, j) => chunk.getColumnVector(j));
        let i = 0;
        while (i < count) {
          const take = Math.min(count - i, size - n);
          for (let j = 0; j < out.length; j++) {
            const v = vectors[j]!;
            const o = out[j]!;
            switch (o.kind) {
              case 'row':
                batch.row.set(doubles(v).subarray(i, i + take), n);
                break;
              case 'id':
                for (let k = 0; k < take; k++) batch.request_id[n + k] = v.getItem(i + k) as string;
                break;
              case 'f64':
                batch[o.name as NumericSource | 'timestamp'].set(doubles(v).subarray(i, i + take), n);
                break;
              case 'text': {
                const a = batch[o.name as (typeof TEXT_COLUMNS)[number]];
                for (let k = 0; k < take; k++) a[n + k] = v.getItem(i + k) as string | null;
                break;
              }
              case 'status': {
                const codes = bytes(v);
                for (let k = 0; k < take; k++) batch.status[n + k] = STATUSES[codes[i + k]!]!;
                break;
              }
              case 'refusal':
                batch.refusal.set(bytes(v).subarray(i, i + take), n);
                break;
            }
          }
          for (let k = n; k < n + take; k++) {
            const t = batch.timestamp[k]!;
            const r = batch.row[k]!;
            if (t < lastTs || (t === lastTs && r <= lastRow)) throw new Error(`trace ${this.name}: rows out of order at row ${r} (internal error)`);
            lastTs = t;
            lastRow = r;
          }
          n += take;
          i += take;
          if (n === size) {
            emitted += n;
            yield batch;
            batch = allocateBatch(size);
            n = 0;
          }
        }
      }
      if (n > 0) {
        emitted += n;
        yield truncateBatch(batch, n);
      }
      this.emitted = emitted;
      // DuckDB ends a stream that failed midway (e.g. out of memory on a large Parquet row
      // group) as if it were complete: a short count is the only sign, and must not pass as one.
      const expected = await this.selectedRows();
      if (emitted !== expected) {
        throw new UserError(
          `${this.name}: reading stopped after ${emitted.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} rows: DuckDB gave up without a reason, most often for memory (its limit for this trace is ${this.memoryLimit}; large row groups need more)`,
        );
      }
    } finally {
      // A consumer that stops early leaves a fetch in flight: it must land before the close.
      if (ahead) await ahead.catch(() => null);
      conn.closeSync();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<TraceBatch, void, undefined> {
    return this.batches();
  }

  /** Every bad row of the whole source (from/to, sample and limit do not apply), by row number. */
  async *errors(): AsyncGenerator<TraceError, void, undefined> {
    const conn = await this.connect();
    try {
      const result = await conn.stream(`SELECT __row::DOUBLE, request_id, __code, __column, __raw FROM __final WHERE __code > 0 ORDER BY __row`);
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const [rv, iv, cv, colv, rawv] = [0, 1, 2, 3, 4].map((j) => chunk.getColumnVector(j));
        for (let i = 0; i < chunk.rowCount; i++) {
          yield {
            row: rv!.getItem(i) as number,
            request_id: iv!.getItem(i) as string | null,
            reason: BAD_ROW_REASONS[(cv!.getItem(i) as number) - 1]!,
            column: colv!.getItem(i) as CanonicalColumn | null,
            raw: rawv!.getItem(i) as string,
          };
        }
      }
    } finally {
      conn.closeSync();
    }
  }

  /** The bad rows as an array (the first `max`, when given). */
  async errorList(max = Infinity): Promise<TraceError[]> {
    const out: TraceError[] = [];
    if (max <= 0 || this.bad === 0) return out;
    for await (const e of this.errors()) {
      out.push(e);
      if (out.length >= max) break;
    }
    return out;
  }

  /** Frees DuckDB and its temporary folder. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.instance.closeSync();
    rmSync(this.tempDir, { recursive: true, force: true });
  }
}

/** A DOUBLE or UTINYINT column's values as a typed array (the query makes sure none is NULL). */
function valuesOf<A extends Float64Array | Uint8Array>(v: DuckDBVector, kind: new (n: number) => A): A {
  const items = vectorItems(v);
  if (items instanceof kind) return items as A;
  const out = new kind(v.itemCount);
  for (let i = 0; i < out.length; i++) out[i] = Number(v.getItem(i));
  return out;
}

const doubles = (v: DuckDBVector): Float64Array => valuesOf(v, Float64Array);
const bytes = (v: DuckDBVector): Uint8Array => valuesOf(v, Uint8Array);

function checkSelection(o: OpenTraceOptions): TraceSelection {
  const s: TraceSelection = {};
  if (o.from !== undefined) s.from = parseTimeBound(o.from, '--from');
  if (o.to !== undefined) s.to = parseTimeBound(o.to, '--to');
  if (o.sample !== undefined) {
    if (!(o.sample > 0 && o.sample <= 1)) throw new UserError(`--sample: must be a share in (0, 1], got ${o.sample}`);
    s.sample = o.sample;
  }
  if (o.limit !== undefined) {
    if (!Number.isInteger(o.limit) || o.limit < 0) throw new UserError(`--limit: must be a whole number of at least 0, got ${o.limit}`);
    s.limit = o.limit;
  }
  return s;
}

/**
 * Opens a trace: detects its format, maps its columns to the canonical ones, validates every row
 * (one streamed pass, which also finds the time span and whether a sort is needed) and returns a
 * {@link Trace} to stream from. Problems with the file as a whole (missing, unreadable, no
 * timestamp column, a bad --map) throw a UserError naming the file and the column; bad rows
 * never throw.
 */
export async function openTrace(spec: TraceSpec, options: OpenTraceOptions = {}): Promise<Trace> {
  return Trace.create(spec, options);
}

/** Reads a whole (small) trace: every batch concatenated as rows, and the bad rows. For tests and small files. */
export async function readTraceRows(spec: TraceSpec, options: OpenTraceOptions = {}): Promise<{ trace: Trace; rows: TraceRow[]; errors: TraceError[] }> {
  const trace = await openTrace(spec, options);
  try {
    const rows: TraceRow[] = [];
    for await (const b of trace.batches()) rows.push(...batchRows(b));
    const errors = await trace.errorList();
    return { trace, rows, errors };
  } finally {
    trace.close();
  }
}
