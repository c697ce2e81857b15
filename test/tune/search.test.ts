import { describe, expect, it } from 'vitest';
import type { ConfigScore } from '../../src/tune/evaluate.js';
import { searchCombinations } from '../../src/tune/search.js';
import type { Combination, Dimension } from '../../src/tune/vary.js';

function score(exposure: number, falseAlarm = 0, violation = 0): ConfigScore {
  return { scenarios: [], falseAlarm, detection: 1, exposure, feasible: violation === 0, violation };
}

function dim(gate: string, n: number, from = 0): Dimension {
  return { gate, field: 'max_ratio', values: Array.from({ length: n }, (_, i) => from + i) };
}

/** An evaluate that counts its calls per combination. */
function counted(f: (c: Combination) => ConfigScore) {
  const calls = new Map<string, number>();
  const evaluate = (c: Combination) => {
    calls.set(c.join(','), (calls.get(c.join(',')) ?? 0) + 1);
    return f(c);
  };
  return { evaluate, calls };
}

/** The best by the search's own order: feasible first, then exposure, then false alarms; infeasible by violation. */
function best(evaluated: { combination: Combination; score: ConfigScore }[]) {
  const key = (s: ConfigScore) => (s.feasible ? [0, s.exposure, s.falseAlarm] : [1, s.violation, s.exposure]);
  return [...evaluated].sort((a, b) => {
    const ka = key(a.score), kb = key(b.score);
    for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return ka[i]! - kb[i]!;
    return 0;
  })[0]!;
}

describe('searchCombinations: grid', () => {
  it('evaluates every combination once, in grid order, when the grid fits the budget exactly', () => {
    const dims = [dim('a', 3), dim('b', 2, 10), dim('c', 2, 100)];
    const { evaluate, calls } = counted(([a, b, c]) => score(a! + b! + c!));
    const r = searchCombinations(dims, evaluate, 12); // 3 × 2 × 2 = 12 ≤ 12
    expect(r.strategy).toBe('grid');
    expect(r.gridSize).toBe(12);
    expect(r.evaluated.map((e) => e.combination)).toEqual([
      [0, 10, 100], [0, 10, 101], [0, 11, 100], [0, 11, 101],
      [1, 10, 100], [1, 10, 101], [1, 11, 100], [1, 11, 101],
      [2, 10, 100], [2, 10, 101], [2, 11, 100], [2, 11, 101],
    ]);
    // Each paired with its own score, and each evaluated exactly once.
    for (const e of r.evaluated) expect(e.score.exposure).toBe(e.combination[0]! + e.combination[1]! + e.combination[2]!);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(calls.size).toBe(12);
  });

  it('switches to coordinate descent one combination past the budget', () => {
    const dims = [dim('a', 3), dim('b', 2, 10), dim('c', 2, 100)];
    const r = searchCombinations(dims, ([a, b, c]) => score(a! + b! + c!), 11);
    expect(r.strategy).toBe('coordinate descent');
    expect(r.gridSize).toBe(12);
  });
});

