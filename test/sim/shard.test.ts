import { describe, expect, it } from 'vitest';
import { parseShard, shardRange } from '../../src/sim/shard.js';

describe('shards', () => {
  it('parses i/n with 0 ≤ i < n and rejects the rest', () => {
    expect(parseShard('0/4')).toEqual({ index: 0, count: 4 });
    expect(parseShard(' 3 / 4 ')).toEqual({ index: 3, count: 4 });
    for (const bad of ['4/4', '1/0', '-1/2', 'a/b', '1', '']) expect(parseShard(bad)).toBeNull();
  });

  it('covers every run exactly once, for any run count and shard count', () => {
    for (const runs of [1, 7, 100, 1001]) {
      for (const count of [1, 2, 3, 8, 13]) {
        const seen = new Array(runs).fill(0);
        for (let index = 0; index < count; index++) {
          const { runFrom, runTo } = shardRange(runs, { index, count });
          for (let r = runFrom; r < runTo; r++) seen[r]++;
        }
        expect(seen.every((n) => n === 1)).toBe(true);
      }
    }
  });
});
