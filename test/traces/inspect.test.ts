import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISTRIBUTION_COLUMNS, inspectTrace, renderSummary } from '../../src/traces/inspect.js';

let dir: string;
let full: string;
let bare: string;

const HEADER = 'request_id,timestamp,session_id,tenant,route,model,input_tokens,output_tokens,latency_ms,ttft_ms,status,refusal,cost_usd,feedback';
/**
 * Eight rows, out of time order. Rows 1-5 are good; row 6 has negative input tokens, row 7 a
 * feedback of 2, row 8 repeats request id `a`. Row 5 says `refusal` as its status (ok, refused).
 */
const LINES = [
  'a,2024-05-01T10:00:30Z,s1,acme,chat,m1,100,10,200,50,ok,false,0.001,1',
  'b,2024-05-01T10:00:00Z,s1,acme,chat,m1,300,30,100,20,error,false,0.003,-1',
  'c,2024-05-01T10:01:30Z,s2,globex,code,m2,200,20,1000,,timeout,false,0.002,',
  'd,2024-05-01T10:01:00Z,s3,acme,chat,m1,400,40,300,60,ok,true,0.004,0',
  'e,2024-05-01T10:00:45Z,s3,acme,summarize,m1,500,50,400,80,refusal,,0.005,1',
  'f,2024-05-01T10:02:00Z,s4,acme,chat,m1,-3,10,100,10,ok,false,0.001,0',
  'g,2024-05-01T10:02:00Z,s4,acme,chat,m1,3,10,100,10,ok,false,0.001,2',
  'a,2024-05-01T10:03:00Z,s4,acme,chat,m1,3,10,100,10,ok,false,0.001,0',
];
const T10 = Date.UTC(2024, 4, 1, 10, 0, 0);

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-inspect-'));
  full = path.join(dir, 'full.csv');
  writeFileSync(full, [HEADER, ...LINES].join('\n') + '\n');
  // Numeric timestamps (offsets in ms, not epoch times), no status, no feedback, no text columns.
  bare = path.join(dir, 'bare.csv');
  writeFileSync(bare, 'timestamp,latency_ms\n0,40\n500,10\n250,20\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('inspectTrace', () => {
  it('counts rows, bad rows by reason, and the first bad rows with their reasons and columns', async () => {
    const s = await inspectTrace(full);
    expect(s.file).toBe(full);
    expect(s.format).toBe('csv');
    expect(s.label).toBe('CSV');
    expect(s.rows).toBe(8);
    expect(s.good).toBe(5);
    expect(s.bad).toBe(3);
    expect(s.bad_by_reason).toEqual({ negative_tokens: 1, bad_feedback: 1, duplicate_request_id: 1 });
    expect(s.bad_examples.map((e) => [e.row, e.request_id, e.reason, e.column])).toEqual([
      [6, 'f', 'negative_tokens', 'input_tokens'],
      [7, 'g', 'bad_feedback', 'feedback'],
      [8, 'a', 'duplicate_request_id', 'request_id'],
    ]);
    // The raw row is the source row as JSON text, as read (CSV: every value text).
    expect(JSON.parse(s.bad_examples[0]!.raw)).toMatchObject({ request_id: 'f', input_tokens: '-3' });
    expect((await inspectTrace(full, {}, 2)).bad_examples.map((e) => e.row)).toEqual([6, 7]);
  });

  it('summarises the good rows: time span, order, distributions with linear quantiles, statuses, feedback, distinct values', async () => {
    const s = await inspectTrace(full);
    expect(s.columns).toEqual(HEADER.split(','));
    expect(s.selected).toBe(5);
    // Good rows are in file order 10:00:30, 10:00:00, ...: not sorted. Span 10:00:00 to 10:01:30.
    expect(s.sorted).toBe(false);
    expect(s.time_span).toEqual({ start: T10, end: T10 + 90_000, duration_ms: 90_000, start_iso: '2024-05-01T10:00:00.000Z', end_iso: '2024-05-01T10:01:30.000Z' });
    // Quantiles interpolate at h = (n − 1)·q between order statistics (numpy's default).
    // latency_ms sorted: 100, 200, 300, 400, 1000. p50: h = 2 → 300. p90: h = 3.6 → 400 + 0.6·600 = 760.
    // p99: h = 3.96 → 400 + 0.96·600 = 976.
    const lat = s.distributions.latency_ms!;
    expect(lat.count).toBe(5);
    expect(lat.min).toBe(100);
    expect(lat.max).toBe(1000);
    expect(lat.p50).toBeCloseTo(300, 9);
    expect(lat.p90).toBeCloseTo(760, 9);
    expect(lat.p99).toBeCloseTo(976, 9);
    // input_tokens sorted: 100..500 by 100: p90 = 400 + 0.6·100 = 460, p99 = 400 + 0.96·100 = 496.
    const inp = s.distributions.input_tokens!;
    expect([inp.count, inp.min, inp.max]).toEqual([5, 100, 500]);
    expect(inp.p50).toBeCloseTo(300, 9);
    expect(inp.p90).toBeCloseTo(460, 9);
    expect(inp.p99).toBeCloseTo(496, 9);
    // ttft_ms has 4 values (c has none): 20, 50, 60, 80. p50: h = 1.5 → 55. p90: h = 2.7 → 60 + 0.7·20 = 74.
    // p99: h = 2.97 → 60 + 0.97·20 = 79.4.
    const ttft = s.distributions.ttft_ms!;
    expect([ttft.count, ttft.min, ttft.max]).toEqual([4, 20, 80]);
    expect(ttft.p50).toBeCloseTo(55, 9);
    expect(ttft.p90).toBeCloseTo(74, 9);
    expect(ttft.p99).toBeCloseTo(79.4, 9);
    // cost_usd: 0.001..0.005 by 0.001: p90 = 0.004 + 0.6·0.001 = 0.0046.
    expect(s.distributions.cost_usd!.p90).toBeCloseTo(0.0046, 12);
    expect(s.distributions.output_tokens!.p99).toBeCloseTo(49.6, 9);
    expect(Object.keys(s.distributions)).toEqual([...DISTRIBUTION_COLUMNS]);
    // b errored, c timed out; a, d, e are ok. d says refusal=true, e's status is `refusal`.
    expect(s.status).toEqual({ ok: 3, error: 1, timeout: 1 });
    expect(s.refusals).toBe(2);
    // Feedback: b −1; d 0; a and e +1; c none.
    expect(s.feedback).toEqual({ down: 1, neutral: 1, up: 2, none: 1 });
    // Sessions s1, s2, s3; tenants acme, globex; routes chat, code, summarize; models m1, m2.
    expect(s.distinct).toEqual({ session_id: 3, tenant: 2, route: 3, model: 2 });
  });

  it('describes only the selected rows: a limit takes the earliest, from/to a time window', async () => {
    // In time order: b 10:00:00, a 10:00:30, e 10:00:45, d 10:01:00, c 10:01:30.
    const head = await inspectTrace(full, { limit: 2 });
    expect(head.good).toBe(5);
    expect(head.selected).toBe(2);
    expect(head.time_span).toMatchObject({ start: T10, end: T10 + 30_000 });
    // Latencies of b and a: 100 and 200. p50 = 150; p90: h = 0.9 → 190.
    expect(head.distributions.latency_ms!.p50).toBeCloseTo(150, 9);
    expect(head.distributions.latency_ms!.p90).toBeCloseTo(190, 9);
    expect(head.status).toEqual({ ok: 1, error: 1, timeout: 0 });

    const window = await inspectTrace(full, { from: '2024-05-01T10:00:40Z', to: '2024-05-01T10:01:30Z' });
    // e and d (c at 10:01:30 is not before `to`).
    expect(window.selected).toBe(2);
    expect(window.distributions.input_tokens).toMatchObject({ count: 2, min: 400, max: 500 });
    expect(window.refusals).toBe(2);
    expect(window.feedback).toEqual({ down: 0, neutral: 1, up: 1, none: 0 });
    expect(window.distinct).toEqual({ session_id: 1, tenant: 1, route: 2, model: 1 });
  });

  it('leaves out what a trace does not carry; numeric time offsets get no ISO dates', async () => {
    const s = await inspectTrace(bare);
    expect(s.columns).toEqual(['request_id', 'timestamp', 'latency_ms']);
    expect(Object.keys(s.distributions)).toEqual(['latency_ms']);
    expect(s.distributions.latency_ms).toMatchObject({ count: 3, min: 10, max: 40 });
    expect(s.distributions.latency_ms!.p50).toBeCloseTo(20, 9);
    expect(s.feedback).toBeNull();
    expect(s.distinct).toEqual({});
    expect(s.status).toEqual({ ok: 3, error: 0, timeout: 0 });
    expect(s.refusals).toBe(0);
    expect(s.sorted).toBe(false);
    expect(s.time_span).toEqual({ start: 0, end: 500, duration_ms: 500, start_iso: null, end_iso: null });
    expect(s.mapping[0]).toEqual({ column: 'request_id', source: 'row number (row-000001, …)', via: 'generated' });
  });

  it('does not call a file in time order out of order because a duplicate request id was set aside', async () => {
    // In time order, one request id repeated: dropping it joins, and the join read rows out of
    // file order, which was reported as "the file is not in time order".
    const rows = Array.from({ length: 300 }, (_, i) => JSON.stringify({ request_id: `r${i === 200 ? 5 : i}`, timestamp: 1714554000000 + i * 1000, input_tokens: 10 }));
    const f = path.join(dir, 'dup-in-order.jsonl');
    writeFileSync(f, rows.join('\n') + '\n');
    const s = await inspectTrace(f);
    expect(s.bad_by_reason.duplicate_request_id).toBe(1);
    expect(s.time_order).toBe('ordered');
    // Still sorted on read: the join that sets the duplicate aside keeps no order.
    expect(s.sorted).toBe(false);
    expect(renderSummary(s)).not.toContain('not in time order');
    // Out of order, and no duplicates: said.
    writeFileSync(f, [...rows.slice(0, 200), rows[250], ...rows.slice(201, 250), ...rows.slice(251)].join('\n') + '\n');
    const swapped = await inspectTrace(f);
    expect(swapped.time_order).toBe('unordered');
    expect(renderSummary(swapped)).toContain('the file is not in time order (rows are sorted on read)');
  });

  it('an empty selection has no time span and empty distributions', async () => {
    const s = await inspectTrace(bare, { limit: 0 });
    expect(s.selected).toBe(0);
    expect(s.time_span).toBeNull();
    expect(s.distributions.latency_ms).toEqual({ count: 0, min: null, p50: null, p90: null, p99: null, max: null });
    expect(s.status).toEqual({ ok: 0, error: 0, timeout: 0 });
  });
});

