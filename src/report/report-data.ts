import type { OutcomeSummary } from '../sim/outcome-summary.js';
import type { Json } from '../store/duckdb.js';
import { UserError } from '../config/errors.js';
import type { Store } from '../store/database.js';
import { integer, percent } from './table.js';
import { ciPercent, metPercent, requiredPercent } from '../check/expectation.js';

/**
 * What `rehearse report` says about one invocation, read from the DuckDB file. Every figure is
 * aggregated by DuckDB: an invocation can hold millions of outcome rows, and only a few hundred
 * aggregated rows ever reach JavaScript. The table builders at the end turn these figures into
 * the text tables the Markdown and HTML reports share.
 */

export const OUTCOMES = ['rollback', 'hold', 'promote'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface InvocationInfo {
  id: string;
  command: string;
  args: unknown;
  /** UTC, minute precision: what a reader needs to tell two reports apart. */
  startedAt: string;
  seconds: number | null;
  status: string;
  version: string;
}

/** One scenario under one gate config: the row `simulate` prints, read back from the store. */
export type ScenarioSummary = Omit<OutcomeSummary, 'gateCounts'>;

export interface OutcomeShare {
  scenario: string;
  gateConfig: string;
  outcome: Outcome;
  runs: number;
  share: number;
}

/** Runs that halted at a stage; `stage` null stands for the runs that were promoted. */
export interface HaltStageShare {
  scenario: string;
  gateConfig: string;
  stage: number | null;
  percent: number | null;
  runs: number;
  share: number;
}

/** Runs a gate ended, as a share of all the scenario's runs under that config. */
export interface GateFiringShare {
  scenario: string;
  gateConfig: string;
  gate: string;
  runs: number;
  share: number;
}

/** Quantiles of detected_minute over the runs that halted. */
export interface DetectionSpread {
  scenario: string;
  gateConfig: string;
  halted: number;
  min: number;
  p10: number;
  p25: number;
  median: number;
  p75: number;
  p90: number;
  max: number;
}

export interface CheckVerdict {
  scenario: string;
  gateConfig: string;
  expected: string;
  probability: number;
  runs: number;
  met: number;
  share: number;
  ciLow: number;
  ciHigh: number;
  passed: boolean;
  message: string;
}

/** tune_results as found: its columns are not settled yet, so the report shows them verbatim. */
export interface TuneRows {
  columns: string[];
  rows: string[][];
  total: number;
}

/** A replay's distribution of one metric, binned, for baseline and candidate. */
export interface ReplayBin {
  metric: 'latency_ms' | 'output_tokens';
  arm: 'baseline' | 'candidate';
  /** The bin's lower edge (bins are equal in log scale). */
  low: number;
  high: number;
  share: number;
}

/** One shadow gate verdict of a replay, for all traffic or one segment. */
export interface ReplayVerdict {
  gate: string;
  segment: string;
  breached: boolean | null;
  baseline: number | null;
  candidate: number | null;
  requests: number;
}

/** One judged gate config of a tune invocation: a point of the trade-off chart. */
export interface TradeoffPoint {
  setting: string;
  falseAlarm: number;
  detection: number;
  exposure: number;
  pareto: boolean;
  recommended: boolean;
}

export interface ReportData {
  invocation: InvocationInfo;
  /** In the order the invocation ran them. */
  scenarios: string[];
  gateConfigs: string[];
  totalRuns: number;
  summaries: ScenarioSummary[];
  outcomeMix: OutcomeShare[];
  haltStages: HaltStageShare[];
  gateFirings: GateFiringShare[];
  detection: DetectionSpread[];
  verdicts: CheckVerdict[];
  tune: TuneRows | null;
  tradeoff: TradeoffPoint[];
  replayBins: ReplayBin[];
  replayVerdicts: ReplayVerdict[];
  /** Requests a replay stored (0 for other commands). */
  replayRequests: number;
}

/** The tune section shows at most this many rows; the rest are a query away. */
export const TUNE_ROW_LIMIT = 200;

type Row = Record<string, Json>;

async function select(store: Store, sql: string, params: Record<string, string> = {}): Promise<Row[]> {
  const reader = await store.connection.runAndReadAll(sql, params);
  return reader.getRowObjectsJson();
}

async function tableColumns(store: Store, table: string): Promise<string[]> {
  const rows = await select(
    store,
    `SELECT column_name FROM information_schema.columns WHERE table_name = $table AND table_schema = current_schema() ORDER BY ordinal_position`,
    { table },
  );
  return rows.map((r) => String(r.column_name));
}

/** Runs simulated, each once: every gate config of a scenario judges the same runs. */
function runsOnce(summaries: readonly { scenario: string; runs: number }[]): number {
  const byScenario = new Map<string, number>();
  for (const s of summaries) byScenario.set(s.scenario, Math.max(byScenario.get(s.scenario) ?? 0, s.runs));
  return [...byScenario.values()].reduce((n, r) => n + r, 0);
}

/** The invocation asked for, or the latest one when none is named. */
export async function findInvocation(store: Store, id?: string): Promise<InvocationInfo> {
  if ((await tableColumns(store, 'invocations')).length === 0) {
    throw new UserError(`${store.file}: not a rehearse results file (no invocations table); pass the --db that \`rehearse simulate\` wrote`);
  }
  const where = id === undefined ? '' : 'WHERE invocation_id = $id';
  const rows = await select(
    store,
    `SELECT invocation_id, command, args::VARCHAR AS args,
            strftime(started_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC') AS started,
            epoch(finished_at - started_at)::DOUBLE AS seconds, status, version
       FROM invocations ${where} ORDER BY invocations.started_at DESC LIMIT 1`,
    id === undefined ? {} : { id },
  );
  const row = rows[0];
  if (!row) {
    throw new UserError(
      id === undefined
        ? `${store.file}: no invocation recorded yet; run \`rehearse simulate\` first`
        : `${store.file}: no invocation ${id}; \`rehearse query "SELECT invocation_id, command, started_at FROM invocations"\` lists them`,
    );
  }
  return {
    id: String(row.invocation_id),
    command: String(row.command),
    args: parseJson(row.args),
    startedAt: String(row.started),
    seconds: row.seconds === null ? null : Number(row.seconds),
    status: String(row.status),
    version: String(row.version),
  };
}

function parseJson(value: Json): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

export async function loadReport(store: Store, invocation: InvocationInfo): Promise<ReportData> {
  const p = { invocation: invocation.id };
  // One connection answers one query at a time; these are few and small, so in turn.
  const order = await runOrder(store, p);
  const summaries = await scenarioSummaries(store, p);
  const outcomeMix = await outcomeShares(store, p);
  const haltStages = await haltStageShares(store, p);
  const gateFirings = await gateFiringShares(store, p);
  const detection = await detectionSpreads(store, p);
  const verdicts = await checkVerdicts(store, p);
  const tune = await tuneRows(store, p);
  const tradeoff = tune ? await tradeoffPoints(store, p) : [];
  const replayBins = await replayDistributions(store, p);
  const replayVerdicts = await replayGateVerdicts(store, p);
  const replayRequests = await replayRequestCount(store, p);
  const rank = (list: string[]) => new Map(list.map((x, i) => [x, i]));
  const scenarioRank = rank(order.scenarios);
  const configRank = rank(order.gateConfigs);
  const byRunOrder = <T extends { scenario: string; gateConfig: string }>(rows: T[]): T[] =>
    rows.sort((a, b) => scenarioRank.get(a.scenario)! - scenarioRank.get(b.scenario)! || configRank.get(a.gateConfig)! - configRank.get(b.gateConfig)!);
  return {
    invocation,
    scenarios: order.scenarios,
    gateConfigs: order.gateConfigs,
    totalRuns: runsOnce(summaries),
    summaries: byRunOrder(summaries),
    outcomeMix,
    haltStages,
    gateFirings,
    detection: byRunOrder(detection),
    verdicts,
    tune,
    tradeoff,
    replayBins,
    replayVerdicts,
    replayRequests,
  };
}

async function replayRequestCount(store: Store, p: Record<string, string>): Promise<number> {
  if (!(await tableColumns(store, 'replay_requests')).includes('invocation_id')) return 0;
  const [row] = await select(store, `SELECT count(*)::DOUBLE AS n FROM replay_requests WHERE invocation_id = $invocation`, p);
  return Number(row?.n ?? 0);
}

/** What an invocation covered, in a few words: its scenarios and runs, a replay's requests, a tune's settings. */
export function describeSubject(data: ReportData): string {
  const plural = (n: number, one: string) => `${n.toLocaleString('en-US')} ${one}${n === 1 ? '' : 's'}`;
  if (data.invocation.command === 'replay') return plural(data.replayRequests, 'request');
  const simulated = `${plural(data.scenarios.length, 'scenario')}, ${plural(data.totalRuns, 'run')}`;
  if (data.invocation.command === 'tune' && data.tune) {
    return `${plural(data.tune.total, 'gate setting')} judged on the same simulated runs${data.totalRuns > 0 ? `; the recommended one re-simulated with fresh seeds: ${simulated}` : ''}`;
  }
  return simulated;
}

/**
 * Scenarios and gate configs in the order the invocation ran them (the scenarios table keeps
 * insertion order), so the report reads like the console table; any found only in outcomes
 * (a file merged from an older version) follow alphabetically.
 */
async function runOrder(store: Store, p: Record<string, string>): Promise<{ scenarios: string[]; gateConfigs: string[] }> {
  const ordered = async (column: string) => {
    const rows = await select(
      store,
      `WITH listed AS (SELECT ${column} AS name, min(rowid) AS pos FROM scenarios WHERE invocation_id = $invocation GROUP BY ALL),
            found AS (SELECT DISTINCT ${column} AS name FROM outcomes WHERE invocation_id = $invocation)
       SELECT name FROM (SELECT name, pos FROM listed UNION ALL SELECT name, NULL FROM found WHERE name NOT IN (SELECT name FROM listed))
       ORDER BY pos NULLS LAST, name`,
      p,
    );
    return rows.map((r) => String(r.name));
  };
  return { scenarios: await ordered('scenario'), gateConfigs: await ordered('gate_config') };
}

async function scenarioSummaries(store: Store, p: Record<string, string>): Promise<ScenarioSummary[]> {
  const rows = await select(
    store,
    `WITH runs AS (
       SELECT scenario, gate_config,
              count(*)::DOUBLE AS runs,
              avg((outcome = 'rollback')::INT)::DOUBLE AS rollback,
              avg((outcome = 'hold')::INT)::DOUBLE AS hold,
              avg((outcome = 'promote')::INT)::DOUBLE AS promote,
              median(halted_stage) FILTER (WHERE gate IS NOT NULL)::DOUBLE AS median_stage,
              median(detected_minute) FILTER (WHERE gate IS NOT NULL)::DOUBLE AS median_minute,
              avg(canary_requests)::DOUBLE AS mean_canary
         FROM outcomes WHERE invocation_id = $invocation GROUP BY ALL),
     fired AS (
       SELECT scenario, gate_config, gate, count(*) AS n,
              row_number() OVER (PARTITION BY scenario, gate_config ORDER BY count(*) DESC, gate) AS rank
         FROM outcomes WHERE invocation_id = $invocation AND gate IS NOT NULL GROUP BY scenario, gate_config, gate)
     SELECT runs.*, fired.gate AS top_gate, coalesce(fired.n / runs.runs, 0)::DOUBLE AS top_share
       FROM runs LEFT JOIN fired ON fired.scenario = runs.scenario AND fired.gate_config = runs.gate_config AND fired.rank = 1`,
    p,
  );
  return rows.map((r) => ({
    scenario: String(r.scenario),
    gateConfig: String(r.gate_config),
    runs: Number(r.runs),
    rollback: Number(r.rollback),
    hold: Number(r.hold),
    promote: Number(r.promote),
    topGate: r.top_gate === null ? null : String(r.top_gate),
    topGateShare: Number(r.top_share),
    medianHaltStage: r.median_stage === null ? null : Number(r.median_stage),
    medianDetectedMinute: r.median_minute === null ? null : Number(r.median_minute),
    meanCanaryRequests: Number(r.mean_canary),
  }));
}

/** Every outcome for every scenario and config, zero shares included, so stacks always sum to 1. */
async function outcomeShares(store: Store, p: Record<string, string>): Promise<OutcomeShare[]> {
  const rows = await select(
    store,
    `WITH pairs AS (SELECT scenario, gate_config, count(*) AS total FROM outcomes WHERE invocation_id = $invocation GROUP BY ALL),
          counted AS (SELECT scenario, gate_config, outcome, count(*) AS n FROM outcomes WHERE invocation_id = $invocation GROUP BY ALL)
     SELECT pairs.scenario, pairs.gate_config, kinds.outcome, coalesce(n, 0)::DOUBLE AS runs, (coalesce(n, 0) / total)::DOUBLE AS share
       FROM pairs CROSS JOIN (VALUES ('rollback'), ('hold'), ('promote')) AS kinds(outcome)
       LEFT JOIN counted USING (scenario, gate_config, outcome)`,
    p,
  );
  return rows.map((r) => ({
    scenario: String(r.scenario),
    gateConfig: String(r.gate_config),
    outcome: String(r.outcome) as Outcome,
    runs: Number(r.runs),
    share: Number(r.share),
  }));
}

async function haltStageShares(store: Store, p: Record<string, string>): Promise<HaltStageShare[]> {
  const rows = await select(
    store,
    `SELECT scenario, gate_config, halted_stage, any_value(halted_percent)::DOUBLE AS percent, count(*)::DOUBLE AS runs,
            (count(*) / sum(count(*)) OVER (PARTITION BY scenario, gate_config))::DOUBLE AS share
       FROM outcomes WHERE invocation_id = $invocation GROUP BY scenario, gate_config, halted_stage
      ORDER BY halted_stage NULLS LAST`,
    p,
  );
  return rows.map((r) => ({
    scenario: String(r.scenario),
    gateConfig: String(r.gate_config),
    stage: r.halted_stage === null ? null : Number(r.halted_stage),
    percent: r.percent === null ? null : Number(r.percent),
    runs: Number(r.runs),
    share: Number(r.share),
  }));
}

async function gateFiringShares(store: Store, p: Record<string, string>): Promise<GateFiringShare[]> {
  const rows = await select(
    store,
    `SELECT scenario, gate_config, gate, n::DOUBLE AS runs, (n / total)::DOUBLE AS share FROM (
       SELECT scenario, gate_config, gate, count(*) AS n, sum(count(*)) OVER (PARTITION BY scenario, gate_config) AS total
         FROM outcomes WHERE invocation_id = $invocation GROUP BY scenario, gate_config, gate)
      WHERE gate IS NOT NULL ORDER BY gate`,
    p,
  );
  return rows.map((r) => ({
    scenario: String(r.scenario),
    gateConfig: String(r.gate_config),
    gate: String(r.gate),
    runs: Number(r.runs),
    share: Number(r.share),
  }));
}

async function detectionSpreads(store: Store, p: Record<string, string>): Promise<DetectionSpread[]> {
  const rows = await select(
    store,
    `SELECT scenario, gate_config, count(*)::DOUBLE AS halted, min(detected_minute)::DOUBLE AS min,
            quantile_cont(detected_minute, [0.1, 0.25, 0.5, 0.75, 0.9])::DOUBLE[] AS q, max(detected_minute)::DOUBLE AS max
       FROM outcomes WHERE invocation_id = $invocation AND detected_minute IS NOT NULL GROUP BY ALL`,
    p,
  );
  return rows.map((r) => {
    const q = (r.q as number[]).map(Number);
    return {
      scenario: String(r.scenario),
      gateConfig: String(r.gate_config),
      halted: Number(r.halted),
      min: Number(r.min),
      p10: q[0]!,
      p25: q[1]!,
      median: q[2]!,
      p75: q[3]!,
      p90: q[4]!,
      max: Number(r.max),
    };
  });
}

async function checkVerdicts(store: Store, p: Record<string, string>): Promise<CheckVerdict[]> {
  // Files written before `check` existed have no check_results table.
  if ((await tableColumns(store, 'check_results')).length === 0) return [];
  const rows = await select(
    store,
    `SELECT scenario, gate_config, expected, probability::DOUBLE AS probability, runs::DOUBLE AS runs, met::DOUBLE AS met,
            share::DOUBLE AS share, ci_low::DOUBLE AS ci_low, ci_high::DOUBLE AS ci_high, passed, message
       FROM check_results WHERE invocation_id = $invocation ORDER BY rowid`,
    p,
  );
  return rows.map((r) => ({
    scenario: String(r.scenario),
    gateConfig: String(r.gate_config),
    expected: String(r.expected),
    probability: Number(r.probability),
    runs: Number(r.runs),
    met: Number(r.met),
    share: Number(r.share),
    ciLow: Number(r.ci_low),
    ciHigh: Number(r.ci_high),
    passed: r.passed === true,
    message: String(r.message),
  }));
}

/**
 * tune_results belongs to `tune`, whose columns are still being settled: the report shows the
 * invocation's rows verbatim when the table exists and is keyed by invocation_id, and nothing
 * otherwise, so neither side has to wait for the other.
 */
async function tuneRows(store: Store, p: Record<string, string>): Promise<TuneRows | null> {
  const columns = await tableColumns(store, 'tune_results');
  if (!columns.includes('invocation_id')) return null;
  // params and scenarios are JSON the setting column already says in words.
  const shown = columns.filter((c) => !['invocation_id', 'params', 'scenarios'].includes(c));
  const [count] = await select(store, `SELECT count(*)::DOUBLE AS n FROM tune_results WHERE invocation_id = $invocation`, p);
  const total = Number(count?.n ?? 0);
  if (total === 0) return null;
  const types = await select(store, `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'tune_results' AND table_schema = current_schema()`);
  const floating = new Set(types.filter((t) => /^(DOUBLE|FLOAT|REAL)$/.test(String(t.data_type))).map((t) => String(t.column_name)));
  // Shares and ratios to four significant digits: full doubles would only bury the differences.
  // From 10,000 up (9,999.5 rounds there), whole numbers with separators: %.4g wrote 1.004e+04.
  const list = shown
    .map((c) => {
      const quoted = `"${c.replace(/"/g, '""')}"`;
      return floating.has(c)
        ? `CASE WHEN isfinite(${quoted}) AND abs(${quoted}) >= 9999.5 THEN format('{:,.0f}', ${quoted}) WHEN isfinite(${quoted}) THEN printf('%.4g', ${quoted}) ELSE ${quoted}::VARCHAR END`
        : `${quoted}::VARCHAR`;
    })
    .join(', ');
  // Flagged rows first when the table flags them: they are what a reader looks for.
  const flags = ['recommended', 'pareto'].filter((c) => columns.includes(c)).map((c) => `"${c}" DESC NULLS LAST, `);
  const reader = await store.connection.runAndReadAll(
    `SELECT ${list} FROM tune_results WHERE invocation_id = $invocation ORDER BY ${flags.join('')}rowid LIMIT ${TUNE_ROW_LIMIT}`,
    p,
  );
  const rows = reader.getRowsJson().map((r) => r.map((v) => clip(v === null ? '' : String(v))));
  return { columns: shown, rows, total };
}

/**
 * A replay's latency and output-length distributions, baseline against candidate: 30 bins equal
 * in log scale between the metric's smallest and largest positive value, shares per arm. Binned
 * in DuckDB, so a replay of millions of requests stays a few rows here.
 */
async function replayDistributions(store: Store, p: Record<string, string>): Promise<ReplayBin[]> {
  if (!(await tableColumns(store, 'replay_requests')).includes('candidate_latency_ms')) return [];
  const out: ReplayBin[] = [];
  for (const metric of ['latency_ms', 'output_tokens'] as const) {
    const rows = await select(
      store,
      `WITH v AS (
         SELECT 'baseline' AS arm, baseline_${metric} AS x FROM replay_requests
           WHERE invocation_id = $invocation AND coalesce(baseline_status, 'ok') NOT IN ('error', 'timeout')
         UNION ALL
         SELECT 'candidate', candidate_${metric} FROM replay_requests
           WHERE invocation_id = $invocation AND candidate_status NOT IN ('error', 'timeout')),
       p AS (SELECT * FROM v WHERE x > 0),
       r AS (SELECT ln(min(x)) AS lo, greatest(ln(max(x)) - ln(min(x)), 1e-9) AS span FROM p),
       b AS (SELECT arm, least(29, floor((ln(x) - lo) / span * 30))::INT AS bin FROM p, r)
       SELECT arm, bin, count(*)::DOUBLE / sum(count(*)) OVER (PARTITION BY arm) AS share,
              exp(lo + bin * span / 30) AS low, exp(lo + (bin + 1) * span / 30) AS high
       FROM b, r GROUP BY arm, bin, lo, span ORDER BY arm, bin`,
      p,
    );
    for (const r of rows) out.push({ metric, arm: r.arm as 'baseline' | 'candidate', low: Number(r.low), high: Number(r.high), share: Number(r.share) });
  }
  return out;
}

/** The replay's shadow gate verdicts: all traffic first, then each segment. */
async function replayGateVerdicts(store: Store, p: Record<string, string>): Promise<ReplayVerdict[]> {
  if (!(await tableColumns(store, 'replay_gates')).includes('segment_kind')) return [];
  const rows = await select(
    store,
    `SELECT gate, CASE WHEN segment IS NULL THEN 'all traffic' ELSE segment_kind || ': ' || segment END AS segment,
            breached, baseline_value, candidate_value, requests::DOUBLE AS requests
     FROM replay_gates WHERE invocation_id = $invocation
     ORDER BY segment IS NOT NULL, segment_kind, segment, rowid`,
    p,
  );
  return rows.map((r) => ({
    gate: String(r.gate),
    segment: String(r.segment),
    breached: r.breached === null ? null : Boolean(r.breached),
    baseline: r.baseline_value === null ? null : Number(r.baseline_value),
    candidate: r.candidate_value === null ? null : Number(r.candidate_value),
    requests: Number(r.requests),
  }));
}

/** Every judged config's false alarm, detection and exposure, for the trade-off chart. */
async function tradeoffPoints(store: Store, p: Record<string, string>): Promise<TradeoffPoint[]> {
  const columns = await tableColumns(store, 'tune_results');
  if (!['setting', 'false_alarm', 'detection', 'canary_requests', 'pareto', 'recommended'].every((c) => columns.includes(c))) return [];
  const rows = await select(
    store,
    `SELECT setting, false_alarm, detection, canary_requests, pareto, recommended FROM tune_results WHERE invocation_id = $invocation ORDER BY config LIMIT 20000`,
    p,
  );
  return rows.map((r) => ({
    setting: String(r.setting),
    falseAlarm: Number(r.false_alarm),
    detection: Number(r.detection),
    exposure: Number(r.canary_requests),
    pareto: Boolean(r.pareto),
    recommended: Boolean(r.recommended),
  }));
}

/** Long cells (JSON blobs) cut short: the table is a digest; the database has the full text. */
function clip(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// ——— the tables both reports show ———

/** A text table: cells already formatted; `numeric` marks right-aligned columns. */
export interface ReportTable {
  headers: string[];
  rows: string[][];
  numeric: boolean[];
}

const dash = '—';
const minutes = (x: number | null) => (x === null ? dash : integer(x));
const stageNumber = (x: number | null) => (x === null ? dash : Number.isInteger(x) ? String(x) : x.toFixed(1));

function hasSeveralConfigs(data: ReportData): boolean {
  return data.gateConfigs.length > 1;
}

function withConfig(data: ReportData, scenario: string, gateConfig: string): string[] {
  return hasSeveralConfigs(data) ? [scenario, gateConfig] : [scenario];
}

function keyHeaders(data: ReportData): string[] {
  return hasSeveralConfigs(data) ? ['scenario', 'gates'] : ['scenario'];
}

function table(headers: string[], rows: string[][], numericFrom: number): ReportTable {
  return { headers, rows, numeric: headers.map((_, i) => i >= numericFrom) };
}

/** The console's per-scenario table. */
export function scenarioTable(data: ReportData): ReportTable {
  const keys = keyHeaders(data);
  const t = table(
    [...keys, 'runs', 'rollback', 'hold', 'promote', 'gate firing most (share of runs)', 'median halt stage', 'median detect min', 'mean canary req'],
    data.summaries.map((s) => [
      ...withConfig(data, s.scenario, s.gateConfig),
      integer(s.runs),
      percent(s.rollback),
      percent(s.hold),
      percent(s.promote),
      s.topGate ? `${s.topGate} (${percent(s.topGateShare)})` : dash,
      stageNumber(s.medianHaltStage),
      minutes(s.medianDetectedMinute),
      integer(s.meanCanaryRequests),
    ]),
    keys.length,
  );
  t.numeric[keys.length + 4] = false;
  return t;
}

export function stageLabel(stage: number | null, stagePercent: number | null): string {
  if (stage === null) return 'promoted';
  return stagePercent === null ? `stage ${stage}` : `stage ${stage} (${stagePercent}%)`;
}

/** Distinct halt-stage labels, stages in order and `promoted` last. */
export function haltStageLabels(data: ReportData): string[] {
  const stages = new Map<string, number>();
  for (const h of data.haltStages) stages.set(stageLabel(h.stage, h.percent), h.stage ?? Number.POSITIVE_INFINITY);
  return [...stages.entries()].sort((a, b) => a[1] - b[1]).map(([label]) => label);
}

/** Share of runs halted at each stage: one column per stage. */
export function haltStageTable(data: ReportData): ReportTable {
  return pivot(data, haltStageLabels(data), data.haltStages.map((h) => ({ ...h, column: stageLabel(h.stage, h.percent) })));
}

export function firedGates(data: ReportData): string[] {
  return [...new Set(data.gateFirings.map((g) => g.gate))].sort();
}

/** Share of runs each gate ended: one column per gate. */
export function gateFiringTable(data: ReportData): ReportTable {
  return pivot(data, firedGates(data), data.gateFirings.map((g) => ({ ...g, column: g.gate })));
}

function pivot(data: ReportData, columns: string[], cells: { scenario: string; gateConfig: string; column: string; share: number }[]): ReportTable {
  const keys = keyHeaders(data);
  const at = new Map(cells.map((c) => [`${c.scenario}\u0000${c.gateConfig}\u0000${c.column}`, c.share]));
  return table(
    [...keys, ...columns],
    data.summaries.map((s) => [
      ...withConfig(data, s.scenario, s.gateConfig),
      ...columns.map((c) => {
        const share = at.get(`${s.scenario}\u0000${s.gateConfig}\u0000${c}`);
        return share === undefined || share === 0 ? dash : percent(share);
      }),
    ]),
    keys.length,
  );
}

export function detectionTable(data: ReportData): ReportTable {
  return table(
    [...keyHeaders(data), 'halted runs', 'min', 'p10', 'p25', 'median', 'p75', 'p90', 'max'],
    data.detection.map((d) => [
      ...withConfig(data, d.scenario, d.gateConfig),
      integer(d.halted),
      ...[d.min, d.p10, d.p25, d.median, d.p75, d.p90, d.max].map(minutes),
    ]),
    keyHeaders(data).length,
  );
}

export function verdictTable(data: ReportData): ReportTable {
  const t = table(
    ['', 'scenario', 'gates', 'expected', 'required', 'met', '95% CI', 'runs'],
    data.verdicts.map((v) => [
      v.passed ? 'pass' : 'FAIL',
      v.scenario,
      v.gateConfig,
      v.expected,
      `≥ ${requiredPercent(v.probability)}`,
      metPercent(v.share, v.probability),
      ciPercent(v.ciLow, v.ciHigh),
      integer(v.runs),
    ]),
    4,
  );
  return t;
}

export function tuneTable(tune: TuneRows): ReportTable {
  const numeric = tune.columns.map((_, i) => tune.rows.length > 0 && tune.rows.every((r) => r[i] === '' || /^-?[\d.,]+(e[-+]?\d+)?$/i.test(r[i]!)));
  return { headers: tune.columns, rows: tune.rows, numeric };
}

/**
 * Options that do not change the results (where they went, how fast, how loud), and what is
 * recorded beside the options (replay's files as absolute paths, to match resumes).
 */
const INCIDENTAL_OPTIONS = new Set(['paths', 'db', 'workers', 'json', 'quiet', 'trace_file', 'target_file']);
/** `--no-…` options: recorded as true unless turned off. */
const DEFAULT_ON = new Set(['checks']);

/**
 * The invocation as a command line a reader could retype, rebuilt from the recorded options
 * (each command records its own: the report reads them generically, skipping the incidental).
 */
export function describeCommand(invocation: InvocationInfo): string {
  const parts = [`rehearse ${invocation.command}`];
  const args = invocation.args;
  if (!args || typeof args !== 'object' || Array.isArray(args)) return parts[0]!;
  const record = args as Record<string, unknown>;
  if (Array.isArray(record.paths)) parts.push(...record.paths.map(String));
  // replay's trace is its one positional argument, recorded by name.
  const positional = invocation.command === 'replay' && typeof record.trace === 'string' ? 'trace' : null;
  if (positional) parts.push(String(record.trace));
  for (const [key, value] of Object.entries(record)) {
    if (INCIDENTAL_OPTIONS.has(key) || key === positional || value === null || value === undefined) continue;
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (value === true) {
      if (!DEFAULT_ON.has(key)) parts.push(flag);
    }
    else if (value === false) parts.push(`--no-${flag.slice(2)}`);
    else if (Array.isArray(value)) for (const v of value) parts.push(flag, String(v));
    else if (typeof value !== 'object') parts.push(flag, String(value));
  }
  return parts.join(' ');
}
