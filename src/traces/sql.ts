/** SQL text helpers for building DuckDB queries from file names and column names. */

/** A string literal. */
export function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A quoted identifier. */
export function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** A finite number as a SQL literal (DOUBLE). */
export function num(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`not a finite number: ${x}`);
  return `${x}::DOUBLE`;
}
