import { beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml, htmlReport, htmlTable } from '../../../src/report/html/html-report.js';
import type { CheckVerdict, ReportData } from '../../../src/report/report-data.js';

/**
 * The HTML report as text, without a browser (test/report/html.test.ts opens it in Chromium):
 * one self-contained page, no script and nothing fetched, and user text (scenario and gate config
 * names, invocation ids, messages) escaped wherever it lands, tables and charts alike.
 */

const EVIL = `<script>alert(1)</script> & "q" 's'`;
/** EVIL escaped by hand: & → &amp; first, then < > " ' → &lt; &gt; &quot; &#39;. */
const EVIL_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#39;s&#39;';
const CFG = 'g<i>&';

function empty(over: Partial<ReportData> = {}): ReportData {
  return {
    invocation: { id: 'inv-1', command: 'simulate', args: {}, startedAt: '2026-01-01 10:00 UTC', seconds: null, status: 'running', version: '0.1.0' },
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

const failed: CheckVerdict = {
  scenario: EVIL,
  gateConfig: CFG,
  expected: 'rollback <via> cost',
  probability: 0.9,
  runs: 4,
  met: 3,
  share: 0.75,
  ciLow: 0.3,
  ciHigh: 0.95,
  passed: false,
  message: 'got <b>75%</b> & less',
};

/** A check of two scenarios, one named to break out of its markup, under a config named likewise. */
function hostile(): ReportData {
  return empty({
    invocation: {
      id: "job<1>&'x'",
      command: 'check',
      args: { paths: ['a<b>.yaml'], gates: ['x&y.yaml'] },
      startedAt: '2026-01-01 10:00 UTC',
      seconds: 2.34,
      status: 'ok',
      version: '0.1.0',
    },
    scenarios: [EVIL, 'clean'],
    gateConfigs: [CFG],
    totalRuns: 1234,
    summaries: [
      { scenario: EVIL, gateConfig: CFG, runs: 4, rollback: 0.5, hold: 0.25, promote: 0.25, topGate: 'co<st', topGateShare: 0.5, medianHaltStage: 1, medianDetectedMinute: 10, meanCanaryRequests: 100 },
      { scenario: 'clean', gateConfig: CFG, runs: 4, rollback: 0, hold: 0, promote: 1, topGate: null, topGateShare: 0, medianHaltStage: null, medianDetectedMinute: null, meanCanaryRequests: 1000 },
    ],
    outcomeMix: [
      { scenario: EVIL, gateConfig: CFG, outcome: 'rollback', runs: 2, share: 0.5 },
      { scenario: EVIL, gateConfig: CFG, outcome: 'hold', runs: 1, share: 0.25 },
      { scenario: EVIL, gateConfig: CFG, outcome: 'promote', runs: 1, share: 0.25 },
      { scenario: 'clean', gateConfig: CFG, outcome: 'promote', runs: 4, share: 1 },
    ],
    haltStages: [
      { scenario: EVIL, gateConfig: CFG, stage: 1, percent: 10, runs: 3, share: 0.75 },
      { scenario: EVIL, gateConfig: CFG, stage: null, percent: null, runs: 1, share: 0.25 },
      { scenario: 'clean', gateConfig: CFG, stage: null, percent: null, runs: 4, share: 1 },
    ],
    gateFirings: [{ scenario: EVIL, gateConfig: CFG, gate: 'co<st', runs: 3, share: 0.75 }],
    detection: [{ scenario: EVIL, gateConfig: CFG, halted: 3, min: 5, p10: 5, p25: 7.5, median: 10, p75: 25, p90: 34, max: 40 }],
    verdicts: [failed],
  });
}

let html: string;
let warnings: string[];

beforeAll(async () => {
  warnings = [];
  html = await htmlReport(hostile(), warnings);
});

/** The page without its inline SVG figures: the report's own markup. */
const withoutSvg = (page: string) => page.replace(/<svg[\s\S]*?<\/svg>/g, '');

describe('htmlReport is self-contained', () => {
  it('is one HTML document with an inline style sheet and no chart warning', () => {
    expect(warnings).toEqual([]);
    expect(html.startsWith('<!doctype html>\n<html lang="en">')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html.match(/<style>/g)).toHaveLength(1);
    expect(html).toContain('<meta charset="utf-8">');
  });

  it('runs no script and loads nothing: no script, link, image, frame, import or event handler', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<(link|img|iframe|object|embed|base)\b/i);
    expect(html).not.toMatch(/@import|\bsrc=/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    // The only URLs are XML namespace names, which browsers never fetch.
    const urls = [...html.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"')<]*/gi)].map((m) => m[0]);
    expect(urls.length).toBeGreaterThan(0);
    for (const u of urls) expect(u.startsWith('http://www.w3.org/')).toBe(true);
    // url(…) appears only as a reference to an id in the same page.
    for (const m of html.matchAll(/url\(([^)]*)\)/g)) expect(m[1]!.startsWith('#')).toBe(true);
  });

  it('draws every chart inline as SVG, with ids scoped to its figure and unique in the page', () => {
    const figures = [...html.matchAll(/<figure class="chart" data-chart="([^"]+)">(<svg[\s\S]*?<\/svg>)<\/figure>/g)];
    expect(figures.map((f) => f[1])).toEqual(['check-verdicts', 'outcome-mix', 'halt-stage', 'gate-firing', 'detection-time']);
    for (const [, id, svg] of figures) {
      for (const m of svg!.matchAll(/\bid="([^"]+)"/g)) expect(m[1]!.startsWith(`${id}-`)).toBe(true);
    }
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('htmlReport escapes user text', () => {
  it('never lets a name out of its text: no raw markup from a scenario, gate config or message', () => {
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<i>');
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<via>');
    expect(html).not.toContain('co<st');
    // Every & starts an entity: a bare & would be the start of an unescaped name.
    expect(html.match(/&(?!(?:[a-z]+|#\d+|#x[0-9a-f]+);)/gi)).toBeNull();
  });

  it('escapes the scenario name in every table row, the failure list and the charts', () => {
    const page = withoutSvg(html);
    // Rows: the verdict table, the scenarios table, the halt-stage, gate and detection tables.
    expect(page.split(`<td>${EVIL_ESCAPED}</td>`)).toHaveLength(1 + 5);
    expect(page).toContain(`<li><strong>${EVIL_ESCAPED}</strong> (g&lt;i&gt;&amp;): got &lt;b&gt;75%&lt;/b&gt; &amp; less</li>`);
    // The charts label their rows with the name too (escaped as SVG text, possibly shortened).
    expect(html).toMatch(/<text[^>]*>&lt;script&gt;alert\(1\)/);
  });

  it('escapes the invocation, the command line, the gate configs and a gate name in the header and tables', () => {
    expect(html).toContain('<title>rehearse report · job&lt;1&gt;&amp;&#39;x&#39;</title>');
    expect(html).toContain('<h1>Invocation <code>job&lt;1&gt;&amp;&#39;x&#39;</code></h1>');
    // describeCommand: paths first, then --gates for each file.
    expect(html).toContain('<dd><code>rehearse check a&lt;b&gt;.yaml --gates x&amp;y.yaml</code></dd>');
    expect(html).toContain('<dt>gate configs</dt><dd><code>g&lt;i&gt;&amp;</code></dd>');
    expect(html).toContain('<th class="num">co&lt;st</th>');
    expect(html).toContain('<td>co&lt;st (50%)</td>');
  });

  it('quotes the invocation id for SQL in the footer query, then escapes it for HTML', () => {
    // job<1>&'x' → SQL doubles each quote: job<1>&''x'' → HTML: &lt; &gt; &amp; and &#39; per quote.
    expect(html).toContain("WHERE invocation_id = 'job&lt;1&gt;&amp;&#39;&#39;x&#39;&#39;' GROUP BY ALL");
  });
});

describe('htmlReport layout', () => {
  it('states the facts of the invocation in the header', () => {
    // 2.34 s → "2.3 s"; 1234 runs → "1,234"; 2 scenarios.
    expect(html).toContain('<p class="kicker">rehearse check report</p>');
    expect(html).toContain('<dt>took</dt><dd>2.3 s</dd>');
    expect(html).toContain('<dt>runs</dt><dd>1,234</dd>');
    expect(html).toContain('<dt>scenarios</dt><dd>2</dd>');
    expect(html).toContain('<span class="status status-ok">ok</span>');
  });

  it('leads with the verdict, its chart and its table open, then the scenarios, then the other charts', () => {
    const order = ['class="verdict verdict-fail"', 'id="check-verdicts"', 'id="scenarios"', 'id="outcome-mix"', 'id="halt-stage"', 'id="gate-firing"', 'id="detection-time"', '<footer>'];
    const at = order.map((s) => html.indexOf(s));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(html).toContain('<p class="verdict-line">✗ 1 of 1 expectations not met</p>');
    const section = (id: string) => /<section id="[^"]+">[\s\S]*?<\/section>/.exec(html.slice(html.indexOf(`<section id="${id}"`)))![0];
    // The verdicts table shows, its failed row classed; the other tables fold away under the chart.
    expect(section('check-verdicts')).not.toContain('<details>');
    expect(section('check-verdicts')).toContain('<tr class="fail"><td>FAIL</td>');
    for (const id of ['halt-stage', 'gate-firing', 'detection-time']) expect(section(id)).toContain('<details><summary>as a table</summary>');
    // The outcome mix has no table of its own.
    expect(withoutSvg(section('outcome-mix'))).not.toContain('<table>');
    // Numbers right-aligned: the detection table's p25 7.5 rounds to 8.
    expect(section('detection-time')).toContain('<td class="num">3</td><td class="num">5</td><td class="num">5</td><td class="num">8</td><td class="num">10</td>');
  });

  it('says when every expectation was met, with no failure list', async () => {
    const data = hostile();
    data.verdicts = [{ ...failed, passed: true, scenario: 'a' }, { ...failed, passed: true, scenario: 'b' }];
    const page = withoutSvg(await htmlReport(data));
    expect(page).toContain('<section class="verdict verdict-pass">');
    expect(page).toContain('<p class="verdict-line">✓ all 2 expectations met</p>');
    const summary = /<section class="verdict[^"]*">[\s\S]*?<\/section>/.exec(page)![0];
    expect(summary).not.toContain('<ul>');
    expect(summary).not.toContain('<li>');
  });

  it('says so when nothing was recorded, and draws no chart', async () => {
    const page = await htmlReport(empty());
    expect(page).toContain('<p class="empty">This invocation recorded no simulated outcomes.</p>');
    expect(page).not.toContain('<figure');
    expect(page).not.toContain('<svg');
    // No duration recorded: a dash; no gate configs: no such fact.
    expect(page).toContain('<dt>took</dt><dd>—</dd>');
    expect(page).not.toContain('gate configs');
    expect(page).toContain('<span class="status status-running">running</span>');
  });

  it('shows a tune invocation as its rows, saying when they are only the first ones', async () => {
    const data = empty({ tune: { columns: ['setting', 'score'], rows: [['x=<1>', '0.5']], total: 1500 } });
    const page = await htmlReport(data);
    // Tune data: not "nothing recorded".
    expect(page).not.toContain('class="empty"');
    expect(page).toContain('<section id="tune">');
    expect(page).toContain('The first 200 of 1,500 rows; query <code>tune_results</code> for the rest.');
    expect(page).toContain('<tr><td>x=&lt;1&gt;</td><td class="num">0.5</td></tr>');
    const all = await htmlReport(empty({ tune: { columns: ['setting'], rows: [['x=1']], total: 1 } }));
    expect(all).not.toContain('The first');
    // The header says what a tune covered, not 0 scenarios and 0 runs; a replay, its requests.
    const tuned = await htmlReport(empty({ invocation: { ...empty().invocation, command: 'tune' }, tune: { columns: ['setting'], rows: [['x=1']], total: 21 } }));
    expect(tuned).toContain('<dt>covered</dt><dd>21 gate settings judged on the same simulated runs</dd>');
    expect(tuned).not.toContain('<dt>scenarios</dt>');
    const replayed = await htmlReport(empty({ invocation: { ...empty().invocation, command: 'replay' }, replayRequests: 8819 }));
    expect(replayed).toContain('<dt>covered</dt><dd>8,819 requests</dd>');
  });
});

describe('escapeHtml', () => {
  it('escapes the five characters that matter in text and attributes, & first', () => {
    expect(escapeHtml(`<a href="x">'&amp;'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;amp;&#39;&lt;/a&gt;');
    expect(escapeHtml('plain text, ü and 1 < 2')).toBe('plain text, ü and 1 &lt; 2');
    expect(escapeHtml('')).toBe('');
  });
});

describe('htmlTable', () => {
  it('writes a head and a body, classes numeric cells and the rows asked for, and escapes every cell', () => {
    const table = htmlTable(
      { headers: ['name', 'n'], rows: [['a<b', '1'], ['c', '2']], numeric: [false, true] },
      ['fail'],
    );
    expect(table).toBe(
      '<table><thead><tr><th>name</th><th class="num">n</th></tr></thead>' +
        '<tbody><tr class="fail"><td>a&lt;b</td><td class="num">1</td></tr><tr><td>c</td><td class="num">2</td></tr></tbody></table>',
    );
  });

  it('is an empty body for no rows', () => {
    expect(htmlTable({ headers: ['x&y'], rows: [], numeric: [false] })).toBe('<table><thead><tr><th>x&amp;y</th></tr></thead><tbody></tbody></table>');
  });
});
