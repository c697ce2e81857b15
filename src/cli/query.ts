import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { UserError } from '../config/errors.js';
import { renderTable } from '../report/table.js';
import { Store, checkDbPath } from '../store/database.js';
import { DEFAULT_DB, action } from './common.js';

export function queryCommand(): Command {
  return new Command('query')
    .description('Run SQL against the results file and print the rows, so no other DuckDB client is needed.')
    .argument('<sql>', 'the query, e.g. "SELECT scenario, outcome, count(*) FROM outcomes GROUP BY ALL"')
    .option('--db <file>', 'DuckDB file to query', DEFAULT_DB)
    .option('--json', 'print the rows as a JSON array')
    .action(
      action(async (sql: string, opts: { db: string; json?: boolean }) => {
        checkDbPath(opts.db);
        if (!existsSync(opts.db)) throw new UserError(`${opts.db}: no such database; run \`rehearse simulate\` first or pass --db <file>`);
        const store = await Store.open(opts.db, { readOnly: true });
        try {
          let reader;
          try {
            reader = await store.connection.runAndReadAll(sql);
          } catch (err) {
            throw new UserError(`query failed: ${(err as Error).message.split('\n')[0]}`);
          }
          const rows = reader.getRowObjectsJson();
          if (opts.json) {
            process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          } else {
            const headers = reader.columnNames();
            const cells = reader.getRowsJson().map((r) => r.map((v) => (v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v))));
            const right = headers.map((_, i) => cells.length > 0 && cells.every((r) => /^-?[\d.]+(e[-+]?\d+)?$/i.test(r[i]!) || r[i] === 'NULL'));
            process.stdout.write(renderTable(headers, cells, right) + `\n(${cells.length} row${cells.length === 1 ? '' : 's'})\n`);
          }
        } finally {
          store.close();
        }
      }),
    );
}
