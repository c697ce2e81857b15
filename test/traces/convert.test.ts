import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DataType, Precision, tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/config/errors.js';
import type { TraceRow } from '../../src/traces/canonical.js';
import { convertFormat, convertTrace } from '../../src/traces/convert.js';
import { readTraceRows } from '../../src/traces/reader.js';

const root = path.resolve(import.meta.dirname, '../..');
const AZURE = path.join(root, 'traces/azure-llm-2023-code.csv');

let dir: string;
const file = (name: string) => path.join(dir, name);

/**
 * Five rows in file order, two of them bad: r3 has a negative latency, r5 an unreadable
 * timestamp. The good ones are out of time order (r2 first, then r4, then r1), and r2's time has
 * half a millisecond.
 */
const SOURCE = [
  { request_id: 'r1', timestamp: '2024-05-01T09:00:02Z', tenant: 'acme', input: 'Grüße, "東京", a, b', input_tokens: 100, output_tokens: 20, latency_ms: 500, status: 'ok', refusal: false, feedback: 1 },
  { request_id: 'r2', timestamp: '2024-05-01T09:00:00.0005Z', tenant: 'globex', input: 'line one\nline two', input_tokens: 7, output_tokens: 3, latency_ms: 12.25, status: 'refusal', refusal: null, feedback: null },
  { request_id: 'r3', timestamp: '2024-05-01T09:00:03Z', tenant: 'acme', input: 'x', input_tokens: 1, output_tokens: 1, latency_ms: -5, status: 'ok', refusal: false, feedback: 0 },
  { request_id: 'r4', timestamp: '2024-05-01T09:00:01Z', tenant: null, input: null, input_tokens: 50, output_tokens: null, latency_ms: 3000, status: 'error', refusal: false, feedback: -1 },
  { request_id: 'r5', timestamp: 'yesterday', tenant: 'acme', input: 'y', input_tokens: 1, output_tokens: 1, latency_ms: 1, status: 'ok', refusal: false, feedback: 0 },
];

// 2024-05-01T09:00:00Z is 1714554000000 ms since the epoch (19844 days · 86,400,000 + 9 h).
const T0 = Date.UTC(2024, 4, 1, 9, 0, 0);

/** The good rows as canonical rows, in time order; `row` is the position in a converted file. */
const EXPECTED: Omit<TraceRow, 'row'>[] = [
  // status `refusal` reads as ok with refusal true.
  { request_id: 'r2', timestamp: T0 + 0.5, session_id: null, tenant: 'globex', route: null, model: null, input: 'line one\nline two', output: null, input_tokens: 7, output_tokens: 3, latency_ms: 12.25, ttft_ms: null, status: 'ok', refusal: true, cost_usd: null, feedback: null },
  { request_id: 'r4', timestamp: T0 + 1000, session_id: null, tenant: null, route: null, model: null, input: null, output: null, input_tokens: 50, output_tokens: null, latency_ms: 3000, ttft_ms: null, status: 'error', refusal: false, cost_usd: null, feedback: -1 },
  { request_id: 'r1', timestamp: T0 + 2000, session_id: null, tenant: 'acme', route: null, model: null, input: 'Grüße, "東京", a, b', output: null, input_tokens: 100, output_tokens: 20, latency_ms: 500, ttft_ms: null, status: 'ok', refusal: false, cost_usd: null, feedback: 1 },
];
const COLUMNS = ['request_id', 'timestamp', 'tenant', 'input', 'input_tokens', 'output_tokens', 'latency_ms', 'status', 'refusal', 'feedback'];

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-convert-'));
  writeFileSync(file('source.jsonl'), SOURCE.map((r) => JSON.stringify(r)).join('\n') + '\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('convertFormat', () => {
  it('takes the output format from the extension, in any case', () => {
    expect(convertFormat('a.parquet')).toEqual({ format: 'parquet', arrowStream: false });
    expect(convertFormat('a.PQ')).toEqual({ format: 'parquet', arrowStream: false });
    expect(convertFormat('a.arrow')).toEqual({ format: 'arrow', arrowStream: false });
    expect(convertFormat('a.feather')).toEqual({ format: 'arrow', arrowStream: false });
    expect(convertFormat('a.ipc')).toEqual({ format: 'arrow', arrowStream: false });
    expect(convertFormat('dir.v2/a.Arrows')).toEqual({ format: 'arrow', arrowStream: true });
    expect(convertFormat('a.jsonl')).toEqual({ format: 'jsonl', arrowStream: false });
    expect(convertFormat('a.ndjson')).toEqual({ format: 'jsonl', arrowStream: false });
    expect(convertFormat('a.csv')).toEqual({ format: 'csv', arrowStream: false });
  });

  it('refuses any other name, naming it', () => {
    for (const out of ['a.json', 'a.txt', 'a', 'a.csv.gz', 'a.duckdb']) {
      expect(() => convertFormat(out)).toThrow(UserError);
      expect(() => convertFormat(out)).toThrow(`${out}: write the canonical trace as .parquet, .arrow (or .arrows, .feather), .jsonl or .csv`);
    }
  });
});

