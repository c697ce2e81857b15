import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/config/errors.js';
import { SCHEMA_SQL, Store, appendNullable, storeError } from '../../src/store/database.js';

/**
 * The one DuckDB file: opened (and created) on a real file in a temp folder, schema made on first
 * use and kept on reopening, read-only access, and open errors that name the file (exit 2).
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir: string;
let n = 0;
const fresh = (name = 'db') => path.join(dir, `${name}-${n++}.duckdb`);

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-database-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function rows(store: Store, sql: string): Promise<Record<string, unknown>[]> {
  return (await store.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

async function columnsOf(store: Store, table: string): Promise<string[]> {
  const r = await rows(store, `SELECT column_name FROM information_schema.columns WHERE table_name = '${table}' ORDER BY ordinal_position`);
  return r.map((x) => String(x.column_name));
}

async function tables(store: Store): Promise<string[]> {
  return (await rows(store, `SELECT table_name FROM information_schema.tables ORDER BY table_name`)).map((r) => String(r.table_name));
}

async function errorOf(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error('expected a UserError');
}

/** DESIGN.md's tables and the columns each has "at least". */
const CONTRACT: Record<string, string[]> = {
  invocations: ['invocation_id', 'command', 'args', 'started_at', 'finished_at', 'status', 'version'],
  outcomes: ['invocation_id', 'scenario', 'run', 'seed', 'outcome', 'halted_stage', 'halted_percent', 'gate', 'detected_minute', 'canary_requests'],
  checks: ['invocation_id', 'scenario', 'run', 'stage', 'minute', 'gate', 'canary_value', 'baseline_value', 'canary_n', 'breached', 'fired'],
  replay_requests: [
    'invocation_id', 'request_id', 'baseline_latency_ms', 'candidate_latency_ms', 'baseline_output_tokens', 'candidate_output_tokens',
    'baseline_cost_usd', 'candidate_cost_usd', 'candidate_status',
  ],
  replay_gates: ['invocation_id', 'gate', 'segment', 'baseline_value', 'candidate_value', 'breached'],
};

