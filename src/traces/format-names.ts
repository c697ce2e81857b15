/**
 * The trace formats, in a module that loads nothing: `replay` offers them as `--format` choices
 * before its worker pool starts, and formats.ts (which loads Arrow) would delay that.
 */
export const TRACE_FORMATS = ['parquet', 'csv', 'jsonl', 'json', 'arrow', 'duckdb', 'otel'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];
