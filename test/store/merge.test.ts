import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/config/errors.js';
import { Store } from '../../src/store/database.js';
import { mergeShards } from '../../src/store/merge.js';

/**
 * mergeShards underneath `rehearse merge`: shard files are written here row by row (no
 * simulator), so every merged row can be traced to the one shard it came from.
 */

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-merge-store-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fresh = (name: string) => path.join(dir, `${n++}-${name}.duckdb`);

const KINDS = ['rollback', 'hold', 'promote'] as const;

/** The outcome row a run gets, a pure function of the run: what the merged file must hold. */
function outcomeRow(invocation: string, scenario: string, run: number) {
  const outcome = KINDS[run % 3]!;
  const halted = outcome !== 'promote';
  return {
    invocation_id: invocation,
    scenario,
    gate_config: 'strict',
    run,
    outcome,
    halted_stage: halted ? 1 + (run % 2) : null,
    gate: halted ? 'cost' : null,
    canary_requests: 100 + run,
  };
}

interface ShardSpec {
  invocation?: string;
  /** `i/n`, as `simulate --shard` records it in args; absent for an unsharded run. */
  shard?: string;
  status?: string;
  started?: string;
  finished?: string | null;
  runs: number[];
  scenario?: string;
  /** The scenarios row as simulate records it; the defaults are what every shard of job-7 shares. */
  seed?: number;
  scenarioRuns?: number;
  file?: string;
  definition?: Record<string, unknown>;
  /** Recorded arguments beyond paths and shard, e.g. engine or checks. */
  args?: Record<string, unknown>;
  command?: string;
}

async function writeShard(file: string, spec: ShardSpec): Promise<string> {
  const inv = spec.invocation ?? 'job-7';
  const scenario = spec.scenario ?? 's';
  const store = await Store.open(file);
  try {
    const args = JSON.stringify({ paths: ['scenarios'], ...spec.args, ...(spec.shard ? { shard: spec.shard } : {}) });
    const finished = spec.finished === undefined ? "'2026-01-01 10:01:00+00'" : spec.finished === null ? 'NULL' : `'${spec.finished}'`;
    await store.run(`INSERT INTO invocations VALUES ('${inv}', '${spec.command ?? 'simulate'}', '${args}', '${spec.started ?? '2026-01-01 10:00:00+00'}', ${finished}, '${spec.status ?? 'ok'}', '0.1.0')`);
    const definition = JSON.stringify(spec.definition ?? { name: scenario });
    await store.run(`INSERT INTO scenarios VALUES ('${inv}', '${scenario}', '${spec.file ?? 's.yaml'}', NULL, 'strict', ${spec.scenarioRuns ?? 10}, ${spec.seed ?? 1}, '${definition}')`);
    for (const run of spec.runs) {
      const o = outcomeRow(inv, scenario, run);
      await store.run(
        `INSERT INTO outcomes VALUES ('${inv}', '${scenario}', 'strict', ${run}, 1, '${o.outcome}', ${o.halted_stage ?? 'NULL'}, ${o.halted_stage === null ? 'NULL' : 5}, ${o.gate === null ? 'NULL' : `'${o.gate}'`}, ${o.halted_stage === null ? 'NULL' : 10}, ${o.canary_requests})`,
      );
      await store.run(`INSERT INTO checks VALUES ('${inv}', '${scenario}', 'strict', ${run}, 1, 10, 'cost', 1.5, 1.0, ${o.canary_requests}, 0.01, ${run % 2 === 0}, false)`);
    }
    await store.run(`INSERT INTO check_results VALUES ('${inv}', '${scenario}', 'strict', 'rollback', 0.9, ${spec.runs.length}, 0, 0, 0, 1, false, 'shard ${spec.shard ?? '-'}')`);
  } finally {
    store.close();
  }
  return file;
}

