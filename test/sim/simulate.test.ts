import { describe, expect, it } from 'vitest';
import type { Gate, GateConfig, Scenario } from '../../src/config/model.js';
import { simulateRuns } from '../../src/sim/runs.js';
import { effectiveScenarios, simulate } from '../../src/sim/simulate.js';
import type { RunBatch } from '../../src/store/columns.js';

/**
 * The whole `simulate` job but the I/O: command-line overrides, gate configs, shards, and the
 * pool (real worker threads running dist/: `npx tsc` first). Every result is compared with
 * simulateRuns in this thread on the scenario as the overrides make it.
 */

const g = (over: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate => ({ stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...over });
const own: GateConfig = { label: 'own', source: 'a.yaml', gates: [g({ name: 'cost', metric: 'cost_usd', max_ratio: 1.1 })] };
const cliA: GateConfig = { label: 'cli-a', source: 'cli-a.yaml', gates: [g({ name: 'err', metric: 'error_rate', max: 0.02 })] };
const cliB: GateConfig = { label: 'cli-b', source: 'cli-b.yaml', gates: [g({ name: 'p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.4, action: 'hold' })] };

const scenario: Scenario = {
  name: 'a',
  file: 'a.yaml',
  runs: 4,
  seed: 8,
  requestsPerMinute: 300,
  baseline: {
    latency_ms: { p50: 800, p99: 4000 },
    ttft_ms: null,
    output_tokens: { p50: 300, p99: 1500 },
    input_tokens: { p50: 1000, p99: 6000 },
    error_rate: 0.01,
    refusal_rate: 0.01,
    thumbs_down_rate: 0.03,
  },
  price: { input_per_million: 0.5, output_per_million: 1.5 },
  candidate: { latency: 1, latency_tail: 1.2, output_length: 1, price: 1.12, error_rate: 1.5, refusal_rate: 1, thumbs_down_rate: 1 },
  nondeterminism: { run: 0.15, check: 0.05 },
  stages: [
    { percent: 5, holdMinutes: 25 },
    { percent: 50, holdMinutes: 20 },
    { percent: 100, holdMinutes: null },
  ],
  checkEveryMinutes: 10,
  gates: own,
};
const second: Scenario = { ...scenario, name: 'b', file: 'b.yaml', seed: 12, runs: 3 };

function rows(batches: readonly RunBatch[]) {
  const o: Record<string, number[]> = {};
  for (const b of batches) for (const [k, v] of Object.entries(b.outcomes)) (o[k] ??= []).push(...Array.from(v as ArrayLike<number>));
  return o;
}

describe('effectiveScenarios', () => {
  it('leaves scenarios as they are without overrides', () => {
    expect(effectiveScenarios({ scenarios: [scenario, second], workers: 1, recordChecks: false })).toEqual([scenario, second]);
  });

  it('applies --runs and --seed to every scenario, changing nothing else and not the input', () => {
    const before = structuredClone([scenario, second]);
    const out = effectiveScenarios({ scenarios: [scenario, second], runs: 7, seed: 0, workers: 1, recordChecks: false });
    expect(out).toEqual([
      { ...scenario, runs: 7, seed: 0 },
      { ...second, runs: 7, seed: 0 },
    ]);
    expect([scenario, second]).toEqual(before);
  });

  it('applies one override without the other', () => {
    const [s] = effectiveScenarios({ scenarios: [scenario], seed: 5, workers: 1, recordChecks: false });
    expect({ runs: s!.runs, seed: s!.seed }).toEqual({ runs: 4, seed: 5 });
  });
});

describe('simulate', () => {
  it('simulates each scenario under its own gates, with its schedule, as simulateRuns does in-thread (engine auto by default)', async () => {
    const seen: number[] = [];
    const out = await simulate({ scenarios: [scenario, second], workers: 2, recordChecks: true, onRuns: (r) => seen.push(r) });
    expect(out.map((s) => s.scenario.name)).toEqual(['a', 'b']);
    expect(out[0]!.configs).toEqual([own]);
    // Stage 1: 25 min checked every 10 → minutes 10, 20, 25; stage 2: 20 min → 35, 45; the last stage has none.
    expect(out[0]!.schedule.map((w) => [w.stage, w.percent, w.endMinute])).toEqual([
      [0, 5, 10],
      [0, 5, 20],
      [0, 5, 25],
      [1, 50, 35],
      [1, 50, 45],
    ]);
    for (const [i, s] of [scenario, second].entries()) {
      const expected = simulateRuns(s, { configs: [own], runFrom: 0, runTo: s.runs, recordChecks: true, engine: 'auto' });
      expect(rows(out[i]!.batches)).toEqual(rows([expected]));
      expect(out[i]!.batches.every((b) => b.checks !== null)).toBe(true);
    }
    expect(seen.reduce((a, b) => a + b, 0)).toBe(4 + 3);
    // The default engine is not the sample engine, or the comparison above could not tell.
    const sampled = simulateRuns(scenario, { configs: [own], runFrom: 0, runTo: scenario.runs, recordChecks: true, engine: 'sample' });
    expect(rows(out[0]!.batches)).not.toEqual(rows([sampled]));
  });

  it('--gates replaces every scenario’s gates, each config judged on every run', async () => {
    const out = await simulate({ scenarios: [scenario], gateConfigs: [cliA, cliB], workers: 1, recordChecks: false, engine: 'sample' });
    expect(out[0]!.configs).toEqual([cliA, cliB]);
    const r = rows(out[0]!.batches);
    expect(r.config).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    const expected = simulateRuns(scenario, { configs: [cliA, cliB], runFrom: 0, runTo: 4, recordChecks: false, engine: 'sample' });
    expect(r).toEqual(rows([expected]));
    expect(out[0]!.batches.every((b) => b.checks === null)).toBe(true);
  });

  it('an empty --gates list falls back to the scenario’s own gates', async () => {
    const out = await simulate({ scenarios: [second], gateConfigs: [], runs: 1, workers: 1, recordChecks: false });
    expect(out[0]!.configs).toEqual([own]);
  });

  it('--runs, --seed and --shard: shard 1 of 3 of 10 runs is runs 3, 4, 5 of the reseeded scenario', async () => {
    // Shard i of n takes [⌊i·R/n⌋, ⌊(i+1)·R/n⌋) = [⌊10/3⌋, ⌊20/3⌋) = [3, 6).
    const seen: number[] = [];
    const out = await simulate({ scenarios: [scenario], runs: 10, seed: 31, shard: { index: 1, count: 3 }, workers: 1, recordChecks: false, engine: 'exact', onRuns: (r) => seen.push(r) });
    expect(out[0]!.scenario).toEqual({ ...scenario, runs: 10, seed: 31 });
    const r = rows(out[0]!.batches);
    expect(r.run).toEqual([3, 4, 5]);
    const reseeded = { ...scenario, runs: 10, seed: 31 };
    expect(r).toEqual(rows([simulateRuns(reseeded, { configs: [own], runFrom: 3, runTo: 6, recordChecks: false, engine: 'exact' })]));
    // The seed matters: the scenario's own seed gives other runs 3..5.
    expect(r).not.toEqual(rows([simulateRuns(scenario, { configs: [own], runFrom: 3, runTo: 6, recordChecks: false, engine: 'exact' })]));
    expect(seen.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('refuses a scenario without gates when no --gates is given, naming it', async () => {
    await expect(simulate({ scenarios: [scenario, { ...second, gates: null }], workers: 1, recordChecks: false })).rejects.toThrow('scenario b has no gates');
    // …and --gates is enough to simulate it.
    const out = await simulate({ scenarios: [{ ...second, gates: null }], gateConfigs: [cliA], runs: 1, workers: 1, recordChecks: false });
    expect(out[0]!.configs).toEqual([cliA]);
  });
});
