import { describe, expect, it } from 'vitest';
import type { Gate } from '../../src/config/model.js';
import { type CheckMeta, firingGate, judgeRun, nextStreak, ratio, readGate } from '../../src/gates/judge.js';
import { BASELINE, CANARY, ERRORS, N, OK, REFUSALS, THUMBS_DOWN, WINDOW_WIDTH, statOffset, testOffset } from '../../src/gates/window.js';

function gate(partial: Partial<Gate> & Pick<Gate, 'metric'>): Gate {
  return { name: partial.metric, stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...partial };
}

interface ArmSpec {
  n?: number;
  errors?: number;
  refusals?: number;
  thumbsDown?: number;
  cost?: number;
  latencyP99?: number;
  count?: number;
}

/** A check summary (and a stage summary after it) with the given arm values. */
function summary(canary: ArmSpec, baseline: ArmSpec, stage?: { canary: ArmSpec; baseline: ArmSpec }): Float64Array {
  const s = new Float64Array(2 * WINDOW_WIDTH).fill(NaN);
  const fill = (at: number, a: ArmSpec) => {
    const n = a.n ?? 1000;
    const errors = a.errors ?? 0;
    const refusals = a.refusals ?? 0;
    s[at + N] = n;
    s[at + ERRORS] = errors;
    s[at + REFUSALS] = refusals;
    s[at + OK] = n - errors - refusals;
    s[at + THUMBS_DOWN] = a.thumbsDown ?? 0;
    s[at + statOffset('cost_usd', 'count')] = a.count ?? n - errors;
    s[at + statOffset('cost_usd', 'mean')] = a.cost ?? 0.001;
    s[at + statOffset('latency_ms', 'count')] = a.count ?? n - errors;
    s[at + statOffset('latency_ms', 'p99')] = a.latencyP99 ?? 4000;
  };
  fill(CANARY, canary);
  fill(BASELINE, baseline);
  if (stage) {
    fill(WINDOW_WIDTH + CANARY, stage.canary);
    fill(WINDOW_WIDTH + BASELINE, stage.baseline);
  }
  return s;
}

describe('ratio', () => {
  it('follows the zero-baseline rule', () => {
    expect(ratio(2, 1)).toBe(2);
    expect(ratio(0.1, 0)).toBe(Infinity);
    expect(ratio(0, 0)).toBe(1);
  });
});

