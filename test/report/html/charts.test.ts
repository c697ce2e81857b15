import { describe, expect, it } from 'vitest';
import {
  type Chart,
  detectionChart,
  gateFiringChart,
  haltStageChart,
  outcomeMixChart,
  replayDistributionChart,
  replayVerdictChart,
  reportCharts,
  stackSegments,
  tradeoffChart,
  verdictChart,
} from '../../../src/report/html/charts.js';
import type { ReportData } from '../../../src/report/report-data.js';

/**
 * The report's Vega-Lite specs, as data: report data is written by hand and each spec's values,
 * encodings and titles are checked against what that data must give (the stacked segments are
 * added up here). Rendering is render-svg's test; here every spec only has to compile cleanly.
 */

// Specs are plain objects; reading them back needs no Vega-Lite types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;
const specOf = (c: Chart | null): Loose => {
  expect(c).not.toBeNull();
  return c!.spec as Loose;
};

const INVOCATION = { id: 'inv', command: 'simulate', args: {}, startedAt: '2026-01-01 10:00 UTC', seconds: 1, status: 'ok', version: '0.1.0' };

function empty(over: Partial<ReportData> = {}): ReportData {
  return {
    invocation: INVOCATION,
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

/** Two scenarios under one gate config: cost-30 halts 75% of its runs (50% rollback, 25% hold), clean promotes all. */
function simulated(): ReportData {
  const cfg = 'default';
  return empty({
    scenarios: ['cost-30', 'clean'],
    gateConfigs: [cfg],
    totalRuns: 8,
    // Deliberately out of category order: the chart, not the input, fixes the stacking order.
    outcomeMix: [
      { scenario: 'cost-30', gateConfig: cfg, outcome: 'promote', runs: 1, share: 0.25 },
      { scenario: 'cost-30', gateConfig: cfg, outcome: 'rollback', runs: 2, share: 0.5 },
      { scenario: 'cost-30', gateConfig: cfg, outcome: 'hold', runs: 1, share: 0.25 },
      { scenario: 'clean', gateConfig: cfg, outcome: 'rollback', runs: 0, share: 0 },
      { scenario: 'clean', gateConfig: cfg, outcome: 'hold', runs: 0, share: 0 },
      { scenario: 'clean', gateConfig: cfg, outcome: 'promote', runs: 4, share: 1 },
    ],
    haltStages: [
      { scenario: 'cost-30', gateConfig: cfg, stage: 3, percent: 50, runs: 1, share: 0.25 },
      { scenario: 'cost-30', gateConfig: cfg, stage: 1, percent: 10, runs: 2, share: 0.5 },
      { scenario: 'cost-30', gateConfig: cfg, stage: null, percent: null, runs: 1, share: 0.25 },
      { scenario: 'clean', gateConfig: cfg, stage: null, percent: null, runs: 4, share: 1 },
    ],
    gateFirings: [
      { scenario: 'cost-30', gateConfig: cfg, gate: 'errors', runs: 1, share: 0.25 },
      { scenario: 'cost-30', gateConfig: cfg, gate: 'cost', runs: 2, share: 0.5 },
    ],
    detection: [{ scenario: 'cost-30', gateConfig: cfg, halted: 3, min: 5, p10: 6, p25: 7.5, median: 10, p75: 25, p90: 34, max: 40 }],
  });
}

const verdict = (scenario: string, gateConfig: string, passed: boolean) => ({
  scenario,
  gateConfig,
  expected: 'promote',
  probability: 0.9,
  runs: 40,
  met: passed ? 38 : 20,
  share: passed ? 0.95 : 0.5,
  ciLow: passed ? 0.83 : 0.35,
  ciHigh: passed ? 0.99 : 0.65,
  passed,
  message: passed ? '' : 'expected promote',
});

describe('reportCharts', () => {
  it('leaves out every chart with nothing to show', () => {
    expect(reportCharts(empty())).toEqual([]);
  });

  it('gives every chart the data supports, in reading order', () => {
    const data: ReportData = {
      ...simulated(),
      verdicts: [verdict('clean', 'default', true)],
      tradeoff: [{ setting: 'x=1', falseAlarm: 0.1, detection: 0.9, exposure: 100, pareto: true, recommended: true }],
      replayBins: [{ metric: 'latency_ms', arm: 'baseline', low: 1, high: 2, share: 1 }],
      replayVerdicts: [{ gate: 'cost', segment: 'all traffic', breached: false, baseline: 1, candidate: 1, requests: 10 }],
    };
    expect(reportCharts(data).map((c) => c.id)).toEqual([
      'check-verdicts',
      'replay-verdicts',
      'replay-distributions',
      'tune-tradeoff',
      'outcome-mix',
      'halt-stage',
      'gate-firing',
      'detection-time',
    ]);
    // Ids are unique (they become element ids and SVG id prefixes), every chart has a title and a caption.
    const charts = reportCharts(data);
    expect(new Set(charts.map((c) => c.id)).size).toBe(charts.length);
    for (const c of charts) {
      expect(c.title.length).toBeGreaterThan(0);
      expect(c.caption.length).toBeGreaterThan(0);
    }
  });

  it('gives only the simulation charts for a simulate invocation', () => {
    expect(reportCharts(simulated()).map((c) => c.id)).toEqual(['outcome-mix', 'halt-stage', 'gate-firing', 'detection-time']);
  });
});

describe('stackSegments', () => {
  it('stacks each scenario and config separately, from zero, in category order', () => {
    const segs = stackSegments(
      [
        { scenario: 's', gateConfig: 'a', category: 'y', share: 0.25 },
        { scenario: 's', gateConfig: 'b', category: 'y', share: 1 },
        { scenario: 's', gateConfig: 'a', category: 'x', share: 0.75 },
      ],
      ['x', 'y'],
      (c) => (c === 'x' ? 'white' : 'black'),
    );
    // s/a: x 0 → 0.75 (mid 0.375), then y 0.75 → 1 (mid 0.875); s/b starts again at 0.
    expect(segs.map((s) => [s.gateConfig, s.category, s.start, s.end, s.mid, s.label, s.ink])).toEqual([
      ['a', 'x', 0, 0.75, 0.375, '75%', 'white'],
      ['a', 'y', 0.75, 1, 0.875, '25%', 'black'],
      ['b', 'y', 0, 1, 0.5, '100%', 'black'],
    ]);
  });

  it('labels a segment from 8% of the bar up, and drops empty ones', () => {
    const segs = stackSegments(
      [
        { scenario: 's', gateConfig: 'g', category: 'a', share: 0.08 },
        { scenario: 's', gateConfig: 'g', category: 'b', share: 0.07 },
        { scenario: 's', gateConfig: 'g', category: 'c', share: 0 },
      ],
      ['a', 'b', 'c'],
      () => '#000',
    );
    expect(segs.map((s) => [s.category, s.label])).toEqual([
      ['a', '8%'],
      ['b', ''],
    ]);
  });
});

describe('outcomeMixChart', () => {
  it('is null without outcomes', () => {
    expect(outcomeMixChart(empty())).toBeNull();
  });

  it('stacks rollback, hold and promote per scenario, in the outcome colours, one chart wide', () => {
    const chart = outcomeMixChart(simulated())!;
    expect(chart.id).toBe('outcome-mix');
    expect(chart.title).toBe('Outcome mix');
    const spec = specOf(chart);
    expect(spec.facet).toBeUndefined();
    expect(spec.width).toBe(640);
    // cost-30: rollback 0 → 0.5, hold 0.5 → 0.75, promote 0.75 → 1; clean: promote 0 → 1 (zeros dropped).
    // Ink: dark on the amber hold, white elsewhere.
    expect(spec.data.values.map((v: Loose) => [v.scenario, v.category, v.start, v.end, v.mid, v.label, v.ink])).toEqual([
      ['cost-30', 'rollback', 0, 0.5, 0.25, '50%', '#ffffff'],
      ['cost-30', 'hold', 0.5, 0.75, 0.625, '25%', '#3b2a00'],
      ['cost-30', 'promote', 0.75, 1, 0.875, '25%', '#ffffff'],
      ['clean', 'promote', 0, 1, 0.5, '100%', '#ffffff'],
    ]);
    const [bars, labels] = spec.layer;
    expect(bars.mark.type).toBe('bar');
    // Scenarios down the side in run order, shares along 0–100%.
    expect(bars.encoding.y).toMatchObject({ field: 'scenario', type: 'nominal', scale: { domain: ['cost-30', 'clean'] } });
    expect(bars.encoding.x).toMatchObject({ field: 'start', type: 'quantitative', scale: { domain: [0, 1] }, title: 'share of runs' });
    expect(bars.encoding.x2).toEqual({ field: 'end' });
    expect(bars.encoding.color.field).toBe('category');
    expect(bars.encoding.color.scale).toEqual({ domain: ['rollback', 'hold', 'promote'], range: ['#d1495b', '#edae49', '#3f9b64'] });
    expect(labels.mark.type).toBe('text');
    expect(labels.encoding.x.field).toBe('mid');
    expect(labels.encoding.text.field).toBe('label');
    expect(labels.encoding.fill).toMatchObject({ field: 'ink', scale: null });
  });

  it('puts each gate config in a column of its own, in the invocation order', () => {
    const data = simulated();
    data.gateConfigs = ['strict', 'loose'];
    data.outcomeMix = [
      { scenario: 'cost-30', gateConfig: 'loose', outcome: 'promote', runs: 4, share: 1 },
      { scenario: 'cost-30', gateConfig: 'strict', outcome: 'rollback', runs: 4, share: 1 },
    ];
    const spec = specOf(outcomeMixChart(data));
    expect(spec.facet.column).toMatchObject({ field: 'gateConfig', type: 'nominal', sort: ['strict', 'loose'] });
    expect(spec.spec.width).toBe(360);
    expect(spec.spec.layer).toHaveLength(2);
    expect(spec.layer).toBeUndefined();
    expect(spec.data.values.map((v: Loose) => [v.gateConfig, v.category, v.start, v.end])).toEqual([
      ['loose', 'promote', 0, 1],
      ['strict', 'rollback', 0, 1],
    ]);
  });
});

describe('haltStageChart', () => {
  it('is null without halt stages', () => {
    expect(haltStageChart(empty())).toBeNull();
  });

  it('stacks stages in order with promoted last, coloured by stage number', () => {
    const chart = haltStageChart(simulated())!;
    expect(chart.id).toBe('halt-stage');
    expect(chart.title).toBe('Where runs halted');
    const spec = specOf(chart);
    const scale = spec.layer[0].encoding.color.scale;
    // Stage 1 is colour 0 (#14213d), stage 3 colour 2 (#7fa7c9): by number, not by position.
    expect(scale).toEqual({ domain: ['stage 1 (10%)', 'stage 3 (50%)', 'promoted'], range: ['#14213d', '#7fa7c9', '#3f9b64'] });
    // White ink on the two darkest stage colours and on green; dark ink on the light stage 3.
    expect(spec.data.values.map((v: Loose) => [v.scenario, v.category, v.start, v.end, v.label, v.ink])).toEqual([
      ['cost-30', 'stage 1 (10%)', 0, 0.5, '50%', '#ffffff'],
      ['cost-30', 'stage 3 (50%)', 0.5, 0.75, '25%', '#14213d'],
      ['cost-30', 'promoted', 0.75, 1, '25%', '#ffffff'],
      ['clean', 'promoted', 0, 1, '100%', '#ffffff'],
    ]);
  });

  it('gives stages past the palette its lightest colour', () => {
    const data = empty({
      scenarios: ['s'],
      gateConfigs: ['g'],
      haltStages: [
        { scenario: 's', gateConfig: 'g', stage: 2, percent: null, runs: 1, share: 0.5 },
        { scenario: 's', gateConfig: 'g', stage: 7, percent: 90, runs: 1, share: 0.5 },
      ],
    });
    // Stage 2 → colour 1; stage 7 → min(6, 4) = colour 4. A stage without percent is "stage N".
    expect(specOf(haltStageChart(data)).layer[0].encoding.color.scale).toEqual({ domain: ['stage 2', 'stage 7 (90%)'], range: ['#3d5a80', '#dbe9f4'] });
  });
});

describe('gateFiringChart', () => {
  it('is null when no gate fired', () => {
    expect(gateFiringChart(empty({ scenarios: ['s'] }))).toBeNull();
  });

  it('is a heat map of scenario by gate, gates in name order, labelled with the share', () => {
    const data = simulated();
    data.gateFirings.push({ scenario: 'clean', gateConfig: 'default', gate: 'a-gate', runs: 3, share: 0.75 });
    const chart = gateFiringChart(data)!;
    expect(chart.id).toBe('gate-firing');
    expect(chart.title).toBe('Which gate ended the runs');
    const spec = specOf(chart);
    // A step width: a cell per gate.
    expect(spec.width).toEqual({ step: 72 });
    // White ink only above half: 0.5 is not above, 0.75 is.
    expect(spec.data.values.map((v: Loose) => [v.scenario, v.gate, v.share, v.label, v.ink])).toEqual([
      ['cost-30', 'errors', 0.25, '25%', '#222222'],
      ['cost-30', 'cost', 0.5, '50%', '#222222'],
      ['clean', 'a-gate', 0.75, '75%', '#ffffff'],
    ]);
    const [cells, labels] = spec.layer;
    expect(cells.mark.type).toBe('rect');
    expect(cells.encoding.x).toMatchObject({ field: 'gate', type: 'nominal', sort: ['a-gate', 'cost', 'errors'] });
    expect(cells.encoding.y.scale.domain).toEqual(['cost-30', 'clean']);
    expect(cells.encoding.color).toMatchObject({ field: 'share', type: 'quantitative', scale: { domain: [0, 1] } });
    expect(labels.encoding.text.field).toBe('label');
  });

  it('keeps the step width in each column when faceted by gate config', () => {
    const data = simulated();
    data.gateConfigs = ['strict', 'loose'];
    expect(specOf(gateFiringChart(data)).spec.width).toEqual({ step: 72 });
  });
});

describe('detectionChart', () => {
  it('is null when no run halted', () => {
    expect(detectionChart(empty({ scenarios: ['s'] }))).toBeNull();
  });

  it('draws whiskers p10–p90, a box p25–p75 and a median tick from the quantiles', () => {
    const data = simulated();
    const chart = detectionChart(data)!;
    expect(chart.id).toBe('detection-time');
    expect(chart.title).toBe('When runs halted');
    const spec = specOf(chart);
    expect(spec.data.values).toEqual(data.detection);
    const [whisker, box, tick] = spec.layer;
    expect([whisker.mark.type, box.mark.type, tick.mark.type]).toEqual(['rule', 'bar', 'tick']);
    expect([whisker.encoding.x.field, whisker.encoding.x2.field]).toEqual(['p10', 'p90']);
    expect(whisker.encoding.x.title).toBe('minute of the halt');
    expect([box.encoding.x.field, box.encoding.x2.field]).toEqual(['p25', 'p75']);
    expect(tick.encoding.x.field).toBe('median');
    // The minute axis starts at zero, the rollout's start.
    for (const layer of spec.layer) {
      expect(layer.encoding.x.scale).toEqual({ zero: true });
      expect(layer.encoding.y.scale.domain).toEqual(['cost-30', 'clean']);
    }
  });
});

describe('verdictChart', () => {
  it('is null without verdicts', () => {
    expect(verdictChart(empty())).toBeNull();
  });

  it('plots each expectation: its interval, the share required and the share met, coloured by verdict', () => {
    const data = empty({ verdicts: [verdict('cost-30', 'default', true), verdict('clean', 'default', false)] });
    const chart = verdictChart(data)!;
    expect(chart.id).toBe('check-verdicts');
    expect(chart.title).toBe('Check verdicts');
    const spec = specOf(chart);
    // One config: rows are the scenario names alone, in verdict order.
    expect(spec.data.values.map((v: Loose) => [v.row, v.verdict, v.share, v.ciLow, v.ciHigh, v.probability])).toEqual([
      ['cost-30', 'pass', 0.95, 0.83, 0.99, 0.9],
      ['clean', 'fail', 0.5, 0.35, 0.65, 0.9],
    ]);
    const [interval, required, met] = spec.layer;
    expect([interval.mark.type, required.mark.type, met.mark.type]).toEqual(['rule', 'tick', 'point']);
    expect([interval.encoding.x.field, interval.encoding.x2.field]).toEqual(['ciLow', 'ciHigh']);
    expect(required.encoding.x.field).toBe('probability');
    expect(met.encoding.x.field).toBe('share');
    expect(met.encoding.y).toMatchObject({ field: 'row', sort: ['cost-30', 'clean'] });
    expect(met.encoding.color.scale).toEqual({ domain: ['pass', 'fail'], range: ['#3f9b64', '#d1495b'] });
    for (const layer of spec.layer) expect(layer.encoding.x.scale).toEqual({ domain: [0, 1] });
  });

  it('names the gate config in each row when the verdicts span several', () => {
    const data = empty({ verdicts: [verdict('a', 'strict', true), verdict('a', 'loose', false)] });
    expect(specOf(verdictChart(data)).data.values.map((v: Loose) => v.row)).toEqual(['a · strict', 'a · loose']);
  });
});

describe('tradeoffChart', () => {
  it('is null without tune points', () => {
    expect(tradeoffChart(empty())).toBeNull();
  });

  it('joins the Pareto front in false-alarm order and rings the recommendation', () => {
    const data = empty({
      tradeoff: [
        { setting: 'x=1', falseAlarm: 0.2, detection: 0.9, exposure: 100, pareto: true, recommended: false },
        { setting: 'x=2', falseAlarm: 0.05, detection: 0.7, exposure: 300, pareto: true, recommended: true },
        { setting: 'x=3', falseAlarm: 0.3, detection: 0.5, exposure: 200, pareto: false, recommended: false },
      ],
    });
    const chart = tradeoffChart(data)!;
    expect(chart.id).toBe('tune-tradeoff');
    expect(chart.title).toBe('False alarms against detection');
    const [line, points, ring] = specOf(chart).layer;
    expect(line.mark.type).toBe('line');
    // The front, sorted by false alarm: x=2 (0.05) before x=1 (0.2); x=3 is dominated.
    expect(line.data.values.map((v: Loose) => v.setting)).toEqual(['x=2', 'x=1']);
    expect(points.data.values.map((v: Loose) => [v.setting, v.kind])).toEqual([
      ['x=1', 'Pareto front'],
      ['x=2', 'recommended'],
      ['x=3', 'dominated'],
    ]);
    expect(points.encoding.x).toMatchObject({ field: 'falseAlarm', scale: { domain: [0, 1] }, title: 'worst false-alarm rate' });
    expect(points.encoding.y).toMatchObject({ field: 'detection', scale: { domain: [0, 1] }, title: 'worst detection rate' });
    expect(points.encoding.size.field).toBe('exposure');
    expect(points.encoding.color.scale.domain).toEqual(['dominated', 'Pareto front', 'recommended']);
    expect(ring.data.values.map((v: Loose) => v.setting)).toEqual(['x=2']);
    expect(ring.mark).toMatchObject({ type: 'point', filled: false });
  });
});

describe('replay charts', () => {
  it('are null without replay data', () => {
    expect(replayDistributionChart(empty())).toBeNull();
    expect(replayVerdictChart(empty())).toBeNull();
  });

  it('overlays baseline and candidate bins, one column per metric with readable names, on a log scale', () => {
    const data = empty({
      replayBins: [
        { metric: 'latency_ms', arm: 'baseline', low: 100, high: 200, share: 0.5 },
        { metric: 'output_tokens', arm: 'candidate', low: 10, high: 20, share: 1 },
      ],
    });
    const chart = replayDistributionChart(data)!;
    expect(chart.id).toBe('replay-distributions');
    const spec = specOf(chart);
    expect(spec.data.values).toEqual([
      { metric: 'latency (ms)', arm: 'baseline', low: 100, high: 200, share: 0.5 },
      { metric: 'output tokens', arm: 'candidate', low: 10, high: 20, share: 1 },
    ]);
    expect(spec.facet.column.field).toBe('metric');
    // Each metric keeps its own x scale: milliseconds and tokens do not share an axis.
    expect(spec.resolve).toEqual({ scale: { x: 'independent' } });
    const enc = spec.spec.encoding;
    expect(enc.x).toMatchObject({ field: 'low', scale: { type: 'log' } });
    expect(enc.x2).toEqual({ field: 'high' });
    // Overlaid, not stacked.
    expect(enc.y).toMatchObject({ field: 'share', stack: null });
    expect(enc.color.scale.domain).toEqual(['baseline', 'candidate']);
  });

  it('colours each gate and segment cell by its verdict, segments in their order', () => {
    const data = empty({
      replayVerdicts: [
        { gate: 'cost', segment: 'all traffic', breached: true, baseline: 1, candidate: 2, requests: 100 },
        { gate: 'latency', segment: 'all traffic', breached: false, baseline: 1, candidate: 1, requests: 100 },
        { gate: 'cost', segment: 'route: /chat', breached: null, baseline: null, candidate: null, requests: 3 },
        { gate: 'latency', segment: 'route: /chat', breached: false, baseline: 1, candidate: 1, requests: 3 },
      ],
    });
    const chart = replayVerdictChart(data)!;
    expect(chart.id).toBe('replay-verdicts');
    const spec = specOf(chart);
    expect(spec.data.values.map((v: Loose) => v.verdict)).toEqual(['breach', 'pass', 'abstain', 'pass']);
    expect(spec.encoding.y).toMatchObject({ field: 'segment', sort: ['all traffic', 'route: /chat'] });
    expect(spec.encoding.x.field).toBe('gate');
    expect(spec.encoding.color.scale.domain).toEqual(['breach', 'pass', 'abstain']);
    expect(spec.encoding.color.scale.range).toEqual(['#d1495b', '#3f9b64', '#d5dbe1']);
  });
});

describe('every spec', () => {
  it('compiles to Vega without a warning, single config and faceted', async () => {
    const { compile } = await import('vega-lite');
    const vega = await import('vega');
    const full = (configs: string[]): ReportData => ({
      ...simulated(),
      gateConfigs: configs,
      verdicts: [verdict('clean', configs[0]!, true)],
      tradeoff: [{ setting: 'x=1', falseAlarm: 0.1, detection: 0.9, exposure: 100, pareto: true, recommended: true }],
      replayBins: [{ metric: 'latency_ms', arm: 'baseline', low: 1, high: 2, share: 1 }],
      replayVerdicts: [{ gate: 'cost', segment: 'all traffic', breached: false, baseline: 1, candidate: 1, requests: 10 }],
    });
    for (const data of [full(['default']), full(['default', 'loose'])]) {
      for (const chart of reportCharts(data)) {
        const warnings: string[] = [];
        const logger = vega.logger(vega.Warn, undefined, (method, _level, input) => {
          if (method === 'error' || method === 'warn') warnings.push(input.map(String).join(' '));
        });
        const compiled = compile(chart.spec, { logger }).spec;
        expect(() => vega.parse(compiled)).not.toThrow();
        expect(warnings, chart.id).toEqual([]);
      }
    }
  });
});
