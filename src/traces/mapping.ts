import { ConfigError, UserError } from '../config/errors.js';
import { CANONICAL_COLUMNS, type CanonicalColumn, isCanonicalColumn } from './canonical.js';

/**
 * `{ sourceColumn: canonicalColumn }`, or the command-line form `SRC=dst,SRC2=dst2`. A time
 * column may name the unit of its numbers after a colon: `Timestamp=timestamp:s`.
 */
export type MapSpec = string | Readonly<Record<string, string>>;

/**
 * Units a mapped time column's numbers may be in, as milliseconds. Traces keep time in all of
 * them (BurstGPT's arrival times are seconds, OpenTelemetry's nanoseconds); the canonical form is
 * milliseconds. Date-time text is read as such whatever the unit.
 */
export const TIME_UNITS = { s: 1000, ms: 1, us: 1e-3, ns: 1e-6 } as const;
export type TimeUnit = keyof typeof TIME_UNITS;

/** The canonical columns that hold time, the only ones a unit may be given for. */
const TIMED_COLUMNS: readonly CanonicalColumn[] = ['timestamp', 'latency_ms', 'ttft_ms'];

/** How a canonical column got its values. */
export interface MappingEntry {
  column: CanonicalColumn;
  /** The source column, or a description of where the values come from. */
  source: string;
  /**
   * `map`: an explicit mapping; `name`: the source column has the canonical name (any case);
   * `known`: a known foreign format's column (the Azure LLM trace); `otel`: an OpenTelemetry
   * span field or attribute; `generated`: made up (request_id from the row number).
   */
  via: 'map' | 'name' | 'known' | 'otel' | 'generated';
  /** The unit the source's numbers are in, when the map named one other than milliseconds. */
  unit?: TimeUnit;
}

/**
 * Parses `SRC=dst,SRC2=dst2` (whitespace around names ignored). A source name may contain `=`:
 * the split is at the last one, since canonical names never contain it.
 */
export function parseMap(text: string, file: string, field = '--map'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.lastIndexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new ConfigError(file, field, `"${item}" is not SRC=dst (e.g. --map TIMESTAMP=timestamp,ContextTokens=input_tokens, or ts=timestamp:s for seconds)`);
    const src = item.slice(0, eq).trim();
    const dst = item.slice(eq + 1).trim();
    if (src in out) throw new ConfigError(file, field, `source column "${src}" is mapped twice`);
    out[src] = dst;
  }
  return out;
}

interface MapItem {
  src: string;
  column: CanonicalColumn;
  unit: TimeUnit | null;
}

function mapItems(spec: MapSpec | undefined, file: string, field: string): MapItem[] {
  const raw = spec === undefined ? {} : typeof spec === 'string' ? parseMap(spec, file, field) : spec;
  const items: MapItem[] = [];
  const targets = new Map<string, string>();
  for (const [src, dstRaw] of Object.entries(raw)) {
    const [name, unitRaw, ...rest] = String(dstRaw).split(':').map((x) => x.trim());
    const dst = name!.toLowerCase();
    if (!isCanonicalColumn(dst)) {
      throw new ConfigError(file, field, `"${src}=${dstRaw}": "${name}" is not a canonical column (one of ${CANONICAL_COLUMNS.join(', ')})`);
    }
    let unit: TimeUnit | null = null;
    if (unitRaw !== undefined) {
      const u = unitRaw.toLowerCase();
      if (rest.length > 0 || !Object.hasOwn(TIME_UNITS, u)) {
        throw new ConfigError(file, field, `"${src}=${dstRaw}": "${unitRaw}${rest.map((r) => `:${r}`).join('')}" is not a time unit (one of ${Object.keys(TIME_UNITS).join(', ')})`);
      }
      if (!TIMED_COLUMNS.includes(dst)) throw new ConfigError(file, field, `"${src}=${dstRaw}": a unit is for time columns only (${TIMED_COLUMNS.join(', ')}), not ${dst}`);
      unit = u as TimeUnit;
    }
    const prev = targets.get(dst);
    if (prev !== undefined) throw new ConfigError(file, field, `both "${prev}" and "${src}" are mapped to ${dst}`);
    targets.set(dst, src);
    items.push({ src, column: dst, unit });
  }
  return items;
}

/** Normalises a map given as text or as an object, checking every target is canonical. */
export function normaliseMap(spec: MapSpec | undefined, file: string, field = '--map'): Map<string, CanonicalColumn> {
  return new Map(mapItems(spec, file, field).map((m) => [m.src, m.column]));
}

/** The units the map names for time columns (`Timestamp=timestamp:s`); milliseconds are left out. */
export function mapUnits(spec: MapSpec | undefined, file: string, field = '--map'): Map<CanonicalColumn, TimeUnit> {
  return new Map(mapItems(spec, file, field).flatMap((m) => (m.unit !== null && m.unit !== 'ms' ? [[m.column, m.unit] as const] : [])));
}

/** Known foreign traces recognised by their column names, without a mapping. */
interface KnownFormat {
  label: string;
  /** Lower-cased source column names that must all be present. */
  signature: string[];
  /** Lower-cased source name → canonical column. */
  aliases: Record<string, CanonicalColumn>;
}

