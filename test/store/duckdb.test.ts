import * as imported from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { BIGINT, BOOLEAN, DOUBLE, DuckDBDataChunk, DuckDBInstance, ENUM16, ENUM32, ENUM8, INTEGER, VARCHAR } from '../../src/store/duckdb.js';

describe('store/duckdb: @duckdb/node-api loaded with require', () => {
  it('gives the same classes and types as importing the package', () => {
    expect(DuckDBInstance).toBe(imported.DuckDBInstance);
    expect(DuckDBDataChunk).toBe(imported.DuckDBDataChunk);
    for (const [mine, theirs] of [
      [BIGINT, imported.BIGINT],
      [BOOLEAN, imported.BOOLEAN],
      [DOUBLE, imported.DOUBLE],
      [INTEGER, imported.INTEGER],
      [VARCHAR, imported.VARCHAR],
    ] as const) {
      expect(mine.typeId).toBe(theirs.typeId);
    }
    expect(ENUM8(['a', 'b']).toString()).toBe(imported.ENUM8(['a', 'b']).toString());
    expect(ENUM16).toBe(imported.ENUM16);
    expect(ENUM32).toBe(imported.ENUM32);
  });

  it('runs a query on a real in-memory database', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll('SELECT 6 * 7 AS answer');
    expect(reader.getRowObjects()).toEqual([{ answer: 42 }]);
    connection.closeSync();
    instance.closeSync();
  });
});
