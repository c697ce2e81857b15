import os from 'node:os';
import { describe, expect, it } from 'vitest';
import type { Gate, GateConfig, Scenario } from '../../src/config/model.js';
import { needsOf } from '../../src/gates/window.js';
import { type ScenarioJob, defaultWorkers, simulateOnPool, simulateWindowsOnPool } from '../../src/sim/pool.js';
import { simulateRuns } from '../../src/sim/runs.js';
import { simulateWindows } from '../../src/sim/windows.js';
import type { RunBatch } from '../../src/store/columns.js';

/**
 * The worker pool, with real worker threads (they run the build in dist/: `npx tsc` first).
 * DESIGN.md: "Results are identical for any --workers, any batch size, any machine": so the pool's
 * results must equal, run for run, what simulateRuns computes in this thread.
 */

const base: Scenario = {
  name: 'pool-a',
  file: 'inline',
  runs: 10,
  seed: 17,
  requestsPerMinute: 300,
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
  candidate: { latency: 1, latency_tail: 1.3, output_length: 1, price: 1.15, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 },
  nondeterminism: { run: 0.15, check: 0.05 },
  stages: [
    { percent: 5, holdMinutes: 30 },
    { percent: 25, holdMinutes: 30 },
    { percent: 100, holdMinutes: null },
  ],
  checkEveryMinutes: 10,
  gates: null,
};
const other: Scenario = { ...base, name: 'pool-b', seed: 99, candidate: { ...base.candidate, price: 1, error_rate: 3 } };

const g = (over: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate => ({ stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...over });
const strict: GateConfig = {
  label: 'strict',
  source: 'inline',
  gates: [g({ name: 'cost', metric: 'cost_usd', max_ratio: 1.1 }), g({ name: 'p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.3, window: 'stage', sustained: 2 })],
};
const loose: GateConfig = {
  label: 'loose',
  source: 'inline',
  gates: [g({ name: 'err', metric: 'error_rate', test: { kind: 'proportion', alpha: 0.01, direction: 'increase' } }), g({ name: 'cost', metric: 'cost_usd', max_ratio: 1.3, action: 'hold' })],
};

const jobs: ScenarioJob[] = [
  { scenario: base, configs: [strict, loose], runFrom: 0, runTo: 10 },
  // A range that does not start at 0 (a shard), of another scenario.
  { scenario: other, configs: [loose], runFrom: 3, runTo: 9 },
];

/** A job's batches joined into one batch, so any task split compares equal. */
function joined(batches: RunBatch[]) {
  const cat = <K extends string>(pick: (b: RunBatch) => Record<K, ArrayLike<number>> | null) => {
    const out: Record<string, number[]> = {};
    for (const b of batches) for (const [k, v] of Object.entries(pick(b) ?? {})) (out[k] ??= []).push(...Array.from(v as ArrayLike<number>));
    return out;
  };
  return { outcomes: cat((b) => b.outcomes as never), checks: cat((b) => b.checks as never), simulatedRequests: batches.reduce((a, b) => a + b.simulatedRequests, 0) };
}

function local(job: ScenarioJob) {
  return joined([simulateRuns(job.scenario, { configs: job.configs, runFrom: job.runFrom, runTo: job.runTo, recordChecks: true, engine: 'exact' })]);
}

describe('defaultWorkers', () => {
  it('is the machine’s available parallelism, at least 1', () => {
    expect(defaultWorkers()).toBe(Math.max(1, os.availableParallelism()));
  });
});

describe('simulateOnPool', () => {
  it('gives, with 1 and with 2 workers, exactly the in-thread results of every job, in run order', async () => {
    const seen: number[] = [];
    const one = await simulateOnPool(jobs, { workers: 1, recordChecks: true, engine: 'exact' });
    const two = await simulateOnPool(jobs, { workers: 2, recordChecks: true, engine: 'exact', onRuns: (r) => seen.push(r) });
    expect(one).toHaveLength(2);
    expect(two).toHaveLength(2);
    jobs.forEach((job, i) => {
      const expected = local(job);
      expect(joined(one[i]!)).toEqual(expected);
      expect(joined(two[i]!)).toEqual(expected);
    });
    // Runs in order: job 0 has runs 0..9 for configs 0, 1; job 1 runs 3..8 for its one config.
    expect(joined(two[0]!).outcomes.run).toEqual(Array.from({ length: 20 }, (_, i) => Math.floor(i / 2)));
    expect(joined(two[1]!).outcomes.run).toEqual([3, 4, 5, 6, 7, 8]);
    // Progress: every run reported once, 10 + 6.
    expect(seen.reduce((a, b) => a + b, 0)).toBe(16);
    expect(seen.every((r) => r >= 1)).toBe(true);
    // The results are not trivially equal: the configs and scenarios disagree somewhere.
    expect(joined(two[0]!).outcomes.outcome).not.toEqual(Array(20).fill(2));
  });

  it('hands back no checks table unless asked, and treats a fractional worker count as at least 1', async () => {
    const [batches] = await simulateOnPool([jobs[1]!], { workers: 0.5, recordChecks: false, engine: 'sample' });
    for (const b of batches!) expect(b.checks).toBeNull();
    const expected = simulateRuns(other, { configs: [loose], runFrom: 3, runTo: 9, recordChecks: false, engine: 'sample' });
    expect(joined(batches!).outcomes).toEqual(joined([expected]).outcomes);
  });

  it("rejects with the worker's own error when tasks fail, rather than hanging or crashing", async () => {
    // A scenario without a ladder cannot be simulated: every task throws. With many tasks on two
    // workers, tasks are still running when the first fails; the pool must outlive them (an
    // answer reaching a destroyed pool was an unhandled 'error' event, which vitest reports).
    const broken = { ...base, stages: null } as unknown as Scenario;
    for (let i = 0; i < 5; i++) {
      await expect(simulateOnPool([{ scenario: broken, configs: [strict], runFrom: 0, runTo: 40 }], { workers: 2, recordChecks: false, engine: 'exact' })).rejects.toThrow(/null/);
      await expect(simulateWindowsOnPool(broken, needsOf([strict]), 0, 40, { workers: 2, engine: 'exact' })).rejects.toThrow(/null/);
    }
  });
});

describe('simulateWindowsOnPool', () => {
  const needs = needsOf([strict, loose]);

  it('keeps the same summaries with 1 and 2 workers, in contiguous run order', async () => {
    const seen: number[] = [];
    const localW = simulateWindows(base, needs, 2, 9, 'exact');
    for (const workers of [1, 2]) {
      const pooled = await simulateWindowsOnPool(base, needs, 2, 9, { workers, engine: 'exact', onRuns: (r) => seen.push(r) });
      expect(pooled[0]!.runFrom).toBe(2);
      expect(pooled.at(-1)!.runTo).toBe(9);
      for (let i = 1; i < pooled.length; i++) expect(pooled[i]!.runFrom).toBe(pooled[i - 1]!.runTo);
      const summaries = pooled.flatMap((w) => Array.from(w.summaries).map(String));
      const canary = pooled.flatMap((w) => Array.from(w.canaryRequests));
      // NaN-aware: statistics nobody asked for are NaN.
      expect(summaries).toEqual(Array.from(localW.summaries).map(String));
      expect(canary).toEqual(Array.from(localW.canaryRequests));
    }
    // 7 runs reported per pool.
    expect(seen.reduce((a, b) => a + b, 0)).toBe(14);
  });
});
