import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { prepareWorkerIsolates } from '../threads/worker-isolates.js';

/**
 * The replay's worker pool, in a module of its own that loads nothing else: the CLI starts it
 * before importing DuckDB, Arrow and the config schemas, so the workers load their code while the
 * main thread loads its own.
 */

/**
 * Workers hold a few batches at a time; V8's default young generation (tens of MB per thread on
 * a large machine) only adds resident memory that a 10-million-row replay must not have.
 */
const WORKER_HEAP = { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 512 };

/**
 * Batches a worker runs at once, each with its share of the concurrency: with one, requests in
 * flight fell to zero at every batch boundary while the batch's last answers came in.
 */
export const TASKS_PER_WORKER = 2;

function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return path.join(path.dirname(here), 'worker.js');
  return path.resolve(path.dirname(here), '../../dist/replay/worker.js');
}

/**
 * The replay's worker pool. Its threads start loading their code at once, and the target's when
 * `target` (the spec the tasks will name) is given: an HTTP client or a user's module is then
 * ready before the first batch, not loaded inside the replay's time.
 */
export function startReplayPool(workers: number, target?: string): Piscina {
  const n = Math.max(1, workers);
  prepareWorkerIsolates();
  return new Piscina({
    filename: workerFile(),
    workerData: { target: target ?? null },
    minThreads: n,
    maxThreads: n,
    idleTimeout: 2000,
    resourceLimits: WORKER_HEAP,
    concurrentTasksPerWorker: TASKS_PER_WORKER,
  });
}

