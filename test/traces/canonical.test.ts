import { describe, expect, it } from 'vitest';
import {
  BAD_ROW_REASONS,
  CANONICAL_COLUMNS,
  MEASURE_COLUMNS,
  NUMBER_COLUMNS,
  STATUSES,
  TEXT_COLUMNS,
  type TraceBatch,
  allocateBatch,
  batchRow,
  batchRows,
  batchTransferList,
  isCanonicalColumn,
  truncateBatch,
} from '../../src/traces/canonical.js';

/** A batch of 4 rows filled by hand: row i has request `r{i}`, timestamp 1000·i, etc. */
function filled(): TraceBatch {
  const b = allocateBatch(4);
  for (let i = 0; i < 4; i++) {
    b.row[i] = i + 1;
    b.request_id[i] = `r${i}`;
    b.timestamp[i] = 1_000 * i;
  }
  b.session_id[0] = 's0';
  b.tenant[1] = 'acme';
  b.route[2] = '/chat';
  b.model[3] = 'gpt-x';
  b.input[0] = '[{"role":"user","content":"hi"}]';
  b.output[0] = 'hello';
  b.input_tokens[0] = 12;
  b.output_tokens[1] = 0;
  b.latency_ms[2] = 850.5;
  b.ttft_ms[2] = 120;
  b.status[1] = 'error';
  b.status[3] = 'timeout';
  b.refusal[2] = 1;
  b.cost_usd[0] = 0.0015;
  b.feedback[0] = -1;
  b.feedback[1] = 0;
  b.feedback[2] = 1;
  return b;
}

describe('canonical columns', () => {
  it('are the columns of DESIGN.md, in its order', () => {
    expect([...CANONICAL_COLUMNS]).toEqual([
      'request_id', 'timestamp', 'session_id', 'tenant', 'route', 'model', 'input', 'output',
      'input_tokens', 'output_tokens', 'latency_ms', 'ttft_ms', 'status', 'refusal', 'cost_usd', 'feedback',
    ]);
    expect([...MEASURE_COLUMNS]).toEqual(['input_tokens', 'output_tokens', 'latency_ms']);
    expect([...STATUSES]).toEqual(['ok', 'error', 'timeout']);
  });

  it('split into text and number columns that are canonical and do not overlap', () => {
    for (const c of [...TEXT_COLUMNS, ...NUMBER_COLUMNS]) expect(isCanonicalColumn(c)).toBe(true);
    expect(TEXT_COLUMNS.filter((c) => (NUMBER_COLUMNS as readonly string[]).includes(c))).toEqual([]);
    // Every canonical column is text, a number, or one of the three with their own types.
    const typed = new Set<string>([...TEXT_COLUMNS, ...NUMBER_COLUMNS, 'request_id', 'status', 'refusal']);
    expect(CANONICAL_COLUMNS.filter((c) => !typed.has(c))).toEqual([]);
  });

  it('are recognised by exact name only', () => {
    expect(isCanonicalColumn('latency_ms')).toBe(true);
    expect(isCanonicalColumn('feedback')).toBe(true);
    expect(isCanonicalColumn('Latency_MS')).toBe(false);
    expect(isCanonicalColumn(' latency_ms')).toBe(false);
    expect(isCanonicalColumn('')).toBe(false);
    // `row` travels in a batch but is not a trace column.
    expect(isCanonicalColumn('row')).toBe(false);
  });

  it('list bad-row reasons in precedence order', () => {
    expect([...BAD_ROW_REASONS]).toEqual([
      'unreadable', 'extra_fields', 'bad_timestamp', 'bad_number', 'negative_tokens', 'negative_value', 'missing_measures',
      'bad_status', 'bad_refusal', 'bad_feedback', 'duplicate_request_id',
    ]);
  });
});

describe('allocateBatch', () => {
  it('makes n empty rows: numbers NaN, text null, status ok, refusal 0', () => {
    const b = allocateBatch(3);
    expect(b.length).toBe(3);
    for (const c of NUMBER_COLUMNS) {
      expect(b[c]).toBeInstanceOf(Float64Array);
      expect(Array.from(b[c])).toEqual([NaN, NaN, NaN]);
    }
    for (const c of TEXT_COLUMNS) expect(b[c]).toEqual([null, null, null]);
    expect(b.request_id).toEqual(['', '', '']);
    expect(Array.from(b.row)).toEqual([0, 0, 0]);
    expect(b.status).toEqual(['ok', 'ok', 'ok']);
    expect(b.refusal).toBeInstanceOf(Uint8Array);
    expect(Array.from(b.refusal)).toEqual([0, 0, 0]);
  });

  it('gives every column its own array', () => {
    const b = allocateBatch(2);
    b.tenant[0] = 'x';
    b.latency_ms[0] = 5;
    expect(b.route[0]).toBeNull();
    expect(b.ttft_ms[0]).toBeNaN();
  });

  it('makes an empty batch of zero rows', () => {
    const b = allocateBatch(0);
    expect(b.length).toBe(0);
    expect(b.timestamp.length).toBe(0);
    expect(b.input).toEqual([]);
    expect(batchRows(b)).toEqual([]);
  });
});

