import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticTrace } from '../../src/traces/generate.js';
import { readTraceRows } from '../../src/traces/reader.js';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');
const AZURE = path.join(root, 'traces/azure-llm-2023-code.csv');
const SYNTHETIC = path.join(root, 'traces/synthetic.jsonl');

// Through the built CLI. Until main.ts registers the command, the built command object runs
// under a stand-in entry that handles errors as main.ts does (usage errors exit 2).
const registered = readFileSync(cli, 'utf8').includes('tracesCommand');
const entry = `
  const { tracesCommand } = await import(${JSON.stringify(path.join(root, 'dist/cli/traces.js'))});
  try { await tracesCommand().exitOverride().parseAsync(process.argv.slice(2), { from: 'user' }); }
  catch (err) {
    if (typeof err?.code !== 'string' || !err.code.startsWith('commander.')) throw err;
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 2;
  }`;

function rehearse(args: string[]) {
  const argv = registered ? [cli, 'traces', ...args] : ['--input-type=module', '-e', entry, 'traces', ...args];
  const r = spawnSync(process.execPath, argv, { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Linear interpolation between order statistics (numpy's default). */
function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return lo + 1 < sorted.length ? sorted[lo]! + (h - lo) * (sorted[lo + 1]! - sorted[lo]!) : sorted[lo]!;
}

let dir: string;
const file = (n: string) => path.join(dir, n);
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-cli-traces-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rehearse traces inspect', () => {
  it('shows the Azure trace: format, mapping, rows, time span and distributions', () => {
    const r = rehearse(['inspect', AZURE]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('format    CSV (Azure LLM inference trace)');
    expect(r.stdout).toContain('timestamp ← TIMESTAMP (known format)');
    expect(r.stdout).toContain('input_tokens ← ContextTokens (known format)');
    expect(r.stdout).toContain('request_id ← row number (row-000001, …) (generated)');
    expect(r.stdout).toContain('rows      8,819: 8,819 good, 0 bad');
    expect(r.stdout).toContain('time      2023-11-16T18:17:03.979Z → 2023-11-16T19:14:19.928Z (57m 16s)');
    expect(r.stdout).toMatch(/input_tokens\s+8,819\s+\S+\s+\S+/);
    expect(r.stdout).toContain('status    no status column');
  });

  it('--json: distributions computed by DuckDB match an independent computation', () => {
    const r = rehearse(['inspect', SYNTHETIC, '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    const lines = readFileSync(SYNTHETIC, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(s).toMatchObject({ format: 'jsonl', rows: 2000, good: 2000, bad: 0, selected: 2000 });
    for (const c of ['input_tokens', 'output_tokens', 'latency_ms', 'ttft_ms', 'cost_usd']) {
      const v = lines.map((l) => l[c]).filter((x) => x !== null).sort((a, b) => a - b);
      const d = s.distributions[c];
      expect(d.count).toBe(v.length);
      expect(d.min).toBe(v[0]);
      expect(d.max).toBe(v[v.length - 1]);
      expect(d.p50).toBeCloseTo(quantile(v, 0.5), 9);
      expect(d.p90).toBeCloseTo(quantile(v, 0.9), 9);
      expect(d.p99).toBeCloseTo(quantile(v, 0.99), 9);
    }
    const status = (k: string) => lines.filter((l) => l.status === k).length;
    expect(s.status).toEqual({ ok: status('ok'), error: status('error'), timeout: status('timeout') });
    expect(s.refusals).toBe(lines.filter((l) => l.refusal).length);
    expect(s.feedback.down).toBe(lines.filter((l) => l.feedback === -1).length);
    expect(s.time_span.start_iso).toBe(lines[0].timestamp);
    expect(s.time_span.end_iso).toBe(lines[lines.length - 1].timestamp);
  });

  it('maps foreign columns, reports bad rows by reason (exit 0), and refuses a bad map (exit 2)', () => {
    writeFileSync(file('foreign.csv'), 'at,prompt,gen\n2024-01-01T00:00:00Z,10,5\nsoon,11,6\n2024-01-01T00:00:02Z,-3,7\n');
    const ok = rehearse(['inspect', file('foreign.csv'), '--map', 'at=timestamp,prompt=input_tokens', '--map', 'gen=output_tokens']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('rows      3: 1 good, 2 bad');
    expect(ok.stdout).toContain('bad rows  bad_timestamp 1, negative_tokens 1 (left out, never fatal)');
    expect(ok.stdout).toContain('row 2: bad_timestamp (timestamp): {"at":"soon","prompt":"11","gen":"6"}');
    const bad = rehearse(['inspect', file('foreign.csv'), '--map', 'at=when']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`rehearse: ${file('foreign.csv')}: --map: "at=when": "when" is not a canonical column`);
    const none = rehearse(['inspect', file('foreign.csv')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(`rehearse: ${file('foreign.csv')}: no timestamp column (columns: at, prompt, gen); name one with --map SRC=timestamp\n`);
  });
});

describe('rehearse traces convert', () => {
  it('writes canonical Parquet (DuckDB COPY) and Arrow IPC that read back as the same trace', async () => {
    const original = (await readTraceRows(SYNTHETIC)).rows;
    for (const out of ['syn.parquet', 'syn.arrow']) {
      const r = rehearse(['convert', SYNTHETIC, file(out)]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('2,000 rows written; 0 bad rows left out');
      expect((await readTraceRows(file(out))).rows).toEqual(original);
    }
  });

  it('maps, selects and types: the Azure trace as canonical Parquet', async () => {
    const r = rehearse(['convert', AZURE, file('azure.parquet'), '--from', '2023-11-16T18:31:00Z', '--to', '2023-11-16T18:32:00Z', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'parquet', rows: 585, bad: 0 });
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const cols = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM '${file('azure.parquet')}'`)).getRowObjectsJson().map((x) => `${x.column_name} ${x.column_type}`);
    expect(cols).toEqual(['request_id VARCHAR', 'timestamp TIMESTAMP WITH TIME ZONE', 'input_tokens DOUBLE', 'output_tokens DOUBLE']);
    conn.closeSync();
    db.closeSync();
    const back = await readTraceRows(file('azure.parquet'));
    expect(back.rows).toHaveLength(585);
    expect(back.rows[0]!.request_id).toMatch(/^row-\d{6}$/);
  });

  it('refuses an output format it cannot write (exit 2)', () => {
    const r = rehearse(['convert', AZURE, file('x.xlsx')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('x.xlsx: write the canonical trace as .parquet, .arrow');
  });
});

describe('rehearse traces generate', () => {
  it('writes the same bytes for the same seed, JSONL or Parquet', async () => {
    for (const ext of ['jsonl', 'parquet']) {
      const a = rehearse(['generate', file(`a.${ext}`), '--rows', '300', '--seed', '11', '--sessions', '9']);
      expect(a.stderr).toBe('');
      expect(a.code).toBe(0);
      expect(a.stdout).toBe(`rehearse traces generate: 300 rows (seed 11) → ${file(`a.${ext}`)} (${ext})\n`);
      // The same options in this process: the same bytes.
      await writeSyntheticTrace(file(`b.${ext}`), { rows: 300, seed: '11', sessions: 9 });
      expect(readFileSync(file(`a.${ext}`)).equals(readFileSync(file(`b.${ext}`)))).toBe(true);
    }
    const sessions = new Set(readFileSync(file('a.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).session_id));
    expect(sessions.size).toBe(9);
  });

  it('--json prints what was written, as the file holds it', () => {
    const r = rehearse(['generate', file('j.jsonl'), '--rows', '40', '--seed', 'abc', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ out: file('j.jsonl'), format: 'jsonl', rows: 40, seed: 'abc' });
    expect(readFileSync(file('j.jsonl'), 'utf8').trim().split('\n')).toHaveLength(40);
  });

  it('usage errors exit 2', () => {
    expect(rehearse(['generate']).code).toBe(2);
    const r = rehearse(['generate', file('c.jsonl'), '--rows', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--rows must be a whole number');
  });
});
