import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { transferableSymbol, valueSymbol } from 'piscina';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANDIDATE_STATUSES } from '../../src/replay/compare.js';
import type { Pacing } from '../../src/replay/pacing.js';
import replayTask, { type ReplayResult, type ReplayTask } from '../../src/replay/worker.js';
import { batchToArrowTable } from '../../src/traces/arrow.js';
import { type TraceBatch, allocateBatch } from '../../src/traces/canonical.js';
import { arrow } from '../../src/traces/arrow-bundle.js';

// As replay.ts sends them (its WORKER_COLUMNS), and its CONTROL slots.
const WORKER_COLUMNS = ['request_id', 'timestamp', 'model', 'input', 'output', 'input_tokens', 'output_tokens', 'latency_ms', 'ttft_ms', 'status', 'refusal', 'cost_usd'] as const;
const STOP = 0;
const ANSWERED = 1;
const ERRORS = 2;
const SETUP_FAULTS = 3;
const REACHED = 4;
const [OK, ERROR, TIMEOUT, REFUSAL] = [0, 1, 2, 3];

const T = Date.UTC(2024, 4, 1, 9, 0, 0);

/**
 * Four trace rows:
 * - w-1: everything known, a plain answer;
 * - w-2: no input text, an answer that reads as a refusal;
 * - w-3: no latency and no output tokens (the baseline stub fills them);
 * - w-4: the trace's own cost, 0.01 USD.
 */
function traceBatch(): TraceBatch {
  const b = allocateBatch(4);
  b.row.set([1, 2, 3, 4]);
  b.request_id.splice(0, 4, 'w-1', 'w-2', 'w-3', 'w-4');
  b.timestamp.set([T, T + 100, T + 200, T + 300]);
  b.model.splice(0, 4, 'base-model', 'base-model', 'base-model', 'base-model');
  b.input.splice(0, 4, 'Summarise the quarterly report for me.', null, 'Translate this.', 'Hi');
  b.output.splice(0, 4, 'Here is a summary of the quarterly report.', "I'm sorry, but I can't help with that.", null, 'Hello!');
  b.input_tokens.set([1000, 200, 500, 100]);
  b.output_tokens.set([300, 50, NaN, 40]);
  b.latency_ms.set([800, 400, NaN, 1000]);
  b.ttft_ms.set([160, NaN, NaN, 200]);
  b.refusal.set([0, 0, 0, 0]);
  b.cost_usd.set([NaN, NaN, NaN, 0.01]);
  return b;
}

/** n rows of a short text that name a model (so no /models discovery): what an HTTP target is sent. */
function rows(n: number): TraceBatch {
  const b = allocateBatch(n);
  for (let i = 0; i < n; i++) {
    b.row[i] = i + 1;
    b.request_id[i] = `h-${i}`;
    b.timestamp[i] = T + i;
    b.model[i] = 'base-model';
    b.input[i] = 'Hi';
  }
  return b;
}

let dir: string;
const stub = (name: string) => path.join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-worker-'));
  // Every stub: no request-to-request noise, so its answers follow from the trace by hand.
  writeFileSync(stub('plain.yaml'), 'kind: stub\n');
  writeFileSync(stub('worse.yaml'), 'kind: stub\ncandidate: { latency: 1.5, output_length: 1.3, price: 2 }\n');
  writeFileSync(stub('fails.yaml'), 'kind: stub\nbaseline: { error_rate: 1 }\n');
  writeFileSync(stub('refuses.yaml'), 'kind: stub\nbaseline: { refusal_rate: 1 }\n');
  writeFileSync(stub('real.yaml'), 'kind: stub\ninject: real\n');
  writeFileSync(stub('paced.yaml'), 'kind: stub\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  result: ReplayResult;
  control: Int32Array;
  transfer: ArrayBuffer[];
}

