import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackSegments } from '../../src/report/html/charts.js';
import { htmlReport } from '../../src/report/html/html-report.js';
import { scopeIds } from '../../src/report/html/render-svg.js';
import { markdownReport, markdownTable } from '../../src/report/markdown-report.js';
import { type ReportData, describeCommand, describeSubject, findInvocation, gateFiringTable, haltStageTable, loadReport, scenarioTable, tuneTable } from '../../src/report/report-data.js';
import { Store } from '../../src/store/database.js';

/**
 * The report's figures against outcomes small enough to work out by hand. The DuckDB file is
 * written row by row here, so the test pins the SQL, not the simulator.
 */

let store: Store;

const outcome = (inv: string, scenario: string, config: string, run: number, kind: string, stage: number | null, gate: string | null, minute: number | null, canary: number) =>
  `('${inv}', '${scenario}', '${config}', ${run}, 1, '${kind}', ${stage ?? 'NULL'}, ${stage === null ? 'NULL' : [1, 5, 25][stage - 1]}, ${gate === null ? 'NULL' : `'${gate}'`}, ${minute ?? 'NULL'}, ${canary})`;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-report-data-'));
  store = await Store.open(path.join(dir, 'r.duckdb'));
  await store.run(`
    INSERT INTO invocations VALUES
      ('sim-1', 'simulate', '{"paths":["scenarios"],"gates":["strict.yaml","loose.yaml"]}', '2026-01-01 10:00:00+00', '2026-01-01 10:00:04+00', 'ok', '0.1.0'),
      ('check-1', 'check', '{"paths":["scenarios"]}', '2026-01-02 10:00:00+00', NULL, 'failed', '0.1.0');
    -- beta before alpha, strict before loose: the report keeps the order the invocation ran them in.
    INSERT INTO scenarios VALUES
      ('sim-1', 'beta', 'b.yaml', NULL, 'strict', 4, 1, NULL), ('sim-1', 'beta', 'b.yaml', NULL, 'loose', 4, 1, NULL),
      ('sim-1', 'alpha', 'a.yaml', NULL, 'strict', 2, 1, NULL), ('sim-1', 'alpha', 'a.yaml', NULL, 'loose', 2, 1, NULL),
      ('check-1', 'alpha', 'a.yaml', NULL, 'strict', 2, 1, NULL);
    INSERT INTO outcomes VALUES
      ${outcome('sim-1', 'beta', 'strict', 0, 'rollback', 1, 'cost', 5, 10)},
      ${outcome('sim-1', 'beta', 'strict', 1, 'rollback', 1, 'cost', 10, 20)},
      ${outcome('sim-1', 'beta', 'strict', 2, 'hold', 2, 'thumbs', 40, 100)},
      ${outcome('sim-1', 'beta', 'strict', 3, 'promote', null, null, null, 1000)},
      ${outcome('sim-1', 'beta', 'loose', 0, 'promote', null, null, null, 1000)},
      ${outcome('sim-1', 'beta', 'loose', 1, 'promote', null, null, null, 1000)},
      ${outcome('sim-1', 'alpha', 'strict', 0, 'rollback', 1, 'b', 5, 30)},
      ${outcome('sim-1', 'alpha', 'strict', 1, 'rollback', 2, 'a', 15, 50)},
      ${outcome('sim-1', 'alpha', 'loose', 0, 'hold', 3, 'thumbs', 100, 500)},
      ${outcome('check-1', 'alpha', 'strict', 0, 'rollback', 1, 'b', 5, 30)},
      ${outcome('check-1', 'alpha', 'strict', 1, 'promote', null, null, null, 900)};
    INSERT INTO check_results VALUES
      ('check-1', 'alpha', 'strict', 'rollback via b', 0.9, 2, 1, 0.5, 0.09, 0.91, false, 'expected rollback via b in ≥ 90% of runs; got 50%');
  `);
});

afterAll(() => store.close());

