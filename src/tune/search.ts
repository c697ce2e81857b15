import type { ConfigScore } from './evaluate.js';
import { type Combination, type Dimension, grid, gridSize } from './vary.js';

export interface Evaluated {
  combination: Combination;
  score: ConfigScore;
}

export interface SearchResult {
  evaluated: Evaluated[];
  strategy: 'grid' | 'coordinate descent';
  gridSize: number;
}

/** Feasible configs by exposure, then false alarms; infeasible ones by how far off they are. */
function better(a: ConfigScore, b: ConfigScore): boolean {
  if (a.feasible !== b.feasible) return a.feasible;
  if (!a.feasible) return a.violation < b.violation || (a.violation === b.violation && a.exposure < b.exposure);
  return a.exposure < b.exposure || (a.exposure === b.exposure && a.falseAlarm < b.falseAlarm);
}

/**
 * Every combination when the grid has at most `budget` of them. Otherwise coordinate descent:
 * from a few deterministic starts (the grid's middle, its lower and its upper corner), sweep one
 * dimension at a time to its best value with the others held, until a sweep changes nothing or
 * the budget is spent. Judging is cheap (the runs are simulated once), so the budget is large.
 */
export function searchCombinations(dimensions: readonly Dimension[], evaluate: (c: Combination) => ConfigScore, budget: number): SearchResult {
  const size = gridSize(dimensions);
  if (size <= budget) {
    return { evaluated: [...grid(dimensions)].map((combination) => ({ combination, score: evaluate(combination) })), strategy: 'grid', gridSize: size };
  }
  const seen = new Map<string, Evaluated>();
  const score = (idx: number[]): Evaluated => {
    const key = idx.join(',');
    let e = seen.get(key);
    if (!e) {
      const combination = dimensions.map((d, i) => d.values[idx[i]!]!);
      e = { combination, score: evaluate(combination) };
      seen.set(key, e);
    }
    return e;
  };
  const starts = [
    dimensions.map((d) => Math.floor((d.values.length - 1) / 2)),
    dimensions.map(() => 0),
    dimensions.map((d) => d.values.length - 1),
  ];
  for (const start of starts) {
    // A start is a combination too: none once the budget is spent.
    if (seen.size >= budget) break;
    const idx = [...start];
    let current = score(idx);
    for (let changed = true; changed && seen.size < budget; ) {
      changed = false;
      for (let k = 0; k < dimensions.length && seen.size < budget; k++) {
        let bestValue = idx[k]!;
        for (let v = 0; v < dimensions[k]!.values.length && seen.size < budget; v++) {
          const trial = [...idx];
          trial[k] = v;
          const e = score(trial);
          if (better(e.score, current.score)) {
            current = e;
            bestValue = v;
          }
        }
        if (bestValue !== idx[k]) {
          idx[k] = bestValue;
          changed = true;
        }
      }
    }
  }
  return { evaluated: [...seen.values()], strategy: 'coordinate descent', gridSize: size };
}