async function run(target: string, over: Partial<ReplayTask> = {}, setup?: (control: Int32Array) => void, batch = traceBatch()): Promise<Run> {
  const ipc = arrow.tableToIPC(batchToArrowTable(batch, WORKER_COLUMNS), 'stream');
  const shared = new SharedArrayBuffer(4 * 8);
  const control = new Int32Array(shared);
  setup?.(control);
  const task: ReplayTask = {
    ipc,
    target,
    pacing: { kind: 'max' },
    startEpochMs: Date.now(),
    firstTimestampMs: T,
    indexBase: 0,
    concurrency: 4,
    control: shared,
    refusalPatterns: [],
    schema: null,
    baselinePrice: null,
    // As a trace with a refusal column (none refused) and no status column: failures are the stub's draws.
    traceSays: { failure: false, refusal: true },
    traceRates: null,
    setupFaultsToStop: 0,
    stopGraceMs: 3000,
    sharedInFlight: false,
    replay: randomUUID(),
    ...over,
  };
  const moved = (await replayTask(task)) as Record<symbol, unknown>;
  return { result: moved[valueSymbol] as ReplayResult, control, transfer: moved[transferableSymbol] as ArrayBuffer[] };
}

const text = (r: ReplayResult, codes: Uint16Array) => Array.from(codes, (c) => r.texts[c] ?? null);

