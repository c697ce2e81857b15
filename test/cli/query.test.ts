import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { queryCommand } from '../../src/cli/query.js';
import { Store } from '../../src/store/database.js';

/**
 * `rehearse query`: SQL against the results file, printed as a table or as JSON. The command runs
 * in-process (stdout and stderr captured); one case goes through the built CLI for the exit code.
 * The database is written row by row here, so every expected row is known.
 */

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');

// eslint-disable-next-line no-control-regex
const strip = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

let dir: string;
let db: string;
let stdout: ReturnType<typeof vi.spyOn>;
let stderr: ReturnType<typeof vi.spyOn>;
const savedExitCode = process.exitCode;
const out = () => stdout.mock.calls.map((c: unknown[]) => String(c[0])).join('');
const err = () => stderr.mock.calls.map((c: unknown[]) => String(c[0])).join('');

async function query(...args: string[]): Promise<void> {
  const cmd = queryCommand().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  await cmd.parseAsync(args, { from: 'user' });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-query-'));
  db = path.join(dir, 'r.duckdb');
  const store = await Store.open(db);
  try {
    await store.run(`
      INSERT INTO invocations VALUES ('inv-1', 'simulate', '{}', '2026-01-01 10:00:00+00', '2026-01-01 10:00:02+00', 'ok', '0.1.0');
      INSERT INTO outcomes VALUES
        ('inv-1', 'alpha', 'default', 0, 1, 'rollback', 1, 5, 'cost', 10, 40),
        ('inv-1', 'alpha', 'default', 1, 1, 'promote', NULL, NULL, NULL, NULL, 900),
        ('inv-1', 'beta', 'default', 0, 1, 'rollback', 2, 25, 'errors', 35, 300);
    `);
  } finally {
    store.close();
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = savedExitCode;
});

