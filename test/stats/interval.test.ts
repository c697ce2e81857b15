import { describe, it, expect } from 'vitest';
import { wilsonInterval } from '../../src/stats/interval.js';

// statsmodels is not installed here, so the reference is SciPy's own Wilson implementation
// (SciPy 1.17.1): scipy.stats.binomtest(k, n).proportion_ci(confidence_level=cl, method='wilson').
// 99% uses z = scipy.special.ndtri(0.995) = 2.5758293035489004. Same closed form evaluated in a
// different order, so agreement to 1e-14 absolute is expected; 1e-12 leaves room for rounding.
const Z99 = 2.5758293035489004;
const TOL = 1e-12;

describe('wilsonInterval', () => {
  const cases: [number, number, number, number, number, number][] = [
    // [k, n, low95, high95, low99, high99]
    [0, 10, 0.0, 0.27753279986288926, 0.0, 0.39885409330490806],
    [10, 10, 0.7224672001371109, 1.0, 0.6011459066950919, 1.0],
    [3, 10, 0.10779126740630102, 0.6032218525388546, 0.07956631652306578, 0.6799753207988974],
    [50, 1000, 0.03813026239274881, 0.06531382024425081, 0.035025075722532446, 0.0709069726905337],
    [1, 1, 0.20654931437723745, 1.0, 0.13097754328018596, 1.0],
    [999, 1000, 0.9943574414020421, 0.9998234536293739, 0.9915394337800183, 0.9998825836463816],
    [0, 100000, 0.0, 3.841311258303963e-5, 0.0, 6.634456411698256e-5],
    [7, 150000, 2.2605936441174195e-5, 9.633407634237839e-5, 1.8252730250327717e-5, 0.00011930716245205019],
  ];
  it.each(cases)('%d of %d', (k, n, lo95, hi95, lo99, hi99) => {
    const ci = wilsonInterval(k, n);
    expect(Math.abs(ci.low - lo95)).toBeLessThanOrEqual(TOL);
    expect(Math.abs(ci.high - hi95)).toBeLessThanOrEqual(TOL);
    const ci99 = wilsonInterval(k, n, Z99);
    expect(Math.abs(ci99.low - lo99)).toBeLessThanOrEqual(TOL);
    expect(Math.abs(ci99.high - hi99)).toBeLessThanOrEqual(TOL);
  });

  it('pins the bounds at k = 0 and k = n exactly', () => {
    expect(wilsonInterval(0, 37).low).toBe(0);
    expect(wilsonInterval(37, 37).high).toBe(1);
  });

  it('n = 0 is uninformative', () => {
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
  });
});
