import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/database.js';
import { type ReplayRequestColumns, ReplayRequestsWriter, appendReplayRequests } from '../../src/store/replay-requests.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-rr-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** n rows whose every column varies: NaN and null every few rows, many distinct texts, codes. */
function columns(n: number, offset = 0): ReplayRequestColumns {
  const num = (k: number) => Float64Array.from({ length: n }, (_, i) => ((i + offset) % (k + 3) === 0 ? NaN : (i + offset) * k + 0.25));
  const text = (p: string, distinct: number) => Array.from({ length: n }, (_, i) => ((i + offset) % 11 === 0 ? null : `${p}-${(i + offset) % distinct}-ñ`));
  return {
    length: n,
    request_id: Array.from({ length: n }, (_, i) => `req-${i + offset}`),
    row_index: Float64Array.from({ length: n }, (_, i) => i + offset + 1),
    timestamp_ms: num(1),
    session_id: text('s', 700),
    tenant: text('t', 3),
    route: text('r', 5),
    model: text('m', 1),
    input_tokens: num(2),
    baseline_latency_ms: num(3),
    candidate_latency_ms: num(4),
    baseline_ttft_ms: num(5),
    candidate_ttft_ms: num(6),
    baseline_output_tokens: num(7),
    candidate_output_tokens: num(8),
    candidate_input_tokens: num(9),
    baseline_cost_usd: num(10),
    candidate_cost_usd: num(11),
    baseline_status: Array.from({ length: n }, (_, i) => ['ok', 'error', 'timeout'][(i + offset) % 3]!),
    candidate_status: { codes: Uint8Array.from({ length: n }, (_, i) => (i + offset) % 4), texts: ['ok', 'error', 'timeout', 'refusal'] },
    baseline_refusal: Uint8Array.from({ length: n }, (_, i) => (i + offset) % 2),
    candidate_refusal: Uint8Array.from({ length: n }, (_, i) => ((i + offset) % 5 === 0 ? 1 : 0)),
    baseline_feedback: num(12),
    similarity: num(13),
    schema_valid: Uint8Array.from({ length: n }, (_, i) => [0, 1, 255][(i + offset) % 3]!),
    finish_reason: { codes: Uint16Array.from({ length: n }, (_, i) => (i + offset) % 3), texts: [null, 'stop', 'length'] },
    error: { codes: Uint16Array.from({ length: n }, (_, i) => ((i + offset) % 7 === 0 ? 1 : 0)), texts: [null, 'HTTP 500: boom'] },
    attempts: Float64Array.from({ length: n }, (_, i) => 1 + ((i + offset) % 3)),
    sent_offset_ms: num(14),
    candidate_model: { codes: Uint16Array.from({ length: n }, (_, i) => ((i + offset) % 13 === 0 ? 0 : 1 + ((i + offset) % 2))), texts: [null, 'gpt-4o-2024-08-06', 'llama-3.1-70b'] },
  };
}

/** Row i of the columns as replay_requests holds it (NULL for NaN, null and 255). */
function expected(c: ReplayRequestColumns, i: number, invocation: string): Record<string, unknown> {
  const n = (x: number) => (Number.isNaN(x) ? null : x);
  return {
    invocation_id: invocation,
    request_id: c.request_id[i],
    row_index: c.row_index[i],
    timestamp_ms: n(c.timestamp_ms[i]!),
    session_id: c.session_id[i],
    tenant: c.tenant[i],
    route: c.route[i],
    model: c.model[i],
    input_tokens: n(c.input_tokens[i]!),
    baseline_latency_ms: n(c.baseline_latency_ms[i]!),
    candidate_latency_ms: n(c.candidate_latency_ms[i]!),
    baseline_ttft_ms: n(c.baseline_ttft_ms[i]!),
    candidate_ttft_ms: n(c.candidate_ttft_ms[i]!),
    baseline_output_tokens: n(c.baseline_output_tokens[i]!),
    candidate_output_tokens: n(c.candidate_output_tokens[i]!),
    candidate_input_tokens: n(c.candidate_input_tokens[i]!),
    baseline_cost_usd: n(c.baseline_cost_usd[i]!),
    candidate_cost_usd: n(c.candidate_cost_usd[i]!),
    baseline_status: c.baseline_status[i],
    candidate_status: c.candidate_status.texts[c.candidate_status.codes[i]!],
    baseline_refusal: c.baseline_refusal[i] === 1,
    candidate_refusal: c.candidate_refusal[i] === 1,
    baseline_feedback: n(c.baseline_feedback[i]!),
    similarity: n(c.similarity[i]!),
    schema_valid: c.schema_valid[i] === 255 ? null : c.schema_valid[i] === 1,
    finish_reason: c.finish_reason.texts[c.finish_reason.codes[i]!],
    error: c.error.texts[c.error.codes[i]!],
    attempts: c.attempts[i],
    sent_offset_ms: n(c.sent_offset_ms[i]!),
    candidate_model: c.candidate_model.texts[c.candidate_model.codes[i]!],
  };
}

