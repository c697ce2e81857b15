import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_CHECKS_PER_RUN, collectScenarioPaths, durationMinutes, loadGateFile, loadScenarioFile, loadScenarios } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import { userErrorOf } from '../user-error.js';

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'rehearse-config-'));
}

function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

const GATES = 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n';


describe('durationMinutes', () => {
  it.each([
    ['90s', 1.5],
    ['30m', 30],
    ['2h', 120],
    ['1h30m', 90],
    ['1d', 1440],
    ['500ms', 500 / 60000],
  ])('%s is %s minutes', (text, minutes) => {
    expect(durationMinutes(text)).toBeCloseTo(minutes, 12);
  });
});

describe('loadScenarioFile', () => {
  it('applies the documented defaults to a minimal scenario', () => {
    const dir = tmp();
    const file = write(dir, 'min.yaml', `gates:\n  - { metric: error_rate, max: 0.05 }\n`);
    const s = loadScenarioFile(file);
    expect(s.name).toBe('min');
    expect(s.runs).toBe(100);
    expect(s.seed).toBe(1);
    expect(s.requestsPerMinute).toBe(600);
    expect(s.candidate).toEqual({ latency: 1, latency_tail: 1, output_length: 1, price: 1, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 });
    expect(s.nondeterminism).toEqual({ run: 0, check: 0 });
    expect(s.stages).toEqual([
      { percent: 1, holdMinutes: 30 },
      { percent: 5, holdMinutes: 120 },
      { percent: 25, holdMinutes: 240 },
      { percent: 100, holdMinutes: null },
    ]);
    expect(s.checkEveryMinutes).toBe(5);
    expect(s.baseline.error_rate).toBe(0);
    expect(s.baseline.latency_ms).toEqual({ p50: 800, p99: 4000 });
    expect(s.price).toEqual({ input_per_million: 0.5, output_per_million: 1.5 });
    const gate = s.gates!.gates[0]!;
    expect(gate).toMatchObject({ name: 'error_rate', stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', max: 0.05 });
  });

  it('reads gates from a path relative to the scenario file, and JSON as well as YAML', () => {
    const dir = tmp();
    write(dir, 'g/gates.yaml', GATES);
    const file = write(dir, 's/x.json', JSON.stringify({ name: 'x', gates: '../g/gates.yaml' }));
    const s = loadScenarioFile(file);
    expect(s.gates!.label).toBe('gates');
    expect(s.gates!.gates[0]!.max_ratio).toBe(1.2);
  });

  it('names the file and the field path of an out-of-range value', () => {
    const dir = tmp();
    const file = write(dir, 'x.yaml', `rollout:\n  stages:\n    - { percent: 1, hold: 30m }\n    - { percent: 5, hold: 2h }\n    - { percent: 120 }\n${GATES}`);
    const err = userErrorOf(() => loadScenarioFile(file));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/x\.yaml: rollout\.stages\[2\]\.percent: must be at most 100$/);
    expect(err.exitCode).toBe(2);
  });

  it('reports a YAML syntax error with its line', () => {
    const dir = tmp();
    const file = write(dir, 'bad.yaml', 'name: x\ntraffic: [1, 2\n');
    expect(userErrorOf(() => loadScenarioFile(file)).message).toMatch(/bad\.yaml:\d+:\d+: YAML syntax error/);
  });

  it('reports a missing file and a missing gate file by name', () => {
    const dir = tmp();
    expect(userErrorOf(() => loadScenarioFile(path.join(dir, 'nope.yaml'))).message).toMatch(/nope\.yaml: no such file/);
    const file = write(dir, 'x.yaml', 'gates: missing.yaml\n');
    // As the scenario wrote it, then where that is from the working directory.
    expect(userErrorOf(() => loadScenarioFile(file)).message).toMatch(/x\.yaml: gates: gate file missing\.yaml \(.*missing\.yaml\) does not exist/);
    const up = write(dir, 'sub/y.yaml', 'gates: ../gone.yaml\n');
    expect(userErrorOf(() => loadScenarioFile(up)).message).toContain(`gates: gate file ../gone.yaml (${path.join(dir, 'gone.yaml')}) does not exist`);
  });

  it('rejects an unknown gate metric, naming the gate file and the gate', () => {
    const dir = tmp();
    const g = write(dir, 'gates.yaml', 'gates:\n  - { metric: cost_usd, max_ratio: 1.2 }\n  - { metric: latency, max_ratio: 2 }\n');
    const err = userErrorOf(() => loadGateFile(g));
    expect(err.message).toMatch(/gates\.yaml: gates\[1\]\.metric: must be one of latency_ms, .*got the text "latency"/);
  });

  it('rejects unknown fields (typos) instead of ignoring them', () => {
    const dir = tmp();
    const file = write(dir, 'x.yaml', `candidate:\n  prise: 1.2\n${GATES}`);
    expect(userErrorOf(() => loadScenarioFile(file)).message).toMatch(/x\.yaml: candidate\.prise: unknown field/);
  });

  it.each([
    ['a gate without a condition', '- { metric: cost_usd }', /gates\[0\]: needs a condition/],
    ['a stat on a rate', '- { metric: error_rate, stat: p99, max_ratio: 2 }', /gates\[0\]\.stat: error_rate is a rate/],
    ['ks on a rate', '- { metric: error_rate, test: ks }', /gates\[0\]\.test: ks compares samples/],
    ['proportion on a continuous metric', '- { metric: latency_ms, test: proportion }', /gates\[0\]\.test: proportion compares rates/],
    ['alpha without a test', '- { metric: latency_ms, max_ratio: 2, alpha: 0.01 }', /gates\[0\]\.alpha: alpha applies only/],
    ['duplicate names', '- { metric: cost_usd, max_ratio: 2 }\n  - { metric: cost_usd, max: 1 }', /gates\[1\]: gate name "cost_usd" is already used/],
    ['alpha out of range', '- { metric: latency_ms, test: ks, alpha: 1.5 }', /gates\[0\]\.alpha: must be less than 1/],
    ['sustained of zero', '- { metric: latency_ms, max_ratio: 2, sustained: 0 }', /gates\[0\]\.sustained: must be at least 1/],
  ])('rejects %s', (_what, gate, message) => {
    const dir = tmp();
    const g = write(dir, 'gates.yaml', `gates:\n  ${gate}\n`);
    expect(userErrorOf(() => loadGateFile(g)).message).toMatch(message);
  });

  it('rejects a bad duration, a stage without hold before the last, and a ttft gate without ttft', () => {
    const dir = tmp();
    let file = write(dir, 'a.yaml', `rollout:\n  check_every: 5 minutes\n${GATES}`);
    expect(userErrorOf(() => loadScenarioFile(file)).message).toMatch(/a\.yaml: rollout\.check_every: must be a duration/);
    file = write(dir, 'b.yaml', `rollout:\n  stages: [{ percent: 1 }, { percent: 100 }]\n${GATES}`);
    expect(userErrorOf(() => loadScenarioFile(file)).message).toMatch(/b\.yaml: rollout\.stages\[0\]\.hold: is required/);
    file = write(dir, 'c.yaml', 'gates:\n  - { metric: ttft_ms, stat: p99, max_ratio: 1.5 }\n');
    expect(userErrorOf(() => loadScenarioFile(file)).message).toMatch(/c\.yaml: gates\[0\]\.metric: ttft_ms needs traffic\.baseline\.ttft_ms/);
  });

  it('checks expect against the gates and the ladder', () => {
    const dir = tmp();
    let file = write(dir, 'a.yaml', `${GATES}expect: { outcome: rollback, gate: latency }\n`);
    expect(userErrorOf(() => loadScenarioFile(file)).message).toMatch(/a\.yaml: expect\.gate: no gate named "latency"/);
    file = write(dir, 'b.yaml', `${GATES}expect: { outcome: rollback, by_stage: 9 }\n`);
    expect(userErrorOf(() => loadScenarioFile(file)).message).toMatch(/b\.yaml: expect\.by_stage: must be at most 4/);
    file = write(dir, 'c.yaml', `${GATES}expect: { outcome: rollback }\n`);
    expect(loadScenarioFile(file).expect).toEqual({ outcome: 'rollback', probability: 0.95 });
  });
});

describe('expect.gate and ttft_ms against every gate config of the command', () => {
  const dir = tmp();
  const costGates = loadGateFile(write(dir, 'costs.yaml', GATES));
  const latencyGates = loadGateFile(write(dir, 'latency.yaml', 'gates:\n  - { name: p99, metric: latency_ms, stat: p99, max_ratio: 1.5 }\n'));
  const ttftGates = loadGateFile(write(dir, 'ttft.yaml', 'gates:\n  - { name: first_token, metric: ttft_ms, max_ratio: 1.5 }\n'));
  const scenario = write(dir, 's.yaml', `${GATES}expect: { outcome: rollback, gate: cost }\n`);

  it('accepts a gate that any one config has, in either order; the scenario carries the first config', () => {
    for (const gates of [[costGates, latencyGates], [latencyGates, costGates]]) {
      const s = loadScenarioFile(scenario, { gates });
      expect(s.expect).toEqual({ outcome: 'rollback', gate: 'cost', probability: 0.95 });
      expect(s.gates!.label).toBe(gates[0]!.label);
    }
  });

  it('refuses a gate that no config has, naming the file, the field and each config', () => {
    const one = userErrorOf(() => loadScenarioFile(scenario, { gates: latencyGates }));
    expect(one).toBeInstanceOf(ConfigError);
    expect(one.message).toBe(`${scenario}: expect.gate: no gate named "cost" in gate config latency (gates: p99)`);
    const two = userErrorOf(() => loadScenarioFile(scenario, { gates: [latencyGates, ttftGates] }));
    // ttft.yaml's own problem (no baseline ttft) is found first; without it, the expectation's.
    expect(two.message).toMatch(/ttft\.yaml: gates\[0\]\.metric: ttft_ms needs traffic\.baseline\.ttft_ms in .*s\.yaml/);
    const withTtft = write(dir, 't.yaml', `${GATES}traffic: { baseline: { ttft_ms: { p50: 200, p99: 900 } } }\nexpect: { outcome: rollback, gate: cost }\n`);
    expect(userErrorOf(() => loadScenarioFile(withTtft, { gates: [latencyGates, ttftGates] })).message).toBe(
      `${withTtft}: expect.gate: no gate named "cost" in any of the gate configs (latency: p99; ttft: first_token)`,
    );
  });

  it('leaves expect.gate unchecked when asked (simulate never reads expect)', () => {
    expect(loadScenarioFile(scenario, { gates: [latencyGates], skipExpectGate: true }).expect!.gate).toBe('cost');
    // The scenario's own gates are not consulted either.
    const own = write(dir, 'own.yaml', `${GATES}expect: { outcome: rollback, gate: nope }\n`);
    expect(loadScenarioFile(own, { skipExpectGate: true }).expect!.gate).toBe('nope');
    expect(userErrorOf(() => loadScenarioFile(own)).message).toMatch(/expect\.gate: no gate named "nope" in gate config inline \(gates: cost\)/);
  });

  it('checks a ttft_ms gate in any config, not only the first, against the baseline', () => {
    const plain = write(dir, 'plain.yaml', GATES);
    const e = userErrorOf(() => loadScenarioFile(plain, { gates: [costGates, ttftGates] }));
    expect(e.message).toMatch(/ttft\.yaml: gates\[0\]\.metric: ttft_ms needs traffic\.baseline\.ttft_ms in .*plain\.yaml$/);
  });
});

describe('collectScenarioPaths and loadScenarios', () => {
  it('finds scenarios under folders in sorted order and skips gate files', () => {
    const dir = tmp();
    write(dir, 'gates/default.yaml', GATES);
    write(dir, 'b.yaml', 'gates: gates/default.yaml\n');
    write(dir, 'a.yml', 'gates: gates/default.yaml\n');
    write(dir, 'notes.txt', 'ignored');
    const files = collectScenarioPaths([dir]).map((f) => path.basename(f));
    expect(files).toEqual(['a.yml', 'b.yaml']);
  });

  it('requires gates from the scenario or the command line, and unique names', () => {
    const dir = tmp();
    write(dir, 'a.yaml', 'name: same\n');
    expect(userErrorOf(() => loadScenarios([dir])).message).toMatch(/a\.yaml: gates: no gates/);
    write(dir, 'b.yaml', `name: same\n${GATES}`);
    const gates = loadGateFile(write(tmp(), 'g.yaml', GATES));
    expect(userErrorOf(() => loadScenarios([dir], { gates })).message).toMatch(/scenario name "same" is also used/);
  });

  it('says so when a path does not exist', () => {
    expect(userErrorOf(() => collectScenarioPaths(['/nonexistent/x'])).message).toMatch(/no such file or folder/);
  });
});

describe('the check schedule of a run is bounded', () => {
  const scenario = (hold: string) => `name: long\nruns: 1\nrollout:\n  stages: [{ percent: 1, hold: ${hold} }, { percent: 100 }]\n  check_every: 1m\n${GATES}`;

  it(`takes ${MAX_CHECKS_PER_RUN.toLocaleString('en-US')} checks a run and refuses one more, naming check_every`, () => {
    const dir = tmp();
    expect(loadScenarioFile(write(dir, 'at.yaml', scenario(`${MAX_CHECKS_PER_RUN}m`))).stages[0]!.holdMinutes).toBe(MAX_CHECKS_PER_RUN);
    // An off-grid end of hold is a check of its own.
    const e = userErrorOf(() => loadScenarioFile(write(dir, 'over.yaml', scenario(`${MAX_CHECKS_PER_RUN}m30s`))));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/over\.yaml: rollout\.check_every: makes 100,001 checks a run over the stages' holds; at most 100,000/);
  });
});
