import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/stats/random.js';
import { sortAscending } from '../../src/stats/sort.js';

/** The reference: V8's own typed-array sort, which sortAscending must match value for value. */
function check(values: Float64Array): void {
  const expected = Float64Array.from(values).sort();
  const out = sortAscending(values);
  expect(out).toBe(values); // in place
  expect(Array.from(out)).toEqual(Array.from(expected));
}

const rng = Rng.forRun(1, 0, 'sort-test');
const draw = (n: number, f: () => number) => Float64Array.from({ length: n }, f);

describe('sortAscending', () => {
  it('sorts continuous values as V8 does, below, at and above the radix threshold', () => {
    for (const n of [0, 1, 2, 100, 511, 512, 513, 3000, 40_000]) check(draw(n, () => Math.exp(6.7 + 0.69 * rng.normal())));
  });

  it('sorts integer token counts full of ties (passes with one digit skipped)', () => {
    for (const n of [600, 5000]) check(draw(n, () => Math.max(1, Math.round(Math.exp(5 + 0.7 * rng.normal())))));
    check(new Float64Array(2000).fill(7));
  });

  it('sorts zeros, subnormals, huge values, Infinity and NaN where V8 puts them', () => {
    const specials = [0, Number.MIN_VALUE, 1e-310, 1e308, Infinity, NaN, 0.5, 2 ** 52 + 1];
    check(draw(4000, () => specials[Math.floor(rng.uniform() * specials.length)]! * (rng.uniform() < 0.5 ? 1 : 3)));
  });

  it('falls back to V8 for negative values (and −0)', () => {
    check(draw(3000, () => rng.normal()));
    const withNegZero = draw(1000, () => rng.uniform());
    withNegZero[500] = -0;
    const out = sortAscending(withNegZero);
    expect(Object.is(out[0], -0)).toBe(true);
  });

  it('sorts a view into a larger buffer without touching the rest', () => {
    const buffer = draw(5000, () => rng.uniform() * 1000);
    const before = Float64Array.from(buffer);
    const view = buffer.subarray(1000, 4000);
    check(view);
    expect(Array.from(buffer.subarray(0, 1000))).toEqual(Array.from(before.subarray(0, 1000)));
    expect(Array.from(buffer.subarray(4000))).toEqual(Array.from(before.subarray(4000)));
  });
});
