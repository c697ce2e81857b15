import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PER_REQUEST_WINDOW, type SimulationOptions, checkPerRequestWindows, checkRunsPerProcess, runSimulationJob, whereResultsWent } from '../../src/cli/simulation-job.js';
import { loadScenarios } from '../../src/config/load.js';
import { ConfigError, UserError } from '../../src/config/errors.js';
import type { Scenario } from '../../src/config/model.js';
import { Store } from '../../src/store/database.js';
import { userErrorOf } from '../user-error.js';

/**
 * The job `simulate` and `check` share: load scenarios and gate files, simulate on the pool (the
 * built worker, as in every pool test), and record it all under one invocation. Scenarios are
 * tiny (a few runs at 100 requests a minute) and one worker is used, so each job takes well under
 * a second. The DuckDB file is read back to see what the job recorded.
 */

let dir: string;

const scenario = (name: string) => `name: ${name}
runs: 10
seed: 3
traffic:
  requests_per_minute: 100
candidate: { price: 1.5 }
rollout:
  stages: [{ percent: 10, hold: 10m }, { percent: 100 }]
  check_every: 5m
gates:
  - { name: cost, metric: cost_usd, max_ratio: 1.2 }
`;

const options = (db: string, over: Partial<SimulationOptions> = {}): SimulationOptions => ({
  db: path.join(dir, db),
  workers: 1,
  checks: true,
  engine: 'auto',
  quiet: true,
  ...over,
});