async function report(id?: string): Promise<ReportData> {
  return loadReport(store, await findInvocation(store, id));
}

describe('report data', () => {
  it('picks the latest invocation by default, and refuses an unknown one (exit 2)', async () => {
    expect((await findInvocation(store)).id).toBe('check-1');
    await expect(findInvocation(store, 'nope')).rejects.toMatchObject({ name: 'UserError', exitCode: 2, message: expect.stringMatching(/no invocation nope/) });
  });

  it('refuses (exit 2) a DuckDB file that rehearse did not write', async () => {
    const other = await Store.open(path.join(mkdtempSync(path.join(os.tmpdir(), 'rehearse-report-other-')), 'o.duckdb'));
    try {
      await other.run('DROP TABLE invocations');
      await expect(findInvocation(other)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/not a rehearse results file/) });
    } finally {
      other.close();
    }
  });

  it('summarises each scenario and gate config as the console does, in run order', async () => {
    const data = await report('sim-1');
    expect(data.scenarios).toEqual(['beta', 'alpha']);
    expect(data.gateConfigs).toEqual(['strict', 'loose']);
    // Runs count once per scenario, however many gate configs judged them: beta's 4 and alpha's 2
    // (the console's "N runs"; summed over configs it read 9, and 1,600 for 800 runs judged twice).
    expect(data.totalRuns).toBe(6);
    expect(data.summaries.map((s) => `${s.scenario}/${s.gateConfig}`)).toEqual(['beta/strict', 'beta/loose', 'alpha/strict', 'alpha/loose']);
    expect(data.summaries[0]).toEqual({
      scenario: 'beta',
      gateConfig: 'strict',
      runs: 4,
      rollback: 0.5,
      hold: 0.25,
      promote: 0.25,
      topGate: 'cost',
      topGateShare: 0.5,
      medianHaltStage: 1,
      medianDetectedMinute: 10,
      meanCanaryRequests: 282.5,
    });
    // Nothing halted: no gate, no medians.
    expect(data.summaries[1]).toMatchObject({ promote: 1, topGate: null, medianHaltStage: null, medianDetectedMinute: null });
    // A tie between gates goes to the first name, so the report is the same every time.
    expect(data.summaries[2]).toMatchObject({ topGate: 'a', topGateShare: 0.5, medianHaltStage: 1.5, medianDetectedMinute: 10 });
  });

  it('gives every outcome a share, zero included, so each stack sums to one', async () => {
    const data = await report('sim-1');
    expect(data.outcomeMix).toHaveLength(4 * 3);
    const loose = data.outcomeMix.filter((o) => o.scenario === 'beta' && o.gateConfig === 'loose');
    expect(Object.fromEntries(loose.map((o) => [o.outcome, o.share]))).toEqual({ rollback: 0, hold: 0, promote: 1 });
  });

  it('splits runs by halt stage, gate and detection minute', async () => {
    const data = await report('sim-1');
    const stages = data.haltStages.filter((h) => h.scenario === 'beta' && h.gateConfig === 'strict');
    expect(stages.map((h) => [h.stage, h.percent, h.share])).toEqual([
      [1, 1, 0.5],
      [2, 5, 0.25],
      [null, null, 0.25],
    ]);
    expect(data.gateFirings.filter((g) => g.scenario === 'beta' && g.gateConfig === 'strict').map((g) => [g.gate, g.share])).toEqual([
      ['cost', 0.5],
      ['thumbs', 0.25],
    ]);
    const detection = data.detection.find((d) => d.scenario === 'beta' && d.gateConfig === 'strict')!;
    expect(detection).toMatchObject({ halted: 3, min: 5, p25: 7.5, median: 10, p75: 25, max: 40 });
    expect(data.detection.some((d) => d.scenario === 'beta' && d.gateConfig === 'loose')).toBe(false);
  });

  it('lays the shares out as text tables with one column per stage and per gate', async () => {
    const data = await report('sim-1');
    const stages = haltStageTable(data);
    expect(stages.headers).toEqual(['scenario', 'gates', 'stage 1 (1%)', 'stage 2 (5%)', 'stage 3 (25%)', 'promoted']);
    expect(stages.rows[0]).toEqual(['beta', 'strict', '50%', '25%', '—', '25%']);
    expect(gateFiringTable(data).headers).toEqual(['scenario', 'gates', 'a', 'b', 'cost', 'thumbs']);
    expect(scenarioTable(data).rows[0]).toEqual(['beta', 'strict', '4', '50%', '25%', '25%', 'cost (50%)', '1', '10', '283']);
  });

  it('reads the check verdicts of a check invocation', async () => {
    const data = await report('check-1');
    expect(data.gateConfigs).toEqual(['strict']);
    expect(data.verdicts).toHaveLength(1);
    expect(data.verdicts[0]).toMatchObject({ scenario: 'alpha', passed: false, share: 0.5, probability: 0.9 });
    const md = markdownReport(data);
    expect(md).toMatch(/## Check verdicts/);
    expect(md).toMatch(/\| FAIL \| alpha \| strict \| rollback via b \| ≥ 90% \| 50% \| 9–91% \| 2 \|/);
  });

  it('shows tune_results verbatim whatever its columns, and leaves it out when the table is absent or unkeyed', async () => {
    await store.run('DROP TABLE IF EXISTS tune_results');
    expect((await report('sim-1')).tune).toBeNull();
    await store.run(`CREATE TABLE tune_results (invocation_id VARCHAR, setting VARCHAR, score DOUBLE, recommended BOOLEAN)`);
    await store.run(`INSERT INTO tune_results VALUES ('sim-1', 'x=1', 0.5, false), ('sim-1', 'x=2', 0.9, true), ('sim-1', 'x=3', 10040.3, false), ('sim-1', 'x=4', 9999.5, false), ('other', 'x=3', 0.1, false)`);
    const tune = (await report('sim-1')).tune!;
    expect(tune.columns).toEqual(['setting', 'score', 'recommended']);
    // The recommended row first; from 10,000 up whole numbers with separators (%.4g wrote 1.004e+04).
    expect(tune.rows).toEqual([
      ['x=2', '0.9', 'true'],
      ['x=1', '0.5', 'false'],
      ['x=3', '10,040', 'false'],
      ['x=4', '10,000', 'false'],
    ]);
    expect(tuneTable(tune).numeric).toEqual([false, true, false]);
    expect(markdownReport(await report('sim-1'))).toMatch(/## Tuning results[\s\S]*\| x=2 \| 0.9 \| true \|/);
    await store.run('DROP TABLE tune_results');
    await store.run(`CREATE TABLE tune_results (setting VARCHAR)`);
    expect((await report('sim-1')).tune).toBeNull();
  });

  it('says what an invocation covered: scenarios and runs, a replay\'s requests, a tune\'s settings', async () => {
    const data = await report('sim-1');
    expect(describeSubject(data)).toBe(`${data.scenarios.length} scenario${data.scenarios.length === 1 ? '' : 's'}, ${data.totalRuns.toLocaleString('en-US')} runs`);
    expect(describeSubject({ ...data, invocation: { ...data.invocation, command: 'replay' }, replayRequests: 8819 })).toBe('8,819 requests');
    const tune = { columns: ['setting'], rows: [['x=1']], total: 21 };
    expect(describeSubject({ ...data, invocation: { ...data.invocation, command: 'tune' }, tune, scenarios: [], totalRuns: 0 })).toBe('21 gate settings judged on the same simulated runs');
    expect(describeSubject({ ...data, invocation: { ...data.invocation, command: 'tune' }, tune, scenarios: ['a', 'b'], totalRuns: 400 })).toBe(
      '21 gate settings judged on the same simulated runs; the recommended one re-simulated with fresh seeds: 2 scenarios, 400 runs',
    );
  });

  it('reads a file from before check_results existed', async () => {
    await store.run('ALTER TABLE check_results RENAME TO check_results_kept');
    try {
      expect((await report('check-1')).verdicts).toEqual([]);
    } finally {
      await store.run('ALTER TABLE check_results_kept RENAME TO check_results');
    }
  });
});

