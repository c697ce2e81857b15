import { describe, expect, it } from 'vitest';
import { fastExp } from '../../src/stats/fast-exp.js';
import { Rng } from '../../src/stats/random.js';

describe('fastExp', () => {
  it('is within 4e-15 relative of Math.exp where the engine uses it, and 1e-13 over the whole fast range', () => {
    const rng = new Rng('fast-exp');
    const worst = (width: number) => {
      let w = 0;
      for (let i = 0; i < 300_000; i++) {
        const x = (rng.uniform() - 0.5) * width;
        w = Math.max(w, Math.abs(fastExp(x) / Math.exp(x) - 1));
      }
      return w;
    };
    // Log-medians of latencies and token counts plus a few σ of a normal: |x| < 30.
    expect(worst(60)).toBeLessThan(4e-15);
    expect(worst(1400)).toBeLessThan(1e-13);
  });

  it('hands the edges to Math.exp: overflow, underflow, infinities and NaN', () => {
    for (const x of [700, 709.7, 710, -700, -745, -746, Infinity, -Infinity, 0, -0]) expect(fastExp(x)).toBe(Math.exp(x));
    expect(fastExp(NaN)).toBeNaN();
  });

  it('is exact at 0 and increasing across table cells', () => {
    expect(fastExp(0)).toBe(1);
    const step = Math.LN2 / 2048;
    let prev = fastExp(-3), drops = 0;
    for (let x = -3 + step / 3; x < 3; x += step / 3) {
      const y = fastExp(x);
      if (!(y > prev)) drops++;
      prev = y;
    }
    expect(drops).toBe(0);
  });
});
