import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/config/errors.js';
import { openTrace } from '../../src/traces/reader.js';

const root = path.resolve(import.meta.dirname, '../..');
const ROWS = 2_000_000;
let dir: string;
let file: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-stream-'));
  file = path.join(dir, 'big.parquet');
  const db = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await db.connect();
  await conn.run(`COPY (
    SELECT epoch_ms(TIMESTAMP '2024-01-01') + i * 7 AS timestamp, 's' || (i % 50000) AS session_id,
      (100 + i % 900)::INTEGER AS input_tokens, (50 + i % 300)::INTEGER AS output_tokens,
      200.0 + (i % 1000) AS latency_ms, 50.0 + (i % 100) AS ttft_ms, (i % 1000) * 1e-6 AS cost_usd,
      CASE WHEN i % 100 = 0 THEN 'error' ELSE 'ok' END AS status
    FROM range(${ROWS}) t(i)) TO '${file}' (FORMAT parquet)`);
  conn.closeSync();
  db.closeSync();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('streaming', () => {
  it('reads a 2-million-row Parquet trace in batches with bounded memory', () => {
    // A child process with a small V8 heap: holding the trace's 2M request ids and numbers in
    // JavaScript would not fit (ids alone are ~64 MB of heap; the nine numeric columns 144 MB of
    // typed arrays), streaming does. The child reports its peak heap and resident-set growth.
    const script = `
      import { openTrace } from ${JSON.stringify(path.join(root, 'dist/traces/reader.js'))};
      const rss0 = process.memoryUsage().rss;
      const trace = await openTrace(process.argv[1], { batchSize: 8192, threads: 2 });
      let rows = 0, batches = 0, heap = 0, rss = 0, errors = 0, last = -Infinity, sorted = true;
      for await (const b of trace.batches()) {
        batches++;
        rows += b.length;
        for (let i = 0; i < b.length; i++) { if (b.timestamp[i] < last) sorted = false; last = b.timestamp[i]; if (b.status[i] === 'error') errors++; }
        if (batches % 8 === 0) { const m = process.memoryUsage(); heap = Math.max(heap, m.heapUsed); rss = Math.max(rss, m.rss - rss0); }
      }
      const result = { rows, batches, errors, sorted, good: trace.good, streamedSorted: trace.sorted, heapMB: heap / 1e6, rssGrowthMB: rss / 1e6 };
      trace.close();
      console.log(JSON.stringify(result));`;
    const r = spawnSync(process.execPath, ['--max-old-space-size=96', '--input-type=module', '-e', script, file], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ rows: ROWS, good: ROWS, batches: Math.ceil(ROWS / 8192), errors: ROWS / 100, sorted: true, streamedSorted: true });
    expect(out.heapMB).toBeLessThan(96);
    expect(out.rssGrowthMB).toBeLessThan(200);
  });

  it('fails loudly, never short, when DuckDB gives up midway through a stream', async () => {
    // Four 100,000-row groups with ~250 bytes of text a row and a 48 MB limit: DuckDB reads the
    // first group, fails on the next and ends the stream as if it were done (measured with
    // DuckDB 1.5: 81,920 rows arrive). The reader must notice from the count.
    const wide = path.join(dir, 'wide.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(`COPY (SELECT i * 1000 AS timestamp, 10 AS input_tokens, repeat('lorem ipsum ', 20) || i AS output
      FROM range(400000) t(i)) TO '${wide}' (FORMAT parquet, ROW_GROUP_SIZE 100000)`);
    conn.closeSync();
    db.closeSync();
    const trace = await openTrace(wide, { memoryLimit: '48MB', threads: 1 });
    try {
      let rows = 0;
      const read = (async () => {
        for await (const b of trace.batches()) rows += b.length;
      })();
      await expect(read).rejects.toThrow(UserError);
      await expect(read).rejects.toThrow(/wide\.parquet: reading stopped after [\d,]+ of 400,000 rows/);
      expect(rows).toBeLessThan(400_000);
    } finally {
      trace.close();
    }
    // With room for the row group, every row arrives.
    const roomy = await openTrace(wide, { memoryLimit: '1GB', threads: 1 });
    try {
      let rows = 0;
      for await (const b of roomy.batches()) rows += b.length;
      expect(rows).toBe(400_000);
    } finally {
      roomy.close();
    }
  });
});