async function stored(store: Store): Promise<Record<string, unknown>[]> {
  const r = await store.connection.runAndReadAll('SELECT * EXCLUDE (row_index), row_index::DOUBLE AS row_index FROM replay_requests ORDER BY row_index');
  return r.getRowObjectsJson().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /_ms|tokens|cost|feedback|similarity/.test(k) ? Number(v) : v])));
}

describe('replay_requests writer', () => {
  it('stores every value of a multi-chunk batch exactly: NaN and 255 as NULL, codes as their texts', async () => {
    // 5,000 rows: three DuckDB chunks; session_id has 700 distinct values (written value by
    // value), the other texts few (written as ENUM codes).
    const store = await Store.open(path.join(dir, 'exact.duckdb'));
    try {
      const c = columns(5000);
      await appendReplayRequests(store, 'inv-1', c);
      const rows = await stored(store);
      expect(rows).toHaveLength(5000);
      for (const i of [0, 1, 2, 10, 11, 22, 255, 256, 2047, 2048, 2049, 4095, 4096, 4999]) {
        expect({ i, ...rows[i] }).toEqual({ i, ...expected(c, i, 'inv-1') });
      }
      // Every row, column by column, through aggregates that would drift with any slip.
      const [sums] = (await store.connection.runAndReadAll(`SELECT count(session_id)::INT AS sessions, count(DISTINCT session_id)::INT AS distinct_sessions,
        count(*) FILTER (WHERE candidate_status = 'refusal')::INT AS refusals, count(error)::INT AS errors, count(schema_valid)::INT AS schemas,
        sum(candidate_cost_usd) AS cost FROM replay_requests`)).getRowObjectsJson();
      const nonNull = (xs: readonly (string | null)[]) => xs.filter((x) => x !== null).length;
      const finite = Array.from(c.candidate_cost_usd).filter((x) => !Number.isNaN(x));
      expect(sums).toEqual({
        sessions: nonNull(c.session_id),
        distinct_sessions: new Set(c.session_id.filter((x) => x !== null)).size,
        refusals: Array.from(c.candidate_status.codes).filter((x) => x === 3).length,
        errors: Array.from(c.error.codes).filter((x) => x === 1).length,
        schemas: Array.from(c.schema_valid).filter((x) => x !== 255).length,
        cost: finite.reduce((a, b) => a + b, 0),
      });
    } finally {
      store.close();
    }
  });

  it('commits gathered batches together, and only on commit', async () => {
    const file = path.join(dir, 'grouped.duckdb');
    const store = await Store.open(file);
    try {
      const w = new ReplayRequestsWriter(store, 'inv-2', { commitRows: 3000, commitMs: 60_000 });
      await w.append(columns(1000, 0));
      await w.append(columns(1000, 1000));
      expect(w.committed).toBe(0);
      await w.append(columns(1000, 2000));
      expect(w.committed).toBe(3000);
      await w.append(columns(500, 3000));
      w.commit();
      expect(w.committed).toBe(3500);
      const rows = await stored(store);
      expect(rows.map((r) => r.request_id)).toEqual(Array.from({ length: 3500 }, (_, i) => `req-${i}`));
    } finally {
      store.close();
    }
  });
});
