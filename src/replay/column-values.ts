import { quantilesBySelection } from '../stats/quantile.js';
import type { Store } from '../store/database.js';
import { vectorItems } from '../store/vectors.js';

/**
 * The stored requests' values of one column, read into a typed array: what the replay's summary
 * and its shadow gates take quantiles and tests from. DuckDB's own exact quantile keeps every value
 * in a growing vector (about 200 MB of resident memory for a 10-million-request replay); this
 * needs the 80 MB of the array, which it hands back when done.
 */
export async function columnValues(store: Store, column: string, where: string): Promise<Float64Array> {
  const [counted] = (await store.connection.runAndReadAll(`SELECT count(${column})::DOUBLE AS n FROM replay_requests WHERE ${where}`)).getRowObjectsJson() as { n: number }[];
  const expected = Number(counted!.n);
  const out = new Float64Array(expected);
  const result = await store.connection.stream(`SELECT ${column}::DOUBLE FROM replay_requests WHERE ${where} AND ${column} IS NOT NULL`);
  let n = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const v = chunk.getColumnVector(0);
    const items = vectorItems(v);
    if (n + chunk.rowCount > expected) throw new Error(`replay_requests.${column}: more values than counted (internal error)`);
    if (items instanceof Float64Array) out.set(items.subarray(0, chunk.rowCount), n);
    else for (let i = 0; i < chunk.rowCount; i++) out[n + i] = v.getItem(i) as number;
    n += chunk.rowCount;
  }
  // DuckDB can end a stream it gave up on (memory) as if complete: a short read must not pass.
  if (n !== expected) throw new Error(`reading replay_requests.${column} stopped after ${n} of ${expected} values`);
  return out;
}

/** numpy-linear quantiles of a column's values (NaN for none), by selection. */
export async function columnQuantiles(store: Store, column: string, where: string, probs: readonly number[]): Promise<number[]> {
  const values = await columnValues(store, column, where);
  const out: number[] = [];
  quantilesBySelection(values, values.length, probs, out);
  return out;
}

/**
 * SQL for the largest finite magnitude of `value` where `filter` holds: what {@link fixedPointExponent}
 * takes, read in the same pass as its neighbours' before the sums.
 */
export function maxAbsSql(value: string, filter: string): string {
  return `max(abs(${value})) FILTER (WHERE (${filter}) AND isfinite(${value}))`;
}

/**
 * The power of two {@link exactSumSql} scales a column by: it brings the largest magnitude to about
 * 2^96, so 2^31 values cannot overflow HUGEINT, and rounds each value below 2^-96 of the largest,
 * far under the last bit of the sum.
 */
export function fixedPointExponent(maxAbs: number | null): number {
  const m = maxAbs === null || !(maxAbs > 0) ? 1 : maxAbs;
  return Math.min(1000, 96 - Math.ceil(Math.log2(m)));
}

/**
 * SQL for the sum of `value` over the rows where `filter` holds, the same whatever order the rows
 * are read in; NULL for none. `exponent` is {@link fixedPointExponent} of the rows' largest
 * magnitude ({@link maxAbsSql}).
 *
 * avg() and sum() over doubles add in the order DuckDB meets the rows, and that order is not the
 * replay's: batches land as workers finish them, a resumed replay appends the rest, DuckDB's threads
 * combine partial sums as they come. Means differed in their last bits between `--workers 1` and 4,
 * and a gate at its threshold (price ×1.2 against `max_ratio: 1.2`) flipped with them. Here every
 * value is put in fixed point (scaled by 2^exponent and rounded) and the integers are added
 * exactly. A column holding an infinity sums as sum() would, to ±Infinity or NaN.
 *
 * The filter is inside the CASE, not a FILTER clause: DuckDB computes an aggregate's argument for
 * every row before filtering, and a row the filter leaves out may be far larger than the scale
 * allows.
 */
export function exactSumSql(value: string, filter: string, exponent: number): string {
  const finite = `isfinite(${value})`;
  const scale = `pow(2.0, ${exponent})`;
  return `(CASE WHEN count(*) FILTER (WHERE (${filter}) AND ${value} IS NOT NULL AND NOT ${finite}) > 0 THEN sum(${value}) FILTER (WHERE ${filter})
    ELSE sum(CASE WHEN (${filter}) AND ${finite} THEN round(${value} * ${scale})::HUGEINT END)::DOUBLE / ${scale} END)`;
}

/** SQL for the mean of `value` where `filter` holds, from {@link exactSumSql}: NULL for none. */
export function exactMeanSql(value: string, filter: string, exponent: number): string {
  return `(${exactSumSql(value, filter, exponent)} / nullif(count(${value}) FILTER (WHERE ${filter}), 0))`;
}
