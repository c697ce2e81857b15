import { describe, expect, it } from 'vitest';
import { type MetricNeeds, WINDOW_WIDTH, allNeeds, testOffset } from '../../src/gates/window.js';
import { writeTests } from '../../src/sim/arm-tests.js';
import { ksTwoSample, mannWhitney } from '../../src/stats/tests.js';

const canary = Float64Array.from([3, 5, 8, 13, 21, 34]);
const baseline = Float64Array.from([1, 2, 3, 5, 8, 13, 21]);
const OUT = 2; // output_tokens in CONTINUOUS_METRICS order

function needs(mw: boolean, ks: boolean): MetricNeeds {
  const n = allNeeds().check;
  n.mannWhitney = n.mannWhitney.map(() => mw);
  n.ks = n.ks.map(() => ks);
  return n;
}

describe('writeTests', () => {
  it('writes both tests at the metric’s test fields, from the arms given', () => {
    const out = new Float64Array(WINDOW_WIDTH).fill(-1);
    writeTests(out, 0, OUT, canary, canary.length, baseline, baseline.length, needs(true, true));
    const mw = mannWhitney(canary, baseline);
    expect(out[testOffset('output_tokens', 'mw_increase')]).toBe(mw.pIncrease);
    expect(out[testOffset('output_tokens', 'mw_decrease')]).toBe(mw.pDecrease);
    expect(out[testOffset('output_tokens', 'ks')]).toBe(ksTwoSample(canary, baseline).p);
    // Nothing else is touched.
    expect(out.filter((x) => x !== -1)).toHaveLength(3);
  });

  it('leaves the test nobody reads NaN, and honours the lengths', () => {
    const out = new Float64Array(WINDOW_WIDTH);
    writeTests(out, 0, OUT, canary, 4, baseline, 5, needs(false, true));
    expect(out[testOffset('output_tokens', 'mw_increase')]).toBeNaN();
    expect(out[testOffset('output_tokens', 'mw_decrease')]).toBeNaN();
    expect(out[testOffset('output_tokens', 'ks')]).toBe(ksTwoSample(canary.subarray(0, 4), baseline.subarray(0, 5)).p);
    writeTests(out, 0, OUT, canary, 4, baseline, 5, needs(true, false));
    expect(out[testOffset('output_tokens', 'mw_increase')]).toBe(mannWhitney(canary.subarray(0, 4), baseline.subarray(0, 5)).pIncrease);
    expect(out[testOffset('output_tokens', 'ks')]).toBeNaN();
  });
});
