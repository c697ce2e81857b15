import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
const scenario = (name: string, candidate: string, expect: string) => `name: ${name}
runs: 60
traffic:
  requests_per_minute: 600
  baseline: { error_rate: 0.01 }
candidate: ${candidate}
rollout:
  stages: [{ percent: 10, hold: 30m }, { percent: 50, hold: 30m }, { percent: 100 }]
  check_every: 10m
expect: ${expect}
`;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-check-'));
  writeFileSync(path.join(dir, 'cost.yaml'), scenario('cost-40', '{ price: 1.4 }', '{ outcome: rollback, gate: cost, by_stage: 1, probability: 0.95 }'));
  writeFileSync(path.join(dir, 'clean.yaml'), scenario('clean', '{ price: 1.0 }', '{ outcome: promote, probability: 0.95 }'));
  writeFileSync(path.join(dir, 'catches.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2, min_samples: 200 }\n');
  writeFileSync(path.join(dir, 'misses.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.6 }\n');
});

describe('rehearse check', () => {
  it('passes (exit 0) when the gate config catches the regression and spares the clean candidate', () => {
    const junit = path.join(dir, 'pass.xml');
    const r = rehearse(['check', dir, '--gates', path.join(dir, 'catches.yaml'), '--db', path.join(dir, 'a.duckdb'), '--junit', junit]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/All 2 expectations met/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/tests="2" failures="0"/);
  });

  it('fails (exit 1) with a JUnit failure naming the scenario when the config misses it', () => {
    const junit = path.join(dir, 'fail.xml');
    const summary = path.join(dir, 'summary.md');
    const r = rehearse(['check', dir, '--gates', path.join(dir, 'misses.yaml'), '--db', path.join(dir, 'b.duckdb'), '--junit', junit, '--summary', summary]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL cost-40: expected rollback via cost by stage 1 in ≥ 95% of runs; got 0% \(95% CI 0–6%\); 100% promoted/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/tests="2" failures="1"/);
    expect(xml).toMatch(/<testcase name="cost-40"[^>]*>\s*<failure message="expected rollback via cost by stage 1/);
    expect(xml).toMatch(/<testcase name="clean"[^>]*>\s*<system-out>/);
    expect(readFileSync(summary, 'utf8')).toMatch(/❌ rehearse check: 1 of 2 expectations not met/);
    const q = rehearse(['query', '--db', path.join(dir, 'b.duckdb'), '--json', 'SELECT scenario, passed FROM check_results ORDER BY scenario']);
    expect(JSON.parse(q.stdout)).toEqual([{ scenario: 'clean', passed: true }, { scenario: 'cost-40', passed: false }]);
  });

  it('is deterministic: the same results file twice', () => {
    const a = rehearse(['check', dir, '--gates', path.join(dir, 'catches.yaml'), '--db', path.join(dir, 'c.duckdb'), '--json', '--workers', '1']);
    const b = rehearse(['check', dir, '--gates', path.join(dir, 'catches.yaml'), '--db', path.join(dir, 'c.duckdb'), '--json', '--workers', '2']);
    const strip = (s: string) => JSON.parse(s).results.map((r: { scenario: string; met: number; runs: number }) => [r.scenario, r.met, r.runs]);
    expect(strip(a.stdout)).toEqual(strip(b.stdout));
  });

  it('exits 2 when nothing has expect', () => {
    const lone = path.join(dir, 'lone');
    const r0 = spawnSync('mkdir', ['-p', lone]);
    expect(r0.status).toBe(0);
    writeFileSync(path.join(lone, 'x.yaml'), 'gates:\n  - { metric: cost_usd, max_ratio: 2 }\nname: x\n');
    const r = rehearse(['check', lone, '--db', path.join(dir, 'd.duckdb')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no scenario has `expect`/);
  });

  it.each([
    ['--junit', 'a folder', (d: string) => { mkdirSync(path.join(d, 'out')); return path.join(d, 'out'); }, /--junit .*out: is a folder; give a file, e\.g\. .*out\/check\.xml/],
    ['--summary', 'a folder', (d: string) => { mkdirSync(path.join(d, 'out2')); return path.join(d, 'out2'); }, /--summary .*out2: is a folder; give a file, e\.g\. .*out2\/summary\.md/],
    ['--junit', 'under a file', (d: string) => { writeFileSync(path.join(d, 'plain'), ''); return path.join(d, 'plain', 'sub', 'x.xml'); }, /--junit .*plain\/sub\/x\.xml: cannot create it, .*plain is a file/],
    ['--summary', 'an empty path', () => '', /--summary: empty path/],
  ] as const)('refuses %s to %s before simulating (exit 2), so the verdict is never lost', (option, _what, target, message) => {
    const d = mkdtempSync(path.join(dir, 'out-'));
    const db = path.join(d, 'never.duckdb');
    const r = rehearse(['check', dir, '--gates', path.join(dir, 'catches.yaml'), '--db', db, option, target(d)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(db)).toBe(false);
  });

  it('creates the missing folders of an output file', () => {
    const junit = path.join(dir, 'new', 'deeper', 'check.xml');
    const r = rehearse(['check', path.join(dir, 'cost.yaml'), '--gates', path.join(dir, 'catches.yaml'), '--db', path.join(dir, 'e.duckdb'), '--junit', junit]);
    expect(r.code).toBe(0);
    expect(readFileSync(junit, 'utf8')).toMatch(/tests="1" failures="0"/);
  });
});

describe('expect.gate with several gate configs does not depend on their order', () => {
  // cost.yaml expects the gate `cost`; no-cost.yaml has none, catches.yaml has it.
  const noCost = () => {
    const f = path.join(dir, 'no-cost.yaml');
    writeFileSync(f, 'gates:\n  - { name: errors, metric: error_rate, max_ratio: 3 }\n');
    return f;
  };

  it.each([
    ['catches, then no-cost', ['catches', 'no-cost']],
    ['no-cost, then catches', ['no-cost', 'catches']],
  ])('%s: each config judged, the one without the gate failing with a message (exit 1)', (_order, names) => {
    noCost();
    const db = path.join(dir, `order-${names[0]}.duckdb`);
    const args = names.flatMap((n) => ['--gates', path.join(dir, `${n}.yaml`)]);
    const r = rehearse(['check', path.join(dir, 'cost.yaml'), ...args, '--db', db, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const byConfig = Object.fromEntries(JSON.parse(r.stdout).results.map((x: { gate_config: string; passed: boolean }) => [x.gate_config, x.passed]));
    expect(byConfig).toEqual({ catches: true, 'no-cost': false });
    const rows = JSON.parse(rehearse(['query', '--db', db, '--json', 'SELECT gate_config, passed, message FROM check_results ORDER BY gate_config']).stdout);
    expect(rows.map((x: { gate_config: string; passed: boolean }) => [x.gate_config, x.passed])).toEqual([['catches', true], ['no-cost', false]]);
    expect(rows[1].message).toMatch(/; gate config no-cost has no gate named "cost" \(its gates: errors\)/);
    expect(rows[0].message).not.toMatch(/has no gate named/);
  });

  it('exits 2 naming the scenario file, expect.gate and the configs when no config has the gate', () => {
    const other = path.join(dir, 'no-cost-2.yaml');
    writeFileSync(other, 'gates:\n  - { name: latency, metric: latency_ms, stat: p99, max_ratio: 2 }\n');
    const db = path.join(dir, 'none.duckdb');
    const r = rehearse(['check', path.join(dir, 'cost.yaml'), '--gates', noCost(), '--gates', other, '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `rehearse: ${path.join(dir, 'cost.yaml')}: expect.gate: no gate named "cost" in any of the gate configs (no-cost: errors; no-cost-2: latency)\n`,
    );
    expect(existsSync(db)).toBe(false);
  });
});
