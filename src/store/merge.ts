import { existsSync, rmSync } from 'node:fs';
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

/** Where a merge's rows come from: the output file's own (schema '') or an attached shard. */
interface Source {
  label: string;
  prefix: string;
  hasScenarios: boolean;
}

type Row = Record<string, unknown>;

const shown = (v: unknown) => {
  const text = v === undefined ? 'absent' : JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** The first place two JSON values differ, as `a.b[2]`, key order ignored; null when equal. */
function firstDifference(a: unknown, b: unknown, at = ''): { at: string; a: unknown; b: unknown } | null {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = firstDifference((a as Row)[k], (b as Row)[k], at ? `${at}.${k}` : k);
      if (d) return d;
    }
    return null;
  }
  return Object.is(a, b) ? null : { at, a, b };
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * What identifies the job a shard ran, from its recorded arguments: anything that changes which
 * rows it writes. Scenario-level settings (seed, runs, the gates) are compared on the scenarios
 * rows instead, where they are recorded as they took effect.
 */
function jobOf(inv: Row): [field: string, value: string][] {
  const args = (parseJson(inv.args) ?? {}) as Row;
  const shard = typeof args.shard === 'string' ? args.shard.split('/')[1] : undefined;
  return [
    ['command', String(inv.command)],
    ['version', String(inv.version)],
    ['the shard count (--shard i/n)', shard === undefined ? 'unsharded' : `n = ${shard}`],
    // auto is exact (src/sim/engine.ts): only sample draws differently.
    ['--engine', args.engine === 'sample' ? 'sample' : 'exact (or auto)'],
    ['--no-checks', args.checks === false ? 'given' : 'not given'],
  ];
}

const refusal = 'shards of one invocation must be simulated from the same scenarios with the same options, or the merge would not equal one unsharded run; nothing was merged';

/**
 * Refuses shards of one invocation that ran different jobs: other seeds, run counts, scenario
 * definitions, engines or shard counts. Joined, they would pass for one run that never happened.
 * The output file's earlier rows count as a source too, so merging shard by shard is held to it.
 */
async function checkSameJob(c: Store['connection'], sources: readonly Source[]): Promise<void> {
  const invocations: { source: Source; row: Row }[] = [];
  const scenarios: { source: Source; row: Row }[] = [];
  for (const source of sources) {
    // A hand-made or foreign table without these columns is the file's problem, not an internal error.
    const read = async (table: string, columns: string) => {
      try {
        return (await c.runAndReadAll(`SELECT ${columns} FROM ${source.prefix}${table}`)).getRowObjectsJson() as Row[];
      } catch (err) {
        throw new UserError(`${source.label}: cannot read its ${table} table as a rehearse results file (${(err as Error).message.split('\n')[0]})`);
      }
    };
    for (const row of await read('invocations', 'invocation_id, command, version, args::VARCHAR AS args')) invocations.push({ source, row });
    if (!source.hasScenarios) continue;
    for (const row of await read('scenarios', 'invocation_id, scenario, gate_config, seed::VARCHAR AS seed, runs, file, definition::VARCHAR AS definition')) {
      scenarios.push({ source, row });
    }
  }
  // Only invocations a shard brings in: what the output file already holds is not this merge's to judge alone.
  const incoming = new Set(invocations.filter((x) => x.source.prefix !== '').map((x) => String(x.row.invocation_id)));

  const firstInvocation = new Map<string, { source: Source; job: [string, string][] }>();
  for (const { source, row } of invocations) {
    const id = String(row.invocation_id);
    if (!incoming.has(id)) continue;
    const job = jobOf(row);
    const first = firstInvocation.get(id);
    if (!first) {
      firstInvocation.set(id, { source, job });
      continue;
    }
    const k = job.findIndex(([, v], i) => v !== first.job[i]![1]);
    if (k >= 0) {
      throw new UserError(
        `${first.source.label} and ${source.label} disagree on invocation ${id}: ${job[k]![0]} is ${first.job[k]![1]} in ${first.source.label} but ${job[k]![1]} in ${source.label}; ${refusal}`,
      );
    }
  }

  const key = (r: Row) => `${String(r.invocation_id)}\u0000${String(r.scenario)}\u0000${String(r.gate_config)}`;
  const what = (r: Row) => `scenario ${String(r.scenario)} (gates ${String(r.gate_config)}, invocation ${String(r.invocation_id)})`;
  const firstScenario = new Map<string, { source: Source; row: Row }>();
  const keysBySource = new Map<string, Map<Source, Set<string>>>();
  for (const entry of scenarios) {
    const { source, row } = entry;
    const id = String(row.invocation_id);
    if (!incoming.has(id)) continue;
    let bySource = keysBySource.get(id);
    if (!bySource) keysBySource.set(id, (bySource = new Map()));
    if (!bySource.has(source)) bySource.set(source, new Set());
    bySource.get(source)!.add(key(row));
    const first = firstScenario.get(key(row));
    if (!first) {
      firstScenario.set(key(row), entry);
      continue;
    }
    const differ = (field: string, a: string, b: string) =>
      new UserError(`${first.source.label} and ${source.label} disagree on ${what(row)}: ${field} is ${a} in ${first.source.label} but ${b} in ${source.label}; ${refusal}`);
    for (const field of ['seed', 'runs'] as const) {
      if (String(first.row[field]) !== String(row[field])) throw differ(field, String(first.row[field]), String(row[field]));
    }
    // Paths are not compared: they are as each shard's command line gave them, relative to where
    // it ran, and shards of one job run from other folders or checkouts. What was run is compared.
    const d = firstDifference(withoutPaths(parseJson(first.row.definition)), withoutPaths(parseJson(row.definition)));
    if (d) throw differ(`definition${d.at ? (d.at.startsWith('[') ? '' : '.') + d.at : ''}`, shown(d.a), shown(d.b));
  }

  // A scenario one shard ran and another did not would be merged with a share of its runs missing.
  for (const [id, bySource] of keysBySource) {
    const entries = [...bySource];
    for (const [source, keys] of entries) {
      for (const [other, otherKeys] of entries) {
        const lacking = [...keys].find((k) => !otherKeys.has(k));
        if (lacking) {
          const row = firstScenario.get(lacking)!.row;
          throw new UserError(`${source.label} and ${other.label} disagree on invocation ${id}: ${what(row)} is in ${source.label} but not in ${other.label}; ${refusal}`);
        }
      }
    }
  }
}

