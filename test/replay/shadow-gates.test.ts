import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gate } from '../../src/config/model.js';
import { type ShadowVerdict, abstainReason, judgeShadowGates, writeShadowVerdicts } from '../../src/replay/shadow-gates.js';
import { Store } from '../../src/store/database.js';

let dir: string;
let store: Store;

/** A gate with the loader's defaults: mean, rollback, sustained 1, no minimum, check window. */
function gate(g: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate {
  return { stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...g };
}

// The main replay, with a quote in its id (it must be quoted in SQL, not spliced).
const INV = "inv-'a'";

/**
 * Six replayed requests. Columns: request_id, route, tenant, input_tokens, candidate_input_tokens,
 * baseline/candidate latency, output tokens, cost, status, refusal, and the baseline's feedback.
 *
 * a1: baseline status NULL (counts as ok), thumbs-down.
 * a3: the candidate timed out after 9_999 ms: an error, its latency left out.
 * a4: the baseline errored: its latency 400 left out of the baseline.
 * a5: the candidate refused (status), a6: both refused (flag).
 */
const ROWS_A = `
  ('a1', 'chat',  'acme', 100,  NULL, 100, 150,  10, 12,   1.0, 1.5,  NULL,    'ok',      false, false, -1),
  ('a2', 'chat',  'acme', 200,  210,  200, 300,  20, 24,   2.0, 3.0,  'ok',    'ok',      false, false, 1),
  ('a3', 'chat',  'acme', 300,  NULL, 300, 9999, 30, NULL, 3.0, NULL, 'ok',    'timeout', false, NULL,  NULL),
  ('a4', 'dev''s', 'acme', 2000, NULL, 400, 500,  NULL, 40, NULL, 4.0, 'error', 'ok',      NULL,  false, NULL),
  ('a5', 'dev''s', 'acme', 3000, NULL, 500, 800,  50, 5,   5.0, 0.5,  'ok',    'refusal', false, NULL,  0),
  ('a6', 'dev''s', 'acme', 5000, NULL, 600, 900,  60, 70,  6.0, 7.0,  'ok',    'ok',      true,  true,  -1)`;

/** Another invocation in the same file, with extreme values and another tenant: must never leak in. */
const ROWS_B = `
  ('b1', 'chat', 'globex', 100, NULL, 1, 1000000, 1, 100000, 0.1, 1000.0, 'error', 'error', true, true, -1),
  ('b2', 'chat', 'initech', 100, NULL, 1, 1000000, 1, 100000, 0.1, 1000.0, 'ok', 'refusal', true, true, -1)`;

/** A replay whose candidate is 100 ms slower on every request, and whose output tokens are unchanged. */
const ROWS_T = `
  ('t1', NULL, NULL, NULL, NULL, 100, 200, 10, 10, NULL, NULL, 'ok', 'ok', false, false, NULL),
  ('t2', NULL, NULL, NULL, NULL, 110, 210, 20, 20, NULL, NULL, 'ok', 'ok', false, false, NULL),
  ('t3', NULL, NULL, NULL, NULL, 120, 220, 30, 30, NULL, NULL, 'ok', 'ok', false, false, NULL),
  ('t4', NULL, NULL, NULL, NULL, 130, 230, 40, 40, NULL, NULL, 'ok', 'ok', false, false, NULL),
  ('t5', NULL, NULL, NULL, NULL, 140, 240, 50, 50, NULL, NULL, 'ok', 'ok', false, false, NULL)`;

async function insert(invocation: string, rows: string): Promise<void> {
  await store.run(`INSERT INTO replay_requests (invocation_id, request_id, route, tenant, input_tokens, candidate_input_tokens,
      baseline_latency_ms, candidate_latency_ms, baseline_output_tokens, candidate_output_tokens, baseline_cost_usd, candidate_cost_usd,
      baseline_status, candidate_status, baseline_refusal, candidate_refusal, baseline_feedback)
    SELECT '${invocation.replace(/'/g, "''")}', * FROM (VALUES ${rows})`);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-shadow-gates-'));
  store = await Store.open(path.join(dir, 'shadow.duckdb'));
  await insert(INV, ROWS_A);
  await insert('inv-b', ROWS_B);
  await insert('inv-t', ROWS_T);
});