describe('replay worker against a virtual stub, as fast as possible', () => {
  it('answers every row: without regressions the candidate is the trace, and the stub fills what the trace lacks', async () => {
    const { result: r, control } = await run(stub('plain.yaml'));
    expect(CANDIDATE_STATUSES).toEqual(['ok', 'error', 'timeout', 'refusal']);
    expect(r.length).toBe(4);
    expect(r.sent).toBe(4);
    expect(Array.from(r.candidate_status)).toEqual([OK, OK, OK, OK]);
    expect(Array.from(r.candidate_refusal)).toEqual([0, 0, 0, 0]);
    expect(Array.from(r.attempts)).toEqual([1, 1, 1, 1]);
    expect(text(r, r.finish_reason)).toEqual(['stop', 'stop', 'stop', 'stop']);
    expect(text(r, r.error)).toEqual([null, null, null, null]);
    expect(r.texts[0]).toBeNull();
    // Latency and tokens are the trace's; time to first token is 0.2 of the latency.
    expect(r.candidate_latency_ms[0]).toBeCloseTo(800, 9);
    expect(r.candidate_ttft_ms[0]).toBeCloseTo(160, 9);
    expect(r.candidate_latency_ms[1]).toBeCloseTo(400, 9);
    expect(r.candidate_latency_ms[3]).toBeCloseTo(1000, 9);
    expect(Array.from(r.candidate_input_tokens)).toEqual([1000, 200, 500, 100]);
    expect([r.candidate_output_tokens[0], r.candidate_output_tokens[1], r.candidate_output_tokens[3]]).toEqual([300, 50, 40]);
    // Cost at the stub's default prices: (in · 0.5 + out · 1.5) / 1e6.
    expect(r.candidate_cost_usd[0]).toBeCloseTo((1000 * 0.5 + 300 * 1.5) / 1e6, 15); // 0.00095
    expect(r.candidate_cost_usd[1]).toBeCloseTo((200 * 0.5 + 50 * 1.5) / 1e6, 15); // 0.000175
    // The trace's own cost: scaled by candidate / baseline stub cost, which is 1 without regressions.
    expect(r.candidate_cost_usd[3]).toBeCloseTo(0.01, 15);
    // w-3: the trace has no latency or output tokens; the baseline stub answers from the same
    // draws, so with no regression the candidate's values are the baseline's.
    expect(Number.isFinite(r.baseline_latency_ms[2])).toBe(true);
    expect(r.baseline_latency_ms[2]).toBeGreaterThan(0);
    expect(r.candidate_latency_ms[2]).toBeCloseTo(r.baseline_latency_ms[2]!, 9);
    expect(r.baseline_ttft_ms[2]).toBeCloseTo(0.2 * r.baseline_latency_ms[2]!, 9);
    expect(Number.isInteger(r.baseline_output_tokens[2])).toBe(true);
    expect(r.baseline_output_tokens[2]).toBeGreaterThanOrEqual(1);
    expect(r.candidate_output_tokens[2]).toBe(r.baseline_output_tokens[2]);
    // The trace's values are kept where it has them.
    expect(Array.from(r.baseline_latency_ms, (x, i) => (i === 2 ? 0 : x))).toEqual([800, 400, 0, 1000]);
    expect(r.baseline_ttft_ms[0]).toBe(160);
    expect(r.baseline_ttft_ms[3]).toBe(200);
    expect(Array.from(r.input_tokens)).toEqual([1000, 200, 500, 100]);
    // The baseline's cost where the trace has none: the stub's prices on the baseline's tokens.
    expect(r.baseline_cost_usd[0]).toBeCloseTo(0.00095, 15);
    expect(r.baseline_cost_usd[2]).toBeCloseTo((500 * 0.5 + r.baseline_output_tokens[2]! * 1.5) / 1e6, 15);
    expect(r.baseline_cost_usd[3]).toBe(0.01);
    // Refusals on the baseline side: the trace's flag (none here), or its text read as a refusal (w-2).
    expect(Array.from(r.baseline_refusal)).toEqual([0, 1, 0, 0]);
    // No schema: 255; a stub without a schema returns no text, so nothing to compare.
    expect(Array.from(r.schema_valid)).toEqual([255, 255, 255, 255]);
    expect(Array.from(r.similarity).every(Number.isNaN)).toBe(true);
    // One send instant for the whole batch, not before the start.
    expect(new Set(r.sent_offset_ms).size).toBe(1);
    expect(r.sent_offset_ms[0]).toBeGreaterThanOrEqual(0);
    expect([control[STOP], control[ANSWERED], control[ERRORS]]).toEqual([0, 4, 0]);
  });

  it('sends a request that failed in production without its latency or tokens: the stub draws them as for a trace without', async () => {
    // w-1 timed out after 30 s with no answer; w-2 errored in 200 ms. Scaling those into "ok"
    // answers would make a candidate without a latency regression 30 s slow.
    const failed = traceBatch();
    failed.status.splice(0, 2, 'timeout', 'error');
    failed.latency_ms.set([30_000, 200], 0);
    failed.output_tokens.set([0, 0], 0);
    const silent = traceBatch();
    silent.latency_ms.set([NaN, NaN], 0);
    silent.output_tokens.set([NaN, NaN], 0);
    const a = (await run(stub('worse.yaml'), {}, undefined, failed)).result;
    const b = (await run(stub('worse.yaml'), {}, undefined, silent)).result;
    for (const i of [0, 1]) {
      expect(a.candidate_latency_ms[i]).toBe(b.candidate_latency_ms[i]);
      expect(a.candidate_output_tokens[i]).toBe(b.candidate_output_tokens[i]);
      expect(a.candidate_latency_ms[i]).toBeLessThan(30_000);
      expect(a.candidate_output_tokens[i]).toBeGreaterThan(0);
    }
    // The trace keeps what it recorded for its own (failed) baseline.
    expect(a.baseline_latency_ms[0]).toBe(30_000);
    // Rows that were answered are scaled from the trace as before: 1,000 ms × 1.5.
    expect(a.candidate_latency_ms[3]).toBeCloseTo(1500, 6);
  });

  it('applies the stub regressions: latency ×1.5, output ×1.3, price ×2', async () => {
    const { result: r } = await run(stub('worse.yaml'));
    expect(r.candidate_latency_ms[0]).toBeCloseTo(1200, 9);
    expect(r.candidate_ttft_ms[0]).toBeCloseTo(240, 9);
    expect(r.candidate_latency_ms[1]).toBeCloseTo(600, 9);
    // round(300 · 1.3) = 390, round(50 · 1.3) = 65, round(40 · 1.3) = 52.
    expect([r.candidate_output_tokens[0], r.candidate_output_tokens[1], r.candidate_output_tokens[3]]).toEqual([390, 65, 52]);
    // (1000 · 0.5 + 390 · 1.5) · 2 / 1e6 = 0.00217; (200 · 0.5 + 65 · 1.5) · 2 / 1e6 = 0.000395.
    expect(r.candidate_cost_usd[0]).toBeCloseTo(0.00217, 15);
    expect(r.candidate_cost_usd[1]).toBeCloseTo(0.000395, 15);
    // The baseline's cost stays at the unscaled price on its own tokens.
    expect(r.baseline_cost_usd[0]).toBeCloseTo(0.00095, 15);
    // w-4 has a cost of its own: 0.01 × candidate stub cost / baseline stub cost
    // = 0.01 × ((100 · 0.5 + 52 · 1.5) · 2) / (100 · 0.5 + 40 · 1.5) = 0.01 × 256 / 110.
    expect(r.candidate_cost_usd[3]).toBeCloseTo((0.01 * 256) / 110, 12);
    expect(r.baseline_cost_usd[3]).toBe(0.01);
    // w-3, drawn from the latency model: the candidate is 1.5 × the baseline drawn for it, and its
    // output 1.3 × the same draw before rounding (each rounding moves at most 0.5).
    expect(r.candidate_latency_ms[2]! / r.baseline_latency_ms[2]!).toBeCloseTo(1.5, 9);
    expect(Math.abs(r.candidate_output_tokens[2]! - 1.3 * r.baseline_output_tokens[2]!)).toBeLessThanOrEqual(0.5 + 1.3 * 0.5);
  });

  it('records injected errors, counts them in the control buffer, and fails the baseline with them where the trace has no status', async () => {
    const { result: r, control } = await run(stub('fails.yaml'));
    expect(Array.from(r.candidate_status)).toEqual([ERROR, ERROR, ERROR, ERROR]);
    expect(text(r, r.error)).toEqual(Array(4).fill('injected error (stub error_rate)'));
    expect(text(r, r.finish_reason)).toEqual([null, null, null, null]);
    // An error answers at its time to first token (0.2 × 800), with no tokens, cost or ttft.
    expect(r.candidate_latency_ms[0]).toBeCloseTo(160, 9);
    expect(Number.isNaN(r.candidate_ttft_ms[0])).toBe(true);
    expect(Array.from(r.candidate_output_tokens).every(Number.isNaN)).toBe(true);
    expect(Array.from(r.candidate_cost_usd).every(Number.isNaN)).toBe(true);
    // The trace has no status, so the baseline stub's draw says how the baseline ended: it errs
    // too, the same draw as the candidate's. Every baseline request is stored as failed, with no
    // answer (no output tokens or cost, not even the trace's) and the failure's time.
    expect(Array.from(r.baseline_failed)).toEqual([1, 1, 1, 1]);
    expect(Array.from(r.baseline_output_tokens).every(Number.isNaN)).toBe(true);
    expect(Array.from(r.baseline_cost_usd).every(Number.isNaN)).toBe(true);
    for (let i = 0; i < 4; i++) expect(r.baseline_latency_ms[i]).toBeCloseTo(r.candidate_latency_ms[i]!, 9);
    expect(r.sent).toBe(4);
    expect([control[ANSWERED], control[ERRORS]]).toEqual([4, 4]);
  });

  it('records injected refusals as refusals, not errors', async () => {
    // A trace that records no refusals and no answers to read them in: the stub's refusal_rate
    // draws them, for both sides.
    const silent = traceBatch();
    silent.output.fill(null);
    const { result: r, control } = await run(stub('refuses.yaml'), { traceSays: { failure: false, refusal: false } }, undefined, silent);
    expect(Array.from(r.candidate_status)).toEqual([REFUSAL, REFUSAL, REFUSAL, REFUSAL]);
    expect(Array.from(r.baseline_refusal)).toEqual([1, 1, 1, 1]);
    // With its answers, the refusals the detector reads in them are the baseline's, and repeated:
    // w-2's reads as one, w-1's and w-4's do not; w-3 has none, so the stub draws it.
    const { result: read } = await run(stub('refuses.yaml'), { traceSays: { failure: false, refusal: false } });
    expect(Array.from(read.baseline_refusal)).toEqual([0, 1, 1, 0]);
    expect(Array.from(read.candidate_status)).toEqual([OK, REFUSAL, REFUSAL, OK]);
    expect(Array.from(r.candidate_refusal)).toEqual([1, 1, 1, 1]);
    expect(text(r, r.finish_reason)).toEqual(Array(4).fill('content_filter'));
    expect(text(r, r.error)).toEqual(Array(4).fill('injected refusal (stub refusal_rate)'));
    // "I can't help with that." is 23 characters: ceil(23 / 4) = 6 tokens.
    expect(r.candidate_output_tokens[0]).toBe(6);
    // ttft 160, then 6 / 300 of the remaining 640 ms: 160 + 12.8 = 172.8.
    expect(r.candidate_latency_ms[0]).toBeCloseTo(172.8, 9);
    expect([control[ANSWERED], control[ERRORS]]).toEqual([4, 0]);
  });

  it('uses the given refusal patterns and baseline prices', async () => {
    const { result: r } = await run(stub('plain.yaml'), { refusalPatterns: ['^Hello!$'], baselinePrice: { input_per_million: 1, output_per_million: 2 } });
    // w-4's "Hello!" now reads as a refusal.
    expect(Array.from(r.baseline_refusal)).toEqual([0, 1, 0, 1]);
    // (1000 · 1 + 300 · 2) / 1e6 = 0.0016; w-2: (200 + 100) / 1e6 = 0.0003.
    expect(r.baseline_cost_usd[0]).toBeCloseTo(0.0016, 15);
    expect(r.baseline_cost_usd[1]).toBeCloseTo(0.0003, 15);
    expect(r.baseline_cost_usd[3]).toBe(0.01);
  });

  it('with an output schema the stub answers in text, checked against it and compared with the trace', async () => {
    const { result: r } = await run(stub('plain.yaml'), { schema: { type: 'object' } });
    // Made-up words are not a JSON object: invalid. w-2 has no input text, so no answer text: invalid too.
    expect(Array.from(r.schema_valid)).toEqual([0, 0, 0, 0]);
    // Similarity where both texts exist: w-1 and w-4 (w-2's answer and w-3's trace output are null).
    for (const i of [0, 3]) {
      expect(r.similarity[i]).toBeGreaterThanOrEqual(0);
      expect(r.similarity[i]).toBeLessThanOrEqual(1);
    }
    expect(Number.isNaN(r.similarity[1])).toBe(true);
    expect(Number.isNaN(r.similarity[2])).toBe(true);
  });

  it('repeats the failures and refusals the trace records, and fills no baseline status there', async () => {
    const batch = traceBatch();
    batch.status.splice(0, 4, 'error', 'ok', 'ok', 'timeout');
    batch.refusal.set([0, 1, 0, 0]);
    const { result: r, control } = await run(stub('plain.yaml'), { traceSays: { failure: true, refusal: true } }, undefined, batch);
    expect(Array.from(r.candidate_status)).toEqual([ERROR, REFUSAL, OK, TIMEOUT]);
    expect(text(r, r.error)).toEqual(["the trace's error repeated (stub)", "the trace's refusal repeated (stub)", null, "the trace's timeout repeated (stub)"]);
    // A repeated refusal keeps the trace's length and time (w-2: 50 tokens in 400 ms), as an answer would.
    expect([r.candidate_output_tokens[1], r.candidate_latency_ms[1]]).toEqual([50, 400]);
    // w-4's trace cost (0.01) for a failure it repeats: the same cost at the stub's price (1).
    expect(r.candidate_cost_usd[3]).toBe(0.01);
    expect(Array.from(r.baseline_failed)).toEqual([0, 0, 0, 0]);
    expect([control[ANSWERED], control[ERRORS]]).toEqual([4, 2]);
    // A stub that fails everything where the trace is silent repeats the trace where it is not.
    const { result: f } = await run(stub('fails.yaml'), { traceSays: { failure: true, refusal: true } }, undefined, batch);
    expect(Array.from(f.candidate_status)).toEqual([ERROR, REFUSAL, OK, TIMEOUT]);
    // A trace with refusals but no status: a refused request was answered, so only the others fail.
    const { result: g } = await run(stub('fails.yaml'), { traceSays: { failure: false, refusal: true } }, undefined, batch);
    expect(Array.from(g.candidate_status)).toEqual([ERROR, REFUSAL, ERROR, ERROR]);
    expect(Array.from(g.baseline_failed)).toEqual([1, 0, 1, 1]);
    expect(Array.from(g.baseline_refusal)).toEqual([0, 1, 0, 0]);
  });

  it('hands back every typed array buffer for transfer', async () => {
    const { result: r, transfer } = await run(stub('plain.yaml'));
    const views = Object.values(r).filter((v): v is ArrayBufferView => ArrayBuffer.isView(v));
    expect(views.length).toBeGreaterThanOrEqual(19);
    for (const v of views) expect(transfer).toContain(v.buffer);
    expect(new Set(transfer).size).toBe(transfer.length);
  });
});

