/**
 * SQL that turns one source column of any DuckDB type into a canonical value, and says whether
 * a present value failed to parse. Values are parsed per row with TRY_CAST, so a bad value makes
 * a bad row and never a failed query.
 */

type TypeClass = 'number' | 'text' | 'bool' | 'timestamp' | 'timestamptz' | 'timestamp_ns' | 'date' | 'json' | 'nested' | 'other';

export function typeClass(type: string): TypeClass {
  const t = type.toUpperCase();
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL.*|BIGNUM|VARINT)$/.test(t)) return 'number';
  if (t === 'VARCHAR' || t.startsWith('VARCHAR(')) return 'text';
  if (t === 'BOOLEAN') return 'bool';
  if (t === 'TIMESTAMP WITH TIME ZONE' || t === 'TIMESTAMPTZ') return 'timestamptz';
  if (t === 'TIMESTAMP_NS') return 'timestamp_ns';
  if (t.startsWith('TIMESTAMP')) return 'timestamp';
  if (t === 'DATE') return 'date';
  if (t === 'JSON') return 'json';
  if (/^(STRUCT|MAP|UNION)\b/.test(t) || t.endsWith(']')) return 'nested';
  return 'other';
}

/** The column as trimmed text (NULL stays NULL). */
function asText(c: string, type: string): string {
  switch (typeClass(type)) {
    case 'text':
      return `trim(${c})`;
    case 'json':
      return `trim(json_extract_string(${c}, '$'))`;
    case 'nested':
      return `to_json(${c})::VARCHAR`;
    default:
      return `trim(CAST(${c} AS VARCHAR))`;
  }
}

/** True when the source holds a value (not NULL, not blank text). */
export function presentExpr(c: string, type: string): string {
  const k = typeClass(type);
  if (k === 'text' || k === 'json') return `(${c} IS NOT NULL AND ${asText(c, type)} <> '')`;
  return `(${c} IS NOT NULL)`;
}

/** Text: VARCHAR as is, nested values (chat messages) as JSON text. */
export function textExpr(c: string, type: string): string {
  switch (typeClass(type)) {
    case 'text':
      return c;
    case 'json':
      return `CASE WHEN json_type(${c}) = 'VARCHAR' THEN json_extract_string(${c}, '$') ELSE ${c}::VARCHAR END`;
    case 'nested':
      return `to_json(${c})::VARCHAR`;
    default:
      return `CAST(${c} AS VARCHAR)`;
  }
}

/** A DOUBLE, NULL when absent or unparseable (may be non-finite: checked by the caller). */
export function numberExpr(c: string, type: string): string {
  switch (typeClass(type)) {
    case 'number':
      return `CAST(${c} AS DOUBLE)`;
    case 'bool':
      return `CAST(${c} AS DOUBLE)`;
    default:
      return `TRY_CAST(${asText(c, type)} AS DOUBLE)`;
  }
}

/**
 * Milliseconds: numbers as they are (epoch or offset milliseconds), date-times since the epoch.
 * Text is a number if it parses as one, else a date-time; without a zone it is UTC (the reader's
 * session time zone).
 */
export function timestampExpr(c: string, type: string, msPerUnit = 1): string {
  const scaled = (x: string) => (msPerUnit === 1 ? x : `(${x} * ${msPerUnit})`);
  switch (typeClass(type)) {
    case 'number':
      return scaled(`CAST(${c} AS DOUBLE)`);
    case 'timestamptz':
      return `(epoch_us(${c}) / 1000.0)`;
    case 'timestamp_ns':
      return `(epoch_ns(${c}) / 1e6)`;
    case 'timestamp':
    case 'date':
      return `(epoch_us(CAST(${c} AS TIMESTAMP)) / 1000.0)`;
    default: {
      const t = asText(c, type);
      return `coalesce(${scaled(`TRY_CAST(${t} AS DOUBLE)`)}, epoch_us(TRY_CAST(${t} AS TIMESTAMPTZ)) / 1000.0)`;
    }
  }
}

/** Status code: 0 ok, 1 error, 2 timeout, 3 refusal (ok, and a refusal); NULL when not recognised. */
export function statusExpr(c: string, type: string): string {
  const k = typeClass(type);
  const v = k === 'number' ? `CAST(TRY_CAST(${c} AS BIGINT) AS VARCHAR)` : `lower(${asText(c, type)})`;
  return `CASE
    WHEN ${c} IS NULL OR ${v} = '' THEN 0
    WHEN ${v} IN ('ok', 'success', 'succeeded', 'completed') THEN 0
    WHEN ${v} IN ('error', 'failed', 'failure', 'fail') THEN 1
    WHEN ${v} IN ('timeout', 'timed_out', 'timedout') THEN 2
    WHEN ${v} IN ('refusal', 'refused') THEN 3
    WHEN regexp_full_match(${v}, '[1-5][0-9][0-9]') THEN
      CASE WHEN ${v} IN ('408', '504') THEN 2 WHEN ${v} LIKE '2%' THEN 0 WHEN ${v} LIKE '4%' OR ${v} LIKE '5%' THEN 1 END
  END`;
}

/** Refusal: a BOOLEAN, NULL when present but not a boolean. */
export function refusalExpr(c: string, type: string): string {
  const k = typeClass(type);
  if (k === 'bool') return c;
  if (k === 'number') return `CASE WHEN ${c} = 1 THEN true WHEN ${c} = 0 THEN false END`;
  const v = `lower(${asText(c, type)})`;
  return `CASE WHEN ${v} IN ('true', 't', '1', 'yes', 'y') THEN true WHEN ${v} IN ('false', 'f', '0', 'no', 'n') THEN false END`;
}