async function rows(db: string, sql: string): Promise<Record<string, unknown>[]> {
  const store = await Store.open(path.join(dir, db), { readOnly: true });
  try {
    return (await store.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    store.close();
  }
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-simulation-job-'));
  writeFileSync(path.join(dir, 'alpha.yaml'), scenario('alpha'));
  writeFileSync(path.join(dir, 'beta.yaml'), scenario('beta'));
  // Two gate files with one base name: their labels must still differ.
  for (const [sub, gate, ratio] of [['one', 'c1', 1.1], ['two', 'c2', 10]] as const) {
    mkdirSync(path.join(dir, sub));
    writeFileSync(path.join(dir, sub, 'strict.yaml'), `gates:\n  - { name: ${gate}, metric: cost_usd, max_ratio: ${ratio} }\n`);
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('runSimulationJob', () => {
  it('simulates with the overrides applied and records the invocation, its scenarios and outcomes', async () => {
    const sigint = process.listenerCount('SIGINT');
    const opts = options('a.duckdb', { runs: 12, seed: 7, invocation: 'job-a' });
    const job = await runSimulationJob('simulate', [path.join(dir, 'alpha.yaml')], opts);
    expect(job.invocation).toBe('job-a');
    // --runs 12 and --seed 7 replace the file's 10 and 3.
    expect(job.scenarios.map((s) => [s.name, s.runs, s.seed])).toEqual([['alpha', 12, 7]]);
    expect(job.totalRuns).toBe(12);
    expect(job.results).toHaveLength(1);
    expect(job.results[0]!.configs.map((c) => c.gates.map((g) => g.name))).toEqual([['cost']]);
    expect(job.seconds).toBeGreaterThanOrEqual(0);
    // The SIGINT handler is for the job's lifetime only.
    expect(process.listenerCount('SIGINT')).toBe(sigint);

    const [inv] = await rows('a.duckdb', `SELECT command, status, args::VARCHAR AS args, finished_at IS NOT NULL AS finished FROM invocations`);
    expect(inv).toMatchObject({ command: 'simulate', status: 'ok', finished: true });
    // The recorded args are the paths and the options as given.
    expect(JSON.parse(String(inv!.args))).toMatchObject({ paths: [path.join(dir, 'alpha.yaml')], runs: 12, seed: 7, workers: 1, engine: 'auto', checks: true });
    const [o] = await rows(
      'a.duckdb',
      `SELECT count(*)::INT AS n, count(DISTINCT run)::INT AS runs, min(run)::INT AS lo, max(run)::INT AS hi, min(seed)::INT AS s0, max(seed)::INT AS s1,
              count(DISTINCT invocation_id)::INT AS invocations, any_value(invocation_id) AS id FROM outcomes`,
    );
    // Runs 0…11, each once, all under seed 7 and this invocation.
    expect(o).toEqual({ n: 12, runs: 12, lo: 0, hi: 11, s0: 7, s1: 7, invocations: 1, id: 'job-a' });
    // Gates written in the scenario itself are labelled "inline".
    expect(await rows('a.duckdb', 'SELECT scenario, gate_config, runs::INT AS runs, seed::INT AS seed FROM scenarios')).toEqual([
      { scenario: 'alpha', gate_config: 'inline', runs: 12, seed: 7 },
    ]);
    const [c] = await rows('a.duckdb', 'SELECT count(*)::INT AS n FROM checks');
    expect(Number(c!.n)).toBeGreaterThan(0);
  });

  it('records no checks when asked not to, under a fresh id when none is given', async () => {
    const job = await runSimulationJob('check', [path.join(dir, 'alpha.yaml')], options('b.duckdb', { checks: false, runs: 3 }));
    expect(job.invocation).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await rows('b.duckdb', 'SELECT count(*)::INT AS n FROM checks')).toEqual([{ n: 0 }]);
    expect(await rows('b.duckdb', `SELECT i.command, i.invocation_id, count(*)::INT AS n FROM outcomes o JOIN invocations i USING (invocation_id) GROUP BY ALL`)).toEqual([
      { command: 'check', invocation_id: job.invocation, n: 3 },
    ]);
  });

  it("simulates only the shard's runs and records the shard as i/n", async () => {
    // Shard 1 of 3 of 10 runs: [⌊1·10/3⌋, ⌊2·10/3⌋) = [3, 6): runs 3, 4, 5.
    const job = await runSimulationJob('simulate', [path.join(dir, 'alpha.yaml')], options('c.duckdb', { shard: { index: 1, count: 3 }, invocation: 'sharded' }));
    expect(job.totalRuns).toBe(3);
    expect(await rows('c.duckdb', 'SELECT run::INT AS run FROM outcomes ORDER BY run')).toEqual([{ run: 3 }, { run: 4 }, { run: 5 }]);
    const [inv] = await rows('c.duckdb', 'SELECT args::VARCHAR AS args FROM invocations');
    expect(JSON.parse(String(inv!.args)).shard).toBe('1/3');
  });

  it("judges every --gates file in place of the scenario's gates, telling same-named files apart", async () => {
    const gates = [path.join(dir, 'one', 'strict.yaml'), path.join(dir, 'two', 'strict.yaml')];
    const job = await runSimulationJob('simulate', [path.join(dir, 'alpha.yaml')], options('d.duckdb', { gates, runs: 6 }));
    // Both are "strict" by file name; the second gets a prime.
    expect(job.results[0]!.configs.map((c) => c.label)).toEqual(['strict', "strict'"]);
    // Every run is judged under both configs: 6 × 2 outcome rows; the scenario's own gate "cost" is gone.
    const fired = await rows('d.duckdb', 'SELECT gate_config, count(*)::INT AS n, coalesce(list(DISTINCT gate ORDER BY gate) FILTER (WHERE gate IS NOT NULL), []) AS gates FROM outcomes GROUP BY ALL ORDER BY gate_config');
    // The candidate costs 1.5×: c1 (max 1.1×) ends runs, c2 (max 10×) cannot. The runs are seeded, so this is fixed.
    expect(fired).toEqual([
      { gate_config: 'strict', n: 6, gates: ['c1'] },
      { gate_config: "strict'", n: 6, gates: [] },
    ]);
    expect(await rows('d.duckdb', 'SELECT DISTINCT gate_config FROM scenarios ORDER BY ALL')).toEqual([{ gate_config: 'strict' }, { gate_config: "strict'" }]);
  });

  it('simulates only the scenarios `select` keeps', async () => {
    const paths = [path.join(dir, 'alpha.yaml'), path.join(dir, 'beta.yaml')];
    const job = await runSimulationJob('check', paths, options('e.duckdb', { runs: 2 }), (all) => all.filter((s) => s.name === 'beta'));
    expect(job.scenarios.map((s) => s.name)).toEqual(['beta']);
    expect(job.totalRuns).toBe(2);
    expect(await rows('e.duckdb', 'SELECT DISTINCT scenario FROM outcomes')).toEqual([{ scenario: 'beta' }]);
  });

  it('lets afterWrite add rows in the same session, after the outcomes and before the invocation closes', async () => {
    const seen: unknown[] = [];
    const job = await runSimulationJob('check', [path.join(dir, 'alpha.yaml')], options('f.duckdb', { runs: 4, invocation: 'inv-f' }), undefined, async (store, invocation, results) => {
      const read = async (sql: string) => (await store.connection.runAndReadAll(sql)).getRowObjectsJson();
      seen.push(invocation, results.length, await read('SELECT status FROM invocations'), await read('SELECT count(*)::INT AS n FROM outcomes'));
      await store.run(`CREATE TABLE extra AS SELECT '${invocation}' AS invocation_id`);
    });
    expect(seen).toEqual(['inv-f', 1, [{ status: 'running' }], [{ n: 4 }]]);
    expect(job.invocation).toBe('inv-f');
    expect(await rows('f.duckdb', 'SELECT status FROM invocations')).toEqual([{ status: 'ok' }]);
    expect(await rows('f.duckdb', 'SELECT invocation_id FROM extra')).toEqual([{ invocation_id: 'inv-f' }]);
  });

  it('marks the invocation failed and rethrows when the work fails', async () => {
    const sigint = process.listenerCount('SIGINT');
    const boom = new Error('afterWrite failed');
    await expect(
      runSimulationJob('check', [path.join(dir, 'alpha.yaml')], options('g.duckdb', { runs: 2 }), undefined, async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(process.listenerCount('SIGINT')).toBe(sigint);
    const [inv] = await rows('g.duckdb', 'SELECT status, finished_at IS NOT NULL AS finished FROM invocations');
    expect(inv).toEqual({ status: 'failed', finished: true });
  });

  it('stops on a bad scenario or gate file before creating the database', async () => {
    await expect(runSimulationJob('simulate', [path.join(dir, 'missing.yaml')], options('h.duckdb'))).rejects.toMatchObject({ name: expect.stringMatching(/Error$/), exitCode: 2, message: expect.stringMatching(/missing\.yaml/) });
    await expect(runSimulationJob('simulate', [path.join(dir, 'alpha.yaml')], options('h.duckdb', { gates: [path.join(dir, 'nope.yaml')] }))).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/nope\.yaml/) });
    expect(existsSync(path.join(dir, 'h.duckdb'))).toBe(false);
  });

  it('refuses an invocation id already recorded in the file (exit 2), before simulating', async () => {
    const store = await Store.open(path.join(dir, 'i.duckdb'));
    await store.run(`INSERT INTO invocations VALUES ('twice', 'simulate', '{}', now(), now(), 'ok', '0.1.0')`);
    store.close();
    await expect(runSimulationJob('simulate', [path.join(dir, 'alpha.yaml')], options('i.duckdb', { runs: 2, invocation: 'twice' }))).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/invocation twice is already recorded/),
    });
    // The refused job closed the file: another process can open it (DuckDB locks a file per process).
    const cli = path.resolve(import.meta.dirname, '../../dist/cli/main.js');
    const other = spawnSync(process.execPath, [cli, 'query', '--db', path.join(dir, 'i.duckdb'), 'SELECT 1'], { encoding: 'utf8' });
    expect(other.stderr).toBe('');
    expect(other.status).toBe(0);
  });
});