const KNOWN_FORMATS: KnownFormat[] = [
  {
    // Azure Public Dataset, "Azure LLM inference trace 2023": TIMESTAMP, ContextTokens, GeneratedTokens.
    label: 'Azure LLM inference trace',
    signature: ['timestamp', 'contexttokens', 'generatedtokens'],
    aliases: { timestamp: 'timestamp', contexttokens: 'input_tokens', generatedtokens: 'output_tokens' },
  },
];

export interface ResolvedMapping {
  entries: MappingEntry[];
  /** canonical column → source column name, for the columns taken from the source. */
  sources: Map<CanonicalColumn, string>;
  /** The known format recognised, if any. */
  known: string | null;
}

/**
 * Decides which source column feeds each canonical column: explicit mappings first, then source
 * columns bearing a canonical name (case-insensitively; an exact-case match wins), then a known
 * format's columns. Source columns mapped explicitly are not matched again by name.
 */
export function resolveMapping(file: string, sourceColumns: readonly string[], map: Map<string, CanonicalColumn>, field = '--map'): ResolvedMapping {
  const sources = new Map<CanonicalColumn, string>();
  const entries: MappingEntry[] = [];
  const used = new Set<string>();
  const list = sourceColumns.join(', ');
  for (const [src, dst] of map) {
    let actual = sourceColumns.find((c) => c === src);
    if (actual === undefined) {
      const ci = sourceColumns.filter((c) => c.toLowerCase() === src.toLowerCase());
      if (ci.length === 1) actual = ci[0];
    }
    if (actual === undefined) throw new ConfigError(file, field, `no column "${src}" in the trace (columns: ${list})`);
    sources.set(dst, actual);
    used.add(actual);
    entries.push({ column: dst, source: actual, via: 'map' });
  }
  for (const col of CANONICAL_COLUMNS) {
    if (sources.has(col)) continue;
    const exact = sourceColumns.find((c) => c === col && !used.has(c));
    const ci = exact ?? sourceColumns.find((c) => c.toLowerCase() === col && !used.has(c));
    if (ci !== undefined) {
      sources.set(col, ci);
      used.add(ci);
      entries.push({ column: col, source: ci, via: 'name' });
    }
  }
  const lower = new Map(sourceColumns.map((c) => [c.toLowerCase(), c]));
  let known: string | null = null;
  for (const k of KNOWN_FORMATS) {
    if (!k.signature.every((s) => lower.has(s))) continue;
    known = k.label;
    for (const [alias, col] of Object.entries(k.aliases)) {
      const src = lower.get(alias)!;
      if (sources.has(col) || used.has(src)) continue;
      sources.set(col, src);
      used.add(src);
      entries.push({ column: col, source: src, via: 'known' });
    }
    // A known format's canonical-named columns are part of its recognition too.
    for (const e of entries) if (e.via === 'name' && k.signature.includes(e.source.toLowerCase())) e.via = 'known';
    break;
  }
  entries.sort((a, b) => CANONICAL_COLUMNS.indexOf(a.column) - CANONICAL_COLUMNS.indexOf(b.column));
  return { entries, sources, known };
}

/** Longer column names are cut in messages: a header-less CSV's "names" are whole prompts. */
const MAX_NAME_SHOWN = 40;

/**
 * Why the columns may not be columns at all. A CSV without a header row reads its first row as
 * the names (numbers, dates, prompts); a line above the header (an export banner) reads as a
 * single column. Either way --map cannot help, and the message should say what can.
 */
function headerHint(names: readonly string[]): string {
  const data = names.filter((n) => /^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$/.test(n) || /^\s*\d{4}-\d{2}-\d{2}/.test(n));
  if (data.length > 0) {
    return `. The names include ${data.length === 1 ? 'a value' : 'values'} (${data.slice(0, 2).join(', ')}): if this file has no header row, add one naming its columns (request_id, timestamp, input_tokens, …)`;
  }
  if (names.length === 1 && /\s/.test(names[0]!)) {
    return `. One column only, named like a sentence: if a line stands above the header, remove it (lines starting with # are skipped)`;
  }
  return '';
}

/** Refuses a mapping without timestamp or without any of the token and latency columns. */
export function checkRequired(file: string, sourceColumns: readonly string[], present: ReadonlySet<CanonicalColumn>): void {
  const list = sourceColumns.map((c) => (c.length > MAX_NAME_SHOWN ? `${c.slice(0, MAX_NAME_SHOWN - 1)}…` : c)).join(', ') || '(none)';
  if (!present.has('timestamp')) {
    throw new UserError(`${file}: no timestamp column (columns: ${list}); name one with --map SRC=timestamp${headerHint(sourceColumns)}`);
  }
  if (!present.has('input_tokens') && !present.has('output_tokens') && !present.has('latency_ms')) {
    throw new UserError(
      `${file}: none of input_tokens, output_tokens, latency_ms (columns: ${list}); a trace needs one of them: name it with --map SRC=input_tokens (or output_tokens, latency_ms)${headerHint(sourceColumns)}`,
    );
  }
}
