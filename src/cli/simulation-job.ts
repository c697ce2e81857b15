import path from 'node:path';
import { ConfigError, UserError } from '../config/errors.js';
import { loadGateFile, loadScenarios } from '../config/load.js';
import type { GateConfig, Scenario } from '../config/model.js';
import { MAX_RUNS_PER_PROCESS } from '../config/schema.js';
import { type EngineKind, describeGatePaths } from '../sim/engine.js';
import type { Shard } from '../sim/shard.js';
import { shardRange } from '../sim/shard.js';
import { loadEmpirical } from '../sim/empirical.js';
import { effectiveScenarios, gateConfigsFor, simulate } from '../sim/simulate.js';
import { Store } from '../store/database.js';
import { finishInvocation, startInvocation } from '../store/invocations.js';
import { type SimulatedScenario, writeSimulation } from '../store/outcomes.js';
import { Progress, interruptible } from './common.js';

/** The options simulate and check share. */
export interface SimulationOptions {
  db: string;
  gates?: string[];
  runs?: number;
  seed?: number;
  workers: number;
  checks: boolean;
  engine: EngineKind;
  shard?: Shard;
  invocation?: string;
  json?: boolean;
  quiet?: boolean;
}

export interface SimulationJob {
  scenarios: Scenario[];
  results: SimulatedScenario[];
  invocation: string;
  seconds: number;
  totalRuns: number;
}

/**
 * Loads scenarios and gate files, simulates them on the pool with a progress bar, and records
 * everything under a new invocation. `afterWrite` adds a command's own rows in the same session.
 */
export async function runSimulationJob(
  command: string,
  paths: string[],
  opts: SimulationOptions,
  select: (scenarios: Scenario[]) => Scenario[] = (s) => s,
  afterWrite?: (store: Store, invocation: string, results: SimulatedScenario[]) => Promise<void>,
): Promise<SimulationJob> {
  // One file named twice is one config, not two judged on identical runs (scenario paths are deduplicated the same way).
  const gateFiles = [...new Map((opts.gates ?? []).map((f) => [path.resolve(f), f] as const)).values()];
  const gateConfigs: GateConfig[] = gateFiles.map((f) => loadGateFile(f));
  const labels = new Set<string>();
  for (const g of gateConfigs) {
    while (labels.has(g.label)) g.label += "'";
    labels.add(g.label);
  }
  const loaded = loadScenarios(paths, { ...(gateConfigs.length ? { gates: gateConfigs } : {}), skipExpectGate: command !== 'check' });
  const request = {
    scenarios: select(loaded),
    gateConfigs,
    workers: opts.workers,
    recordChecks: opts.checks,
    engine: opts.engine,
    ...(opts.runs !== undefined ? { runs: opts.runs } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.shard ? { shard: opts.shard } : {}),
  };
  const effective = effectiveScenarios(request);
  const totalRuns = effective.reduce((n, s) => {
    const r = shardRange(s.runs, opts.shard);
    return n + r.runTo - r.runFrom;
  }, 0);
  checkRunsPerProcess(effective, totalRuns, { ...opts, command });
  // Empirical traffic is read here, once, through DuckDB; workers share its arrays.
  request.scenarios = await Promise.all(request.scenarios.map(loadEmpirical));
  // After the traces: a scenario that resamples one draws every gate request by request.
  for (const sc of effectiveScenarios(request)) checkPerRequestWindows(sc, gateConfigsFor(sc, gateConfigs), opts.engine);
  // Open the store first: a locked or unreadable file should stop us before the work, not after.
  const store = await Store.open(opts.db);
  let invocation: string;
  try {
    invocation = await startInvocation(store, command, { paths, ...opts, ...(opts.shard ? { shard: `${opts.shard.index}/${opts.shard.count}` } : {}) }, opts.invocation);
  } catch (err) {
    // A refused invocation id must not leave the file locked for the rest of the process.
    store.close();
    throw err;
  }
  const uninterruptible = interruptible(store, invocation);
  try {
    const started = Date.now();
    const progress = new Progress(totalRuns, command === 'check' ? 'checking' : 'simulating', Boolean(opts.quiet || opts.json));
    const results = await simulate({ ...request, onRuns: (n) => progress.add(n) });
    progress.end();
    await writeSimulation(store, invocation, results);
    if (afterWrite) await afterWrite(store, invocation, results);
    await finishInvocation(store, invocation, 'ok');
    return { scenarios: effectiveScenarios(request), results, invocation, seconds: (Date.now() - started) / 1000, totalRuns };
  } catch (err) {
    await finishInvocation(store, invocation, 'failed').catch(() => undefined);
    throw err;
  } finally {
    uninterruptible();
    store.close();
  }
}

/**
 * Refuses, before any work, more runs than one process can hold (MAX_RUNS_PER_PROCESS), naming
 * where the count came from and a shard count that fits.
 */
