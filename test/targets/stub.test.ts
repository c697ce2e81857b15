import { afterEach, describe, expect, it, vi } from 'vitest';
import { Z99 } from '../../src/stats/random.js';
import { MAX_ANSWER_TOKENS, StubModel, StubTarget, requestStream, statusOf } from '../../src/targets/stub.js';
import { MAX_TIMER_MS } from '../../src/targets/timing.js';
import type { TargetResponse } from '../../src/targets/target.js';
import { mean, quantile, request, stubConfig } from './helpers.js';

const N = 4000;
const ids = Array.from({ length: N }, (_, i) => `req-${i}`);

function answers(fields: Record<string, unknown>, over = {}): TargetResponse[] {
  const model = new StubModel(stubConfig(fields));
  return ids.map((id) => model.answer(request(id, over)));
}

/** Within `k` binomial standard errors of p. */
function expectShare(count: number, n: number, p: number, k = 4): void {
  const se = Math.sqrt((p * (1 - p)) / n);
  expect(Math.abs(count / n - p)).toBeLessThan(k * se);
}

describe('stub determinism', () => {
  it('answers a request id the same way every time, whatever else the request carries', () => {
    const cfg = { seed: 3, nondeterminism: 0.1, baseline: { error_rate: 0.1, refusal_rate: 0.1 }, candidate: { output_length: 1.3 } };
    const a = new StubModel(stubConfig(cfg));
    const b = new StubModel(stubConfig(cfg));
    for (const id of ['x', 'y', 'z', 'req-17']) {
      const r = request(id, { input: 'Tell me about canaries.' });
      expect(b.answer(r)).toEqual(a.answer(r));
      expect(a.answer({ ...r, timestamp_ms: 5, model: 'other' })).toEqual(a.answer(r));
    }
  });

  it('differs between request ids and between seeds', () => {
    const one = new StubModel(stubConfig({ seed: 1, nondeterminism: 0.1 }));
    const two = new StubModel(stubConfig({ seed: 2, nondeterminism: 0.1 }));
    const lat = (m: StubModel, id: string) => m.answer(request(id)).latency_ms;
    expect(lat(one, 'a')).not.toBe(lat(one, 'b'));
    expect(lat(one, 'a')).not.toBe(lat(two, 'a'));
  });
});

