import { describe, expect, it } from 'vitest';
import type { GateConfig, Scenario } from '../../src/config/model.js';
import { allNeeds, needsOf } from '../../src/gates/window.js';
import { checkSchedule } from '../../src/sim/ladder.js';
import { simulateWindowsOnPool } from '../../src/sim/pool.js';
import { simulateRuns } from '../../src/sim/runs.js';
import { gateFirings, judgeWindows, simulateWindows } from '../../src/sim/windows.js';
import { type CheckMeta, RunJudge, type RunOutcome } from '../../src/gates/judge.js';
import type { Gate } from '../../src/config/model.js';
import { Rng } from '../../src/stats/random.js';
import { OUTCOME_CODES } from '../../src/store/columns.js';

const scenario: Scenario = {
  name: 'judge-many',
  file: 'inline',
  runs: 30,
  seed: 11,
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
  candidate: { latency: 1, latency_tail: 1.2, output_length: 1.1, price: 1.15, error_rate: 1, refusal_rate: 1.3, thumbs_down_rate: 1 },
  nondeterminism: { run: 0.15, check: 0.05 },
  stages: [
    { percent: 5, holdMinutes: 30 },
    { percent: 25, holdMinutes: 30 },
    { percent: 100, holdMinutes: null },
  ],
  checkEveryMinutes: 10,
  gates: null,
};

