import { transferableSymbol, valueSymbol } from 'piscina';
import { describe, expect, it } from 'vitest';
import type { Gate, GateConfig, Scenario } from '../../src/config/model.js';
import { needsOf } from '../../src/gates/window.js';
import { checkSchedule } from '../../src/sim/ladder.js';
import { simulateRuns } from '../../src/sim/runs.js';
import { type RunWindows, simulateWindows } from '../../src/sim/windows.js';
import simulateTask, { type SimulateTask, type WindowsTask } from '../../src/sim/worker.js';
import type { RunBatch } from '../../src/store/columns.js';

/**
 * The piscina task, called in this thread: it must compute what simulateRuns / simulateWindows
 * compute for the same range, and hand it back as a movable whose transfer list is exactly the
 * result's own buffers, so the typed arrays are transferred to the main thread, not copied.
 */

const scenario: Scenario = {
  name: 'worker',
  file: 'inline',
  runs: 4,
  seed: 21,
  requestsPerMinute: 200,
  baseline: {
    latency_ms: { p50: 800, p99: 4000 },
    ttft_ms: null,
    output_tokens: { p50: 300, p99: 1500 },
    input_tokens: { p50: 1000, p99: 6000 },
    error_rate: 0.01,
    refusal_rate: 0.02,
    thumbs_down_rate: 0.03,
  },
  price: { input_per_million: 0.5, output_per_million: 1.5 },
  candidate: { latency: 1.3, latency_tail: 1, output_length: 1, price: 1.2, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 },
  nondeterminism: { run: 0.1, check: 0.05 },
  stages: [
    { percent: 10, holdMinutes: 20 },
    { percent: 50, holdMinutes: 20 },
    { percent: 100, holdMinutes: null },
  ],
  checkEveryMinutes: 10,
  gates: null,
};

const g = (over: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate => ({ stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...over });
const configs: GateConfig[] = [
  { label: 'a', source: 'inline', gates: [g({ name: 'cost', metric: 'cost_usd', max_ratio: 1.1 }), g({ name: 'p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.5, window: 'stage' })] },
  { label: 'b', source: 'inline', gates: [g({ name: 'err', metric: 'error_rate', max: 0.5 })] },
];

type Movable<T> = { [valueSymbol]: T; [transferableSymbol]: ArrayBuffer[] };

const runsTask = (recordChecks: boolean): SimulateTask => ({ kind: 'runs', scenario, configs, runFrom: 1, runTo: 4, recordChecks, engine: 'sample' });

describe('simulateTask: a range of runs', () => {
  it('computes what simulateRuns computes for the same range', () => {
    const out = simulateTask(runsTask(true)) as Movable<RunBatch>;
    const direct = simulateRuns(scenario, { configs, runFrom: 1, runTo: 4, recordChecks: true, engine: 'sample' });
    expect(out[valueSymbol]).toEqual(direct);
    // 3 runs × 2 configs: runs 1, 2, 3 (not 0), whatever they ended in.
    expect(Array.from(out[valueSymbol].outcomes.run)).toEqual([1, 1, 2, 2, 3, 3]);
  });

  it('lists every column buffer for transfer, once each: 7 outcome columns, and 10 check columns when recorded', () => {
    for (const [record, count] of [[true, 17], [false, 7]] as const) {
      const out = simulateTask(runsTask(record)) as Movable<RunBatch>;
      const batch = out[valueSymbol];
      const own = [...Object.values(batch.outcomes), ...(batch.checks ? Object.values(batch.checks) : [])].map((a) => a.buffer);
      const listed = out[transferableSymbol];
      expect(listed).toHaveLength(count);
      expect(new Set(listed).size).toBe(count);
      expect(new Set(listed)).toEqual(new Set(own));
    }
  });

  it('its buffers really transfer: the receiver gets equal values, the sender’s arrays are detached', () => {
    const out = simulateTask(runsTask(true)) as Movable<RunBatch>;
    const expected = simulateRuns(scenario, { configs, runFrom: 1, runTo: 4, recordChecks: true, engine: 'sample' });
    const received = structuredClone(out[valueSymbol], { transfer: out[transferableSymbol] });
    expect(received).toEqual(expected);
    for (const a of Object.values(out[valueSymbol].outcomes)) expect(a.buffer.byteLength).toBe(0);
  });
});

describe('simulateTask: keep the windows', () => {
  const needs = needsOf(configs);
  const task: WindowsTask = { kind: 'windows', scenario, needs, runFrom: 2, runTo: 4, engine: 'exact' };

  it('computes what simulateWindows computes for the same range', () => {
    const out = simulateTask(task) as Movable<RunWindows>;
    const direct = simulateWindows(scenario, needs, 2, 4, 'exact');
    // NaN-aware comparison: statistics nobody asked for are NaN in both.
    expect({ ...out[valueSymbol], summaries: Array.from(out[valueSymbol].summaries).map(String) }).toEqual({ ...direct, summaries: Array.from(direct.summaries).map(String) });
    const checks = checkSchedule(scenario.stages, scenario.checkEveryMinutes).length;
    expect(checks).toBe(4);
    expect(out[valueSymbol]).toMatchObject({ runFrom: 2, runTo: 4, checks });
    expect(out[valueSymbol].canaryRequests).toHaveLength(2 * checks);
  });

  it('transfers the summaries and the canary counts, and nothing else', () => {
    const out = simulateTask(task) as Movable<RunWindows>;
    const w = out[valueSymbol];
    expect(out[transferableSymbol]).toEqual([w.summaries.buffer, w.canaryRequests.buffer]);
    expect(out[transferableSymbol][0]).toBe(w.summaries.buffer);
    expect(out[transferableSymbol][1]).toBe(w.canaryRequests.buffer);
    const received = structuredClone(w, { transfer: out[transferableSymbol] });
    expect(received.summaries.length).toBe(2 * 4 * w.stride);
    expect(w.summaries.byteLength).toBe(0);
  });
});