describe('stub regressions', () => {
  it('without regressions or non-determinism, the candidate is the baseline', () => {
    for (const r of answers({}).slice(0, 50)) {
      expect(r).toMatchObject({ status: 'ok', latency_ms: 800, ttft_ms: 160, input_tokens: 1000, output_tokens: 300, finish_reason: 'stop', attempts: 1 });
      expect(r.cost_usd).toBeCloseTo((1000 * 0.5 + 300 * 1.5) / 1e6, 15);
    }
  });

  it('a refusal takes the same time whatever output_length does to the answers (its tokens decode at the trace\'s pace)', () => {
    const cfg = { nondeterminism: 0.05, baseline: { refusal_rate: 0.3 } };
    const same = answers(cfg);
    const longer = answers({ ...cfg, candidate: { output_length: 1.3 } });
    let refusals = 0;
    for (let i = 0; i < N; i++) {
      if (same[i]!.status !== 'refusal') continue;
      refusals++;
      expect(longer[i]!.status).toBe('refusal');
      expect(longer[i]!.latency_ms).toBe(same[i]!.latency_ms);
    }
    expect(refusals).toBeGreaterThan(1000);
  });

  it('output_length scales output tokens: ×1.3 exactly without noise, in the mean with it', () => {
    expect(new Set(answers({ candidate: { output_length: 1.3 } }).map((r) => r.output_tokens))).toEqual(new Set([390]));
    const noisy = answers({ candidate: { output_length: 1.3 }, nondeterminism: 0.1 });
    // The factor ~ Normal(1, 0.1): the mean ratio's standard error is 0.1/√4000 ≈ 0.0016.
    expect(mean(noisy.map((r) => r.output_tokens!)) / 300).toBeCloseTo(1.3, 1);
    expect(Math.abs(mean(noisy.map((r) => r.output_tokens!)) / 300 - 1.3)).toBeLessThan(0.01);
    const sd = Math.sqrt(mean(noisy.map((r) => (r.output_tokens! / 390 - 1) ** 2)));
    expect(sd).toBeGreaterThan(0.09);
    expect(sd).toBeLessThan(0.11);
  });

  it('price scales the cost per request and nothing else', () => {
    const base = answers({ nondeterminism: 0.05 });
    const pricier = answers({ nondeterminism: 0.05, candidate: { price: 1.4 } });
    for (let i = 0; i < 200; i++) {
      expect(pricier[i]!.cost_usd! / base[i]!.cost_usd!).toBeCloseTo(1.4, 12);
      expect(pricier[i]!.output_tokens).toBe(base[i]!.output_tokens);
      expect(pricier[i]!.latency_ms).toBe(base[i]!.latency_ms);
    }
  });

  it('latency scales every latency and the time to first token', () => {
    for (const r of answers({ candidate: { latency: 1.5 } }).slice(0, 50)) {
      expect(r.latency_ms).toBeCloseTo(1200, 9);
      expect(r.ttft_ms).toBeCloseTo(240, 9);
    }
  });

  it('latency_tail widens the spread around the latency model median: the median stays, the tail moves', () => {
    const model = new StubModel(stubConfig({ candidate: { latency_tail: 1.6 }, baseline: { latency_ms: { p50: 800, p99: 4000 } } }));
    expect(model.answer(request('a', { latency_ms: 800 })).latency_ms).toBeCloseTo(800, 9);
    expect(model.answer(request('a', { latency_ms: 4000 })).latency_ms).toBeCloseTo(800 * 5 ** 1.6, 6);
    expect(model.answer(request('a', { latency_ms: 400 })).latency_ms).toBeCloseTo(800 * 0.5 ** 1.6, 6);
    // Traces without latency draw it from the model, with σ scaled by 1.6.
    const drawn = ids.map((id) => model.answer(request(id, { latency_ms: null })).latency_ms);
    const logs = drawn.map(Math.log);
    const sigma = Math.sqrt(mean(logs.map((l) => (l - mean(logs)) ** 2)));
    expect(sigma).toBeCloseTo((1.6 * Math.log(5)) / Z99, 1);
    expect(Math.abs(quantile(drawn, 0.5) / 800 - 1)).toBeLessThan(0.06);
  });

  it('draws missing baselines from the stub file\'s distributions', () => {
    const rs = answers({ baseline: { latency_ms: { p50: 500, p99: 2500 }, output_tokens: { p50: 200, p99: 1000 } } }, { latency_ms: null, output_tokens: null });
    expect(Math.abs(quantile(rs.map((r) => r.latency_ms), 0.5) / 500 - 1)).toBeLessThan(0.06);
    expect(Math.abs(quantile(rs.map((r) => r.latency_ms), 0.99) / 2500 - 1)).toBeLessThan(0.2);
    expect(Math.abs(quantile(rs.map((r) => r.output_tokens!), 0.5) / 200 - 1)).toBeLessThan(0.06);
  });

  it('refusal and error rates are the base rates times the multipliers', () => {
    const rs = answers({ baseline: { error_rate: 0.02, refusal_rate: 0.05 }, candidate: { error_rate: 3, refusal_rate: 2 } });
    const errors = rs.filter((r) => r.status === 'error').length;
    const refusals = rs.filter((r) => r.status === 'refusal').length;
    expectShare(errors, N, 0.06);
    expectShare(refusals, N, (1 - 0.06) * 0.1);
    // The same uniform decides the status, so the baseline's refusals stay refusals.
    const base = answers({ baseline: { error_rate: 0.02, refusal_rate: 0.05 } });
    expectShare(base.filter((r) => r.status === 'refusal').length, N, 0.98 * 0.05);
  });

  it('caps a multiplied rate at 1', () => {
    expect(answers({ baseline: { error_rate: 0.5 }, candidate: { error_rate: 3 } }).every((r) => r.status === 'error')).toBe(true);
  });

  it('ignores thumbs_down_rate (replayed requests get no feedback)', () => {
    expect(answers({ candidate: { thumbs_down_rate: 3 } }).slice(0, 100)).toEqual(answers({}).slice(0, 100));
  });
});

