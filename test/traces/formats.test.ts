import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { Bool, Dictionary, Float64, Int32, Int64, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/config/errors.js';
import type { CanonicalColumn } from '../../src/traces/canonical.js';
import { type ResolvedSpec, type SourceRelation, TRACE_FORMATS, duckdbReason, openSource, resolveSpec, splitDuckdbSpec } from '../../src/traces/formats.js';

const root = path.resolve(import.meta.dirname, '../..');
const OTEL = path.join(root, 'traces/otel-genai.json');

let dir: string;
const file = (name: string) => path.join(dir, name);
const put = (name: string, text: string | Uint8Array) => {
  writeFileSync(file(name), text);
  return file(name);
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-formats-'));
  // A DuckDB file with two tables in main, one in another schema, and a view.
  const db = await DuckDBInstance.create(file('two.duckdb'));
  const c = await db.connect();
  await c.run(`CREATE TABLE requests AS SELECT 1 AS a, 'x' AS b`);
  await c.run(`CREATE TABLE Other AS SELECT 2.5::DOUBLE AS z`);
  await c.run(`CREATE SCHEMA prod`);
  await c.run(`CREATE TABLE prod.spans AS SELECT 'q' AS s`);
  await c.run(`CREATE VIEW recent AS SELECT * FROM requests`);
  c.closeSync();
  db.closeSync();
  const one = await DuckDBInstance.create(file('one.duckdb'));
  const c1 = await one.connect();
  await c1.run(`CREATE TABLE only_table AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(n, t)`);
  c1.closeSync();
  one.closeSync();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('splitDuckdbSpec', () => {
  it('splits file.duckdb:table (and .ddb, .db), keeping schema.table whole', () => {
    expect(splitDuckdbSpec('data/prod.duckdb:requests')).toEqual({ path: 'data/prod.duckdb', table: 'requests' });
    expect(splitDuckdbSpec('x.DDB:t')).toEqual({ path: 'x.DDB', table: 't' });
    expect(splitDuckdbSpec('x.db:prod.spans')).toEqual({ path: 'x.db', table: 'prod.spans' });
  });

  it('leaves other paths alone: other extensions, a table part with a slash, a file that exists under the whole name', () => {
    expect(splitDuckdbSpec('x.csv:t')).toEqual({ path: 'x.csv:t' });
    expect(splitDuckdbSpec('x.duckdb')).toEqual({ path: 'x.duckdb' });
    expect(splitDuckdbSpec('x.duckdb:dir/t')).toEqual({ path: 'x.duckdb:dir/t' });
    const literal = put('odd.duckdb:t', 'not a database');
    expect(splitDuckdbSpec(literal)).toEqual({ path: literal });
  });
});

describe('resolveSpec', () => {
  it('tells the format from the extension, any case, through .gz and .zst', async () => {
    const cases: [string, string][] = [
      ['a.parquet', 'parquet'],
      ['a.pq', 'parquet'],
      ['a.csv', 'csv'],
      ['a.tsv', 'csv'],
      ['a.CSV.GZ', 'csv'],
      ['a.csv.zst', 'csv'],
      ['a.arrow', 'arrow'],
      ['a.arrows', 'arrow'],
      ['a.feather', 'arrow'],
      ['a.ipc', 'arrow'],
      ['a.duckdb', 'duckdb'],
      ['a.ddb', 'duckdb'],
      ['a.db', 'duckdb'],
      ['a.jsonl', 'jsonl'],
      ['a.ndjson', 'jsonl'],
    ];
    for (const [name, format] of cases) {
      const p = put(name, '{"x": 1}\n');
      expect(await resolveSpec(p), name).toEqual({ name: p, path: p, table: undefined, format });
    }
  });

  it('tells JSON from OpenTelemetry by the content: resourceSpans makes it otel, also gzipped', async () => {
    expect((await resolveSpec(put('records.json', '[{"timestamp": 1, "latency_ms": 2}]'))).format).toBe('json');
    expect((await resolveSpec(put('lines.jsonl', '{"timestamp": 1}\n'))).format).toBe('jsonl');
    expect((await resolveSpec(put('spans.json', '{\n  "resourceSpans" : []}'))).format).toBe('otel');
    expect((await resolveSpec(put('spans.jsonl', '{"resourceSpans":[]}\n{"resourceSpans":[]}\n'))).format).toBe('otel');
    expect((await resolveSpec(put('spans.json.gz', gzipSync('{"resourceSpans": []}')))).format).toBe('otel');
    expect((await resolveSpec(put('records.json.gz', gzipSync('[{"a": 1}]')))).format).toBe('json');
    // zstd is not sniffed: a .json.zst is plain JSON.
    expect((await resolveSpec(put('spans.json.zst', 'whatever'))).format).toBe('json');
    expect((await resolveSpec(OTEL)).format).toBe('otel');
  });

  it('a given format wins over the extension; the spec object may carry it', async () => {
    const p = put('trace.txt', 'a,b\n');
    expect(await resolveSpec(p, 'csv')).toEqual({ name: p, path: p, table: undefined, format: 'csv' });
    expect((await resolveSpec({ path: p, format: 'jsonl' })).format).toBe('jsonl');
    expect((await resolveSpec({ path: p, format: 'jsonl' }, 'csv')).format).toBe('csv');
    expect((await resolveSpec(put('x.csv', 'a\n'), 'parquet')).format).toBe('parquet');
  });

  it('names a DuckDB table as path:table', async () => {
    const db = file('two.duckdb');
    expect(await resolveSpec(`${db}:requests`)).toEqual({ name: `${db}:requests`, path: db, table: 'requests', format: 'duckdb' });
    expect(await resolveSpec({ path: db, table: 'prod.spans' })).toEqual({ name: `${db}:prod.spans`, path: db, table: 'prod.spans', format: 'duckdb' });
  });

  it('refuses, naming the file: a missing file, a folder, an unknown format, a name it cannot read, :table on a non-DuckDB file', async () => {
    const missing = file('nope.csv');
    await expect(resolveSpec(missing)).rejects.toThrow(new UserError(`${missing}: no such file`));
    mkdirSync(file('folder.csv'), { recursive: true });
    await expect(resolveSpec(file('folder.csv'))).rejects.toThrow(`${file('folder.csv')}: is a folder; give a trace file`);
    const p = put('t.csv', 'a\n');
    await expect(resolveSpec(p, 'xml' as never)).rejects.toThrow(`${p}: unknown format "xml" (one of ${TRACE_FORMATS.join(', ')})`);
    const txt = put('notes.txt', 'hello');
    const err = await resolveSpec(txt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(new RegExp(`^${txt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot tell the trace format from the name`));
    await expect(resolveSpec({ path: p, table: 'x' })).rejects.toThrow(`${p}:x: a :table suffix only applies to DuckDB files`);
  });
});

describe('openSource', () => {
  let instance: DuckDBInstance;
  let conn: DuckDBConnection;
  const none = new Map<string, CanonicalColumn>();
  /** The source's rows, its columns only (a CSV's extra-fields column is the reader's). */
  const rows = async (src: SourceRelation, order = '') =>
    (await conn.runAndReadAll(`SELECT ${src.columns.map((c) => `"${c.name.replace(/"/g, '""')}"`).join(', ')} FROM ${src.from}${order}`)).getRowObjectsJson();
  const spec = async (p: string, format?: ResolvedSpec['format']) => resolveSpec(p, format);

  beforeEach(async () => {
    instance = await DuckDBInstance.create(':memory:');
    conn = await instance.connect();
  });
  afterEach(() => {
    conn.closeSync();
    instance.closeSync();
  });

  it('reads CSV as text, column by column, short rows padded with nulls', async () => {
    const p = put('plain.csv', 'timestamp,input_tokens,tenant\n2024-05-01T09:00:00Z,007,acme\n1000,12\n');
    const src = await openSource(conn, await spec(p), none);
    expect(src.columns).toEqual([
      { name: 'timestamp', type: 'VARCHAR' },
      { name: 'input_tokens', type: 'VARCHAR' },
      { name: 'tenant', type: 'VARCHAR' },
    ]);
    // 007 stays as written: nothing is parsed here, so a bad value can only spoil its own row.
    expect(await rows(src)).toEqual([
      { timestamp: '2024-05-01T09:00:00Z', input_tokens: '007', tenant: 'acme' },
      { timestamp: '1000', input_tokens: '12', tenant: null },
    ]);
    expect(src.otel).toBeUndefined();
  });

  it('reads JSON lines and JSON arrays with every column as text', async () => {
    const jl = put('plain.jsonl', '{"timestamp": 1000, "latency_ms": 12.5, "model": "m"}\n{"timestamp": "2024-05-01", "latency_ms": "oops", "model": null}\n');
    const a = await openSource(conn, await spec(jl), none);
    expect(a.columns.map((c) => c.type)).toEqual(['VARCHAR', 'VARCHAR', 'VARCHAR']);
    expect(await rows(a)).toEqual([
      { timestamp: '1000', latency_ms: '12.5', model: 'm' },
      { timestamp: '2024-05-01', latency_ms: 'oops', model: null },
    ]);
    const arr = put('plain.json', '[{"timestamp": 5, "output_tokens": 3}, {"timestamp": 6, "output_tokens": 4}]');
    const b = await openSource(conn, await spec(arr), none);
    expect(b.columns).toEqual([
      { name: 'timestamp', type: 'VARCHAR' },
      { name: 'output_tokens', type: 'VARCHAR' },
    ]);
    expect(await rows(b)).toEqual([
      { timestamp: '5', output_tokens: '3' },
      { timestamp: '6', output_tokens: '4' },
    ]);
  });

  it('reads a quoted line break inside a value, and a quoted empty value as empty text, an unquoted one as null', async () => {
    // DuckDB's parallel CSV scanner refuses quoted line breaks together with null padding, and by
    // default reads "" as NULL: an empty answer would become a missing one.
    const p = put('quoted.csv', 'timestamp,latency_ms,output\n1,2,"x\ny"\n3,4,""\n5,6,\n');
    const src = await openSource(conn, await spec(p), none);
    expect(await rows(src)).toEqual([
      { timestamp: '1', latency_ms: '2', output: 'x\ny' },
      { timestamp: '3', latency_ms: '4', output: '' },
      { timestamp: '5', latency_ms: '6', output: null },
    ]);
  });

  it('reads gzipped CSV', async () => {
    const p = put('z.csv.gz', gzipSync('timestamp,latency_ms\n1,2\n3,4\n'));
    const src = await openSource(conn, await spec(p), none);
    expect(await rows(src)).toEqual([
      { timestamp: '1', latency_ms: '2' },
      { timestamp: '3', latency_ms: '4' },
    ]);
  });

  it('reads Parquet with its own types', async () => {
    const p = file('typed.parquet');
    await conn.run(`COPY (SELECT 1::BIGINT AS n, 2.5::DOUBLE AS x, 'it''s' AS s) TO '${p.replace(/'/g, "''")}' (FORMAT parquet)`);
    const src = await openSource(conn, await spec(p), none);
    expect(src.columns).toEqual([
      { name: 'n', type: 'BIGINT' },
      { name: 'x', type: 'DOUBLE' },
      { name: 's', type: 'VARCHAR' },
    ]);
    expect(await rows(src)).toEqual([{ n: '1', x: 2.5, s: "it's" }]);
  });

  it('reads the one table of a DuckDB file without a name, and a named one among several', async () => {
    const one = await openSource(conn, await spec(file('one.duckdb')), none);
    expect(one.columns.map((c) => c.name)).toEqual(['n', 't']);
    expect(await rows(one, ' ORDER BY n')).toEqual([
      { n: 1, t: 'a' },
      { n: 2, t: 'b' },
    ]);
  });

  it('finds a table by its name in any case', async () => {
    const other = await openSource(conn, await spec(`${file('two.duckdb')}:other`), none);
    expect(await rows(other)).toEqual([{ z: 2.5 }]);
  });

  it('finds schema.table', async () => {
    const prod = await openSource(conn, await spec(`${file('two.duckdb')}:prod.spans`), none);
    expect(await rows(prod)).toEqual([{ s: 'q' }]);
  });

  it('finds a view', async () => {
    const view = await openSource(conn, await spec(`${file('two.duckdb')}:recent`), none);
    expect(await rows(view)).toEqual([{ a: 1, b: 'x' }]);
  });

  it('asks for the table when a DuckDB file has several, listing them', async () => {
    const db = file('two.duckdb');
    await expect(openSource(conn, await spec(db), none)).rejects.toThrow(`${db}: name the table as ${db}:<table> (tables: Other, recent, requests, prod.spans)`);
  });

  it('says which tables there are when the name matches none', async () => {
    const db = file('two.duckdb');
    await expect(openSource(conn, await spec(`${db}:nope`), none)).rejects.toThrow(`${db}:nope: no table "nope" in ${db} (tables: Other, recent, requests, prod.spans)`);
  });

  it('reads Arrow IPC (file and stream) into a table: numbers as DOUBLE with NaN as NULL, booleans, text, dictionaries', async () => {
    const t = new Table({
      i32: vectorFromArray([1, null, 3], new Int32()),
      i64: vectorFromArray([2n ** 40n, 5n, null], new Int64()),
      f64: vectorFromArray([0.5, NaN, null], new Float64()),
      flag: vectorFromArray([true, false, null], new Bool()),
      text: vectorFromArray(['é', null, '"q"'], new Utf8()),
      dict: vectorFromArray(['x', 'y', 'x'], new Dictionary(new Utf8(), new Int32())),
      'we"ird': vectorFromArray([1, 2, 3], new Float64()),
    });
    // 2^40 = 1099511627776, exact in a double.
    const expected = [
      { i32: 1, i64: 1099511627776, f64: 0.5, flag: true, text: 'é', dict: 'x', 'we"ird': 1 },
      { i32: null, i64: 5, f64: null, flag: false, text: null, dict: 'y', 'we"ird': 2 },
      { i32: 3, i64: null, f64: null, flag: null, text: '"q"', dict: 'x', 'we"ird': 3 },
    ];
    for (const [name, kind] of [
      ['t.arrow', 'file'],
      ['t.arrows', 'stream'],
    ] as const) {
      const p = put(name, tableToIPC(t, kind));
      const src = await openSource(conn, await spec(p), none);
      expect(src.columns).toEqual([
        { name: 'i32', type: 'DOUBLE' },
        { name: 'i64', type: 'DOUBLE' },
        { name: 'f64', type: 'DOUBLE' },
        { name: 'flag', type: 'BOOLEAN' },
        { name: 'text', type: 'VARCHAR' },
        { name: 'dict', type: 'VARCHAR' },
        { name: 'we"ird', type: 'DOUBLE' },
      ]);
      expect(await rows(src), name).toEqual(expected);
    }
  });

  it('reads every row of a multi-batch Arrow file, past the 2048-row chunks', async () => {
    // Two record batches of 3000 and 2000 rows: x = 0..4999, so the sum is 4999·5000/2 = 12,497,500.
    const mk = (from: number, n: number) => new Table({ x: vectorFromArray(Array.from({ length: n }, (_, i) => from + i), new Float64()) });
    const t = mk(0, 3000).concat(mk(3000, 2000));
    expect(t.batches).toHaveLength(2);
    const p = put('many.arrow', tableToIPC(t, 'file'));
    const src = await openSource(conn, await spec(p), none);
    const r = await conn.runAndReadAll(`SELECT count(*)::DOUBLE, sum(x), min(x), max(x) FROM ${src.from}`);
    expect(r.getRows()[0]).toEqual([5000, 12497500, 0, 4999]);
  });

  it('refuses a file that is not Arrow IPC, naming it', async () => {
    const p = put('fake.arrow', 'timestamp,latency_ms\n1,2\n');
    const err = await openSource(conn, await spec(p), none).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message.startsWith(`${p}: not an Arrow IPC file or stream`)).toBe(true);
  });

  it('names the first line of a JSONL file without any object, and a JSON array whose items are not all objects', async () => {
    const jsonl = put('no-objects.jsonl', '\n[1,2]\n3\n');
    const err = await openSource(conn, await spec(jsonl), none).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(`${jsonl}: line 2 is not a JSON object ([1,2]); a JSONL trace holds one object per line`);
    const json = put('mixed.json', '[{"request_id":"a","timestamp":"2024-05-01T09:00:00Z"}, 3]');
    const err2 = await openSource(conn, await spec(json), none).catch((e: unknown) => e);
    expect((err2 as Error).message).toBe(`${json}: not a JSON array of objects (one object per request)`);
  });

  it("keeps the reason of DuckDB's CSV errors, which comes lines after the first (a file not in UTF-8)", async () => {
    const p = put('latin1.csv', Buffer.concat([Buffer.from('timestamp,input_tokens,input\n2024-01-01T00:00:00Z,10,caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    const err = await openSource(conn, await spec(p), none)
      .then(async (src) => conn.run(`SELECT * FROM ${src.from}`))
      .catch((e: unknown) => e);
    const message = err instanceof UserError ? err.message : `${p}: cannot read as csv: ${duckdbReason(err)}`;
    expect(message).toMatch(/latin1\.csv: cannot read as csv: .*CSV Error on Line: 2: Invalid unicode .* not utf-8 encoded/);
    expect(message).not.toContain('\n');
  });

  it('wraps DuckDB read errors in a message naming the file and the format', async () => {
    const p = put('broken.parquet', 'this is not parquet');
    const err = await openSource(conn, await spec(p), none).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message.startsWith(`${p}: cannot read as parquet: `)).toBe(true);
    expect((err as Error).message).not.toContain('\n');
  });

  it('reads OpenTelemetry GenAI spans: only spans with gen_ai.* attributes, fields mapped as documented', async () => {
    const src = await openSource(conn, await spec(OTEL), none);
    expect(src.hasRaw).toBe(true);
    expect(src.columns.map((c) => c.name)).toEqual(['request_id', 'timestamp', 'session_id', 'model', 'input', 'output', 'input_tokens', 'output_tokens', 'latency_ms', 'status', 'refusal']);
    const r = await rows(src);
    // The file holds 7 spans; the first (POST /v1/support) has only http.* attributes.
    expect(r.map((x) => x.request_id)).toEqual(['a2fb4a1d1a96d312', 'a2fb4a1d1a96d313', 'b9c7c989f97918e1', 'b9c7c989f97918e2', 'c1d2e3f4a5b6c7d8', 'c1d2e3f4a5b6c7d9']);
    const by = Object.fromEntries(r.map((x) => [x.request_id, x]));
    const first = by.a2fb4a1d1a96d312!;
    // startTimeUnixNano 1714554000020000000 ns = 1714554000020 ms; end − start = 1,840,000,000 ns = 1840 ms.
    expect(first.timestamp).toBe(1714554000020);
    expect(first.latency_ms).toBe(1840);
    expect(first.session_id).toBe('conv-42'); // gen_ai.conversation.id (no session.id on it)
    expect(first.model).toBe('gpt-4o-mini'); // the request model, not the response's
    expect(first.input_tokens).toBe('58');
    expect(first.output_tokens).toBe('24');
    expect(first.status).toBe('ok');
    expect(first.refusal).toBe(false);
    expect(String(first.input)).toContain('Where is my refund for order 1182?');
    expect(by.a2fb4a1d1a96d313!.refusal).toBe(true); // finish_reasons has content_filter
    expect(by.b9c7c989f97918e1!.session_id).toBe('sess-7'); // session.id beats the trace id
    expect(by.b9c7c989f97918e2!.status).toBe('timeout'); // code 2 with error.type "timeout"
    expect(by.b9c7c989f97918e2!.latency_ms).toBe(30000); // 1714554036.1 s − 1714554006.1 s
    expect(by.b9c7c989f97918e2!.output_tokens).toBeNull();
    expect(by.c1d2e3f4a5b6c7d8!.status).toBe('error'); // STATUS_CODE_ERROR, error.type "500"
    expect(by.c1d2e3f4a5b6c7d8!.latency_ms).toBe(950);
    expect(by.c1d2e3f4a5b6c7d9!.output).toBeNull();
    expect(by.c1d2e3f4a5b6c7d9!.model).toBe('llama-3.1-70b');
    expect(src.otel!.every((e) => e.via === 'otel')).toBe(true);
    expect(src.otel!.find((e) => e.column === 'latency_ms')!.source).toBe('endTimeUnixNano − startTimeUnixNano');
  });

  it('maps extra OpenTelemetry span fields and span or resource attributes when asked', async () => {
    const map = new Map<string, CanonicalColumn>([
      ['gen_ai.provider.name', 'tenant'],
      ['service.name', 'route'],
      ['traceId', 'session_id'],
    ]);
    const src = await openSource(conn, await spec(OTEL), map);
    const r = await rows(src);
    expect(r.map((x) => x.tenant)).toEqual(['openai', 'openai', 'openai', 'openai', 'vllm', 'vllm']);
    // service.name is a resource attribute: support-api for the first service.
    expect(r[0]!.route).toBe('support-api');
    // traceId replaces the session default: both spans of the first trace share its id.
    expect(r[0]!.session_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(r[1]!.session_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const entry = (c: string) => src.otel!.find((e) => e.column === c);
    expect(entry('tenant')).toEqual({ column: 'tenant', source: 'gen_ai.provider.name', via: 'map' });
    expect(entry('session_id')).toEqual({ column: 'session_id', source: 'traceId', via: 'map' });
    expect(entry('model')!.via).toBe('otel');
  });
});
