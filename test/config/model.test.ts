import { describe, expect, it } from 'vitest';
import { CONTINUOUS_METRICS, METRICS, RATE_METRICS } from '../../src/config/metrics.js';
import { CANDIDATE_FIELDS, isContinuousMetric, isRateMetric } from '../../src/config/model.js';
import { ScenarioSchema } from '../../src/config/schema.js';

/** The normalised model: the rate/continuous split the judge relies on, and the candidate's multipliers. */

describe('isRateMetric / isContinuousMetric', () => {
  it.each([...RATE_METRICS])('%s is a rate, not continuous', (m) => {
    expect(isRateMetric(m)).toBe(true);
    expect(isContinuousMetric(m)).toBe(false);
  });

  it.each([...CONTINUOUS_METRICS])('%s is continuous, not a rate', (m) => {
    expect(isContinuousMetric(m)).toBe(true);
    expect(isRateMetric(m)).toBe(false);
  });

  it('split METRICS into the two lists, each metric on exactly one side', () => {
    expect(METRICS.filter(isRateMetric)).toEqual([...RATE_METRICS]);
    expect(METRICS.filter(isContinuousMetric)).toEqual([...CONTINUOUS_METRICS]);
  });
});

describe('CANDIDATE_FIELDS', () => {
  it('lists the injected regressions of DESIGN.md, each once', () => {
    expect([...CANDIDATE_FIELDS]).toEqual(['latency', 'latency_tail', 'output_length', 'price', 'error_rate', 'refusal_rate', 'thumbs_down_rate']);
  });

  it('is exactly the set of `candidate:` fields the scenario schema fills in', () => {
    const candidate = ScenarioSchema.parse({}).candidate;
    expect(Object.keys(candidate).sort()).toEqual([...CANDIDATE_FIELDS].sort());
    // and every one of them is a multiplier that defaults to 1 (the candidate behaves as the baseline)
    for (const f of CANDIDATE_FIELDS) expect(candidate[f]).toBe(1);
  });
});