describe('convertTrace', () => {
  const outputs = ['out.parquet', 'out.arrow', 'out.arrows', 'out.jsonl', 'out.csv'];

  it.each(outputs)('writes %s with the good rows only, in time order, and it reads back as the same trace', async (name) => {
    const out = file(name);
    const result = await convertTrace(file('source.jsonl'), out);
    expect(result.out).toBe(out);
    expect(result.format).toBe(convertFormat(name).format);
    expect(result.rows).toBe(3);
    expect(result.trace).toMatchObject({ name: file('source.jsonl'), rows: 5, good: 3, bad: 2, columns: COLUMNS });
    expect(result.trace.badByReason).toMatchObject({ negative_value: 1, bad_timestamp: 1, bad_number: 0 });
    const back = await readTraceRows(out);
    expect(back.trace.columns).toEqual(COLUMNS);
    expect(back.trace.bad).toBe(0);
    expect(back.trace.sorted).toBe(true);
    expect(back.rows).toEqual(EXPECTED.map((r, i) => ({ row: i + 1, ...r })));
  });

  it('leaves no temporary file beside the outputs', async () => {
    const sub = file('clean');
    mkdirSync(sub, { recursive: true });
    for (const name of outputs) await convertTrace(file('source.jsonl'), path.join(sub, name));
    expect(readdirSync(sub).sort()).toEqual([...outputs].sort());
  });

  it('Parquet keeps the canonical names, order and types, with timestamp as TIMESTAMP WITH TIME ZONE', async () => {
    const out = file('typed.parquet');
    await convertTrace(file('source.jsonl'), out);
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    try {
      await c.run(`SET TimeZone = 'UTC'`);
      const d = await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${out.replace(/'/g, "''")}')`);
      const types = Object.fromEntries(d.getRowObjectsJson().map((r) => [r.column_name, r.column_type]));
      expect(Object.keys(types)).toEqual(COLUMNS);
      expect(types).toMatchObject({ request_id: 'VARCHAR', timestamp: 'TIMESTAMP WITH TIME ZONE', status: 'VARCHAR', refusal: 'BOOLEAN', feedback: 'TINYINT', latency_ms: 'DOUBLE' });
      // r2's time: 09:00:00 and 500 microseconds.
      const t = await c.runAndReadAll(`SELECT epoch_us(timestamp) FROM read_parquet('${out.replace(/'/g, "''")}') WHERE request_id = 'r2'`);
      expect(Number(t.getRows()[0]![0])).toBe(T0 * 1000 + 500);
    } finally {
      c.closeSync();
      db.closeSync();
    }
  });

  it('.arrow is the IPC file format and .arrows the stream format, with the batch schema (timestamp Float64 milliseconds)', async () => {
    await convertTrace(file('source.jsonl'), file('f.arrow'));
    await convertTrace(file('source.jsonl'), file('s.arrows'));
    const fileBytes = readFileSync(file('f.arrow'));
    const streamBytes = readFileSync(file('s.arrows'));
    // The IPC file format opens with the magic "ARROW1"; the stream format does not.
    expect(fileBytes.subarray(0, 6).toString('latin1')).toBe('ARROW1');
    expect(streamBytes.subarray(0, 6).toString('latin1')).not.toBe('ARROW1');
    for (const bytes of [fileBytes, streamBytes]) {
      const t = tableFromIPC(bytes);
      expect(t.schema.fields.map((f) => f.name)).toEqual(COLUMNS);
      const ts = t.schema.fields.find((f) => f.name === 'timestamp')!.type;
      expect(DataType.isFloat(ts) && ts.precision === Precision.DOUBLE).toBe(true);
      expect(t.numRows).toBe(3);
      expect(Array.from(t.getChild('timestamp')!.toArray() as Float64Array)).toEqual([T0 + 0.5, T0 + 1000, T0 + 2000]);
      expect(t.getChild('request_id')!.toArray()).toEqual(['r2', 'r4', 'r1']);
      // output_tokens of r4 is missing: NaN in the batch schema.
      expect(Number.isNaN(t.getChild('output_tokens')!.get(1))).toBe(true);
    }
  });

  it('applies the selection and mapping options: the first 3 rows of the Azure trace, request ids generated', async () => {
    const out = file('azure-head.jsonl');
    const result = await convertTrace(AZURE, out, { limit: 3 });
    expect(result.rows).toBe(3);
    expect(result.trace.label).toBe('CSV (Azure LLM inference trace)');
    expect(result.trace.columns).toEqual(['request_id', 'timestamp', 'input_tokens', 'output_tokens']);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => Object.keys(l))).toEqual([0, 1, 2].map(() => ['request_id', 'timestamp', 'input_tokens', 'output_tokens']));
    // From the first three lines of the CSV: (ContextTokens, GeneratedTokens) = (4808, 10), (3180, 8), (110, 27).
    expect(lines.map((l) => [l.request_id, l.input_tokens, l.output_tokens])).toEqual([
      ['row-000001', 4808, 10],
      ['row-000002', 3180, 8],
      ['row-000003', 110, 27],
    ]);
    const back = await readTraceRows(out);
    // 2023-11-16 18:17:03.9799600, read as UTC.
    expect(back.rows[0]!.timestamp).toBeCloseTo(Date.UTC(2023, 10, 16, 18, 17, 3) + 979.96, 3);
    expect(back.rows.map((r) => r.request_id)).toEqual(['row-000001', 'row-000002', 'row-000003']);
  });

  it('writes an empty trace as a file with the columns and no rows', async () => {
    for (const name of ['empty.arrow', 'empty.parquet']) {
      const out = file(name);
      const result = await convertTrace(file('source.jsonl'), out, { limit: 0 });
      expect(result.rows).toBe(0);
      const back = await readTraceRows(out);
      expect(back.trace.columns).toEqual(COLUMNS);
      expect(back.rows).toEqual([]);
    }
    expect(tableFromIPC(readFileSync(file('empty.arrow'))).schema.fields.map((f) => f.name)).toEqual(COLUMNS);
  });

  it('creates the output folder when it is missing', async () => {
    const out = file('deep/er/trace.csv');
    await convertTrace(file('source.jsonl'), out);
    expect((await readTraceRows(out)).rows.map((r) => r.request_id)).toEqual(['r2', 'r4', 'r1']);
  });

  it('a missing input or a bad output name fails with a UserError and writes nothing', async () => {
    const missing = file('missing.jsonl');
    await expect(convertTrace(missing, file('never.parquet'))).rejects.toThrow(new UserError(`${missing}: no such file`));
    await expect(convertTrace(file('source.jsonl'), file('never.xlsx'))).rejects.toThrow(UserError);
    expect(existsSync(file('never.parquet'))).toBe(false);
    expect(existsSync(file('never.xlsx'))).toBe(false);
  });

  it('a write that fails at the end (the name is taken by a folder) leaves no temporary file', async () => {
    const sub = file('taken');
    mkdirSync(path.join(sub, 'out.parquet'), { recursive: true });
    await expect(convertTrace(file('source.jsonl'), path.join(sub, 'out.parquet'))).rejects.toThrow();
    expect(readdirSync(sub)).toEqual(['out.parquet']);
  });
});

