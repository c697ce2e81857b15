import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadGateFile } from '../../src/config/load.js';
import type { GateConfig } from '../../src/config/model.js';
import { tunedGateFile } from '../../src/tune/tuned-file.js';
import { MAX_GRID_SETTINGS, MAX_VALUES_PER_FIELD, TUNABLE_FIELDS, VaryError, applyCombination, checkGridSize, grid, gridSize, parseVary } from '../../src/tune/vary.js';

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
    ['cost.sustained=0:2:1', /^--vary "cost\.sustained=0:2:1": cost\.sustained=0: must be at least 1, as in a gate file$/],
    ['cost.max_ratio', /expected <gate>\.<field>=/],
  ])('rejects %s', (spec, message) => {
    expect(() => parseVary(spec, config)).toThrow(VaryError);
    expect(() => parseVary(spec, config)).toThrow(message);
  });
});

describe('parseVary holds every value to the gate file rules', () => {
  it.each([
    ['cost.max_ratio=-1,0', 'cost.max_ratio=-1: must be greater than 0'],
    ['cost.max_ratio=1.2,0', 'cost.max_ratio=0: must be greater than 0'],
    ['cost.min_ratio=-0.5:1:0.5', 'cost.min_ratio=-0.5: must be at least 0'],
    ['errors.alpha=0.01,1', 'errors.alpha=1: must be less than 1'],
    ['errors.alpha=0:0.02:0.01', 'errors.alpha=0: must be greater than 0'],
    ['cost.sustained=1.5', 'cost.sustained=1.5: must be an integer, got number 1.5'],
    ['cost.min_samples=-1,10', 'cost.min_samples=-1: must be at least 0'],
  ])('refuses %s, naming the argument, the gate and field, and the rule', (spec, message) => {
    expect(() => parseVary(spec, config)).toThrow(VaryError);
    expect(() => parseVary(spec, config)).toThrow(`--vary "${spec}": ${message}, as in a gate file`);
  });

  it('takes an empty list item for a mistake, not a zero', () => {
    expect(() => parseVary('cost.max=1,,2', config)).toThrow(/values must be numbers/);
    expect(() => parseVary('cost.max=:2:1', config)).toThrow(/from ≤ to and step > 0/);
  });

  describe('accepts exactly the values a tuned gate file can be loaded with', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-vary-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const candidates = [-1, -0.5, 0, 0.001, 0.5, 1, 1.5, 2, 100];
    const cases = TUNABLE_FIELDS.flatMap((field) => candidates.map((v) => [field === 'alpha' ? 'errors' : 'cost', field, v] as const));
    it.each(cases)('%s.%s=%s', (gate, field, v) => {
      let accepted: boolean;
      let tuned: GateConfig | null = null;
      try {
        const d = parseVary(`${gate}.${field}=${v}`, config);
        tuned = applyCombination(config, [d], [v]);
        accepted = true;
      } catch (err) {
        expect(err).toBeInstanceOf(VaryError);
        accepted = false;
      }
      // The loader's verdict on the same value, written into the gate file tune would write.
      const file = path.join(dir, `${gate}-${field}-${v}.yaml`);
      const probe = tuned ?? { ...config, gates: config.gates.map((g) => (g.name !== gate ? g : field === 'alpha' ? { ...g, test: { ...g.test!, alpha: v } } : field === 'min_samples' ? { ...g, minSamples: v } : { ...g, [field]: v })) };
      writeFileSync(file, tunedGateFile(probe, []));
      let loads: boolean;
      try {
        loadGateFile(file);
        loads = true;
      } catch {
        loads = false;
      }
      expect(accepted).toBe(loads);
    });
  });
});

describe('grid size limits', () => {
  it('counts a range before building it, and refuses one beyond the per-field limit', () => {
    const started = Date.now();
    expect(() => parseVary('cost.max_ratio=1:1000000:0.0001', config)).toThrow(
      '--vary "cost.max_ratio=1:1000000:0.0001": the range makes 9,999,990,001 settings of cost.max_ratio; the limit is 10,000 per field (use a larger step)',
    );
    // A step too small to count at all still gets the message, not a RangeError.
    expect(() => parseVary('cost.max_ratio=1:2:1e-320', config)).toThrow(/the range makes more than 10\^308 settings/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('takes a field up to the limit, and not one value more', () => {
    expect(parseVary(`cost.min_samples=1:${MAX_VALUES_PER_FIELD}:1`, config).values).toHaveLength(MAX_VALUES_PER_FIELD);
    expect(() => parseVary(`cost.min_samples=0:${MAX_VALUES_PER_FIELD}:1`, config)).toThrow(/makes 10,001 settings of cost\.min_samples; the limit is 10,000 per field/);
    const list = Array.from({ length: MAX_VALUES_PER_FIELD + 1 }, (_, i) => i).join(',');
    expect(() => parseVary(`cost.min_samples=${list}`, config)).toThrow(/the list makes 10,001 settings/);
  });

  it('refuses a product of fields beyond the grid limit, naming each factor', () => {
    const fits = [parseVary('cost.max_ratio=1:1.999:0.001', config), parseVary('cost.min_samples=1:1000:1', config)];
    expect(gridSize(fits)).toBe(MAX_GRID_SETTINGS);
    expect(() => checkGridSize(fits)).not.toThrow();
    const over = [parseVary('cost.max_ratio=1:2:0.001', config), parseVary('cost.min_samples=1:1000:1', config)];
    expect(() => checkGridSize(over)).toThrow(VaryError);
    expect(() => checkGridSize(over)).toThrow('--vary: the grid makes 1,001,000 settings (cost.max_ratio 1,001 × cost.min_samples 1,000); the limit is 1,000,000 (use larger steps or fewer fields)');
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
