import { describe, expect, it } from 'vitest';
import { ARROW_COLUMN_ORDER, batchFromArrow, batchToArrowTable, batchToIPC, batchToRecordBatch, utf8Vector } from '../../src/traces/arrow.js';
import { CANONICAL_COLUMNS, NUMBER_COLUMNS, TEXT_COLUMNS, type TraceBatch, allocateBatch } from '../../src/traces/canonical.js';
import { arrow } from '../../src/traces/arrow-bundle.js';

// The build src/ uses (its classes are not the Node entry's: instanceof and Table need the same copy).
const { Bool, Float64, Int32, Int64, Table, Uint8, Utf8, tableFromIPC, tableToIPC, vectorFromArray } = arrow;

/** Same number, NaN and the sign of zero included (toEqual would take -0 for 0). */
function expectSameNumbers(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Object.is(actual[i], expected[i]), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`).toBe(true);
}

function expectSameBatch(actual: TraceBatch, expected: TraceBatch): void {
  expect(actual.length).toBe(expected.length);
  expectSameNumbers(actual.row, expected.row, 'row');
  for (const c of NUMBER_COLUMNS) expectSameNumbers(actual[c], expected[c], c);
  expect(Array.from(actual.refusal)).toEqual(Array.from(expected.refusal));
  expect(actual.request_id).toEqual(expected.request_id);
  expect(actual.status).toEqual(expected.status);
  for (const c of TEXT_COLUMNS) expect(actual[c], c).toEqual(expected[c]);
}

/**
 * Five rows exercising every kind of value: nulls (NaN / null) in every nullable column,
 * non-ASCII text of 2, 3 and 4 UTF-8 bytes per character, combining marks, empty strings (which
 * are not null), a long text, -0 and extreme doubles.
 */
function sampleBatch(): TraceBatch {
  const b = allocateBatch(5);
  b.row.set([1, 2, 3, 7, 100000]);
  b.request_id.splice(0, 5, 'req-1', 'req-é', 'req-東京', 'req-🚀', '');
  b.timestamp.set([1714554000000, 1714554000000.5, -1, 0, 8.64e15]);
  b.session_id.splice(0, 5, 'sess-a', null, 'sess-a', '', null);
  b.tenant.splice(0, 5, null, null, null, null, null);
  b.route.splice(0, 5, 'chat', 'summarize', null, 'chat', 'code');
  b.model.splice(0, 5, 'gpt-4o', 'llama-3.1-70b', 'gpt-4o', null, 'mixtral');
  b.input.splice(0, 5, 'Naïve café, crème brûlée', '[{"role":"user","content":"日本語で答えて"}]', null, 'e\u0301 (e + combining acute) and 👩‍👩‍👧 family', 'x'.repeat(5000));
  b.output.splice(0, 5, "I'm sorry, I can't help with that.", null, '', 'Ωμέγα → ∞', 'tab\there\nnewline "quotes" \\ backslash');
  b.input_tokens.set([1000, NaN, 0, 3.5, 1e9]);
  b.output_tokens.set([300, 12, NaN, 0, NaN]);
  b.latency_ms.set([800.25, NaN, 1e-9, -0, Number.MAX_VALUE]);
  b.ttft_ms.set([NaN, NaN, NaN, NaN, NaN]);
  b.status.splice(0, 5, 'ok', 'error', 'timeout', 'ok', 'error');
  b.refusal.set([1, 0, 0, 1, 0]);
  b.cost_usd.set([0.000975, NaN, 0, Number.MIN_VALUE, 12.5]);
  b.feedback.set([-1, 0, 1, NaN, NaN]);
  return b;
}

describe('batch to Arrow and back', () => {
  it('through IPC bytes is identical, nulls, NaN, -0 and non-ASCII text included', () => {
    const b = sampleBatch();
    const ipc = batchToIPC(b);
    expect(ipc).toBeInstanceOf(Uint8Array);
    expectSameBatch(batchFromArrow(ipc), sampleBatch());
  });

  it('through a Table and through a RecordBatch is identical too', () => {
    expectSameBatch(batchFromArrow(batchToArrowTable(sampleBatch())), sampleBatch());
    expectSameBatch(batchFromArrow(batchToRecordBatch(sampleBatch())), sampleBatch());
  });

  it('survives a copy of the IPC bytes into a fresh buffer (as after a transfer to a worker)', () => {
    const ipc = batchToIPC(sampleBatch());
    const copy = new Uint8Array(new ArrayBuffer(ipc.byteLength));
    copy.set(ipc);
    expectSameBatch(batchFromArrow(copy), sampleBatch());
  });

  it('an empty batch stays empty', () => {
    const back = batchFromArrow(batchToIPC(allocateBatch(0)));
    expect(back.length).toBe(0);
    expect(back.request_id).toEqual([]);
    expect(back.latency_ms).toHaveLength(0);
  });
});

describe('the Arrow layout', () => {
  it('has the row column then the canonical columns, with the documented types', () => {
    expect(ARROW_COLUMN_ORDER).toEqual(['row', ...CANONICAL_COLUMNS]);
    const t = batchToArrowTable(sampleBatch());
    expect(t.numRows).toBe(5);
    expect(t.batches).toHaveLength(1);
    expect(t.schema.fields.map((f) => f.name)).toEqual(['row', ...CANONICAL_COLUMNS]);
    const type = (name: string) => t.schema.fields.find((f) => f.name === name)!.type;
    for (const c of ['row', ...NUMBER_COLUMNS]) expect(type(c), c).toBeInstanceOf(Float64);
    for (const c of ['request_id', 'status', ...TEXT_COLUMNS]) expect(type(c), c).toBeInstanceOf(Utf8);
    expect(type('refusal')).toBeInstanceOf(Uint8);
  });

  it('numbers stay NaN (not Arrow nulls) and text nulls are Arrow nulls', () => {
    const t = batchToArrowTable(sampleBatch());
    // output_tokens has two NaNs: as values, so the column has no nulls and reads as a Float64Array.
    const out = t.getChild('output_tokens')!;
    expect(out.nullCount).toBe(0);
    expect(Number.isNaN(out.get(2))).toBe(true);
    // session_id: rows 2 and 5 are null, row 4 is the empty string (present).
    const sess = t.getChild('session_id')!;
    expect(sess.nullCount).toBe(2);
    expect([0, 1, 2, 3, 4].map((i) => sess.get(i))).toEqual(['sess-a', null, 'sess-a', '', null]);
    expect(t.getChild('tenant')!.nullCount).toBe(5);
  });

  it('picks and orders columns when asked', () => {
    const t = batchToArrowTable(sampleBatch(), ['latency_ms', 'request_id', 'refusal']);
    expect(t.schema.fields.map((f) => f.name)).toEqual(['latency_ms', 'request_id', 'refusal']);
    const back = batchFromArrow(tableFromIPC(tableToIPC(t, 'stream')));
    expect(back.length).toBe(5);
    expect(back.request_id).toEqual(['req-1', 'req-é', 'req-東京', 'req-🚀', '']);
    expectSameNumbers(back.latency_ms, [800.25, NaN, 1e-9, -0, Number.MAX_VALUE], 'latency_ms');
    expect(Array.from(back.refusal)).toEqual([1, 0, 0, 1, 0]);
    // Columns left out come back empty: NaN numbers (row too), null text, status ok.
    expectSameNumbers(back.row, [NaN, NaN, NaN, NaN, NaN], 'row');
    expectSameNumbers(back.timestamp, [NaN, NaN, NaN, NaN, NaN], 'timestamp');
    expectSameNumbers(back.cost_usd, [NaN, NaN, NaN, NaN, NaN], 'cost_usd');
    expect(back.input).toEqual([null, null, null, null, null]);
    expect(back.status).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
  });
});

describe('utf8Vector', () => {
  it('lays out offsets in UTF-8 bytes and a validity bitmap, counted by hand', () => {
    // 'a' is 1 byte, null adds none, 'é' (U+00E9) 2 bytes, '東' 3 bytes, '🚀' (U+1F680) 4 bytes.
    const v = utf8Vector(['a', null, 'é', '東', '🚀']);
    const d = v.data[0]!;
    expect(v.length).toBe(5);
    expect(v.nullCount).toBe(1);
    expect(Array.from(d.valueOffsets)).toEqual([0, 1, 1, 3, 6, 10]);
    // Valid rows 0, 2, 3, 4: bits 0b11101 = 29.
    expect(d.nullBitmap![0]).toBe(29);
    expect(Array.from(d.values as Uint8Array)).toEqual([0x61, 0xc3, 0xa9, 0xe6, 0x9d, 0xb1, 0xf0, 0x9f, 0x9a, 0x80]);
    expect(v.toArray()).toEqual(['a', null, 'é', '東', '🚀']);
  });

  it('without nulls needs no bitmap; an empty string is not null', () => {
    const v = utf8Vector(['', 'x', '']);
    expect(v.nullCount).toBe(0);
    expect(Array.from(v.data[0]!.valueOffsets)).toEqual([0, 0, 1, 1]);
    expect([v.get(0), v.get(1), v.get(2)]).toEqual(['', 'x', '']);
  });

  it('sets bits in the right byte past the eighth row', () => {
    // Ten rows, null at 0, 8 and 9: byte 0 has bits 1..7 (0b11111110 = 254), byte 1 none (0).
    const strings = ['n', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].map((s, i) => (i === 0 || i >= 8 ? null : s));
    const v = utf8Vector(strings);
    expect(v.nullCount).toBe(3);
    expect(Array.from(v.data[0]!.nullBitmap!)).toEqual([254, 0]);
    expect(v.toArray()).toEqual(strings);
  });

  it('a lone surrogate becomes U+FFFD and the strings after it keep their place', () => {
    // A lone high surrogate has no UTF-8 form: it encodes as EF BF BD (U+FFFD, 3 bytes).
    const v = utf8Vector(['a\uD800b', 'next', '🚀']);
    expect(Array.from(v.data[0]!.valueOffsets)).toEqual([0, 5, 9, 13]);
    expect(v.toArray()).toEqual(['a\uFFFDb', 'next', '🚀']);
  });
});

describe('batchFromArrow on foreign Arrow', () => {
  it('reads integers and Arrow nulls as numbers and NaN, booleans as refusal 0/1, a null status as ok', () => {
    const t = new Table({
      request_id: vectorFromArray(['a', 'b', 'c'], new Utf8()),
      timestamp: vectorFromArray([10, 20, 30], new Int32()),
      input_tokens: vectorFromArray([5, null, 7], new Int32()),
      output_tokens: vectorFromArray([1n, 2n, null], new Int64()),
      latency_ms: vectorFromArray([1.5, null, 2.5], new Float64()),
      status: vectorFromArray(['error', null, 'timeout'], new Utf8()),
      refusal: vectorFromArray([true, null, false], new Bool()),
      model: vectorFromArray([null, 'm', 'ü'], new Utf8()),
    });
    const b = batchFromArrow(tableToIPC(t, 'file'));
    expect(b.length).toBe(3);
    expect(b.request_id).toEqual(['a', 'b', 'c']);
    expectSameNumbers(b.timestamp, [10, 20, 30], 'timestamp');
    expectSameNumbers(b.input_tokens, [5, NaN, 7], 'input_tokens');
    expectSameNumbers(b.output_tokens, [1, 2, NaN], 'output_tokens');
    expectSameNumbers(b.latency_ms, [1.5, NaN, 2.5], 'latency_ms');
    expect(b.status).toEqual(['error', 'ok', 'timeout']);
    expect(Array.from(b.refusal)).toEqual([1, 0, 0]);
    expect(b.model).toEqual([null, 'm', 'ü']);
    expect(b.session_id).toEqual([null, null, null]);
    expectSameNumbers(b.feedback, [NaN, NaN, NaN], 'feedback');
  });
});
