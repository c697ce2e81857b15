import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ExpectSchema, GateFileSchema, GateListSchema, GateSchema, ScenarioSchema, StageSchema, jsonSchemas } from '../../src/config/schema.js';

/**
 * The scenario and gate file formats. The schema is the documentation (schema/*.json and
 * docs/reference.md are generated from it), so: every field says what it means, the defaults are
 * the ones DESIGN.md documents, and the edge cases the descriptions promise to reject are rejected.
 */

interface Node {
  description?: string;
  default?: unknown;
  properties?: Record<string, Node>;
  items?: Node;
  anyOf?: Node[];
}

/** Every field (object property) of a JSON Schema, with its dotted path (`[]` for list items). */
function fields(node: Node, prefix = '', out: [string, Node][] = []): [string, Node][] {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const at = prefix ? `${prefix}.${key}` : key;
    out.push([at, child]);
    fields(child, at, out);
    if (child.items) fields(child.items, `${at}[]`, out);
    for (const alt of child.anyOf ?? []) {
      fields(alt, at, out);
      if (alt.items) fields(alt.items, `${at}[]`, out);
    }
  }
  return out;
}

const schemas = jsonSchemas() as Record<string, Node>;
const scenarioFields = fields(schemas['scenario.schema.json']!);
const gateFileFields = fields(schemas['gates.schema.json']!);

