import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');

function rehearse(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const scenario = (name: string, price: number, expect: string) => `name: ${name}
runs: 150
seed: 5
traffic:
  requests_per_minute: 600
candidate: { price: ${price} }
nondeterminism: { run: 0.1, check: 0.05 }
rollout:
  stages: [{ percent: 10, hold: 30m }, { percent: 50, hold: 30m }, { percent: 100 }]
  check_every: 10m
expect: ${expect}
`;

describe('rehearse tune', () => {
  it('recommends a threshold above the noise that still catches the regression, and it holds on fresh seeds', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-tune-'));
    writeFileSync(path.join(dir, 'clean.yaml'), scenario('noisy-clean', 1.0, '{ outcome: promote, probability: 0.9 }'));
    writeFileSync(path.join(dir, 'regression.yaml'), scenario('cost-60', 1.6, '{ outcome: rollback, gate: cost, probability: 0.9 }'));
    writeFileSync(path.join(dir, 'gates.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2, min_samples: 50 }\n');
    const out = path.join(dir, 'tuned.yaml');
    const db = path.join(dir, 'tune.duckdb');
    const r = rehearse([
      'tune', path.join(dir, 'clean.yaml'), path.join(dir, 'regression.yaml'),
      '--gates', path.join(dir, 'gates.yaml'),
      '--vary', 'cost.max_ratio=1.0:1.6:0.05', '--vary', 'cost.sustained=1:3:1',
      '--max-false-alarm', '0.05', '--out', out, '--db', db, '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.combinations).toBe(13 * 3);
    const rec = result.recommended;
    expect(rec).not.toBeNull();
    // Run-to-run noise is ±10% on price: a threshold at or below 1.1 alarms on the clean candidate,
    // one at 1.45 or above lets 1.6 × 0.9 = 1.44 through; the recommendation lies between.
    const ratio = Number(/cost\.max_ratio=([\d.]+)/.exec(rec.setting)![1]);
    expect(ratio).toBeGreaterThan(1.1);
    expect(ratio).toBeLessThan(1.45);
    expect(rec.false_alarm).toBeLessThanOrEqual(0.05);
    // Fresh seeds: 150 runs, so a true rate at the 5% budget reads above 10% with probability < 1% (binomial tail).
    const freshClean = rec.fresh.find((f: { scenario: string }) => f.scenario === 'noisy-clean');
    const freshRegression = rec.fresh.find((f: { scenario: string }) => f.scenario === 'cost-60');
    expect(freshClean.share).toBeLessThanOrEqual(0.1);
    expect(freshRegression.share).toBeGreaterThanOrEqual(0.9);
    // Whether the fresh clean runs kept the budget, said outright (the console warns when not).
    expect(rec.fresh_within_budget).toBe(freshClean.share <= 0.05);

    // The tuned file is a gate file every command loads, with its evidence in the header.
    expect(existsSync(out)).toBe(true);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/^# Tuned by `rehearse tune`/);
    expect(text).toMatch(/Fresh seeds \(seed \+ 1000003\)/);
    const check = rehearse(['check', dir, '--gates', out, '--seed', '77', '--db', path.join(dir, 'check.duckdb')]);
    expect(check.code).toBe(0);

    const rows = rehearse(['query', '--db', db, '--json', 'SELECT count(*)::INT AS n, count(*) FILTER (WHERE recommended)::INT AS rec, count(*) FILTER (WHERE pareto)::INT AS front FROM tune_results']);
    const [counts] = JSON.parse(rows.stdout);
    expect(counts.n).toBe(39);
    expect(counts.rec).toBe(1);
    expect(counts.front).toBeGreaterThan(0);

    // The report draws the trade-off: every judged config a point, the front a line.
    const report = rehearse(['report', '--db', db, '--out', path.join(dir, 'report')]);
    expect(report.code).toBe(0);
    const html = readFileSync(path.join(dir, 'report', 'report.html'), 'utf8');
    expect(html).toMatch(/id="tune-tradeoff"/);
    expect(html).toMatch(/False alarms against detection/);
  });

  it('refuses a --vary value the gate file would reject, before simulating or writing anything', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-tune-'));
    writeFileSync(path.join(dir, 'regression.yaml'), scenario('cost-60', 1.6, '{ outcome: rollback, gate: cost, probability: 0.5 }'));
    writeFileSync(path.join(dir, 'gates.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n');
    const out = path.join(dir, 'tuned.yaml');
    const db = path.join(dir, 'x.duckdb');
    const r = rehearse(['tune', dir, '--gates', path.join(dir, 'gates.yaml'), '--vary', 'cost.max_ratio=-1,0', '--runs', '5', '--db', db, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('rehearse: --vary "cost.max_ratio=-1,0": cost.max_ratio=-1: must be greater than 0, as in a gate file\n');
    expect(existsSync(out)).toBe(false);
    expect(existsSync(db)).toBe(false);
  });

  it('refuses a grid too large to build with the count and the limit, not an internal error', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-tune-'));
    writeFileSync(path.join(dir, 'regression.yaml'), scenario('cost-60', 1.6, '{ outcome: rollback, gate: cost }'));
    writeFileSync(path.join(dir, 'gates.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n');
    const gates = path.join(dir, 'gates.yaml');
    const db = path.join(dir, 'x.duckdb');
    const one = rehearse(['tune', dir, '--gates', gates, '--vary', 'cost.max_ratio=1:1000000:0.0001', '--db', db]);
    expect(one.code).toBe(2);
    expect(one.stderr).toBe('rehearse: --vary "cost.max_ratio=1:1000000:0.0001": the range makes 9,999,990,001 settings of cost.max_ratio; the limit is 10,000 per field (use a larger step)\n');
    const product = rehearse(['tune', dir, '--gates', gates, '--vary', 'cost.max_ratio=1:2:0.001', '--vary', 'cost.min_samples=0:999:1', '--db', db]);
    expect(product.code).toBe(2);
    expect(product.stderr).toMatch(/^rehearse: --vary: the grid makes 1,001,000 settings \(cost\.max_ratio 1,001 × cost\.min_samples 1,000\); the limit is 1,000,000/);
    expect(product.stderr).not.toMatch(/internal error/);
  });

  it('refuses more runs than it can keep in memory, before simulating', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-tune-'));
    writeFileSync(path.join(dir, 'clean.yaml'), scenario('c', 1.0, '{ outcome: promote }'));
    writeFileSync(path.join(dir, 'regression.yaml'), scenario('cost-60', 1.6, '{ outcome: rollback, gate: cost }'));
    writeFileSync(path.join(dir, 'gates.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n');
    const db = path.join(dir, 'x.duckdb');
    const r = rehearse(['tune', dir, '--gates', path.join(dir, 'gates.yaml'), '--vary', 'cost.max_ratio=1.1,1.2', '--runs', '60000', '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("rehearse: --runs 60000: tune would simulate 120000 runs in all; it keeps every run's windows in memory and takes at most 100000: lower --runs\n");
    expect(existsSync(db)).toBe(false);
    expect(rehearse(['tune', dir, '--gates', path.join(dir, 'gates.yaml'), '--vary', 'cost.max_ratio=1.1', '--runs', '3000000000', '--db', db]).code).toBe(2);
  });

  it('without --gates, tunes the gate file the scenarios name, and refuses when they name several', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-tune-'));
    writeFileSync(path.join(dir, 'gates.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2, min_samples: 50 }\n');
    const own = (name: string, price: number, expect: string, gates: string) => scenario(name, price, expect).replace('runs: 150', `runs: 40\ngates: ${gates}`);
    writeFileSync(path.join(dir, 'clean.yaml'), own('clean', 1.0, '{ outcome: promote }', 'gates.yaml'));
    writeFileSync(path.join(dir, 'cost.yaml'), own('cost', 1.6, '{ outcome: rollback }', 'gates.yaml'));
    const args = (...more: string[]) => ['tune', path.join(dir, 'clean.yaml'), path.join(dir, 'cost.yaml'), '--vary', 'cost.max_ratio=1.1:1.5:0.1', '--db', path.join(dir, 't.duckdb'), '--json', ...more];
    const named = rehearse(args());
    expect(named.stderr).toBe('');
    expect(named.code).toBe(0);
    // The same sweep as naming the file: the same recommendation from the same runs.
    const given = rehearse(args('--gates', path.join(dir, 'gates.yaml')));
    expect(JSON.parse(named.stdout).recommended).toEqual(JSON.parse(given.stdout).recommended);
    expect(JSON.parse(named.stdout).recommended).not.toBeNull();
    // Another scenario judged by inline gates: no one file to tune.
    writeFileSync(path.join(dir, 'inline.yaml'), own('inline', 1.0, '{ outcome: promote }', '\n  - { name: cost, metric: cost_usd, max_ratio: 1.3 }'));
    const mixed = rehearse(['tune', dir, '--vary', 'cost.max_ratio=1.1:1.5:0.1', '--db', path.join(dir, 't.duckdb')]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/tune sweeps one gate file, and the scenarios with `expect` name 2: .*gates\.yaml, inline \(inline\): name the one to tune with --gates/);
  });

  it('exits 2 on a bad --vary', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-tune-'));
    writeFileSync(path.join(dir, 'clean.yaml'), scenario('c', 1.0, '{ outcome: promote }'));
    writeFileSync(path.join(dir, 'gates.yaml'), 'gates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n');
    const r = rehearse(['tune', dir, '--gates', path.join(dir, 'gates.yaml'), '--vary', 'latency.max_ratio=1:2:0.5', '--db', path.join(dir, 'x.duckdb')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no gate named "latency"/);
  });
});