describe('stub answers', () => {
  const model = new StubModel(stubConfig({ baseline: { error_rate: 0.2, refusal_rate: 0.3 }, refusal: { finish_reason: 'stop' } }));
  const rs = ids.slice(0, 400).map((id) => model.answer(request(id, { input: 'What is a canary release?', output_tokens: 120 })));

  it('makes up an answer of about output_tokens × 4 characters when the input has text', () => {
    for (const r of rs.filter((x) => x.status === 'ok')) {
      expect(r.output!.length).toBeLessThanOrEqual(120 * 4);
      expect(r.output!.length).toBeGreaterThan(120 * 4 - 20);
      expect(r.output).toMatch(/^[A-Z][a-z]+ .*\.$/);
    }
    const okId = ids[rs.findIndex((x) => x.status === 'ok')]!;
    expect(model.answer(request(okId, { input: null })).output).toBeNull();
    const fromMessages = model.answer(request('req-1', { input: JSON.stringify([{ role: 'user', content: 'hi' }]) }));
    expect(fromMessages.output ?? fromMessages.error).toBeTruthy();
  });

  it('answers the same without the text when asked not to make it up', () => {
    ids.slice(0, 200).forEach((id, k) => {
      const req = request(id, { input: 'What is a canary release?', output_tokens: 120 });
      const lean = model.answer(req, false);
      expect(lean).toEqual({ ...rs[k]!, output: rs[k]!.status === 'ok' ? null : rs[k]!.output });
    });
  });

  it('refuses with the refusal text and its finish_reason, sooner than a full answer', () => {
    const refusals = rs.filter((x) => x.status === 'refusal');
    expect(refusals.length).toBeGreaterThan(0);
    for (const r of refusals) {
      expect(r).toMatchObject({ output: "I can't help with that.", finish_reason: 'stop', output_tokens: 6 });
      expect(r.latency_ms).toBeLessThan(800);
      expect(r.latency_ms).toBeGreaterThan(r.ttft_ms!);
    }
  });

  it('fails injected errors at their time to first token, with a reason and no tokens', () => {
    const errors = rs.filter((x) => x.status === 'error');
    expect(errors.length).toBeGreaterThan(0);
    for (const r of errors) expect(r).toMatchObject({ latency_ms: 160, output: null, output_tokens: null, cost_usd: null, error: 'injected error (stub error_rate)' });
  });

  it('stops the made-up text at MAX_ANSWER_TOKENS, not the token count', () => {
    const big = new StubModel(stubConfig({ candidate: { output_length: 2 } })).answer(request('huge', { input: 'hi', output_tokens: 10 * MAX_ANSWER_TOKENS }));
    expect(big.output_tokens).toBe(20 * MAX_ANSWER_TOKENS);
    expect(big.output!.length).toBeLessThanOrEqual(MAX_ANSWER_TOKENS * 4);
    expect(big.output!.length).toBeGreaterThan(MAX_ANSWER_TOKENS * 4 - 20);
  });

  it('estimates input tokens from the text when the trace has none', () => {
    const r = new StubModel(stubConfig()).answer(request('a', { input: 'x'.repeat(400), input_tokens: null }));
    expect(r.input_tokens).toBe(100);
  });
});

describe('stub inject', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('real waits a latency beyond 2^31 ms in full (fake timers end one such timer after 1 ms, as Node does)', async () => {
    vi.useFakeTimers();
    const t = new StubTarget(stubConfig({ inject: 'real' }), { label: 's', source: 's' });
    const latency = MAX_TIMER_MS + 5;
    let r: TargetResponse | undefined;
    void t.call(request('long', { latency_ms: latency })).then((x) => (r = x));
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(r).toBeUndefined();
    await vi.advanceTimersByTimeAsync(5);
    expect(r).toMatchObject({ status: 'ok', latency_ms: latency });
  });

  it('virtual records the latency without waiting it', async () => {
    const t = new StubTarget(stubConfig({ baseline: { latency_ms: { p50: 10_000, p99: 20_000 } } }), { label: 's', source: 's' });
    const started = performance.now();
    const r = await t.call(request('a', { latency_ms: null }));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(r.latency_ms).toBeGreaterThan(1000);
  });

  it('real waits the latency, and an abort cuts the wait short', async () => {
    const t = new StubTarget(stubConfig({ inject: 'real' }), { label: 's', source: 's' });
    let started = performance.now();
    const r = await t.call(request('a', { latency_ms: 80 }));
    expect(r.latency_ms).toBe(80);
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);

    started = performance.now();
    const cut = await t.call(request('b', { latency_ms: 5000 }), AbortSignal.timeout(50));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(cut.status).toBe('timeout');
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('replay interrupted')), 20);
    expect(await t.call(request('c', { latency_ms: 5000 }), controller.signal)).toMatchObject({ status: 'error', error: 'aborted: replay interrupted' });
  });
});

