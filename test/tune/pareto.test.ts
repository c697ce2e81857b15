import { describe, expect, it } from 'vitest';
import type { ConfigScore } from '../../src/tune/evaluate.js';
import { closest, paretoFront, recommend } from '../../src/tune/pareto.js';
import { searchCombinations } from '../../src/tune/search.js';
import type { Dimension } from '../../src/tune/vary.js';

function score(falseAlarm: number, detection: number, exposure: number, feasible = true, violation = 0): ConfigScore {
  return { scenarios: [], falseAlarm, detection, exposure, feasible, violation };
}

describe('paretoFront', () => {
  it('keeps exactly the non-dominated configs', () => {
    const scores = [
      score(0.05, 0.9, 100), // front
      score(0.05, 0.8, 100), // dominated by 0
      score(0.02, 0.7, 300), // front: fewer false alarms
      score(0.1, 0.99, 50), // front: more detection, less exposure
      score(0.1, 0.99, 60), // dominated by 3
    ];
    expect(paretoFront(scores)).toEqual([2, 0, 3]);
  });
});

describe('recommend', () => {
  it('picks the feasible config with the least exposure, ties to fewer false alarms', () => {
    const scores = [score(0.04, 0.9, 100), score(0.01, 0.9, 100), score(0.2, 1, 10, false, 0.15), score(0.03, 0.95, 120)];
    expect(recommend(scores)).toBe(1);
  });

  it('returns null when nothing is feasible, and closest() names the least violating', () => {
    const scores = [score(0.3, 1, 10, false, 0.25), score(0.1, 0.9, 50, false, 0.05)];
    expect(recommend(scores)).toBeNull();
    expect(closest(scores)).toBe(1);
  });
});

describe('searchCombinations', () => {
  // A separable objective with a known optimum: exposure = (x − 7)² + (y − 3)² + 1, feasible everywhere.
  const dims: Dimension[] = [
    { gate: 'a', field: 'max_ratio', values: Array.from({ length: 40 }, (_, i) => i) },
    { gate: 'b', field: 'sustained', values: Array.from({ length: 40 }, (_, i) => i + 1) },
  ];
  const evaluate = ([x, y]: number[]) => score(0, 1, (x! - 7) ** 2 + (y! - 1 - 3) ** 2 + 1);

  it('enumerates the grid when it fits the budget', () => {
    const r = searchCombinations(dims, evaluate, 2000);
    expect(r.strategy).toBe('grid');
    expect(r.evaluated).toHaveLength(1600);
  });

  it('finds the optimum by coordinate descent within a small budget', () => {
    const r = searchCombinations(dims, evaluate, 300);
    expect(r.strategy).toBe('coordinate descent');
    expect(r.evaluated.length).toBeLessThanOrEqual(300);
    const best = r.evaluated.reduce((a, b) => (b.score.exposure < a.score.exposure ? b : a));
    expect(best.combination).toEqual([7, 4]);
  });
});
