import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
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

  it('judges several gate configs on the same runs', () => {
    const strict = path.join(dir, 'strict.yaml');
    const lax = path.join(dir, 'lax.yaml');
    writeFileSync(strict, 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.1 }\n');
    writeFileSync(lax, 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 10 }\n');
    const r = rehearse(['simulate', path.join(dir, 'small.yaml'), '--db', path.join(dir, 'd.duckdb'), '--json', '--gates', strict, '--gates', lax]);
    expect(r.code).toBe(0);
    const byConfig = Object.fromEntries(JSON.parse(r.stdout).scenarios.map((s: { gateConfig: string; rollback: number }) => [s.gateConfig, s.rollback]));
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

describe('--help', () => {
  it.each(['simulate', 'query', 'schema'])('%s has help', (cmd) => {
    const r = rehearse([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: rehearse/);
  });
});
