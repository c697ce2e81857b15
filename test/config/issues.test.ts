import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ConfigError, UserError } from '../../src/config/errors.js';
import { describeValue, issueToConfigError, parseConfig, valueAt } from '../../src/config/issues.js';

/**
 * Config validation as a person reads it: `file: field.path: sentence`. Each expected message is
 * assembled from the file, the path to the bad field and the sentence the issue's code calls for.
 */

const FILE = 'scenarios/cost.yaml';

function errorOf(schema: z.ZodType, data: unknown, file = FILE): ConfigError {
  try {
    parseConfig(schema, data, file);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const rollout = z
  .object({
    name: z.string().min(1),
    runs: z.number().int().min(1).max(100_000),
    rollout: z
      .object({
        stages: z
          .array(z.object({ percent: z.number().gt(0).max(100), hold: z.string().optional() }).strict())
          .min(1)
          .max(3),
        check_every: z.number().multipleOf(5).optional(),
      })
      .strict(),
    traffic: z.object({ kind: z.enum(['synthetic', 'traces']).default('synthetic'), mode: z.literal('open').optional() }).strict().optional(),
    step: z.number().multipleOf(1).optional(),
    ratio: z.number().lt(2).optional(),
    tags: z.record(z.string(), z.string()).optional(),
    owners: z.array(z.string()).min(2).optional(),
    enabled: z.boolean().optional(),
  })
  .strict();

const valid = { name: 'cost', runs: 10, rollout: { stages: [{ percent: 5 }, { percent: 100 }] } };
const withStage = (stage: unknown, i = 1) => ({ ...valid, rollout: { stages: Object.assign([{ percent: 5 }, { percent: 100 }], { [i]: stage }) } });

describe('parseConfig', () => {
  it('returns the parsed data, defaults applied', () => {
    expect(parseConfig(rollout, { ...valid, traffic: {} }, FILE)).toEqual({ ...valid, traffic: { kind: 'synthetic' } });
  });

  it.each([
    // too_big, inclusive: percent ≤ 100.
    ['a number above an inclusive maximum', withStage({ percent: 150 }), 'rollout.stages[1].percent', 'must be at most 100'],
    // too_big, exclusive: lt(2).
    ['a number at an exclusive maximum', { ...valid, ratio: 2 }, 'ratio', 'must be less than 2'],
    // too_small, exclusive: gt(0).
    ['a number at an exclusive minimum', withStage({ percent: 0 }, 0), 'rollout.stages[0].percent', 'must be greater than 0'],
    // too_small, inclusive: min(1).
    ['a number below an inclusive minimum', { ...valid, runs: 0 }, 'runs', 'must be at least 1'],
    ['a list too long', { ...valid, rollout: { stages: [{ percent: 1 }, { percent: 2 }, { percent: 3 }, { percent: 4 }] } }, 'rollout.stages', 'must have at most 3 entries'],
    ['a list too short', { ...valid, owners: ['ann'] }, 'owners', 'must have at least 2 entries'],
    ['an empty list where one entry is needed', { ...valid, rollout: { stages: [] } }, 'rollout.stages', 'must have at least 1 entry'],
    ['a number for a list', { ...valid, owners: 5 }, 'owners', 'must be a list, got number 5'],
    ['an empty string', { ...valid, name: '' }, 'name', 'must not be empty'],
    ['a missing field', { runs: 10, rollout: valid.rollout }, 'name', 'is required'],
    ['a missing nested field', withStage({ hold: '30m' }), 'rollout.stages[1].percent', 'is required'],
    ['text for a number', { ...valid, runs: 'ten' }, 'runs', 'must be a number, got the text "ten"'],
    // int() reports invalid_type with expected "int".
    ['a fraction for an integer', { ...valid, runs: 2.5 }, 'runs', 'must be an integer, got number 2.5'],
    ['a list for a mapping', { ...valid, rollout: [1, 2] }, 'rollout', 'must be a mapping, got a list'],
    ['a number for a record', { ...valid, tags: 3 }, 'tags', 'must be a mapping, got number 3'],
    ['a mapping for a string', { ...valid, name: { a: 1 } }, 'name', 'must be a string, got a mapping'],
    ['null for a boolean', { ...valid, enabled: null }, 'enabled', 'must be a boolean, got null'],
    ['text for a boolean', { ...valid, enabled: 'yes' }, 'enabled', 'must be a boolean, got the text "yes"'],
    ['a value outside an enum', { ...valid, traffic: { kind: 'replay' } }, 'traffic.kind', 'must be one of synthetic, traces, got the text "replay"'],
    ['a value other than a literal', { ...valid, traffic: { mode: 'closed' } }, 'traffic.mode', 'must be open, got the text "closed"'],
    ['a value not a multiple', { ...valid, rollout: { ...valid.rollout, check_every: 7 } }, 'rollout.check_every', 'must be a multiple of 5'],
    ['a fraction for a multiple of 1', { ...valid, step: 1.5 }, 'step', 'must be an integer'],
    ['an unknown field, nested', withStage({ percent: 5, colour: 'red' }, 0), 'rollout.stages[0].colour', 'unknown field (check the spelling; see schema/)'],
    ['an unknown top-level field', { ...valid, rnus: 10 }, 'rnus', 'unknown field (check the spelling; see schema/)'],
  ])('%s: names the file and the field path', (_what, data, field, problem) => {
    const err = errorOf(rollout, data);
    expect(err.message).toBe(`${FILE}: ${field}: ${problem}`);
    expect(err.file).toBe(FILE);
    expect(err.field).toBe(field);
    expect(err.problem).toBe(problem);
  });

  it('is a UserError, exit code 2, so the CLI prints it without a stack', () => {
    const err = errorOf(rollout, { ...valid, runs: 0 });
    expect(err).toBeInstanceOf(UserError);
    expect(err.exitCode).toBe(2);
    expect(err.name).toBe('ConfigError');
  });

  it('reports the first issue only', () => {
    // name and runs are both wrong; the object's keys are checked in order, name first.
    const err = errorOf(rollout, { ...valid, name: '', runs: 0 });
    expect(err.message).toBe(`${FILE}: name: must not be empty`);
  });

  it('passes a custom refinement’s own message through', () => {
    const schema = z.object({ p50: z.number(), p99: z.number() }).refine((q) => q.p99 >= q.p50, { message: 'p99 must be at least p50', path: ['p99'] });
    expect(errorOf(schema, { p50: 5, p99: 1 }, 'gates.yaml').message).toBe('gates.yaml: p99: p99 must be at least p50');
  });

  it('leaves the field out for a problem with the whole file', () => {
    const err = errorOf(rollout, 'just text');
    expect(err.field).toBe('');
    expect(err.message).toBe(`${FILE}: must be a mapping, got the text "just text"`);
  });

  it('calls an absent document required', () => {
    expect(errorOf(rollout, undefined).message).toBe(`${FILE}: is required`);
  });
});

describe('issueToConfigError', () => {
  it('puts the prefix before the issue’s path, but reads the value at the issue’s own path', () => {
    // The schema checks one target; the file holds it at targets[2]. The value is looked up in the
    // data the schema saw ({ timeout: "soon" }), the path shown is the one in the file.
    const target = z.object({ timeout: z.number() });
    const data = { timeout: 'soon' };
    const r = target.safeParse(data);
    expect(r.success).toBe(false);
    const err = issueToConfigError('targets.yaml', data, r.error!.issues[0]!, ['targets', 2]);
    expect(err.message).toBe('targets.yaml: targets[2].timeout: must be a number, got the text "soon"');
  });

  it('names an unrecognised key under the prefix', () => {
    const r = z.object({}).strict().safeParse({ urll: 'x' });
    const err = issueToConfigError('targets.yaml', { urll: 'x' }, r.error!.issues[0]!, ['targets', 0, 'http']);
    expect(err.message).toBe('targets.yaml: targets[0].http.urll: unknown field (check the spelling; see schema/)');
  });
});

describe('valueAt', () => {
  const data = { a: { b: [10, { c: 'x' }] }, n: null };
  it.each([
    [[], data],
    [['a', 'b', 0], 10],
    [['a', 'b', 1, 'c'], 'x'],
    [['a', 'missing'], undefined],
    [['a', 'b', 5], undefined],
    // Through a null or a primitive: nothing there, not a throw.
    [['n', 'x'], undefined],
    [['a', 'b', 0, 'x'], undefined],
  ])('at %j', (keys, expected) => {
    expect(valueAt(data, keys)).toEqual(expected);
  });
});

describe('describeValue', () => {
  it.each([
    [undefined, 'nothing'],
    [null, 'null'],
    [[1, 2], 'a list'],
    [[], 'a list'],
    [{}, 'a mapping'],
    ['abc', 'the text "abc"'],
    ['say "hi"', 'the text "say \\"hi\\""'],
    [3, 'number 3'],
    [-0.5, 'number -0.5'],
    [true, 'boolean true'],
    [false, 'boolean false'],
  ])('%j is %s', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });

  it('keeps a 40-character text whole and cuts a longer one to 37 characters and an ellipsis', () => {
    const forty = 'x'.repeat(40);
    expect(describeValue(forty)).toBe(`the text "${forty}"`);
    // 41 characters: the first 37, then "...", 40 in all.
    const long = 'abcdefghij'.repeat(4) + 'k';
    expect(describeValue(long)).toBe(`the text "${'abcdefghij'.repeat(3)}abcdefg..."`);
  });
});
