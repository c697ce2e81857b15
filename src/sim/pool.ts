import { setMaxListeners } from 'node:events';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { GateConfig, Scenario } from '../config/model.js';
import { prepareWorkerIsolates } from '../threads/worker-isolates.js';
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
  const tasks: SimulateTask[] = [];
  const jobOf: number[] = [];
  jobs.forEach((job, j) => {
    const runs = job.runTo - job.runFrom;
    const perTask = Math.max(1, Math.min(50, Math.ceil(runs / (workers * 8))));
    for (let from = job.runFrom; from < job.runTo; from += perTask) {
      tasks.push({
        kind: 'runs',
        scenario: job.scenario,
        configs: job.configs,
        runFrom: from,
        runTo: Math.min(job.runTo, from + perTask),
        recordChecks: options.recordChecks,
        engine: options.engine,
      });
      jobOf.push(j);
    }
  });
  const batches = await runAll<SimulateTask, RunBatch>(workers, tasks, (t) => options.onRuns?.(t.runTo - t.runFrom));
  const out: RunBatch[][] = jobs.map(() => []);
  batches.forEach((batch, i) => out[jobOf[i]!]!.push(batch));
  return out;
}

/**
 * Runs tasks on a fresh pool; their results in submission order. On the first failure the tasks
 * not yet started are cancelled, and the pool is destroyed only once every task has settled:
 * destroying it under a task still running made piscina report that task's late answer as an
 * unhandled 'error' event (a crash instead of the failure's own message).
 */
async function runAll<T extends SimulateTask | WindowsTask, R>(workers: number, tasks: readonly T[], onDone: (task: T) => void): Promise<R[]> {
  prepareWorkerIsolates();
  const pool = new Piscina({ filename: workerFile(), minThreads: workers, maxThreads: workers, idleTimeout: 1000 });
  const abort = new AbortController();
  // Every task listens to the one signal: not a leak, however many tasks there are.
  setMaxListeners(0, abort.signal);
  let failed = false;
  let failure: unknown;
  const fail = (err: unknown) => {
    if (failed) return;
    failed = true;
    failure = err;
    abort.abort();
  };
  pool.on('error', fail);
  const settled = await Promise.allSettled(
    tasks.map((task) =>
      (pool.run(task, { signal: abort.signal }) as Promise<R>).then(
        (result) => {
          onDone(task);
          return result;
        },
        (err: unknown) => {
          fail(err);
          throw err;
        },
      ),
    ),
  );
  await pool.destroy();
  if (failed) throw failure;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
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
  const perTask = Math.max(1, Math.min(50, Math.ceil((runTo - runFrom) / (workers * 8))));
  const tasks: WindowsTask[] = [];
  for (let from = runFrom; from < runTo; from += perTask) {
    tasks.push({ kind: 'windows', scenario, needs, runFrom: from, runTo: Math.min(runTo, from + perTask), engine: options.engine });
  }
  return runAll<WindowsTask, RunWindows>(workers, tasks, (t) => options.onRuns?.(t.runTo - t.runFrom));
}
