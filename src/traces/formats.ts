import { createReadStream, existsSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import {
  BOOLEAN,
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  type DuckDBType,
  VARCHAR,
} from '../store/duckdb.js';
import { DataType, RecordBatchReader, type Vector } from './arrow-bundle.js';
import { UserError } from '../config/errors.js';
import { CANONICAL_COLUMNS, type CanonicalColumn } from './canonical.js';
import type { MappingEntry } from './mapping.js';
import { ident, lit } from './sql.js';

/**
 * Trace formats and how each becomes a relation DuckDB can scan.
 *
 * - `parquet`, `csv` (also .tsv; read as text and parsed column by column, so one odd value makes
 *   one bad row, not a failed read), `jsonl` (.jsonl/.ndjson; likewise read as text), `json` (a
 *   JSON array of records, or records one per line in a .json file): DuckDB's own readers, which
 *   stream. Any of them may be gzip- or zstd-compressed (`.csv.gz`).
 * - `duckdb`: a table in a DuckDB file, `file.duckdb:table` (or `schema.table`; the table may be
 *   left out when the file holds exactly one), attached read-only.
 * - `otel`: OpenTelemetry spans as OTLP JSON (one export request, or one per line as the OTLP file
 *   exporter writes them); only GenAI spans (with a `gen_ai.*` attribute) are read.
 * - `arrow`: Arrow IPC (file or stream format; .arrow, .arrows, .feather, .ipc; NaN reads as null,
 *   as in rehearse's own batches). DuckDB reads
 *   Arrow IPC only through the `nanoarrow` community extension, which must be downloaded: offline
 *   it is not there. So apache-arrow reads the file record batch by record batch (never whole in
 *   JavaScript memory) and appends each to a table in the reader's DuckDB instance, where the rest
 *   of the pipeline reads it as any other source.
 */
import { TRACE_FORMATS, type TraceFormat } from './format-names.js';

export { TRACE_FORMATS, type TraceFormat };

/** Where a trace is: a path (with `:table` for a DuckDB file), or the parts spelled out. */
export type TraceSpec = string | { path: string; format?: TraceFormat; table?: string };

export interface ResolvedSpec {
  /** How messages name the trace: the path, with `:table` for a DuckDB table. */
  name: string;
  path: string;
  table?: string;
  format: TraceFormat;
}

const DUCKDB_EXT = /\.(duckdb|ddb|db)$/i;

/** Splits `file.duckdb:table` (also `.ddb`, `.db`). */
export function splitDuckdbSpec(spec: string): { path: string; table?: string } {
  const m = /^(.*\.(?:duckdb|ddb|db)):([^/\\]+)$/i.exec(spec);
  if (m && !existsSync(spec)) return { path: m[1]!, table: m[2]! };
  return { path: spec };
}

function stripCompression(p: string): string {
  return p.replace(/\.(gz|gzip|zst|zstd)$/i, '');
}

/** The first bytes of a file (decompressed for .gz), to sniff JSON flavours. */
async function head(path: string, bytes = 65536): Promise<string> {
  if (/\.(gz|gzip)$/i.test(path)) {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const input = createReadStream(path);
      const gunzip = createGunzip();
      const done = () => {
        input.destroy();
        gunzip.destroy();
        resolve(Buffer.concat(chunks).toString('utf8'));
      };
      gunzip.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        if (size >= bytes) done();
      });
      gunzip.on('end', done);
      gunzip.on('error', done);
      input.on('error', done);
      input.pipe(gunzip);
    });
  }
  if (/\.(zst|zstd)$/i.test(path)) return '';
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Resolves a spec to a file that exists and a format (from `format`, else the extension and content). */
export async function resolveSpec(spec: TraceSpec, format?: TraceFormat): Promise<ResolvedSpec> {
  const given = typeof spec === 'string' ? splitDuckdbSpec(spec) : { path: spec.path, table: spec.table };
  const path = given.path;
  const fmt = format ?? (typeof spec === 'string' ? undefined : spec.format);
  const name = given.table ? `${path}:${given.table}` : path;
  if (!existsSync(path)) throw new UserError(`${path}: no such file`);
  if (statSync(path).isDirectory()) throw new UserError(`${path}: is a folder; give a trace file`);
  if (fmt !== undefined && !(TRACE_FORMATS as readonly string[]).includes(fmt)) {
    throw new UserError(`${name}: unknown format "${fmt}" (one of ${TRACE_FORMATS.join(', ')})`);
  }
  const bare = stripCompression(path).toLowerCase();
  let detected: TraceFormat | undefined = fmt;
  if (detected === undefined) {
    if (/\.(parquet|pq)$/.test(bare)) detected = 'parquet';
    else if (/\.(csv|tsv)$/.test(bare)) detected = 'csv';
    else if (/\.(arrow|arrows|feather|ipc)$/.test(bare)) detected = 'arrow';
    else if (DUCKDB_EXT.test(bare)) detected = 'duckdb';
    else if (/\.(jsonl|ndjson|json)$/.test(bare)) {
      const text = await head(path);
      if (/"resourceSpans"\s*:/.test(text)) detected = 'otel';
      else if (bare.endsWith('.json')) detected = 'json';
      else detected = 'jsonl';
    }
  }
  if (detected === undefined) {
    throw new UserError(`${path}: cannot tell the trace format from the name; use .parquet, .csv, .jsonl, .json, .arrow or .duckdb:table, or pass the format (${TRACE_FORMATS.join(', ')})`);
  }
  if (given.table && detected !== 'duckdb') throw new UserError(`${name}: a :table suffix only applies to DuckDB files`);
  return { name, path, table: given.table, format: detected };
}

