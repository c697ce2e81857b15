import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { GateConfig, Scenario } from '../config/model.js';
import type { RunBatch } from '../store/columns.js';
import { simulateRuns } from './runs.js';

export interface SimulateTask {
  scenario: Scenario;
  configs: GateConfig[];
  runFrom: number;
  runTo: number;
  recordChecks: boolean;
}

function buffersOf(batch: RunBatch): ArrayBuffer[] {
  const arrays = [...Object.values(batch.outcomes), ...(batch.checks ? Object.values(batch.checks) : [])];
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

/** A piscina task: a range of runs, handed back with its typed arrays transferred, not copied. */
export default function simulateTask(task: SimulateTask): unknown {
  const batch = simulateRuns(task.scenario, task);
  return move({
    get [transferableSymbol]() {
      return buffersOf(batch);
    },
    get [valueSymbol]() {
      return batch;
    },
  } as unknown as ArrayBuffer);
}
