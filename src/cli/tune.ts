import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import { UserError } from '../config/errors.js';
import { displayPath, loadGateFile, loadScenarios } from '../config/load.js';
import type { GateConfig, Scenario } from '../config/model.js';
import { needsOf } from '../gates/window.js';
import { loadEmpirical } from '../sim/empirical.js';
import { integer, percent, renderTable } from '../report/table.js';
import { checkSchedule } from '../sim/ladder.js';
import { defaultWorkers, simulateWindowsOnPool } from '../sim/pool.js';
import { simulate } from '../sim/simulate.js';
import { wilsonInterval } from '../stats/interval.js';
import { Store } from '../store/database.js';
import { finishInvocation, startInvocation } from '../store/invocations.js';
import { writeSimulation } from '../store/outcomes.js';
import { OUTCOME_CODES } from '../store/columns.js';
import { type ConfigScore, type TuningScenario, scoreConfig } from '../tune/evaluate.js';
import { closest, paretoFront, recommend } from '../tune/pareto.js';
import { searchCombinations } from '../tune/search.js';
import { tunedGateFile } from '../tune/tuned-file.js';
import { type Dimension, MAX_GRID_SETTINGS, MAX_VALUES_PER_FIELD, VaryError, applyCombination, checkGridSize, describeCombination, parseVary } from '../tune/vary.js';
import type { EngineKind } from '../sim/engine.js';
import { DEFAULT_DB, Progress, action, collect, decimal, engineOption, interruptible, nonNegativeInt, once, positiveInt, snakeKeys } from './common.js';
import { checkPerRequestWindows } from './simulation-job.js';
import { MAX_RUNS, MAX_RUNS_PER_PROCESS } from '../config/schema.js';
import { makeFolders } from '../store/folders.js';

/** Fresh seeds for re-measuring the recommendation: far from any seed the choice was made on. */
export const FRESH_SEED_OFFSET = 1_000_003;

interface TuneOptions {
  gates?: string;
  vary: string[];
  maxFalseAlarm: number;
  out?: string;
  runs?: number;
  seed?: number;
  workers: number;
  budget: number;
  engine: EngineKind;
  db: string;
  json?: boolean;
  quiet?: boolean;
}

function probability(name: string) {
  return (v: string) => {
    const x = decimal(v);
    if (!(x >= 0 && x <= 1)) throw new InvalidArgumentError(`${name} must be a share between 0 and 1, got "${v}"`);
    return x;
  };
}

export function tuneCommand(): Command {
  return new Command('tune')
    .description('Sweep gate parameters over the same simulated runs and recommend the gate file that halts regressions earliest within a false-alarm budget.')
    .argument('<paths...>', 'scenario files or folders; each needs `expect` (promote for clean candidates, rollback/hold for regressions)')
    .option('--gates <file>', "the gate file to tune (default: the one the scenarios with `expect` name, when they all name the same)", once('--gates', 'tune sweeps one gate file'))
    .requiredOption(
      '--vary <spec>',
      `a parameter to sweep: <gate>.<field>=<from>:<to>:<step> or <gate>.<field>=a,b,c (repeatable); each value must be one the gate file allows; at most ${MAX_VALUES_PER_FIELD.toLocaleString('en-US')} values a field and ${MAX_GRID_SETTINGS.toLocaleString('en-US')} settings in all`,
      collect,
    )
    .option('--max-false-alarm <p>', 'the highest share of clean-candidate runs a config may halt', probability('--max-false-alarm'), 0.05)
    .option('--out <file>', 'write the recommended gate file here, with the evidence in its header')
    .option('--runs <n>', `runs per scenario (overrides the scenarios' runs); at most ${MAX_RUNS_PER_PROCESS.checks} in all`, positiveInt('--runs', { value: MAX_RUNS, why: 'runs are numbered with 32-bit integers' }))
    .option('--seed <n>', "base seed (overrides the scenarios' seed)", nonNegativeInt('--seed'))
    .option('--workers <n>', 'worker threads', positiveInt('--workers'), defaultWorkers())
    .option('--budget <n>', 'most combinations to judge; a larger grid is searched by coordinate descent', positiveInt('--budget'), 5000)
    .addOption(engineOption())
    .option('--db <file>', 'DuckDB file the results accumulate in', DEFAULT_DB)
    .option('--json', 'print the result as JSON on stdout')
    .option('--quiet', 'no progress bar and no table')
    .addHelpText(
      'after',
      `
Example:
  rehearse tune scenarios/ --gates scenarios/gates/noise-aware.yaml \\
    --vary cost_per_request.max_ratio=1.1:1.4:0.05 --vary cost_per_request.sustained=1:3:1 \\
    --max-false-alarm 0.1 --out gates/tuned.yaml`,
    )
    .action(action(runTune));
}

