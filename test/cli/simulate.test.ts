import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

// End to end through the built CLI (npm test builds first): real processes, real DuckDB files.
const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');

function rehearse(args: string[], cwd = root) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
const GATES = 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n  - { name: errors, metric: error_rate, max: 0.02, action: hold }\n';
const SCENARIO = `name: small
runs: 40
traffic:
  requests_per_minute: 200
  baseline: { error_rate: 0.01 }
candidate: { price: 1.3 }
nondeterminism: { run: 0.15, check: 0.05 }
rollout:
  stages: [{ percent: 5, hold: 20m }, { percent: 50, hold: 20m }, { percent: 100 }]
  check_every: 5m
gates: gates.yaml
`;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-cli-'));
  writeFileSync(path.join(dir, 'gates.yaml'), GATES);
  writeFileSync(path.join(dir, 'small.yaml'), SCENARIO);
});

describe('rehearse simulate', () => {
  it('records outcomes and checks in DuckDB and prints where they went', () => {
    const db = path.join(dir, 'a.duckdb');
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', db, '--workers', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('small');
    expect(r.stdout).toContain(`Results: ${db}`);
    const q = rehearse(['query', '--db', db, '--json', 'SELECT count(*)::INT AS n, count(DISTINCT run)::INT AS runs FROM outcomes']);
    expect(JSON.parse(q.stdout)).toEqual([{ n: 40, runs: 40 }]);
    const inv = rehearse(['query', '--db', db, '--json', "SELECT command, status FROM invocations"]);
    expect(JSON.parse(inv.stdout)).toEqual([{ command: 'simulate', status: 'ok' }]);
    // Every halted run has exactly one fired gate reading at its halting check, naming the outcome's gate.
    const consistent = rehearse([
      'query', '--db', db, '--json',
      `SELECT count(*)::INT AS bad FROM outcomes o WHERE o.outcome <> 'promote' AND NOT EXISTS (
         SELECT 1 FROM checks c WHERE c.run = o.run AND c.minute = o.detected_minute AND c.gate = o.gate AND c.fired)`,
    ]);
    expect(JSON.parse(consistent.stdout)).toEqual([{ bad: 0 }]);
  });

  it('gives identical outcomes with 1 worker and with 2, and accumulates invocations in one file', () => {
    const db = path.join(dir, 'b.duckdb');
    expect(rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', db, '--workers', '1', '--quiet']).code).toBe(0);
    expect(rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', db, '--workers', '2', '--quiet']).code).toBe(0);
    const cols = 'scenario, run, seed, outcome, halted_stage, halted_percent, gate, detected_minute, canary_requests';
    const q = rehearse([
      'query', '--db', db, '--json',
      `WITH i AS (SELECT invocation_id, row_number() OVER (ORDER BY started_at) AS k FROM invocations),
            a AS (SELECT ${cols} FROM outcomes JOIN i USING (invocation_id) WHERE k = 1),
            b AS (SELECT ${cols} FROM outcomes JOIN i USING (invocation_id) WHERE k = 2)
       SELECT (SELECT count(*) FROM a)::INT AS a, (SELECT count(*) FROM b)::INT AS b,
              (SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b))::INT AS differ,
              (SELECT count(DISTINCT outcome) FROM a)::INT AS kinds`,
    ]);
    const [row] = JSON.parse(q.stdout);
    expect(row.a).toBe(40);
    expect(row.b).toBe(40);
    expect(row.differ).toBe(0);
    expect(row.kinds).toBeGreaterThan(1); // a test of identity over one constant outcome would prove nothing
  });

  it('prints a machine-readable summary with --json', () => {
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', path.join(dir, 'c.duckdb'), '--json', '--runs', '20']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.scenarios).toHaveLength(1);
    const s = out.scenarios[0];
    expect(s.runs).toBe(20);
    expect(s.rollback + s.hold + s.promote).toBeCloseTo(1, 12);
  });

  it("says how each scenario's own (inline) gates were drawn, not one scenario's for all", () => {
    const inline = (name: string, gates: string) => SCENARIO.replace('name: small', `name: ${name}`).replace('gates: gates.yaml\n', `gates:\n${gates}`);
    writeFileSync(path.join(dir, 'inline-a.yaml'), inline('inline-a', '  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n'));
    writeFileSync(path.join(dir, 'inline-b.yaml'), inline('inline-b', '  - { name: length, metric: output_tokens, test: ks, alpha: 0.01 }\n'));
    const r = rehearse(['simulate', path.join(dir, 'inline-a.yaml'), path.join(dir, 'inline-b.yaml'), '--db', path.join(dir, 'inline.duckdb'), '--json', '--runs', '5']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.gate_paths).toEqual({ 'inline (inline-a)': { cost: 'exact' }, 'inline (inline-b)': { length: 'per-request' } });
    // Each entry names its own, beside its gate_config ("inline"), so a reader needs no join.
    expect(out.scenarios.map((s: { scenario: string; gate_config: string; gate_paths: object }) => [s.scenario, s.gate_config, s.gate_paths])).toEqual([
      ['inline-a', 'inline', { cost: 'exact' }],
      ['inline-b', 'inline', { length: 'per-request' }],
    ]);
  });

  it('judges several gate configs on the same runs', () => {
    const strict = path.join(dir, 'strict.yaml');
    const lax = path.join(dir, 'lax.yaml');
    writeFileSync(strict, 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.1 }\n');
    writeFileSync(lax, 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 10 }\n');
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', path.join(dir, 'd.duckdb'), '--json', '--gates', strict, '--gates', lax]);
    expect(r.code).toBe(0);
    const byConfig = Object.fromEntries(JSON.parse(r.stdout).scenarios.map((s: { gate_config: string; rollback: number }) => [s.gate_config, s.rollback]));
    expect(byConfig.strict).toBeGreaterThan(0.5);
    expect(byConfig.lax).toBe(0);
  });
});

describe('bad input exits 2 with a message naming the file and field, and no stack trace', () => {
  const cases: [string, string, RegExp][] = [
    ['bad-percent.yaml', SCENARIO.replace('percent: 50', 'percent: 150'), /bad-percent\.yaml: rollout\.stages\[1\]\.percent: must be at most 100/],
    ['bad-syntax.yaml', 'name: x\nrollout: [\n', /bad-syntax\.yaml:\d+:\d+: YAML syntax error/],
    ['bad-metric.yaml', 'gates:\n  - { metric: latency, max_ratio: 2 }\n', /bad-metric\.yaml: gates\[0\]\.metric: must be one of/],
    ['bad-type.yaml', SCENARIO.replace('runs: 40', 'runs: many'), /bad-type\.yaml: runs: must be a number, got the text "many"/],
  ];
  it.each(cases)('%s', (name, text, message) => {
    writeFileSync(path.join(dir, name), text);
    const r = rehearse(['simulate', path.join(dir, name), '--db', path.join(dir, 'bad.duckdb')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a missing file', () => {
    const r = rehearse(['simulate', path.join(dir, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing\.yaml: no such file/);
  });

  it('a bad option value', () => {
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--workers', 'zero']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--workers must be a whole number/);
  });

  it('a database locked by another process', async () => {
    const db = path.join(dir, 'locked.duckdb');
    const holder = spawn(process.execPath, ['-e', `
      const { DuckDBInstance } = await import('@duckdb/node-api');
      await DuckDBInstance.create(${JSON.stringify(db)});
      console.log('locked');
      setTimeout(() => {}, 20000);`, '--input-type=module'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    try {
      const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', db]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/locked\.duckdb: the database is in use by another process \(PID \d+\)/);
    } finally {
      holder.kill();
    }
  });

  it('a query error', () => {
    const db = path.join(dir, 'a.duckdb');
    const r = rehearse(['query', '--db', db, 'SELECT nope FROM outcomes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/query failed: .*nope/);
  });
});

describe('refused before any work, exit 2', () => {
  const q = (db: string, sql: string) => JSON.parse(rehearse(['query', '--db', db, '--json', sql]).stdout);

  it.each(['', '   '])('--db %j (an unset variable): DuckDB would keep the results in memory and lose them', (db) => {
    const cwd = mkdtempSync(path.join(dir, 'cwd-'));
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', db, '--runs', '2'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('rehearse: --db: empty path\n');
    expect(r.stdout).toBe('');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('a DuckDB file with a rehearse table of other columns, left as it was', async () => {
    const db = path.join(dir, 'v2.duckdb');
    const made = spawnSync(process.execPath, ['--input-type=module', '-e', `
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const i = await DuckDBInstance.create(${JSON.stringify(db)});
      const c = await i.connect();
      await c.run('CREATE TABLE outcomes(x int)');
      c.closeSync(); i.closeSync();`], { cwd: root, encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', db, '--runs', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `rehearse: ${db}: not a rehearse results file (table outcomes: column 1 is x INTEGER where rehearse writes invocation_id VARCHAR); use a new file, or one rehearse wrote\n`,
    );
    expect(q(db, 'SELECT table_name FROM duckdb_tables()')).toEqual([{ table_name: 'outcomes' }]);
  });

  it.each(['', ' '])('--invocation %j', (id) => {
    const db = path.join(dir, 'empty-id.duckdb');
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', db, '--runs', '2', '--invocation', id]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--invocation must not be empty/);
    expect(existsSync(db)).toBe(false);
  });

  it('--runs beyond what run numbers can hold', () => {
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', path.join(dir, 'huge.duckdb'), '--runs', '99999999999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--runs must be a whole number from 1 to 2147483647 \(runs are numbered with 32-bit integers; .*--shard i\/n .*merge\), got "99999999999"/);
  });

  it('more runs than one process holds: says how to shard, and records nothing', () => {
    const db = path.join(dir, 'many.duckdb');
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', db, '--runs', '250000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'rehearse: --runs 250000: 250000 runs are more than one process simulates (at most 100000, as each run\'s rows stay in memory until they are written; 1000000 with --no-checks); ' +
        'split the work: run `rehearse simulate … --shard i/3 --db shard-i.duckdb` for i = 0 … 2 (on one machine or many), then `rehearse merge <out.duckdb> shard-*.duckdb`\n',
    );
    expect(existsSync(db)).toBe(false);
    // The same count from the scenario file names the file and its field; a shard of it is within the bound.
    const file = path.join(dir, 'many-runs.yaml');
    writeFileSync(file, SCENARIO.replace('runs: 40', 'runs: 20000000'));
    const fromFile = rehearse(['simulate', file, '--db', db, '--no-checks']);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toMatch(/many-runs\.yaml: runs: 20000000 runs are more than one process simulates \(at most 1000000 even with --no-checks, .*--shard i\/20 /);
    // A shard passes the bound and gets as far as opening the results file (a folder here, so it stops there).
    const sharded = rehearse(['simulate', file, '--db', dir, '--no-checks', '--shard', '0/20']);
    expect(sharded.code).toBe(2);
    expect(sharded.stderr).toMatch(new RegExp(`^rehearse: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    expect(sharded.stderr).not.toMatch(/more than one process/);
  });

  it('a scenario whose traffic is beyond the documented bound names the file and the field', () => {
    const file = path.join(dir, 'flood.yaml');
    writeFileSync(file, SCENARIO.replace('requests_per_minute: 200', 'requests_per_minute: 1e18'));
    const r = rehearse(['simulate', file, '--db', path.join(dir, 'flood.duckdb')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/flood\.yaml: traffic\.requests_per_minute: must be at most 1000000000\n$/);
  });
});

describe('gate configs', () => {
  it('one gate file named twice (by two spellings of its path) is one config', () => {
    const gates = path.join(dir, 'gates.yaml');
    const again = path.join(dir, '.', 'sub', '..', 'gates.yaml');
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', path.join(dir, 'twice.duckdb'), '--json', '--runs', '4', '--gates', gates, '--gates', again]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).scenarios.map((s: { gate_config: string }) => s.gate_config)).toEqual(['gates']);
  });

  it('simulate does not read expect: a --gates config without the expected gate is fine', () => {
    const file = path.join(dir, 'expects.yaml');
    writeFileSync(file, `${SCENARIO}expect: { outcome: rollback, gate: cost }\n`);
    const other = path.join(dir, 'errors-only.yaml');
    writeFileSync(other, 'gates:\n  - { name: errors, metric: error_rate, max: 0.02 }\n');
    const r = rehearse(['simulate', file, '--db', path.join(dir, 'expects.duckdb'), '--quiet', '--runs', '4', '--gates', other]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('--help', () => {
  it.each(['simulate', 'query', 'schema'])('%s has help', (cmd) => {
    const r = rehearse([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: rehearse/);
  });
});
