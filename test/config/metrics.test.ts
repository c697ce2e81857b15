import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONTINUOUS_METRICS, METRICS, RATE_METRICS, STATS, TESTS } from '../../src/config/metrics.js';
import * as schema from '../../src/config/schema.js';

/** The metric, statistic and test vocabularies DESIGN.md's gate file names, kept apart from zod. */

describe('vocabularies', () => {
  it('names the continuous metrics of the gate file, in summary-layout order', () => {
    expect([...CONTINUOUS_METRICS]).toEqual(['latency_ms', 'ttft_ms', 'output_tokens', 'input_tokens', 'cost_usd']);
  });

  it('names the rate metrics of the gate file', () => {
    expect([...RATE_METRICS]).toEqual(['error_rate', 'refusal_rate', 'error_or_refusal_rate', 'thumbs_down_rate']);
  });

  it('METRICS is the continuous metrics then the rates, each once', () => {
    expect([...METRICS]).toEqual([...CONTINUOUS_METRICS, ...RATE_METRICS]);
    expect(new Set(METRICS).size).toBe(9);
  });

  it('every rate metric, and no continuous one, ends in _rate (model.isRateMetric reads the suffix)', () => {
    for (const m of RATE_METRICS) expect(m.endsWith('_rate')).toBe(true);
    for (const m of CONTINUOUS_METRICS) expect(m.endsWith('_rate')).toBe(false);
  });

  it('offers mean and the quantiles p50 to p999, in increasing order', () => {
    expect([...STATS]).toEqual(['mean', 'p50', 'p90', 'p95', 'p99', 'p999']);
  });

  it('offers the three statistical tests', () => {
    expect([...TESTS]).toEqual(['mann_whitney', 'ks', 'proportion']);
  });
});

describe('one vocabulary for the schema and the workers', () => {
  it('the schema module re-exports these very lists', () => {
    expect(schema.METRICS).toBe(METRICS);
    expect(schema.CONTINUOUS_METRICS).toBe(CONTINUOUS_METRICS);
    expect(schema.RATE_METRICS).toBe(RATE_METRICS);
    expect(schema.STATS).toBe(STATS);
    expect(schema.TESTS).toBe(TESTS);
  });

  it('the gate schema accepts exactly these metrics, statistics and tests', () => {
    const gate = schema.GateSchema.shape;
    expect(gate.metric.options).toEqual([...METRICS]);
    expect(gate.stat.unwrap().options).toEqual([...STATS]);
    expect(gate.test.unwrap().options).toEqual([...TESTS]);
  });

  it('imports nothing, so a worker that needs the lists does not load zod', () => {
    // The module's reason to exist (its header): importing zod costs each worker thread start-up time.
    const source = readFileSync(new URL('../../src/config/metrics.ts', import.meta.url), 'utf8');
    expect(source).not.toMatch(/^\s*import\b/m);
    expect(source).not.toMatch(/\brequire\(|\bimport\(/);
  });
});