describe('replay worker: the stop flag', () => {
  const stopFirst = (c: Int32Array) => Atomics.store(c, STOP, 1);
  const paced: Pacing[] = [
    { kind: 'speed', factor: 1 },
    { kind: 'rate', perSecond: 1000 },
  ];

  it.each(paced)('set before the call, leaves every row unsent when pacing is %o', async (pacing) => {
    const { result: r, control } = await run(stub('plain.yaml'), { pacing }, stopFirst);
    expect(r.length).toBe(4);
    expect(r.sent).toBe(0);
    expect(Array.from(r.sent_offset_ms).every(Number.isNaN)).toBe(true);
    expect(Array.from(r.candidate_latency_ms).every(Number.isNaN)).toBe(true);
    expect(Array.from(r.attempts).every(Number.isNaN)).toBe(true);
    expect([control[ANSWERED], control[ERRORS]]).toEqual([0, 0]);
  });

  it('set before the call, leaves every row unsent for a stub that really waits, even at max pacing', async () => {
    const { result: r, control } = await run(stub('real.yaml'), { pacing: { kind: 'max' } }, stopFirst);
    expect(r.sent).toBe(0);
    expect(Array.from(r.sent_offset_ms).every(Number.isNaN)).toBe(true);
    expect(control[ANSWERED]).toBe(0);
  });

  it('is not consulted within a batch by a virtual stub at max pacing (a stop lands between batches)', async () => {
    const { result: r, control } = await run(stub('plain.yaml'), { pacing: { kind: 'max' } }, stopFirst);
    expect(r.sent).toBe(4);
    expect(control[ANSWERED]).toBe(4);
  });

  it('set while a row waits for its due time: the rows sent are kept, the rest stay unsent', async () => {
    // One request every 2 s: w-1 is due at once, w-2 at 2000 ms. The stop comes at 50 ms.
    const timer = { id: undefined as NodeJS.Timeout | undefined };
    const { result: r, control } = await run(stub('paced.yaml'), { pacing: { kind: 'rate', perSecond: 0.5 }, concurrency: 1 }, (c) => {
      timer.id = setTimeout(() => Atomics.store(c, STOP, 1), 50);
    });
    clearTimeout(timer.id);
    expect(r.sent).toBe(1);
    expect(r.candidate_status[0]).toBe(OK);
    expect(r.candidate_latency_ms[0]).toBeCloseTo(800, 9);
    expect(Number.isNaN(r.sent_offset_ms[0])).toBe(false);
    expect([1, 2, 3].map((i) => Number.isNaN(r.sent_offset_ms[i]))).toEqual([true, true, true]);
    expect(control[ANSWERED]).toBe(1);
  });
});