/** A relation to scan, with its columns. */
export interface SourceRelation {
  /** What goes after FROM. */
  from: string;
  columns: { name: string; type: string }[];
  /** Set for OpenTelemetry: the fixed mapping of span fields, already in canonical names. */
  otel?: MappingEntry[];
  /** The source has a JSON text column `__raw` holding each row as read. */
  hasRaw?: boolean;
  /**
   * A row whose every column is null is a record the reader could not parse (JSONL read with
   * DuckDB's `ignore_errors`, which gives such a line as a row of nulls, in its place).
   */
  nullRowIsUnreadable?: boolean;
  /**
   * Columns past the header's (CSV): a value in one means the row had more fields than the
   * header, its values shifted (most often an unquoted comma in a text field).
   */
  extraColumns?: string[];
}

async function describe(conn: DuckDBConnection, from: string): Promise<{ name: string; type: string }[]> {
  const r = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${from}`);
  return r.getRowObjectsJson().map((row) => ({ name: String(row.column_name), type: String(row.column_type) }));
}

/** The first non-blank line of a JSONL file that does not hold an object, with its 1-based number. */
async function firstNonObjectLine(file: string): Promise<{ line: number; text: string } | null> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const raw of lines) {
      n++;
      const t = raw.replace(/^\uFEFF/, '').trim();
      if (t !== '' && !t.startsWith('{')) return { line: n, text: t.length > 40 ? `${t.slice(0, 37)}...` : t };
    }
  } finally {
    lines.close();
  }
  return null;
}

/** Records DuckDB samples to detect a JSON file's columns (its `sample_size` default). */
const JSON_SAMPLE = 20_480;

/** The keys of the objects among a JSONL file's first records, in order of first appearance. */
async function objectKeys(conn: DuckDBConnection, path: string): Promise<string[]> {
  const r = await conn.runAndReadAll(
    `SELECT json_keys(json)::VARCHAR[] AS keys FROM (SELECT json FROM read_json_objects(${lit(path)}, format = 'newline_delimited', ignore_errors = true) LIMIT ${JSON_SAMPLE})
     WHERE json_type(json) = 'OBJECT'`,
  );
  const keys = new Set<string>();
  for (const row of r.getRowObjectsJson()) for (const k of row.keys as string[]) keys.add(k);
  return [...keys];
}

/** Every key of every object record in a JSON file, sorted: one pass (~1.5 µs a record). */
async function allObjectKeys(conn: DuckDBConnection, path: string, format: string): Promise<string[]> {
  const r = await conn.runAndReadAll(
    `SELECT DISTINCT unnest(json_keys(json)) AS key FROM read_json_objects(${lit(path)}, format = ${lit(format)}, ignore_errors = true) WHERE json_type(json) = 'OBJECT' ORDER BY key`,
  );
  return r.getRowObjectsJson().map((row) => String(row.key));
}

function readError(spec: ResolvedSpec, err: unknown): UserError {
  if (err instanceof UserError) return err;
  // An object spread over several lines (pretty-printed) is no JSON line, and ignore_errors does
  // not get past it: DuckDB's "try auto-detecting" names no option of ours.
  if (spec.format === 'jsonl' && /Try auto-detecting the JSON format/i.test((err as Error)?.message ?? '')) {
    return new UserError(`${spec.name}: not one JSON object per line (objects spread over several lines, pretty-printed?): read it as JSON with --format json`);
  }
  return new UserError(`${spec.name}: cannot read as ${spec.format}: ${duckdbReason(err)}`);
}

/**
 * DuckDB's message in one line. Its CSV errors put the reason on the line after "CSV Error on
 * Line: N" (a file not in UTF-8 said only which line), so that line is kept.
 */
export function duckdbReason(err: unknown): string {
  const lines = ((err as Error)?.message ?? String(err)).split('\n').map((l) => l.trim()).filter(Boolean);
  const first = lines[0] ?? String(err);
  // After the line number come the original line, then the reason.
  const reason = /CSV Error on Line/i.test(first) ? lines.slice(1).find((l) => !/^(Original Line|Possible Solution|LINE \d+)/i.test(l) && !l.includes(' = ')) : undefined;
  return reason ? `${first}: ${reason}` : first;
}

/**
 * Prepares the source in the connection's database and returns the relation to scan.
 * `map` (the trace's --map) maps source columns to canonical ones; for OpenTelemetry, span fields
 * or attribute keys.
 */
export async function openSource(conn: DuckDBConnection, spec: ResolvedSpec, map: Map<string, CanonicalColumn>): Promise<SourceRelation> {
  try {
    switch (spec.format) {
      case 'parquet': {
        const from = `read_parquet(${lit(spec.path)})`;
        return { from, columns: await describe(conn, from) };
      }
      case 'csv':
        return await csvSource(conn, spec);
      case 'jsonl':
      case 'json': {
        const fmt = spec.format === 'jsonl' ? 'newline_delimited' : 'auto';
        // DuckDB reads no JSON after a byte order mark: with ignore_errors the first record was
        // silently a bad row. Said plainly instead, with the way out.
        if ((await head(spec.path, 16)).startsWith('\uFEFF')) {
          const how = /\.(gz|gzip|zst|zstd)$/i.test(spec.path) ? '' : ` (for example: sed -i '1s/^\\xEF\\xBB\\xBF//' ${spec.path})`;
          throw new UserError(`${spec.name}: starts with a UTF-8 byte order mark, which the JSON reader does not take: remove it${how}`);
        }
        let detected = await describe(conn, `read_json(${lit(spec.path)}, format = '${fmt}'${spec.format === 'jsonl' ? ', ignore_errors = true' : ''})`);
        // DuckDB reads records that are not all objects as one column named `json`. A JSONL file
        // of objects with a few strays takes its columns from the objects (the strays are bad
        // rows); a file with no object at all is not a trace: say which record is at fault, not
        // that the trace has no timestamp column.
        if (detected.length === 1 && detected[0]!.name === 'json' && spec.format === 'jsonl') {
          const keys = await objectKeys(conn, spec.path);
          if (keys.length > 0) detected = keys.map((name) => ({ name, type: 'VARCHAR' }));
        }
        // DuckDB takes the columns from its sample of the first 20,480 records. A field that
        // first appears later (a status or error written only when a request fails, by a logger
        // that leaves out empty fields) was silently not read: every request counted as ok. Only
        // fields the trace can use are added (a canonical name, or one --map names): a logger's
        // per-request keys would each become a column, thousands of them, and DuckDB's struct
        // names are case-blind, so "Status" beside "status" cannot be added at all.
        if (!(detected.length === 1 && detected[0]!.name === 'json')) {
          const seen = new Set(detected.map((c) => c.name.toLowerCase()));
          const mapped = new Set([...map.keys()].map((k) => k.toLowerCase()));
          for (const name of await allObjectKeys(conn, spec.path, fmt)) {
            const lower = name.toLowerCase();
            if (name === '' || seen.has(lower) || !((CANONICAL_COLUMNS as readonly string[]).includes(lower) || mapped.has(lower))) continue;
            seen.add(lower);
            detected.push({ name, type: 'VARCHAR' });
          }
        }
        if (detected.length === 1 && detected[0]!.name === 'json') {
          const compressed = /\.(gz|zst)$/i.test(spec.path);
          const culprit = spec.format === 'jsonl' && !compressed ? await firstNonObjectLine(spec.path) : null;
          if (culprit) throw new UserError(`${spec.name}: line ${culprit.line} is not a JSON object (${culprit.text}); a JSONL trace holds one object per line`);
          if (spec.format === 'json') throw new UserError(`${spec.name}: not a JSON array of objects (one object per request)`);
          if (compressed) throw new UserError(`${spec.name}: not every line is a JSON object; a JSONL trace holds one object per line`);
        }
        const cols = detected.map((c) => `${lit(c.name)}: 'VARCHAR'`).join(', ');
        // One bad line (a log cut off mid-write, a stray non-object) stopped the whole read;
        // with ignore_errors it is a row of nulls in its place, which the reader counts as bad.
        // A JSON array is one document: nothing to skip in it.
        const lines = spec.format === 'jsonl';
        const from = `read_json(${lit(spec.path)}, format = '${fmt}', columns = {${cols}}${lines ? ', ignore_errors = true' : ''})`;
        return { from, columns: await describe(conn, from), nullRowIsUnreadable: lines };
      }
      case 'duckdb':
        return await duckdbSource(conn, spec);
      case 'otel':
        return await otelSource(conn, spec, map);
      case 'arrow':
        return await arrowSource(conn, spec);
    }
  } catch (err) {
    throw readError(spec, err);
  }
}

/** The column that catches fields beyond the header's; no header is expected to have it. */
const CSV_EXTRA = '__rehearse_extra_fields';

/**
 * CSV, read as DuckDB's sniffer sees it (delimiter, quotes, line ends, header, columns), with one
 * column more than the sniffer found: a row with more fields than that (an unquoted comma in
 * text, or a quoted one where the first 20,000 rows had no quote and quoting was left off) is
 * read in its place with its extra fields there, so the reader sets it aside as a bad row; it
 * stopped the whole read. Quotes stay the sniffer's: forcing RFC 4180's, where its sample had
 * none, let one stray quote further on swallow the rest of a file into one field, silently.
 */
async function csvSource(conn: DuckDBConnection, spec: ResolvedSpec): Promise<SourceRelation> {
  const base = 'all_varchar = true, null_padding = true, allow_quoted_nulls = false';
  type Sniffed = { d: string; quote: string; escape: string; nl: string; skip: number; header: boolean; comment: string; cols: { name: string }[] };
  const sniffWith = async (extra: string) =>
    (
      await conn.runAndReadAll(
        `SELECT Delimiter AS d, Quote AS quote, Escape AS escape, NewLineDelimiter AS nl, SkipRows AS skip, HasHeader AS header, Comment AS comment, Columns AS cols
         FROM sniff_csv(${lit(spec.path)}, header = true, ${base}${extra})`,
      )
    ).getRowObjectsJson()[0] as Sniffed;
  let sniff: Sniffed;
  try {
    sniff = await sniffWith('');
    // A "# exported by ..." line above the header became the header: the sniffer finds comment
    // lines only when told which character starts them.
    if (/^\s*#/.test(sniff.cols[0]?.name ?? '')) {
      const commented = await sniffWith(`, comment = '#'`);
      if (!/^\s*#/.test(commented.cols[0]?.name ?? '')) sniff = commented;
    }
  } catch (err) {
    // The sniffer's own words for an empty file ("detected value different than the user input
    // for the Header options") say nothing a user can act on.
    if ((await head(spec.path, 4096)).replace(/^\uFEFF/, '').trim() === '') throw new UserError(`${spec.name}: the file is empty: no header and no rows`);
    throw err;
  }
  // A quoted field the file cuts short (`head -n` of a trace whose answers span lines) makes the
  // sniffer give up on quotes inside its sample, and every row then read split at its line ends,
  // all of them bad. Where the sample has quotes, RFC 4180's are taken when more of the first
  // rows come out exactly as wide as the header with them: the rows before the cut read as
  // written and the cut one is a bad row. (Forced everywhere, they let one stray quote in a
  // quote-free file swallow the rest of it.)
  let quotedAfterAll = false;
  if (unset(sniff.quote) === '' && sniff.header && (await head(spec.path, 65_536)).includes('"')) {
    const quoted = { ...sniff, quote: '"', escape: '"' };
    const withQuotes = await rowsAsWideAsHeader(conn, spec.path, quoted);
    const without = await rowsAsWideAsHeader(conn, spec.path, sniff);
    // More whole rows, or as many in fewer records (lines split at their ends read as more); a
    // quote that swallows lines makes fewer whole rows, and is not taken.
    if (withQuotes.whole > without.whole || (withQuotes.whole === without.whole && withQuotes.share > without.share)) {
      sniff = quoted;
      quotedAfterAll = true;
    }
  }
  const dialect = dialectOptions(sniff);
  let names = sniff.cols.map((c) => c.name);
  // A row in the sniffer's sample wider than the header gave the trace columns of its own
  // (column4, ...), and every row that wide read as good, its extra fields dropped. The header
  // row says how many fields it has: read with a null string nothing matches, a header cell left
  // empty is '' and only the padding past its end is null.
  let sniffedExtras: string[] = [];
  if (sniff.header && names.length > 1) {
    const generic = names.map((_, i) => `'c${i}': 'VARCHAR'`).join(', ');
    const h = await conn.runAndReadAll(
      `SELECT * FROM read_csv(${lit(spec.path)}, auto_detect = false, ${dialect}, header = false, columns = {${generic}}, strict_mode = false, parallel = false, all_varchar = true, null_padding = true, nullstr = ${lit('\u0001')}) LIMIT 1`,
    );
    const first = h.getRowsJson()[0] ?? [];
    const fields = fieldsOf(first);
    sniffedExtras = names.slice(fields);
    names = names.slice(0, fields);
    // The sniffer named the columns without quotes: the header row read with them names them.
    if (quotedAfterAll) names = first.slice(0, fields).map((n, i) => (typeof n === 'string' && n.trim() !== '' ? n : `column${i}`));
  }
  const extras = [...sniffedExtras, CSV_EXTRA];
  const columns = [...names, ...extras].map((n) => `${lit(n)}: 'VARCHAR'`).join(', ');
  const from = `read_csv(${lit(spec.path)}, auto_detect = false, ${dialect}, header = ${sniff.header ? 'true' : 'false'}, columns = {${columns}}, strict_mode = false, parallel = false, ${base})`;
  const all = await describe(conn, from);
  return { from, columns: all.filter((c) => !extras.includes(c.name)), extraColumns: extras };
}

/** What DuckDB's sniffer reports of a CSV's dialect (sniff_csv's columns, renamed). */
type CsvDialect = { d: string; quote: string; escape: string; nl: string; skip: number; comment: string };

/** The sniffer writes an unset character as `(empty)`. */
const unset = (x: string) => (x === '(empty)' ? '' : x);

/** A dialect as read_csv's options. DuckDB spells line ends escaped (`\n`, `\r\n`), in its output as in its options. */
function dialectOptions(d: CsvDialect): string {
  const newline = ['\\n', '\\r\\n', '\\r'].includes(d.nl) ? [`new_line = ${lit(d.nl)}`] : [];
  return [`delim = ${lit(d.d)}`, `quote = ${lit(unset(d.quote))}`, `escape = ${lit(unset(d.escape))}`, ...newline, `skip = ${Number(d.skip)}`, `comment = ${lit(unset(d.comment))}`].join(', ');
}

/** Fields of a CSV record read with null padding (and a null string nothing matches): the cells before the padding. */
function fieldsOf(r: readonly unknown[]): number {
  let n = r.length;
  while (n > 1 && r[n - 1] === null) n--;
  return n;
}

/**
 * Of the first 2,000 records read in a dialect, how many have exactly the header's fields, and
 * their share of the records read: what two candidate dialects are compared by.
 */
async function rowsAsWideAsHeader(conn: DuckDBConnection, file: string, d: CsvDialect & { cols: { name: string }[] }): Promise<{ whole: number; share: number }> {
  const dialect = dialectOptions(d);
  // Generous: wide enough that a row split wrongly shows as wider, not as cut to the width.
  const width = d.cols.length + 2;
  const columns = Array.from({ length: width }, (_, i) => `'c${i}': 'VARCHAR'`).join(', ');
  const read = `read_csv(${lit(file)}, auto_detect = false, ${dialect}, header = false, columns = {${columns}}, strict_mode = false, parallel = false, all_varchar = true, null_padding = true, nullstr = ${lit('\u0001')})`;
  const rows = (await conn.runAndReadAll(`SELECT * FROM ${read} LIMIT 2001`)).getRowsJson();
  const header = fieldsOf(rows[0] ?? []);
  const body = rows.slice(1);
  const whole = body.filter((r) => fieldsOf(r) === header).length;
  return { whole, share: body.length ? whole / body.length : 0 };
}

async function duckdbSource(conn: DuckDBConnection, spec: ResolvedSpec): Promise<SourceRelation> {
  await conn.run(`ATTACH ${lit(spec.path)} AS __srcdb (READ_ONLY)`);
  const r = await conn.runAndReadAll(
    `SELECT schema_name AS s, table_name AS t FROM duckdb_tables() WHERE database_name = '__srcdb'
     UNION ALL SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = '__srcdb' AND NOT internal ORDER BY 1, 2`,
  );
  const tables = r.getRowObjectsJson().map((x) => ({ schema: String(x.s), table: String(x.t) }));
  const label = (x: { schema: string; table: string }) => (x.schema === 'main' ? x.table : `${x.schema}.${x.table}`);
  let pick: { schema: string; table: string } | undefined;
  if (spec.table) {
    const [a, b] = spec.table.includes('.') ? spec.table.split('.', 2) : ['main', spec.table];
    pick = tables.find((x) => x.schema === a && x.table === b) ?? tables.find((x) => x.schema.toLowerCase() === a!.toLowerCase() && x.table.toLowerCase() === b!.toLowerCase());
    if (!pick) throw new UserError(`${spec.name}: no table "${spec.table}" in ${spec.path} (tables: ${tables.map(label).join(', ') || 'none'})`);
  } else if (tables.length === 1) {
    pick = tables[0];
  } else {
    throw new UserError(`${spec.path}: name the table as ${spec.path}:<table> (tables: ${tables.map(label).join(', ') || 'none'})`);
  }
  const from = `__srcdb.${ident(pick!.schema)}.${ident(pick!.table)}`;
  return { from, columns: await describe(conn, from) };
}

// ---------------------------------------------------------------------------------------------
// OpenTelemetry GenAI spans (OTLP JSON)

const SPAN_FIELDS = ['traceId', 'spanId', 'parentSpanId', 'name', 'kind', 'startTimeUnixNano', 'endTimeUnixNano'];

function attr(key: string, alsoResource = false): string {
  const span = `__otel_val(__otel_attr(attrs, ${lit(key)}))`;
  return alsoResource ? `coalesce(${span}, __otel_val(__otel_attr(rattrs, ${lit(key)})))` : span;
}

async function otelSource(conn: DuckDBConnection, spec: ResolvedSpec, map: Map<string, CanonicalColumn>): Promise<SourceRelation> {
  await conn.run(`CREATE OR REPLACE MACRO __otel_attr(attrs, k) AS (list_filter(attrs, a -> json_extract_string(a, '$.key') = k)[1])`);
  await conn.run(`CREATE OR REPLACE MACRO __otel_val(a) AS coalesce(
    json_extract_string(a, '$.value.stringValue'), json_extract_string(a, '$.value.intValue'),
    json_extract_string(a, '$.value.doubleValue'), json_extract_string(a, '$.value.boolValue'),
    array_to_string(json_extract_string(a, '$.value.arrayValue.values[*].stringValue'), ','))`);
  const start = `json_extract_string(sp, '$.startTimeUnixNano')`;
  const end = `json_extract_string(sp, '$.endTimeUnixNano')`;
  const code = `json_extract_string(sp, '$.status.code')`;
  const finish = `json_extract_string(__otel_attr(attrs, 'gen_ai.response.finish_reasons'), '$.value.arrayValue.values[*].stringValue')`;
  const defaults: { column: CanonicalColumn; sql: string; source: string }[] = [
    { column: 'request_id', sql: `json_extract_string(sp, '$.spanId')`, source: 'spanId' },
    // Whole milliseconds exactly, then the nanoseconds beyond them (a DOUBLE of 1.7e18 ns would round).
    { column: 'timestamp', sql: `(TRY_CAST(${start} AS BIGINT) // 1000000)::DOUBLE + (TRY_CAST(${start} AS BIGINT) % 1000000)::DOUBLE / 1e6`, source: 'startTimeUnixNano' },
    { column: 'session_id', sql: `coalesce(${attr('session.id')}, ${attr('gen_ai.conversation.id')}, json_extract_string(sp, '$.traceId'))`, source: 'session.id, gen_ai.conversation.id or traceId' },
    { column: 'model', sql: `coalesce(${attr('gen_ai.request.model')}, ${attr('gen_ai.response.model')})`, source: 'gen_ai.request.model (or gen_ai.response.model)' },
    { column: 'input', sql: `coalesce(${attr('gen_ai.input.messages')}, ${attr('gen_ai.prompt')})`, source: 'gen_ai.input.messages (or gen_ai.prompt)' },
    { column: 'output', sql: `coalesce(${attr('gen_ai.output.messages')}, ${attr('gen_ai.completion')})`, source: 'gen_ai.output.messages (or gen_ai.completion)' },
    { column: 'input_tokens', sql: `coalesce(${attr('gen_ai.usage.input_tokens')}, ${attr('gen_ai.usage.prompt_tokens')})`, source: 'gen_ai.usage.input_tokens' },
    { column: 'output_tokens', sql: `coalesce(${attr('gen_ai.usage.output_tokens')}, ${attr('gen_ai.usage.completion_tokens')})`, source: 'gen_ai.usage.output_tokens' },
    {
      column: 'latency_ms',
      sql: `(TRY_CAST(${end} AS BIGINT) - TRY_CAST(${start} AS BIGINT)) / 1e6`,
      source: 'endTimeUnixNano − startTimeUnixNano',
    },
    {
      column: 'status',
      sql: `CASE WHEN ${code} IN ('2', 'STATUS_CODE_ERROR') THEN
              CASE WHEN contains(lower(coalesce(${attr('error.type')}, '')), 'timeout') THEN 'timeout' ELSE 'error' END
            ELSE 'ok' END`,
      source: 'status.code (2 = error; error.type *timeout* = timeout)',
    },
    { column: 'refusal', sql: `coalesce(list_contains(${finish}, 'content_filter'), false)`, source: 'gen_ai.response.finish_reasons has content_filter' },
  ];
  const columns = new Map(defaults.map((d) => [d.column, d]));
  for (const [key, col] of map) {
    const sql = SPAN_FIELDS.includes(key) ? `json_extract_string(sp, ${lit('$.' + key)})` : attr(key, true);
    columns.set(col, { column: col, sql, source: key });
  }
  // DuckDB holds one JSON document in a buffer of about twice this size: fit it to the file.
  const size = statSync(spec.path).size;
  const maxObject = Math.min(Math.max(16 << 20, /\.(gz|gzip|zst|zstd)$/i.test(spec.path) ? size * 20 : size + 1024), 512 << 20);
  const select = [...columns.values()].map((c) => `${c.sql} AS ${ident(c.column)}`).join(',\n  ');
  const sql = `CREATE OR REPLACE VIEW __otel AS
WITH docs AS (SELECT json AS doc FROM read_json_objects(${lit(spec.path)}, format = 'auto', maximum_object_size = ${maxObject})),
rs AS (SELECT unnest(json_extract(doc, '$.resourceSpans[*]')) AS r FROM docs),
ss AS (SELECT r, unnest(json_extract(r, '$.scopeSpans[*]')) AS s FROM rs),
sps AS (SELECT r, unnest(json_extract(s, '$.spans[*]')) AS sp FROM ss),
x AS (SELECT sp, json_extract(sp, '$.attributes[*]') AS attrs, json_extract(r, '$.resource.attributes[*]') AS rattrs FROM sps)
SELECT
  ${select},
  sp::VARCHAR AS __raw
FROM x
WHERE len(list_filter(attrs, a -> starts_with(json_extract_string(a, '$.key'), 'gen_ai.'))) > 0`;
  await conn.run(sql);
  const entries: MappingEntry[] = [...columns.values()].map((c) => ({ column: c.column, source: c.source, via: map.has(c.source) ? 'map' : 'otel' }));
  const cols = (await describe(conn, '__otel')).filter((c) => c.name !== '__raw');
  return { from: '__otel', columns: cols, otel: entries, hasRaw: true };
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC, through apache-arrow

type ArrowKind = 'number' | 'bigint' | 'bool' | 'text' | 'json';

function arrowKind(type: DataType): ArrowKind {
  if (DataType.isInt(type)) return type.bitWidth === 64 ? 'bigint' : 'number';
  if (DataType.isFloat(type) || DataType.isTimestamp(type) || DataType.isDate(type)) return 'number';
  if (DataType.isDecimal(type)) return 'json';
  if (DataType.isBool(type)) return 'bool';
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return 'text';
  if (DataType.isDictionary(type)) return DataType.isUtf8(type.dictionary) || DataType.isLargeUtf8(type.dictionary) ? 'text' : 'json';
  return 'json';
}

const jsonReplacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? Number(v) : v);

