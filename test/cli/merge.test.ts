import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');

function rehearse(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('simulate --shard and rehearse merge', () => {
  it('merged shards hold exactly the one-shot outcomes, and overlapping shards are refused', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-merge-'));
    const scenario = path.join(dir, 's.yaml');
    writeFileSync(
      scenario,
      `name: s\nruns: 25\ncandidate: { price: 1.2 }\nnondeterminism: { run: 0.15 }\nrollout:\n  stages: [{ percent: 5, hold: 30m }, { percent: 100 }]\ngates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n`,
    );
    for (const i of [0, 1, 2]) {
      const r = rehearse(['simulate', scenario, '--shard', `${i}/3`, '--invocation', 'job-7', '--db', path.join(dir, `shard-${i}.duckdb`), '--quiet']);
      expect(r.code).toBe(0);
    }
    expect(rehearse(['simulate', scenario, '--db', path.join(dir, 'one.duckdb'), '--quiet']).code).toBe(0);
    const merged = path.join(dir, 'merged.duckdb');
    const m = rehearse(['merge', merged, ...[0, 1, 2].map((i) => path.join(dir, `shard-${i}.duckdb`))]);
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/invocation job-7: 25 outcome rows, shards 0\/3, 1\/3, 2\/3\n/);

    const cols = 'scenario, gate_config, run, seed, outcome, halted_stage, halted_percent, gate, detected_minute, canary_requests';
    const q = rehearse([
      'query', '--db', merged, '--json',
      `ATTACH '${path.join(dir, 'one.duckdb')}' AS one (READ_ONLY);
       SELECT (SELECT count(*) FROM (SELECT ${cols} FROM outcomes EXCEPT ALL SELECT ${cols} FROM one.outcomes))::INT AS extra,
              (SELECT count(*) FROM (SELECT ${cols} FROM one.outcomes EXCEPT ALL SELECT ${cols} FROM outcomes))::INT AS missing,
              (SELECT count(*) FROM outcomes)::INT AS n,
              (SELECT count(DISTINCT outcome) FROM outcomes)::INT AS kinds,
              (SELECT count(*) FROM invocations)::INT AS invocations`,
    ]);
    expect(q.stderr).toBe('');
    expect(JSON.parse(q.stdout)).toEqual([{ extra: 0, missing: 0, n: 25, kinds: 2, invocations: 1 }]);

    const again = rehearse(['merge', merged, path.join(dir, 'shard-0.duckdb')]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/shards overlap: run \d+ of scenario s/);
    const after = rehearse(['query', '--db', merged, '--json', 'SELECT count(*)::INT AS n FROM outcomes']);
    expect(JSON.parse(after.stdout)).toEqual([{ n: 25 }]);
  });

  it('refuses shards of one invocation simulated with different seeds, and writes no rows', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-merge-'));
    const scenario = path.join(dir, 'base.yaml');
    writeFileSync(
      scenario,
      `name: base\nruns: 10\ncandidate: { price: 1.2 }\nrollout:\n  stages: [{ percent: 5, hold: 30m }, { percent: 100 }]\ngates:\n  - { name: cost, metric: cost_usd, max_ratio: 1.2 }\n`,
    );
    const s0 = path.join(dir, 's0.duckdb');
    const s1 = path.join(dir, 's1b.duckdb');
    expect(rehearse(['simulate', scenario, '--shard', '0/2', '--invocation', 'job1', '--db', s0, '--quiet']).code).toBe(0);
    expect(rehearse(['simulate', scenario, '--shard', '1/2', '--invocation', 'job1', '--seed', '99', '--db', s1, '--quiet']).code).toBe(0);
    const out = path.join(dir, 'out.duckdb');
    const m = rehearse(['merge', out, s0, s1]);
    expect(m.code).toBe(2);
    expect(m.stdout).toBe('');
    expect(m.stderr).toBe(
      `rehearse: ${s0} and ${s1} disagree on scenario base (gates inline, invocation job1): seed is 1 in ${s0} but 99 in ${s1}; ` +
        'shards of one invocation must be simulated from the same scenarios with the same options, or the merge would not equal one unsharded run; nothing was merged\n',
    );
    // A new output file is not left behind, empty, as if the merge had worked.
    expect(existsSync(out)).toBe(false);
  });
});
