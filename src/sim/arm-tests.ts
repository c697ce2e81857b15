import { type MetricNeeds, TESTS_OFFSET, TEST_FIELDS } from '../gates/window.js';
import { ksTwoSample, mannWhitney } from '../stats/tests.js';

/**
 * Writes metric `metric`'s test fields (Mann–Whitney both ways, KS) of a window summary at
 * `at`, from both arms' sorted values: the tests `needs` reads, NaN the other (a KS gate alone
 * does not pay for Mann–Whitney's ranks). Both engines call it, for check and stage windows.
 */
export function writeTests(out: Float64Array, at: number, metric: number, canary: Float64Array, nc: number, baseline: Float64Array, nb: number, needs: MetricNeeds): void {
  const base = at + TESTS_OFFSET + metric * TEST_FIELDS.length;
  const a = canary.subarray(0, nc), b = baseline.subarray(0, nb);
  if (needs.mannWhitney[metric]) {
    const mw = mannWhitney(a, b);
    out[base] = mw.pIncrease;
    out[base + 1] = mw.pDecrease;
  } else out[base] = out[base + 1] = NaN;
  out[base + 2] = needs.ks[metric] ? ksTwoSample(a, b).p : NaN;
}