describe('runSimulationJob: gate files and expect', () => {
  it('judges a gate file named twice, by any spelling of its path, once', async () => {
    const strict = path.join(dir, 'one', 'strict.yaml');
    const job = await runSimulationJob('simulate', [path.join(dir, 'alpha.yaml')], options('dup.duckdb', { gates: [strict, path.join(dir, 'two', '..', 'one', 'strict.yaml'), strict], runs: 2 }));
    expect(job.results[0]!.configs.map((c) => c.label)).toEqual(['strict']);
  });

  it('simulate ignores expect.gate; check needs it in at least one config, whichever comes first', async () => {
    const file = path.join(dir, 'expects.yaml');
    writeFileSync(file, `${scenario('expects')}expect: { outcome: rollback, gate: c2 }\n`);
    const one = path.join(dir, 'one', 'strict.yaml');
    const two = path.join(dir, 'two', 'strict.yaml');
    await runSimulationJob('simulate', [file], options('exp-a.duckdb', { gates: [one], runs: 2 }));
    for (const gates of [[one, two], [two, one]]) {
      const job = await runSimulationJob('check', [file], options(`exp-${gates[0] === one ? 'b' : 'c'}.duckdb`, { gates, runs: 2 }));
      expect(job.results[0]!.configs).toHaveLength(2);
    }
    await expect(runSimulationJob('check', [file], options('exp-d.duckdb', { gates: [one], runs: 2 }))).rejects.toThrow(/expect\.gate: no gate named "c2" in gate config strict \(gates: c1\)/);
    expect(existsSync(path.join(dir, 'exp-d.duckdb'))).toBe(false);
  });
});

