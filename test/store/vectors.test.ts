import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { vectorItems } from '../../src/store/vectors.js';

describe('vectorItems', () => {
  it('gives the typed arrays the fast paths rely on, with the values DuckDB holds', async () => {
    // If an upgrade of @duckdb/node-api renames the field, the reader and writer fall back to
    // value-by-value access and stay correct but slow: this test says so first.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const r = await conn.stream(`SELECT (range * 0.5)::DOUBLE AS d, (range % 3)::UTINYINT AS u FROM range(5)`);
      const chunk = (await r.fetchChunk())!;
      const d = vectorItems(chunk.getColumnVector(0));
      const u = vectorItems(chunk.getColumnVector(1));
      expect(d).toBeInstanceOf(Float64Array);
      expect(u).toBeInstanceOf(Uint8Array);
      expect(Array.from((d as Float64Array).subarray(0, 5))).toEqual([0, 0.5, 1, 1.5, 2]);
      expect(Array.from((u as Uint8Array).subarray(0, 5))).toEqual([0, 1, 2, 0, 1]);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});