describe('readGate', () => {
  it('breaches a max_ratio only strictly above the threshold', () => {
    const g = gate({ metric: 'cost_usd', max_ratio: 1.2 });
    expect(readGate(g, summary({ cost: 1.2 }, { cost: 1 }), 0).verdict).toBe('pass');
    const r = readGate(g, summary({ cost: 1.21 }, { cost: 1 }), 0);
    expect(r).toMatchObject({ verdict: 'breach', canary: 1.21, baseline: 1, canaryN: 1000 });
  });

  it('reads quantile stats, min_ratio, max, min and max_delta', () => {
    const s = summary({ latencyP99: 6100 }, { latencyP99: 4000 });
    expect(readGate(gate({ metric: 'latency_ms', stat: 'p99', max_ratio: 1.5 }), s, 0).verdict).toBe('breach');
    expect(readGate(gate({ metric: 'latency_ms', stat: 'p99', min_ratio: 0.5 }), s, 0).verdict).toBe('pass');
    expect(readGate(gate({ metric: 'latency_ms', stat: 'p99', max: 6000 }), s, 0).verdict).toBe('breach');
    expect(readGate(gate({ metric: 'latency_ms', stat: 'p99', min: 6200 }), s, 0).verdict).toBe('breach');
    expect(readGate(gate({ metric: 'latency_ms', stat: 'p99', max_delta: 2000 }), s, 0).verdict).toBe('breach');
    expect(readGate(gate({ metric: 'latency_ms', stat: 'p99', max_delta: 2200 }), s, 0).verdict).toBe('pass');
  });

  it('computes rates with their own denominators', () => {
    const s = summary({ n: 100, errors: 2, refusals: 3, thumbsDown: 19 }, { n: 1000, errors: 10, refusals: 10, thumbsDown: 98 });
    const r = readGate(gate({ metric: 'error_or_refusal_rate', max_ratio: 2 }), s, 0);
    expect(r.canary).toBeCloseTo(0.05, 15);
    expect(r.baseline).toBeCloseTo(0.02, 15);
    expect(r.verdict).toBe('breach');
    // thumbs-down is a share of ok requests: 19/95 against 98/980.
    const t = readGate(gate({ metric: 'thumbs_down_rate', max_ratio: 1.5 }), s, 0);
    expect(t.canary).toBeCloseTo(0.2, 15);
    expect(t.baseline).toBeCloseTo(0.1, 15);
    expect(readGate(gate({ metric: 'error_rate', max_ratio: 1 }), s, 0).canary).toBeCloseTo(0.02, 15);
    expect(readGate(gate({ metric: 'refusal_rate', max_ratio: 1 }), s, 0).canary).toBeCloseTo(0.03, 15);
  });

  it('treats a zero baseline rate as +inf (breach) unless the canary is zero too', () => {
    const g = gate({ metric: 'error_rate', max_ratio: 100 });
    expect(readGate(g, summary({ errors: 1 }, { errors: 0 }), 0).verdict).toBe('breach');
    expect(readGate(g, summary({ errors: 0 }, { errors: 0 }), 0).verdict).toBe('pass');
  });

  it('abstains below min_samples, on an empty canary, and on an empty baseline when it compares', () => {
    expect(readGate(gate({ metric: 'cost_usd', max_ratio: 1.2, minSamples: 101 }), summary({ n: 100, cost: 9 }, {}), 0).verdict).toBe('abstain');
    expect(readGate(gate({ metric: 'cost_usd', max_ratio: 1.2, minSamples: 100 }), summary({ n: 100, cost: 9 }, {}), 0).verdict).toBe('breach');
    expect(readGate(gate({ metric: 'error_rate', max_ratio: 2 }), summary({ n: 0 }, {}), 0).verdict).toBe('abstain');
    expect(readGate(gate({ metric: 'error_rate', max_ratio: 2 }), summary({ errors: 5 }, { n: 0 }), 0).verdict).toBe('abstain');
    // An absolute ceiling needs no baseline.
    expect(readGate(gate({ metric: 'error_rate', max: 0.001 }), summary({ errors: 5 }, { n: 0 }), 0).verdict).toBe('breach');
  });

  it('reads the stage summary for window: stage', () => {
    const s = summary({ cost: 1 }, { cost: 1 }, { canary: { cost: 2 }, baseline: { cost: 1 } });
    expect(readGate(gate({ metric: 'cost_usd', max_ratio: 1.5 }), s, 0).verdict).toBe('pass');
    expect(readGate(gate({ metric: 'cost_usd', max_ratio: 1.5, window: 'stage' }), s, 0).verdict).toBe('breach');
  });

  it('breaches a statistical gate when p < alpha, reading the direction it asks for', () => {
    const s = summary({}, {});
    s[testOffset('latency_ms', 'mw_increase')] = 0.004;
    s[testOffset('latency_ms', 'mw_decrease')] = 0.996;
    s[testOffset('latency_ms', 'ks')] = 0.02;
    s[statOffset('latency_ms', 'mean')] = 900;
    s[BASELINE + statOffset('latency_ms', 'mean')] = 800;
    const mw = gate({ metric: 'latency_ms', test: { kind: 'mann_whitney', alpha: 0.01, direction: 'increase' } });
    expect(readGate(mw, s, 0)).toMatchObject({ verdict: 'breach', p: 0.004 });
    expect(readGate({ ...mw, test: { kind: 'mann_whitney', alpha: 0.01, direction: 'decrease' } }, s, 0).verdict).toBe('pass');
    expect(readGate(gate({ metric: 'latency_ms', test: { kind: 'ks', alpha: 0.05, direction: 'increase' } }), s, 0).verdict).toBe('breach');
    expect(readGate(gate({ metric: 'latency_ms', test: { kind: 'ks', alpha: 0.01, direction: 'increase' } }), s, 0).verdict).toBe('pass');
  });

  it('runs the proportion test from the counts', () => {
    // 30/1000 against 10/1000: pooled z = 0.02 / sqrt(0.02·0.98·0.002) = 3.1944, one-sided p = 7.0e-4
    // (scipy.stats.norm.sf(3.1943828249996997) = 0.000700...).
    const s = summary({ errors: 30 }, { errors: 10 });
    const g = gate({ metric: 'error_rate', test: { kind: 'proportion', alpha: 0.001, direction: 'increase' } });
    const r = readGate(g, s, 0);
    expect(r.p).toBeGreaterThan(6.9e-4);
    expect(r.p).toBeLessThan(7.1e-4);
    expect(r.verdict).toBe('breach');
  });
});