function scenarioRows(score: ConfigScore): string[][] {
  return score.scenarios.map((s) => [
    s.scenario,
    s.falseAlarm !== null ? `false alarm ${percent(s.falseAlarm)}` : `detected ${percent(s.detection!)}`,
    `expectation met ${percent(s.met)}${s.meetsExpectation ? '' : ' (short)'}`,
    s.medianHaltStage === null ? '—' : `median stage ${s.medianHaltStage}`,
    `${integer(s.meanCanaryRequests)} canary req`,
  ]);
}

/**
 * The gate file to sweep: --gates, or else the one every scenario with an `expect` names (DESIGN:
 * --gates overrides the scenarios' gates). Scenarios that judge by different gates have no one
 * file to tune: named, exit 2.
 */
function gatesToTune(paths: string[], gates: string | undefined): GateConfig {
  if (gates !== undefined) return loadGateFile(gates);
  const judged = loadScenarios(paths).filter((s) => s.expect);
  const sources = [...new Set(judged.map((s) => (s.gates ? (s.gates.label === 'inline' ? `inline (${s.name})` : s.gates.source) : `none (${s.name})`)))];
  const only = judged[0]?.gates;
  if (sources.length === 1 && only && only.label !== 'inline') return only;
  const shown = sources.slice(0, 4).map((x) => (x.startsWith('inline') || x.startsWith('none') ? x : displayPath(x)));
  throw new UserError(
    `tune sweeps one gate file, and ${judged.length ? `the scenarios with \`expect\` name ${sources.length === 1 ? '' : `${sources.length}: `}${shown.join(', ')}${sources.length > 4 ? ', …' : ''}` : 'no scenario has `expect`'}: name the one to tune with --gates`,
  );
}

async function runTune(paths: string[], opts: TuneOptions): Promise<number> {
  const base: GateConfig = gatesToTune(paths, opts.gates);
  let dimensions: Dimension[];
  try {
    dimensions = opts.vary.map((v) => parseVary(v, base));
    checkGridSize(dimensions);
  } catch (err) {
    if (err instanceof VaryError) throw new UserError(err.message);
    throw err;
  }
  const all = await Promise.all(loadScenarios(paths, { gates: base }).map(loadEmpirical));
  const scenarios: Scenario[] = all
    .filter((s) => s.expect)
    .map((s) => ({ ...s, runs: opts.runs ?? s.runs, seed: opts.seed ?? s.seed }));
  if (scenarios.length === 0) throw new UserError(`${paths.join(' ')}: no scenario has \`expect\`; tune needs clean candidates (expect promote) and regressions to weigh`);
  // Every run's windows stay in memory to be judged under each combination: the same bound as
  // simulate's with checks, and tune has no shards to split beyond it.
  const runsInAll = scenarios.reduce((n, s) => n + s.runs, 0);
  if (runsInAll > MAX_RUNS_PER_PROCESS.checks) {
    const from = opts.runs !== undefined ? `--runs ${opts.runs}` : "the scenarios' runs";
    throw new UserError(`${from}: tune would simulate ${runsInAll} runs in all; it keeps every run's windows in memory and takes at most ${MAX_RUNS_PER_PROCESS.checks}: lower --runs`);
  }
  for (const s of scenarios) checkPerRequestWindows(s, [base], opts.engine);
  const needs = needsOf([base]);

  const store = await Store.open(opts.db);
  const invocation = await startInvocation(store, 'tune', { paths, ...opts });
  const uninterruptible = interruptible(store, invocation);
  try {
    const started = Date.now();
    const totalRuns = scenarios.reduce((n, s) => n + s.runs, 0);
    const progress = new Progress(totalRuns, 'simulating once', Boolean(opts.quiet || opts.json));
    const tuning: TuningScenario[] = [];
    for (const s of scenarios) {
      const windows = await simulateWindowsOnPool(s, needs, 0, s.runs, { workers: opts.workers, engine: opts.engine, onRuns: (n) => progress.add(n) });
      tuning.push({ name: s.name, expect: s.expect!, schedule: checkSchedule(s.stages, s.checkEveryMinutes), windows });
    }
    progress.end();
    const simulated = (Date.now() - started) / 1000;

    const judgingStarted = Date.now();
    const result = searchCombinations(dimensions, (c) => scoreConfig(tuning, applyCombination(base, dimensions, c), opts.maxFalseAlarm), opts.budget);
    const scores = result.evaluated.map((e) => e.score);
    const front = paretoFront(scores);
    const best = recommend(scores);
    const judged = (Date.now() - judgingStarted) / 1000;

    // Re-measure the recommendation on seeds the choice never saw: the in-sample figures flatter it.
    let fresh: { scenario: string; clean: boolean; share: number; low: number; high: number; runs: number }[] = [];
    let tuned: GateConfig | null = null;
    if (best !== null) {
      tuned = { ...applyCombination(base, dimensions, result.evaluated[best]!.combination), label: 'tuned' };
      const freshScenarios = scenarios.map((s) => ({ ...s, seed: s.seed + FRESH_SEED_OFFSET }));
      const rerun = await simulate({ scenarios: freshScenarios, gateConfigs: [tuned], workers: opts.workers, recordChecks: false, engine: opts.engine });
      await writeSimulation(store, invocation, rerun);
      fresh = rerun.map((r) => {
        let halted = 0;
        let runs = 0;
        for (const b of r.batches) {
          for (let i = 0; i < b.outcomes.run.length; i++) {
            runs++;
            if (OUTCOME_CODES[b.outcomes.outcome[i]!] !== 'promote') halted++;
          }
        }
        const { low, high } = wilsonInterval(halted, runs);
        return { scenario: r.scenario.name, clean: r.scenario.expect!.outcome === 'promote', share: halted / runs, low, high, runs };
      });
    }

    const a = await store.appender('tune_results');
    const frontSet = new Set(front);
    result.evaluated.forEach((e, i) => {
      a.appendVarchar(invocation);
      a.appendInteger(i);
      a.appendVarchar(JSON.stringify(Object.fromEntries(dimensions.map((d, k) => [`${d.gate}.${d.field}`, e.combination[k]]))));
      a.appendVarchar(describeCombination(dimensions, e.combination));
      a.appendDouble(e.score.falseAlarm);
      a.appendDouble(e.score.detection);
      a.appendDouble(e.score.exposure);
      a.appendBoolean(e.score.feasible);
      a.appendDouble(e.score.violation);
      a.appendBoolean(frontSet.has(i));
      a.appendBoolean(i === best);
      a.appendVarchar(JSON.stringify(snakeKeys(e.score.scenarios)));
      a.endRow();
    });
    a.flushSync();
    a.closeSync();
    await finishInvocation(store, invocation, 'ok');

    const setting = (i: number) => describeCombination(dimensions, result.evaluated[i]!.combination);
    // The recommendation's clean runs on seeds it was not chosen on: over the budget, it overfits.
    const freshWithinBudget = fresh.every((f) => !f.clean || f.share <= opts.maxFalseAlarm);
    const evidence: string[] = [];
    if (best !== null && tuned) {
      const s = scores[best]!;
      evidence.push(
        `Tuned by \`rehearse tune\` from ${base.source}, over ${scenarios.map((x) => x.name).join(', ')}`,
        `(${scenarios.map((x) => x.runs).join('/')} runs, seeds ${[...new Set(scenarios.map((x) => x.seed))].join('/')}; every config judged on the same simulated runs).`,
        `Varied: ${dimensions.map((d) => `${d.gate}.${d.field} in [${d.values.join(', ')}]`).join('; ')}.`,
        `Search: ${result.strategy}, ${result.evaluated.length} of ${result.gridSize} combinations judged; ${front.length} on the Pareto front.`,
        `Recommended: ${setting(best)}: the fewest canary requests exposed on regressions (mean ${integer(s.exposure)})`,
        `with every false-alarm rate within ${percent(opts.maxFalseAlarm)} and every expectation met.`,
        `In-sample: worst false alarm ${percent(s.falseAlarm, 1)}, worst detection ${percent(s.detection, 1)}.`,
        ...s.scenarios.map((x) => `  ${x.scenario}: ${x.falseAlarm !== null ? `false alarm ${percent(x.falseAlarm, 1)}` : `detected ${percent(x.detection!, 1)}`}, expectation met ${percent(x.met, 1)}, median halt stage ${x.medianHaltStage ?? '—'}`),
        `Fresh seeds (seed + ${FRESH_SEED_OFFSET}), not used for the choice:`,
        ...fresh.map((f) => `  ${f.scenario}: ${f.clean ? 'false alarm' : 'detected'} ${percent(f.share, 1)} (95% CI ${percent(f.low, 1)}–${percent(f.high, 1)}, ${f.runs} runs)`),
        ...(freshWithinBudget ? [] : ['WARNING: on fresh seeds a false-alarm rate exceeds the budget; tune on more runs.']),
        '',
      );
      if (opts.out) {
        makeFolders(path.dirname(path.resolve(opts.out)));
        writeFileSync(opts.out, tunedGateFile(tuned, evidence, base));
      }
    }

    if (opts.json) {
      process.stdout.write(
        JSON.stringify(
          {
            invocation_id: invocation,
            db: opts.db,
            strategy: result.strategy,
            combinations: result.evaluated.length,
            grid: result.gridSize,
            recommended: best === null ? null : snakeKeys({ setting: setting(best), ...scores[best]!, fresh, freshWithinBudget }),
            pareto: front.map((i) => ({ setting: setting(i), false_alarm: scores[i]!.falseAlarm, detection: scores[i]!.detection, exposure: scores[i]!.exposure, feasible: scores[i]!.feasible })),
            out: best !== null ? (opts.out ?? null) : null,
          },
          null,
          2,
        ) + '\n',
      );
      return 0;
    }
    if (!opts.quiet) {
      process.stdout.write(
        `${pc.bold('rehearse tune')}: ${scenarios.length} scenarios, ${totalRuns} runs simulated once in ${simulated.toFixed(1)}s; ${result.evaluated.length} of ${result.gridSize} combinations judged (${result.strategy}) in ${judged.toFixed(1)}s\n\n`,
      );
      const shown = front.slice(0, 20);
      process.stdout.write(`Pareto front (${front.length} configs${front.length > shown.length ? `, first ${shown.length} shown` : ''}):\n`);
      process.stdout.write(
        renderTable(
          ['setting', 'worst false alarm', 'worst detection', 'mean canary req', 'feasible'],
          shown.map((i) => [setting(i), percent(scores[i]!.falseAlarm, 1), percent(scores[i]!.detection, 1), integer(scores[i]!.exposure), scores[i]!.feasible ? (i === best ? pc.green('recommended') : 'yes') : 'no']),
          [false, true, true, true, false],
        ) + '\n\n',
      );
      if (best !== null) {
        process.stdout.write(`${pc.green('Recommended')}: ${setting(best)}\n`);
        process.stdout.write(renderTable(['scenario', 'in-sample', 'expectation', 'halt', 'exposed'], scenarioRows(scores[best]!)) + '\n\n');
        process.stdout.write(`On fresh seeds (seed + ${FRESH_SEED_OFFSET}):\n`);
        for (const f of fresh) process.stdout.write(`  ${f.scenario}: ${f.clean ? 'false alarm' : 'detected'} ${percent(f.share, 1)} (95% CI ${percent(f.low, 1)}–${percent(f.high, 1)})\n`);
        if (!freshWithinBudget) process.stdout.write(`${pc.yellow('WARNING')}: on fresh seeds a false-alarm rate exceeds the budget (${percent(opts.maxFalseAlarm)}): the choice fits these runs more than the candidate; tune on more runs.\n`);
      } else {
        const c = closest(scores);
        process.stdout.write(`${pc.red('No config')} keeps every false alarm within ${percent(opts.maxFalseAlarm)} and meets every expectation. Closest: ${setting(c)}\n`);
        process.stdout.write(renderTable(['scenario', 'in-sample', 'expectation', 'halt', 'exposed'], scenarioRows(scores[c]!)) + '\n');
      }
      process.stdout.write('\n');
    }
    if (best !== null && opts.out) process.stdout.write(`Tuned gate file: ${opts.out}\n`);
    if (best === null && opts.out) process.stdout.write(`No tuned gate file written (nothing feasible).\n`);
    process.stdout.write(
      `Results: ${opts.db} (invocation ${invocation})\n  tables tune_results${best !== null ? ', outcomes (fresh-seed re-run, gate_config tuned)' : ''}; for example:\n` +
        `  npx rehearse query --db ${opts.db} "SELECT setting, false_alarm, detection, canary_requests FROM tune_results WHERE invocation_id = '${invocation}' AND pareto ORDER BY false_alarm"\n`,
    );
    return 0;
  } catch (err) {
    await finishInvocation(store, invocation, 'failed').catch(() => undefined);
    throw err;
  } finally {
    uninterruptible();
    store.close();
  }
}
