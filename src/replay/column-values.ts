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
