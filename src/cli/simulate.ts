import { Command, InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import { simulationTable } from '../report/simulation.js';
import { summariseOutcomes } from '../sim/outcome-summary.js';
import { defaultWorkers } from '../sim/pool.js';
import { parseShard } from '../sim/shard.js';
import { MAX_RUNS, MAX_RUNS_PER_PROCESS } from '../config/schema.js';
import { DEFAULT_DB, action, collect, engineOption, nonEmpty, nonNegativeInt, positiveInt, snakeKeys } from './common.js';
import { type SimulationJob, type SimulationOptions, runSimulationJob, whereResultsWent } from './simulation-job.js';
import { type EngineKind, describeGatePaths } from '../sim/engine.js';

/** The bound on `--runs`, also the scenario field's; exported for the other commands that take --runs. */
export const RUNS_LIMIT = {
  value: MAX_RUNS,
  why: `runs are numbered with 32-bit integers; one process simulates at most ${MAX_RUNS_PER_PROCESS.checks} (${MAX_RUNS_PER_PROCESS.outcomesOnly} with --no-checks), more are split with --shard i/n and joined with rehearse merge`,
};

/** The options `simulate` and `check` share, added to a command. */
export function simulationOptions(cmd: Command): Command {
  return cmd
    .option('--db <file>', 'DuckDB file the results accumulate in', DEFAULT_DB)
    .option('--gates <file>', "gate file replacing every scenario's gates; repeat to compare configs on identical runs", collect)
    .option('--runs <n>', `runs per scenario (overrides the scenarios' runs); one process simulates at most ${MAX_RUNS_PER_PROCESS.checks} in all (${MAX_RUNS_PER_PROCESS.outcomesOnly} with --no-checks), split more with --shard`, positiveInt('--runs', RUNS_LIMIT))
    .option('--seed <n>', "base seed (overrides the scenarios' seed)", nonNegativeInt('--seed'))
    .option('--workers <n>', 'worker threads', positiveInt('--workers'), defaultWorkers())
    .addOption(engineOption())
    .option('--no-checks', 'do not record every gate reading in the checks table (outcomes only)')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--quiet', 'no progress bar, and no table: only where the results went');
}

export function simulateCommand(): Command {
  return simulationOptions(
    new Command('simulate')
      .description('Run seeded Monte-Carlo canary rollouts of scenario files and record which stage halts and which gate fires.')
      .argument('<paths...>', 'scenario files, or folders searched for *.yaml, *.yml and *.json scenarios (gate files skipped)'),
  )
    .option('--shard <i/n>', 'simulate only shard i (0-based) of n of every scenario\'s runs; join shard files with `rehearse merge`', (v: string) => {
      const shard = parseShard(v);
      if (!shard) throw new InvalidArgumentError(`--shard must be i/n with 0 ≤ i < n, e.g. 0/4, got "${v}"`);
      return shard;
    })
    .option('--invocation <id>', 'record under this invocation id (give every shard of one job the same id, e.g. the CI run id)', nonEmpty('--invocation'))
    .addHelpText(
      'after',
      `
Examples:
  rehearse simulate scenarios/                      the bundled suite
  rehearse simulate my-rollout.yaml --runs 1000     one scenario, more runs
  rehearse simulate scenarios/ --gates strict.yaml --gates loose.yaml
                                                    two gate configs judged on the same runs
  rehearse simulate scenarios/ --shard 0/4 --invocation nightly-42 --db shard-0.duckdb
                                                    a quarter of the runs, to merge with the others
  rehearse query "SELECT scenario, outcome, count(*) FROM outcomes GROUP BY ALL"`,
    )
    .action(action(runSimulate));
}

async function runSimulate(paths: string[], opts: SimulationOptions): Promise<number> {
  const job = await runSimulationJob('simulate', paths, opts);
  const summaries = job.results.flatMap(summariseOutcomes);
  const drawn = gatePathLines(job, opts.engine);
  if (opts.json) {
    // Each entry carries its own gates' paths too: the top-level map keys inline gates by
    // scenario, which a reader of `scenarios[]` (gate_config "inline") could not join on.
    const entries = job.results.flatMap((r) => summariseOutcomes(r).map((s, k) => ({ ...s, gatePaths: describeGatePaths(opts.engine, r.scenario, r.configs[k]!) })));
    process.stdout.write(
      JSON.stringify({ invocation_id: job.invocation, db: opts.db, seconds: job.seconds, engine: opts.engine, gate_paths: drawn.byConfig, scenarios: snakeKeys(entries) }, null, 2) + '\n',
    );
    return 0;
  }
  if (!opts.quiet) {
    const n = job.scenarios.length;
    process.stdout.write(
      `${pc.bold('rehearse simulate')}: ${n} scenario${n === 1 ? '' : 's'}, ${job.totalRuns} runs${opts.shard ? ` (shard ${opts.shard.index}/${opts.shard.count})` : ''}, ${opts.engine} engine, ${opts.workers} worker${opts.workers === 1 ? '' : 's'}, ${job.seconds.toFixed(1)}s\n\n`,
    );
    process.stdout.write(simulationTable(summaries) + '\n\n');
    process.stdout.write(drawn.text);
  }
  process.stdout.write(whereResultsWent(opts.db, job.invocation, `outcomes${opts.checks ? ', checks' : ''}, scenarios, invocations`));
  return 0;
}

/**
 * Which path each gate's statistic took: the exact engine draws most from their sampling
 * distributions and falls back to per-request draws for the rest, and users should know which.
 */
export function gatePathLines(job: SimulationJob, engine: EngineKind): { byConfig: Record<string, Record<string, string>>; text: string } {
  const byConfig: Record<string, Record<string, string>> = {};
  for (const r of job.results) {
    for (const config of r.configs) {
      // Every scenario's own gates are "inline": one entry each, or one scenario's hid the others'.
      const label = config.label === 'inline' ? `inline (${r.scenario.name})` : config.label;
      const seen = (byConfig[label] ??= {});
      // A shared gate file can take another path in another scenario (one resampling a trace).
      for (const [gate, p] of Object.entries(describeGatePaths(engine, r.scenario, config))) seen[gate] = seen[gate] === undefined || seen[gate] === p ? p : 'mixed';
    }
  }
  const lines = Object.entries(byConfig).map(([label, gates]) => {
    const named = (path: string) => Object.entries(gates).filter(([, p]) => p === path).map(([g]) => g);
    const [exact, perRequest, mixed] = [named('exact'), named('per-request'), named('mixed')];
    const parts = [
      exact.length ? `exact: ${exact.join(', ')}` : '',
      perRequest.length ? `per request: ${perRequest.join(', ')}` : '',
      mixed.length ? `exact in some scenarios, per request in others: ${mixed.join(', ')}` : '',
    ].filter(Boolean);
    return `  ${Object.keys(byConfig).length > 1 ? `${label}: ` : ''}${parts.join('; ')}`;
  });
  return { byConfig, text: `How each gate's statistic was drawn (${engine} engine):\n${lines.join('\n')}\n\n` };
}
