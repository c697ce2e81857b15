import { describe, expect, it } from 'vitest';
import type { GateConfig } from '../../src/config/model.js';
import { VaryError, applyCombination, grid, gridSize, parseVary } from '../../src/tune/vary.js';

const config: GateConfig = {
  label: 'g',
  source: 'g.yaml',
  gates: [
    { name: 'cost', metric: 'cost_usd', stat: 'mean', max_ratio: 1.2, action: 'rollback', sustained: 1, minSamples: 0, window: 'check' },
    { name: 'errors', metric: 'error_rate', stat: 'mean', test: { kind: 'proportion', alpha: 0.01, direction: 'increase' }, action: 'rollback', sustained: 1, minSamples: 0, window: 'check' },
  ],
};

describe('parseVary', () => {
  it('counts steps instead of accumulating them, so ranges have no float drift', () => {
    expect(parseVary('cost.max_ratio=1.1:1.5:0.1', config).values).toEqual([1.1, 1.2, 1.3, 1.4, 1.5]);
    expect(parseVary('cost.sustained=1:3:1', config).values).toEqual([1, 2, 3]);
    expect(parseVary('errors.alpha=0.01,0.001', config).values).toEqual([0.01, 0.001]);
  });

  it.each([
    ['nope.max_ratio=1:2:0.5', /no gate named "nope"/],
    ['cost.metric=1:2:1', /metric cannot be tuned/],
    ['cost.alpha=0.01,0.02', /gate cost has no test/],
    ['cost.max_ratio=2:1:0.5', /from ≤ to and step > 0/],
    ['cost.sustained=0:2:1', /whole numbers ≥ 1/],
    ['cost.max_ratio', /expected <gate>\.<field>=/],
  ])('rejects %s', (spec, message) => {
    expect(() => parseVary(spec, config)).toThrow(VaryError);
    expect(() => parseVary(spec, config)).toThrow(message);
  });
});

describe('grid and applyCombination', () => {
  it('enumerates the cartesian product', () => {
    const dims = [parseVary('cost.max_ratio=1.1,1.2', config), parseVary('cost.sustained=1:3:1', config)];
    expect(gridSize(dims)).toBe(6);
    expect([...grid(dims)]).toEqual([
      [1.1, 1], [1.1, 2], [1.1, 3],
      [1.2, 1], [1.2, 2], [1.2, 3],
    ]);
  });

  it('writes values into a copy, leaving the base config untouched', () => {
    const dims = [parseVary('cost.min_samples=0,50', config), parseVary('errors.alpha=0.001,0.01', config)];
    const tuned = applyCombination(config, dims, [50, 0.001]);
    expect(tuned.gates[0]!.minSamples).toBe(50);
    expect(tuned.gates[1]!.test!.alpha).toBe(0.001);
    expect(config.gates[0]!.minSamples).toBe(0);
    expect(config.gates[1]!.test!.alpha).toBe(0.01);
  });
});