describe('HTML report', () => {
  it('is one file with a chart per figure, no script, no external reference, and no chart warning', async () => {
    const warnings: string[] = [];
    const html = await htmlReport(await report('sim-1'), warnings);
    expect(warnings).toEqual([]);
    const figures = html.match(/<figure class="chart" data-chart="[^"]+"><svg[\s\S]*?<\/svg><\/figure>/g) ?? [];
    expect(figures.map((f) => /data-chart="([^"]+)"/.exec(f)![1])).toEqual(['outcome-mix', 'halt-stage', 'gate-firing', 'detection-time']);
    expect(html).not.toMatch(/<script|<link|<img|@import/i);
    // The only URLs are XML namespaces, which browsers never fetch.
    const urls = [...html.matchAll(/https?:\/\/[^\s"')]+/g)].map((m) => m[0]);
    expect(urls.every((u) => u.startsWith('http://www.w3.org/'))).toBe(true);
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(html).toMatch(/<h1>Invocation <code>sim-1<\/code><\/h1>/);
  });

  it('adds the verdict chart for a check invocation', async () => {
    const html = await htmlReport(await report('check-1'));
    expect(html).toMatch(/data-chart="check-verdicts"/);
    expect(html).toMatch(/1 of 1 expectations not met/);
  });
});

describe('report helpers', () => {
  it('stacks shares end to end in category order, labelling only segments wide enough to hold one', () => {
    const segments = stackSegments(
      [
        { scenario: 's', gateConfig: 'g', category: 'promote', share: 0.05 },
        { scenario: 's', gateConfig: 'g', category: 'rollback', share: 0.75 },
        { scenario: 's', gateConfig: 'g', category: 'hold', share: 0.2 },
        { scenario: 's', gateConfig: 'g', category: 'never', share: 0 },
      ],
      ['rollback', 'hold', 'promote', 'never'],
      () => '#fff',
    );
    expect(segments.map((s) => [s.category, s.start, s.end, s.label])).toEqual([
      ['rollback', 0, 0.75, '75%'],
      ['hold', 0.75, 0.95, '20%'],
      ['promote', 0.95, 1, ''],
    ]);
  });

  it('escapes pipes in Markdown cells', () => {
    expect(markdownTable({ headers: ['a', 'n'], rows: [['x|y', '1']], numeric: [false, true] })).toBe('| a | n |\n|---|---:|\n| x\\|y | 1 |');
  });

  it('scopes SVG ids so charts inline in one page do not share clip paths', () => {
    expect(scopeIds('<clipPath id="clip1"/><g clip-path="url(#clip1)"/>', 'gate-firing')).toBe(
      '<clipPath id="gate-firing-clip1"/><g clip-path="url(#gate-firing-clip1)"/>',
    );
  });
});

describe('describeCommand', () => {
  const info = (command: string, args: unknown) => ({ id: 'i', command, args, startedAt: '', seconds: null, status: 'ok', version: '0' });

  it("gives replay's trace as its positional argument, as the command line takes it", () => {
    const args = { trace: 'traces/t.csv', target: 'stub.yaml', limit: 10, db: 'r.duckdb', quiet: true, refusalPattern: ['nope'] };
    expect(describeCommand(info('replay', args))).toBe('rehearse replay traces/t.csv --target stub.yaml --limit 10 --refusal-pattern nope');
  });

  it('gives paths first for the commands that take them', () => {
    expect(describeCommand(info('simulate', { paths: ['a.yaml', 'b/'], runs: 5, checks: true, workers: 2 }))).toBe('rehearse simulate a.yaml b/ --runs 5');
  });
});
