import { describe, expect, it } from 'vitest';
import { markdownReport, markdownTable } from '../../src/report/markdown-report.js';
import { type CheckVerdict, type ReportData, TUNE_ROW_LIMIT } from '../../src/report/report-data.js';

/**
 * The Markdown report, built from report data written out by hand (no DuckDB), so every line
 * below follows from the fields: percentages are share × 100 rounded, counts are grouped with
 * commas, and numeric columns are right-aligned with `---:`.
 */

function emptyData(over: Partial<ReportData> = {}): ReportData {
  return {
    invocation: { id: 'inv-7', command: 'simulate', args: {}, startedAt: '2026-01-01 10:00 UTC', seconds: null, status: 'running', version: '0.1.0' },
    scenarios: [],
    gateConfigs: [],
    totalRuns: 0,
    summaries: [],
    outcomeMix: [],
    haltStages: [],
    gateFirings: [],
    detection: [],
    verdicts: [],
    tune: null,
    tradeoff: [],
    replayBins: [],
    replayVerdicts: [],
    replayRequests: 0,
    ...over,
  };
}

/** One scenario under one gate config: 40 runs, 75% rolled back, 5% held, 20% promoted. */
function singleData(): ReportData {
  return emptyData({
    invocation: {
      id: 'inv-7',
      command: 'simulate',
      // paths lead the command; db, workers, quiet are incidental; checks: true is the default (left out).
      args: { paths: ['scenarios'], db: 'x.duckdb', workers: 2, runs: 40, checks: true, quiet: true },
      startedAt: '2026-01-01 10:00 UTC',
      seconds: 12.34,
      status: 'ok',
      version: '0.1.0',
    },
    scenarios: ['cost-30'],
    gateConfigs: ['default'],
    totalRuns: 40,
    summaries: [
      {
        scenario: 'cost-30',
        gateConfig: 'default',
        runs: 40,
        rollback: 0.75,
        hold: 0.05,
        promote: 0.2,
        topGate: 'cost',
        topGateShare: 0.7,
        medianHaltStage: 1,
        medianDetectedMinute: 12.5,
        meanCanaryRequests: 1234.4,
      },
    ],
    haltStages: [
      { scenario: 'cost-30', gateConfig: 'default', stage: 2, percent: 50, runs: 4, share: 0.1 },
      { scenario: 'cost-30', gateConfig: 'default', stage: null, percent: null, runs: 8, share: 0.2 },
      { scenario: 'cost-30', gateConfig: 'default', stage: 1, percent: 5, runs: 28, share: 0.7 },
    ],
    gateFirings: [
      { scenario: 'cost-30', gateConfig: 'default', gate: 'errors', runs: 4, share: 0.1 },
      { scenario: 'cost-30', gateConfig: 'default', gate: 'cost', runs: 28, share: 0.7 },
    ],
    detection: [{ scenario: 'cost-30', gateConfig: 'default', halted: 32, min: 5, p10: 5, p25: 10, median: 12.5, p75: 20, p90: 35.4, max: 60 }],
  });
}

const verdict = (over: Partial<CheckVerdict>): CheckVerdict => ({
  scenario: 'alpha',
  gateConfig: 'strict',
  expected: 'rollback via cost',
  probability: 0.9,
  runs: 200,
  met: 190,
  share: 0.95,
  ciLow: 0.912,
  ciHigh: 0.974,
  passed: true,
  message: 'ok',
  ...over,
});