describe('sustained and precedence', () => {
  it('counts consecutive breaches; an abstention neither counts nor resets', () => {
    expect(nextStreak(0, 'breach')).toBe(1);
    expect(nextStreak(2, 'abstain')).toBe(2);
    expect(nextStreak(2, 'pass')).toBe(0);
  });

  it('lets a rollback beat a hold at the same check, then file order', () => {
    const gates = [gate({ metric: 'thumbs_down_rate', action: 'hold', max_ratio: 1 }), gate({ metric: 'cost_usd', max_ratio: 1 }), gate({ metric: 'error_rate', max_ratio: 1 })];
    expect(firingGate(gates, [1, 1, 1])).toBe(1);
    expect(firingGate(gates, [1, 0, 0])).toBe(0);
    expect(firingGate(gates, [0, 0, 1])).toBe(2);
    expect(firingGate(gates, [0, 0, 0])).toBe(-1);
  });

  it('fires a sustained gate on its n-th consecutive breach, across stage boundaries and abstentions', () => {
    const g = gate({ metric: 'cost_usd', max_ratio: 1.2, sustained: 3, minSamples: 10 });
    const windows = [
      summary({ cost: 2 }, { cost: 1 }), // breach 1 (stage 1)
      summary({ cost: 2, n: 5 }, { cost: 1 }), // abstain: keeps 1
      summary({ cost: 2 }, { cost: 1 }), // breach 2 (stage 2)
      summary({ cost: 2 }, { cost: 1 }), // breach 3: fires
    ];
    const all = new Float64Array(windows.length * 2 * WINDOW_WIDTH);
    windows.forEach((w, i) => all.set(w, i * 2 * WINDOW_WIDTH));
    const checks: CheckMeta[] = [
      { stage: 0, percent: 1, endMinute: 5, canaryRequests: 10 },
      { stage: 0, percent: 1, endMinute: 10, canaryRequests: 5 },
      { stage: 1, percent: 5, endMinute: 15, canaryRequests: 50 },
      { stage: 1, percent: 5, endMinute: 20, canaryRequests: 50 },
    ];
    const seen: string[] = [];
    const outcome = judgeRun([g], checks, all, 2 * WINDOW_WIDTH, (c, _g, r, fired) => seen.push(`${c}:${r.verdict}${fired ? '!' : ''}`));
    expect(seen).toEqual(['0:breach', '1:abstain', '2:breach', '3:breach!']);
    expect(outcome).toEqual({ outcome: 'rollback', haltedStage: 2, haltedPercent: 5, gate: 0, detectedMinute: 20, canaryRequests: 115, check: 3 });
  });

  it('promotes when nothing fires, counting every canary request', () => {
    const g = gate({ metric: 'cost_usd', max_ratio: 1.2 });
    const s = summary({ cost: 1 }, { cost: 1 });
    const outcome = judgeRun([g], [{ stage: 0, percent: 1, endMinute: 5, canaryRequests: 7 }], s, 2 * WINDOW_WIDTH);
    expect(outcome).toMatchObject({ outcome: 'promote', haltedStage: null, gate: -1, detectedMinute: null, canaryRequests: 7 });
  });
});
