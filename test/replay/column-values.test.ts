import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnQuantiles, columnValues, exactMeanSql, exactSumSql, fixedPointExponent, maxAbsSql } from '../../src/replay/column-values.js';
import type { DuckDBConnection } from '../../src/store/duckdb.js';
import { DuckDBInstance } from '../../src/store/duckdb.js';
import { Rng } from '../../src/stats/random.js';
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

/** The exact sum of doubles, correctly rounded: each is an integer at 2^200 (all test values are ≥ 2^-100), added as BigInt. */
function exactSum(xs: readonly number[]): number {
  let total = 0n;
  for (const x of xs) total += BigInt(x * 2 ** 200);
  return Number(total) / 2 ** 200;
}

/** The exponent for `value` where `filter` holds over `from` (a relation), as the callers read it. */
async function exponentOf(c: DuckDBConnection, value: string, filter: string, from: string): Promise<number> {
  const [r] = (await c.runAndReadAll(`SELECT ${maxAbsSql(value, filter)} AS m FROM ${from}`)).getRowObjects();
  return fixedPointExponent(r!.m === null ? null : Number(r!.m));
}

describe('exact sums and means in SQL', () => {
  // 20,000 values over nine orders of magnitude, and their negatives: the order they are added in
  // changes a double sum's last bits.
  const rng = new Rng('exact-sums');
  const random = () => rng.uniform();
  const values = Array.from({ length: 20_000 }, () => (random() < 0.1 ? -1 : 1) * Math.exp(random() * 20 - 8));
  const ulp = (x: number) => 2 ** (Math.floor(Math.log2(Math.abs(x))) - 52);

  async function sums(order: 'asc' | 'desc' | 'hash', threads: number) {
    const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
    const c = await db.connect();
    await c.run('CREATE TABLE v (i INTEGER, x DOUBLE, keep BOOLEAN)');
    const a = await c.createAppender('v');
    for (let i = 0; i < values.length; i++) {
      a.appendInteger(i);
      a.appendDouble(values[i]!);
      a.appendBoolean(i % 5 !== 0);
      a.endRow();
    }
    a.closeSync();
    const by = order === 'asc' ? 'x' : order === 'desc' ? 'x DESC' : 'hash(i)';
    await c.run(`CREATE TABLE t AS SELECT * FROM v ORDER BY ${by}`);
    const [all, kept] = [await exponentOf(c, 'x', 'true', 't'), await exponentOf(c, 'x', 'keep', 't')];
    const r = (await c.runAndReadAll(`SELECT ${exactSumSql('x', 'true', all)} AS exact, sum(x) AS naive,
        ${exactMeanSql('x', 'keep', kept)} AS mean FROM t`)).getRowObjects() as { exact: number; naive: number; mean: number }[];
    c.closeSync();
    db.closeSync();
    return r[0]!;
  }

  it('is the same whatever order the rows are stored and read in, where sum() is not, and within an ulp of the exact sum', async () => {
    const runs = [await sums('asc', 1), await sums('desc', 1), await sums('hash', 1), await sums('hash', 4)];
    // The data are chosen so that plain sum() tells the orders apart: otherwise this test could not fail.
    expect(new Set(runs.map((r) => r.naive)).size).toBeGreaterThan(1);
    expect(new Set(runs.map((r) => r.exact)).size).toBe(1);
    expect(new Set(runs.map((r) => r.mean)).size).toBe(1);
    const ref = exactSum(values);
    expect(Math.abs(runs[0]!.exact - ref)).toBeLessThanOrEqual(ulp(ref));
    const kept = values.filter((_, i) => i % 5 !== 0);
    const refMean = exactSum(kept) / kept.length;
    expect(Math.abs(runs[0]!.mean - refMean)).toBeLessThanOrEqual(2 * ulp(refMean));
  });

  it('scales the largest magnitude to within a factor of 2 below 2^96, and never beyond 2^1000', () => {
    for (const m of [1, 0.75, 3, 1234.5, 2 ** 40, 1e-6]) {
      const scaled = m * 2 ** fixedPointExponent(m);
      expect(scaled).toBeGreaterThan(2 ** 95);
      expect(scaled).toBeLessThanOrEqual(2 ** 96);
    }
    expect(fixedPointExponent(null)).toBe(96);
    expect(fixedPointExponent(0)).toBe(96);
    expect(fixedPointExponent(1e-300)).toBe(1000);
  });

  it('ignores NULLs, is NULL over no values, and follows an infinity as sum() does', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    const q = async (rows: string) => {
      const e = await exponentOf(c, 'x', 'true', `(${rows}) t`);
      return (await c.runAndReadAll(`SELECT ${exactSumSql('x', 'true', e)} AS s, ${exactMeanSql('x', 'true', e)} AS m FROM (${rows}) t`)).getRowObjects()[0] as {
        s: number | null;
        m: number | null;
      };
    };
    expect(await q('SELECT * FROM (VALUES (0.1), (NULL), (0.2)) v(x)')).toEqual({ s: 0.1 + 0.2, m: (0.1 + 0.2) / 2 });
    expect(await q('SELECT * FROM (VALUES (NULL::DOUBLE)) v(x)')).toEqual({ s: null, m: null });
    expect(await q("SELECT * FROM (VALUES (1.0), ('inf'::DOUBLE)) v(x)")).toEqual({ s: Infinity, m: Infinity });
    expect(await q('SELECT * FROM (VALUES (0.0), (-0.0)) v(x)')).toEqual({ s: 0, m: 0 });
    // A row the filter leaves out may be far beyond the kept rows' scale: it is never scaled.
    const values = '(VALUES (1.5), (2.5), (1e300)) v(x)';
    const small = await exponentOf(c, 'x', 'x < 10', values);
    const [kept] = (await c.runAndReadAll(`SELECT ${exactSumSql('x', 'x < 10', small)} AS s FROM ${values}`)).getRowObjects();
    expect(kept!.s).toBe(4);
    c.closeSync();
    db.closeSync();
  });
});
