import { describe, expect, it } from 'vitest';
import { RowSet } from '../../src/replay/replay.js';

describe('RowSet', () => {
  it('holds row numbers as bits: membership, size, growth', () => {
    const s = new RowSet();
    const rows = [1, 7, 8, 9, 1000, 123_457, 10_000_000];
    for (const r of [...rows, 8, 1000]) s.add(r);
    expect(s.size).toBe(rows.length);
    for (const r of rows) expect(s.has(r)).toBe(true);
    for (const r of [0, 2, 6, 10, 999, 1001, 123_456, 9_999_999, 10_000_001, 2 ** 30]) expect(s.has(r)).toBe(false);
  });
});

describe('replayTrace: requests in flight', () => {
  it('--concurrency caps the requests in flight over every batch and worker, and is reached', async () => {
    const { createServer } = await import('node:http');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { openTrace } = await import('../../src/traces/reader.js');
    const { Store } = await import('../../src/store/database.js');
    const { replayTrace } = await import('../../src/replay/replay.js');
    let now = 0, peak = 0;
    // Each answer takes 15 ms: the requests in flight pile up to whatever the replay allows.
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method !== 'POST') return void res.writeHead(404).end();
        peak = Math.max(peak, ++now);
        setTimeout(() => {
          now--;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }] }));
        }, 15);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-inflight-'));
    try {
      // 1 in flight was 2 (two batches a worker, each with its share rounded up); small batches
      // make several run at once, and one running alone at the end kept half the cap.
      for (const [concurrency, workers] of [
        [1, 1],
        [3, 1],
        [5, 2],
      ] as const) {
        peak = 0;
        const trace = await openTrace(path.resolve('traces/synthetic.jsonl'), { limit: 60, batchSize: 8 });
        const store = await Store.open(path.join(dir, `c${concurrency}.duckdb`));
        try {
          const counts = await replayTrace(trace, store, `inflight-${concurrency}`, {
            target: url,
            pacing: { kind: 'max' },
            concurrency,
            workers,
            refusalPatterns: [],
            schema: null,
            baselinePrice: null,
          });
          expect(counts.replayed).toBe(60);
          expect(counts.candidateErrors).toBe(0);
          expect(peak).toBe(concurrency);
        } finally {
          trace.close();
          store.close();
        }
      }
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
