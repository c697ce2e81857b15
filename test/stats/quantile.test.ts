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
