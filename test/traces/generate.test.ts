import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { UserError } from '../../src/config/errors.js';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticRows, writeSyntheticTrace } from '../../src/traces/generate.js';
import { readTraceRows } from '../../src/traces/reader.js';

const root = path.resolve(import.meta.dirname, '../..');
const BUNDLED = path.join(root, 'traces/synthetic.jsonl');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-generate-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('synthetic traces', () => {
  it('are deterministic: same seed, same bytes (JSONL and Parquet); another seed, other rows', async () => {
    const f = (n: string) => path.join(dir, n);
    await writeSyntheticTrace(f('a.jsonl'), { rows: 500, seed: 'x' });
    await writeSyntheticTrace(f('b.jsonl'), { rows: 500, seed: 'x' });
    await writeSyntheticTrace(f('c.jsonl'), { rows: 500, seed: 'y' });
    const same = (a: string, b: string) => readFileSync(f(a)).equals(readFileSync(f(b)));
    expect(same('a.jsonl', 'b.jsonl')).toBe(true);
    expect(same('a.jsonl', 'c.jsonl')).toBe(false);
    await writeSyntheticTrace(f('a.parquet'), { rows: 500, seed: 'x' });
    await writeSyntheticTrace(f('b.parquet'), { rows: 500, seed: 'x' });
    expect(same('a.parquet', 'b.parquet')).toBe(true);
    expect((await readTraceRows(f('a.parquet'))).rows).toEqual((await readTraceRows(f('a.jsonl'))).rows);
  });

  it('the bundled traces/synthetic.jsonl is `generate --rows 2000 --seed 1`', async () => {
    await writeSyntheticTrace(path.join(dir, 'bundled.jsonl'), { rows: 2000, seed: '1' });
    expect(readFileSync(path.join(dir, 'bundled.jsonl')).equals(readFileSync(BUNDLED))).toBe(true);
  });

  it('exercise every canonical column with plausible values', async () => {
    const { trace, rows, errors } = await readTraceRows(BUNDLED);
    expect(errors).toEqual([]);
    expect(trace.rows).toBe(2000);
    expect(trace.columns).toHaveLength(16);
    for (const c of trace.columns) expect(rows.some((r) => r[c] !== null), c).toBe(true);
    const count = <T,>(f: (r: (typeof rows)[number]) => T) => {
      const m = new Map<T, number>();
      for (const r of rows) m.set(f(r), (m.get(f(r)) ?? 0) + 1);
      return m;
    };
    expect(new Set(count((r) => r.status).keys())).toEqual(new Set(['ok', 'error', 'timeout']));
    expect(count((r) => r.refusal).get(true)).toBeGreaterThan(10);
    expect(new Set(count((r) => r.feedback).keys())).toEqual(new Set([-1, 0, 1, null]));
    expect(count((r) => r.session_id).size).toBe(250);
    expect(count((r) => r.tenant).size).toBe(5);
    expect(count((r) => r.route).size).toBe(4);
    expect(count((r) => r.model).size).toBe(3);
    // A session keeps its tenant and route.
    const bySession = new Map<string, string>();
    for (const r of rows) {
      const k = `${r.tenant}/${r.route}`;
      expect(bySession.get(r.session_id!) ?? k).toBe(k);
      bySession.set(r.session_id!, k);
    }
    for (const r of rows) {
      // Chat sends messages JSON; the others text.
      if (r.route === 'chat') expect(JSON.parse(r.input!)[1].role).toBe('user');
      // Tokens follow the text: about four characters each.
      expect(r.input_tokens! / (r.input!.length / 4)).toBeGreaterThan(0.75);
      expect(r.input_tokens! / (r.input!.length / 4)).toBeLessThan(1.25);
      if (r.status === 'ok') {
        expect(r.output_tokens! / (r.output!.length / 4)).toBeGreaterThan(0.75);
        expect(r.output_tokens! / (r.output!.length / 4)).toBeLessThan(1.25);
        expect(r.ttft_ms!).toBeGreaterThan(0);
        expect(r.latency_ms!).toBeGreaterThanOrEqual(r.ttft_ms!);
      } else {
        expect([r.output, r.output_tokens, r.ttft_ms]).toEqual([null, 0, null]);
      }
      if (r.status === 'timeout') expect(r.latency_ms).toBe(30000);
      if (r.feedback !== null) expect(r.status).toBe('ok');
      expect(r.cost_usd!).toBeGreaterThan(0);
    }
    // Costs are the model's prices times the tokens.
    const mini = rows.find((r) => r.model === 'gpt-4o-mini' && r.status === 'ok')!;
    expect(mini.cost_usd).toBeCloseTo((mini.input_tokens! * 0.15 + mini.output_tokens! * 0.6) / 1e6, 12);
    // Lognormal latencies: log latency of answered requests is roughly symmetric (median ≈ mean).
    const logs = rows.filter((r) => r.status === 'ok').map((r) => Math.log(r.latency_ms!)).sort((a, b) => a - b);
    const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
    expect(Math.abs(logs[logs.length >> 1]! - mean)).toBeLessThan(0.15);
  });

  it('spreads rows over the sessions asked for, in time order', () => {
    const rows = [...syntheticRows({ rows: 300, seed: 2, sessions: 7 })];
    expect(new Set(rows.map((r) => r.session_id)).size).toBe(7);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.timestamp >= rows[i - 1]!.timestamp).toBe(true);
  });

  it('refuses a --start that is not a day of the calendar (V8 alone reads February 30th as March 1st)', () => {
    expect(() => [...syntheticRows({ rows: 1, start: '2024-02-30T09:00:00Z' })]).toThrow(/--start: "2024-02-30T09:00:00Z" is not an ISO date-time/);
    expect([...syntheticRows({ rows: 1, start: '2024-02-29T09:00:00Z' })][0]!.timestamp.startsWith('2024-02-29T09:00:0')).toBe(true);
  });

  it('refuses an output it cannot write', async () => {
    await expect(writeSyntheticTrace(path.join(dir, 'x.txt'))).rejects.toThrow(/x\.txt: write a synthetic trace as \.jsonl, \.ndjson or \.parquet/);
  });
});

describe('writeSyntheticTrace refuses an output it cannot write, naming it (exit 2, not a crash)', () => {
  it('a full disk (/dev/full), a folder in the way, a file where its folder should be, and an extension it does not write', async () => {
    const cases: [string, RegExp][] = [
      ['/dev/full', /\/dev\/full: write a synthetic trace as/],
      [path.join(dir, 'sub'), /write a synthetic trace as \.jsonl/],
    ];
    for (const [out, message] of cases) await expect(writeSyntheticTrace(out, { rows: 10 })).rejects.toThrow(message);
    // /dev/full takes the open and fails the writes: the error that used to escape as an unhandled rejection.
    const full = path.join(dir, 'full.jsonl');
    symlinkSync('/dev/full', full);
    const err = await writeSyntheticTrace(full, { rows: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/full\.jsonl: cannot write: ENOSPC/);
    mkdirSync(path.join(dir, 'taken.jsonl'));
    await expect(writeSyntheticTrace(path.join(dir, 'taken.jsonl'), { rows: 10 })).rejects.toThrow(/taken\.jsonl: cannot write: EISDIR/);
    writeFileSync(path.join(dir, 'plain'), 'x');
    await expect(writeSyntheticTrace(path.join(dir, 'plain', 'g.jsonl'), { rows: 10 })).rejects.toThrow(/cannot make its folder .*plain: EEXIST/);
  });
});
