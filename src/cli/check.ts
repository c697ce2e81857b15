import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import pc from 'picocolors';
import { type ExpectationResult, ciPercent, describeExpectation, explain, judgeExpectation, metPercent, requiredPercent } from '../check/expectation.js';
import { UserError } from '../config/errors.js';
import { checkMarkdown } from '../report/check-markdown.js';
import { junitXml } from '../report/junit.js';
import { renderTable } from '../report/table.js';
import type { Store } from '../store/database.js';
import type { SimulatedScenario } from '../store/outcomes.js';
import { action, checkOutputPath, snakeKeys } from './common.js';
import { simulationOptions } from './simulate.js';
import { type SimulationOptions, runSimulationJob, whereResultsWent } from './simulation-job.js';
import { makeFolders } from '../store/folders.js';

interface CheckOptions extends SimulationOptions {
  junit?: string;
  summary?: string;
}

export function checkCommand(): Command {
  return simulationOptions(
    new Command('check')
      .description("The CI gate: simulate every scenario that has `expect`, and fail when a share of runs meeting it falls below its probability.")
      .argument('<paths...>', 'scenario files or folders; scenarios without `expect` are skipped'),
  )
    .option('--junit <file>', 'write a JUnit XML report (one testcase per scenario and gate config)')
    .option('--summary <file>', 'write a Markdown summary (e.g. "$GITHUB_STEP_SUMMARY")')
    .addHelpText(
      'after',
      `
Exit codes: 0 every expectation met, 1 one or more not met, 2 bad input.

Examples:
  rehearse check scenarios/ --gates gates/proposed.yaml --junit reports/check.xml --summary "$GITHUB_STEP_SUMMARY"`,
    )
    .action(action(runCheck));
}

function judgeAll(results: readonly SimulatedScenario[]): ExpectationResult[] {
  return results.flatMap((r) =>
    r.configs.map((config, k) =>
      judgeExpectation(r.scenario.name, config, k, r.scenario.expect!, r.batches.map((b) => b.outcomes)),
    ),
  );
}

async function writeCheckResults(store: Store, invocation: string, results: readonly ExpectationResult[]): Promise<void> {
  const a = await store.appender('check_results');
  for (const r of results) {
    a.appendVarchar(invocation);
    a.appendVarchar(r.scenario);
    a.appendVarchar(r.gateConfig);
    a.appendVarchar(describeExpectation(r.expect));
    a.appendDouble(r.expect.probability);
    a.appendInteger(r.runs);
    a.appendInteger(r.met);
    a.appendDouble(r.share);
    a.appendDouble(r.low);
    a.appendDouble(r.high);
    a.appendBoolean(r.passed);
    a.appendVarchar(explain(r));
    a.endRow();
  }
  a.flushSync();
  a.closeSync();
}

function writeFile(option: string, file: string, text: string): void {
  try {
    makeFolders(path.dirname(path.resolve(file)));
    writeFileSync(file, text);
  } catch (err) {
    // Checked before the simulation; this is the path changing under us since.
    throw new UserError(`${option} ${file}: cannot write (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

async function runCheck(paths: string[], opts: CheckOptions): Promise<number> {
  if (opts.junit !== undefined) checkOutputPath('--junit', opts.junit, { file: 'check.xml' });
  if (opts.summary !== undefined) checkOutputPath('--summary', opts.summary, { file: 'summary.md' });
  let results: ExpectationResult[] = [];
  const job = await runSimulationJob(
    'check',
    paths,
    opts,
    (scenarios) => {
      const withExpect = scenarios.filter((s) => s.expect);
      if (withExpect.length === 0) throw new UserError(`${paths.join(' ')}: no scenario has \`expect\`; check has nothing to check`);
      return withExpect;
    },
    async (store, invocation, simulated) => {
      results = judgeAll(simulated);
      await writeCheckResults(store, invocation, results);
    },
  );
  if (opts.junit) writeFile('--junit', opts.junit, junitXml(results, job.seconds));
  if (opts.summary) writeFile('--summary', opts.summary, checkMarkdown(results));
  const failed = results.filter((r) => !r.passed);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ invocation_id: job.invocation, db: opts.db, passed: failed.length === 0, results: results.map((r) => snakeKeys({ ...r, message: explain(r) })) }, null, 2) + '\n');
    return failed.length ? 1 : 0;
  }
  if (!opts.quiet) {
    const manyConfigs = new Set(results.map((r) => r.gateConfig)).size > 1;
    const rows = results.map((r) => [
      r.passed ? pc.green('pass') : pc.red('FAIL'),
      r.scenario,
      ...(manyConfigs ? [r.gateConfig] : []),
      describeExpectation(r.expect),
      `≥ ${requiredPercent(r.expect.probability)}`,
      metPercent(r.share, r.expect.probability),
      ciPercent(r.low, r.high),
      String(r.runs),
    ]);
    const headers = ['', 'scenario', ...(manyConfigs ? ['gates'] : []), 'expected', 'required', 'met', '95% CI', 'runs'];
    process.stdout.write(renderTable(headers, rows, headers.map((h) => ['required', 'met', '95% CI', 'runs'].includes(h))) + '\n\n');
    for (const r of failed) process.stdout.write(`${pc.red('FAIL')} ${r.scenario}${manyConfigs ? ` (${r.gateConfig})` : ''}: ${explain(r)}\n`);
    process.stdout.write(
      failed.length ? `\n${failed.length} of ${results.length} expectations not met.\n` : `All ${results.length} expectations met.\n`,
    );
  }
  for (const [flag, file] of [['JUnit', opts.junit], ['Summary', opts.summary]] as const) if (file) process.stdout.write(`${flag}: ${file}\n`);
  process.stdout.write(whereResultsWent(opts.db, job.invocation, 'check_results, outcomes, checks, scenarios, invocations'));
  return failed.length ? 1 : 0;
}