describe('markdownReport', () => {
  it('writes the header, then one section per table, with right-aligned numeric columns', () => {
    // Header: seconds 12.34 → "12.3 s"; 1 scenario (singular), 40 runs, 1 gate config (singular).
    // Per scenario: 0.75/0.05/0.2 → 75%/5%/20%; top gate cost 0.7 → "cost (70%)"; median stage 1;
    //   median minute 12.5 → Math.round → 13; mean canary 1234.4 → 1,234. The gate column is text.
    // Halt stages sorted by stage, promoted last: 70% / 10% / 20%.
    // Gates sorted by name: cost 70%, errors 10%.
    // Detection: 32 halted; 5, 5, 10, 12.5 → 13, 20, 35.4 → 35, 60.
    expect(markdownReport(singleData())).toBe(
      [
        '# rehearse simulate report: `inv-7`',
        '',
        '- command: `rehearse simulate scenarios --runs 40`',
        '- started: 2026-01-01 10:00 UTC, took 12.3 s, status ok',
        '- 1 scenario, 40 runs, gate config `default`',
        '',
        '## Per scenario',
        '',
        'Medians are over the runs that halted.',
        '',
        '| scenario | runs | rollback | hold | promote | gate firing most (share of runs) | median halt stage | median detect min | mean canary req |',
        '|---|---:|---:|---:|---:|---|---:|---:|---:|',
        '| cost-30 | 40 | 75% | 5% | 20% | cost (70%) | 1 | 13 | 1,234 |',
        '',
        '## Where runs halted',
        '',
        'Share of runs halted at each canary stage (traffic share in brackets).',
        '',
        '| scenario | stage 1 (5%) | stage 2 (50%) | promoted |',
        '|---|---:|---:|---:|',
        '| cost-30 | 70% | 10% | 20% |',
        '',
        '## Which gate ended the runs',
        '',
        'Share of all runs each gate ended.',
        '',
        '| scenario | cost | errors |',
        '|---|---:|---:|',
        '| cost-30 | 70% | 10% |',
        '',
        '## When runs halted',
        '',
        'Minute, from the start of the rollout, at which halted runs halted.',
        '',
        '| scenario | halted runs | min | p10 | p25 | median | p75 | p90 | max |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
        '| cost-30 | 32 | 5 | 5 | 10 | 13 | 20 | 35 | 60 |',
        '',
      ].join('\n'),
    );
  });

  it('says when nothing was simulated, leaves out empty sections, and omits the duration when unknown', () => {
    // No summaries: every pivot table has no rows, so no "##" section at all; no gate configs: no clause.
    expect(markdownReport(emptyData())).toBe(
      [
        '# rehearse simulate report: `inv-7`',
        '',
        '- command: `rehearse simulate`',
        '- started: 2026-01-01 10:00 UTC, status running',
        '- 0 scenarios, 0 runs',
        '',
        'This invocation recorded no simulated outcomes.',
        '',
      ].join('\n'),
    );
  });

  it("gives a replay's shadow gate verdicts, not simulated runs it never had", () => {
    const replay = (verdicts: ReportData['replayVerdicts']) =>
      markdownReport(emptyData({ invocation: { id: 'r-1', command: 'replay', args: { trace: 't.csv', target: 's.yaml' }, startedAt: '2026-01-01 10:00 UTC', seconds: 1.5, status: 'ok', version: '0.1.0' }, replayVerdicts: verdicts, replayRequests: 8819 }));
    expect(replay([
      { gate: 'cost', segment: 'all traffic', breached: true, baseline: 0.00107, candidate: 0.00151, requests: 8819 },
      { gate: 'p99', segment: 'route: chat', breached: null, baseline: 3960, candidate: null, requests: 12 },
    ])).toBe(
      [
        '# rehearse replay report: `r-1`',
        '',
        '- command: `rehearse replay t.csv --target s.yaml`',
        '- started: 2026-01-01 10:00 UTC, took 1.5 s, status ok',
        '- 8,819 requests',
        '',
        '## Shadow gates',
        '',
        '**1 of 2 verdicts breach.**',
        '',
        '| gate | segment | verdict | baseline | candidate | requests |',
        '|---|---|---|---:|---:|---:|',
        '| cost | all traffic | **breach** | 0.00107 | 0.00151 | 8,819 |',
        '| p99 | route: chat | abstain | 3960.000 |  | 12 |',
        '',
      ].join('\n'),
    );
    expect(replay([])).toContain('This replay judged no shadow gates (run it with `--gates` to judge them).');
  });

  it('adds a gates column and lists every gate config when there are several', () => {
    const base = singleData();
    const loose = { ...base.summaries[0]!, gateConfig: 'loose', rollback: 0.25, hold: 0, promote: 0.75, topGate: 'cost', topGateShare: 0.25 };
    const data: ReportData = {
      ...base,
      scenarios: ['cost-30', 'clean'],
      gateConfigs: ['default', 'loose'],
      totalRuns: 12345,
      summaries: [base.summaries[0]!, loose],
      haltStages: [],
      gateFirings: [],
      detection: [],
    };
    const md = markdownReport(data);
    // 2 scenarios (plural), 12345 → "12,345", configs in order, each in backticks.
    expect(md).toContain('- 2 scenarios, 12,345 runs, gate configs `default`, `loose`\n');
    // The key columns are scenario and gates, both text; numbers start at the third column.
    expect(md).toContain('| scenario | gates | runs | rollback |');
    expect(md).toContain('|---|---|---:|---:|---:|---:|---|---:|---:|---:|');
    expect(md).toContain('| cost-30 | default | 40 | 75% | 5% | 20% | cost (70%) | 1 | 13 | 1,234 |');
    expect(md).toContain('| cost-30 | loose | 40 | 25% | 0% | 75% | cost (25%) | 1 | 13 | 1,234 |');
    // Halt-stage and gate tables pivot over the summaries: with no stage or gate columns they still
    // have rows, so their sections appear with only the key columns.
    expect(md).toContain('## Where runs halted');
    expect(md).not.toContain('## When runs halted');
  });

  it('opens with the check verdicts, says how many failed and lists each failure', () => {
    const data = singleData();
    data.verdicts = [
      verdict({}),
      // 0.6 → 60%; CI 0.504 → 50, 0.69 → 69; 100 runs; required 0.95 → "≥ 95%".
      verdict({ scenario: 'beta', gateConfig: 'loose', probability: 0.95, runs: 100, met: 60, share: 0.6, ciLow: 0.504, ciHigh: 0.69, passed: false, message: 'expected rollback; got 60%' }),
    ];
    const md = markdownReport(data);
    const block = [
      '## Check verdicts',
      '',
      '**1 of 2 expectations not met.**',
      '',
      // The first header is empty: "| " + "" + " | ".
      '|  | scenario | gates | expected | required | met | 95% CI | runs |',
      '|---|---|---|---|---:|---:|---:|---:|',
      // 0.9 → "≥ 90%", 0.95 → 95%, CI 0.912 → 91, 0.974 → 97.
      '| pass | alpha | strict | rollback via cost | ≥ 90% | 95% | 91–97% | 200 |',
      '| FAIL | beta | loose | rollback via cost | ≥ 95% | 60% | 50–69% | 100 |',
      '',
      '- **beta** (loose): expected rollback; got 60%',
      '',
      '## Per scenario',
    ].join('\n');
    expect(md).toContain(block);
    expect(md.indexOf('## Check verdicts')).toBeLessThan(md.indexOf('## Per scenario'));
  });

  it('says all expectations were met, with no failure list, when every verdict passed', () => {
    const data = singleData();
    data.verdicts = [verdict({}), verdict({ scenario: 'beta' })];
    const md = markdownReport(data);
    expect(md).toContain('## Check verdicts\n\nAll 2 expectations met.\n\n|  | scenario |');
    expect(md).not.toMatch(/^- \*\*/m);
    expect(md).not.toContain('not met');
  });

  it('appends the tune rows last, and says when they are only the first rows', () => {
    const data = singleData();
    // score: "0.5" and "" are numeric (an empty cell does not count against it); setting is text.
    data.tune = { columns: ['setting', 'score'], rows: [['x=1', '0.5'], ['x=2', '']], total: 2 };
    const md = markdownReport(data);
    expect(md.endsWith(['## Tuning results', '', 'Rows of `tune_results` for this invocation.', '', '| setting | score |', '|---|---:|', '| x=1 | 0.5 |', '| x=2 |  |', ''].join('\n'))).toBe(true);
    data.tune = { ...data.tune, total: 350 };
    expect(markdownReport(data)).toContain(`Rows of \`tune_results\` for this invocation (the first ${TUNE_ROW_LIMIT} of 350 rows).`);
  });

  it('keeps a scenario name with | or a newline inside its cell', () => {
    const data = singleData();
    const name = 'a|b\nc';
    data.scenarios = [name];
    data.summaries = [{ ...data.summaries[0]!, scenario: name }];
    data.haltStages = [];
    data.gateFirings = [];
    data.detection = [];
    const rows = markdownReport(data).split('\n').filter((l) => l.startsWith('| a'));
    // | escaped as \|, the newline as a space; one row per table (per scenario, halt stages, gates).
    expect(rows).toHaveLength(3);
    expect(rows[0]).toBe('| a\\|b c | 40 | 75% | 5% | 20% | cost (70%) | 1 | 13 | 1,234 |');
  });
});

describe('markdownTable', () => {
  it('writes the header, the alignment row from `numeric`, and one line per row', () => {
    expect(
      markdownTable({
        headers: ['name', 'n', 'note'],
        rows: [
          ['x', '1', 'a\\b'],
          ['y', '22', 'p|q'],
        ],
        numeric: [false, true, false],
      }),
    ).toBe(['| name | n | note |', '|---|---:|---|', '| x | 1 | a\\\\b |', '| y | 22 | p\\|q |'].join('\n'));
  });

  it('is the header and alignment row alone for no rows', () => {
    expect(markdownTable({ headers: ['a'], rows: [], numeric: [true] })).toBe('| a |\n|---:|');
  });
});