describe('jsonSchemas', () => {
  it('gives the scenario and gate file schemas, titled, in JSON Schema draft 2020-12', () => {
    expect(Object.keys(schemas).sort()).toEqual(['gates.schema.json', 'scenario.schema.json']);
    expect(schemas['scenario.schema.json']).toMatchObject({ title: 'rehearse scenario', $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object' });
    expect(schemas['gates.schema.json']).toMatchObject({ title: 'rehearse gate file', $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object' });
  });

  it('reaches every field DESIGN.md shows (so the walk below checks them all)', () => {
    const names = scenarioFields.map(([p]) => p);
    for (const p of [
      'name', 'description', 'runs', 'seed', 'traffic.requests_per_minute', 'traffic.baseline.latency_ms.p50', 'traffic.baseline.latency_ms.p99',
      'traffic.baseline.ttft_ms.p99', 'traffic.baseline.output_tokens', 'traffic.baseline.input_tokens', 'traffic.baseline.error_rate',
      'traffic.baseline.refusal_rate', 'traffic.baseline.thumbs_down_rate', 'traffic.traces', 'traffic.traces.path', 'traffic.traces.map',
      'traffic.price.input_per_million', 'traffic.price.output_per_million', 'candidate.latency', 'candidate.latency_tail',
      'candidate.output_length', 'candidate.price', 'candidate.error_rate', 'candidate.refusal_rate', 'candidate.thumbs_down_rate',
      'nondeterminism.run', 'nondeterminism.check', 'rollout.stages', 'rollout.stages[].percent', 'rollout.stages[].hold',
      'rollout.check_every', 'gates', 'gates[].metric', 'gates[].stat', 'gates[].max_ratio', 'gates[].test', 'gates[].alpha',
      'expect.outcome', 'expect.gate', 'expect.by_stage', 'expect.probability',
    ]) {
      expect(names).toContain(p);
    }
    const gateNames = gateFileFields.map(([p]) => p);
    for (const f of ['name', 'description', 'metric', 'stat', 'max_ratio', 'min_ratio', 'max', 'min', 'max_delta', 'test', 'alpha', 'direction', 'action', 'sustained', 'min_samples', 'window']) {
      expect(gateNames).toContain(`gates[].${f}`);
    }
  });

  it.each([
    ['scenario', scenarioFields],
    ['gate file', gateFileFields],
  ] as const)('every field of the %s schema has a description of its own (a sentence, not a stub)', (_what, list) => {
    const missing = list.filter(([, n]) => typeof n.description !== 'string' || n.description.trim().length < 10).map(([p]) => p);
    expect(missing).toEqual([]);
  });

  it('describes each file as a whole', () => {
    expect(schemas['scenario.schema.json']!.description).toMatch(/scenario/);
    expect(schemas['gates.schema.json']!.description).toMatch(/gate file/);
  });
});

/**
 * The documented defaults, from DESIGN.md ("Defaults: ... in scenarios, every candidate multiplier
 * 1, nondeterminism 0, runs: 100, seed: 1", the example scenario, and the gate defaults), with the
 * words the field's description uses to say so.
 */
const SCENARIO_DEFAULTS: [string, unknown, string][] = [
  ['runs', 100, 'Default 100'],
  ['seed', 1, 'Default 1'],
  ['traffic.requests_per_minute', 600, 'Default 600'],
  ['traffic.baseline.latency_ms', { p50: 800, p99: 4000 }, 'Default { p50: 800, p99: 4000 }'],
  ['traffic.baseline.output_tokens', { p50: 300, p99: 1500 }, 'Default { p50: 300, p99: 1500 }'],
  ['traffic.baseline.input_tokens', { p50: 1000, p99: 6000 }, 'Default { p50: 1000, p99: 6000 }'],
  ['traffic.baseline.error_rate', 0, 'Default 0'],
  ['traffic.baseline.refusal_rate', 0, 'Default 0'],
  ['traffic.baseline.thumbs_down_rate', 0, 'Default 0'],
  ['traffic.price.input_per_million', 0.5, 'Default 0.5'],
  ['traffic.price.output_per_million', 1.5, 'Default 1.5'],
  ['candidate.latency', 1, '1 (the default)'],
  ['candidate.latency_tail', 1, '1 (the default)'],
  ['candidate.output_length', 1, '1 (the default)'],
  ['candidate.price', 1, '1 (the default)'],
  ['candidate.error_rate', 1, '1 (the default)'],
  ['candidate.refusal_rate', 1, '1 (the default)'],
  ['candidate.thumbs_down_rate', 1, '1 (the default)'],
  ['nondeterminism.run', 0, 'Default 0'],
  ['nondeterminism.check', 0, 'Default 0'],
  [
    'rollout.stages',
    [{ percent: 1, hold: '30m' }, { percent: 5, hold: '2h' }, { percent: 25, hold: '4h' }, { percent: 100 }],
    'Default 1% for 30m → 5% for 2h → 25% for 4h → 100%',
  ],
  ['rollout.check_every', '5m', 'Default 5m'],
  ['expect.probability', 0.95, 'Default 0.95'],
];

const GATE_DEFAULTS: [string, unknown, string][] = [
  ['gates[].action', 'rollback', 'the default'],
  ['gates[].sustained', 1, 'Default 1'],
  ['gates[].min_samples', 0, 'Default 0'],
  ['gates[].window', 'check', 'the default'],
];

/** Defaults the loader applies rather than the schema (the field stays absent): still documented. */
const LOADER_DEFAULTS: [string, string][] = [
  ['gates[].stat', 'Default mean'],
  ['gates[].alpha', 'Default 0.01'],
  ['gates[].direction', 'increase (the default'],
  ['name', 'Defaults to the file name'],
  ['gates[].name', 'Defaults to the metric name'],
];

const withDefault = (list: [string, Node][]) =>
  Object.fromEntries(
    list
      // Sections that are objects default to {} so that their own fields' defaults apply: not a value.
      .filter(([, n]) => n.default !== undefined && !(typeof n.default === 'object' && n.default !== null && !Array.isArray(n.default) && Object.keys(n.default).length === 0))
      .map(([p, n]) => [p, n.default]),
  );

describe('defaults', () => {
  it('the scenario schema declares exactly the documented defaults (gate defaults included, for inline gates)', () => {
    const expected = Object.fromEntries([...SCENARIO_DEFAULTS, ...GATE_DEFAULTS].map(([p, v]) => [p, v]));
    expect(withDefault(scenarioFields)).toEqual(expected);
  });

  it('the gate file schema declares exactly the documented gate defaults', () => {
    expect(withDefault(gateFileFields)).toEqual(Object.fromEntries(GATE_DEFAULTS.map(([p, v]) => [p, v])));
  });

  it.each([...SCENARIO_DEFAULTS, ...GATE_DEFAULTS])('%s: the description states the default (%j)', (p, _value, words) => {
    const node = new Map([...scenarioFields, ...gateFileFields]).get(p)!;
    expect(node.description).toContain(words);
  });

  it.each(LOADER_DEFAULTS)('%s: the description states the default the loader applies (%s)', (p, words) => {
    const node = new Map([...scenarioFields, ...gateFileFields]).get(p)!;
    expect(node.description).toContain(words);
    expect(node.default).toBeUndefined();
  });

  it('parsing an empty scenario fills in every documented default', () => {
    expect(ScenarioSchema.parse({})).toEqual({
      runs: 100,
      seed: 1,
      traffic: {
        requests_per_minute: 600,
        baseline: {
          latency_ms: { p50: 800, p99: 4000 },
          output_tokens: { p50: 300, p99: 1500 },
          input_tokens: { p50: 1000, p99: 6000 },
          error_rate: 0,
          refusal_rate: 0,
          thumbs_down_rate: 0,
        },
        price: { input_per_million: 0.5, output_per_million: 1.5 },
      },
      candidate: { latency: 1, latency_tail: 1, output_length: 1, price: 1, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 },
      nondeterminism: { run: 0, check: 0 },
      rollout: {
        stages: [{ percent: 1, hold: '30m' }, { percent: 5, hold: '2h' }, { percent: 25, hold: '4h' }, { percent: 100 }],
        check_every: '5m',
      },
    });
  });

  it('a partly written section keeps its siblings’ defaults', () => {
    const s = ScenarioSchema.parse({ traffic: { baseline: { error_rate: 0.1 } }, candidate: { price: 1.25 }, rollout: { check_every: '1m' } });
    expect(s.traffic.requests_per_minute).toBe(600);
    expect(s.traffic.baseline).toMatchObject({ error_rate: 0.1, refusal_rate: 0, latency_ms: { p50: 800, p99: 4000 } });
    expect(s.candidate).toEqual({ latency: 1, latency_tail: 1, output_length: 1, price: 1.25, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 });
    expect(s.rollout.stages).toHaveLength(4);
    expect(s.rollout.check_every).toBe('1m');
  });

  it('a gate gets action rollback, sustained 1, min_samples 0, window check; stat, alpha and direction stay unset', () => {
    expect(GateSchema.parse({ metric: 'cost_usd', max_ratio: 1.2 })).toEqual({
      metric: 'cost_usd',
      max_ratio: 1.2,
      action: 'rollback',
      sustained: 1,
      min_samples: 0,
      window: 'check',
    });
  });

  it('expect.probability defaults to 0.95', () => {
    expect(ExpectSchema.parse({ outcome: 'rollback' })).toEqual({ outcome: 'rollback', probability: 0.95 });
  });

  it('reads DESIGN.md’s example scenario as written', () => {
    const text = `
name: cost-regression-25
description: Candidate costs 25% more per request; nothing else changes.
runs: 200
seed: 1
traffic:
  requests_per_minute: 600
  baseline:
    latency_ms:    { p50: 800,  p99: 4000 }
    output_tokens: { p50: 300,  p99: 1500 }
    input_tokens:  { p50: 1000, p99: 6000 }
    error_rate: 0.002
    refusal_rate: 0.01
    thumbs_down_rate: 0.03
  price: { input_per_million: 0.5, output_per_million: 1.5 }
candidate: { latency: 1.0, latency_tail: 1.0, output_length: 1.0, price: 1.25, error_rate: 1.0, refusal_rate: 1.0, thumbs_down_rate: 1.0 }
nondeterminism: { run: 0.15, check: 0.05 }
rollout:
  stages:
    - { percent: 1,  hold: 30m }
    - { percent: 5,  hold: 2h }
    - { percent: 25, hold: 4h }
    - { percent: 100 }
  check_every: 5m
gates: gates/default.yaml
expect: { outcome: rollback, gate: cost_per_request, by_stage: 1, probability: 0.95 }
`;
    const s = ScenarioSchema.parse(parseYaml(text));
    expect(s).toMatchObject({ name: 'cost-regression-25', runs: 200, candidate: { price: 1.25 }, gates: 'gates/default.yaml', expect: { by_stage: 1 } });
  });
});

/** The first issue's path, or null when the value is accepted. */
function rejectedAt(schema: { safeParse(v: unknown): { success: boolean; error?: { issues: { path: PropertyKey[] }[] } } }, value: unknown): PropertyKey[] | null {
  const r = schema.safeParse(value);
  return r.success ? null : r.error!.issues[0]!.path;
}

describe('scenario edge cases', () => {
  it.each([
    ['an unknown top-level field (a typo)', { run: 10 }, []],
    ['an unknown traffic field', { traffic: { rpm: 10 } }, ['traffic']],
    ['an unknown baseline field', { traffic: { baseline: { latency: { p50: 1, p99: 2 } } } }, ['traffic', 'baseline']],
    ['an unknown candidate field', { candidate: { cost: 1.2 } }, ['candidate']],
    ['an unknown stage field', { rollout: { stages: [{ percent: 100, weight: 1 }] } }, ['rollout', 'stages', 0]],
    ['runs 0', { runs: 0 }, ['runs']],
    ['fractional runs', { runs: 1.5 }, ['runs']],
    ['a negative seed', { seed: -1 }, ['seed']],
    ['a fractional seed', { seed: 0.5 }, ['seed']],
    ['an empty name', { name: '' }, ['name']],
    ['requests_per_minute 0', { traffic: { requests_per_minute: 0 } }, ['traffic', 'requests_per_minute']],
    ['requests_per_minute +∞ (YAML .inf)', { traffic: { requests_per_minute: Infinity } }, ['traffic', 'requests_per_minute']],
    ['requests_per_minute above a billion (counts would lose integer precision)', { traffic: { requests_per_minute: 1e18 } }, ['traffic', 'requests_per_minute']],
    ['runs beyond 32-bit run numbers', { runs: 2147483648 }, ['runs']],
    ['a latency median of 0', { traffic: { baseline: { latency_ms: { p50: 0, p99: 10 } } } }, ['traffic', 'baseline', 'latency_ms', 'p50']],
    ['a latency p99 below p50', { traffic: { baseline: { latency_ms: { p50: 100, p99: 99 } } } }, ['traffic', 'baseline', 'latency_ms', 'p99']],
    ['a ttft p99 below p50', { traffic: { baseline: { ttft_ms: { p50: 300, p99: 200 } } } }, ['traffic', 'baseline', 'ttft_ms', 'p99']],
    ['a ttft without p99', { traffic: { baseline: { ttft_ms: { p50: 300 } } } }, ['traffic', 'baseline', 'ttft_ms', 'p99']],
    ['an error rate above 1', { traffic: { baseline: { error_rate: 1.5 } } }, ['traffic', 'baseline', 'error_rate']],
    ['a negative refusal rate', { traffic: { baseline: { refusal_rate: -0.1 } } }, ['traffic', 'baseline', 'refusal_rate']],
    ['a NaN thumbs-down rate', { traffic: { baseline: { thumbs_down_rate: NaN } } }, ['traffic', 'baseline', 'thumbs_down_rate']],
    ['a negative price', { traffic: { price: { input_per_million: -1 } } }, ['traffic', 'price', 'input_per_million']],
    ['an empty traces path', { traffic: { traces: '' } }, ['traffic', 'traces']],
    ['a traces mapping without path', { traffic: { traces: { map: 'a=b' } } }, ['traffic', 'traces']],
    ['a negative multiplier', { candidate: { latency: -0.5 } }, ['candidate', 'latency']],
    ['an infinite multiplier', { candidate: { price: Infinity } }, ['candidate', 'price']],
    ['run non-determinism of 1 (a factor could reach 0)', { nondeterminism: { run: 1 } }, ['nondeterminism', 'run']],
    ['negative run non-determinism', { nondeterminism: { run: -0.1 } }, ['nondeterminism', 'run']],
    ['negative check non-determinism', { nondeterminism: { check: -0.01 } }, ['nondeterminism', 'check']],
    ['an empty ladder', { rollout: { stages: [] } }, ['rollout', 'stages']],
    ['a stage of 0%', { rollout: { stages: [{ percent: 0 }] } }, ['rollout', 'stages', 0, 'percent']],
    ['a stage above 100%', { rollout: { stages: [{ percent: 100.5 }] } }, ['rollout', 'stages', 0, 'percent']],
    ['a stage without percent', { rollout: { stages: [{ hold: '1h' }] } }, ['rollout', 'stages', 0, 'percent']],
    ['a hold without unit', { rollout: { stages: [{ percent: 5, hold: '30' }, { percent: 100 }] } }, ['rollout', 'stages', 0, 'hold']],
    ['a check interval in words', { rollout: { check_every: '5 minutes' } }, ['rollout', 'check_every']],
    ['an ISO 8601 duration', { rollout: { check_every: 'PT5M' } }, ['rollout', 'check_every']],
    ['a negative duration', { rollout: { check_every: '-5m' } }, ['rollout', 'check_every']],
    ['an upper-case unit', { rollout: { check_every: '5M' } }, ['rollout', 'check_every']],
    ['an empty gate path', { gates: '' }, ['gates']],
    ['an empty inline gate list', { gates: [] }, ['gates']],
    ['an unknown expected outcome', { expect: { outcome: 'fail' } }, ['expect', 'outcome']],
    ['an expectation without outcome', { expect: { probability: 0.9 } }, ['expect', 'outcome']],
    ['by_stage 0 (stages are 1-based)', { expect: { outcome: 'rollback', by_stage: 0 } }, ['expect', 'by_stage']],
    ['a probability above 1', { expect: { outcome: 'promote', probability: 1.01 } }, ['expect', 'probability']],
  ] as [string, unknown, PropertyKey[]][])('rejects %s', (_what, value, at) => {
    expect(rejectedAt(ScenarioSchema, value)).toEqual(at);
  });

  it('documents the bounds on runs and requests_per_minute, and why, in the descriptions', () => {
    const json = schemas['scenario.schema.json'] as { properties: Record<string, { description: string; maximum?: number; properties?: Record<string, { description: string; maximum?: number }> }> };
    const runs = json.properties.runs!;
    expect(runs.maximum).toBe(2147483647);
    expect(runs.description).toMatch(/At most 2147483647 \(runs are numbered with 32-bit integers\)\. One process simulates at most 100000 runs .*\(1000000 with `--no-checks`\).*--shard i\/n.*rehearse merge/);
    const rpm = json.properties.traffic!.properties!.requests_per_minute!;
    expect(rpm.maximum).toBe(1e9);
    expect(rpm.description).toMatch(/At most 1000000000 .*exact below 2\^53/);
  });

  it('names an empty ladder and an empty gate list in words', () => {
    expect(ScenarioSchema.safeParse({ rollout: { stages: [] } }).error!.issues[0]!.message).toBe('must list at least one stage');
    expect(GateListSchema.safeParse([]).error!.issues[0]!.message).toBe('must list at least one gate');
  });

  it.each([
    ['the upper bounds', { runs: 2147483647, traffic: { requests_per_minute: 1e9 } }],
    ['boundary values', { runs: 1, seed: 0, traffic: { baseline: { error_rate: 1, refusal_rate: 0 }, price: { input_per_million: 0 } }, candidate: { latency: 0 } }],
    ['a constant distribution (p99 = p50)', { traffic: { baseline: { latency_ms: { p50: 500, p99: 500 }, ttft_ms: { p50: 200, p99: 200 } } } }],
    ['run non-determinism just under 1, check non-determinism above 1', { nondeterminism: { run: 0.999, check: 2 } }],
    ['a 100% stage and a fractional one', { rollout: { stages: [{ percent: 0.5, hold: '1h30m' }, { percent: 100 }] } }],
    ['every duration unit, decimals and inner spaces', { rollout: { stages: [{ percent: 1, hold: '1d 2h 3m 4s 500ms' }, { percent: 100 }], check_every: '1.5m' } }],
    ['a stage without hold anywhere (the loader, not the schema, requires it before the last)', { rollout: { stages: [{ percent: 5 }, { percent: 100 }] } }],
    ['traces as a path and as a mapping', { traffic: { traces: { path: 't.parquet', map: 'lat=latency_ms' } } }],
    ['an inline gate list and an expectation', { gates: [{ metric: 'error_rate', max: 0.05 }], expect: { outcome: 'promote', probability: 0 } }],
    ['a $schema field for editors', { $schema: '../schema/scenario.schema.json' }],
  ])('accepts %s', (_what, value) => {
    expect(rejectedAt(ScenarioSchema, value)).toBeNull();
  });
});

describe('gate edge cases', () => {
  it.each([
    ['an unknown metric', { metric: 'latency' }, ['metric']],
    ['no metric', { max_ratio: 2 }, ['metric']],
    ['an unknown stat', { metric: 'latency_ms', stat: 'p75' }, ['stat']],
    ['max_ratio 0', { metric: 'latency_ms', max_ratio: 0 }, ['max_ratio']],
    ['a negative min_ratio', { metric: 'latency_ms', min_ratio: -1 }, ['min_ratio']],
    ['an infinite max', { metric: 'error_rate', max: Infinity }, ['max']],
    ['a NaN max_delta', { metric: 'cost_usd', max_delta: NaN }, ['max_delta']],
    ['an unknown test', { metric: 'latency_ms', test: 't_test' }, ['test']],
    ['alpha 0', { metric: 'latency_ms', test: 'ks', alpha: 0 }, ['alpha']],
    ['alpha 1', { metric: 'latency_ms', test: 'ks', alpha: 1 }, ['alpha']],
    ['a two-sided direction', { metric: 'latency_ms', test: 'mann_whitney', direction: 'both' }, ['direction']],
    ['an unknown action', { metric: 'cost_usd', max_ratio: 1.2, action: 'page' }, ['action']],
    ['sustained 0', { metric: 'cost_usd', max_ratio: 1.2, sustained: 0 }, ['sustained']],
    ['fractional sustained', { metric: 'cost_usd', max_ratio: 1.2, sustained: 1.5 }, ['sustained']],
    ['negative min_samples', { metric: 'cost_usd', max_ratio: 1.2, min_samples: -1 }, ['min_samples']],
    ['an unknown window', { metric: 'cost_usd', max_ratio: 1.2, window: 'run' }, ['window']],
    ['an empty name', { name: '', metric: 'cost_usd', max_ratio: 1.2 }, ['name']],
    ['an unknown field (a typo)', { metric: 'cost_usd', max_ration: 1.2 }, []],
  ] as [string, unknown, PropertyKey[]][])('rejects %s', (_what, value, at) => {
    expect(rejectedAt(GateSchema, value)).toEqual(at);
  });

  it.each([
    ['min_ratio 0', { metric: 'latency_ms', min_ratio: 0 }],
    ['a negative max_delta and max', { metric: 'cost_usd', max_delta: -0.001, max: -1 }],
    ['alpha just inside (0, 1)', { metric: 'output_tokens', test: 'ks', alpha: 1e-12 }],
    ['every field at once', { name: 'p99', description: 'tail', metric: 'latency_ms', stat: 'p999', max_ratio: 1.5, min_ratio: 0.5, max: 1e4, min: 1, max_delta: 100, test: 'mann_whitney', alpha: 0.05, direction: 'decrease', action: 'hold', sustained: 3, min_samples: 50, window: 'stage' }],
  ])('accepts %s', (_what, value) => {
    expect(rejectedAt(GateSchema, value)).toBeNull();
  });

  it('a gate file needs a non-empty `gates` list and nothing else (but $schema)', () => {
    expect(rejectedAt(GateFileSchema, {})).toEqual(['gates']);
    expect(rejectedAt(GateFileSchema, { gates: [] })).toEqual(['gates']);
    expect(rejectedAt(GateFileSchema, { gates: [{ metric: 'error_rate', max: 0.1 }], extra: 1 })).toEqual([]);
    expect(rejectedAt(GateFileSchema, { gates: [{ metric: 'error_rate', max: 0.1 }, { metric: 'nope' }] })).toEqual(['gates', 1, 'metric']);
    expect(rejectedAt(GateFileSchema, { $schema: 'x', gates: [{ metric: 'error_rate', max: 0.1 }] })).toBeNull();
  });

  it('a stage is a percent and an optional hold', () => {
    expect(StageSchema.parse({ percent: 25, hold: '4h' })).toEqual({ percent: 25, hold: '4h' });
    expect(StageSchema.parse({ percent: 100 })).toEqual({ percent: 100 });
  });
});

describe('the generated JSON Schemas agree with the parser on what they can express', () => {
  const ajv = new Ajv2020({ strict: false });
  const validScenario = ajv.compile(schemas['scenario.schema.json']!);
  const validGates = ajv.compile(schemas['gates.schema.json']!);

  // Cases JSON can carry and a JSON Schema can state (not NaN/∞, not p99 ≥ p50).
  const scenarios: unknown[] = [
    {},
    { runs: 0 },
    { runs: 2.5 },
    { seed: 0 },
    { traffic: { requests_per_minute: 0 } },
    { traffic: { requests_per_minute: 1e9 } },
    { traffic: { requests_per_minute: 1000000001 } },
    { runs: 2147483647 },
    { runs: 2147483648 },
    { traffic: { baseline: { error_rate: 1.01 } } },
    { traffic: { traces: { path: 'x.parquet', extra: 1 } } },
    { nondeterminism: { run: 1 } },
    { nondeterminism: { run: 0.99, check: 3 } },
    { rollout: { stages: [] } },
    { rollout: { stages: [{ percent: 100.01 }] } },
    { rollout: { stages: [{ percent: 10, hold: '1h30m' }, { percent: 100 }], check_every: '90s' } },
    { rollout: { check_every: '5 minutes' } },
    { gates: [] },
    { gates: 'gates.yaml' },
    { gates: [{ metric: 'cost_usd', max_ratio: 0 }] },
    { gates: [{ metric: 'cost_usd', max_ratio: 1.2, sustained: 2, window: 'stage' }] },
    { expect: { outcome: 'hold', by_stage: 0 } },
    { expect: { outcome: 'hold', by_stage: 2, probability: 0.5 } },
    { colour: 'blue' },
  ];

  it.each(scenarios.map((s) => [JSON.stringify(s), s]))('scenario %s', (_name, s) => {
    expect(validScenario(s)).toBe(ScenarioSchema.safeParse(s).success);
  });

  const gateFiles: unknown[] = [
    { gates: [{ metric: 'error_rate', max: 0.05 }] },
    { gates: [] },
    { gates: [{ metric: 'latency_ms', stat: 'p75' }] },
    { gates: [{ metric: 'latency_ms', test: 'ks', alpha: 1 }] },
    { gates: [{ metric: 'latency_ms', test: 'mann_whitney', alpha: 0.01, direction: 'decrease' }] },
    { gates: [{ metric: 'latency_ms', min_samples: -1 }] },
    { gates: [{ metric: 'latency_ms', max_ratio: 2 }], other: 1 },
  ];

  it.each(gateFiles.map((g) => [JSON.stringify(g), g]))('gate file %s', (_name, g) => {
    expect(validGates(g)).toBe(GateFileSchema.safeParse(g).success);
  });
});
