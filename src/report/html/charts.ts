import type { TopLevelSpec } from 'vega-lite';
import {
  OUTCOMES,
  type ReportData,
  firedGates,
  haltStageLabels,
  stageLabel,
} from '../report-data.js';
import { percent } from '../table.js';

/**
 * Vega-Lite specs for the report's charts, pure functions of the report data. The data they carry
 * is already aggregated (a few rows per scenario), so a spec stays small whatever the run count.
 * Every chart has scenarios down the side in run order, and one column per gate config when the
 * invocation judged several, so the charts line up with each other and with the tables.
 */

export interface Chart {
  /** Stable, used as the figure's id and to scope the SVG's own ids. */
  id: string;
  title: string;
  /** How to read it: one or two sentences under the title. */
  caption: string;
  spec: TopLevelSpec;
}

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const OUTCOME_COLOURS: Record<string, string> = { rollback: '#d1495b', hold: '#edae49', promote: '#3f9b64' };
const PROMOTED_COLOUR = OUTCOME_COLOURS.promote!;
/** Earlier stages darker: a halt at stage 1 exposed the fewest users. */
const STAGE_COLOURS = ['#14213d', '#3d5a80', '#7fa7c9', '#b5d0e6', '#dbe9f4'];
/** Stages whose colour is dark enough for white labels. */
const DARK_STAGES = 2;
const FACET_WIDTH = 360;
const SINGLE_WIDTH = 640;

const CONFIG = {
  font: FONT,
  background: '#ffffff',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal', titleColor: '#555', labelColor: '#333', gridColor: '#eceff3', domainColor: '#c7ccd3', tickColor: '#c7ccd3' },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'top', title: null },
  header: { labelFontSize: 12, labelFontWeight: 'bold', labelColor: '#222', title: null },
  axisY: { labelLimit: 220 },
} as const;

/** Every chart the data supports, in reading order; a chart with nothing to show is left out. */
export function reportCharts(data: ReportData): Chart[] {
  return [verdictChart(data), replayVerdictChart(data), replayDistributionChart(data), tradeoffChart(data), outcomeMixChart(data), haltStageChart(data), gateFiringChart(data), detectionChart(data)].filter(
    (c): c is Chart => c !== null,
  );
}

interface Segment {
  scenario: string;
  gateConfig: string;
  category: string;
  share: number;
  start: number;
  end: number;
  mid: number;
  label: string;
  ink: string;
}

/**
 * Lays out stacked shares (x/x2 per segment) here rather than with Vega-Lite's stack, so the
 * order of categories and the placement of the in-bar labels are explicit.
 */
