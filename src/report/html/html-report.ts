import {
  type ReportData,
  type ReportTable,
  describeCommand,
  describeSubject,
  detectionTable,
  gateFiringTable,
  haltStageTable,
  scenarioTable,
  tuneTable,
  verdictTable,
  TUNE_ROW_LIMIT,
} from '../report-data.js';
import { type Chart, reportCharts } from './charts.js';
import { renderSvg } from './render-svg.js';

/**
 * The HTML report: one self-contained file. Charts are inline SVG rendered at build time and the
 * style sheet is inline, so the page opens offline, from an artifact store or a mail attachment,
 * and runs no script at all.
 */
export async function htmlReport(data: ReportData, warnings: string[] = []): Promise<string> {
  const charts = reportCharts(data);
  const figures = new Map<string, string>();
  for (const chart of charts) figures.set(chart.id, await renderSvg(chart.spec, chart.id, warnings));
  // The verdicts table is the point of a check report, so it shows; the others back a chart up.
  const tables: Record<string, { table: ReportTable; rowClasses?: string[]; open?: boolean }> = {
    'check-verdicts': { table: verdictTable(data), rowClasses: verdictRowClasses(data), open: true },
    'halt-stage': { table: haltStageTable(data) },
    'gate-firing': { table: gateFiringTable(data) },
    'detection-time': { table: detectionTable(data) },
  };
  const section = (chart: Chart) => chartSection(chart, figures.get(chart.id)!, tables[chart.id]);
  const body = [
    header(data),
    data.verdicts.length ? verdictSummary(data) : '',
    ...charts.filter((c) => c.id === 'check-verdicts').map(section),
    data.summaries.length
      ? tableSection('scenarios', 'Per scenario', 'The table <code>rehearse simulate</code> prints: medians over the runs that halted.', scenarioTable(data))
      : data.replayBins.length || data.tune
        ? ''
        : '<p class="empty">This invocation recorded no simulated outcomes.</p>',
    ...charts.filter((c) => c.id !== 'check-verdicts').map(section),
    data.tune ? tuneSection(data) : '',
    footer(data),
  ];
  return page(`rehearse report · ${data.invocation.id}`, body.filter(Boolean).join('\n'));
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function header(data: ReportData): string {
  const inv = data.invocation;
  const facts: [string, string][] = [
    ['command', `<code>${escapeHtml(describeCommand(inv))}</code>`],
    ['started', escapeHtml(inv.startedAt)],
    ['took', inv.seconds === null ? '—' : `${inv.seconds.toFixed(1)} s`],
    ['status', `<span class="status status-${escapeHtml(inv.status)}">${escapeHtml(inv.status)}</span>`],
    ...(inv.command === 'replay' || (inv.command === 'tune' && data.tune)
      ? [['covered', escapeHtml(describeSubject(data))] as [string, string]]
      : [
          ['scenarios', String(data.scenarios.length)],
          ['runs', data.totalRuns.toLocaleString('en-US')],
        ] as [string, string][]),
    ...(data.gateConfigs.length ? [['gate configs', data.gateConfigs.map((g) => `<code>${escapeHtml(g)}</code>`).join(', ')] as [string, string]] : []),
  ];
  return `<header>
  <p class="kicker">rehearse ${escapeHtml(inv.command)} report</p>
  <h1>Invocation <code>${escapeHtml(inv.id)}</code></h1>
  <dl class="facts">${facts.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl>
</header>`;
}

function verdictSummary(data: ReportData): string {
  const failed = data.verdicts.filter((v) => !v.passed);
  const text = failed.length
    ? `${failed.length} of ${data.verdicts.length} expectations not met`
    : `all ${data.verdicts.length} expectations met`;
  const details = failed.map((v) => `<li><strong>${escapeHtml(v.scenario)}</strong> (${escapeHtml(v.gateConfig)}): ${escapeHtml(v.message)}</li>`);
  return `<section class="verdict ${failed.length ? 'verdict-fail' : 'verdict-pass'}">
  <p class="verdict-line">${failed.length ? '✗' : '✓'} ${text}</p>
  ${details.length ? `<ul>${details.join('')}</ul>` : ''}
</section>`;
}

function chartSection(chart: Chart, svg: string, data?: { table: ReportTable; rowClasses?: string[]; open?: boolean }): string {
  const table = data ? htmlTable(data.table, data.rowClasses) : '';
  return `<section id="${chart.id}">
  <h2>${escapeHtml(chart.title)}</h2>
  <p class="caption">${escapeHtml(chart.caption)}</p>
  <figure class="chart" data-chart="${chart.id}">${svg}</figure>
  ${!data ? '' : data.open ? `<div class="scroll">${table}</div>` : `<details><summary>as a table</summary><div class="scroll">${table}</div></details>`}
</section>`;
}

function tableSection(id: string, title: string, caption: string, table: ReportTable, rowClasses: string[] = []): string {
  return `<section id="${id}">
  <h2>${escapeHtml(title)}</h2>
  ${caption ? `<p class="caption">${caption}</p>` : ''}
  <div class="scroll">${htmlTable(table, rowClasses)}</div>
</section>`;
}

function verdictRowClasses(data: ReportData): string[] {
  return data.verdicts.map((v) => (v.passed ? 'pass' : 'fail'));
}

function tuneSection(data: ReportData): string {
  const tune = data.tune!;
  const more = tune.total > tune.rows.length ? ` The first ${TUNE_ROW_LIMIT} of ${tune.total.toLocaleString('en-US')} rows; query <code>tune_results</code> for the rest.` : '';
  return tableSection('tune', 'Tuning results', `Rows of <code>tune_results</code> for this invocation.${more}`, tuneTable(tune));
}

export function htmlTable(table: ReportTable, rowClasses: string[] = []): string {
  const cell = (tag: 'th' | 'td', text: string, i: number) => `<${tag}${table.numeric[i] ? ' class="num"' : ''}>${escapeHtml(text)}</${tag}>`;
  const head = `<tr>${table.headers.map((h, i) => cell('th', h, i)).join('')}</tr>`;
  const rows = table.rows.map((r, k) => `<tr${rowClasses[k] ? ` class="${rowClasses[k]}"` : ''}>${r.map((c, i) => cell('td', c, i)).join('')}</tr>`);
  return `<table><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

function footer(data: ReportData): string {
  const id = data.invocation.id.replace(/'/g, "''");
  return `<footer>rehearse ${escapeHtml(data.invocation.version)} · every figure comes from the DuckDB file, e.g.
  <code>rehearse query "SELECT scenario, outcome, count(*) FROM outcomes WHERE invocation_id = '${escapeHtml(id)}' GROUP BY ALL"</code></footer>`;
}

const CSS = `
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --card: #ffffff; --pass: #2f7d4f; --fail: #b7323f; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 48px; }
header { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px; margin-bottom: 20px; }
.kicker { margin: 0; color: var(--muted); text-transform: uppercase; letter-spacing: .08em; font-size: 12px; }
h1 { margin: 4px 0 14px; font-size: 22px; font-weight: 600; }
h1 code { font-size: 20px; }
h2 { margin: 0 0 4px; font-size: 17px; font-weight: 600; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; background: #eef1f5; padding: 1px 5px; border-radius: 4px; }
.facts { display: flex; flex-wrap: wrap; gap: 10px 28px; margin: 0; }
.facts div { min-width: 90px; }
.facts dt { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .06em; }
.facts dd { margin: 0; font-weight: 500; }
.status-ok { color: var(--pass); } .status-failed, .status-interrupted { color: var(--fail); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 24px; margin-bottom: 20px; }
.caption { margin: 0 0 12px; color: var(--muted); max-width: 760px; }
figure.chart { margin: 0; overflow-x: auto; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
details { margin-top: 10px; }
summary { cursor: pointer; color: var(--muted); font-size: 13px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
/* Long headers wrap so the console's ten-column table fits the page. */
th { font-weight: 600; color: var(--muted); font-size: 12px; border-bottom: 2px solid var(--line); white-space: normal; vertical-align: bottom; max-width: 130px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:hover { background: #f8fafc; }
tr.fail td:first-child { color: var(--fail); font-weight: 600; } tr.pass td:first-child { color: var(--pass); }
.verdict { border-left: 5px solid; }
.verdict-pass { border-left-color: var(--pass); } .verdict-fail { border-left-color: var(--fail); }
.verdict-line { margin: 0; font-size: 16px; font-weight: 600; }
.verdict-fail .verdict-line { color: var(--fail); } .verdict-pass .verdict-line { color: var(--pass); }
.verdict ul { margin: 8px 0 0; padding-left: 20px; color: var(--ink); }
.empty { color: var(--muted); }
footer { color: var(--muted); font-size: 12px; }
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}