describe('batchRow and batchRows', () => {
  it('read a row as an object, NaN as null and refusal as a boolean', () => {
    const b = filled();
    expect(batchRow(b, 0)).toEqual({
      row: 1,
      request_id: 'r0',
      timestamp: 0,
      session_id: 's0',
      tenant: null,
      route: null,
      model: null,
      input: '[{"role":"user","content":"hi"}]',
      output: 'hello',
      input_tokens: 12,
      output_tokens: null,
      latency_ms: null,
      ttft_ms: null,
      status: 'ok',
      refusal: false,
      cost_usd: 0.0015,
      feedback: -1,
    });
    const r2 = batchRow(b, 2);
    expect(r2.refusal).toBe(true);
    expect(r2.latency_ms).toBe(850.5);
    expect(r2.ttft_ms).toBe(120);
    expect(r2.feedback).toBe(1);
    // A zero stays zero (not null).
    expect(batchRow(b, 1).output_tokens).toBe(0);
    expect(batchRow(b, 1).feedback).toBe(0);
    expect(batchRow(b, 3).feedback).toBeNull();
  });

  it('read every row in order', () => {
    const rows = batchRows(filled());
    expect(rows.map((r) => r.request_id)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(rows.map((r) => r.timestamp)).toEqual([0, 1_000, 2_000, 3_000]);
    expect(rows.map((r) => r.status)).toEqual(['ok', 'error', 'ok', 'timeout']);
  });
});

describe('truncateBatch', () => {
  it('returns the batch itself when nothing is cut', () => {
    const b = filled();
    expect(truncateBatch(b, 4)).toBe(b);
  });

  it('keeps the first n rows in arrays of their own', () => {
    const b = filled();
    const t = truncateBatch(b, 2);
    expect(t.length).toBe(2);
    expect(batchRows(t)).toEqual(batchRows(b).slice(0, 2));
    for (const c of [...NUMBER_COLUMNS, 'row', 'refusal'] as const) {
      expect(t[c].length).toBe(2);
      // Own buffers, exactly the right size, so transferring them does not ship the rest.
      expect(t[c].buffer).not.toBe(b[c].buffer);
      expect(t[c].buffer.byteLength).toBe(2 * t[c].BYTES_PER_ELEMENT);
    }
    for (const c of [...TEXT_COLUMNS, 'request_id', 'status'] as const) expect(t[c]).toHaveLength(2);
    // Writing into the cut batch leaves the original alone.
    t.latency_ms[0] = 99;
    t.tenant[1] = 'other';
    expect(b.latency_ms[0]).toBeNaN();
    expect(b.tenant[1]).toBe('acme');
  });

  it('can cut to zero rows', () => {
    const t = truncateBatch(filled(), 0);
    expect(t.length).toBe(0);
    expect(batchRows(t)).toEqual([]);
  });
});

describe('batchTransferList', () => {
  it('lists the nine typed arrays’ buffers, and transferring them moves the values', () => {
    const b = filled();
    const list = batchTransferList(b);
    // row, timestamp, input_tokens, output_tokens, latency_ms, ttft_ms, refusal, cost_usd, feedback.
    expect(list).toHaveLength(9);
    const expectedRows = batchRows(b);
    const moved = structuredClone(b, { transfer: list });
    expect(batchRows(moved)).toEqual(expectedRows);
    // The sender's arrays are detached: nothing was copied.
    expect(b.timestamp.length).toBe(0);
    expect(b.refusal.length).toBe(0);
  });

  it('lists a shared buffer once, so postMessage accepts it', () => {
    const b = allocateBatch(2);
    // row and timestamp as two views of one buffer: a duplicate in the transfer list would throw.
    const shared = new ArrayBuffer(32);
    b.row = new Float64Array(shared, 0, 2);
    b.timestamp = new Float64Array(shared, 16, 2);
    b.row.set([1, 2]);
    b.timestamp.set([10, 20]);
    const list = batchTransferList(b);
    expect(list).toHaveLength(8);
    expect(list.filter((x) => x === shared)).toHaveLength(1);
    const moved = structuredClone(b, { transfer: list });
    expect(Array.from(moved.timestamp)).toEqual([10, 20]);
    expect(Array.from(moved.row)).toEqual([1, 2]);
  });
});