describe('searchCombinations: coordinate descent', () => {
  const dims = [dim('x', 20), dim('y', 20)]; // 400 combinations

  it('evaluates at most the budget, starts included', () => {
    for (const budget of [1, 5, 20, 38, 50]) {
      const { evaluate, calls } = counted(([x, y]) => score((x! - 13) ** 2 + (y! - 4) ** 2));
      const r = searchCombinations(dims, evaluate, budget);
      expect(r.evaluated.length).toBeLessThanOrEqual(budget);
      expect([...calls.values()].reduce((a, b) => a + b, 0)).toBe(r.evaluated.length);
    }
  });

  it('never evaluates a combination twice, and pairs each with its own score', () => {
    // exposure = |x − 13| + 2|y − 4|, feasible everywhere: optimum (13, 4).
    const f = ([x, y]: Combination) => score(Math.abs(x! - 13) + 2 * Math.abs(y! - 4));
    const { evaluate, calls } = counted(f);
    const r = searchCombinations(dims, evaluate, 100);
    expect(r.strategy).toBe('coordinate descent');
    expect(r.gridSize).toBe(400);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(r.evaluated).toHaveLength(calls.size);
    for (const e of r.evaluated) expect(e.score).toEqual(f(e.combination));
    expect(best(r.evaluated).combination).toEqual([13, 4]);
  });

  it('stops when a sweep changes nothing: three starts on a separable objective cost a few sweeps each', () => {
    // From any start, one sweep of x then of y lands on (13, 4); a second sweep changes nothing.
    // Each start then costs at most 2 sweeps × 2 dimensions × 20 values = 80 evaluations, so
    // well under 3 × 80 = 240 distinct combinations, with a budget (399) that never binds.
    const r = searchCombinations(dims, ([x, y]) => score(Math.abs(x! - 13) + 2 * Math.abs(y! - 4)), 399);
    expect(r.evaluated.length).toBeLessThanOrEqual(240);
    expect(r.evaluated.length).toBeLessThan(399);
    expect(best(r.evaluated).combination).toEqual([13, 4]);
  });

  it('prefers a feasible config to any infeasible one, however low its exposure', () => {
    // Feasible only from x = 5; infeasible ones (violation 5 − x) have the lowest exposures.
    // Best feasible: x = 5 (least exposure among feasible), y = 12.
    const f = ([x, y]: Combination) => score(x! + Math.abs(y! - 12), 0, Math.max(0, 5 - x!));
    const r = searchCombinations(dims, f, 150);
    const b = best(r.evaluated);
    expect(b.combination).toEqual([5, 12]);
    expect(b.score.feasible).toBe(true);
  });

  it('among infeasible configs, walks toward the least violation', () => {
    const f = ([x, y]: Combination) => score(0, 0, 1 + Math.abs(x! - 3) + Math.abs(y! - 15));
    const r = searchCombinations(dims, f, 150);
    expect(best(r.evaluated).combination).toEqual([3, 15]);
    expect(r.evaluated.some((e) => e.score.feasible)).toBe(false);
  });

  it('breaks exposure ties by fewer false alarms', () => {
    // Exposure depends on x alone; false alarms pick y = 6 among the tied.
    const f = ([x, y]: Combination) => score(Math.abs(x! - 4), Math.abs(y! - 6) / 100);
    const r = searchCombinations(dims, f, 150);
    expect(best(r.evaluated).combination).toEqual([4, 6]);
  });

  it('restarts from the lower and upper corners, escaping a local optimum at the middle', () => {
    // Values 0..10, middle index 5. f(5, 5) = 1 is a local optimum: every one-coordinate move
    // from it costs 2 + x + y ≥ 7. The global optimum f(0, 0) = 0 is the lower corner's start.
    const d = [dim('x', 11), dim('y', 11)];
    const f = ([x, y]: Combination) => score(x === 0 && y === 0 ? 0 : x === 5 && y === 5 ? 1 : 2 + x! + y!);
    const r = searchCombinations(d, f, 100);
    expect(r.strategy).toBe('coordinate descent');
    expect(best(r.evaluated).combination).toEqual([0, 0]);
    expect(r.evaluated[0]!.combination).toEqual([5, 5]); // the middle start comes first
  });

  it('searches three dimensions to a joint optimum', () => {
    const d = [dim('a', 9), dim('b', 9), dim('c', 9)]; // 729
    const f = ([a, b, c]: Combination) => score((a! - 2) ** 2 + (b! - 7) ** 2 + (c! - 5) ** 2);
    const r = searchCombinations(d, f, 300);
    expect(best(r.evaluated).combination).toEqual([2, 7, 5]);
    expect(r.evaluated.length).toBeLessThanOrEqual(300);
  });

  it('is deterministic', () => {
    const f = ([x, y]: Combination) => score(Math.abs(x! - 13) + 2 * Math.abs(y! - 4));
    const a = searchCombinations(dims, f, 60);
    const b = searchCombinations(dims, f, 60);
    expect(b.evaluated.map((e) => e.combination)).toEqual(a.evaluated.map((e) => e.combination));
  });
});
