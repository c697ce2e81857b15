import { createRequire } from 'node:module';
import type * as DuckDB from '@duckdb/node-api';

/**
 * @duckdb/node-api, loaded with require. It is CommonJS: imported from ESM, Node's export lexer
 * parsed each of its files at every start (170–270 ms on the reference machine, against ~85 ms by
 * require), a cost every command paid before doing anything.
 */
const duckdb = createRequire(import.meta.url)('@duckdb/node-api') as typeof DuckDB;

export const { DuckDBInstance, DuckDBDataChunk, DuckDBResultReader, BIGINT, BOOLEAN, DOUBLE, ENUM8, ENUM16, ENUM32, INTEGER, VARCHAR } = duckdb;
export type DuckDBInstance = DuckDB.DuckDBInstance;
export type DuckDBDataChunk = DuckDB.DuckDBDataChunk;
export type DuckDBResultReader = DuckDB.DuckDBResultReader;
export type { DuckDBAppender, DuckDBConnection, DuckDBResult, DuckDBType, DuckDBVector, Json } from '@duckdb/node-api';
