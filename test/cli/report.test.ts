import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');

function rehearse(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
let db: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-report-cli-'));
  db = path.join(dir, 'results', 'r.duckdb');
  writeFileSync(
    path.join(dir, 'cost.yaml'),
    `name: cost-30
runs: 20
traffic: { requests_per_minute: 600 }
candidate: { price: 1.3 }
rollout:
  stages: [{ percent: 10, hold: 20m }, { percent: 100 }]
  check_every: 10m
gates:
  - { name: cost, metric: cost_usd, max_ratio: 1.2 }
`,
  );
  for (const id of ['first', 'second']) {
    const r = rehearse(['simulate', path.join(dir, 'cost.yaml'), '--db', db, '--invocation', id, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
  }
});

describe('rehearse report', () => {
  it('reports the latest invocation next to the results file and says where it wrote', () => {
    const r = rehearse(['report', '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = path.join(dir, 'results', 'second');
    expect(r.stdout).toContain('invocation second (simulate: 1 scenario, 20 runs)');
    expect(r.stdout).toContain(path.join(out, 'report.html'));
    expect(r.stdout).toContain(path.join(out, 'report.md'));
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/^# rehearse simulate report: `second`/);
    expect(md).toMatch(/\| scenario \| runs \| rollback \| hold \| promote \|/);
    expect(md).toMatch(/\| cost-30 \| 20 \|/);
    expect(md).not.toMatch(/<svg/);
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toMatch(/<svg/);
  });

  it('reports the invocation named, into the folder named', () => {
    const out = path.join(dir, 'named');
    const r = rehearse(['report', '--db', db, '--invocation', 'first', '--out', out]);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/`first`/);
  });

  it('exits 2 with one line, no stack, on a missing database or an unknown invocation', () => {
    const missing = rehearse(['report', '--db', path.join(dir, 'nope.duckdb')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.duckdb: no such database/);
    expect(existsSync(path.join(dir, 'nope.duckdb'))).toBe(false);
    const unknown = rehearse(['report', '--db', db, '--invocation', 'third']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no invocation third/);
    expect(unknown.stderr).not.toMatch(/    at /);
  });

  it('exits 2 on a DuckDB file whose invocations table is not rehearse\'s', async () => {
    const foreign = path.join(dir, 'foreign.duckdb');
    const { DuckDBInstance } = await import('../../src/store/duckdb.js');
    const instance = await DuckDBInstance.create(foreign);
    const c = await instance.connect();
    await c.run('CREATE TABLE invocations (x INTEGER)');
    c.closeSync();
    instance.closeSync();
    const r = rehearse(['report', '--db', foreign]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/foreign\.duckdb: not a rehearse results file \(its tables lack rehearse's columns/);
  });

  it('--json: prints what was written where, and nothing else', () => {
    const out = path.join(dir, 'json-out');
    const r = rehearse(['report', '--db', db, '--invocation', 'first', '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      invocation_id: 'first',
      command: 'simulate',
      db,
      scenarios: 1,
      out,
      html: path.join(out, 'report.html'),
      markdown: path.join(out, 'report.md'),
      warnings: [],
    });
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/`first`/);
  });

  it('--quiet: writes the report and prints nothing', () => {
    const out = path.join(dir, 'quiet-out');
    const r = rehearse(['report', '--db', db, '--out', out, '--quiet']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
    expect(existsSync(path.join(out, 'report.html'))).toBe(true);
  });

  it('exits 2 naming --out when it is a file, or lies under one, and writes nothing', () => {
    const file = path.join(dir, 'afile');
    writeFileSync(file, 'keep me\n');
    const r = rehearse(['report', '--db', db, '--out', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`rehearse: --out ${file}: is a file, not a folder (a missing folder is created)\n`);
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');
    const under = rehearse(['report', '--db', db, '--out', path.join(file, 'sub')]);
    expect(under.code).toBe(2);
    expect(under.stderr).toBe(`rehearse: --out ${path.join(file, 'sub')}: cannot create it, ${file} is a file\n`);
    // The default folder, named after the invocation, is checked the same way.
    const blocked = path.join(dir, 'results', 'first');
    writeFileSync(blocked, '');
    const byDefault = rehearse(['report', '--db', db, '--invocation', 'first']);
    expect(byDefault.code).toBe(2);
    expect(byDefault.stderr).toBe(`rehearse: --out ${blocked}: is a file, not a folder (a missing folder is created)\n`);
  });

  it('exits 2 on an empty --db, --invocation or --out', () => {
    for (const [args, message] of [
      [['--db', ''], /^rehearse: --db: empty path\n$/],
      [['--db', db, '--invocation', ''], /--invocation must not be empty/],
      [['--db', db, '--out', ' '], /^rehearse: --out: empty path\n$/],
    ] as const) {
      const r = rehearse(['report', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
