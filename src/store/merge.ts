import { existsSync } from 'node:fs';
import { UserError } from '../config/errors.js';
import { Store } from './database.js';

export interface MergeReport {
  shards: number;
  invocations: { invocation_id: string; shards: string[]; missing: string[]; runs: number }[];
}

const RESULT_TABLES = ['outcomes', 'checks', 'check_results'] as const;

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * Joins shard databases into one. Rows are copied as they are; an invocation recorded by several
 * shards becomes one invocation spanning them. A run present in two shards is an error (the
 * shards overlap) and nothing is written: a merge never silently duplicates a result.
 */
export async function mergeShards(outFile: string, shardFiles: readonly string[]): Promise<MergeReport> {
  for (const f of shardFiles) if (!existsSync(f)) throw new UserError(`${f}: no such shard database`);
  const store = await Store.open(outFile);
  const c = store.connection;
  try {
    // Attach every shard before the transaction: DuckDB cannot detach inside one.
    const attached: { alias: string; file: string; tables: Set<string> }[] = [];
    for (const [i, file] of shardFiles.entries()) {
      const alias = `shard${i}`;
      try {
        await c.run(`ATTACH ${sqlString(file)} AS ${alias} (READ_ONLY)`);
      } catch (err) {
        throw new UserError(`${file}: cannot open as a shard database (${(err as Error).message.split('\n')[0]})`);
      }
      const tables = new Set(
        (await c.runAndReadAll(`SELECT table_name FROM duckdb_tables() WHERE database_name = '${alias}'`)).getRowsJson().map((r) => String(r[0])),
      );
      if (!tables.has('invocations') || !tables.has('outcomes')) throw new UserError(`${file}: not a rehearse results file (no invocations or outcomes table)`);
      attached.push({ alias, file, tables });
    }
    await c.run('BEGIN TRANSACTION');
    await c.run('CREATE TEMP TABLE merged_invocations AS SELECT * FROM invocations');
    await c.run('CREATE TEMP TABLE merged_scenarios AS SELECT * FROM scenarios');
    for (const { alias, tables } of attached) {
      await c.run(`INSERT INTO merged_invocations BY NAME SELECT * FROM ${alias}.invocations`);
      if (tables.has('scenarios')) await c.run(`INSERT INTO merged_scenarios BY NAME SELECT * FROM ${alias}.scenarios`);
      for (const t of RESULT_TABLES) if (tables.has(t)) await c.run(`INSERT INTO ${t} BY NAME SELECT * FROM ${alias}.${t}`);
    }
    const dup = (
      await c.runAndReadAll(
        `SELECT invocation_id, scenario, gate_config, run FROM outcomes GROUP BY ALL HAVING count(*) > 1 LIMIT 1`,
      )
    ).getRowObjectsJson()[0];
    if (dup) {
      throw new UserError(
        `shards overlap: run ${dup.run} of scenario ${dup.scenario} (gates ${dup.gate_config}, invocation ${dup.invocation_id}) is in more than one file; give each shard a distinct --shard i/n, and merge each file once`,
      );
    }
    await c.run('DELETE FROM scenarios');
    await c.run('INSERT INTO scenarios SELECT DISTINCT * FROM merged_scenarios');
    await c.run('DELETE FROM invocations');
    await c.run(`INSERT INTO invocations
      SELECT invocation_id, any_value(command), any_value(args), min(started_at), max(finished_at),
             CASE WHEN bool_and(status = 'ok') THEN 'ok' ELSE min(status) FILTER (WHERE status <> 'ok') END,
             any_value(version)
      FROM merged_invocations GROUP BY invocation_id`);
    const rows = (
      await c.runAndReadAll(`
        SELECT i.invocation_id,
               list(DISTINCT json_extract_string(i.args, '$.shard')) FILTER (WHERE json_extract_string(i.args, '$.shard') IS NOT NULL) AS shards,
               (SELECT count(*) FROM outcomes o WHERE o.invocation_id = i.invocation_id)::INT AS runs
        FROM merged_invocations i GROUP BY i.invocation_id ORDER BY i.invocation_id`)
    ).getRowObjectsJson();
    await c.run('COMMIT');
    return {
      shards: shardFiles.length,
      invocations: rows.map((r) => {
        // By index: 0/12, 1/12, 2/12 … 11/12, not as text (0, 1, 10, 11, 2 …).
        const shards = ((r.shards as string[] | null) ?? []).sort((a, b) => Number(a.split('/')[0]) - Number(b.split('/')[0]));
        const count = shards.length ? Number(shards[0]!.split('/')[1]) : 0;
        const missing = Array.from({ length: count }, (_, k) => `${k}/${count}`).filter((s) => !shards.includes(s));
        return { invocation_id: String(r.invocation_id), shards, missing, runs: Number(r.runs) };
      }),
    };
  } catch (err) {
    await c.run('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    store.close();
  }
}