describe('requestStream', () => {
  it('depends on the seed and the request id alone', () => {
    const first = (seed: number, id: string) => requestStream(seed, id).nextUint32();
    expect(first(7, 'row-000001')).toBe(first(7, 'row-000001'));
    expect(first(7, 'row-000001')).not.toBe(first(8, 'row-000001'));
    expect(first(7, 'row-000001')).not.toBe(first(7, 'row-000002'));
    // Seeds beyond 32 bits still count: their high half is folded in.
    expect(first(2 ** 32 + 7, 'a')).not.toBe(first(7, 'a'));
  });

  it('gives consecutive request ids independent-looking uniform streams', () => {
    // 20,000 ids row-000000…: the first uniform of each has mean 1/2 and variance 1/12, so the
    // sample mean is within 4σ = 4·sqrt(1/12/n) of 1/2, and the lag-1 correlation between
    // neighbours' uniforms within 4/sqrt(n) of 0 (both fail by chance with p ≈ 6e-5).
    const n = 20_000;
    const u = Array.from({ length: n }, (_, i) => requestStream(1, `row-${String(i).padStart(6, '0')}`).uniform());
    const m = u.reduce((a, b) => a + b, 0) / n;
    expect(Math.abs(m - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    let cov = 0;
    for (let i = 1; i < n; i++) cov += (u[i]! - 0.5) * (u[i - 1]! - 0.5);
    expect(Math.abs(cov / (n - 1) / (1 / 12))).toBeLessThan(4 / Math.sqrt(n));
  });

  it('is pinned: the same stub answers the same request the same way in every version', () => {
    // Recorded when the hash was introduced; a change here changes every stored stub replay.
    expect(requestStream(1, 'req-1').nextUint32()).toBe(478961121);
  });
});

describe('statusOf: how a stub repeats and scales the trace\'s outcomes', () => {
  // A fine grid of the status uniform: shares over it are exact up to 1/G, no sampling error.
  const G = 100_000;
  const grid = Array.from({ length: G }, (_, i) => (i + 0.5) / G);
  const base = { error: 0.02, refusal: 0.05 };
  type Row = { failure: 'ok' | 'error' | 'timeout' | null; refused: boolean | null };

  it('with every multiplier 1, the candidate is the baseline request by request', () => {
    const ones = { error: 1, refusal: 1 };
    for (const row of [
      { failure: 'ok', refused: false },
      { failure: 'ok', refused: true },
      { failure: 'error', refused: false },
      { failure: 'timeout', refused: false },
      { failure: null, refused: null },
      { failure: 'ok', refused: null },
      { failure: null, refused: true },
    ] as Row[]) {
      for (const u of grid.filter((_, i) => i % 97 === 0)) {
        const s = statusOf(u, row.failure, row.refused, base, ones, { failed: 0.1, refused: 0.2 });
        expect(s.failure !== null, `${JSON.stringify(row)} u ${u}`).toBe(s.baselineFailed);
        expect(s.refused, `${JSON.stringify(row)} u ${u}`).toBe(s.baselineRefused);
        if (row.failure !== null) expect(s.baselineFailed).toBe(row.failure !== 'ok');
        if (row.failure === 'timeout') expect(s.failure).toBe('timeout');
        // A request that failed has no refusal of its own (here the model's draw may fail one the trace says was refused).
        if (row.refused !== null && !s.baselineFailed) expect(s.baselineRefused).toBe(row.refused);
      }
    }
  });

  it('scales the trace\'s own rates: failures repeat (a share m below 1), and the rest fail at (m − 1)·E/(1 − E)', () => {
    // A trace with E = 10% failed, and R = 20% refused among the rest: each kind of row's share.
    const rates = { failed: 0.1, refused: 0.2 };
    const kinds: [Row, number][] = [
      [{ failure: 'error', refused: false }, 0.1],
      [{ failure: 'ok', refused: true }, 0.9 * 0.2],
      [{ failure: 'ok', refused: false }, 0.9 * 0.8],
    ];
    const shares = (m: { error: number; refusal: number }) => {
      let failed = 0, refused = 0;
      for (const [row, share] of kinds) {
        let f = 0, r = 0;
        for (const u of grid) {
          const s = statusOf(u, row.failure, row.refused, base, m, rates);
          if (s.failure !== null) f++;
          else if (s.refused) r++;
        }
        failed += (share * f) / G;
        refused += (share * r) / G;
      }
      return { failed, refused };
    };
    // The failure rate becomes m·E, above 1 and below.
    for (const m of [3, 1.5, 0.5]) expect(shares({ error: m, refusal: 1 }).failed, `m ${m}`).toBeCloseTo(m * 0.1, 4);
    // With the failures unchanged, the refusal rate among the answered (0.9 of all) becomes m·R.
    for (const m of [2, 0.25]) expect(shares({ error: 1, refusal: m }).refused / 0.9, `m ${m}`).toBeCloseTo(m * 0.2, 4);
    // The trace's rates, not the base block's (e 0.02), set the extra share: 0.1 + 2·0.1 = 0.3 fail, not 0.1 + 2·0.02 = 0.14.
    expect(shares({ error: 3, refusal: 1 }).failed).not.toBeCloseTo(0.14, 2);
  });

  it('takes a refusal the trace records as an answer, when it records no failures', () => {
    for (const u of grid.filter((_, i) => i % 101 === 0)) {
      const s = statusOf(u, null, true, { error: 0.5, refusal: 0.05 }, { error: 1, refusal: 1 }, null);
      expect(s.baselineFailed).toBe(false);
      expect(s.baselineRefused).toBe(true);
      expect(s.refused).toBe(true);
    }
  });

  it('where the trace is silent, draws the baseline from the base rates alone, and scales the candidate\'s rates to m·e and m·r', () => {
    const tally = (m: { error: number; refusal: number }, row: Row) => {
      let bFailed = 0, bRefused = 0, failed = 0, refused = 0, refusedFromFailed = 0, newRefusals = 0, newErrorsFromRefused = 0;
      for (const u of grid) {
        const s = statusOf(u, row.failure, row.refused, base, m, null);
        // The baseline never depends on the candidate's multipliers.
        const b = statusOf(u, row.failure, row.refused, base, { error: 1, refusal: 1 }, null);
        expect([s.baselineFailed, s.baselineRefused]).toEqual([b.baselineFailed, b.baselineRefused]);
        if (s.baselineFailed) bFailed++;
        else if (s.baselineRefused) bRefused++;
        if (s.failure !== null) failed++;
        else if (s.refused) refused++;
        if (s.baselineFailed && s.refused) refusedFromFailed++;
        if (!s.baselineFailed && !s.baselineRefused && s.refused) newRefusals++;
        if (s.baselineRefused && s.failure !== null) newErrorsFromRefused++;
      }
      return { bFailed: bFailed / G, bRefused: bRefused / G, failed: failed / G, refused: refused / G, refusedFromFailed, newRefusals, newErrorsFromRefused: newErrorsFromRefused / G };
    };
    for (const row of [{ failure: null, refused: null }, { failure: 'ok', refused: null }] as Row[]) {
      // An error-only regression: failures 3·e = 6%; extra failures (4% of the 98% that answered,
      // x = 2·0.02/0.98) take the same share of refusals as of answers, so the refusal rate of the
      // requests that still answer stays r, and no answer becomes a refusal.
      const e3 = tally({ error: 3, refusal: 1 }, row);
      const e = row.failure === null ? base.error : 0;
      const answered = 1 - e;
      if (row.failure === null) {
        expect(e3.bFailed).toBeCloseTo(base.error, 4);
        expect(e3.failed).toBeCloseTo(3 * base.error, 4);
      }
      expect(e3.bRefused / answered).toBeCloseTo(base.refusal, 4);
      expect(e3.newRefusals).toBe(0);
      expect(e3.refused / (1 - e3.failed)).toBeCloseTo(base.refusal, 3);
      // Of the baseline's refusals (5% of the answered), the extra failures took their share x.
      if (row.failure === null) expect(e3.newErrorsFromRefused / (answered * base.refusal)).toBeCloseTo((2 * base.error) / (1 - base.error), 3);
      // A refusal-only regression: 2·r among the answered, failures unchanged.
      const r2 = tally({ error: 1, refusal: 2 }, row);
      expect(r2.failed).toBeCloseTo(e, 4);
      expect(r2.refused / answered).toBeCloseTo(2 * base.refusal, 4);
    }
  });
});