describe('Store.open', () => {
  it('creates the file, and its missing folders, with every table of the design', async () => {
    const file = path.join(dir, 'nested', 'deeper', 'new.duckdb');
    expect(existsSync(path.dirname(file))).toBe(false);
    const store = await Store.open(file);
    try {
      expect(store.file).toBe(file);
      expect(existsSync(file)).toBe(true);
      const have = await tables(store);
      for (const [table, cols] of Object.entries(CONTRACT)) {
        expect(have).toContain(table);
        expect(await columnsOf(store, table)).toEqual(expect.arrayContaining(cols));
      }
      // …and every table SCHEMA_SQL declares, no more.
      const declared = [...SCHEMA_SQL.matchAll(/CREATE TABLE IF NOT EXISTS (\w+)/g)].map((m) => m[1]!).sort();
      expect(declared.length).toBeGreaterThanOrEqual(Object.keys(CONTRACT).length);
      expect(have).toEqual(declared);
    } finally {
      store.close();
    }
  });

  it('keeps what was written when the file is reopened (creating the schema again changes nothing)', async () => {
    const file = fresh();
    const first = await Store.open(file);
    await first.run(`INSERT INTO invocations VALUES ('inv-1', 'simulate', '{"runs": 3}', TIMESTAMPTZ '2026-01-02 03:04:05+00', NULL, 'running', '0.1.0')`);
    first.close();

    const second = await Store.open(file);
    try {
      expect(await rows(second, `SELECT invocation_id, command, args::VARCHAR AS args, status FROM invocations`)).toEqual([
        { invocation_id: 'inv-1', command: 'simulate', args: '{"runs": 3}', status: 'running' },
      ]);
      expect((await tables(second)).length).toBe([...SCHEMA_SQL.matchAll(/CREATE TABLE/g)].length);
    } finally {
      second.close();
    }
  });

  it('opens a file an older version wrote (a table with only the leading columns): it gains the rest and takes new rows', async () => {
    const file = fresh('older');
    const raw = await DuckDBInstance.create(file);
    const c = await raw.connect();
    // Tables only ever gain columns at the end: an older outcomes table is a prefix of today's.
    await c.run(`CREATE TABLE outcomes (invocation_id VARCHAR, scenario VARCHAR, gate_config VARCHAR, run INTEGER, seed BIGINT, outcome VARCHAR)`);
    await c.run(`INSERT INTO outcomes VALUES ('old', 's', 'g', 0, 1, 'promote')`);
    c.closeSync();
    raw.closeSync();

    const store = await Store.open(file);
    try {
      expect(await columnsOf(store, 'outcomes')).toEqual([
        'invocation_id', 'scenario', 'gate_config', 'run', 'seed', 'outcome', 'halted_stage', 'halted_percent', 'gate', 'detected_minute', 'canary_requests',
      ]);
      expect(await rows(store, `SELECT invocation_id, run, outcome, canary_requests FROM outcomes`)).toEqual([
        { invocation_id: 'old', run: 0, outcome: 'promote', canary_requests: null },
      ]);
      expect(await tables(store)).toEqual(expect.arrayContaining(['invocations', 'checks', 'replay_requests', 'replay_gates']));
      // Appenders write by position: a full row now fits.
      const a = await store.appender('outcomes');
      for (const v of ['new', 's', 'g']) a.appendVarchar(v);
      a.appendInteger(1);
      a.appendBigInt(1n);
      a.appendVarchar('rollback');
      a.appendInteger(1);
      a.appendDouble(5);
      a.appendVarchar('cost');
      a.appendDouble(10);
      a.appendBigInt(42n);
      a.endRow();
      a.flushSync();
      a.closeSync();
      expect(await rows(store, `SELECT canary_requests::INT AS n FROM outcomes WHERE invocation_id = 'new'`)).toEqual([{ n: 42 }]);
    } finally {
      store.close();
    }
  });

  it('opens an existing DuckDB file that holds no table, and makes the schema in it', async () => {
    const file = fresh('empty');
    const raw = await DuckDBInstance.create(file);
    raw.closeSync();
    expect(existsSync(file)).toBe(true);
    const store = await Store.open(file);
    try {
      expect((await tables(store)).length).toBe([...SCHEMA_SQL.matchAll(/CREATE TABLE/g)].length);
    } finally {
      store.close();
    }
  });

  it('read-only: reads the file, creates no table, refuses writes', async () => {
    const file = fresh('ro');
    const raw = await DuckDBInstance.create(file);
    const c = await raw.connect();
    await c.run(`CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)`);
    c.closeSync();
    raw.closeSync();

    const store = await Store.open(file, { readOnly: true });
    try {
      expect(await rows(store, `SELECT x FROM t`)).toEqual([{ x: 7 }]);
      expect(await tables(store)).toEqual(['t']);
      expect(await rows(store, `SELECT current_setting('access_mode') AS m`)).toEqual([{ m: 'read_only' }]);
      await expect(store.run(`INSERT INTO t VALUES (8)`)).rejects.toThrow(/read-only/);
    } finally {
      store.close();
    }
  });

  it('applies a memory limit', async () => {
    const store = await Store.open(fresh('mem'), { memoryLimit: '256MiB' });
    try {
      // 256 MiB = 256 × 2^20 bytes, which DuckDB shows back in MiB.
      expect(await rows(store, `SELECT current_setting('memory_limit') AS m`)).toEqual([{ m: '256.0 MiB' }]);
    } finally {
      store.close();
    }
  });
});

