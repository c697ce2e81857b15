import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  numberExpr,
  presentExpr,
  refusalExpr,
  statusExpr,
  textExpr,
  timestampExpr,
  typeClass,
} from '../../src/traces/expressions.js';

let db: DuckDBInstance;
let conn: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:', { threads: '1' });
  conn = await db.connect();
  // As the trace reader does: date-times without a zone are UTC.
  await conn.run(`SET TimeZone = 'UTC'`);
});

afterAll(() => {
  conn?.closeSync();
  db?.closeSync();
});

/**
 * Evaluates `expr` over a one-column table of `type` holding the SQL literals `values`, in order,
 * with the column referenced as the reader does (`t."c"`).
 */
async function evaluate(expr: (c: string, type: string) => string, type: string, values: string[]): Promise<unknown[]> {
  const rows = values.map((v, i) => `(${i}, CAST(${v} AS ${type}))`).join(', ');
  const sql = `SELECT ${expr('t."c"', type)} AS v FROM (VALUES ${rows}) t(i, "c") ORDER BY i`;
  return (await conn.runAndReadAll(sql)).getRowObjectsJS().map((r) => r.v);
}

describe('typeClass', () => {
  it.each([
    ['TINYINT', 'number'],
    ['INTEGER', 'number'],
    ['bigint', 'number'],
    ['UBIGINT', 'number'],
    ['HUGEINT', 'number'],
    ['FLOAT', 'number'],
    ['DOUBLE', 'number'],
    ['DECIMAL(18,3)', 'number'],
    ['VARCHAR', 'text'],
    ['VARCHAR(20)', 'text'],
    ['BOOLEAN', 'bool'],
    ['TIMESTAMP WITH TIME ZONE', 'timestamptz'],
    ['TIMESTAMPTZ', 'timestamptz'],
    ['TIMESTAMP_NS', 'timestamp_ns'],
    ['TIMESTAMP', 'timestamp'],
    ['TIMESTAMP_MS', 'timestamp'],
    ['TIMESTAMP_S', 'timestamp'],
    ['DATE', 'date'],
    ['JSON', 'json'],
    ['STRUCT(role VARCHAR, content VARCHAR)', 'nested'],
    ['MAP(VARCHAR, INTEGER)', 'nested'],
    ['INTEGER[]', 'nested'],
    ['STRUCT(role VARCHAR, content VARCHAR)[]', 'nested'],
    ['VARCHAR[3]', 'nested'],
    ['UUID', 'other'],
    ['BLOB', 'other'],
    ['TIME', 'other'],
  ])('%s is %s', (type, kind) => {
    expect(typeClass(type)).toBe(kind);
  });
});

describe('timestampExpr', () => {
  // 2024-01-02 03:04:05 UTC in epoch milliseconds, computed by the JavaScript Date.
  const T = Date.UTC(2024, 0, 2, 3, 4, 5);

  it('takes numbers as milliseconds, as they are (epoch or offsets)', async () => {
    expect(await evaluate(timestampExpr, 'DOUBLE', ['1700000000000', '1500.5', 'NULL'])).toEqual([1_700_000_000_000, 1500.5, null]);
    expect(await evaluate(timestampExpr, 'BIGINT', ['0', '1500'])).toEqual([0, 1500]);
  });

  it('reads text as a number of milliseconds when it is one, else as a date-time (UTC without a zone)', async () => {
    const v = await evaluate(timestampExpr, 'VARCHAR', [
      "'1500'",
      "'  1700000000000 '",
      "'2024-01-02T03:04:05Z'",
      "'2024-01-02 03:04:05'",
      "'2024-01-02T03:04:05.250Z'",
      // +02:00 is two hours ahead of UTC: 03:04:05+02 is 01:04:05 UTC.
      "'2024-01-02T03:04:05+02:00'",
    ]);
    expect(v).toEqual([1500, 1_700_000_000_000, T, T, T + 250, T - 2 * 3_600_000]);
  });

  it('is NULL for missing, blank and unreadable text, without failing the query', async () => {
    expect(await evaluate(timestampExpr, 'VARCHAR', ['NULL', "''", "'   '", "'yesterday'", "'2024-13-45'", "'12:00'"])).toEqual([null, null, null, null, null, null]);
  });

  it('reads date-time types as milliseconds since the epoch', async () => {
    expect(await evaluate(timestampExpr, 'TIMESTAMP', ["'2024-01-02 03:04:05.250'", 'NULL'])).toEqual([T + 250, null]);
    // 03:04:05+01 is 02:04:05 UTC.
    expect(await evaluate(timestampExpr, 'TIMESTAMPTZ', ["'2024-01-02 03:04:05+01'"])).toEqual([T - 3_600_000]);
    expect(await evaluate(timestampExpr, 'DATE', ["'2024-01-02'"])).toEqual([Date.UTC(2024, 0, 2)]);
    expect(await evaluate(timestampExpr, 'TIMESTAMP_MS', ["'2024-01-02 03:04:05.007'"])).toEqual([T + 7]);
  });

  it('keeps sub-millisecond precision of nanosecond timestamps', async () => {
    const [v] = await evaluate(timestampExpr, 'TIMESTAMP_NS', ["'2024-01-02 03:04:05.123456789'"]);
    // T + 123.456789 ms; a double near 1.7e12 holds about 4 decimals of a millisecond.
    expect(v as number).toBeCloseTo(T + 123.456789, 3);
  });

  it('reads JSON strings and numbers', async () => {
    expect(await evaluate(timestampExpr, 'JSON', [`'"2024-01-02T03:04:05Z"'`, "'1500'"])).toEqual([T, 1500]);
  });
});

