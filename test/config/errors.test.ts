import { describe, expect, it } from 'vitest';
import { ConfigError, UserError, formatPath } from '../../src/config/errors.js';

/**
 * The errors the CLI prints alone (no stack) with exit 2, and the field paths they name:
 * DESIGN.md asks for "one clear message on stderr that names the file and the field".
 */

describe('UserError', () => {
  it('is an Error carrying its message alone, named UserError, exit code 2 by default', () => {
    const e = new UserError('reports/x.duckdb: the database is in use');
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toBe('reports/x.duckdb: the database is in use');
    expect(e.name).toBe('UserError');
    expect(e.exitCode).toBe(2);
    expect(String(e)).toBe('UserError: reports/x.duckdb: the database is in use');
  });

  it('keeps another exit code when given one (130: interrupted)', () => {
    expect(new UserError('interrupted', 130).exitCode).toBe(130);
    expect(new UserError('check failed', 1).exitCode).toBe(1);
  });
});

describe('ConfigError', () => {
  it('reads `file: field: problem`, and keeps the three parts', () => {
    const e = new ConfigError('scenarios/cost.yaml', 'rollout.stages[2].percent', 'must be at most 100');
    expect(e.message).toBe('scenarios/cost.yaml: rollout.stages[2].percent: must be at most 100');
    expect(e.file).toBe('scenarios/cost.yaml');
    expect(e.field).toBe('rollout.stages[2].percent');
    expect(e.problem).toBe('must be at most 100');
  });

  it('leaves the field out when there is none (a problem with the whole file)', () => {
    const e = new ConfigError('x.yaml', '', 'must be a mapping of scenario fields, got a list');
    expect(e.message).toBe('x.yaml: must be a mapping of scenario fields, got a list');
    expect(e.field).toBe('');
  });

  it('is a UserError (exit 2) named ConfigError', () => {
    const e = new ConfigError('g.yaml', 'gates[0].metric', 'unknown metric');
    expect(e).toBeInstanceOf(UserError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('ConfigError');
    expect(e.exitCode).toBe(2);
  });
});

describe('formatPath', () => {
  it.each([
    [['rollout', 'stages', 2, 'percent'], 'rollout.stages[2].percent'],
    [['gates', 0, 'name'], 'gates[0].name'],
    [['traffic', 'baseline', 'latency_ms', 'p99'], 'traffic.baseline.latency_ms.p99'],
    [['runs'], 'runs'],
    [[], ''],
    // A list at the top (a gate list parsed alone): the index opens the path, keys follow with a dot.
    [[0], '[0]'],
    [[3, 'max_ratio'], '[3].max_ratio'],
    // Nested lists: indices follow each other without dots.
    [['grid', 1, 2], 'grid[1][2]'],
    // A numeric-looking string is a key, not an index.
    [['a', '2'], 'a.2'],
  ] as [PropertyKey[], string][])('%j → %j', (keys, text) => {
    expect(formatPath(keys)).toBe(text);
  });

  it('writes a symbol key as its description', () => {
    expect(formatPath(['a', Symbol('s')])).toBe('a.Symbol(s)');
  });
});