describe('replay worker: pacing', () => {
  it('sends no row before its due time: the trace gaps at 2× speed', async () => {
    // Trace times 0, 100, 200, 300 ms after the first: due at 0, 50, 100, 150 ms.
    const { result: r } = await run(stub('paced.yaml'), { pacing: { kind: 'speed', factor: 2 }, concurrency: 1 });
    expect(r.sent).toBe(4);
    [0, 50, 100, 150].forEach((due, i) => expect(r.sent_offset_ms[i], `row ${i}`).toBeGreaterThanOrEqual(due));
  });

  it('rate pacing counts from the batch position in the replay (indexBase)', async () => {
    // 100 per second from index 10: due at (10 + i) · 10 ms = 100, 110, 120, 130 ms.
    const { result: r } = await run(stub('paced.yaml'), { pacing: { kind: 'rate', perSecond: 100 }, indexBase: 10, concurrency: 4 });
    expect(r.sent).toBe(4);
    [100, 110, 120, 130].forEach((due, i) => expect(r.sent_offset_ms[i], `row ${i}`).toBeGreaterThanOrEqual(due));
    expect(Array.from(r.candidate_status)).toEqual([OK, OK, OK, OK]);
  });
});

describe('replay worker: a target that fails in the setup', () => {
  /** A loopback OpenAI-compatible server that answers chat completion k (from 0) with `statusOf(k)`. */
  async function server(statusOf: (k: number) => number): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
    const { createServer } = await import('node:http');
    let k = 0;
    const s = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        // GET /models (the model discovery) is not a request of the replay's.
        if (req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        const status = statusOf(k++);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(
          status === 200
            ? JSON.stringify({ choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 1 } })
            : JSON.stringify({ error: { message: `status ${status}` } }),
        );
      });
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const { port } = s.address() as { port: number };
    return { url: `http://127.0.0.1:${port}/v1`, requests: () => k, close: () => new Promise((resolve) => s.close(() => resolve())) };
  }

  it('stops sending once the first answers all failed in the setup (401), within the requests then in flight', async () => {
    const s = await server(() => 401);
    try {
      const { result: r, control } = await run(s.url, { setupFaultsToStop: 10 }, undefined, rows(200));
      // The 10th fault stops the loops; the 3 others in flight then may still be answered.
      expect(r.sent).toBeGreaterThanOrEqual(10);
      expect(r.sent).toBeLessThanOrEqual(13);
      expect(s.requests()).toBe(r.sent);
      expect([control[SETUP_FAULTS], control[REACHED]]).toEqual([r.sent, 0]);
      expect(text(r, r.error).slice(0, r.sent)).toEqual(Array(r.sent).fill('HTTP 401: status 401'));
    } finally {
      await s.close();
    }
  });

  it('goes on when the target answered once, or fails as a candidate does (500s are a finding, not a setup)', async () => {
    for (const [statusOf, reached, faults] of [
      [(k: number) => (k === 0 ? 200 : 404), 1, 59],
      [() => 500, 60, 0],
    ] as const) {
      const s = await server(statusOf);
      try {
        // One in flight, so the answer that reached the target is the first.
        const { result: r, control } = await run(s.url, { setupFaultsToStop: 10, concurrency: 1 }, undefined, rows(60));
        expect(r.sent).toBe(60);
        expect([control[REACHED], control[SETUP_FAULTS]]).toEqual([reached, faults]);
      } finally {
        await s.close();
      }
    }
  });
});