async function read(file: string, sql: string): Promise<Record<string, unknown>[]> {
  const store = await Store.open(file, { readOnly: true });
  try {
    return (await store.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    store.close();
  }
}

const outcomesOf = (file: string) =>
  read(file, `SELECT invocation_id, scenario, gate_config, run, outcome, halted_stage, gate, canary_requests::INT AS canary_requests FROM outcomes ORDER BY invocation_id, scenario, run`);

const counts = (file: string) =>
  read(
    file,
    `SELECT (SELECT count(*) FROM invocations)::INT AS invocations, (SELECT count(*) FROM scenarios)::INT AS scenarios, (SELECT count(*) FROM outcomes)::INT AS outcomes,
            (SELECT count(*) FROM checks)::INT AS checks, (SELECT count(*) FROM check_results)::INT AS check_results`,
  ).then((r) => r[0]);

async function failure(p: Promise<unknown>): Promise<UserError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof UserError)) throw new Error(`expected a UserError, got ${String(err)}`);
  return err;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const epoch = (iso: string) => Date.parse(iso) / 1000;

describe('mergeShards', () => {
  it('holds every shard’s rows exactly once and joins their invocation into one', async () => {
    // Ten runs split 0–2, 3–5, 6–9 (shardRange of 10 in 3: floor(10i/3)); the shards started and
    // finished at different times, so the merged invocation spans min(start) to max(finish).
    const shards = [
      await writeShard(fresh('s0'), { shard: '0/3', runs: range(0, 3), started: '2026-01-01 10:00:05+00', finished: '2026-01-01 10:01:00+00' }),
      await writeShard(fresh('s1'), { shard: '1/3', runs: range(3, 6), started: '2026-01-01 10:00:00+00', finished: '2026-01-01 10:02:00+00' }),
      await writeShard(fresh('s2'), { shard: '2/3', runs: range(6, 10), started: '2026-01-01 10:00:03+00', finished: '2026-01-01 10:01:30+00' }),
    ];
    const out = fresh('merged');
    const report = await mergeShards(out, shards);
    expect(report).toEqual({ shards: 3, invocations: [{ invocation_id: 'job-7', shards: ['0/3', '1/3', '2/3'], missing: [], runs: 10 }] });

    expect(await outcomesOf(out)).toEqual(range(0, 10).map((r) => outcomeRow('job-7', 's', r)));
    // Each shard wrote one check per run and one check_results row; the same scenario row three times (kept once).
    expect(await counts(out)).toEqual({ invocations: 1, scenarios: 1, outcomes: 10, checks: 10, check_results: 3 });
    expect(await read(out, `SELECT list(run ORDER BY run) AS runs FROM checks`)).toEqual([{ runs: range(0, 10) }]);
    expect(await read(out, `SELECT message FROM check_results ORDER BY message`)).toEqual([{ message: 'shard 0/3' }, { message: 'shard 1/3' }, { message: 'shard 2/3' }]);

    const [inv] = await read(out, `SELECT invocation_id, command, status, version, epoch(started_at) AS started, epoch(finished_at) AS finished FROM invocations`);
    expect(inv).toEqual({
      invocation_id: 'job-7',
      command: 'simulate',
      status: 'ok',
      version: '0.1.0',
      started: epoch('2026-01-01T10:00:00Z'),
      finished: epoch('2026-01-01T10:02:00Z'),
    });
  });

  it('names the shards that are missing, and a shard’s failure becomes the invocation’s status', async () => {
    // 0/3 and 2/3 of three: 1/3 is missing. Runs 0–2 and 6–9: 3 + 4 = 7 rows.
    const shards = [
      await writeShard(fresh('s0'), { shard: '0/3', runs: range(0, 3) }),
      await writeShard(fresh('s2'), { shard: '2/3', runs: range(6, 10), status: 'interrupted', finished: null }),
    ];
    const out = fresh('partial');
    const report = await mergeShards(out, shards);
    expect(report.invocations).toEqual([{ invocation_id: 'job-7', shards: ['0/3', '2/3'], missing: ['1/3'], runs: 7 }]);
    expect((await outcomesOf(out)).map((r) => r.run)).toEqual([0, 1, 2, 6, 7, 8, 9]);
    expect(await read(out, `SELECT status FROM invocations`)).toEqual([{ status: 'interrupted' }]);
  });

  it('keeps what the output file already holds, and reports an unsharded invocation as such', async () => {
    const out = fresh('existing');
    // The output starts as an unsharded run of another invocation and scenario.
    await writeShard(out, { invocation: 'earlier', scenario: 'old', runs: [0, 1] });
    const report = await mergeShards(out, [await writeShard(fresh('s0'), { shard: '0/1', runs: [0, 1, 2] })]);
    expect(report).toEqual({
      shards: 1,
      invocations: [
        { invocation_id: 'earlier', shards: [], missing: [], runs: 2 },
        { invocation_id: 'job-7', shards: ['0/1'], missing: [], runs: 3 },
      ],
    });
    expect(await outcomesOf(out)).toEqual([outcomeRow('earlier', 'old', 0), outcomeRow('earlier', 'old', 1), ...[0, 1, 2].map((r) => outcomeRow('job-7', 's', r))]);
    expect(await counts(out)).toEqual({ invocations: 2, scenarios: 2, outcomes: 5, checks: 5, check_results: 2 });
  });

  it('refuses overlapping shards with a clear error, and writes nothing', async () => {
    const out = fresh('overlap');
    await writeShard(out, { invocation: 'earlier', runs: [0] });
    const before = await counts(out);
    // Run 4 is in both shards.
    const a = await writeShard(fresh('a'), { shard: '0/2', runs: range(0, 5) });
    const b = await writeShard(fresh('b'), { shard: '1/2', runs: range(4, 8) });
    const err = await failure(mergeShards(out, [a, b]));
    expect(err.message).toMatch(/^shards overlap: run 4 of scenario s \(gates strict, invocation job-7\) is in more than one file/);
    expect(err.exitCode).toBe(2);
    expect(await counts(out)).toEqual(before);
    expect(await outcomesOf(out)).toEqual([outcomeRow('earlier', 's', 0)]);
  });

  it('refused into a new file, leaves no file behind (an empty results file read as a merge that worked)', async () => {
    const a = await writeShard(fresh('a'), { shard: '0/2', runs: range(0, 5) });
    const b = await writeShard(fresh('b'), { shard: '1/2', runs: range(4, 8) });
    const out = fresh('new-overlap');
    const err = await failure(mergeShards(out, [a, b]));
    expect(err.message).toMatch(/^shards overlap/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.wal`)).toBe(false);
  });

  it('refuses a shard merged a second time', async () => {
    const shard = await writeShard(fresh('s0'), { shard: '0/2', runs: [0, 1, 2] });
    const out = fresh('twice');
    await mergeShards(out, [shard]);
    const err = await failure(mergeShards(out, [shard]));
    expect(err.message).toMatch(/^shards overlap: run \d of scenario s \(gates strict, invocation job-7\)/);
    expect(await counts(out)).toEqual({ invocations: 1, scenarios: 1, outcomes: 3, checks: 3, check_results: 1 });
  });

  it('names a missing shard file, and creates no output', async () => {
    const present = await writeShard(fresh('s0'), { shard: '0/2', runs: [0] });
    const missing = path.join(dir, 'no-such-shard.duckdb');
    const out = fresh('never');
    const err = await failure(mergeShards(out, [present, missing]));
    expect(err.message).toBe(`${missing}: no such shard database`);
    expect(existsSync(out)).toBe(false);
  });

  it('names a file that is not a DuckDB database, or not a rehearse results file', async () => {
    const out = fresh('bad-inputs');
    const text = path.join(dir, 'notes.duckdb');
    writeFileSync(text, 'this is not a database\n'.repeat(200));
    const textErr = await failure(mergeShards(out, [text]));
    expect(textErr.message.startsWith(`${text}: cannot open as a shard database`)).toBe(true);

    const foreign = fresh('foreign');
    const instance = await DuckDBInstance.create(foreign);
    const c = await instance.connect();
    await c.run('CREATE TABLE invocations (invocation_id VARCHAR); CREATE TABLE other (x INT)');
    c.closeSync();
    instance.closeSync();
    const good = await writeShard(fresh('good'), { shard: '0/2', runs: [0] });
    const foreignErr = await failure(mergeShards(out, [good, foreign]));
    expect(foreignErr.message).toBe(`${foreign}: not a rehearse results file (no invocations or outcomes table)`);
    // Neither attempt wrote the good shard's rows, nor left the new output file behind.
    expect(existsSync(out)).toBe(false);
  });

  it('names a shard whose tables lack the columns a merge compares', async () => {
    const odd = fresh('odd');
    const instance = await DuckDBInstance.create(odd);
    const c = await instance.connect();
    await c.run('CREATE TABLE invocations (invocation_id VARCHAR); CREATE TABLE outcomes (x INT)');
    c.closeSync();
    instance.closeSync();
    const out = fresh('odd-out');
    const err = await failure(mergeShards(out, [await writeShard(fresh('good'), { shard: '0/2', runs: [0] }), odd]));
    expect(err.message.startsWith(`${odd}: cannot read its invocations table as a rehearse results file (`)).toBe(true);
    expect(existsSync(out)).toBe(false);
  });

  it('merges a shard that has only the invocations and outcomes tables', async () => {
    const file = fresh('minimal');
    const instance = await DuckDBInstance.create(file);
    const c = await instance.connect();
    await c.run(`
      CREATE TABLE invocations (invocation_id VARCHAR, command VARCHAR, args JSON, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, status VARCHAR, version VARCHAR);
      CREATE TABLE outcomes (invocation_id VARCHAR, scenario VARCHAR, gate_config VARCHAR, run INTEGER, seed BIGINT, outcome VARCHAR,
        halted_stage INTEGER, halted_percent DOUBLE, gate VARCHAR, detected_minute DOUBLE, canary_requests BIGINT);
      INSERT INTO invocations VALUES ('job-7', 'simulate', '{"shard":"1/2"}', '2026-01-01 10:00:00+00', '2026-01-01 10:01:00+00', 'ok', '0.1.0');
      INSERT INTO outcomes VALUES ('job-7', 's', 'strict', 5, 1, 'promote', NULL, NULL, NULL, NULL, 105);`);
    c.closeSync();
    instance.closeSync();
    const full = await writeShard(fresh('full'), { shard: '0/2', runs: [0, 1, 2, 3, 4] });
    const out = fresh('with-minimal');
    const report = await mergeShards(out, [full, file]);
    expect(report.invocations).toEqual([{ invocation_id: 'job-7', shards: ['0/2', '1/2'], missing: [], runs: 6 }]);
    // Run 5 is a promote (5 % 3 = 2) with 100 + 5 canary requests: the row written above.
    expect(await outcomesOf(out)).toEqual(range(0, 6).map((r) => outcomeRow('job-7', 's', r)));
    expect(await counts(out)).toEqual({ invocations: 1, scenarios: 1, outcomes: 6, checks: 5, check_results: 1 });
  });

  describe('refuses shards of one invocation that ran different jobs, naming the files, the scenario and the field', () => {
    const refusal = '; shards of one invocation must be simulated from the same scenarios with the same options, or the merge would not equal one unsharded run; nothing was merged';
    const definition = { name: 's', candidate: { price: 1.25, latency: 1 }, stages: [{ percent: 5 }, { percent: 100 }] };

    it.each([
      ['seed', { seed: 99 }, 'scenario s (gates strict, invocation job-7): seed is 1 in A but 99 in B'],
      ['runs', { scenarioRuns: 12 }, 'scenario s (gates strict, invocation job-7): runs is 10 in A but 12 in B'],
      ['definition', { definition: { ...definition, candidate: { latency: 1, price: 1.3 } } }, 'scenario s (gates strict, invocation job-7): definition.candidate.price is 1.25 in A but 1.3 in B'],
      ['definition list', { definition: { ...definition, stages: [{ percent: 10 }, { percent: 100 }] } }, 'scenario s (gates strict, invocation job-7): definition.stages[0].percent is 5 in A but 10 in B'],
      ['shard count', { shard: '1/3' }, 'invocation job-7: the shard count (--shard i/n) is n = 2 in A but n = 3 in B'],
      ['unsharded', { shard: undefined }, 'invocation job-7: the shard count (--shard i/n) is n = 2 in A but unsharded in B'],
      ['engine', { args: { engine: 'sample' } }, 'invocation job-7: --engine is exact (or auto) in A but sample in B'],
      ['checks', { args: { checks: false } }, 'invocation job-7: --no-checks is not given in A but given in B'],
      ['command', { command: 'check' }, 'invocation job-7: command is simulate in A but check in B'],
      ['scenario set', { scenario: 't' }, 'invocation job-7: scenario s (gates strict, invocation job-7) is in A but not in B'],
    ] as [string, Partial<ShardSpec>, string][])('%s', async (_, differs, message) => {
      const out = fresh('mixed');
      await writeShard(out, { invocation: 'earlier', runs: [0] });
      const before = await counts(out);
      const a = await writeShard(fresh('a'), { shard: '0/2', runs: range(0, 5), definition });
      const b = await writeShard(fresh('b'), { shard: '1/2', runs: range(5, 10), definition, ...differs });
      const err = await failure(mergeShards(out, [a, b]));
      expect(err.message).toBe(`${a} and ${b} disagree on ${message.replaceAll(' A', ` ${a}`).replaceAll(' B', ` ${b}`)}${refusal}`);
      expect(err.exitCode).toBe(2);
      // The refusal comes before the transaction: the output holds what it held, nothing half-merged.
      expect(await counts(out)).toEqual(before);
      expect(await outcomesOf(out)).toEqual([outcomeRow('earlier', 's', 0)]);
    });

    it('but merges shards of one job run from other folders: their paths differ, what they ran does not', async () => {
      const out = fresh('paths');
      const at = (file: string, gates: string) => ({ file, definition: { ...definition, file, gates: { label: 'strict', source: gates } } });
      const a = await writeShard(fresh('a'), { shard: '0/2', runs: range(0, 5), ...at('scenarios/s.yaml', 'scenarios/gates/strict.yaml') });
      const b = await writeShard(fresh('b'), { shard: '1/2', runs: range(5, 10), ...at('s.yaml', 'gates/strict.yaml') });
      await mergeShards(out, [a, b]);
      expect(await counts(out)).toMatchObject({ invocations: 1, scenarios: 1, outcomes: 10 });
      // A difference beside the paths is still one.
      const c = await writeShard(fresh('c'), { shard: '1/2', runs: range(5, 10), file: 's.yaml', definition: { ...at('s.yaml', 'x').definition, candidate: { price: 2 } } });
      const again = fresh('paths-2');
      await expect(mergeShards(again, [a, c])).rejects.toThrow(/definition\.candidate/);
    });

    it('holds a shard merged later to the shards merged before', async () => {
      const out = fresh('later');
      await mergeShards(out, [await writeShard(fresh('a'), { shard: '0/2', runs: range(0, 5), definition })]);
      const before = await counts(out);
      const b = await writeShard(fresh('b'), { shard: '1/2', runs: range(5, 10), definition, seed: 99 });
      const err = await failure(mergeShards(out, [b]));
      expect(err.message).toBe(`${out} (merged before) and ${b} disagree on scenario s (gates strict, invocation job-7): seed is 1 in ${out} (merged before) but 99 in ${b}${refusal}`);
      expect(await counts(out)).toEqual(before);
      // The matching half still merges, into one scenarios row.
      await mergeShards(out, [await writeShard(fresh('b'), { shard: '1/2', runs: range(5, 10), definition })]);
      expect(await counts(out)).toEqual({ invocations: 1, scenarios: 1, outcomes: 10, checks: 10, check_results: 2 });
    });

    it('does not hold shards to an unrelated invocation, nor to the key order of a definition', async () => {
      const out = fresh('unrelated');
      await writeShard(out, { invocation: 'earlier', runs: [0], seed: 42 });
      const a = await writeShard(fresh('a'), { shard: '0/2', runs: range(0, 5), definition, args: { engine: 'auto' } });
      const reordered = { stages: definition.stages, candidate: { latency: 1, price: 1.25 }, name: 's' };
      const b = await writeShard(fresh('b'), { shard: '1/2', runs: range(5, 10), definition: reordered, args: { engine: 'exact' } });
      const report = await mergeShards(out, [a, b]);
      expect(report.invocations.map((i) => [i.invocation_id, i.runs])).toEqual([['earlier', 1], ['job-7', 10]]);
      // Agreeing definitions are one row, whichever text each shard happened to write.
      expect(await read(out, `SELECT invocation_id, seed::INT AS seed FROM scenarios ORDER BY ALL`)).toEqual([{ invocation_id: 'earlier', seed: 42 }, { invocation_id: 'job-7', seed: 1 }]);
    });
  });
});
