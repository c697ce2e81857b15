import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { GateConfig, Scenario } from '../config/model.js';
import type { RunBatch } from '../store/columns.js';
import type { SummaryNeeds } from '../gates/window.js';
import type { EngineKind } from './engine.js';
import type { RunWindows } from './windows.js';
import type { SimulateTask, WindowsTask } from './worker.js';

/** The worker script. Under vitest this module runs from src/*.ts; workers always run the build. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return path.join(path.dirname(here), 'worker.js');
  const built = path.resolve(path.dirname(here), '../../dist/sim/worker.js');
  if (!existsSync(built)) throw new Error(`worker build missing at ${built}: run \`npm run build\` first`);
  return built;
}

export function defaultWorkers(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

export interface ScenarioJob {
  scenario: Scenario;
  configs: GateConfig[];
  runFrom: number;
  runTo: number;
}

export interface PoolOptions {
  workers: number;
  recordChecks: boolean;
  engine: EngineKind;
  /** Called with the number of runs just finished (for progress). */
  onRuns?: (runs: number) => void;
}

/**
 * Simulates every job's runs on a worker pool. Tasks are small run ranges so both cores stay busy
 * to the end; results come back in run order whatever order the tasks finished in, and each
 * run's stream depends on (seed, run) alone, so the worker count never changes a result.
 */
export async function simulateOnPool(jobs: readonly ScenarioJob[], options: PoolOptions): Promise<RunBatch[][]> {
  const workers = Math.max(1, Math.floor(options.workers));
  const pool = new Piscina({ filename: workerFile(), minThreads: workers, maxThreads: workers, idleTimeout: 1000 });
  try {
    return await Promise.all(
      jobs.map((job) => {
        const runs = job.runTo - job.runFrom;
        const perTask = Math.max(1, Math.min(50, Math.ceil(runs / (workers * 8))));
        const tasks: Promise<RunBatch>[] = [];
        for (let from = job.runFrom; from < job.runTo; from += perTask) {
          const task: SimulateTask = {
            kind: 'runs',
            scenario: job.scenario,
            configs: job.configs,
            runFrom: from,
            runTo: Math.min(job.runTo, from + perTask),
            recordChecks: options.recordChecks,
            engine: options.engine,
          };
          tasks.push(
            (pool.run(task) as Promise<RunBatch>).then((batch) => {
              options.onRuns?.(task.runTo - task.runFrom);
              return batch;
            }),
          );
        }
        return Promise.all(tasks);
      }),
    );
  } finally {
    await pool.destroy();
  }
}

/**
 * Keeps every window summary of a scenario's runs (simulate once), in run order, for judging
 * any number of gate configs afterwards with judgeWindows (judge many).
 */
export async function simulateWindowsOnPool(
  scenario: Scenario,
  needs: SummaryNeeds,
  runFrom: number,
  runTo: number,
  options: { workers: number; engine: EngineKind; onRuns?: (runs: number) => void },
): Promise<RunWindows[]> {
  const workers = Math.max(1, Math.floor(options.workers));
  const pool = new Piscina({ filename: workerFile(), minThreads: workers, maxThreads: workers, idleTimeout: 1000 });
  try {
    const perTask = Math.max(1, Math.min(50, Math.ceil((runTo - runFrom) / (workers * 8))));
    const tasks: Promise<RunWindows>[] = [];
    for (let from = runFrom; from < runTo; from += perTask) {
      const task: WindowsTask = { kind: 'windows', scenario, needs, runFrom: from, runTo: Math.min(runTo, from + perTask), engine: options.engine };
      tasks.push(
        (pool.run(task) as Promise<RunWindows>).then((w) => {
          options.onRuns?.(task.runTo - task.runFrom);
          return w;
        }),
      );
    }
    return await Promise.all(tasks);
  } finally {
    await pool.destroy();
  }
}