export function stackSegments(
  rows: readonly { scenario: string; gateConfig: string; category: string; share: number }[],
  categories: readonly string[],
  inkOf: (category: string) => string,
): Segment[] {
  const rank = new Map(categories.map((c, i) => [c, i]));
  const groups = new Map<string, typeof rows[number][]>();
  for (const r of rows) {
    const key = `${r.scenario}\u0000${r.gateConfig}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const segments: Segment[] = [];
  for (const group of groups.values()) {
    let start = 0;
    for (const r of [...group].sort((a, b) => rank.get(a.category)! - rank.get(b.category)!)) {
      if (r.share <= 0) continue;
      const end = start + r.share;
      // Labels only where they fit: below ~8% the text would spill onto the neighbour.
      segments.push({ ...r, start, end, mid: (start + end) / 2, label: r.share >= 0.08 ? percent(r.share) : '', ink: inkOf(r.category) });
      start = end;
    }
  }
  return segments;
}

type Width = number | { step: number };

function byConfig(data: ReportData, values: object[], layer: object[], extra: object = {}, width?: Width): TopLevelSpec {
  if (data.gateConfigs.length > 1) {
    return {
      config: CONFIG,
      data: { values },
      facet: { column: { field: 'gateConfig', type: 'nominal', sort: data.gateConfigs, title: null } },
      spec: { width: width ?? FACET_WIDTH, layer },
      ...extra,
    } as TopLevelSpec;
  }
  return { config: CONFIG, data: { values }, width: width ?? SINGLE_WIDTH, layer, ...extra } as TopLevelSpec;
}

/** Every scenario gets its row, even where it has nothing to show (no gate fired, no halt). */
function scenarioAxis(data: ReportData) {
  return { field: 'scenario', type: 'nominal', scale: { domain: data.scenarios }, title: null };
}

function stackedShares(
  data: ReportData,
  segments: Segment[],
  categories: readonly string[],
  colours: readonly string[],
  legendTitle: string | null,
): TopLevelSpec {
  const y = scenarioAxis(data);
  return byConfig(data, segments, [
    {
      mark: { type: 'bar', height: { band: 0.75 } },
      encoding: {
        y,
        x: { field: 'start', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%', tickCount: 5 }, title: 'share of runs' },
        x2: { field: 'end' },
        color: { field: 'category', type: 'nominal', scale: { domain: categories, range: colours }, legend: { title: legendTitle } }
      },
    },
    {
      mark: { type: 'text', fontSize: 10, fontWeight: 'bold' },
      encoding: { y, x: { field: 'mid', type: 'quantitative' }, text: { field: 'label' }, fill: { field: 'ink', type: 'nominal', scale: null } },
    },
  ]);
}

export function outcomeMixChart(data: ReportData): Chart | null {
  if (data.outcomeMix.length === 0) return null;
  const segments = stackSegments(
    data.outcomeMix.map((o) => ({ ...o, category: o.outcome })),
    OUTCOMES,
    (c) => (c === 'hold' ? '#3b2a00' : '#ffffff'),
  );
  return {
    id: 'outcome-mix',
    title: 'Outcome mix',
    caption: 'Share of runs rolled back, held and promoted, per scenario. A clean candidate should be all green; a regression all red or amber.',
    spec: stackedShares(data, segments, OUTCOMES, OUTCOMES.map((o) => OUTCOME_COLOURS[o]!), null),
  };
}

export function haltStageChart(data: ReportData): Chart | null {
  if (data.haltStages.length === 0) return null;
  const labels = haltStageLabels(data);
  // Colour by stage number, not by position, so stage 2 looks the same in every report.
  const stageOf = new Map(data.haltStages.map((h) => [stageLabel(h.stage, h.percent), h.stage]));
  const colourIndex = (label: string) => Math.min((stageOf.get(label) ?? 1) - 1, STAGE_COLOURS.length - 1);
  const colours = labels.map((l) => (stageOf.get(l) === null ? PROMOTED_COLOUR : STAGE_COLOURS[colourIndex(l)]!));
  const segments = stackSegments(
    data.haltStages.map((h) => ({ ...h, category: stageLabel(h.stage, h.percent) })),
    labels,
    (c) => (stageOf.get(c) === null || colourIndex(c) < DARK_STAGES ? '#ffffff' : '#14213d'),
  );
  return {
    id: 'halt-stage',
    title: 'Where runs halted',
    caption: 'Share of runs halted at each canary stage (traffic share in brackets); the rest were promoted. The earlier the halt, the fewer users met the candidate.',
    spec: stackedShares(data, segments, labels, colours, null),
  };
}

export function gateFiringChart(data: ReportData): Chart | null {
  if (data.gateFirings.length === 0) return null;
  const values = data.gateFirings.map((g) => ({ ...g, label: percent(g.share), ink: g.share > 0.5 ? '#ffffff' : '#222222' }));
  const y = scenarioAxis(data);
  const x = { field: 'gate', type: 'nominal', sort: firedGates(data), title: null, axis: { labelAngle: -30, orient: 'top' } };
  return {
    id: 'gate-firing',
    title: 'Which gate ended the runs',
    caption: 'Share of all runs each gate ended (the first gate to fire ends a run). Gates that never fired are not shown.',
    spec: byConfig(
      data,
      values,
      [
        {
          mark: { type: 'rect', stroke: '#ffffff', strokeWidth: 2 },
          encoding: {
            y,
            x,
            color: { field: 'share', type: 'quantitative', scale: { domain: [0, 1], scheme: 'orangered' }, legend: { format: '%', title: 'share of runs', gradientLength: 160 } }
          },
        },
        { mark: { type: 'text', fontSize: 10 }, encoding: { y, x, text: { field: 'label' }, fill: { field: 'ink', type: 'nominal', scale: null } } },
      ],
      // One shared gate axis, so a column is the same gate under every config.
      {},
      // A cell per gate at a readable size, however few gates fired.
      { step: 72 },
    ),
  };
}

/** A box plot drawn from quantiles DuckDB computed: whiskers p10–p90, box p25–p75, median tick. */
export function detectionChart(data: ReportData): Chart | null {
  if (data.detection.length === 0) return null;
  const y = scenarioAxis(data);
  const minute = (field: string, title: string | null = null) => ({ field, type: 'quantitative', title, scale: { zero: true } });
  return {
    id: 'detection-time',
    title: 'When runs halted',
    caption: 'Minute (from the start of the rollout) at which halted runs halted: whiskers span p10–p90, the box p25–p75, the dark tick is the median. Promoted runs are not counted.',
    spec: byConfig(data, data.detection, [
      { mark: { type: 'rule', color: '#6b7785' }, encoding: { y, x: minute('p10', 'minute of the halt'), x2: { field: 'p90' } } },
      {
        mark: { type: 'bar', height: 12, color: '#9cc3e4', cornerRadius: 2 },
        encoding: { y, x: minute('p25'), x2: { field: 'p75' } },
      },
      { mark: { type: 'tick', color: '#1d3557', thickness: 3, size: 16 }, encoding: { y, x: minute('median') } },
    ]),
  };
}

/** Each expectation: the share of runs that met it, its 95% interval, and the share required. */
export function verdictChart(data: ReportData): Chart | null {
  if (data.verdicts.length === 0) return null;
  const several = new Set(data.verdicts.map((v) => v.gateConfig)).size > 1;
  const values = data.verdicts.map((v) => ({
    ...v,
    row: several ? `${v.scenario} · ${v.gateConfig}` : v.scenario,
    verdict: v.passed ? 'pass' : 'fail',
  }));
  const y = { field: 'row', type: 'nominal', sort: values.map((v) => v.row), title: null };
  const share = { type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' } };
  return {
    id: 'check-verdicts',
    title: 'Check verdicts',
    caption: 'Dot: share of runs meeting the expectation, with its 95% interval; black bar: the share required. A dot left of its bar fails.',
    spec: {
      config: CONFIG,
      data: { values },
      width: SINGLE_WIDTH,
      layer: [
        { mark: { type: 'rule', strokeWidth: 2, color: '#9aa5b1' }, encoding: { y, x: { field: 'ciLow', ...share, title: 'share of runs meeting the expectation' }, x2: { field: 'ciHigh' } } },
        { mark: { type: 'tick', color: '#111111', thickness: 2, size: 16 }, encoding: { y, x: { field: 'probability', ...share } } },
        {
          mark: { type: 'point', filled: true, size: 80, opacity: 1 },
          encoding: {
            y,
            x: { field: 'share', ...share },
            color: { field: 'verdict', type: 'nominal', scale: { domain: ['pass', 'fail'], range: [PROMOTED_COLOUR, OUTCOME_COLOURS.rollback!] } }
          },
        },
      ],
    } as TopLevelSpec,
  };
}

/**
 * Tune's trade-off: every judged config's worst false-alarm rate against its worst detection
 * rate, the Pareto front joined up, the recommendation ringed. Point size is canary exposure.
 */
export function tradeoffChart(data: ReportData): Chart | null {
  if (data.tradeoff.length === 0) return null;
  const values = data.tradeoff.map((t) => ({ ...t, kind: t.recommended ? 'recommended' : t.pareto ? 'Pareto front' : 'dominated' }));
  const front = values.filter((v) => v.pareto).sort((a, b) => a.falseAlarm - b.falseAlarm);
  const share = (field: string, title: string) => ({ field, type: 'quantitative', title, axis: { format: '%' }, scale: { domain: [0, 1] } });
  return {
    id: 'tune-tradeoff',
    title: 'False alarms against detection',
    caption: 'Each point is a judged gate config: its worst false-alarm rate on clean candidates against its worst detection rate on regressions; larger points expose more canary requests. The line joins the Pareto front; the ringed point is the recommendation.',
    spec: {
      config: CONFIG,
      width: SINGLE_WIDTH,
      height: 360,
      layer: [
        {
          data: { values: front },
          mark: { type: 'line', color: '#3d5a80', strokeWidth: 1.5, interpolate: 'step-after' },
          encoding: { x: share('falseAlarm', 'worst false-alarm rate'), y: share('detection', 'worst detection rate') },
        },
        {
          data: { values },
          mark: { type: 'point', filled: true, opacity: 0.8 },
          encoding: {
            x: share('falseAlarm', 'worst false-alarm rate'),
            y: share('detection', 'worst detection rate'),
            size: { field: 'exposure', type: 'quantitative', title: 'mean canary requests', legend: null },
            color: {
              field: 'kind',
              type: 'nominal',
              scale: { domain: ['dominated', 'Pareto front', 'recommended'], range: ['#b8c2cc', '#3d5a80', OUTCOME_COLOURS.promote!] },
            },
            tooltip: [{ field: 'setting' }, { field: 'falseAlarm', format: '.1%' }, { field: 'detection', format: '.1%' }, { field: 'exposure', format: ',.0f' }],
          },
        },
        {
          data: { values: values.filter((v) => v.recommended) },
          mark: { type: 'point', filled: false, size: 400, strokeWidth: 2, color: '#111111' },
          encoding: { x: share('falseAlarm', 'worst false-alarm rate'), y: share('detection', 'worst detection rate') },
        },
      ],
    } as TopLevelSpec,
  };
}

/** Replay: the latency and output-length distributions of baseline and candidate, overlaid. */
export function replayDistributionChart(data: ReportData): Chart | null {
  if (data.replayBins.length === 0) return null;
  return {
    id: 'replay-distributions',
    title: 'Baseline against candidate',
    caption: 'Share of requests per bin (bins equal on a log scale) of end-to-end latency and output tokens, for the baseline the trace recorded and for the candidate. Error answers are left out.',
    spec: {
      config: CONFIG,
      data: { values: data.replayBins.map((b) => ({ ...b, metric: b.metric === 'latency_ms' ? 'latency (ms)' : 'output tokens' })) },
      facet: { column: { field: 'metric', type: 'nominal', title: null } },
      resolve: { scale: { x: 'independent' } },
      spec: {
        width: FACET_WIDTH,
        height: 220,
        mark: { type: 'rect', opacity: 0.55 },
        encoding: {
          x: { field: 'low', type: 'quantitative', scale: { type: 'log' }, title: null },
          x2: { field: 'high' },
          y: { field: 'share', type: 'quantitative', axis: { format: '%' }, title: 'share of requests', stack: null },
          color: { field: 'arm', type: 'nominal', scale: { domain: ['baseline', 'candidate'], range: ['#3d5a80', OUTCOME_COLOURS.rollback!] } },
        },
      },
    } as TopLevelSpec,
  };
}

/** Replay: each shadow gate's verdict over all traffic and per segment: where is the candidate worse? */
export function replayVerdictChart(data: ReportData): Chart | null {
  if (data.replayVerdicts.length === 0) return null;
  const values = data.replayVerdicts.map((v) => ({ ...v, verdict: v.breached === null ? 'abstain' : v.breached ? 'breach' : 'pass' }));
  const segments = [...new Set(values.map((v) => v.segment))];
  return {
    id: 'replay-verdicts',
    title: 'Shadow gates, over all traffic and per segment',
    caption: 'Each cell is a gate judged over the requests of one segment (route, tenant, input size): red where the candidate breaches the gate, green where it passes, grey where the gate abstains.',
    spec: {
      config: CONFIG,
      data: { values },
      mark: { type: 'rect', stroke: '#ffffff', strokeWidth: 2 },
      encoding: {
        x: { field: 'gate', type: 'nominal', title: null, axis: { labelAngle: -30, orient: 'top' } },
        y: { field: 'segment', type: 'nominal', sort: segments, title: null },
        color: { field: 'verdict', type: 'nominal', scale: { domain: ['breach', 'pass', 'abstain'], range: [OUTCOME_COLOURS.rollback!, PROMOTED_COLOUR, '#d5dbe1'] } },
        tooltip: [{ field: 'gate' }, { field: 'segment' }, { field: 'verdict' }, { field: 'baseline' }, { field: 'candidate' }, { field: 'requests' }],
      },
      width: { step: 72 },
      height: { step: 22 },
    } as TopLevelSpec,
  };
}
