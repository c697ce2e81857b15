import { describe, expect, it } from 'vitest';
import { quantileSorted } from '../../src/stats/quantile.js';
import { quantilesByFilter } from '../../src/stats/quantile-filter.js';
import { Rng } from '../../src/stats/random.js';

describe('quantilesByFilter', () => {
  const rng = new Rng('quantile-filter');
  const shapes: Record<string, (n: number) => Float64Array> = {
    lognormal: (n) => Float64Array.from({ length: n }, () => Math.exp(6.7 + 0.7 * rng.normal())),
    ties: (n) => Float64Array.from({ length: n }, () => Math.floor(rng.uniform() * 7)),
    sorted: (n) => Float64Array.from({ length: n }, (_, i) => i),
    reversed: (n) => Float64Array.from({ length: n }, (_, i) => n - i),
    // Large values on the sampling stride: the sample brackets the wrong ranks, so the pass's
    // check must catch it and fall back.
    adversarial: (n) => {
      const step = Math.floor(n / Math.min(1024, n >> 3));
      return Float64Array.from({ length: n }, (_, i) => (i % step === 0 ? 1e9 + i : rng.uniform()));
    },
    constant: (n) => new Float64Array(n).fill(3),
  };
  const probSets = [[0.99], [0.5], [0.999], [0.5, 0.9, 0.95, 0.99, 0.999], [0.9, 0.95], [0, 1]];

  for (const [name, make] of Object.entries(shapes)) {
    it(`agrees exactly with sorting: ${name}`, () => {
      for (const n of [0, 1, 2, 500, 511, 512, 513, 2250, 8191, 8192, 20_000, 100_003]) {
        for (const probs of probSets) {
          const a = make(n);
          const sorted = Float64Array.from(a).sort();
          const out: number[] = [];
          quantilesByFilter(a, n, probs, out);
          probs.forEach((q, i) => expect(out[i], `n=${n} q=${q}`).toBe(quantileSorted(sorted, n, q)));
        }
      }
    });
  }

  it('reads only the first n entries of a larger buffer', () => {
    const a = new Float64Array(30_000);
    for (let i = 0; i < 20_000; i++) a[i] = rng.normal();
    a.fill(1e12, 20_000);
    const sorted = a.slice(0, 20_000).sort();
    const out: number[] = [];
    quantilesByFilter(a, 20_000, [0.999], out);
    expect(out[0]).toBe(quantileSorted(sorted, 20_000, 0.999));
  });
});