describe('rehearse query', () => {
  it('prints the rows as a JSON array of objects with --json', async () => {
    await query('SELECT scenario, count(*)::INT AS runs, sum(canary_requests)::DOUBLE AS canary FROM outcomes GROUP BY ALL ORDER BY ALL', '--db', db, '--json');
    expect(err()).toBe('');
    expect(process.exitCode).toBe(0);
    // alpha: 2 runs, 40 + 900 = 940 canary requests; beta: 1 run, 300.
    expect(JSON.parse(out())).toEqual([
      { scenario: 'alpha', runs: 2, canary: 940 },
      { scenario: 'beta', runs: 1, canary: 300 },
    ]);
    expect(out().endsWith(']\n')).toBe(true);
  });

  it('prints NULL as null in JSON', async () => {
    await query("SELECT gate FROM outcomes WHERE scenario = 'alpha' ORDER BY run", '--db', db, '--json');
    expect(JSON.parse(out())).toEqual([{ gate: 'cost' }, { gate: null }]);
  });

  it('prints a table: numbers right-aligned, NULL spelled out, and the row count', async () => {
    await query("SELECT 'a' AS name, 5 AS n, NULL AS g UNION ALL SELECT 'bcd', 123, 'x' ORDER BY n", '--db', db);
    expect(process.exitCode).toBe(0);
    // Widths: name max(4, 1, 3) = 4; n max(1, 1, 3) = 3 (numeric: right-aligned); g max(1, 4 "NULL", 1) = 4
    // ("x" is not a number, so g is left-aligned). Columns two spaces apart, trailing spaces trimmed.
    expect(strip(out()).split('\n')).toEqual(['name    n  g', 'a       5  NULL', 'bcd   123  x', '(2 rows)', '']);
  });

  it('says "1 row" and "0 rows", and prints lists and structs as JSON text', async () => {
    await query("SELECT [1, 2] AS l, {'a': 1} AS s", '--db', db);
    // Widths: l max(1, 5 "[1,2]") = 5; s max(1, 7 '{"a":1}') = 7; both text, left-aligned.
    expect(strip(out()).split('\n')).toEqual(['l      s', '[1,2]  {"a":1}', '(1 row)', '']);
    stdout.mockClear();
    await query('SELECT run FROM outcomes WHERE false', '--db', db);
    expect(strip(out())).toBe('run\n(0 rows)\n');
  });

  it('runs several statements in order and prints each result; --json gives the last', async () => {
    await query("SET threads = 1; SELECT current_setting('threads')::INT AS threads; SELECT count(*)::INT AS runs FROM outcomes", '--db', db);
    expect(process.exitCode).toBe(0);
    // The SET applied before the SELECT that reads it, and is not printed (it answers only
    // "Success"); 3 outcome rows were inserted above.
    expect(strip(out()).split('\n')).toEqual(['threads', '      1', '(1 row)', '', 'runs', '   3', '(1 row)', '']);
    stdout.mockClear();
    await query("SET VARIABLE scenario = 'alpha'; SELECT count(*)::INT AS n FROM outcomes WHERE scenario = getvariable('scenario')", '--db', db);
    expect(strip(out()).split('\n')).toEqual(['n', '2', '(1 row)', '']);
    stdout.mockClear();
    await query('SELECT 1 AS a; SELECT 2 AS b', '--db', db, '--json');
    expect(JSON.parse(out())).toEqual([{ b: 2 }]);
    // A trailing SET is not the result asked for.
    stdout.mockClear();
    await query('SELECT 1 AS a; SET threads = 1', '--db', db, '--json');
    expect(JSON.parse(out())).toEqual([{ a: 1 }]);
  });

  it.each(['', '  ', ';', ' ; ; '])('refuses a query without a statement (%j) with exit 2', async (sql) => {
    await query(sql, '--db', db);
    expect(process.exitCode).toBe(2);
    expect(err()).toBe('rehearse: query: no SQL statement given\n');
    expect(out()).toBe('');
  });

  it('refuses a missing database with exit 2, without creating it', async () => {
    const missing = path.join(dir, 'nope.duckdb');
    await query('SELECT 1', '--db', missing);
    expect(process.exitCode).toBe(2);
    expect(err()).toBe(`rehearse: ${missing}: no such database; run \`rehearse simulate\` first or pass --db <file>\n`);
    expect(out()).toBe('');
    expect(existsSync(missing)).toBe(false);
  });

  it('reports a bad query on one line with exit 2', async () => {
    await query('SELECT * FROM nope', '--db', db);
    expect(process.exitCode).toBe(2);
    // DuckDB's message runs over several lines (a suggestion, the caret); only the first is kept.
    expect(err()).toMatch(/^rehearse: query failed: .*nope[^\n]*\n$/);
    expect(out()).toBe('');
  });

  it('opens the file read-only: a write is refused and changes nothing', async () => {
    await query('DELETE FROM outcomes', '--db', db);
    expect(process.exitCode).toBe(2);
    expect(err()).toMatch(/^rehearse: query failed: /);
    stderr.mockClear();
    stdout.mockClear();
    await query('SELECT count(*)::INT AS n FROM outcomes', '--db', db, '--json');
    expect(JSON.parse(out())).toEqual([{ n: 3 }]);
  });

  it('defaults --db to reports/rehearse.duckdb', () => {
    const option = queryCommand().options.find((o) => o.long === '--db');
    expect(option?.defaultValue).toBe('reports/rehearse.duckdb');
  });

  it('exits 2 from the built CLI on a bad query, with no stack trace', () => {
    const r = spawnSync(process.execPath, [cli, 'query', '--db', db, 'SELEC 1'], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^rehearse: query failed: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('rehearse query | head', () => {
  it('stops quietly when its reader closes the pipe early (EPIPE was an unhandled error with a stack trace)', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [cli, 'query', '--db', db, 'SELECT range AS i FROM range(200000)'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Read one chunk, then close our end, as `head -1` does.
    child.stdout!.once('data', () => child.stdout!.destroy());
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
