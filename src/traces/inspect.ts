import { integer, percent, renderTable } from '../report/table.js';
import type { BadRowReason, CanonicalColumn, TraceError } from './canonical.js';
import type { MappingEntry, TimeUnit } from './mapping.js';
import { type OpenTraceOptions, type TraceSpec, openTrace } from './reader.js';
import { ident } from './sql.js';

/** Columns whose distribution `inspect` reports. */
export const DISTRIBUTION_COLUMNS = ['input_tokens', 'output_tokens', 'latency_ms', 'ttft_ms', 'cost_usd'] as const;
export type DistributionColumn = (typeof DISTRIBUTION_COLUMNS)[number];

export interface Distribution {
  count: number;
  min: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export interface TraceSummary {
  file: string;
  format: string;
  label: string;
  mapping: MappingEntry[];
  columns: CanonicalColumn[];
  /** Rows in the source, good and bad (validation covers the whole source). */
  rows: number;
  good: number;
  bad: number;
  bad_by_reason: Partial<Record<BadRowReason, number>>;
  /** The first few bad rows. */
  bad_examples: TraceError[];
  /** Whether the good rows were already in timestamp order. */
  sorted: boolean;
  /** The file's own order: `unknown` where the read could not follow it (see Trace.timeOrder). */
  time_order: 'ordered' | 'unordered' | 'unknown';
  /** Rows selected (after --from/--to, --sample, --limit): the rows the statistics below describe. */
  selected: number;
  /** Milliseconds; `start_iso`/`end_iso` when they look like epoch times (after 1973). */
  time_span: { start: number; end: number; duration_ms: number; start_iso: string | null; end_iso: string | null } | null;
  /** Over all selected rows, errors included; quantiles interpolate linearly (numpy's default). */
  distributions: Partial<Record<DistributionColumn, Distribution>>;
  status: { ok: number; error: number; timeout: number };
  refusals: number;
  feedback: { down: number; neutral: number; up: number; none: number } | null;
  distinct: Partial<Record<'session_id' | 'tenant' | 'route' | 'model', number>>;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Reads a trace and summarises it with DuckDB SQL over its canonical rows. */
export async function inspectTrace(spec: TraceSpec, options: OpenTraceOptions = {}, examples = 5): Promise<TraceSummary> {
  const trace = await openTrace(spec, options);
  try {
    const cols = new Set(trace.columns);
    const dist = DISTRIBUTION_COLUMNS.filter((c) => cols.has(c));
    const distinct = (['session_id', 'tenant', 'route', 'model'] as const).filter((c) => cols.has(c));
    const parts = [
      'count(*) AS n',
      'min(timestamp) AS t0',
      'max(timestamp) AS t1',
      `count(*) FILTER (WHERE ${cols.has('status') ? "status = 'error'" : 'false'}) AS errors`,
      `count(*) FILTER (WHERE ${cols.has('status') ? "status = 'timeout'" : 'false'}) AS timeouts`,
      `count(*) FILTER (WHERE ${cols.has('refusal') ? 'refusal' : 'false'}) AS refusals`,
    ];
    for (const c of dist) {
      const q = ident(c);
      parts.push(`count(${q}) AS "${c}:count"`, `min(${q}) AS "${c}:min"`, `quantile_cont(${q}, [0.5, 0.9, 0.99]) AS "${c}:q"`, `max(${q}) AS "${c}:max"`);
    }
    if (cols.has('feedback')) {
      parts.push(
        'count(*) FILTER (WHERE feedback = -1) AS fb_down',
        'count(*) FILTER (WHERE feedback = 0) AS fb_neutral',
        'count(*) FILTER (WHERE feedback = 1) AS fb_up',
      );
    }
    for (const c of distinct) parts.push(`count(DISTINCT ${ident(c)}) AS "${c}:distinct"`);
    const [r] = await trace.query(`SELECT ${parts.join(', ')} FROM (${trace.selectSql()})`);
    const row = r!;
    const n = Number(row.n);
    const distributions: TraceSummary['distributions'] = {};
    for (const c of dist) {
      const q = (row[`${c}:q`] as (number | string | null)[] | null) ?? [null, null, null];
      distributions[c] = { count: Number(row[`${c}:count`]), min: num(row[`${c}:min`]), p50: num(q[0]), p90: num(q[1]), p99: num(q[2]), max: num(row[`${c}:max`]) };
    }
    const errors = Number(row.errors);
    const timeouts = Number(row.timeouts);
    const t0 = num(row.t0);
    const t1 = num(row.t1);
    const iso = (t: number) => (t > 1e11 && t < 1e14 ? new Date(t).toISOString() : null);
    const badByReason: TraceSummary['bad_by_reason'] = {};
    for (const [k, v] of Object.entries(trace.badByReason)) if (v > 0) badByReason[k as BadRowReason] = v;
    return {
      file: trace.name,
      format: trace.format,
      label: trace.label,
      mapping: trace.mapping,
      columns: trace.columns,
      rows: trace.rows,
      good: trace.good,
      bad: trace.bad,
      bad_by_reason: badByReason,
      bad_examples: await trace.errorList(examples),
      sorted: trace.sorted,
      time_order: trace.timeOrder,
      selected: n,
      time_span: t0 === null || t1 === null ? null : { start: t0, end: t1, duration_ms: t1 - t0, start_iso: iso(t0), end_iso: iso(t1) },
      distributions,
      status: { ok: n - errors - timeouts, error: errors, timeout: timeouts },
      refusals: Number(row.refusals),
      feedback: cols.has('feedback')
        ? { down: Number(row.fb_down), neutral: Number(row.fb_neutral), up: Number(row.fb_up), none: n - Number(row.fb_down) - Number(row.fb_neutral) - Number(row.fb_up) }
        : null,
      distinct: Object.fromEntries(distinct.map((c) => [c, Number(row[`${c}:distinct`])])),
    };
  } finally {
    trace.close();
  }
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h ${m}m ${sec}s` : m > 0 ? `${m}m ${sec}s` : `${sec}s`;
}

function fmt(x: number | null): string {
  if (x === null) return '';
  if (Number.isInteger(x)) return integer(x);
  const a = Math.abs(x);
  return a >= 100 ? integer(x) : a >= 1 ? x.toFixed(1) : a >= 0.01 ? x.toFixed(4) : x.toPrecision(3);
}

const UNIT_NAMES: Record<TimeUnit, string> = { s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds' };
const VIA: Record<MappingEntry['via'], string> = { map: '--map', name: 'by name', known: 'known format', otel: 'OpenTelemetry', generated: 'generated' };

/** The summary as text for a terminal. */
export function renderSummary(s: TraceSummary): string {
  const out: string[] = [];
  out.push(`rehearse traces inspect: ${s.file}`);
  out.push(`format    ${s.label}`);
  const same = s.mapping.filter((m) => m.via === 'name' && m.source === m.column).map((m) => m.column);
  const lines = s.mapping.filter((m) => !(m.via === 'name' && m.source === m.column)).map((m) => `${m.column} ← ${m.source} (${VIA[m.via]}${m.unit ? `, ${UNIT_NAMES[m.unit]}` : ''})`);
  if (same.length > 0) lines.unshift(`by name: ${same.join(', ')}`);
  lines.forEach((l, i) => out.push(`${i === 0 ? 'mapping' : '       '}   ${l}`));
  out.push(`rows      ${integer(s.rows)}: ${integer(s.good)} good, ${integer(s.bad)} bad${s.selected !== s.good ? `; ${integer(s.selected)} selected` : ''}`);
  if (s.bad > 0) {
    out.push(`bad rows  ${Object.entries(s.bad_by_reason).map(([k, v]) => `${k} ${integer(v)}`).join(', ')} (left out, never fatal)`);
    for (const e of s.bad_examples) {
      const raw = e.raw.length > 100 ? `${e.raw.slice(0, 97)}...` : e.raw;
      out.push(`          row ${e.row}: ${e.reason}${e.column ? ` (${e.column})` : ''}${raw ? `: ${raw}` : ''}`);
    }
  }
  if (s.time_span) {
    const t = s.time_span;
    const a = t.start_iso ?? `${fmt(t.start)} ms`;
    const b = t.end_iso ?? `${fmt(t.end)} ms`;
    out.push(`time      ${a} → ${b} (${duration(t.duration_ms)})${s.time_order === 'unordered' ? '; the file is not in time order (rows are sorted on read)' : ''}`);
  } else {
    out.push('time      no rows');
  }
  const dist = Object.entries(s.distributions);
  if (dist.length > 0) {
    out.push('');
    out.push(
      renderTable(
        ['column', 'count', 'min', 'p50', 'p90', 'p99', 'max'],
        dist.map(([c, d]) => [c, integer(d.count), fmt(d.min), fmt(d.p50), fmt(d.p90), fmt(d.p99), fmt(d.max)]),
        [false, true, true, true, true, true, true],
      ),
    );
  }
  out.push('');
  const n = s.selected || 1;
  const cols = new Set(s.columns);
  if (cols.has('status') || cols.has('refusal')) {
    out.push(
      `status    ok ${integer(s.status.ok)} (${percent(s.status.ok / n, 1)}), error ${integer(s.status.error)} (${percent(s.status.error / n, 1)}), timeout ${integer(s.status.timeout)} (${percent(s.status.timeout / n, 1)}); refusals ${integer(s.refusals)} (${percent(s.refusals / n, 1)})`,
    );
  } else {
    out.push('status    no status column: every request counts as ok');
  }
  if (s.feedback) {
    const f = s.feedback;
    out.push(`feedback  −1: ${integer(f.down)}, 0: ${integer(f.neutral)}, +1: ${integer(f.up)}, none: ${integer(f.none)}`);
  }
  const d = Object.entries(s.distinct);
  if (d.length > 0) out.push(`distinct  ${d.map(([k, v]) => `${k} ${integer(v)}`).join(', ')}`);
  return out.join('\n') + '\n';
}
