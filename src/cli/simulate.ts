import { Command, Option } from 'commander';
import pc from 'picocolors';
import { loadGateFile, loadScenarios } from '../config/load.js';
import type { GateConfig } from '../config/model.js';
import { simulationTable } from '../report/simulation.js';
import { summariseOutcomes } from '../sim/outcome-summary.js';
import { defaultWorkers } from '../sim/pool.js';
import { effectiveScenarios, simulate } from '../sim/simulate.js';
import { Store } from '../store/database.js';
import { finishInvocation, startInvocation } from '../store/invocations.js';
import { writeSimulation } from '../store/outcomes.js';
import { DEFAULT_DB, Progress, action, collect, nonNegativeInt, positiveInt } from './common.js';

interface SimulateOptions {
  db: string;
  gates?: string[];
  runs?: number;
  seed?: number;
  workers: number;
  checks: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function simulateCommand(): Command {
  return new Command('simulate')
    .description('Run seeded Monte-Carlo canary rollouts of scenario files and record which stage halts and which gate fires.')
    .argument('<paths...>', 'scenario files, or folders searched for *.yaml, *.yml and *.json scenarios (gate files skipped)')
    .option('--db <file>', 'DuckDB file the results accumulate in', DEFAULT_DB)
    .option('--gates <file>', 'gate file replacing every scenario\'s gates; repeat to compare configs on identical runs', collect)
    .option('--runs <n>', 'runs per scenario (overrides the scenarios\' runs)', positiveInt('--runs'))
    .option('--seed <n>', 'base seed (overrides the scenarios\' seed)', nonNegativeInt('--seed'))
    .option('--workers <n>', 'worker threads', positiveInt('--workers'), defaultWorkers())
    .option('--no-checks', 'do not record every gate reading in the checks table (outcomes only)')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--quiet', 'no progress bar, and no table: only where the results went')
    .addHelpText(
      'after',
      `
Examples:
  rehearse simulate scenarios/                      the bundled suite
  rehearse simulate my-rollout.yaml --runs 1000     one scenario, more runs
  rehearse simulate scenarios/ --gates strict.yaml --gates loose.yaml
                                                    two gate configs judged on the same runs
  rehearse query "SELECT scenario, outcome, count(*) FROM outcomes GROUP BY ALL"`,
    )
    .action(action(runSimulate));
}

async function runSimulate(paths: string[], opts: SimulateOptions): Promise<number> {
  const gateConfigs: GateConfig[] = (opts.gates ?? []).map((f) => loadGateFile(f));
  const labels = new Set<string>();
  for (const g of gateConfigs) {
    while (labels.has(g.label)) g.label += "'";
    labels.add(g.label);
  }
  const scenarios = loadScenarios(paths, gateConfigs.length ? { gates: gateConfigs[0]! } : {});
  const request = {
    scenarios,
    gateConfigs,
    workers: opts.workers,
    recordChecks: opts.checks,
    ...(opts.runs !== undefined ? { runs: opts.runs } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  };
  const totalRuns = effectiveScenarios(request).reduce((n, s) => n + s.runs, 0);
  // Open the store first: a locked or unreadable file should stop us before the work, not after.
  const store = await Store.open(opts.db);
  const invocation = await startInvocation(store, 'simulate', { paths, ...opts });
  const onSigint = () => {
    void finishInvocation(store, invocation, 'interrupted').finally(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  try {
    const started = Date.now();
    const progress = new Progress(totalRuns, 'simulating', Boolean(opts.quiet || opts.json));
    const results = await simulate({ ...request, onRuns: (n) => progress.add(n) });
    progress.end();
    await writeSimulation(store, invocation, results);
    await finishInvocation(store, invocation, 'ok');
    const seconds = (Date.now() - started) / 1000;
    const summaries = results.flatMap(summariseOutcomes);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ invocation_id: invocation, db: opts.db, seconds, scenarios: summaries }, null, 2) + '\n');
    } else {
      if (!opts.quiet) {
        process.stdout.write(
          `${pc.bold('rehearse simulate')}: ${scenarios.length} scenario${scenarios.length === 1 ? '' : 's'}, ${totalRuns} runs, sample engine, ${opts.workers} worker${opts.workers === 1 ? '' : 's'}, ${seconds.toFixed(1)}s\n\n`,
        );
        process.stdout.write(simulationTable(summaries) + '\n\n');
      }
      process.stdout.write(
        `Results: ${opts.db} (invocation ${invocation})\n` +
          `  tables outcomes${opts.checks ? ', checks' : ''}, scenarios, invocations; for example:\n` +
          `  npx rehearse query --db ${opts.db} "SELECT scenario, outcome, count(*) AS runs FROM outcomes WHERE invocation_id = '${invocation}' GROUP BY ALL ORDER BY ALL"\n`,
      );
    }
    return 0;
  } catch (err) {
    await finishInvocation(store, invocation, 'failed').catch(() => undefined);
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    store.close();
  }
}
