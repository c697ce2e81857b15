import type { GateConfig, Scenario } from '../config/model.js';
import type { SimulatedScenario } from '../store/outcomes.js';
import type { EngineKind } from './engine.js';
import { checkSchedule } from './ladder.js';
import { type ScenarioJob, simulateOnPool } from './pool.js';
import { type Shard, shardRange } from './shard.js';

export interface SimulateRequest {
  scenarios: readonly Scenario[];
  /** Gate configs that replace every scenario's own gates (`--gates`, repeatable). */
  gateConfigs?: readonly GateConfig[];
  /** Overrides every scenario's `runs` (`--runs`). */
  runs?: number;
  /** Overrides every scenario's `seed` (`--seed`). */
  seed?: number;
  /** Simulate only this shard's share of every scenario's runs (`--shard i/n`). */
  shard?: Shard;
  workers: number;
  recordChecks: boolean;
  /** Default auto. */
  engine?: EngineKind;
  onRuns?: (runs: number) => void;
}

/** The scenarios as they will actually run, with command-line overrides applied. */
export function effectiveScenarios(request: SimulateRequest): Scenario[] {
  return request.scenarios.map((s) => ({
    ...s,
    runs: request.runs ?? s.runs,
    seed: request.seed ?? s.seed,
  }));
}

/** The gate configs a scenario is judged under: the command's `--gates`, else its own gates. */
export function gateConfigsFor(scenario: Scenario, gateConfigs: readonly GateConfig[] | undefined): GateConfig[] {
  return gateConfigs?.length ? [...gateConfigs] : scenario.gates ? [scenario.gates] : [];
}

/** Simulates every scenario under its gate configs: the whole `simulate` job but the I/O. */
export async function simulate(request: SimulateRequest): Promise<SimulatedScenario[]> {
  const scenarios = effectiveScenarios(request);
  const jobs: ScenarioJob[] = scenarios.map((scenario) => {
    const configs = gateConfigsFor(scenario, request.gateConfigs);
    if (configs.length === 0) throw new Error(`scenario ${scenario.name} has no gates`);
    return { scenario, configs, ...shardRange(scenario.runs, request.shard) };
  });
  const batches = await simulateOnPool(jobs, {
    workers: request.workers,
    recordChecks: request.recordChecks,
    engine: request.engine ?? 'auto',
    ...(request.onRuns ? { onRuns: request.onRuns } : {}),
  });
  return jobs.map((job, i) => ({
    scenario: job.scenario,
    configs: job.configs,
    schedule: checkSchedule(job.scenario.stages, job.scenario.checkEveryMinutes),
    batches: batches[i]!,
  }));
}
