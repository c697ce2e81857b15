import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { Bool, Float64, Int32, Utf8, tableFromArrays, tableFromIPC, tableToIPC, vectorFromArray, Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/config/errors.js';
import { batchFromArrow, batchToIPC, batchToRecordBatch, utf8Vector } from '../../src/traces/arrow.js';
import { type TraceRow, batchRows } from '../../src/traces/canonical.js';
import { type SyntheticRow, syntheticRows, writeSyntheticTrace } from '../../src/traces/generate.js';
import { inSample, openTrace, parseTimeBound, readTraceRows, sampleHash } from '../../src/traces/reader.js';
import { arrow } from '../../src/traces/arrow-bundle.js';
import { prepareWorkerIsolates } from '../../src/threads/worker-isolates.js';

const root = path.resolve(import.meta.dirname, '../..');
const AZURE = path.join(root, 'traces/azure-llm-2023-code.csv');

let dir: string;
let rows: SyntheticRow[];
const file = (name: string) => path.join(dir, name);

/** The canonical row a synthetic row should read as (row numbers are 1-based file order). */
function expected(r: SyntheticRow, i: number): TraceRow {
  return { row: i + 1, ...r, timestamp: Date.parse(r.timestamp) };
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return `"${v.replace(/"/g, '""')}"`;
  return String(v);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-traces-'));
  const opts = { rows: 300, seed: 5, sessions: 40 };
  rows = [...syntheticRows(opts)];
  // JSONL and Parquet from the generator...
  await writeSyntheticTrace(file('t.jsonl'), opts);
  await writeSyntheticTrace(file('t.parquet'), opts);
  // ...CSV written here by hand (quoted text, multi-line outputs)...
  const cols = Object.keys(rows[0]!) as (keyof SyntheticRow)[];
  writeFileSync(file('t.csv'), [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n');
  // ...Arrow IPC from apache-arrow directly (timestamps as Float64 milliseconds, tokens Int32)...
  const arrow = new Table({
    request_id: vectorFromArray(rows.map((r) => r.request_id), new Utf8()),
    timestamp: vectorFromArray(rows.map((r) => Date.parse(r.timestamp)), new Float64()),
    session_id: vectorFromArray(rows.map((r) => r.session_id), new Utf8()),
    tenant: vectorFromArray(rows.map((r) => r.tenant), new Utf8()),
    route: vectorFromArray(rows.map((r) => r.route), new Utf8()),
    model: vectorFromArray(rows.map((r) => r.model), new Utf8()),
    input: vectorFromArray(rows.map((r) => r.input), new Utf8()),
    output: vectorFromArray(rows.map((r) => r.output), new Utf8()),
    input_tokens: vectorFromArray(rows.map((r) => r.input_tokens), new Int32()),
    output_tokens: vectorFromArray(rows.map((r) => r.output_tokens), new Int32()),
    latency_ms: vectorFromArray(rows.map((r) => r.latency_ms), new Float64()),
    ttft_ms: vectorFromArray(rows.map((r) => r.ttft_ms), new Float64()),
    status: vectorFromArray(rows.map((r) => r.status), new Utf8()),
    refusal: vectorFromArray(rows.map((r) => r.refusal), new Bool()),
    cost_usd: vectorFromArray(rows.map((r) => r.cost_usd), new Float64()),
    feedback: vectorFromArray(rows.map((r) => r.feedback), new Float64()),
  });
  writeFileSync(file('t.arrow'), tableToIPC(arrow, 'file'));
  // ...and a DuckDB table with DuckDB's own types (TIMESTAMP WITH TIME ZONE, BIGINT, BOOLEAN).
  const db = await DuckDBInstance.create(file('t.duckdb'));
  const conn = await db.connect();
  await conn.run(`CREATE TABLE requests AS SELECT * FROM read_json('${file('t.jsonl')}', format = 'newline_delimited')`);
  await conn.run(`CREATE TABLE other AS SELECT 1 AS x`);
  conn.closeSync();
  db.closeSync();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openTrace: formats', () => {
  it.each([
    ['t.jsonl', 'jsonl', 'JSON lines'],
    ['t.parquet', 'parquet', 'Parquet'],
    ['t.csv', 'csv', 'CSV'],
    ['t.arrow', 'arrow', 'Arrow IPC'],
    ['t.duckdb:requests', 'duckdb', 'DuckDB table'],
  ])('%s reads to the same canonical rows', async (name, format, label) => {
    const { trace, rows: got, errors } = await readTraceRows(file(name));
    expect(trace.format).toBe(format);
    expect(trace.label).toBe(label);
    expect(errors).toEqual([]);
    expect(trace.rows).toBe(300);
    expect(trace.columns).toHaveLength(16);
    expect(got).toEqual(rows.map(expected));
  });

  it('names the tables of a DuckDB file when none is given, and refuses a missing one', async () => {
    await expect(openTrace(file('t.duckdb'))).rejects.toThrow(/name the table as .*t\.duckdb:<table> \(tables: other, requests\)/);
    await expect(openTrace(file('t.duckdb:nope'))).rejects.toThrow(/no table "nope" .*\(tables: other, requests\)/);
  });

  it('reads OpenTelemetry GenAI spans (OTLP JSON) to the same rows, skipping spans without gen_ai attributes', async () => {
    const some = rows.slice(0, 25);
    const attr = (key: string, v: string | number | string[] | null) =>
      v === null ? [] : [{ key, value: Array.isArray(v) ? { arrayValue: { values: v.map((s) => ({ stringValue: s })) } } : typeof v === 'number' ? { intValue: String(v) } : { stringValue: v }}];
    const spans = some.flatMap((r, i) => {
      const start = BigInt(Date.parse(r.timestamp)) * 1_000_000n;
      const end = start + BigInt(Math.round(r.latency_ms * 1e6));
      const span = {
        traceId: `trace-${i}`,
        spanId: r.request_id,
        name: `chat ${r.model}`,
        startTimeUnixNano: String(start),
        endTimeUnixNano: String(end),
        attributes: [
          ...attr('gen_ai.request.model', r.model),
          ...attr('session.id', r.session_id),
          ...attr('gen_ai.prompt', r.input),
          ...attr('gen_ai.completion', r.output),
          ...attr('gen_ai.usage.input_tokens', r.input_tokens),
          ...attr('gen_ai.usage.output_tokens', r.output_tokens),
          ...attr('gen_ai.response.finish_reasons', [r.refusal ? 'content_filter' : 'stop']),
          ...attr('error.type', r.status === 'timeout' ? 'TimeoutError' : null),
          ...attr('tenant.id', r.tenant),
        ],
        status: r.status === 'ok' ? {} : { code: 2 },
      };
      const http = { traceId: `trace-${i}`, spanId: `http-${i}`, name: 'GET /', startTimeUnixNano: String(start), endTimeUnixNano: String(end), attributes: attr('http.route', '/') };
      return [span, http];
    });
    const doc = { resourceSpans: [{ resource: { attributes: attr('service.name', 'api') }, scopeSpans: [{ scope: { name: 'x' }, spans }] }] };
    writeFileSync(file('otel.json'), JSON.stringify(doc, null, 1));
    // One export request per line, as the OTLP file exporter writes them, reads the same.
    writeFileSync(file('otel.jsonl'), JSON.stringify({ resourceSpans: [{ ...doc.resourceSpans[0], scopeSpans: [{ scope: { name: 'x' }, spans: spans.slice(0, 20) }] }] }) + '\n' + JSON.stringify({ resourceSpans: [{ ...doc.resourceSpans[0], scopeSpans: [{ scope: { name: 'x' }, spans: spans.slice(20) }] }] }) + '\n');
    for (const name of ['otel.json', 'otel.jsonl']) {
      const { trace, rows: got, errors } = await readTraceRows(file(name), { map: 'tenant.id=tenant' });
      expect(trace.format).toBe('otel');
      expect(errors).toEqual([]);
      expect(trace.rows).toBe(25);
      expect(trace.mapping.find((m) => m.column === 'tenant')).toEqual({ column: 'tenant', source: 'tenant.id', via: 'map' });
      const want = some.map((r, i) => ({ ...expected(r, i), route: null, ttft_ms: null, cost_usd: null, feedback: null }));
      expect(got).toEqual(want);
    }
  });

  it('reads the bundled OpenTelemetry sample: errors, a timeout, a refusal, sessions from conversation ids', async () => {
    const { rows: got } = await readTraceRows(path.join(root, 'traces/otel-genai.json'));
    expect(got.map((r) => [r.request_id, r.status, r.refusal, r.session_id, r.latency_ms])).toEqual([
      ['a2fb4a1d1a96d312', 'ok', false, 'conv-42', 1840],
      ['b9c7c989f97918e1', 'ok', false, 'sess-7', 2710],
      ['a2fb4a1d1a96d313', 'ok', true, 'conv-42', 1320],
      ['b9c7c989f97918e2', 'timeout', false, 'sess-7', 30000],
      ['c1d2e3f4a5b6c7d8', 'error', false, 'b7ad6b7169203331b7ad6b7169203331', 950],
      ['c1d2e3f4a5b6c7d9', 'ok', false, 'b7ad6b7169203331b7ad6b7169203331', 2210],
    ]);
    expect(got[0]!.timestamp).toBe(Date.parse('2024-05-01T09:00:00.020Z'));
    expect(JSON.parse(got[0]!.input!)[0].parts[0].content).toBe('Where is my refund for order 1182?');
  });
});

describe('openTrace: the Azure LLM trace', () => {
  // Independent figures, computed with Python's csv module over /work/shared/data/azure-llm-2023-code.csv:
  //   rows 8819, sum(ContextTokens) 18059974, sum(GeneratedTokens) 245896,
  //   min TIMESTAMP 2023-11-16 18:17:03.9799600, max 2023-11-16 19:14:19.9280160.
  it('is recognised without a mapping, with its row count, time span and token sums', async () => {
    const trace = await openTrace(AZURE, { batchSize: 1000 });
    try {
      expect(trace.label).toBe('CSV (Azure LLM inference trace)');
      expect(trace.mapping).toEqual([
        { column: 'request_id', source: 'row number (row-000001, …)', via: 'generated' },
        { column: 'timestamp', source: 'TIMESTAMP', via: 'known' },
        { column: 'input_tokens', source: 'ContextTokens', via: 'known' },
        { column: 'output_tokens', source: 'GeneratedTokens', via: 'known' },
      ]);
      expect(trace.columns).toEqual(['request_id', 'timestamp', 'input_tokens', 'output_tokens']);
      expect([trace.rows, trace.good, trace.bad]).toEqual([8819, 8819, 0]);
      // Seven fractional digits, no zone: UTC, to the microsecond DuckDB keeps.
      expect(trace.timeSpan!.start).toBeCloseTo(Date.UTC(2023, 10, 16, 18, 17, 3) + 979.96, 3);
      expect(trace.timeSpan!.end).toBeCloseTo(Date.UTC(2023, 10, 16, 19, 14, 19) + 928.016, 3);
      let n = 0;
      let inSum = 0;
      let outSum = 0;
      let batches = 0;
      for await (const b of trace.batches()) {
        batches++;
        expect(b.length).toBeLessThanOrEqual(1000);
        for (let i = 0; i < b.length; i++) {
          inSum += b.input_tokens[i]!;
          outSum += b.output_tokens[i]!;
          expect(Number.isNaN(b.latency_ms[i]!)).toBe(true);
        }
        n += b.length;
      }
      expect([n, batches, inSum, outSum]).toEqual([8819, 9, 18059974, 245896]);
      // The same sums by hand here too: a plain split of the file.
      const lines = readFileSync(AZURE, 'utf8').trim().split('\n').slice(1);
      expect(lines.reduce((s, l) => s + Number(l.split(',')[1]), 0)).toBe(18059974);
      expect(lines.reduce((s, l) => s + Number(l.split(',')[2]), 0)).toBe(245896);
    } finally {
      trace.close();
    }
  });

  it('slices by time (ISO, UTC without a zone) and limits', async () => {
    // (The trace has no requests from 18:29 to 18:30: a real gap.)
    const { rows: got } = await readTraceRows(AZURE, { from: '2023-11-16 18:31:00', to: '2023-11-16T18:32:00Z', limit: 5 });
    expect(got).toHaveLength(5);
    for (const r of got) expect(r.timestamp).toBeGreaterThanOrEqual(Date.UTC(2023, 10, 16, 18, 31));
    const all = (await readTraceRows(AZURE, { from: Date.UTC(2023, 10, 16, 18, 31), to: Date.UTC(2023, 10, 16, 18, 32) })).rows;
    const lines = readFileSync(AZURE, 'utf8').trim().split('\n').slice(1).filter((l) => l >= '2023-11-16 18:31' && l < '2023-11-16 18:32');
    expect(lines).toHaveLength(585);
    expect(all).toHaveLength(585);
    for (const r of all) expect(r.timestamp).toBeLessThan(Date.UTC(2023, 10, 16, 18, 32));
    expect(all.slice(0, 5)).toEqual(got);
  });
});

describe('openTrace: mapping', () => {
  it('renames foreign columns with --map (text or object), and says so', async () => {
    writeFileSync(file('foreign.csv'), 'when,prompt_len,gen_len,ms,state,id\n1000,10,5,120.5,OK,x1\n2000,11,6,130,Timeout,x2\n3000,12,7,140,500,x3\n');
    const viaText = await readTraceRows(file('foreign.csv'), { map: 'when=timestamp, prompt_len=input_tokens,gen_len=output_tokens,ms=latency_ms,state=status,id=request_id' });
    const viaObject = await readTraceRows(file('foreign.csv'), { map: { when: 'timestamp', prompt_len: 'input_tokens', gen_len: 'output_tokens', ms: 'latency_ms', state: 'status', id: 'request_id' } });
    expect(viaText.rows).toEqual(viaObject.rows);
    expect(viaText.rows.map((r) => [r.request_id, r.timestamp, r.input_tokens, r.output_tokens, r.latency_ms, r.status])).toEqual([
      ['x1', 1000, 10, 5, 120.5, 'ok'],
      ['x2', 2000, 11, 6, 130, 'timeout'],
      ['x3', 3000, 12, 7, 140, 'error'],
    ]);
    expect(viaText.trace.mapping.filter((m) => m.via === 'map').map((m) => `${m.column}←${m.source}`)).toEqual([
      'request_id←id',
      'timestamp←when',
      'input_tokens←prompt_len',
      'output_tokens←gen_len',
      'latency_ms←ms',
      'status←state',
    ]);
  });

  it('reads time columns in the unit the map names (BurstGPT keeps seconds), date-time text as itself', async () => {
    writeFileSync(file('burst.csv'), 'Timestamp,Request tokens,Response tokens,dur,first\n5,472,18,1.5,250000\n45.25,1087,80,2.25,\n2024-01-01T00:00:00Z,417,42,0.5,1e6\n');
    const { trace, rows: got } = await readTraceRows(file('burst.csv'), { map: 'Timestamp=timestamp:s,Request tokens=input_tokens,Response tokens=output_tokens,dur=latency_ms:s,first=ttft_ms:us' });
    expect(got.map((r) => [r.timestamp, r.latency_ms, r.ttft_ms])).toEqual([
      [5_000, 1_500, 250],
      [45_250, 2_250, null],
      [Date.UTC(2024, 0, 1), 500, 1_000],
    ]);
    expect(trace.mapping.filter((m) => m.unit).map((m) => `${m.column}:${m.unit}`)).toEqual(['timestamp:s', 'latency_ms:s', 'ttft_ms:us']);
    // Nanoseconds from a numeric column (Parquet-like types through JSONL numbers).
    writeFileSync(file('ns.jsonl'), '{"t": 1700000000123456789, "n": 3}\n');
    const ns = await readTraceRows(file('ns.jsonl'), { map: 't=timestamp:ns,n=input_tokens' });
    expect(ns.rows[0]!.timestamp).toBeCloseTo(1_700_000_000_123.4568, 3);
  });

  it('refuses, naming the file and the column, a map to a non-canonical column, from a missing one, or a trace without timestamp', async () => {
    const f = file('foreign.csv');
    await expect(openTrace(f, { map: 'when=time' })).rejects.toThrow(`${f}: --map: "when=time": "time" is not a canonical column (one of request_id, timestamp, session_id, tenant, route, model, input, output, input_tokens, output_tokens, latency_ms, ttft_ms, status, refusal, cost_usd, feedback)`);
    await expect(openTrace(f, { map: 'when=time' })).rejects.toBeInstanceOf(UserError);
    await expect(openTrace(f, { map: 'nope=timestamp' })).rejects.toThrow(`${f}: --map: no column "nope" in the trace (columns: when, prompt_len, gen_len, ms, state, id)`);
    await expect(openTrace(f)).rejects.toThrow(`${f}: no timestamp column (columns: when, prompt_len, gen_len, ms, state, id); name one with --map SRC=timestamp`);
    await expect(openTrace(f, { map: 'when=timestamp' })).rejects.toThrow(/none of input_tokens, output_tokens, latency_ms/);
    await expect(openTrace(file('missing.parquet'))).rejects.toThrow(`${file('missing.parquet')}: no such file`);
  });
});

describe('openTrace: bad rows', () => {
  it('counts them by reason, keeps them with the raw row, leaves them out, and never fails', async () => {
    const lines = [
      { id: 'a', ts: '2024-01-01T00:00:01Z', in: 10, lat: 100, status: 'ok', fb: 1 }, // good
      { id: 'b', ts: 'not a time', in: 10, lat: 100 }, // bad_timestamp
      { id: 'c', ts: '2024-01-01T00:00:03Z', in: -5, lat: 100 }, // negative_tokens
      { id: 'a', ts: '2024-01-01T00:00:04Z', in: 10, lat: 100 }, // duplicate_request_id
      { id: 'd', ts: '2024-01-01T00:00:00Z', in: null, lat: null }, // missing_measures
      { id: 'e', ts: '2024-01-01T00:00:05Z', in: 10, lat: 100, status: 'banana' }, // bad_status
      { id: 'f', ts: 1704067206000, in: '12', lat: 'abc' }, // bad_number
      { id: null, ts: '2024-01-01 00:00:02.5', in: 7, status: 504, fb: 3 }, // bad_feedback (id from the row)
      { id: 'g', ts: '2024-01-01T01:00:00+01:00', in: 8, lat: 1.5, status: 'REFUSAL', fb: -1 }, // good: 00:00:00Z, a refusal
      { id: 'h', ts: '2024-01-01T00:00:06Z', in: 3, lat: -1 }, // negative_value
      { id: 'i', ts: '2024-01-01T00:00:07Z', in: 3, lat: 5, refused: 'maybe' }, // bad_refusal
      { id: 'j', ts: 1704067208000, in: '4', lat: '6', status: 200, refused: 'yes' }, // good (numbers as text, HTTP 200)
    ];
    writeFileSync(file('bad.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { trace, rows: got, errors } = await readTraceRows(file('bad.jsonl'), { map: 'id=request_id,ts=timestamp,in=input_tokens,lat=latency_ms,fb=feedback,refused=refusal' });
    expect([trace.rows, trace.good, trace.bad]).toEqual([12, 3, 9]);
    expect(trace.sorted).toBe(false);
    expect(trace.badByReason).toEqual({
      unreadable: 0,
      extra_fields: 0,
      bad_timestamp: 1,
      bad_number: 1,
      negative_tokens: 1,
      negative_value: 1,
      missing_measures: 1,
      bad_status: 1,
      bad_refusal: 1,
      bad_feedback: 1,
      duplicate_request_id: 1,
    });
    expect(errors.map((e) => [e.row, e.request_id, e.reason, e.column])).toEqual([
      [2, 'b', 'bad_timestamp', 'timestamp'],
      [3, 'c', 'negative_tokens', 'input_tokens'],
      [4, 'a', 'duplicate_request_id', 'request_id'],
      [5, 'd', 'missing_measures', null],
      [6, 'e', 'bad_status', 'status'],
      [7, 'f', 'bad_number', 'latency_ms'],
      [8, 'row-000008', 'bad_feedback', 'feedback'],
      [10, 'h', 'negative_value', 'latency_ms'],
      [11, 'i', 'bad_refusal', 'refusal'],
    ]);
    expect(JSON.parse(errors[0]!.raw)).toMatchObject({ id: 'b', ts: 'not a time', in: '10', lat: '100' });
    // The good rows, in time order (the file is not), the refusal spelled as a status.
    expect(got.map((r) => [r.row, r.request_id, r.timestamp, r.status, r.refusal, r.feedback])).toEqual([
      [9, 'g', Date.UTC(2024, 0, 1), 'ok', true, -1],
      [1, 'a', Date.UTC(2024, 0, 1, 0, 0, 1), 'ok', false, 1],
      [12, 'j', Date.UTC(2024, 0, 1, 0, 0, 8), 'ok', true, null],
    ]);
  });

  it('counts a JSONL line cut off, malformed or not an object as an unreadable row in its place, not a fatal error', async () => {
    const ok = (id: string, s: number) => JSON.stringify({ request_id: id, timestamp: 1_700_000_000_000 + s * 1000, input_tokens: 10 + s });
    const text = [ok('a', 1), '{"request_id":"b","timestamp":17', ok('c', 3), '[1,2]', '42', '{}', 'not json at all', ok('d', 4), '{"request_id":"e","input_tok'].join('\n');
    writeFileSync(file('cut.jsonl'), text); // no final newline: a log cut off mid-write
    const { trace, rows: got, errors } = await readTraceRows(file('cut.jsonl'));
    expect([trace.rows, trace.good, trace.bad]).toEqual([9, 3, 6]);
    expect(Object.entries(trace.badByReason).filter(([, n]) => n > 0)).toEqual([['unreadable', 6]]);
    expect(errors.map((e) => [e.row, e.request_id, e.reason, e.column, e.raw])).toEqual([
      [2, 'row-000002', 'unreadable', null, ''],
      [4, 'row-000004', 'unreadable', null, ''],
      [5, 'row-000005', 'unreadable', null, ''],
      [6, 'row-000006', 'unreadable', null, ''],
      [7, 'row-000007', 'unreadable', null, ''],
      [9, 'row-000009', 'unreadable', null, ''],
    ]);
    expect(got.map((r) => [r.row, r.request_id, r.input_tokens])).toEqual([
      [1, 'a', 11],
      [3, 'c', 13],
      [8, 'd', 14],
    ]);
  });

  it('reads a JSONL file whose bad line lies beyond the lines DuckDB samples for columns, and whose first line is not an object', async () => {
    const lines: string[] = ['"a stray string first"'];
    for (let i = 0; i < 30_000; i++) lines.push(JSON.stringify({ timestamp: i, latency_ms: 1 + (i % 7) }));
    lines.splice(25_001, 0, '{"timestamp": 25000.5, "latency_'); // line 25,002: past the 20,480-record sample
    writeFileSync(file('late.jsonl'), lines.join('\n') + '\n');
    const trace = await openTrace(file('late.jsonl'));
    try {
      expect([trace.rows, trace.good, trace.bad]).toEqual([30_002, 30_000, 2]);
      expect((await trace.errorList()).map((e) => [e.row, e.reason])).toEqual([
        [1, 'unreadable'],
        [25_002, 'unreadable'],
      ]);
      let sum = 0;
      for await (const b of trace) for (let i = 0; i < b.length; i++) sum += b.latency_ms![i]!;
      expect(sum).toBe(Array.from({ length: 30_000 }, (_, i) => 1 + (i % 7)).reduce((a, b) => a + b, 0));
    } finally {
      trace.close();
    }
  });

  it('sets a CSV row with more fields than the header aside in its place, inside the sample or after it, never stopping the read', async () => {
    const lines = ['timestamp,input,input_tokens'];
    for (let i = 0; i < 30_000; i++) lines.push(`${i},plain text,${1 + (i % 5)}`);
    // Data row 27,002: an unquoted comma, one field too many, past the 20,480 rows sampled (it
    // stopped the whole read); data row 25,001: a quoted comma where the sample had no quote, so
    // quoting is off and it too has a field too many (a bad row, not 17% of a file swallowed by a
    // stray quote further on).
    lines.splice(25_001, 0, '25000.5,"a, b",7');
    lines.splice(27_002, 0, '27000.5,a, b,9');
    // Data row 3, inside the sample: the sniffer gave it a column of its own (column3), and rows
    // that wide read as good, their extra fields dropped.
    lines.splice(3, 0, '1.5,c, d,9');
    writeFileSync(file('late-extra.csv'), lines.join('\n') + '\n');
    const trace = await openTrace(file('late-extra.csv'));
    try {
      expect(trace.sourceColumns.map((c) => c.name)).toEqual(['timestamp', 'input', 'input_tokens']);
      expect([trace.rows, trace.good, trace.bad]).toEqual([30_003, 30_000, 3]);
      const errors = await trace.errorList();
      expect(errors.map((e) => [e.row, e.reason])).toEqual([
        [3, 'extra_fields'],
        [25_002, 'extra_fields'],
        [27_003, 'extra_fields'],
      ]);
      expect(JSON.parse(errors[0]!.raw)).toEqual({ timestamp: '1.5', input: 'c', input_tokens: ' d', extra_fields: ['9'] });
      expect(JSON.parse(errors[2]!.raw)).toEqual({ timestamp: '27000.5', input: 'a', input_tokens: ' b', extra_fields: ['9'] });
    } finally {
      trace.close();
    }
    // A stray quote after the sample is a character like any other: every row after it is read.
    const stray = ['timestamp,input,input_tokens'];
    for (let i = 0; i < 30_000; i++) stray.push(`${i},${i === 25_000 ? '"oops unterminated' : 'text'},3`);
    writeFileSync(file('late-stray.csv'), stray.join('\n') + '\n');
    const { trace: t2 } = await readTraceRows(file('late-stray.csv'));
    expect([t2.rows, t2.good, t2.bad]).toEqual([30_000, 30_000, 0]);
  });

  it('reads a small CSV cut inside a quoted field (head -n of answers that span lines): the rows before the cut as written, the cut one bad', async () => {
    const rows = Array.from({ length: 6 }, (_, i) => `r${i},${1714554000000 + i},"answer ${i}: line one\nline two",${10 + i}`);
    // Cut in the middle of the last answer: its quote never closes, and the sniffer, finding no
    // dialect with quotes that fits, read every line as a row of its own: 11 rows, all bad.
    const text = ['request_id,timestamp,output,output_tokens', ...rows].join('\n');
    writeFileSync(file('cut.csv'), text.slice(0, text.lastIndexOf('line one') + 4));
    const cut = await readTraceRows(file('cut.csv'));
    expect(cut.rows.map((r) => [r.request_id, r.output, r.output_tokens])).toEqual(Array.from({ length: 5 }, (_, i) => [`r${i}`, `answer ${i}: line one\nline two`, 10 + i]));
    expect(cut.errors.map((e) => e.row)).toEqual([6]);
  });

  it('keeps a quote-free reading where RFC quotes would swallow lines: inch marks and a quoted comma', async () => {
    // The sample has quotes (5" screens, a quoted comma, a field both quoted and inch-marked), and
    // read with RFC quotes the `12"` swallowed three rows into one, silently: 297 rows, none bad.
    const lines = ['request_id,timestamp,input,input_tokens,output_tokens'];
    for (let i = 0; i < 300; i++) {
      const input = i === 5 ? '"yes, please"' : i === 100 ? '"12 inch" is 12"' : i % 10 === 0 ? 'a 5" screen' : 'plain';
      lines.push(`r${i},${1714554000000 + i},${input},${100 + i},5`);
    }
    writeFileSync(file('inches.csv'), lines.join('\n') + '\n');
    const read = await readTraceRows(file('inches.csv'));
    expect([read.trace.rows, read.trace.good, read.trace.bad]).toEqual([300, 299, 1]);
    expect(read.errors.map((e) => [e.row, e.reason])).toEqual([[6, 'extra_fields']]);
    expect(read.rows.find((r) => r.request_id === 'r10')!.input).toBe('a 5" screen');
  });

  it('reads CSV quoted as the file quotes it: RFC 4180 quotes in the sample, single quotes, a header with an unnamed last column', async () => {
    writeFileSync(file('rfc.csv'), 'timestamp,input,input_tokens\n1,"a, b",5\n2,"say ""hi"", ok",6\n3,"two\nlines",7\n');
    expect((await readTraceRows(file('rfc.csv'))).rows.map((r) => r.input)).toEqual(['a, b', 'say "hi", ok', 'two\nlines']);
    writeFileSync(file('single.csv'), "timestamp,input,input_tokens\n1,'it, is',5\n2,'so, so',6\n");
    const single = await readTraceRows(file('single.csv'));
    expect(single.errors).toEqual([]);
    expect(single.rows.map((r) => r.input)).toEqual(['it, is', 'so, so']);
    writeFileSync(file('unnamed.csv'), 'request_id,timestamp,input_tokens,\nr0,1714554000000,0,x0\nr1,1714554000001,1,x1\n');
    const unnamed = await readTraceRows(file('unnamed.csv'));
    expect([unnamed.trace.good, unnamed.trace.bad]).toEqual([2, 0]);
  });

  it('reads a CSV with comment lines above its header (an exporter\'s "# ..." banner)', async () => {
    writeFileSync(file('banner.csv'), '# exported by foo, 2024-05-01\n# second note\ntimestamp,input_tokens\n1,5\n2,6\n');
    const { trace, rows: got } = await readTraceRows(file('banner.csv'));
    expect(trace.sourceColumns.map((c) => c.name)).toEqual(['timestamp', 'input_tokens']);
    expect(got.map((r) => r.input_tokens)).toEqual([5, 6]);
  });

  it('says how to read a .jsonl file of pretty-printed objects (as JSON), and reads it so', async () => {
    writeFileSync(file('pretty.jsonl'), '{\n  "timestamp": 1,\n  "input_tokens": 5\n}\n{\n  "timestamp": 2,\n  "input_tokens": 6\n}\n');
    await expect(openTrace(file('pretty.jsonl'))).rejects.toThrow(`${file('pretty.jsonl')}: not one JSON object per line (objects spread over several lines, pretty-printed?): read it as JSON with --format json`);
    expect((await readTraceRows(file('pretty.jsonl'), { format: 'json' })).rows.map((r) => r.input_tokens)).toEqual([5, 6]);
  });

  it('says an empty CSV is empty', async () => {
    writeFileSync(file('empty.csv'), '');
    await expect(openTrace(file('empty.csv'))).rejects.toThrow(`${file('empty.csv')}: the file is empty: no header and no rows`);
  });

  it('reads a JSON field that first appears after the records DuckDB samples (a status written only on failure)', async () => {
    const records: Record<string, unknown>[] = [];
    for (let i = 0; i < 30_000; i++) records.push({ timestamp: i, input_tokens: 5 });
    records.push({ timestamp: 30_000, input_tokens: 5, status: 'error', zeta: 1, latency_ms: 7 });
    records.push({ timestamp: 30_001, input_tokens: 5, status: 'timeout' });
    writeFileSync(file('late-key.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    writeFileSync(file('late-key.json'), JSON.stringify(records));
    for (const name of ['late-key.jsonl', 'late-key.json']) {
      const trace = await openTrace(file(name));
      try {
        // Sampled columns first, in the file's order; later ones the trace can use after them,
        // sorted (zeta is none of its columns: not read).
        expect(trace.sourceColumns.map((c) => c.name), name).toEqual(['timestamp', 'input_tokens', 'latency_ms', 'status']);
        const statuses = new Map<string, number>();
        for await (const b of trace) for (const row of batchRows(b)) statuses.set(row.status, (statuses.get(row.status) ?? 0) + 1);
        expect(Object.fromEntries(statuses), name).toEqual({ ok: 30_000, error: 1, timeout: 1 });
      } finally {
        trace.close();
      }
    }
  });

  it("adds late JSON fields the trace can use, not a logger's per-request keys, nor a second spelling or an empty name", async () => {
    const records: Record<string, unknown>[] = [];
    for (let i = 0; i < 21_000; i++) records.push({ timestamp: i, input_tokens: 5, status: 'ok' });
    // 3,000 keys of one request each: as columns, they took seconds and then DuckDB's memory.
    for (let i = 0; i < 3_000; i++) records.push({ timestamp: 21_000 + i, input_tokens: 5, [`attr_${i}`]: 1 });
    records.push({ timestamp: 30_000, input_tokens: 5, Status: 'error', '': 2, prompt_len: 9 });
    writeFileSync(file('many-keys.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const trace = await openTrace(file('many-keys.jsonl'), { map: 'prompt_len=input' });
    try {
      expect(trace.sourceColumns.map((c) => c.name)).toEqual(['timestamp', 'input_tokens', 'status', 'prompt_len']);
      expect(trace.rows).toBe(24_001);
    } finally {
      trace.close();
    }
  });

  it('refuses a JSON file that starts with a byte order mark, saying so (the first record was silently a bad row)', async () => {
    writeFileSync(file('bom.jsonl'), '\uFEFF{"timestamp": 1, "input_tokens": 2}\n');
    await expect(openTrace(file('bom.jsonl'))).rejects.toThrow(/bom\.jsonl: starts with a UTF-8 byte order mark, which the JSON reader does not take: remove it/);
  });

  it('reads a CSV with a stray quote in unquoted text as DuckDB guesses it', async () => {
    writeFileSync(file('stray.csv'), 'timestamp,input,input_tokens\n1,he said "hi,5\n2,fine,6\n');
    const { trace, rows: got } = await readTraceRows(file('stray.csv'));
    expect(trace.sourceColumns.map((c) => c.name)).toEqual(['timestamp', 'input', 'input_tokens']);
    expect(got.map((r) => [r.input, r.input_tokens])).toEqual([
      ['he said "hi', 5],
      ['fine', 6],
    ]);
  });

  it('reports errors as a stream, independent of the row selection', async () => {
    const trace = await openTrace(file('bad.jsonl'), { map: 'id=request_id,ts=timestamp,in=input_tokens,lat=latency_ms,fb=feedback,refused=refusal', limit: 1 });
    try {
      const seen = [];
      for await (const e of trace.errors()) seen.push(e.reason);
      expect(seen).toHaveLength(9);
      expect((await trace.errorList(2)).map((e) => e.row)).toEqual([2, 3]);
      const batches = [];
      for await (const b of trace) batches.push(...batchRows(b));
      expect(batches.map((r) => r.request_id)).toEqual(['g']);
      expect(trace.emitted).toBe(1);
    } finally {
      trace.close();
    }
  });
});

describe('openTrace: request ids and sampling', () => {
  it('gives rows without request_id a stable id from the row number, whatever the selection or batch size', async () => {
    const a = (await readTraceRows(AZURE, { limit: 3 })).rows.map((r) => r.request_id);
    const b = (await readTraceRows(AZURE, { limit: 3, batchSize: 1 })).rows.map((r) => r.request_id);
    expect(a).toEqual(['row-000001', 'row-000002', 'row-000003']);
    expect(b).toEqual(a);
    const sliced = (await readTraceRows(AZURE, { from: '2023-11-16T19:00:00Z', limit: 2 })).rows;
    const lines = readFileSync(AZURE, 'utf8').trim().split('\n').slice(1);
    const first = lines.findIndex((l) => l >= '2023-11-16 19:00');
    expect(sliced.map((r) => r.request_id)).toEqual([`row-${String(first + 1).padStart(6, '0')}`, `row-${String(first + 2).padStart(6, '0')}`]);
  });

  it('samples requests consistently (md5 of the id), close to the share requested', async () => {
    const share = 0.25;
    const one = (await readTraceRows(AZURE, { sample: share })).rows.map((r) => r.request_id);
    const two = (await readTraceRows(AZURE, { sample: share })).rows.map((r) => r.request_id);
    expect(two).toEqual(one);
    // The documented hash, reproduced here: first 32 bits of md5(id) below share·2^32.
    const ids = Array.from({ length: 8819 }, (_, i) => `row-${String(i + 1).padStart(6, '0')}`);
    expect(new Set(one)).toEqual(new Set(ids.filter((id) => inSample(id, share))));
    // Binomial(8819, 0.25): sd = sqrt(8819·0.25·0.75) ≈ 40.7; four sd either side.
    const sd = Math.sqrt(8819 * share * (1 - share));
    expect(Math.abs(one.length - 8819 * share)).toBeLessThan(4 * sd);
    // Smaller samples are subsets of larger ones.
    const tenth = (await readTraceRows(AZURE, { sample: 0.1 })).rows.map((r) => r.request_id);
    expect(tenth.every((id) => one.includes(id))).toBe(true);
    expect(sampleHash('sess-1')).toBe(913469470); // python: int(hashlib.md5(b'sess-1').hexdigest()[:8], 16)
  });

  it('samples whole sessions, the same ones in every format', async () => {
    const share = 0.3;
    const jsonl = (await readTraceRows(file('t.jsonl'), { sample: share })).rows;
    const parquet = (await readTraceRows(file('t.parquet'), { sample: share })).rows;
    expect(parquet).toEqual(jsonl);
    const kept = new Set(jsonl.map((r) => r.session_id));
    const all = new Set(rows.map((r) => r.session_id));
    for (const s of all) expect(kept.has(s)).toBe(inSample(s, share));
    // Every request of a kept session is kept.
    expect(jsonl.length).toBe(rows.filter((r) => kept.has(r.session_id)).length);
    const sd = Math.sqrt(all.size * share * (1 - share));
    expect(Math.abs(kept.size - all.size * share)).toBeLessThan(4 * sd);
  });

  it('refuses bad selections', async () => {
    await expect(openTrace(AZURE, { sample: 0 })).rejects.toThrow(/--sample: must be a share in \(0, 1\]/);
    await expect(openTrace(AZURE, { from: 'yesterday' })).rejects.toThrow(/--from: "yesterday" is neither milliseconds nor a date-time/);
    expect(parseTimeBound('2023-11-16 18:17:03.9799600', '--from')).toBeCloseTo(Date.UTC(2023, 10, 16, 18, 17, 3) + 979.96, 3);
    expect(parseTimeBound('1500', '--from')).toBe(1500);
    // V8 alone reads February 30th as March 1st: a slice a day off.
    expect(() => parseTimeBound('2024-02-30', '--to')).toThrow(/--to: "2024-02-30" is neither milliseconds nor a date-time/);
    expect(() => parseTimeBound('2023-02-29 10:00', '--from')).toThrow(/--from: "2023-02-29 10:00"/);
  });
});

describe('batches as Arrow', () => {
  it('round-trip through an IPC buffer that crosses to a worker thread by transfer', async () => {
    const trace = await openTrace(file('t.jsonl'), { batchSize: 128 });
    try {
      const it = trace.batches();
      const first = (await it.next()).value!;
      await it.return(undefined);
      expect(first.length).toBe(128);
      expect(batchRows(batchFromArrow(batchToRecordBatch(first)))).toEqual(batchRows(first));
      const ipc = batchToIPC(first);
      expect(batchRows(batchFromArrow(ipc))).toEqual(batchRows(first));
      const { Worker } = await import('node:worker_threads');
      prepareWorkerIsolates(); // as the pools do: this worker is terminated while Arrow may still be optimising
      const worker = new Worker(
        `const { parentPort } = require('node:worker_threads');
         parentPort.once('message', async (ipc) => {
           const arrow = await import(${JSON.stringify(pathToFileURL(path.join(root, 'node_modules/apache-arrow/Arrow.node.mjs')).href)});
           const t = arrow.tableFromIPC(ipc);
           const tokens = t.getChild('input_tokens').toArray();
           parentPort.postMessage({ rows: t.numRows, tokens: tokens.reduce((a, b) => a + b, 0), id: t.getChild('request_id').get(5) });
         });`,
        { eval: true },
      );
      const reply = new Promise<{ rows: number; tokens: number; id: string }>((resolve) => worker.once('message', resolve));
      worker.postMessage(ipc, [ipc.buffer as ArrayBuffer]);
      expect(ipc.byteLength).toBe(0); // transferred, not copied
      const r = await reply;
      await worker.terminate();
      expect(r).toEqual({ rows: 128, tokens: first.input_tokens.reduce((a, b) => a + b, 0), id: first.request_id[5] });
    } finally {
      trace.close();
    }
  });

  it('reads an Arrow file with NaN as null (the batch convention)', async () => {
    writeFileSync(file('nan.arrow'), tableToIPC(tableFromArrays({ timestamp: new Float64Array([1, 2]), latency_ms: new Float64Array([5, NaN]), input_tokens: new Float64Array([NaN, 3]) }), 'file'));
    const { rows: got, errors } = await readTraceRows(file('nan.arrow'));
    expect(errors).toEqual([]);
    expect(got.map((r) => [r.latency_ms, r.input_tokens])).toEqual([
      [5, null],
      [null, 3],
    ]);
  });
});

describe('utf8Vector', () => {
  it('encodes text, nulls and empty strings as Arrow builds them, through IPC and back', () => {
    const strings = ['plain', null, '', 'naïve café', '日本語のテキスト', '🚀 emoji', null, 'lone \ud800 surrogate', 'x'.repeat(5000)];
    const ours = utf8Vector(strings);
    const arrows = vectorFromArray(strings, new Utf8());
    expect(ours.nullCount).toBe(2);
    expect(ours.toArray()).toEqual(arrows.toArray());
    // Arrow's own builder is the Node entry's; ours is built with the bundle src/ loads.
    const back = arrow.tableFromIPC(arrow.tableToIPC(new arrow.Table({ s: ours }), 'stream')).getChild('s')!;
    // The lone surrogate becomes U+FFFD in UTF-8, as with Arrow's own builder.
    expect([...back]).toEqual([...arrows]);
  });

  it('handles an all-null and an empty column', () => {
    expect(utf8Vector([null, null]).toArray()).toEqual([null, null]);
    expect(utf8Vector([]).length).toBe(0);
  });
});
