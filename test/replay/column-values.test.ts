import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnQuantiles, columnValues } from '../../src/replay/column-values.js';
import { Store } from '../../src/store/database.js';

let dir: string;
let store: Store;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-cv-'));
  store = await Store.open(path.join(dir, 'cv.duckdb'));
  // 30,000 requests over two invocations; latencies lognormal-ish from a hash, every 7th NULL,
  // a run of ties, and errors whose latency a filter leaves out.
  await store.connection.run(`INSERT INTO replay_requests (invocation_id, request_id, candidate_status, candidate_latency_ms)
    SELECT CASE WHEN i % 3 = 0 THEN 'other' ELSE 'inv' END, 'r' || i, CASE WHEN i % 11 = 0 THEN 'error' ELSE 'ok' END,
      CASE WHEN i % 7 = 0 THEN NULL WHEN i BETWEEN 1000 AND 1400 THEN 500.0 ELSE exp(6 + (hash(i) % 1000) / 400.0) END
    FROM range(30000) t(i)`);
});
afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('column values', () => {
  const where = "invocation_id = 'inv' AND candidate_status NOT IN ('error', 'timeout')";

  it('reads exactly the non-NULL values the filter keeps', async () => {
    const values = await columnValues(store, 'candidate_latency_ms', where);
    const [ref] = (await store.connection.runAndReadAll(`SELECT count(candidate_latency_ms)::INT AS n, sum(candidate_latency_ms) AS s FROM replay_requests WHERE ${where}`)).getRowObjectsJson();
    expect(values.length).toBe(ref!.n);
    expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(Number(ref!.s), 6);
  });

  it("gives DuckDB's quantile_cont (numpy's linear interpolation), ties included", async () => {
    const probs = [0, 0.01, 0.5, 0.9, 0.99, 0.999, 1];
    const ours = await columnQuantiles(store, 'candidate_latency_ms', where, probs);
    const [ref] = (await store.connection.runAndReadAll(`SELECT quantile_cont(candidate_latency_ms, [${probs.join(', ')}]) AS q FROM replay_requests WHERE ${where}`)).getRowObjectsJson();
    const expected = (ref!.q as number[]).map(Number);
    ours.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 9));
  });

  it('is NaN with no values', async () => {
    expect(await columnQuantiles(store, 'candidate_latency_ms', "invocation_id = 'none'", [0.5])).toEqual([NaN]);
  });
});