function arrowValue(kind: ArrowKind, v: unknown): number | boolean | string | null {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'number': {
      // NaN is how batches (and so rehearse's Arrow files) spell null.
      const x = Number(v);
      return Number.isNaN(x) ? null : x;
    }
    case 'bigint':
      return Number(v as bigint);
    case 'bool':
      return Boolean(v);
    case 'text':
      return String(v);
    case 'json': {
      const j = typeof (v as { toJSON?: () => unknown }).toJSON === 'function' ? (v as { toJSON: () => unknown }).toJSON() : v;
      return typeof j === 'string' ? j : JSON.stringify(j, jsonReplacer);
    }
  }
}

async function arrowSource(conn: DuckDBConnection, spec: ResolvedSpec): Promise<SourceRelation> {
  const fh = await open(spec.path, 'r');
  try {
    let reader;
    try {
      reader = await RecordBatchReader.from(fh);
      await reader.open();
    } catch (err) {
      throw new UserError(`${spec.name}: not an Arrow IPC file or stream: ${(err as Error).message.split('\n')[0]}`);
    }
    const fields = reader.schema.fields;
    const kinds = fields.map((f) => arrowKind(f.type));
    const types: DuckDBType[] = kinds.map((k) => (k === 'number' || k === 'bigint' ? DOUBLE : k === 'bool' ? BOOLEAN : VARCHAR));
    const ddl = fields.map((f, i) => `${ident(f.name)} ${types[i] === DOUBLE ? 'DOUBLE' : types[i] === BOOLEAN ? 'BOOLEAN' : 'VARCHAR'}`).join(', ');
    await conn.run(`CREATE OR REPLACE TABLE __arrow (${ddl || '"__empty" VARCHAR'})`);
    const appender = await conn.createAppender('__arrow');
    try {
      for await (const batch of reader) {
        const vectors: (Vector | null)[] = fields.map((f) => batch.getChild(f.name));
        for (let from = 0; from < batch.numRows; from += 2048) {
          const n = Math.min(2048, batch.numRows - from);
          const columns = vectors.map((v, j) => {
            const out = new Array<number | boolean | string | null>(n);
            for (let i = 0; i < n; i++) out[i] = v ? arrowValue(kinds[j]!, v.get(from + i)) : null;
            return out;
          });
          const chunk = DuckDBDataChunk.create(types, n);
          chunk.setColumns(columns);
          appender.appendDataChunk(chunk);
        }
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  } finally {
    await fh.close();
  }
  return { from: '__arrow', columns: await describe(conn, '__arrow') };
}
