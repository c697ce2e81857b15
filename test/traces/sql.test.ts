import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident, lit, num } from '../../src/traces/sql.js';

let instance: DuckDBInstance;
let conn: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

/** Runs one SELECT; its column names and its single row. */
async function one(sql: string): Promise<{ names: string[]; row: unknown[] }> {
  const r = await conn.runAndReadAll(sql);
  const rows = r.getRows();
  expect(rows).toHaveLength(1);
  return { names: r.columnNames(), row: rows[0]! };
}

// Awkward names and texts: quotes of both kinds, doubled quotes, a backslash (DuckDB strings have
// no backslash escapes), a newline, SQL that would run if the quoting leaked, non-ASCII text.
const AWKWARD = [
  '',
  'plain',
  "it's",
  "''",
  "'",
  'say "hi"',
  '"',
  '""',
  'back\\slash',
  'two\nlines',
  "x'; DROP TABLE t; --",
  'x"; DROP TABLE t; --',
  'naïve café 東京 🚀',
];

describe('lit', () => {
  it('doubles single quotes inside single quotes', () => {
    // Written out by hand: each ' becomes '' and the whole is wrapped in '...'.
    expect(lit('plain')).toBe("'plain'");
    expect(lit("it's")).toBe("'it''s'");
    expect(lit("''")).toBe("''''''");
    expect(lit('')).toBe("''");
    expect(lit('say "hi"')).toBe(`'say "hi"'`);
  });

  it('reads back in DuckDB as the very text it quotes', async () => {
    for (const s of AWKWARD) {
      const { row } = await one(`SELECT ${lit(s)} AS v`);
      expect(row[0], JSON.stringify(s)).toBe(s);
    }
  });

  it('keeps its text in one literal: a quote inside cannot end it early', async () => {
    await conn.run('CREATE OR REPLACE TABLE t (v VARCHAR)');
    const evil = "x'); DROP TABLE t; --";
    await conn.run(`INSERT INTO t VALUES (${lit(evil)})`);
    const r = await conn.runAndReadAll('SELECT v FROM t');
    expect(r.getRows()).toEqual([[evil]]);
  });
});

describe('ident', () => {
  it('doubles double quotes inside double quotes', () => {
    expect(ident('col')).toBe('"col"');
    expect(ident('a"b')).toBe('"a""b"');
    expect(ident('"')).toBe('""""');
    expect(ident("it's")).toBe(`"it's"`);
  });

  it('names a column exactly as given, through DuckDB', async () => {
    for (const name of AWKWARD.filter((s) => s !== '')) {
      const { names, row } = await one(`SELECT 1 AS ${ident(name)}`);
      expect(names, JSON.stringify(name)).toEqual([name]);
      expect(row).toEqual([1]);
    }
  });

  it('creates and selects tables and columns whose names hold quotes, spaces and keywords', async () => {
    const table = 'my "odd" table';
    const cols = ['select', 'it\'s a "col"', 'Case Sensitive'];
    await conn.run(`CREATE OR REPLACE TABLE ${ident(table)} (${cols.map((c) => `${ident(c)} VARCHAR`).join(', ')})`);
    await conn.run(`INSERT INTO ${ident(table)} VALUES (${cols.map((c) => lit(c.toUpperCase())).join(', ')})`);
    const r = await conn.runAndReadAll(`SELECT ${cols.map(ident).join(', ')} FROM ${ident(table)}`);
    expect(r.columnNames()).toEqual(cols);
    expect(r.getRows()).toEqual([['SELECT', 'IT\'S A "COL"', 'CASE SENSITIVE']]);
    const d = await conn.runAndReadAll(`SELECT column_name FROM duckdb_columns() WHERE table_name = ${lit(table)} ORDER BY column_index`);
    expect(d.getRows().map((x) => x[0])).toEqual(cols);
  });
});

describe('num', () => {
  it('writes a finite number as a DOUBLE literal', () => {
    expect(num(1.5)).toBe('1.5::DOUBLE');
    expect(num(0)).toBe('0::DOUBLE');
    expect(num(42)).toBe('42::DOUBLE');
  });

  it('reads back in DuckDB as the same double, bit for bit', async () => {
    // JavaScript's number-to-text is the shortest text that reads back as the same double, and
    // DuckDB parses it with correct rounding, so every value below must come back exactly.
    const xs = [0, 1, -1, 0.1, -0.1, 1 / 3, 1714554000000.5, 2 ** 53 + 2, 1e300, -1e300, 5e-324, 2.2250738585072014e-308, 4294967296 * 0.37];
    for (const x of xs) {
      const { row } = await one(`SELECT ${num(x)} AS v, typeof(${num(x)}) AS t`);
      expect(row[0], String(x)).toBe(x);
      expect(row[1]).toBe('DOUBLE');
    }
  });

  it('keeps its sign inside an expression', async () => {
    // 10 - (-2.5) = 12.5: a negative literal must not turn the subtraction into something else.
    const { row } = await one(`SELECT 10 - ${num(-2.5)} AS v`);
    expect(row[0]).toBe(12.5);
  });

  it('rejects NaN and infinities with a message that names the value', () => {
    expect(() => num(NaN)).toThrow('not a finite number: NaN');
    expect(() => num(Infinity)).toThrow('not a finite number: Infinity');
    expect(() => num(-Infinity)).toThrow('not a finite number: -Infinity');
  });
});