afterAll(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const GATES_A: Gate[] = [
  // window and sustained describe a canary's time; a replay has one window, so they do not matter.
  gate({ name: 'latency_mean', metric: 'latency_ms', max_ratio: 1.2, window: 'stage', sustained: 3 }),
  gate({ name: 'latency_p90', metric: 'latency_ms', stat: 'p90', max_ratio: 2, action: 'hold' }),
  gate({ name: 'cost', metric: 'cost_usd', max_ratio: 1.2 }),
  gate({ name: 'error_or_refusal', metric: 'error_or_refusal_rate', max: 0.4 }),
  gate({ name: 'refusals', metric: 'refusal_rate', max_ratio: 1.5 }),
  gate({ name: 'errors', metric: 'error_rate', max_ratio: 1 }),
  gate({ name: 'thumbs', metric: 'thumbs_down_rate', max_ratio: 1.5, action: 'hold' }),
  gate({ name: 'ttft', metric: 'ttft_ms', stat: 'p50', max_ratio: 1.5 }),
  gate({ name: 'input_growth', metric: 'input_tokens', max_delta: 300 }),
  gate({ name: 'input_p50', metric: 'input_tokens', stat: 'p50', max_ratio: 10 }),
  gate({ name: 'output_shrink_7', metric: 'output_tokens', min_ratio: 0.9, minSamples: 7 }),
  gate({ name: 'output_shrink_6', metric: 'output_tokens', min_ratio: 0.9, minSamples: 6 }),
];

let verdictsA: ShadowVerdict[];
const overall = (name: string) => verdictsA.find((v) => v.gate === name && v.segmentKind === null)!;

describe('judgeShadowGates over all traffic', () => {
  beforeAll(async () => {
    verdictsA = await judgeShadowGates(store, INV, GATES_A);
  });

  it('reads continuous means from non-error requests only', () => {
    // Baseline latencies without a4 (error): 100, 200, 300, 500, 600 → 1_700 / 5 = 340.
    // Candidate latencies without a3 (timeout): 150, 300, 500, 800, 900 → 2_650 / 5 = 530.
    // 530 / 340 = 1.559 > 1.2: breach, although the gate says window: stage, sustained: 3.
    const v = overall('latency_mean');
    expect(v.requests).toBe(6);
    expect(v.action).toBe('rollback');
    expect(v.reading.baseline).toBeCloseTo(340, 9);
    expect(v.reading.canary).toBeCloseTo(530, 9);
    expect(v.reading.canaryN).toBe(6);
    expect(v.reading.p).toBeNaN();
    expect(v.reading.verdict).toBe('breach');
  });

  it('reads quantiles by linear interpolation between order statistics', () => {
    // p90 of 5 values: h = 4 × 0.9 = 3.6, i.e. x[3] + 0.6 (x[4] − x[3]).
    // Baseline 500 + 0.6 × 100 = 560; candidate 800 + 0.6 × 100 = 860; 860 / 560 = 1.54 ≤ 2.
    const v = overall('latency_p90');
    expect(v.reading.baseline).toBeCloseTo(560, 9);
    expect(v.reading.canary).toBeCloseTo(860, 9);
    expect(v.reading.verdict).toBe('pass');
    expect(v.action).toBe('hold');
  });

  it('reads cost, output tokens and input tokens the same way', () => {
    // Cost: baseline 1 + 2 + 3 + 5 + 6 = 17 → 3.4; candidate 1.5 + 3 + 4 + 0.5 + 7 = 16 → 3.2; ratio 0.94.
    const cost = overall('cost');
    expect(cost.reading.baseline).toBeCloseTo(3.4, 12);
    expect(cost.reading.canary).toBeCloseTo(3.2, 12);
    expect(cost.reading.verdict).toBe('pass');
    // Input tokens: the baseline's own (a1, a2, a3, a5, a6: 8_600 / 5 = 1_720); the candidate's
    // when it reported them, else the trace's (a1 100, a2 210, a4 2_000, a5 3_000, a6 5_000:
    // 10_310 / 5 = 2_062). 2_062 − 1_720 = 342 > 300.
    const input = overall('input_growth');
    expect(input.reading.baseline).toBeCloseTo(1_720, 9);
    expect(input.reading.canary).toBeCloseTo(2_062, 9);
    expect(input.reading.verdict).toBe('breach');
    // Their medians (the middle of five): baseline 300, candidate 2_000 (read value by value, through
    // the coalesce); 6.67 ≤ 10.
    const inputP50 = overall('input_p50');
    expect(inputP50.reading.baseline).toBe(300);
    expect(inputP50.reading.canary).toBe(2_000);
    expect(inputP50.reading.verdict).toBe('pass');
    // Output tokens: baseline 10 + 20 + 30 + 50 + 60 = 170 → 34; candidate 12 + 24 + 40 + 5 + 70 = 151 → 30.2.
    // 30.2 / 34 = 0.888 < 0.9; with 6 requests a 7-sample minimum abstains, a 6-sample one does not.
    const shrink6 = overall('output_shrink_6');
    expect(shrink6.reading.baseline).toBeCloseTo(34, 9);
    expect(shrink6.reading.canary).toBeCloseTo(30.2, 9);
    expect(shrink6.reading.verdict).toBe('breach');
    expect(overall('output_shrink_7').reading.verdict).toBe('abstain');
  });

  it('counts errors (timeouts included) and refusals (status or flag) as shares of all requests', () => {
    // Candidate: 1 error (a3 timeout) and 2 refusals (a5 by status, a6 by flag) of 6: 3/6 = 0.5 > 0.4.
    // Baseline: 1 error (a4) and 1 refusal (a6): 2/6.
    const eor = overall('error_or_refusal');
    expect(eor.reading.canary).toBeCloseTo(0.5, 12);
    expect(eor.reading.baseline).toBeCloseTo(2 / 6, 12);
    expect(eor.reading.verdict).toBe('breach');
    const ref = overall('refusals');
    // 2/6 against 1/6: ratio 2 > 1.5.
    expect(ref.reading.canary).toBeCloseTo(2 / 6, 12);
    expect(ref.reading.baseline).toBeCloseTo(1 / 6, 12);
    expect(ref.reading.verdict).toBe('breach');
    // 1/6 against 1/6: ratio 1, not above 1.
    const err = overall('errors');
    expect(err.reading.canary).toBeCloseTo(1 / 6, 12);
    expect(err.reading.baseline).toBeCloseTo(1 / 6, 12);
    expect(err.reading.verdict).toBe('pass');
  });

  it('abstains on thumbs-down (a replayed candidate gets no feedback) and on a metric the trace lacks', () => {
    // Baseline thumbs-down among ok, non-refused requests: a1 only, of a1, a2, a3, a5 → 1/4.
    const thumbs = overall('thumbs');
    expect(thumbs.reading.verdict).toBe('abstain');
    expect(thumbs.reading.canary).toBeNaN();
    expect(thumbs.reading.baseline).toBeCloseTo(0.25, 12);
    // No ttft anywhere.
    expect(overall('ttft').reading.verdict).toBe('abstain');
  });

  it('judges every gate over all traffic, then per route and per input size; one tenant is no segment', () => {
    // Segments: route (chat, dev's) and input size (a1 100, a2 200 <256; a3 300 256-1k; a4 2_000,
    // a5 3_000 1k-4k; a6 5_000 4k-16k); the only tenant, acme, is all traffic again.
    expect(verdictsA).toHaveLength(GATES_A.length * (1 + 2 + 4));
    expect(verdictsA.slice(0, GATES_A.length).map((v) => v.gate)).toEqual(GATES_A.map((g) => g.name));
    const latency = verdictsA.filter((v) => v.gate === 'latency_mean');
    expect(latency.map((v) => [v.segmentKind, v.segment, v.requests, v.reading.verdict])).toEqual([
      [null, null, 6, 'breach'],
      // chat: baseline 100, 200, 300 → 200; candidate 150, 300 (a3 timed out) → 225; 1.125 ≤ 1.2.
      ['route', 'chat', 3, 'pass'],
      // dev's: baseline 500, 600 (a4 errored) → 550; candidate 500, 800, 900 → 733.3; 1.33 > 1.2.
      ['route', "dev's", 3, 'breach'],
      // 1k-4k: baseline 500 (a5); candidate 500, 800 → 650; 1.3.
      ['input_size', 'input 1k-4k', 2, 'breach'],
      // 256-1k: a3 alone, whose candidate timed out: no candidate latency.
      ['input_size', 'input 256-1k', 1, 'abstain'],
      // 4k-16k: a6, 600 against 900: 1.5.
      ['input_size', 'input 4k-16k', 1, 'breach'],
      // <256: 150 against 225: 1.5.
      ['input_size', 'input <256', 2, 'breach'],
    ]);
    const devs = latency.find((v) => v.segment === "dev's")!;
    expect(devs.reading.baseline).toBeCloseTo(550, 9);
    expect(devs.reading.canary).toBeCloseTo(2_200 / 3, 9);
    // Segment counts: chat has 1 error (a3) of 3 requests and no refusal on the candidate.
    const chatErrors = verdictsA.find((v) => v.gate === 'errors' && v.segment === 'chat')!;
    expect(chatErrors.reading.canary).toBeCloseTo(1 / 3, 12);
    expect(chatErrors.reading.baseline).toBe(0);
    // A ratio over a zero baseline with the canary above zero is +∞: breach.
    expect(chatErrors.reading.verdict).toBe('breach');
  });

  it('judges one invocation alone: another invocation in the same file never leaks in', () => {
    // inv-b's tenants (globex, initech) would make tenant segments, and its values would swamp the means.
    expect(verdictsA.some((v) => v.segmentKind === 'tenant')).toBe(false);
    expect(Math.max(...verdictsA.map((v) => v.requests))).toBe(6);
  });
});

describe('judgeShadowGates with statistical tests', () => {
  it('breaches Mann–Whitney and KS on a shifted latency, and passes them on unchanged output tokens', async () => {
    const gates = [
      gate({ name: 'mw_up', metric: 'latency_ms', test: { kind: 'mann_whitney', alpha: 0.01, direction: 'increase' } }),
      gate({ name: 'mw_down', metric: 'latency_ms', test: { kind: 'mann_whitney', alpha: 0.01, direction: 'decrease' } }),
      gate({ name: 'ks_latency', metric: 'latency_ms', stat: 'p50', test: { kind: 'ks', alpha: 0.001, direction: 'increase' } }),
      gate({ name: 'mw_output', metric: 'output_tokens', test: { kind: 'mann_whitney', alpha: 0.05, direction: 'increase' } }),
      gate({ name: 'ks_output', metric: 'output_tokens', test: { kind: 'ks', alpha: 0.05, direction: 'increase' } }),
    ];
    const v = await judgeShadowGates(store, 'inv-t', gates);
    // No route, tenant or input size: all traffic only.
    expect(v.map((x) => [x.gate, x.segmentKind, x.requests])).toEqual(gates.map((g) => [g.name, null, 5]));
    const by = (name: string) => v.find((x) => x.gate === name)!.reading;

    // Every candidate latency (200..240) is above every baseline one (100..140): U = 5 × 5 = 25,
    // μ = 12.5, σ² = 25/12 × 11 (no ties), σ = 4.78714. With scipy's continuity correction,
    // P(increase) = sf((25 − 12.5 − 0.5) / σ) = sf(2.50672) = 0.0060929 (scipy.stats.mannwhitneyu
    // method='asymptotic' gives 0.006092890177672406), and P(decrease) = sf(−13 / σ) = 0.9966923.
    expect(by('mw_up').p).toBeCloseTo(0.0060929, 6);
    expect(by('mw_up').verdict).toBe('breach');
    // The statistic read alongside the test: means 220 and 120.
    expect(by('mw_up').canary).toBeCloseTo(220, 9);
    expect(by('mw_up').baseline).toBeCloseTo(120, 9);
    expect(by('mw_down').p).toBeCloseTo(0.9966923, 6);
    expect(by('mw_down').verdict).toBe('pass');
    // KS: the samples do not overlap, D = 1, and P(D ≥ 1) = 0 (scipy's kstwo.sf(1, 2) = 0.0).
    expect(by('ks_latency').p).toBeLessThan(1e-9);
    expect(by('ks_latency').verdict).toBe('breach');
    // p50s: 220 and 120.
    expect(by('ks_latency').canary).toBeCloseTo(220, 9);
    expect(by('ks_latency').baseline).toBeCloseTo(120, 9);

    // Identical output tokens: U = 12.5 = μ, ties in five pairs make σ² = 25/12 × (11 − 5·(8 − 2)/90)
    // = 22.2222, σ = 4.71405; P(increase) = sf(−0.5 / σ) = sf(−0.106066) = 0.542235 (scipy: 0.5422350133).
    expect(by('mw_output').p).toBeCloseTo(0.542235, 5);
    expect(by('mw_output').verdict).toBe('pass');
    // KS: D = 0, p = 1.
    expect(by('ks_output').p).toBeCloseTo(1, 9);
    expect(by('ks_output').verdict).toBe('pass');
  });
});

describe('judgeShadowGates on an empty replay', () => {
  it('abstains on every gate over all traffic, with no segments', async () => {
    const v = await judgeShadowGates(store, 'no-such-invocation', GATES_A);
    expect(v).toHaveLength(GATES_A.length);
    for (const x of v) {
      expect(x.segmentKind).toBeNull();
      expect(x.requests).toBe(0);
      expect(x.reading.verdict).toBe('abstain');
    }
  });
});

describe('writeShadowVerdicts', () => {
  it('stores one replay_gates row per verdict: NULL for missing values, and for an abstention', async () => {
    const verdicts = await judgeShadowGates(store, INV, GATES_A);
    await writeShadowVerdicts(store, INV, verdicts);
    const rows = (
      await store.connection.runAndReadAll(
        `SELECT gate, segment_kind, segment, requests::INTEGER AS requests, baseline_value, candidate_value, p_value, breached, action
         FROM replay_gates WHERE invocation_id = 'inv-''a'''`,
      )
    ).getRowObjectsJS();
    expect(rows).toHaveLength(GATES_A.length * 7);
    const find = (gateName: string, segment: string | null) => rows.find((r) => r.gate === gateName && r.segment === segment)!;

    const latency = find('latency_mean', null);
    expect(latency).toMatchObject({ segment_kind: null, requests: 6, p_value: null, breached: true, action: 'rollback' });
    expect(latency.baseline_value as number).toBeCloseTo(340, 9);
    expect(latency.candidate_value as number).toBeCloseTo(530, 9);

    // Abstaining thumbs-down gate: no candidate value, breached NULL, the baseline's share kept.
    const thumbs = find('thumbs', null);
    expect(thumbs).toMatchObject({ candidate_value: null, breached: null, action: 'hold' });
    expect(thumbs.baseline_value as number).toBeCloseTo(0.25, 12);

    expect(find('cost', null).breached).toBe(false);
    expect(find('latency_mean', "dev's")).toMatchObject({ segment_kind: 'route', requests: 3, breached: true });
    expect(find('latency_mean', 'input 256-1k')).toMatchObject({ segment_kind: 'input_size', requests: 1, breached: null, candidate_value: null });

    // A test gate's p-value is stored.
    const tests = await judgeShadowGates(store, 'inv-t', [
      gate({ name: 'mw_up', metric: 'latency_ms', test: { kind: 'mann_whitney', alpha: 0.01, direction: 'increase' } }),
    ]);
    await writeShadowVerdicts(store, 'inv-t', tests);
    const [t] = (await store.connection.runAndReadAll(`SELECT p_value, breached FROM replay_gates WHERE invocation_id = 'inv-t'`)).getRowObjectsJS();
    expect(t!.p_value as number).toBeCloseTo(0.0060929, 6);
    expect(t!.breached).toBe(true);
  });
});

describe('shadow gates read the same values whatever order the requests were stored in', () => {
  it('two invocations holding the same requests in different orders get the same readings, bit for bit', async () => {
    // Costs over six orders of magnitude, the candidate's 1.2× the baseline's: a gate at
    // max_ratio 1.2 sits exactly on its threshold, where the last bits of a mean decide.
    const rows = `SELECT 'r' || i AS request_id, CASE WHEN i % 3 = 0 THEN 'chat' ELSE 'code' END AS route,
        exp((hash(i) % 10000) / 800.0 - 15) AS b
      FROM range(3000) t(i)`;
    for (const [inv, order] of [['order-asc', 'b'], ['order-hash', 'hash(request_id)']] as const) {
      await store.run(`INSERT INTO replay_requests (invocation_id, request_id, route, baseline_cost_usd, candidate_cost_usd, baseline_latency_ms, candidate_latency_ms, candidate_status)
        SELECT '${inv}', request_id, route, b, b * 1.2, 1000 * b, 1100 * b, 'ok' FROM (${rows}) ORDER BY ${order}`);
    }
    // Plain avg() tells the two orders apart; otherwise this test could not fail.
    const naive = (await store.connection.runAndReadAll(`SELECT invocation_id, avg(candidate_cost_usd) AS m FROM replay_requests WHERE invocation_id LIKE 'order-%' GROUP BY ALL`)).getRowObjects();
    expect(new Set(naive.map((r) => r.m)).size).toBe(2);
    const gates = [gate({ name: 'cost', metric: 'cost_usd', max_ratio: 1.2 }), gate({ name: 'latency', metric: 'latency_ms', max_ratio: 1.1 })];
    const [asc, hashed] = [await judgeShadowGates(store, 'order-asc', gates), await judgeShadowGates(store, 'order-hash', gates)];
    expect(asc.length).toBeGreaterThan(gates.length);
    expect(hashed).toEqual(asc);
  });
});

describe('abstainReason', () => {
  const reading = (canary: number, baseline: number, canaryN: number) => ({ verdict: 'abstain' as const, canary, baseline, canaryN, p: NaN });

  it('says which side lacks the metric, and where a candidate\'s values come from', () => {
    expect(abstainReason({ metric: 'cost_usd', minSamples: 0 }, reading(NaN, 0.001, 300))).toBe(
      'the candidate has no cost_usd (its answers carry no usage to price, or the target no prices: give `price` in a target file)',
    );
    expect(abstainReason({ metric: 'latency_ms', minSamples: 0 }, reading(NaN, 900, 300))).toBe('the candidate has no latency_ms');
    expect(abstainReason({ metric: 'ttft_ms', minSamples: 0 }, reading(120, NaN, 300))).toBe('the trace has no ttft_ms for the baseline');
  });

  it('names min_samples when the requests were too few', () => {
    expect(abstainReason({ metric: 'latency_ms', minSamples: 5000 }, reading(800, 790, 1234))).toBe('1,234 requests, fewer than its min_samples (5,000)');
  });
});
