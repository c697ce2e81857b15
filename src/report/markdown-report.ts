import {
  type ReportData,
  type ReportTable,
  TUNE_ROW_LIMIT,
  describeCommand,
  describeSubject,
  detectionTable,
  gateFiringTable,
  haltStageTable,
  scenarioTable,
  tuneTable,
  verdictTable,
} from './report-data.js';
import { markdownCell } from './table.js';

/**
 * The Markdown report: the HTML report's tables, chart-free, for a pull request, a wiki or
 * $GITHUB_STEP_SUMMARY where pictures cannot travel.
 */
export function markdownReport(data: ReportData): string {
  const inv = data.invocation;
  const replay = inv.command === 'replay';
  const lines = [
    `# rehearse ${inv.command} report: \`${inv.id}\``,
    '',
    `- command: \`${describeCommand(inv)}\``,
    `- started: ${inv.startedAt}${inv.seconds === null ? '' : `, took ${inv.seconds.toFixed(1)} s`}, status ${inv.status}`,
    `- ${describeSubject(data)}` +
      (!replay && data.gateConfigs.length ? `, gate config${data.gateConfigs.length === 1 ? '' : 's'} ${data.gateConfigs.map((g) => `\`${g}\``).join(', ')}` : ''),
    '',
  ];
  const section = (title: string, table: ReportTable, note = '') => {
    if (table.rows.length === 0) return;
    lines.push(`## ${title}`, '', ...(note ? [note, ''] : []), markdownTable(table), '');
  };
  if (data.verdicts.length) {
    const failed = data.verdicts.filter((v) => !v.passed);
    section(
      'Check verdicts',
      verdictTable(data),
      failed.length ? `**${failed.length} of ${data.verdicts.length} expectations not met.**` : `All ${data.verdicts.length} expectations met.`,
    );
    if (failed.length) lines.push(...failed.map((v) => `- **${v.scenario}** (${v.gateConfig}): ${v.message}`), '');
  }
  if (replay) {
    // A replay has no runs: its findings are the shadow gates' verdicts (the HTML adds the charts).
    const verdicts = data.replayVerdicts;
    const fmt = (x: number | null) => (x === null ? '' : Math.abs(x) < 0.01 && x !== 0 ? x.toPrecision(3) : x.toFixed(3));
    if (verdicts.length === 0) lines.push('This replay judged no shadow gates (run it with `--gates` to judge them).', '');
    else {
      const breaches = verdicts.filter((v) => v.breached === true);
      section(
        'Shadow gates',
        {
          headers: ['gate', 'segment', 'verdict', 'baseline', 'candidate', 'requests'],
          numeric: [false, false, false, true, true, true],
          rows: verdicts.map((v) => [v.gate, v.segment, v.breached === null ? 'abstain' : v.breached ? '**breach**' : 'pass', fmt(v.baseline), fmt(v.candidate), v.requests.toLocaleString('en-US')]),
        },
        breaches.length ? `**${breaches.length} of ${verdicts.length} verdicts breach.**` : `No gate breaches, over all traffic or in a segment.`,
      );
    }
  } else if (data.summaries.length === 0 && !data.tune) lines.push('This invocation recorded no simulated outcomes.', '');
  section('Per scenario', scenarioTable(data), 'Medians are over the runs that halted.');
  section('Where runs halted', haltStageTable(data), 'Share of runs halted at each canary stage (traffic share in brackets).');
  section('Which gate ended the runs', gateFiringTable(data), 'Share of all runs each gate ended.');
  section('When runs halted', detectionTable(data), 'Minute, from the start of the rollout, at which halted runs halted.');
  if (data.tune) {
    const more = data.tune.total > data.tune.rows.length ? ` (the first ${TUNE_ROW_LIMIT} of ${data.tune.total} rows)` : '';
    section('Tuning results', tuneTable(data.tune), `Rows of \`tune_results\` for this invocation${more}.`);
  }
  return lines.join('\n');
}

export function markdownTable(table: ReportTable): string {
  const row = (cells: readonly string[]) => `| ${cells.map(markdownCell).join(' | ')} |`;
  return [row(table.headers), `|${table.numeric.map((n) => (n ? '---:' : '---')).join('|')}|`, ...table.rows.map(row)].join('\n');
}