/** A scenario definition without the paths it was read from (`file`, a gate config's `source`). */
function withoutPaths(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPaths);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([k]) => k !== 'file' && k !== 'source').map(([k, x]) => [k, withoutPaths(x)]));
}

/**
 * Joins shard databases into one. Rows are copied as they are; an invocation recorded by several
 * shards becomes one invocation spanning them. A run present in two shards is an error (the
 * shards overlap), and so are shards of one invocation that ran different jobs; either way nothing
 * is written: a merge never silently duplicates or mixes results.
 */
export async function mergeShards(outFile: string, shardFiles: readonly string[]): Promise<MergeReport> {
  for (const f of shardFiles) if (!existsSync(f)) throw new UserError(`${f}: no such shard database`);
  // A refused merge into a new file leaves no file: an empty results file beside the error read
  // as a merge that worked.
  const created = !existsSync(outFile);
  const store = await Store.open(outFile);
  const c = store.connection;
  let failed = false;
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
    await checkSameJob(c, [
      { label: `${outFile} (merged before)`, prefix: '', hasScenarios: true },
      ...attached.map(({ alias, file, tables }) => ({ label: file, prefix: `${alias}.`, hasScenarios: tables.has('scenarios') })),
    ]);
    await c.run('BEGIN TRANSACTION');
    await c.run('CREATE TEMP TABLE merged_invocations AS SELECT * FROM invocations');
    await c.run('CREATE TEMP TABLE incoming_scenarios AS SELECT * FROM scenarios LIMIT 0');
    for (const { alias, tables } of attached) {
      await c.run(`INSERT INTO merged_invocations BY NAME SELECT * FROM ${alias}.invocations`);
      if (tables.has('scenarios')) await c.run(`INSERT INTO incoming_scenarios BY NAME SELECT * FROM ${alias}.scenarios`);
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
    // One row per scenario and gate config: checkSameJob has found the shards' rows to agree, but
    // not necessarily byte for byte (a definition's key order), so they are not left to DISTINCT.
    await c.run(`INSERT INTO scenarios SELECT DISTINCT ON (invocation_id, scenario, gate_config) * FROM incoming_scenarios i
      WHERE NOT EXISTS (SELECT 1 FROM scenarios e WHERE e.invocation_id = i.invocation_id AND e.scenario = i.scenario AND e.gate_config = i.gate_config)`);
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
    failed = true;
    await c.run('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    store.close();
    if (failed && created) for (const f of [outFile, `${outFile}.wal`]) rmSync(f, { force: true });
  }
}
