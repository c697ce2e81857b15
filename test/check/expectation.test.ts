import { describe, expect, it } from 'vitest';
import { ciPercent, describeExpectation, explain, judgeExpectation, meets, metPercent, requiredPercent, wholePercents } from '../../src/check/expectation.js';
import type { GateConfig } from '../../src/config/model.js';
import type { OutcomeColumns } from '../../src/store/columns.js';

const config: GateConfig = {
  label: 'default',
  source: 'gates.yaml',
  gates: [
    { name: 'cost_per_request', metric: 'cost_usd', stat: 'mean', max_ratio: 1.2, action: 'rollback', sustained: 1, minSamples: 0, window: 'check' },
    { name: 'thumbs_down', metric: 'thumbs_down_rate', stat: 'mean', max_ratio: 1.5, action: 'hold', sustained: 1, minSamples: 0, window: 'check' },
  ],
};

/** Outcome columns from rows of [outcome code, stage (0 = promote), gate index (-1 = none)]. */
function columns(rows: [number, number, number][]): OutcomeColumns {
  return {
    config: Int32Array.from(rows.map(() => 0)),
    run: Int32Array.from(rows.map((_, i) => i)),
    outcome: Uint8Array.from(rows.map((r) => r[0])),
    stage: Int32Array.from(rows.map((r) => r[1])),
    gate: Int32Array.from(rows.map((r) => r[2])),
    check: Int32Array.from(rows.map((r) => (r[2] >= 0 ? 0 : -1))),
    canaryRequests: Float64Array.from(rows.map(() => 10)),
  };
}

describe('meets', () => {
  const e = { outcome: 'rollback' as const, gate: 'cost_per_request', by_stage: 1, probability: 0.95 };
  it('requires the outcome, the gate and the stage', () => {
    expect(meets(e, 'rollback', 'cost_per_request', 1)).toBe(true);
    expect(meets(e, 'rollback', 'cost_per_request', 2)).toBe(false);
    expect(meets(e, 'rollback', 'thumbs_down', 1)).toBe(false);
    expect(meets(e, 'hold', 'cost_per_request', 1)).toBe(false);
    expect(meets({ outcome: 'promote', probability: 0.9 }, 'promote', null, null)).toBe(true);
    expect(meets({ outcome: 'rollback', probability: 0.9 }, 'rollback', 'thumbs_down', 3)).toBe(true);
  });
});

