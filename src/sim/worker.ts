import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { GateConfig, Scenario } from '../config/model.js';
import type { RunBatch } from '../store/columns.js';
import type { SummaryNeeds } from '../gates/window.js';
import type { EngineKind } from './engine.js';
import { simulateRuns } from './runs.js';
import { simulateWindows } from './windows.js';

export interface SimulateTask {
  kind: 'runs';
  scenario: Scenario;
  configs: GateConfig[];
  runFrom: number;
  runTo: number;
  recordChecks: boolean;
  engine: EngineKind;
}

/** Keep every window summary of a range of runs, for judging many gate configs later. */
export interface WindowsTask {
  kind: 'windows';
  scenario: Scenario;
  needs: SummaryNeeds;
  runFrom: number;
  runTo: number;
  engine: EngineKind;
}

function buffersOf(batch: RunBatch): ArrayBuffer[] {
  const arrays = [...Object.values(batch.outcomes), ...(batch.checks ? Object.values(batch.checks) : [])];
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

function transfer<T>(value: T, buffers: ArrayBuffer[]): unknown {
  return move({
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return value;
    },
  } as unknown as ArrayBuffer);
}

/** A piscina task: a range of runs, handed back with its typed arrays transferred, not copied. */
export default function simulateTask(task: SimulateTask | WindowsTask): unknown {
  if (task.kind === 'windows') {
    const w = simulateWindows(task.scenario, task.needs, task.runFrom, task.runTo, task.engine);
    return transfer(w, [w.summaries.buffer as ArrayBuffer, w.canaryRequests.buffer as ArrayBuffer]);
  }
  const batch = simulateRuns(task.scenario, task);
  return transfer(batch, buffersOf(batch));
}