describe('checkRunsPerProcess', () => {
  const s = (name: string, runs: number) => ({ name, file: `${name}.yaml`, runs }) as Scenario;

  it('lets through up to 100000 runs with checks recorded, 1000000 without', () => {
    expect(() => checkRunsPerProcess([s('a', 100_000)], 100_000, { checks: true })).not.toThrow();
    expect(() => checkRunsPerProcess([s('a', 1_000_000)], 1_000_000, { checks: false })).not.toThrow();
    expect(() => checkRunsPerProcess([s('a', 100_001)], 100_001, { checks: true })).toThrow(UserError);
  });

  it('names --runs, the scenario file and its runs field, or the sum, and a shard count that fits', () => {
    const byOption = userErrorOf(() => checkRunsPerProcess([s('a', 150_000), s('b', 150_000)], 300_000, { runs: 150_000, checks: true }));
    expect(byOption.exitCode).toBe(2);
    expect(byOption.message).toMatch(/^--runs 150000: 2 scenarios × 150000 = 300000 runs are more than one process simulates \(at most 100000, .*; 1000000 with --no-checks\); split the work: run `rehearse simulate … --shard i\/3 /);
    const byFile = userErrorOf(() => checkRunsPerProcess([s('a', 3_000_000)], 3_000_000, { checks: false }));
    expect(byFile).toBeInstanceOf(ConfigError);
    expect(byFile.message).toMatch(/^a\.yaml: runs: 3000000 runs are more than one process simulates \(at most 1000000 even with --no-checks, .*--shard i\/3 .*for i = 0 … 2 .*`rehearse merge <out\.duckdb> shard-\*\.duckdb`$/);
    const bySum = userErrorOf(() => checkRunsPerProcess([s('a', 60_000), s('b', 60_000)], 120_000, { checks: true }));
    expect(bySum.message).toMatch(/^the scenarios' runs add up to 120000 runs are more/);
  });

  it('counts the shard it runs, and suggests enough shards even when floors make one a run larger', () => {
    const e = userErrorOf(() => checkRunsPerProcess([s('a', 100_001), s('b', 100_001), s('c', 100_001)], 150_003, { checks: true, shard: { index: 0, count: 2 } }));
    // 300003 runs: 4 shards of at most 3 × ⌈100001 / 4⌉ = 75003.
    expect(e.message).toMatch(/150003 runs in shard 0\/2 are more than .*--shard i\/4 /);
    // 200000 runs in 2 shards would put ⌈66667 / 2⌉ + ⌈66667 / 2⌉ + ⌈66666 / 2⌉ = 100001 in one: 3 shards.
    const tight = userErrorOf(() => checkRunsPerProcess([s('a', 66_667), s('b', 66_667), s('c', 66_666)], 200_000, { checks: true }));
    expect(tight.message).toMatch(/--shard i\/3 /);
  });
});

describe('whereResultsWent', () => {
  it('names the file, the invocation, the tables and a query to start from', () => {
    expect(whereResultsWent('r.duckdb', 'abc', 'outcomes, checks')).toBe(
      'Results: r.duckdb (invocation abc)\n' +
        '  tables outcomes, checks; for example:\n' +
        `  npx rehearse query --db r.duckdb "SELECT scenario, outcome, count(*) AS runs FROM outcomes WHERE invocation_id = 'abc' GROUP BY ALL ORDER BY ALL"\n`,
    );
  });
});

describe('checkPerRequestWindows', () => {
  // 10% canary: the baseline arm holds 90% of a window. At 2,000,000 requests a minute a 5-minute
  // check window holds 9,000,000 baseline requests and the 30-minute stage 54,000,000.
  const load = (gates: string, rpm = 2_000_000) => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'rehearse-windows-'));
    const file = path.join(d, 'big.yaml');
    writeFileSync(
      file,
      `name: big\nruns: 1\ntraffic: { requests_per_minute: ${rpm} }\nrollout:\n  stages: [{ percent: 10, hold: 30m }, { percent: 100 }]\n  check_every: 5m\ngates:\n${gates}`,
    );
    const [s] = loadScenarios([file]);
    return s!;
  };
  const fails = (s: Scenario, engine: 'auto' | 'sample') => {
    try {
      checkPerRequestWindows(s, [s.gates!], engine);
    } catch (err) {
      if (err instanceof UserError) return err.message;
      throw err;
    }
    return null;
  };

  it('lets through what fits, and gates the exact engine draws directly at any traffic', () => {
    expect(fails(load('  - { name: shift, metric: output_tokens, test: ks }\n'), 'auto')).toBeNull();
    expect(fails(load('  - { name: cost, metric: cost_usd, max_ratio: 1.2, window: stage }\n', 900_000_000), 'auto')).toBeNull();
  });

  it('refuses a scenario that resamples a trace, drawn request by request under every engine, before any work', async () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'rehearse-windows-'));
    const file = path.join(d, 'emp.yaml');
    const trace = path.resolve(import.meta.dirname, '../../traces/synthetic.jsonl');
    writeFileSync(
      file,
      `runs: 1\ntraffic: { requests_per_minute: 1000000000, traces: ${trace}, price: { input_per_million: 0.5, output_per_million: 1.5 } }\nrollout:\n  stages: [{ percent: 1, hold: 5m }, { percent: 100 }]\n  check_every: 5m\ngates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n`,
    );
    const db = path.join(d, 'emp.duckdb');
    await expect(runSimulationJob('simulate', [file], { db, workers: 1, checks: true, engine: 'auto', quiet: true })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/emp\.yaml: every gate is drawn request by request for traffic resampled from a trace, .* holds about 4,950,000,000 requests of one arm/),
    });
    expect(existsSync(db)).toBe(false);
  });

  it('refuses a per-request window beyond the limit before any work, naming the file, gate, stage and size', () => {
    const stage = fails(load('  - { name: p99s, metric: latency_ms, stat: p99, max_ratio: 1.5, window: stage }\n'), 'auto');
    expect(stage).toMatch(/big\.yaml: gate p99s is drawn request by request .*stage 1 \(10%\), holds about 54,000,000 requests of one arm; at most 50,000,000/);
    // The sample engine draws every gate request by request.
    expect(fails(load('  - { name: cost, metric: cost_usd, max_ratio: 1.2, window: stage }\n'), 'sample')).toMatch(/every gate is drawn request by request under --engine sample/);
    expect(MAX_PER_REQUEST_WINDOW).toBe(50_000_000);
  });
});
