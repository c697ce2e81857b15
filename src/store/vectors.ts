import type { DuckDBVector } from './duckdb.js';

/**
 * A DuckDB vector's values as the typed array over DuckDB's own memory that @duckdb/node-api
 * keeps in a field its typings mark private (Float64Array for DOUBLE, Uint8Array for UTINYINT and
 * ENUM8, …), or undefined. Reading and writing whole columns through it is what makes the trace
 * reader and the replay writer fast; the package is pinned to one version, and every caller falls
 * back to value-by-value access when the field is not what it expects.
 */
export function vectorItems(v: DuckDBVector): unknown {
  return (v as unknown as { items?: unknown }).items;
}
