import path from 'node:path';
import { type DuckDBAppender, type DuckDBConnection, DuckDBInstance } from './duckdb.js';
import { UserError } from '../config/errors.js';
import { makeFolders } from './folders.js';

/**
 * The one DuckDB file every invocation accumulates into. Tables are created on first use and
 * only ever gain columns, so a file written by an older version stays readable.
 */

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS invocations (
  invocation_id VARCHAR PRIMARY KEY,
  command VARCHAR NOT NULL,
  args JSON,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ,
  status VARCHAR NOT NULL,
  version VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS scenarios (
  invocation_id VARCHAR NOT NULL,
  scenario VARCHAR NOT NULL,
  file VARCHAR,
  description VARCHAR,
  gate_config VARCHAR NOT NULL,
  runs INTEGER NOT NULL,
  seed BIGINT NOT NULL,
  definition JSON
);
CREATE TABLE IF NOT EXISTS outcomes (
  invocation_id VARCHAR NOT NULL,
  scenario VARCHAR NOT NULL,
  gate_config VARCHAR NOT NULL,
  run INTEGER NOT NULL,
  seed BIGINT NOT NULL,
  outcome VARCHAR NOT NULL,
  halted_stage INTEGER,
  halted_percent DOUBLE,
  gate VARCHAR,
  detected_minute DOUBLE,
  canary_requests BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS checks (
  invocation_id VARCHAR NOT NULL,
  scenario VARCHAR NOT NULL,
  gate_config VARCHAR NOT NULL,
  run INTEGER NOT NULL,
  stage INTEGER NOT NULL,
  minute DOUBLE NOT NULL,
  gate VARCHAR NOT NULL,
  canary_value DOUBLE,
  baseline_value DOUBLE,
  canary_n BIGINT NOT NULL,
  p_value DOUBLE,
  breached BOOLEAN,
  fired BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS tune_results (
  invocation_id VARCHAR NOT NULL,
  config INTEGER NOT NULL,
  params JSON NOT NULL,
  setting VARCHAR NOT NULL,
  false_alarm DOUBLE NOT NULL,
  detection DOUBLE NOT NULL,
  canary_requests DOUBLE NOT NULL,
  feasible BOOLEAN NOT NULL,
  violation DOUBLE NOT NULL,
  pareto BOOLEAN NOT NULL,
  recommended BOOLEAN NOT NULL,
  scenarios JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS replay_requests (
  invocation_id VARCHAR NOT NULL,
  request_id VARCHAR NOT NULL,
  row_index BIGINT,
  timestamp_ms DOUBLE,
  session_id VARCHAR,
  tenant VARCHAR,
  route VARCHAR,
  model VARCHAR,
  input_tokens DOUBLE,
  baseline_latency_ms DOUBLE,
  candidate_latency_ms DOUBLE,
  baseline_ttft_ms DOUBLE,
  candidate_ttft_ms DOUBLE,
  baseline_output_tokens DOUBLE,
  candidate_output_tokens DOUBLE,
  candidate_input_tokens DOUBLE,
  baseline_cost_usd DOUBLE,
  candidate_cost_usd DOUBLE,
  baseline_status VARCHAR,
  candidate_status VARCHAR NOT NULL,
  baseline_refusal BOOLEAN,
  candidate_refusal BOOLEAN,
  baseline_feedback DOUBLE,
  similarity DOUBLE,
  schema_valid BOOLEAN,
  finish_reason VARCHAR,
  error VARCHAR,
  attempts INTEGER,
  sent_offset_ms DOUBLE,
  candidate_model VARCHAR
);
CREATE TABLE IF NOT EXISTS replay_gates (
  invocation_id VARCHAR NOT NULL,
  gate VARCHAR NOT NULL,
  segment_kind VARCHAR,
  segment VARCHAR,
  requests BIGINT NOT NULL,
  baseline_value DOUBLE,
  candidate_value DOUBLE,
  p_value DOUBLE,
  breached BOOLEAN,
  action VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS trace_errors (
  invocation_id VARCHAR NOT NULL,
  row_index BIGINT,
  request_id VARCHAR,
  reason VARCHAR NOT NULL,
  raw VARCHAR
);
CREATE TABLE IF NOT EXISTS check_results (
  invocation_id VARCHAR NOT NULL,
  scenario VARCHAR NOT NULL,
  gate_config VARCHAR NOT NULL,
  expected VARCHAR NOT NULL,
  probability DOUBLE NOT NULL,
  runs INTEGER NOT NULL,
  met INTEGER NOT NULL,
  share DOUBLE NOT NULL,
  ci_low DOUBLE NOT NULL,
  ci_high DOUBLE NOT NULL,
  passed BOOLEAN NOT NULL,
  message VARCHAR NOT NULL
);
`;

export class Store {
  private constructor(
    readonly file: string,
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
  ) {}

  /**
   * Opens (creating if needed) the database file; a file locked by another process is exit 2, and
   * so is, for writing, a DuckDB file whose tables rehearse cannot append to.
   */
  static async open(file: string, options: { readOnly?: boolean; memoryLimit?: string } = {}): Promise<Store> {
    checkDbPath(file);
    let instance: DuckDBInstance;
    try {
      if (!options.readOnly) makeFolders(path.dirname(path.resolve(file)));
      instance = await DuckDBInstance.create(file, {
        ...(options.readOnly ? { access_mode: 'READ_ONLY' } : {}),
        ...(options.memoryLimit ? { memory_limit: options.memoryLimit } : {}),
      });
    } catch (err) {
      throw storeError(file, err);
    }
    const connection = await instance.connect();
    const store = new Store(file, instance, connection);
    if (!options.readOnly) {
      try {
        await prepareSchema(file, connection);
      } catch (err) {
        store.close();
        throw err;
      }
    }
    return store;
  }

  async run(sql: string): Promise<void> {
    await this.connection.run(sql);
  }

  async appender(table: string): Promise<DuckDBAppender> {
    return this.connection.createAppender(table);
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/**
 * DuckDB takes an empty path for an in-memory database, so an unset variable (`--db "$DB"`) would
 * throw every result away and still report success.
 */
export function checkDbPath(file: string): void {
  if (file.trim() === '') throw new UserError('--db: empty path');
  // DuckDB takes it for a database in memory: the results would be gone when the command ends.
  if (file.trim().startsWith(':memory:')) throw new UserError(`--db ${file}: keeps results in memory only, and they would be lost when the command ends; give a file`);
}

interface Column {
  name: string;
  type: string;
}

/** Each table of a database's main schema (the file's own when none is named), its columns in order. */
async function columnsOf(connection: DuckDBConnection, database?: string): Promise<Map<string, Column[]>> {
  const reader = await connection.runAndReadAll(
    `SELECT t.table_name, c.column_name, c.data_type
       FROM duckdb_tables() t LEFT JOIN duckdb_columns() c USING (database_name, schema_name, table_name)
      WHERE t.database_name = ${database === undefined ? 'current_database()' : '$db'} AND t.schema_name = 'main'
      ORDER BY t.table_name, c.column_index`,
    database === undefined ? {} : { db: database },
  );
  const tables = new Map<string, Column[]>();
  for (const [table, name, type] of reader.getRowsJson()) {
    const list = tables.get(String(table)) ?? [];
    if (name !== null) list.push({ name: String(name), type: String(type) });
    tables.set(String(table), list);
  }
  return tables;
}

/**
 * The columns SCHEMA_SQL declares, as DuckDB spells their types (TIMESTAMPTZ reads back as
 * TIMESTAMP WITH TIME ZONE): read from a scratch in-memory database rather than parsed by hand.
 */
let declaredAttachments = 0;

async function declaredColumns(connection: DuckDBConnection): Promise<Map<string, Column[]>> {
  // A name no results file takes: DuckDB names a file's own catalog after the file.
  const alias = `rehearse_declared_${process.pid}_${++declaredAttachments}`;
  await connection.run(`ATTACH ':memory:' AS ${alias}`);
  try {
    await connection.run(SCHEMA_SQL.replace(/CREATE TABLE IF NOT EXISTS /g, `CREATE TABLE ${alias}.`));
    return await columnsOf(connection, alias);
  } finally {
    await connection.run(`DETACH ${alias}`);
  }
}

const describeColumn = (c: Column | undefined) => (c ? `${c.name} ${c.type}` : 'nothing');

/**
 * Makes the file ready for rehearse's rows. Appenders and INSERT … VALUES write by position, so
 * a table must have exactly the declared columns in order; a table that has only the leading ones
 * (a file from an older version: tables only ever gain columns, at the end) gains the rest. Any
 * other shape, or a file of other tables only, belongs to someone else and is refused before a
 * single row is written.
 */
async function prepareSchema(file: string, connection: DuckDBConnection): Promise<void> {
  const found = await columnsOf(connection);
  if (found.size > 0) {
    const declared = await declaredColumns(connection);
    const refuse = (why: string) =>
      new UserError(`${file}: not a rehearse results file (${why}); use a new file, or one rehearse wrote`);
    // Tables of the user's own (a trace kept beside the results) are left alone.
    const ours = [...found.keys()].filter((t) => declared.has(t));
    const missing: { table: string; columns: Column[] }[] = [];
    for (const table of ours) {
      const have = found.get(table)!;
      const want = declared.get(table)!;
      const i = have.findIndex((c, k) => c.name !== want[k]?.name || c.type !== want[k]?.type);
      if (i >= 0) {
        throw refuse(`table ${table}: column ${i + 1} is ${describeColumn(have[i])} where rehearse writes ${describeColumn(want[i])}`);
      }
      if (have.length < want.length) missing.push({ table, columns: want.slice(have.length) });
    }
    for (const { table, columns } of missing) {
      for (const c of columns) await connection.run(`ALTER TABLE ${table} ADD COLUMN ${c.name} ${c.type}`);
    }
  }
  await connection.run(SCHEMA_SQL);
}

/** Turns DuckDB's open errors into messages that say what to do. */
export function storeError(file: string, err: unknown): UserError {
  const message = err instanceof Error ? err.message : String(err);
  if (/lock/i.test(message)) {
    const pid = /PID (\d+)/.exec(message)?.[1];
    return new UserError(
      `${file}: the database is in use by another process${pid ? ` (PID ${pid})` : ''}; wait for it to finish, or pass --db <another file>`,
    );
  }
  if (/not a valid DuckDB database|database file .* (is not|corrupt)|Invalid Input Error.*file/i.test(message)) {
    return new UserError(`${file}: not a DuckDB database (${message.split('\n')[0]})`);
  }
  if (/No such file|does not exist|Cannot open/i.test(message)) {
    return new UserError(`${file}: cannot open the database (${message.split('\n')[0]})`);
  }
  return new UserError(`${file}: ${message.split('\n')[0]}`);
}

export function appendNullable(appender: DuckDBAppender, value: number | null | undefined, kind: 'double' | 'integer'): void {
  if (value === null || value === undefined || Number.isNaN(value)) appender.appendNull();
  else if (kind === 'integer') appender.appendInteger(value);
  else appender.appendDouble(value);
}