describe('Store.open errors name the file and exit 2', () => {
  it('a folder where the file should be', async () => {
    const folder = path.join(dir, 'a-folder.duckdb');
    mkdirSync(folder);
    const e = await errorOf(Store.open(folder));
    expect(e.exitCode).toBe(2);
    expect(e.message.startsWith(`${folder}: `)).toBe(true);
    expect(e.message).not.toContain('\n');
  });

  it('a file where a folder of the path should be', async () => {
    const blocker = path.join(dir, 'text.duckdb');
    writeFileSync(blocker, 'x');
    const file = path.join(blocker, 'sub', 'x.duckdb');
    const e = await errorOf(Store.open(file));
    expect(e.exitCode).toBe(2);
    expect(e.message.startsWith(`${file}: `)).toBe(true);
  });

  it('a file that is not a DuckDB database', async () => {
    const file = path.join(dir, 'notes.duckdb');
    writeFileSync(file, 'hello, not a database\n');
    const e = await errorOf(Store.open(file));
    expect(e.exitCode).toBe(2);
    expect(e.message.startsWith(`${file}: not a DuckDB database`)).toBe(true);
  });

  it('a missing file opened read-only (and it is not created)', async () => {
    const file = path.join(dir, 'missing.duckdb');
    const e = await errorOf(Store.open(file, { readOnly: true }));
    expect(e.exitCode).toBe(2);
    expect(e.message.startsWith(`${file}: cannot open the database`)).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it('a file another process holds, with that process’s PID', async () => {
    const file = fresh('locked');
    // Another process opens the file read-write (which takes DuckDB's file lock) and waits.
    const holder: ChildProcess = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { DuckDBInstance } from '@duckdb/node-api';
         const db = await DuckDBInstance.create(process.env.DB_FILE);
         await (await db.connect()).run('CREATE TABLE held (x INTEGER)');
         process.stdout.write('ready\\n');
         process.stdin.resume();
         process.stdin.on('end', () => process.exit(0));`,
      ],
      { cwd: root, env: { ...process.env, DB_FILE: file }, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        holder.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
      });
      const e = await errorOf(Store.open(file));
      expect(e.exitCode).toBe(2);
      expect(e.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the database is in use by another process \\(PID ${holder.pid}\\); `));
      expect(e.message).toContain('--db <another file>');
    } finally {
      holder.stdin!.end();
      if (holder.exitCode === null) await new Promise((r) => holder.once('exit', r));
    }
  });
});

describe('Store.open refuses, for writing, a DuckDB file rehearse cannot append to (exit 2)', () => {
  async function foreign(name: string, sql: string): Promise<string> {
    const file = fresh(name);
    const raw = await DuckDBInstance.create(file);
    const c = await raw.connect();
    await c.run(sql);
    c.closeSync();
    raw.closeSync();
    return file;
  }

  async function tablesOf(file: string): Promise<string[]> {
    const store = await Store.open(file, { readOnly: true });
    try {
      return await tables(store);
    } finally {
      store.close();
    }
  }

  it('a rehearse table with other columns: names the table and the first column that differs, and writes nothing', async () => {
    const file = await foreign('v2', 'CREATE TABLE outcomes (x INT)');
    const e = await errorOf(Store.open(file));
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(
      `${file}: not a rehearse results file (table outcomes: column 1 is x INTEGER where rehearse writes invocation_id VARCHAR); use a new file, or one rehearse wrote`,
    );
    expect(await tablesOf(file)).toEqual(['outcomes']);
    // The file was closed on the way out: it opens again at once.
    (await Store.open(file, { readOnly: true })).close();
  });

  it('a column of another type, and a column rehearse does not write', async () => {
    const typed = await foreign('typed', 'CREATE TABLE invocations (invocation_id INTEGER)');
    expect((await errorOf(Store.open(typed))).message).toContain('(table invocations: column 1 is invocation_id INTEGER where rehearse writes invocation_id VARCHAR)');
    const extra = await foreign(
      'extra',
      `CREATE TABLE trace_errors (invocation_id VARCHAR, row_index BIGINT, request_id VARCHAR, reason VARCHAR, raw VARCHAR, note VARCHAR)`,
    );
    expect((await errorOf(Store.open(extra))).message).toContain('(table trace_errors: column 6 is note VARCHAR where rehearse writes nothing)');
  });

  it('but not a file of other tables only: a trace kept beside the results is left alone', async () => {
    const file = await foreign('traces', 'CREATE TABLE requests (id VARCHAR); CREATE TABLE spans (id VARCHAR)');
    const store = await Store.open(file);
    store.close();
    const tables = await tablesOf(file);
    expect(tables).toContain('requests');
    expect(tables).toContain('outcomes');
  });

  it('nor a file named as the scratch catalog it compares schemas in', async () => {
    const file = path.join(dir, 'rehearse_declared.duckdb');
    for (let i = 0; i < 2; i++) (await Store.open(file)).close();
  });

  it('but not for reading: `query` reads any DuckDB file', async () => {
    const file = await foreign('readable', 'CREATE TABLE outcomes (x INT)');
    const store = await Store.open(file, { readOnly: true });
    store.close();
  });

  it('a file that rehearse wrote, with tables of its user beside rehearse\'s, still opens', async () => {
    const file = fresh('shared');
    const first = await Store.open(file);
    await first.run('CREATE TABLE my_notes (x INT)');
    first.close();
    (await Store.open(file)).close();
  });
});