const base = { action: 'rollback' as const, sustained: 1, minSamples: 0, window: 'check' as const, stat: 'mean' as const };
const configs: GateConfig[] = [
  {
    label: 'strict',
    source: 'inline',
    gates: [
      { ...base, name: 'cost', metric: 'cost_usd', max_ratio: 1.1 },
      { ...base, name: 'p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.3, window: 'stage', sustained: 2 },
    ],
  },
  {
    label: 'loose',
    source: 'inline',
    gates: [
      { ...base, name: 'cost', metric: 'cost_usd', max_ratio: 1.25, minSamples: 100 },
      { ...base, name: 'refusals', metric: 'refusal_rate', test: { kind: 'proportion', alpha: 0.01, direction: 'increase' } },
      { ...base, name: 'len', metric: 'output_tokens', test: { kind: 'ks', alpha: 0.001, direction: 'increase' }, action: 'hold' },
    ],
  },
];

function outcomesOf(configIndex: number) {
  const batch = simulateRuns(scenario, { configs, runFrom: 0, runTo: scenario.runs, recordChecks: false, engine: 'sample' });
  const rows = [];
  for (let i = 0; i < batch.outcomes.run.length; i++) {
    if (batch.outcomes.config[i] !== configIndex) continue;
    rows.push([OUTCOME_CODES[batch.outcomes.outcome[i]!], batch.outcomes.gate[i], batch.outcomes.check[i], batch.outcomes.canaryRequests[i]]);
  }
  return rows;
}

describe('simulate once, judge many', () => {
  it('judging kept summaries gives exactly the outcomes of judging while simulating, config by config', () => {
    const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
    const windows = simulateWindows(scenario, allNeeds(), 0, scenario.runs, 'sample');
    expect(windows.summaries.length).toBe(scenario.runs * schedule.length * windows.stride);
    configs.forEach((config, k) => {
      const judged = judgeWindows(windows, schedule, config.gates).map((o) => [o.outcome, o.gate, o.check, o.canaryRequests]);
      expect(judged).toEqual(outcomesOf(k));
    });
    // The two configs disagree somewhere, or the comparison above would prove little.
    expect(outcomesOf(0)).not.toEqual(outcomesOf(1));
  });

  it('judges gate by gate exactly as RunJudge does check by check, over 400 random configs', () => {
    // RunJudge, check by check, is the reference: judgeWindows takes each gate's first firing
    // (kept per gate, shared by every config that has the gate) and the earliest of them.
    const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
    const windows = simulateWindows(scenario, allNeeds(), 0, scenario.runs, 'sample');
    const reference = (gates: readonly Gate[]): RunOutcome[] => {
      const out: RunOutcome[] = [];
      for (let r = 0; r < scenario.runs; r++) {
        const judge = new RunJudge(gates);
        let outcome: RunOutcome | null = null;
        for (let c = 0; c < windows.checks && !outcome; c++) {
          const w = schedule[c]!;
          const meta: CheckMeta = { stage: w.stage, percent: w.percent, endMinute: w.endMinute, canaryRequests: windows.canaryRequests[r * windows.checks + c]! };
          outcome = judge.check(c, meta, windows.summaries, (r * windows.checks + c) * windows.stride);
        }
        out.push(outcome ?? judge.promote());
      }
      return out;
    };
    // Few distinct thresholds, so configs share gates and the kept firings are reused, and ties
    // (two gates first firing at one check, a hold before a rollback) are common.
    const rng = new Rng('windows:random-configs');
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rng.uniform() * xs.length)]!;
    const gateOf = (i: number): Gate => {
      const kind = pick(['cost', 'p99', 'tokens', 'errors', 'refusals-test', 'ks', 'max', 'delta'] as const);
      const common = { name: `g${i}`, action: pick(['rollback', 'hold'] as const), sustained: pick([1, 1, 2, 3]), minSamples: pick([0, 0, 50]), window: pick(['check', 'check', 'stage'] as const), stat: 'mean' as const };
      switch (kind) {
        case 'cost': return { ...common, metric: 'cost_usd', max_ratio: pick([1.05, 1.15, 1.3]) };
        case 'p99': return { ...common, metric: 'latency_ms', stat: 'p99', max_ratio: pick([1.1, 1.3, 1.6]) };
        case 'tokens': return { ...common, metric: 'output_tokens', stat: 'p50', min_ratio: pick([0.9, 0.95]), max_ratio: pick([1.05, 1.2]) };
        case 'errors': return { ...common, metric: 'error_rate', max_ratio: pick([1.5, 3]) };
        case 'refusals-test': return { ...common, metric: 'refusal_rate', test: { kind: 'proportion', alpha: pick([0.01, 0.1]), direction: 'increase' } };
        case 'ks': return { ...common, metric: 'output_tokens', test: { kind: 'ks', alpha: pick([0.001, 0.05]), direction: 'increase' } };
        case 'max': return { ...common, metric: 'refusal_rate', max: pick([0.01, 0.02]) };
        case 'delta': return { ...common, metric: 'latency_ms', stat: 'p90', max_delta: pick([100, 400]) };
      }
    };
    const outcomesSeen = new Set<string>();
    let ties = 0;
    for (let k = 0; k < 400; k++) {
      const gates = Array.from({ length: 1 + Math.floor(rng.uniform() * 4) }, (_, i) => gateOf(i));
      const expected = reference(gates);
      expect(judgeWindows(windows, schedule, gates), `config ${k}: ${JSON.stringify(gates)}`).toEqual(expected);
      for (const o of expected) outcomesSeen.add(o.outcome);
      for (let r = 0; r < scenario.runs; r++) {
        const firsts = gates.map((g) => gateFirings(windows, g)[r]!);
        if (expected[r]!.check >= 0 && firsts.filter((c) => c === expected[r]!.check).length > 1) ties++;
      }
    }
    // The comparison covered every outcome kind and runs where several gates fired at once.
    expect([...outcomesSeen].sort()).toEqual(['hold', 'promote', 'rollback']);
    expect(ties).toBeGreaterThan(50);
  });

  it('keeps the same summaries through the worker pool, in run order', async () => {
    const needs = needsOf(configs);
    const local = simulateWindows(scenario, needs, 0, scenario.runs, 'exact');
    const pooled = await simulateWindowsOnPool(scenario, needs, 0, scenario.runs, { workers: 2, engine: 'exact' });
    const joined = new Float64Array(local.summaries.length);
    let at = 0;
    for (const w of pooled) {
      joined.set(w.summaries, at);
      at += w.summaries.length;
    }
    expect(at).toBe(local.summaries.length);
    // NaN-aware equality: unrequested statistics are NaN in both.
    expect(Array.from(joined).map(String)).toEqual(Array.from(local.summaries).map(String));
  });
});
