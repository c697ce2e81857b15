import { describe, expect, it } from 'vitest';
import { quantileSorted } from '../../src/stats/quantile.js';

describe('quantileSorted', () => {
  // Reference values from numpy 2.4.6: np.quantile([1, 2, 3, 4, 10], q) with the default method='linear'.
  const xs = [1, 2, 3, 4, 10];
  it.each([
    [0, 1],
    [0.5, 3],
    [0.9, 7.6],
    [0.99, 9.76],
    [0.999, 9.976],
    [1, 10],
  ])('q=%s matches numpy', (q, want) => {
    expect(quantileSorted(xs, xs.length, q)).toBeCloseTo(want, 12);
  });

  it('is the single value for one sample and NaN for none', () => {
    expect(quantileSorted([7], 1, 0.99)).toBe(7);
    expect(quantileSorted([], 0, 0.5)).toBeNaN();
  });

  it('reads only the first n entries of a larger buffer', () => {
    // np.quantile([0, 10], 0.25) == 2.5
    expect(quantileSorted(new Float64Array([0, 10, 99, 99]), 2, 0.25)).toBeCloseTo(2.5, 12);
  });
});

describe('quantilesBySelection', () => {
  it('agrees exactly with sorting, on random, tied, sorted and tiny inputs', async () => {
    const { quantilesBySelection } = await import('../../src/stats/quantile.js');
    const { Rng } = await import('../../src/stats/random.js');
    const rng = new Rng('selection');
    const probs = [0.5, 0.9, 0.95, 0.99, 0.999];
    const shapes = [
      (n: number) => Float64Array.from({ length: n }, () => rng.normal()),
      (n: number) => Float64Array.from({ length: n }, () => Math.round(rng.uniform() * 5)), // heavy ties
      (n: number) => Float64Array.from({ length: n }, (_, i) => i), // sorted
      (n: number) => Float64Array.from({ length: n }, (_, i) => n - i), // reversed
    ];
    for (const n of [1, 2, 3, 10, 31, 1000, 4097]) {
      for (const make of shapes) {
        const a = make(n);
        const sorted = a.slice().sort();
        const want = probs.map((q) => quantileSorted(sorted, n, q));
        const got: number[] = [];
        quantilesBySelection(a, n, probs, got);
        expect(got).toEqual(want);
        // Single quantiles too: the p99 alone, as the stock latency gate asks.
        const b = make(n);
        const one: number[] = [];
        const p99 = quantileSorted(b.slice().sort(), n, 0.99);
        quantilesBySelection(b, n, [0.99], one);
        expect(one[0]).toBe(p99);
      }
    }
  });
});