describe('Store.open refuses an empty --db path (DuckDB would keep the results in memory)', () => {
  it.each(['', '  '])('%j, for writing and for reading', async (file) => {
    for (const options of [{}, { readOnly: true }]) {
      const e = await errorOf(Store.open(file, options));
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe('--db: empty path');
    }
  });
});

describe('Store.open refuses --db :memory: (the results would be lost when the command ends)', () => {
  it.each([':memory:', ':memory:other'])('%j', async (file) => {
    const e = await errorOf(Store.open(file));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/^--db :memory:\S*: keeps results in memory only/);
  });
});

describe('storeError', () => {
  it('a lock conflict: in use, with the PID when DuckDB gives one', () => {
    const msg = 'IO Error: Could not set lock on file "/x/r.duckdb": Conflicting lock is held in /usr/bin/node (PID 4242) by user me. See also https://duckdb.org/docs/connect/concurrency';
    expect(storeError('r.duckdb', new Error(msg)).message).toBe(
      'r.duckdb: the database is in use by another process (PID 4242); wait for it to finish, or pass --db <another file>',
    );
    expect(storeError('r.duckdb', new Error('IO Error: Could not set lock on file')).message).toBe(
      'r.duckdb: the database is in use by another process; wait for it to finish, or pass --db <another file>',
    );
  });

  it('not a database, cannot open, and anything else: the file, then the first line of the cause', () => {
    expect(storeError('f.duckdb', new Error('IO Error: The file "f.duckdb" exists, but it is not a valid DuckDB database file!\nmore')).message).toBe(
      'f.duckdb: not a DuckDB database (IO Error: The file "f.duckdb" exists, but it is not a valid DuckDB database file!)',
    );
    expect(storeError('g.duckdb', new Error('IO Error: Cannot open file "g.duckdb": No such file or directory')).message).toBe(
      'g.duckdb: cannot open the database (IO Error: Cannot open file "g.duckdb": No such file or directory)',
    );
    expect(storeError('h.duckdb', new Error('Out of Memory Error: failed\nstack line')).message).toBe('h.duckdb: Out of Memory Error: failed');
    // A thrown non-Error is stringified.
    expect(storeError('i.duckdb', 'boom').message).toBe('i.duckdb: boom');
  });

  it('is a UserError with exit code 2', () => {
    const e = storeError('x.duckdb', new Error('anything'));
    expect(e).toBeInstanceOf(UserError);
    expect(e.exitCode).toBe(2);
  });
});

describe('appendNullable', () => {
  it('appends NULL for null, undefined and NaN, else the integer or the double', async () => {
    const store = await Store.open(fresh('append'));
    try {
      await store.run(`CREATE TABLE t (i INTEGER, d DOUBLE)`);
      const a = await store.appender('t');
      const data: [number | null | undefined, number | null | undefined][] = [
        [3, 2.5],
        [null, null],
        [undefined, undefined],
        [NaN, NaN],
        [-7, -0.125],
        [0, 0],
      ];
      for (const [i, d] of data) {
        appendNullable(a, i, 'integer');
        appendNullable(a, d, 'double');
        a.endRow();
      }
      a.flushSync();
      a.closeSync();
      expect(await rows(store, `SELECT i, d FROM t`)).toEqual([
        { i: 3, d: 2.5 },
        { i: null, d: null },
        { i: null, d: null },
        { i: null, d: null },
        { i: -7, d: -0.125 },
        { i: 0, d: 0 },
      ]);
    } finally {
      store.close();
    }
  });
});