describe('renderSummary', () => {
  it('writes the counts, bad rows, time, statuses, feedback and distinct values as lines', async () => {
    const text = renderSummary(await inspectTrace(full));
    const lines = text.split('\n');
    expect(text.endsWith('\n')).toBe(true);
    expect(lines[0]).toBe(`rehearse traces inspect: ${full}`);
    expect(lines).toContain('format    CSV');
    expect(lines).toContain(`mapping   by name: ${HEADER.split(',').join(', ')}`);
    expect(lines).toContain('rows      8: 5 good, 3 bad');
    expect(lines).toContain('bad rows  negative_tokens 1, bad_feedback 1, duplicate_request_id 1 (left out, never fatal)');
    // Each example: its row, reason and column, and the raw row cut to 97 characters and "...".
    const ex = lines.find((l) => l.startsWith('          row 6: negative_tokens (input_tokens): '))!;
    expect(ex).toBeDefined();
    const raw = ex.slice('          row 6: negative_tokens (input_tokens): '.length);
    expect(raw.length).toBe(100);
    expect(raw.endsWith('...')).toBe(true);
    expect(lines).toContain('time      2024-05-01T10:00:00.000Z → 2024-05-01T10:01:30.000Z (1m 30s); the file is not in time order (rows are sorted on read)');
    // 3, 1 and 1 of 5 requests; 2 refusals of 5.
    expect(lines).toContain('status    ok 3 (60.0%), error 1 (20.0%), timeout 1 (20.0%); refusals 2 (40.0%)');
    expect(lines).toContain('feedback  −1: 1, 0: 1, +1: 2, none: 1');
    expect(lines).toContain('distinct  session_id 3, tenant 2, route 3, model 2');
    // The distribution table: one line per column, with the values computed above.
    const latencyLine = lines.find((l) => l.trimStart().startsWith('latency_ms'))!;
    for (const cell of ['5', '100', '300', '760', '976', '1,000']) expect(latencyLine.split(/\s+/)).toContain(cell);
    const ttftLine = lines.find((l) => l.trimStart().startsWith('ttft_ms'))!;
    for (const cell of ['4', '20', '55', '74', '79.4', '80']) expect(ttftLine.split(/\s+/)).toContain(cell);
  });

  it('says when a selection is smaller, a file has no status column, offsets are not dates', async () => {
    const lines = renderSummary(await inspectTrace(bare, { limit: 2 })).split('\n');
    expect(lines).toContain('mapping   by name: timestamp, latency_ms');
    expect(lines).toContain('          request_id ← row number (row-000001, …) (generated)');
    expect(lines).toContain('rows      3: 3 good, 0 bad; 2 selected');
    expect(lines.some((l) => l.startsWith('bad rows'))).toBe(false);
    // The first two in time order: 0 and 250 ms.
    expect(lines).toContain('time      0 ms → 250 ms (250 ms); the file is not in time order (rows are sorted on read)');
    expect(lines).toContain('status    no status column: every request counts as ok');
    expect(lines.some((l) => l.startsWith('feedback'))).toBe(false);
    expect(lines.some((l) => l.startsWith('distinct'))).toBe(false);
  });

  it('an empty selection reads "no rows"', async () => {
    const lines = renderSummary(await inspectTrace(bare, { limit: 0 })).split('\n');
    expect(lines).toContain('time      no rows');
  });
});