describe('replay worker: a stop with requests in flight', () => {
  /** A loopback endpoint whose chat completions answer after `ms` (never, for Infinity). */
  async function slow(ms: number): Promise<{ url: string; close: () => Promise<void> }> {
    const { createServer } = await import('node:http');
    const s = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method !== 'POST') return void res.writeHead(404).end();
        if (ms === Infinity) return;
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { content: 'late' }, finish_reason: 'stop' }] })), ms);
      });
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(s.address() as { port: number }).port}/v1`,
      close: () => {
        s.closeAllConnections();
        return new Promise((resolve) => s.close(() => resolve()));
      },
    };
  }
  const stopAt = (ms: number) => (c: Int32Array) => void setTimeout(() => Atomics.store(c, STOP, 1), ms);

  it('abandons requests a hung endpoint holds once the grace is over: unsent, for --resume, not errors', async () => {
    const s = await slow(Infinity);
    try {
      const t0 = Date.now();
      const { result: r, control } = await run(s.url, { concurrency: 4, stopGraceMs: 200 }, stopAt(50), rows(20));
      // Without the grace it waited out the target's timeout (60 s by default).
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(r.sent).toBe(0);
      expect(Array.from(r.sent_offset_ms).every(Number.isNaN)).toBe(true);
      expect(control[ANSWERED]).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('keeps the answers that come back within the grace', async () => {
    const s = await slow(150);
    try {
      const { result: r, control } = await run(s.url, { concurrency: 4, stopGraceMs: 2000 }, stopAt(50), rows(20));
      // The 4 in flight at the stop are answered and kept; none sent after it.
      expect(r.sent).toBe(4);
      expect(control[ANSWERED]).toBe(4);
      expect(text(r, r.error).filter((e) => e !== null)).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
