import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { UserError } from '../config/errors.js';
import { renderTable } from '../report/table.js';
import { Store, checkDbPath } from '../store/database.js';
import { DuckDBResultReader } from '../store/duckdb.js';
import { DEFAULT_DB, action } from './common.js';

/** DuckDB's statement types SET and VARIABLE_SET (@duckdb/node-bindings' StatementType). */
const SETTINGS = new Set<number>([13, 20]);

function resultTable(reader: DuckDBResultReader): string {
  const headers = reader.columnNames();
  const cells = reader.getRowsJson().map((r) => r.map((v) => (v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v))));
  const right = headers.map((_, i) => cells.length > 0 && cells.every((r) => /^-?[\d.]+(e[-+]?\d+)?$/i.test(r[i]!) || r[i] === 'NULL'));
  return renderTable(headers, cells, right) + `\n(${cells.length} row${cells.length === 1 ? '' : 's'})\n`;
}

export function queryCommand(): Command {
  return new Command('query')
    .description('Run SQL against the results file and print the rows, so no other DuckDB client is needed.')
    .argument('<sql>', 'the query, e.g. "SELECT scenario, outcome, count(*) FROM outcomes GROUP BY ALL"; several statements run in order, each result printed (--json: the last)')
    .option('--db <file>', 'DuckDB file to query', DEFAULT_DB)
    .option('--json', 'print the rows as a JSON array')
    .action(
      action(async (sql: string, opts: { db: string; json?: boolean }) => {
        if (/^[\s;]*$/.test(sql)) throw new UserError('query: no SQL statement given');
        checkDbPath(opts.db);
        if (!existsSync(opts.db)) throw new UserError(`${opts.db}: no such database; run \`rehearse simulate\` first or pass --db <file>`);
        const store = await Store.open(opts.db, { readOnly: true });
        try {
          // Several statements run in order (DuckDB's own client prints each result; the
          // connection's one-call form showed only the first).
          const results: DuckDBResultReader[] = [];
          // Settings (SET, SET VARIABLE) before a query answer only "Success": not printed.
          const shown: DuckDBResultReader[] = [];
          try {
            const statements = await store.connection.extractStatements(sql);
            if (statements.count === 0) throw new UserError('query: no SQL statement given');
            for (let i = 0; i < statements.count; i++) {
              const prepared = await statements.prepare(i);
              try {
                const setting = SETTINGS.has(prepared.statementType);
                const reader = new DuckDBResultReader(await prepared.run());
                await reader.readAll();
                results.push(reader);
                if (!setting || statements.count === 1) shown.push(reader);
              } finally {
                prepared.destroySync();
              }
            }
          } catch (err) {
            if (err instanceof UserError) throw err;
            throw new UserError(`query failed: ${(err as Error).message.split('\n')[0]}`);
          }
          if (opts.json) {
            // The last result worth printing: a trailing SET answers only "Success".
            process.stdout.write(JSON.stringify((shown.at(-1) ?? results.at(-1)!).getRowObjectsJson(), null, 2) + '\n');
          } else {
            process.stdout.write(shown.map(resultTable).join('\n'));
          }
        } finally {
          store.close();
        }
      }),
    );
}