export function checkRunsPerProcess(scenarios: readonly Scenario[], totalRuns: number, opts: { runs?: number; shard?: Shard; checks: boolean; command?: string }): void {
  const max = opts.checks ? MAX_RUNS_PER_PROCESS.checks : MAX_RUNS_PER_PROCESS.outcomesOnly;
  if (totalRuns <= max) return;
  // Shards split each scenario's runs with floors, so a shard can hold up to one run more per
  // scenario than the even share: when the even count does not fit, leave room for that.
  const all = scenarios.reduce((n, s) => n + s.runs, 0);
  const even = Math.ceil(all / max);
  const fits = scenarios.reduce((n, s) => n + Math.ceil(s.runs / even), 0) <= max;
  const shards = fits ? even : Math.ceil(all / Math.max(1, max - scenarios.length));
  const inShard = opts.shard ? ` in shard ${opts.shard.index}/${opts.shard.count}` : '';
  const limit = opts.checks
    ? `at most ${max}, as each run's rows stay in memory until they are written; ${MAX_RUNS_PER_PROCESS.outcomesOnly} with --no-checks`
    : `at most ${max} even with --no-checks, as each run's rows stay in memory until they are written`;
  // check has neither shards nor --no-checks: it judges every run's checks in one process.
  const split =
    opts.command === 'check'
      ? `check fewer runs (a share's confidence interval narrows with the square root of the runs), or split the scenarios across several \`rehearse check\` commands`
      : `split the work: run \`rehearse simulate … --shard i/${shards} --db shard-i.duckdb\` for i = 0 … ${shards - 1} (on one machine or many), then \`rehearse merge <out.duckdb> shard-*.duckdb\``;
  const problem = `${totalRuns} runs${inShard} are more than one process simulates (${opts.command === 'check' ? `at most ${max}, as each run's rows stay in memory until they are written` : limit}); ${split}`;
  if (opts.runs !== undefined) throw new UserError(`--runs ${opts.runs}: ${scenarios.length > 1 ? `${scenarios.length} scenarios × ${opts.runs} = ` : ''}${problem}`);
  if (scenarios.length === 1) throw new ConfigError(scenarios[0]!.file, 'runs', problem);
  throw new UserError(`the scenarios' runs add up to ${problem}`);
}

/**
 * The most values one arm's window may hold where a gate's statistic is drawn request by request:
 * 50 million doubles are 400 MB a metric, and a few times more made V8 refuse the array outright
 * ("internal error: Invalid typed array length") after the work had started.
 */
export const MAX_PER_REQUEST_WINDOW = 50_000_000;

/**
 * Refuses, before any work, a scenario whose per-request windows could not be held: the expected
 * request count of the larger arm (the baseline at a small canary share) in the largest window a
 * per-request gate reads (its check window, or a whole stage for `window: stage`).
 */
export function checkPerRequestWindows(scenario: Scenario, configs: readonly GateConfig[], engine: EngineKind): void {
  for (const config of configs) {
    const paths = describeGatePaths(engine, scenario, config);
    for (const gate of config.gates) {
      if (paths[gate.name] !== 'per-request') continue;
      let largest = 0, where = '';
      scenario.stages.forEach((stage, i) => {
        if (stage.holdMinutes === null) return; // the last stage without hold has no checks
        const minutes = gate.window === 'stage' ? stage.holdMinutes : Math.min(scenario.checkEveryMinutes, stage.holdMinutes);
        const requests = (scenario.requestsPerMinute * minutes * Math.max(stage.percent, 100 - stage.percent)) / 100;
        if (requests > largest) [largest, where] = [requests, `stage ${i + 1} (${stage.percent}%)`];
      });
      if (largest > MAX_PER_REQUEST_WINDOW) {
        const why = scenario.empirical ? 'every gate is drawn request by request for traffic resampled from a trace' : engine === 'sample' ? 'every gate is drawn request by request under --engine sample' : `gate ${gate.name} is drawn request by request (a ks or mann_whitney test, a stage-window quantile or a cost quantile)`;
        throw new UserError(
          `${scenario.file}: ${why}, and its largest window, in ${where}, holds about ${Math.round(largest).toLocaleString('en-US')} requests of one arm; at most ${MAX_PER_REQUEST_WINDOW.toLocaleString('en-US')} fit in memory: lower traffic.requests_per_minute or check_every${gate.window === 'stage' ? ' (or read the check window)' : ''}, or gate with a statistic the exact engine draws directly`,
        );
      }
    }
  }
}

/** The closing lines: where the results went, and a query to start from. */
export function whereResultsWent(db: string, invocation: string, tables: string): string {
  return (
    `Results: ${db} (invocation ${invocation})\n` +
    `  tables ${tables}; for example:\n` +
    `  npx rehearse query --db ${db} "SELECT scenario, outcome, count(*) AS runs FROM outcomes WHERE invocation_id = '${invocation}' GROUP BY ALL ORDER BY ALL"\n`
  );
}