describe('convertTrace refuses an output it cannot write, naming it (exit 2, not a crash)', () => {
  it.each([
    ['a folder in the way', 'taken.jsonl', /taken\.jsonl: cannot write: EISDIR/],
    ['a file where its folder should be', 'source.jsonl/x.parquet', /source\.jsonl\/x\.parquet: cannot make its folder .*source\.jsonl: EEXIST/],
    ['an Arrow file in a folder it cannot create files in', '/proc/x.arrow', /\/proc\/x\.arrow: cannot write: ENOENT/],
  ])('%s', async (_, out, message) => {
    mkdirSync(file('taken.jsonl'), { recursive: true });
    const target = out.startsWith('/') ? out : file(out);
    const err = await convertTrace(file('source.jsonl'), target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(message);
  });
});

describe('timestamps beyond a Date', () => {
  it('are bad rows when read, so every format converts the rest (1e16 ms failed the whole file)', async () => {
    writeFileSync(file('far.csv'), `timestamp,input_tokens\n1e16,1\n-1e16,2\n${8.64e15},3\n1700000000000,4\n`);
    for (const out of ['far.parquet', 'far.jsonl', 'far.csv.out.csv', 'far.arrow']) {
      const result = await convertTrace(file('far.csv'), file(out));
      expect(result.rows, out).toBe(2);
      expect(result.trace.badByReason.bad_timestamp).toBe(2);
    }
  });
});
