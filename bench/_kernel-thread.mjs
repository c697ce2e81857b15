/**
 * The kernel in a worker thread: bench/sample-engine.mjs runs it on every core at once to measure
 * how far this machine scales at all (the ceiling the engine's worker scaling is read against).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runKernel } from './_kernel.mjs';

parentPort.postMessage(runKernel(workerData));