describe('numberExpr', () => {
  it('casts numbers and booleans to DOUBLE', async () => {
    expect(await evaluate(numberExpr, 'INTEGER', ['42', '-3', 'NULL'])).toEqual([42, -3, null]);
    expect(await evaluate(numberExpr, 'DECIMAL(10,2)', ['1.25'])).toEqual([1.25]);
    expect(await evaluate(numberExpr, 'BOOLEAN', ['true', 'false'])).toEqual([1, 0]);
  });

  it('parses text, trimmed, with NULL for anything that is not a number', async () => {
    expect(await evaluate(numberExpr, 'VARCHAR', ["' 3.5 '", "'1e3'", "'-7'", "'abc'", "''", "'12 tokens'", 'NULL'])).toEqual([3.5, 1000, -7, null, null, null, null]);
  });

  it('lets non-finite values through for the caller to judge', async () => {
    const [inf] = await evaluate(numberExpr, 'VARCHAR', ["'inf'"]);
    expect(inf).toBe(Infinity);
  });

  it('parses JSON numbers and numeric strings', async () => {
    expect(await evaluate(numberExpr, 'JSON', ["'12'", `'"12.5"'`, `'"n/a"'`])).toEqual([12, 12.5, null]);
  });
});

describe('presentExpr', () => {
  it('treats NULL and blank text as absent', async () => {
    expect(await evaluate(presentExpr, 'VARCHAR', ["'x'", "' x '", "''", "'   '", 'NULL'])).toEqual([true, true, false, false, false]);
    expect(await evaluate(presentExpr, 'JSON', [`'"x"'`, `'""'`, "'3'"])).toEqual([true, false, true]);
  });

  it('treats every non-NULL number or boolean as present, zero and false included', async () => {
    expect(await evaluate(presentExpr, 'INTEGER', ['0', 'NULL'])).toEqual([true, false]);
    expect(await evaluate(presentExpr, 'BOOLEAN', ['false', 'NULL'])).toEqual([true, false]);
  });
});

describe('textExpr', () => {
  it('keeps VARCHAR as it is, untrimmed', async () => {
    expect(await evaluate(textExpr, 'VARCHAR', ["'  hi  '", 'NULL'])).toEqual(['  hi  ', null]);
  });

  it('unwraps JSON strings and keeps other JSON as its text', async () => {
    const [s, list] = await evaluate(textExpr, 'JSON', [`'"hello"'`, `'[{"role":"user","content":"hi"}]'`]);
    expect(s).toBe('hello');
    expect(JSON.parse(list as string)).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it('writes nested values (chat messages) as JSON text', async () => {
    const [v] = await evaluate(textExpr, 'STRUCT(role VARCHAR, content VARCHAR)[]', [
      "[{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}]",
    ]);
    expect(JSON.parse(v as string)).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
  });

  it('writes numbers as text', async () => {
    expect(await evaluate(textExpr, 'INTEGER', ['7'])).toEqual(['7']);
  });
});

describe('statusExpr', () => {
  it('maps words and HTTP codes in text to 0 ok, 1 error, 2 timeout, 3 refusal', async () => {
    const cases: [string, number | null][] = [
      ['NULL', 0],
      ["''", 0],
      ["'ok'", 0],
      ["'  OK '", 0],
      ["'Success'", 0],
      ["'succeeded'", 0],
      ["'completed'", 0],
      ["'error'", 1],
      ["'FAILED'", 1],
      ["'failure'", 1],
      ["'fail'", 1],
      ["'timeout'", 2],
      ["'timed_out'", 2],
      ["'TimedOut'", 2],
      ["'refusal'", 3],
      ["'refused'", 3],
      ["'200'", 0],
      ["'204'", 0],
      ["'400'", 1],
      ["'429'", 1],
      ["'500'", 1],
      // 408 Request Timeout and 504 Gateway Timeout are timeouts.
      ["'408'", 2],
      ["'504'", 2],
      // Not recognised: a redirect, a made-up code, other words.
      ["'302'", null],
      ["'600'", null],
      ["'2000'", null],
      ["'pending'", null],
    ];
    expect(await evaluate(statusExpr, 'VARCHAR', cases.map((c) => c[0]))).toEqual(cases.map((c) => c[1]));
  });

  it('reads numeric columns as HTTP codes', async () => {
    expect(await evaluate(statusExpr, 'INTEGER', ['200', '201', '404', '503', '504', '408', '42', 'NULL'])).toEqual([0, 0, 1, 1, 2, 2, null, 0]);
    expect(await evaluate(statusExpr, 'DOUBLE', ['500.0'])).toEqual([1]);
  });
});

describe('refusalExpr', () => {
  it('keeps booleans', async () => {
    expect(await evaluate(refusalExpr, 'BOOLEAN', ['true', 'false', 'NULL'])).toEqual([true, false, null]);
  });

  it('reads 1 and 0 as booleans, and NULL for other numbers', async () => {
    expect(await evaluate(refusalExpr, 'INTEGER', ['1', '0', '2', '-1', 'NULL'])).toEqual([true, false, null, null, null]);
  });

  it('reads yes/no words in text, trimmed and in any case, and NULL for anything else', async () => {
    const cases: [string, boolean | null][] = [
      ["'true'", true],
      ["' TRUE '", true],
      ["'t'", true],
      ["'1'", true],
      ["'Yes'", true],
      ["'y'", true],
      ["'false'", false],
      ["'F'", false],
      ["'0'", false],
      ["'no'", false],
      ["'N'", false],
      ["'maybe'", null],
      ["''", null],
      ['NULL', null],
    ];
    expect(await evaluate(refusalExpr, 'VARCHAR', cases.map((c) => c[0]))).toEqual(cases.map((c) => c[1]));
  });
});
