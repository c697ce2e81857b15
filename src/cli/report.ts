import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { UserError } from '../config/errors.js';
import { htmlReport } from '../report/html/html-report.js';
import { markdownReport } from '../report/markdown-report.js';
import { describeSubject, findInvocation, loadReport } from '../report/report-data.js';
import { Store, checkDbPath } from '../store/database.js';
import { DEFAULT_DB, action, checkOutputPath, nonEmpty } from './common.js';
import { makeFolders } from '../store/folders.js';

interface ReportOptions {
  db: string;
  invocation?: string;
  out?: string;
  json?: boolean;
  quiet?: boolean;
}

export function reportCommand(): Command {
  return new Command('report')
    .description('Write report.md and a self-contained report.html with charts for one invocation recorded in the results file.')
    .option('--db <file>', 'DuckDB file to read', DEFAULT_DB)
    .option('--invocation <id>', 'the invocation to report (default: the latest one)', nonEmpty('--invocation'))
    .option('--out <dir>', 'folder for report.md and report.html, created if missing (default: <db folder>/<invocation id>/)')
    .option('--json', 'print what was written where as JSON on stdout')
    .option('--quiet', 'print nothing but errors')
    .addHelpText(
      'after',
      `
Examples:
  rehearse report                                   the latest invocation in reports/rehearse.duckdb
  rehearse report --db reports/demo.duckdb --out site/
  rehearse report --invocation nightly-42`,
    )
    .action(action(runReport));
}

async function runReport(opts: ReportOptions): Promise<number> {
  checkDbPath(opts.db);
  if (opts.out !== undefined) checkOutputPath('--out', opts.out, 'folder');
  if (!existsSync(opts.db)) throw new UserError(`${opts.db}: no such database; run \`rehearse simulate\` first or pass --db <file>`);
  const store = await Store.open(opts.db, { readOnly: true });
  let data;
  try {
    data = await loadReport(store, await findInvocation(store, opts.invocation));
  } catch (err) {
    // A file whose tables have rehearse's names but not its columns (report opens any file read-only).
    const message = (err as Error)?.message ?? '';
    if (!(err instanceof UserError) && /^(Binder|Catalog|Conversion) Error/.test(message)) {
      throw new UserError(`${opts.db}: not a rehearse results file (its tables lack rehearse's columns: ${message.split('\n')[0]})`);
    }
    throw err;
  } finally {
    store.close();
  }
  const warnings: string[] = [];
  const html = await htmlReport(data, warnings);
  const out = opts.out ?? defaultOutDir(opts.db, data.invocation.id);
  // The default folder is only known now, from the invocation's id.
  if (opts.out === undefined) checkOutputPath('--out', out, 'folder');
  const htmlFile = path.join(out, 'report.html');
  const mdFile = path.join(out, 'report.md');
  try {
    makeFolders(out);
    writeFileSync(htmlFile, html);
    writeFileSync(mdFile, markdownReport(data));
  } catch (err) {
    throw new UserError(`--out ${out}: cannot write the report (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  // Chart warnings mean a chart may be wrong, not that the report failed: say so, once each, on
  // stderr even with --quiet, where problems still belong.
  const unique = [...new Set(warnings)];
  for (const w of unique) process.stderr.write(`rehearse: chart warning: ${w}\n`);
  if (opts.json) {
    process.stdout.write(
      JSON.stringify(
        { invocation_id: data.invocation.id, command: data.invocation.command, db: opts.db, scenarios: data.scenarios.length, out, html: htmlFile, markdown: mdFile, warnings: unique },
        null,
        2,
      ) + '\n',
    );
  } else if (!opts.quiet) {
    process.stdout.write(
      `rehearse report: invocation ${data.invocation.id} (${data.invocation.command}: ${describeSubject(data)})\n` +
        `  ${htmlFile}\n  ${mdFile}\n`,
    );
  }
  return 0;
}

/** Next to the results file, one folder per invocation; ids given by users may hold any character. */
export function defaultOutDir(db: string, invocationId: string): string {
  return path.join(path.dirname(db), invocationId.replace(/[^A-Za-z0-9._-]/g, '_'));
}
