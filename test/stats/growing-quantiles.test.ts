import { describe, expect, it } from 'vitest';
import { GrowingQuantiles } from '../../src/stats/growing-quantiles.js';
import { quantileSorted, selectKth } from '../../src/stats/quantile.js';
import { Rng } from '../../src/stats/random.js';

/**
 * The pool's quantiles must be exactly those of the sorted pool (quantileSorted, numpy's linear
 * interpolation), check after check, whatever the values and the order they come in: the bracket
 * only decides the work.
 */

const PROBS = [0.5, 0.9, 0.95, 0.99, 0.999];

function reference(pooled: number[], q: number): number {
  const sorted = Float64Array.from(pooled).sort();
  return quantileSorted(sorted, sorted.length, q);
}

/** Adds `windows` windows from `draw` and compares every quantile after each. */
function grow(draw: (rng: Rng, size: number) => Float64Array, windows: number, probs = PROBS, seed = 1): number {
  const rng = Rng.forRun(seed, 0, 'growing-quantiles');
  const g = new GrowingQuantiles(probs);
  const pooled: number[] = [];
  let checks = 0;
  for (let w = 0; w < windows; w++) {
    const size = 1 + Math.floor(rng.uniform() * 3000);
    const values = draw(rng, size);
    pooled.push(...values);
    g.add(values, values.length);
    expect(g.len).toBe(pooled.length);
    probs.forEach((q, i) => expect(g.quantile(i), `window ${w}, q ${q}`).toBe(reference(pooled, q)));
    checks++;
  }
  return checks;
}

const lognormal = (rng: Rng, size: number) => Float64Array.from({ length: size }, () => Math.exp(6.7 + 0.69 * rng.normal()));

describe('GrowingQuantiles', () => {
  it('equals the sorted pool for continuous values, from a few values to tens of thousands', () => {
    expect(grow(lognormal, 30)).toBe(30);
  });

  it('equals the sorted pool for token counts full of ties', () => {
    expect(grow((rng, size) => Float64Array.from({ length: size }, () => Math.max(1, Math.round(Math.exp(3 + 0.7 * rng.normal())))), 25)).toBe(25);
  });

  it('equals the sorted pool when every value is the same', () => {
    expect(grow((_rng, size) => new Float64Array(size).fill(42), 10)).toBe(10);
  });

  it('equals the sorted pool when windows arrive sorted, or partitioned by a selection, or drift upwards', () => {
    // Sorted and partitioned windows defeat evenly spaced samples; a drifting level moves the
    // quantiles out of any bracket chosen early, so brackets must be rebuilt.
    expect(grow((rng, size) => lognormal(rng, size).sort(), 12)).toBe(12);
    expect(
      grow((rng, size) => {
        const v = lognormal(rng, size);
        selectKth(v, 0, size, Math.floor(0.99 * (size - 1)));
        return v;
      }, 12),
    ).toBe(12);
    let level = 0;
    expect(grow((rng, size) => Float64Array.from({ length: size }, () => Math.exp(5 + (level += 0.0005) + 0.3 * rng.normal())), 20)).toBe(20);
  });

  it('equals the sorted pool when the level jumps after the brackets have narrowed', () => {
    // Ten windows narrow each bracket around its rank; then every value lands above it, and the
    // ranks leave the bracket: it must be rebuilt, not trusted.
    let windows = 0;
    const byWindow = (rng: Rng, size: number) => {
      const level = windows++ < 10 ? 0 : 50;
      return Float64Array.from({ length: size }, () => level + rng.normal());
    };
    expect(grow(byWindow, 16, PROBS, 3)).toBe(16);
    // And mid-window: the jump lands inside a window.
    let values = 0;
    const midWindow = (rng: Rng, size: number) => Float64Array.from({ length: size }, () => (values++ < 25_000 ? 0 : 50) + rng.normal());
    expect(grow(midWindow, 24, [0.5, 0.99], 4)).toBe(24);
  });

  it('reads one quantile, or none, and empties on reset', () => {
    const g = new GrowingQuantiles([0.99]);
    expect(g.quantile(0)).toBeNaN();
    g.add(Float64Array.from([3, 1, 2]), 3);
    // h = (3 − 1)·0.99 = 1.98: 2 + 0.98·(3 − 2).
    expect(g.quantile(0)).toBeCloseTo(2.98, 12);
    g.reset();
    expect(g.len).toBe(0);
    expect(g.quantile(0)).toBeNaN();
    g.add(Float64Array.from([7]), 1);
    expect(g.quantile(0)).toBe(7);
    expect(new GrowingQuantiles([]).probs).toEqual([]);
  });

  it('keeps its brackets across resets: a new stage starts clean', () => {
    const rng = Rng.forRun(2, 0, 'growing-quantiles');
    const g = new GrowingQuantiles([0.5, 0.99]);
    for (let stage = 0; stage < 3; stage++) {
      g.reset();
      const pooled: number[] = [];
      for (let w = 0; w < 6; w++) {
        const v = Float64Array.from({ length: 2000 }, () => Math.exp(stage + rng.normal()));
        pooled.push(...v);
        g.add(v, v.length);
        expect(g.quantile(0)).toBe(reference(pooled, 0.5));
        expect(g.quantile(1)).toBe(reference(pooled, 0.99));
      }
    }
  });
});
