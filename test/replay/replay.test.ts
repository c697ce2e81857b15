import { describe, expect, it } from 'vitest';
import { RowSet } from '../../src/replay/replay.js';

describe('RowSet', () => {
  it('holds row numbers as bits: membership, size, growth', () => {
    const s = new RowSet();
    const rows = [1, 7, 8, 9, 1000, 123_457, 10_000_000];
    for (const r of [...rows, 8, 1000]) s.add(r);
    expect(s.size).toBe(rows.length);
    for (const r of rows) expect(s.has(r)).toBe(true);
    for (const r of [0, 2, 6, 10, 999, 1001, 123_456, 9_999_999, 10_000_001, 2 ** 30]) expect(s.has(r)).toBe(false);
  });
});