describe('judgeExpectation', () => {
  // 71 runs rolled back by cost at stage 1, 29 promoted: the issue's own example.
  const rows: [number, number, number][] = [...Array.from({ length: 71 }, () => [0, 1, 0] as [number, number, number]), ...Array.from({ length: 29 }, () => [2, 0, -1] as [number, number, number])];
  const expectation = { outcome: 'rollback' as const, gate: 'cost_per_request', by_stage: 1, probability: 0.95 };

  it('gives the share, its Wilson interval and the verdict', () => {
    const r = judgeExpectation('cost-25', config, 0, expectation, [columns(rows)]);
    expect(r.runs).toBe(100);
    expect(r.met).toBe(71);
    expect(r.passed).toBe(false);
    // Wilson 95% for 71/100 (scipy.stats.binomtest(71, 100).proportion_ci(method='wilson')): 0.6146–0.7898.
    expect(r.low).toBeCloseTo(0.6146, 3);
    expect(r.high).toBeCloseTo(0.7898, 3);
    expect(explain(r)).toBe('expected rollback via cost_per_request by stage 1 in ≥ 95% of runs; got 71% (95% CI 61–79%); 29% promoted');
  });

  it('passes at exactly the required share, and counts only its own gate config', () => {
    const r = judgeExpectation('cost-25', config, 0, { ...expectation, probability: 0.71 }, [columns(rows)]);
    expect(r.passed).toBe(true);
    const other = columns(rows);
    other.config.fill(1);
    expect(judgeExpectation('cost-25', config, 0, expectation, [other]).runs).toBe(0);
  });

  it('names the gate that halted runs instead of the expected one', () => {
    const r = judgeExpectation('x', config, 0, expectation, [columns([[0, 1, 0], [1, 1, 1], [1, 1, 1]])]);
    // The held runs are the thumbs_down ones: said once (it read "67% held, 67% halted by thumbs_down instead").
    expect(explain(r)).toMatch(/got 33% .*; 67% held by thumbs_down$/);
  });

  it('says how every missed run ended, once each, so the shares add up', () => {
    const three: GateConfig = { ...config, gates: [...config.gates, { ...config.gates[0]!, name: 'error_or_refusal', metric: 'error_rate' }] };
    // 72 caught in stage 1; 20 promoted, 2 held by thumbs_down, 5 rolled back by cost in stage 2
    // (too late), 1 rolled back by error_or_refusal.
    const run = (n: number, row: [number, number, number]) => Array.from({ length: n }, () => row);
    const r = judgeExpectation('cost-25', three, 0, expectation, [columns([...run(72, [0, 1, 0]), ...run(20, [2, 0, -1]), ...run(2, [1, 1, 1]), ...run(5, [0, 2, 0]), ...run(1, [0, 1, 2])])]);
    expect(r.misses).toEqual({ promoted: 20, 'rolled back by cost_per_request after stage 1': 5, 'held by thumbs_down': 2, 'rolled back by error_or_refusal instead': 1 });
    expect(r.met + Object.values(r.misses).reduce((a, b) => a + b, 0)).toBe(r.runs);
    expect(explain(r)).toBe(
      'expected rollback via cost_per_request by stage 1 in ≥ 95% of runs; got 72% (95% CI 63–80%); 20% promoted, 5% rolled back by cost_per_request after stage 1, 2% held by thumbs_down, 1% rolled back by error_or_refusal instead',
    );
    // Past four ways, the rest are summed.
    const many = judgeExpectation('x', three, 0, { outcome: 'promote', probability: 0.9 }, [columns([...run(6, [2, 0, -1]), [0, 1, 0], [0, 2, 0], [1, 1, 1], [0, 1, 2], [1, 2, 0], [0, 1, 1]])]);
    expect(explain(many)).toMatch(/; 17% rolled back by cost_per_request, (\d+% [a-z_ ]+, ){3}8% otherwise$/);
  });

  it('rounds the shares of a failure sentence to whole percents that add up to 100', () => {
    // 145 / 41 / 14 of 200 are 72.5%, 20.5% and 7%: rounded one by one, 73 + 21 + 7 = 101.
    const run = (n: number, row: [number, number, number]) => Array.from({ length: n }, () => row);
    const r = judgeExpectation('cost-25', config, 0, expectation, [columns([...run(145, [0, 1, 0]), ...run(41, [2, 0, -1]), ...run(14, [0, 2, 0])])]);
    const shares = [...explain(r).matchAll(/(\d+)% (?:of runs|\(|promoted|rolled)/g)].map((m) => Number(m[1]));
    // The head's "≥ 95% of runs", then got, promoted, rolled back: largest remainders give the
    // tied half-percent to the earlier share.
    expect(shares).toEqual([95, 73, 20, 7]);
    expect(shares.slice(1).reduce((a, b) => a + b, 0)).toBe(100);
  });

  it('whole percents add up to 100, by largest remainders, ties to the earlier count', () => {
    expect(wholePercents([1, 1, 1], 3)).toEqual([34, 33, 33]);
    expect(wholePercents([145, 41, 14], 200)).toEqual([73, 20, 7]);
    expect(wholePercents([2, 1], 3)).toEqual([67, 33]);
    expect(wholePercents([0, 7], 7)).toEqual([0, 100]);
    expect(wholePercents([1, 2], 0)).toEqual([0, 0]);
    // Counts short of the total add up to their own rounded share: 2 of 3 is 67%.
    expect(wholePercents([1, 1], 3)).toEqual([34, 33]);
    for (const total of [7, 13, 99, 101, 997]) {
      const counts = [Math.floor(total / 3), Math.floor(total / 7), 1];
      counts.push(total - counts.reduce((a, b) => a + b, 0));
      const p = wholePercents(counts, total);
      expect(p.reduce((a, b) => a + b, 0)).toBe(100);
      // Each is its exact share rounded down or up, never further.
      p.forEach((x, i) => expect(Math.abs(x - (counts[i]! * 100) / total)).toBeLessThan(1));
    }
  });

  it('never shows a share short of the requirement as meeting it', () => {
    // 9,496 of 10,000 runs against ≥ 95%: "95%" would read as met.
    expect(metPercent(0.9496, 0.95)).toBe('94.9%');
    expect(metPercent(0.95, 0.95)).toBe('95%');
    expect(metPercent(0.9449, 0.95)).toBe('94%');
    expect(metPercent(0.999, 0.99)).toBe('100%');
    expect(ciPercent(0.6146, 0.7898)).toBe('61–79%');
    expect(ciPercent(0.94513, 0.95377)).toBe('94.5–95.4%');
    expect(requiredPercent(0.95)).toBe('95%');
    expect(requiredPercent(0.955)).toBe('95.5%');
    expect(requiredPercent(0.07)).toBe('7%');
    const run = (n: number, row: [number, number, number]) => Array.from({ length: n }, () => row);
    // 9,496 of 10,000: Wilson 95% interval 0.94513–0.95377 (z = 1.959964; scipy.stats.binomtest(9496,
    // 10000).proportion_ci(method='wilson')), which whole percents would show as "95–95%".
    const r = judgeExpectation('cost-25', config, 0, expectation, [columns([...run(9496, [0, 1, 0]), ...run(504, [2, 0, -1])])]);
    expect(r.passed).toBe(false);
    expect(explain(r)).toBe('expected rollback via cost_per_request by stage 1 in ≥ 95% of runs; got 94.9% (95% CI 94.5–95.4%); 5% promoted');
    // Short of a requirement that is not a whole percent, the whole percent already reads as short.
    const r2 = judgeExpectation('cost-25', config, 0, { ...expectation, probability: 0.955 }, [columns([...run(9547, [0, 1, 0]), ...run(453, [2, 0, -1])])]);
    expect(explain(r2)).toMatch(/^expected rollback via cost_per_request by stage 1 in ≥ 95\.5% of runs; got 95% \(95% CI 95–96%\); 5% promoted$/);
  });

  it('fails a gate config that has no gate of the expected name, saying so, even at probability 0', () => {
    const latencyOnly: GateConfig = { label: 'L', source: 'L.yaml', gates: [{ ...config.gates[0]!, name: 'latency_p99', metric: 'latency_ms', stat: 'p99' }] };
    for (const probability of [0.95, 0]) {
      const r = judgeExpectation('cost-25', latencyOnly, 0, { ...expectation, probability }, [columns([[0, 1, 0], [2, 0, -1]])]);
      expect(r.passed).toBe(false);
      expect(r.met).toBe(0);
      expect(r.runs).toBe(2);
      expect(r.missingGate).toBe('gate config L has no gate named "cost_per_request" (its gates: latency_p99)');
      expect(explain(r)).toContain('; gate config L has no gate named "cost_per_request" (its gates: latency_p99)');
    }
    // A config that has the gate carries no such note.
    expect(judgeExpectation('cost-25', config, 0, expectation, [columns(rows)]).missingGate).toBeUndefined();
    // promote ignores expect.gate, so a config without it is judged as usual.
    const promote = judgeExpectation('clean', latencyOnly, 0, { outcome: 'promote', gate: 'cost_per_request', probability: 0.5 }, [columns([[2, 0, -1]])]);
    expect(promote.passed).toBe(true);
    expect(promote.missingGate).toBeUndefined();
  });

  it('says the expectation as a release owner would', () => {
    expect(describeExpectation(expectation)).toBe('rollback via cost_per_request by stage 1');
    expect(describeExpectation({ outcome: 'promote', probability: 0.9 })).toBe('promote');
  });
});
