/**
 * Does the simulator implement DESIGN.md's semantics? Simulated frequencies are compared with
 * values computed independently of src/: closed forms where they exist (the source of each is
 * stated next to it), else a naive request-by-request reference written from DESIGN.md alone
 * (./reference-model.ts).
 *
 * Every tolerance is derived from the sample size: for a share, |p̂ − p| ≤ 4·√(p(1−p)/n) + 1/n
 * (4σ, a two-sided normal level of 6e-5); for means and quantiles, 4 standard errors from the
 * stated sampling distribution plus a small stated bias term; chi-square tests reject at
 * p < 0.001. Seeds are fixed, so a test either always passes or always fails.
 *
 * simulate() runs the built worker from dist/: `npx tsc -p tsconfig.json` first (npm test's pretest).
 */
import type { EngineKind } from '../../src/sim/engine.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGateFile, loadScenarioFile } from '../../src/config/load.js';
import type { GateConfig } from '../../src/config/model.js';
import { summariseOutcomes } from '../../src/sim/outcome-summary.js';
import { simulate } from '../../src/sim/simulate.js';
import { OUTCOME_CODES, VERDICT_CODES } from '../../src/store/columns.js';
import type { SimulatedScenario } from '../../src/store/outcomes.js';
import {
  type GateDoc,
  type ScenarioDoc,
  Z99,
  chiSquareGof,
  chiSquareTwoSample,
  normalPdf,
  poissonCdf,
  poissonPmf,
  referenceRun,
  refSchedule,
} from './reference-model.js';

const WORKERS = 2;
const ROLLBACK = OUTCOME_CODES.indexOf('rollback');
const HOLD = OUTCOME_CODES.indexOf('hold');
const PROMOTE = OUTCOME_CODES.indexOf('promote');
const PASS = VERDICT_CODES.indexOf('pass');
const ABSTAIN = VERDICT_CODES.indexOf('abstain');
/** Chi-square tests reject below this p-value. */
const ALPHA = 0.001;

// ---------------------------------------------------------------------------------------------
// Plumbing

const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-semantics-'));

/** Writes a scenario (JSON is YAML) and loads it through the public loader. */
function scenarioFile(doc: ScenarioDoc): string {
  const file = path.join(dir, `${doc.name}.json`);
  writeFileSync(file, JSON.stringify(doc, null, 2));
  return file;
}

function gateConfig(name: string, gates: GateDoc[]): GateConfig {
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ gates }, null, 2));
  return loadGateFile(file);
}

/**
 * The engine under test. This file checks the `sample` engine; semantics-exact.test.ts sets the
 * global below and imports this file, so the same battery checks the `exact` engine.
 */
const ENGINE: EngineKind = (globalThis as { __REHEARSE_ENGINE__?: EngineKind }).__REHEARSE_ENGINE__ ?? 'sample';

async function run(docs: ScenarioDoc[], options: { recordChecks?: boolean; gateConfigs?: GateConfig[]; workers?: number; runs?: number; seed?: number } = {}) {
  return simulate({
    scenarios: docs.map((d) => loadScenarioFile(scenarioFile(d))),
    workers: options.workers ?? WORKERS,
    recordChecks: options.recordChecks ?? false,
    engine: ENGINE,
    ...(options.gateConfigs ? { gateConfigs: options.gateConfigs } : {}),
    ...(options.runs !== undefined ? { runs: options.runs } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
}

interface Outcomes {
  config: number[];
  run: number[];
  outcome: number[];
  stage: number[];
  gate: number[];
  check: number[];
  canaryRequests: number[];
}

function outcomesOf(r: SimulatedScenario): Outcomes {
  const o: Outcomes = { config: [], run: [], outcome: [], stage: [], gate: [], check: [], canaryRequests: [] };
  for (const b of r.batches) for (const k of Object.keys(o) as (keyof Outcomes)[]) o[k].push(...b.outcomes[k]);
  return o;
}

interface Checks {
  config: number[];
  run: number[];
  check: number[];
  gate: number[];
  canary: number[];
  baseline: number[];
  canaryN: number[];
  verdict: number[];
  fired: number[];
}

function checksOf(r: SimulatedScenario): Checks {
  const c: Checks = { config: [], run: [], check: [], gate: [], canary: [], baseline: [], canaryN: [], verdict: [], fired: [] };
  for (const b of r.batches) {
    if (!b.checks) throw new Error('checks were not recorded');
    for (const k of Object.keys(c) as (keyof Checks)[]) c[k].push(...b.checks[k]);
  }
  return c;
}

/** The recorded rows of one gate (and config), as row indices. */
function rowsOf(c: Checks, gate: number, config = 0): number[] {
  const rows: number[] = [];
  for (let i = 0; i < c.gate.length; i++) if (c.gate[i] === gate && c.config[i] === config) rows.push(i);
  return rows;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: readonly number[]) => {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
};
/** 4σ band of a share estimated from n trials, plus 1/n for discreteness. */
const shareTol = (p: number, n: number) => 4 * Math.sqrt((p * (1 - p)) / n) + 1 / n;

/** Observed vs expected, printed at the end with REHEARSE_SEMANTICS_VERBOSE=1. */
const observed: string[] = [];
function near(label: string, actual: number, expected: number, tol: number): void {
  observed.push(`${label}: observed ${actual.toPrecision(6)}, expected ${expected.toPrecision(6)} ± ${tol.toPrecision(3)}`);
  expect(Math.abs(actual - expected), `${label}: observed ${actual}, expected ${expected} ± ${tol}`).toBeLessThanOrEqual(tol);
}
afterAll(() => {
  if (process.env.REHEARSE_SEMANTICS_VERBOSE) console.log(observed.join('\n'));
  rmSync(dir, { recursive: true, force: true });
});

/** Lognormal mean and coefficient of variation through (p50, p99): σ = ln(p99/p50)/z₀.₉₉. */
function lognormalMoments(p50: number, p99: number, scale = 1): { mean: number; variance: number } {
  const s = Math.log(p99 / p50) / Z99;
  const m = p50 * scale * Math.exp((s * s) / 2);
  return { mean: m, variance: m * m * (Math.exp(s * s) - 1) };
}

/**
 * Standard deviation of the log of a sample p-quantile of a lognormal with log-scale σ, from n
 * draws: asymptotically σ·√(p(1−p)/n)/φ(z_p) (the sample quantile's normal limit, by the delta method).
 */
function logQuantileSd(sigma: number, p: number, n: number): number {
  const z = p === 0.5 ? 0 : p === 0.99 ? Z99 : NaN;
  return (sigma * Math.sqrt((p * (1 - p)) / n)) / normalPdf(z);
}

// ---------------------------------------------------------------------------------------------
// 1 and 3: counts and abstention

describe('canary request counts per check window', () => {
  // Windows: 12 × 5 min at 10% (λ = 50), one 2-min window off the grid at 10% (λ = 20),
  // 2 × 5 min at 50% (λ = 250); the last stage has no hold, so no checks.
  const doc: ScenarioDoc = {
    name: 'counts',
    runs: 200,
    seed: 11,
    // Half the requests fail: a latency gate's sample (errors excluded) is half the canary's.
    traffic: { requests_per_minute: 100, baseline: { error_rate: 0.5 } },
    rollout: { stages: [{ percent: 10, hold: '62m' }, { percent: 50, hold: '10m' }, { percent: 100 }], check_every: '5m' },
    gates: [
      { name: 'never', metric: 'error_rate', max: 1 },
      { name: 'abstains', metric: 'error_rate', max: 1, min_samples: 50 },
      { name: 'abstains_latency', metric: 'latency_ms', stat: 'p50', max_ratio: 1e9, min_samples: 50 },
      { name: 'abstains_stage', metric: 'error_rate', max: 1, min_samples: 100, window: 'stage' },
    ],
  };
  const windows = refSchedule(doc);
  /** Expected canary requests per window (Poisson arrivals thinned by percent/100). */
  const lambda = windows.map((w) => 100 * (w.end - w.start) * (w.percent / 100));
  let res: SimulatedScenario;
  let checks: Checks;
  beforeAll(async () => {
    [res] = (await run([doc], { recordChecks: true })) as [SimulatedScenario];
    checks = checksOf(res);
  });

  it('follows the ladder: checks every 5 minutes, a shorter last window, none on the last stage', () => {
    const schedule = res.schedule as unknown as { stage: number; percent: number; startMinute: number; endMinute: number }[];
    expect(schedule.map((s) => [s.stage, s.percent, s.startMinute, s.endMinute])).toEqual(windows.map((w) => [w.stage, w.percent, w.start, w.end]));
    const o = outcomesOf(res);
    expect(o.run.length).toBe(200);
    expect(new Set(o.outcome)).toEqual(new Set([PROMOTE]));
    expect(new Set(o.stage)).toEqual(new Set([0]));
    expect(new Set(o.gate)).toEqual(new Set([-1]));
    expect(new Set(o.check)).toEqual(new Set([-1]));
  });

  it('has mean rpm·minutes·percent/100 and Poisson variance in every window', () => {
    const rows = rowsOf(checks, 0);
    expect(rows.length).toBe(200 * windows.length);
    for (let k = 0; k < windows.length; k++) {
      const n = rows.filter((i) => checks.check[i] === k).map((i) => checks.canaryN[i]!);
      expect(n.length).toBe(200);
      // Mean of 200 Poisson(λ) counts: sd √(λ/200).
      near(`canaryN mean, window ${k}`, mean(n), lambda[k]!, 4 * Math.sqrt(lambda[k]! / n.length));
    }
    for (const l of [50, 20, 250]) {
      const n = rows.filter((i) => Math.abs(lambda[checks.check[i]!]! - l) < 1e-9).map((i) => checks.canaryN[i]!);
      // Sample variance of m Poisson(λ) counts: Var(s²) ≈ (μ₄ − σ⁴)/m = (λ + 2λ²)/m.
      near(`canaryN variance, λ=${l} (${n.length} windows)`, variance(n), l, 4 * Math.sqrt((l + 2 * l * l) / n.length));
    }
    // The whole law: 2400 windows of λ = 50 against the Poisson(50) pmf.
    const n50 = rows.filter((i) => Math.abs(lambda[checks.check[i]!]! - 50) < 1e-9).map((i) => checks.canaryN[i]!);
    const counts = new Array(121).fill(0) as number[];
    for (const x of n50) counts[Math.min(120, x)]!++;
    const probs = counts.map((_, k) => (k < 120 ? poissonPmf(k, 50) : 1 - poissonCdf(119, 50)));
    const gof = chiSquareGof(counts, probs);
    observed.push(`canaryN ~ Poisson(50): chi2 ${gof.stat.toFixed(2)} on ${gof.df} df, p = ${gof.p.toFixed(3)}`);
    expect(gof.p).toBeGreaterThan(ALPHA);
  });

  it('counts canary_requests as the sum of the windows until promotion', () => {
    const o = outcomesOf(res);
    const rows = rowsOf(checks, 0);
    const perRun = new Map<number, number>();
    for (const i of rows) perRun.set(checks.run[i]!, (perRun.get(checks.run[i]!) ?? 0) + checks.canaryN[i]!);
    o.run.forEach((r, i) => expect(o.canaryRequests[i]).toBe(perRun.get(r)));
    // E = Σλ = 100·(62·0.10 + 10·0.50) = 1120; sd of the mean of 200 Poisson(1120): √(1120/200).
    near('mean canary_requests', summariseOutcomes(res)[0]!.meanCanaryRequests, 1120, 4 * Math.sqrt(1120 / 200));
  });

  it('abstains with probability P(Poisson(λ) < min_samples), and only then', () => {
    const rows = rowsOf(checks, 1);
    for (const i of rows) expect(checks.verdict[i]).toBe(checks.canaryN[i]! < 50 ? ABSTAIN : PASS);
    for (const l of [50, 20, 250]) {
      const v = rows.filter((i) => Math.abs(lambda[checks.check[i]!]! - l) < 1e-9).map((i) => checks.verdict[i]!);
      const p = poissonCdf(49, l); // P(N < 50), N ~ Poisson(λ)
      near(`abstain share, λ=${l}`, v.filter((x) => x === ABSTAIN).length / v.length, p, shareTol(p, v.length));
    }
    for (const i of rowsOf(checks, 0)) expect(checks.verdict[i]).toBe(PASS);
  });

  it('counts every canary request for min_samples, errors included, whatever the metric', () => {
    // min_samples counts all canary requests: the latency gate (whose values exclude the ~50%
    // errors) abstains exactly when the error-rate gate does; were errors not counted, a λ = 50
    // window would abstain with P(Poisson(25) < 50) ≈ 1 instead of 0.48.
    const all = rowsOf(checks, 1);
    const lat = rowsOf(checks, 2);
    expect(lat.length).toBe(all.length);
    lat.forEach((i, j) => {
      expect([checks.run[i], checks.check[i]]).toEqual([checks.run[all[j]!], checks.check[all[j]!]]);
      expect(checks.verdict[i]).toBe(checks.verdict[all[j]!]);
    });
  });

  it('reads a stage window since the stage began: abstains while the stage has < min_samples canary requests', () => {
    // Per run, the stage window at check k holds the canary requests of the stage's check
    // windows up to k: a Poisson(Σλ) count, so P(abstain) = P(Poisson(Σλ) < 100).
    const perCheck = new Map<string, number>();
    for (const i of rowsOf(checks, 0)) perCheck.set(`${checks.run[i]}:${checks.check[i]}`, checks.canaryN[i]!);
    const rows = rowsOf(checks, 3);
    const abstained = windows.map(() => 0);
    for (const i of rows) {
      const k = checks.check[i]!;
      let since = 0;
      for (let j = 0; j <= k; j++) if (windows[j]!.stage === windows[k]!.stage) since += perCheck.get(`${checks.run[i]}:${j}`)!;
      const why = `run ${checks.run[i]}, check ${k}: ${since} canary requests since the stage began (recorded canary_n ${checks.canaryN[i]}, value ${checks.canary[i]})`;
      expect(checks.verdict[i], why).toBe(since < 100 ? ABSTAIN : PASS);
      if (checks.verdict[i] === ABSTAIN) abstained[k]!++;
    }
    windows.forEach((w, k) => {
      let l = 0;
      for (let j = 0; j <= k; j++) if (windows[j]!.stage === w.stage) l += lambda[j]!;
      const p = poissonCdf(99, l);
      near(`stage-window abstain share, check ${k} (Σλ = ${l})`, abstained[k]! / 200, p, shareTol(p, 200));
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 2: first firing, halt stage, detected minute, promotion; sustained

describe('an error_rate gate with max: 0 (any canary error breaches)', () => {
  const e = 0.02;
  const rpm = 100;
  const runs = 2000;
  // Canary requests per window: 10 (5 min at 2%), 4 (2 min), 25 (5 min at 5%): an empty canary
  // window has probability ≤ e^−4 = 0.018 only in the 2-minute window, and breaches neither way.
  const doc: ScenarioDoc = {
    name: 'first-error',
    runs,
    seed: 5,
    traffic: { requests_per_minute: rpm, baseline: { error_rate: e } },
    rollout: { stages: [{ percent: 2, hold: '12m' }, { percent: 5, hold: '15m' }, { percent: 100 }], check_every: '5m' },
    gates: [{ name: 'any_error', metric: 'error_rate', max: 0 }],
  };
  const windows = refSchedule(doc);
  // Poisson thinning: canary errors in a window ~ Poisson(μ), μ = rpm·minutes·(percent/100)·e,
  // independent across windows; the window breaches iff it holds ≥ 1 error: q = 1 − e^−μ.
  const mu = windows.map((w) => rpm * (w.end - w.start) * (w.percent / 100) * e);
  const q = mu.map((m) => 1 - Math.exp(-m));

  const lam = windows.map((w) => rpm * (w.end - w.start) * (w.percent / 100));

  /**
   * P(first firing at check k) for k = 0..K−1, then P(no firing): a Markov chain on the streak.
   * Per window, with N ~ Poisson(λ) canary requests: abstain when N < min_samples (the streak is
   * kept), breach when N ≥ min_samples and ≥ 1 of them errs, i.e. Σ_{n ≥ m} P(N = n)·(1 − (1−e)^n)
   * (which is q = 1 − e^−μ when m = 0), else pass (the streak resets).
   */
  function firing(sustained: number, minSamples = 0): number[] {
    let state = new Array(sustained).fill(0) as number[];
    state[0] = 1;
    const out: number[] = [];
    windows.forEach((_, k) => {
      const l = lam[k]!;
      const abstain = minSamples > 0 ? poissonCdf(minSamples - 1, l) : 0;
      let breach = q[k]!;
      if (minSamples > 0) {
        breach = 0;
        for (let n = minSamples; n < l + 20 * Math.sqrt(l) + 50; n++) breach += poissonPmf(n, l) * (1 - (1 - e) ** n);
      }
      const next = new Array(sustained).fill(0) as number[];
      let fire = 0;
      state.forEach((p, s) => {
        if (s + 1 >= sustained) fire += p * breach;
        else next[s + 1]! += p * breach;
        next[0]! += p * (1 - abstain - breach);
        next[s]! += p * abstain;
      });
      out.push(fire);
      state = next;
    });
    out.push(state.reduce((a, b) => a + b, 0));
    return out;
  }

  let res: SimulatedScenario;
  beforeAll(async () => {
    const configs = [
      gateConfig('sustained-1', doc.gates!),
      gateConfig('sustained-2', [{ ...doc.gates![0]!, sustained: 2 }]),
      // Abstains in most 2-minute windows (P(Poisson(4) < 8) = 0.95), some 2%-windows (0.22): a
      // streak carries across an abstention, so breaches at minutes 10 and 17 fire at 17 (P ≈ 0.065;
      // 0.003 if an abstention reset the streak).
      gateConfig('sustained-2-min-8', [{ ...doc.gates![0]!, sustained: 2, min_samples: 8 }]),
      // On a stage window, max: 0 breaches at the first check with an error since the stage
      // began: with sustained 1 that is the first window holding an error, as on check windows.
      gateConfig('stage-window', [{ ...doc.gates![0]!, window: 'stage' }]),
    ];
    [res] = (await run([doc], { gateConfigs: configs })) as [SimulatedScenario];
  });

  for (const [config, sustained, minSamples, window] of [
    [0, 1, 0, 'check'],
    [1, 2, 0, 'check'],
    [2, 2, 8, 'check'],
    [3, 1, 0, 'stage'],
  ] as const) {
    it(`window: ${window}, sustained: ${sustained}, min_samples: ${minSamples}: the firing check (so the detected minute) follows the closed form`, () => {
      const o = outcomesOf(res);
      const rows = o.config.map((c, i) => (c === config ? i : -1)).filter((i) => i >= 0);
      expect(rows.length).toBe(runs);
      const expected = firing(sustained, minSamples);
      const counts = new Array(windows.length + 1).fill(0) as number[];
      for (const i of rows) counts[o.check[i]! >= 0 ? o.check[i]! : windows.length]!++;
      const gof = chiSquareGof(counts, expected);
      observed.push(
        `${window} window, sustained ${sustained}/min ${minSamples}: firing check shares ${counts.map((c) => (c / runs).toFixed(4)).join(' ')} vs ${expected.map((p) => p.toFixed(4)).join(' ')}; chi2 ${gof.stat.toFixed(2)}/${gof.df} df, p = ${gof.p.toFixed(3)}`,
      );
      expect(gof.p).toBeGreaterThan(ALPHA);
      // Detected minute: the firing check's end minute, from the start of the rollout.
      const minutes = windows.map((w) => w.end);
      for (let k = 0; k < windows.length; k++) {
        const share = rows.filter((i) => o.check[i] === k && res.schedule[o.check[i]!]!.endMinute === minutes[k]).length / runs;
        near(`${window} window, sustained ${sustained}/min ${minSamples}: P(detected at minute ${minutes[k]})`, share, expected[k]!, shareTol(expected[k]!, runs));
      }
      // Halt stage and promotion.
      const byStage = [0, 1].map((s) => windows.reduce((acc, w, k) => acc + (w.stage === s ? expected[k]! : 0), 0));
      for (const s of [0, 1]) {
        const share = rows.filter((i) => o.outcome[i] === ROLLBACK && o.stage[i] === s + 1).length / runs;
        near(`${window} window, sustained ${sustained}/min ${minSamples}: P(rollback at stage ${s + 1})`, share, byStage[s]!, shareTol(byStage[s]!, runs));
      }
      const summary = summariseOutcomes(res)[config]!;
      const promote = expected[windows.length]!;
      near(`${window} window, sustained ${sustained}/min ${minSamples}: promote share`, summary.promote, promote, shareTol(promote, runs));
      near(`${window} window, sustained ${sustained}/min ${minSamples}: rollback share`, summary.rollback, 1 - promote, shareTol(promote, runs));
      expect(summary.hold).toBe(0);
      for (const i of rows) {
        if (o.outcome[i] === PROMOTE) expect([o.stage[i], o.gate[i], o.check[i]]).toEqual([0, -1, -1]);
        else expect([o.gate[i], o.stage[i]]).toEqual([0, windows[o.check[i]!]!.stage + 1]);
      }
    });
  }

  it('sustained: 1: canary_requests given the halt follows from Poisson thinning', () => {
    const o = outcomesOf(res);
    // Given the first error falls in window k: the earlier windows' canary requests are their
    // error-free ones, Poisson(λⱼ(1−e)); window k adds Poisson(λₖ(1−e)) ok requests and a
    // zero-truncated Poisson(μₖ) of errors (mean μ/(1−e^−μ), second moment (μ+μ²)/(1−e^−μ)).
    // Promoted runs served Poisson(Σλ(1−e)) canary requests, all error-free.
    for (let k = 0; k <= windows.length; k++) {
      const xs = o.config.map((c, i) => (c === 0 && (k < windows.length ? o.check[i] === k : o.check[i] === -1) ? o.canaryRequests[i]! : NaN)).filter((x) => !Number.isNaN(x));
      if (xs.length < 50) continue;
      let m = 0;
      let v = 0;
      for (let j = 0; j < Math.min(k + 1, windows.length); j++) {
        m += lam[j]! * (1 - e);
        v += lam[j]! * (1 - e);
      }
      if (k < windows.length) {
        const z = 1 - Math.exp(-mu[k]!);
        const tm = mu[k]! / z;
        m += tm;
        v += (mu[k]! + mu[k]! ** 2) / z - tm * tm;
      }
      near(`E[canary_requests | ${k < windows.length ? `halt at check ${k}` : 'promote'}] (${xs.length} runs)`, mean(xs), m, 4 * Math.sqrt(v / xs.length) + 0.01);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 4: precedence

describe('which gate ends a run', () => {
  // Every gate here breaches at every check: a canary rate is never below 0 (max: −1), and each
  // window holds ~500 canary requests (P(empty) = e^−500).
  const doc: ScenarioDoc = {
    name: 'precedence',
    runs: 10,
    seed: 3,
    traffic: { requests_per_minute: 1000, baseline: { error_rate: 0.1, refusal_rate: 0.1 } },
    rollout: { stages: [{ percent: 10, hold: '10m' }, { percent: 100 }], check_every: '5m' },
  };
  const sure = (name: string, action: 'rollback' | 'hold', extra: Partial<GateDoc> = {}): GateDoc => ({
    name,
    metric: name.includes('refusal') ? 'refusal_rate' : 'error_rate',
    max: -1,
    action,
    ...extra,
  });
  const cases: [string, GateDoc[], { outcome: number; gate: number; check: number }][] = [
    ['hold listed first, rollback second', [sure('soft_error', 'hold'), sure('hard_refusal', 'rollback')], { outcome: ROLLBACK, gate: 1, check: 0 }],
    ['rollback listed first, hold second', [sure('hard_error', 'rollback'), sure('soft_refusal', 'hold')], { outcome: ROLLBACK, gate: 0, check: 0 }],
    ['two rollbacks', [sure('hard_error', 'rollback'), sure('hard_refusal', 'rollback')], { outcome: ROLLBACK, gate: 0, check: 0 }],
    ['two rollbacks, reversed', [sure('hard_refusal', 'rollback'), sure('hard_error', 'rollback')], { outcome: ROLLBACK, gate: 0, check: 0 }],
    ['two holds', [sure('soft_error', 'hold'), sure('soft_refusal', 'hold')], { outcome: HOLD, gate: 0, check: 0 }],
    ['a hold that fires before a sustained rollback', [sure('hard_error', 'rollback', { sustained: 2 }), sure('soft_refusal', 'hold')], { outcome: HOLD, gate: 1, check: 0 }],
    ['an abstaining rollback does not fire', [sure('hard_error', 'rollback', { min_samples: 1_000_000 }), sure('soft_refusal', 'hold')], { outcome: HOLD, gate: 1, check: 0 }],
    ['sustained rollbacks fire at the second check', [sure('hard_error', 'rollback', { sustained: 2 }), sure('hard_refusal', 'rollback', { sustained: 2 })], { outcome: ROLLBACK, gate: 0, check: 1 }],
  ];
  let res: SimulatedScenario;
  beforeAll(async () => {
    [res] = (await run([doc], { gateConfigs: cases.map(([, gates], i) => gateConfig(`precedence-${i}`, gates)) })) as [SimulatedScenario];
  });
  cases.forEach(([label, , want], config) => {
    it(label, () => {
      const o = outcomesOf(res);
      const rows = o.config.map((c, i) => (c === config ? i : -1)).filter((i) => i >= 0);
      expect(rows.length).toBe(10);
      for (const i of rows) expect({ outcome: o.outcome[i], gate: o.gate[i], check: o.check[i], stage: o.stage[i] }).toEqual({ ...want, stage: 1 });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 5: lognormal laws and the regressions on them

describe('lognormal laws and continuous regressions', () => {
  const R = 10;
  const rpm = 8000;
  const minutes = 10;
  // One stage at 50% for one 10-minute window: ~40 000 requests per arm per run.
  const base = {
    runs: R,
    traffic: { requests_per_minute: rpm },
    rollout: { stages: [{ percent: 50, hold: `${minutes}m` }], check_every: `${minutes}m` },
    gates: [
      { name: 'lat_p50', metric: 'latency_ms', stat: 'p50', max_ratio: 1e9 },
      { name: 'lat_p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1e9 },
      { name: 'cost_mean', metric: 'cost_usd', max_ratio: 1e9 },
      { name: 'out_mean', metric: 'output_tokens', max_ratio: 1e9 },
    ],
  } satisfies Partial<ScenarioDoc>;
  const tail: ScenarioDoc = { ...base, name: 'tail-and-price', seed: 7, candidate: { latency_tail: 1.6, price: 1.25 } };
  const slow: ScenarioDoc = { ...base, name: 'latency-and-length', seed: 8, candidate: { latency: 2, output_length: 1.3 } };
  const sigmaLat = Math.log(4000 / 800) / Z99;
  const nBaseline = rpm * minutes * 0.5; // expected; the realised count differs by ~0.5%, irrelevant to an SE
  let tailChecks: Checks;
  let slowChecks: Checks;
  beforeAll(async () => {
    const [a, b] = (await run([tail, slow], { recordChecks: true })) as [SimulatedScenario, SimulatedScenario];
    tailChecks = checksOf(a);
    slowChecks = checksOf(b);
  });

  /** Mean over runs of ln(value), against ln(expected), 4 SE of that mean plus 0.001 for bias. */
  function logQuantile(label: string, c: Checks, gate: number, arm: 'canary' | 'baseline', expected: number, sigma: number, p: number) {
    const rows = rowsOf(c, gate);
    expect(rows.length).toBe(R);
    const logs = rows.map((i) => Math.log(c[arm][i]!));
    const n = arm === 'canary' ? mean(rows.map((i) => c.canaryN[i]!)) : nBaseline;
    near(`${label}: ln ${arm} ${p === 0.5 ? 'p50' : 'p99'}`, mean(logs), Math.log(expected), (4 * logQuantileSd(sigma, p, n)) / Math.sqrt(R) + 0.001);
  }

  it('draws baseline latency through the configured p50 and p99', () => {
    logQuantile('baseline', tailChecks, 0, 'baseline', 800, sigmaLat, 0.5);
    logQuantile('baseline', tailChecks, 1, 'baseline', 4000, sigmaLat, 0.99);
    logQuantile('baseline', slowChecks, 0, 'baseline', 800, sigmaLat, 0.5);
    logQuantile('baseline', slowChecks, 1, 'baseline', 4000, sigmaLat, 0.99);
  });

  it('latency_tail: 1.6 moves p99 to p50·(p99/p50)^1.6 and leaves p50', () => {
    logQuantile('tail 1.6', tailChecks, 0, 'canary', 800, 1.6 * sigmaLat, 0.5);
    logQuantile('tail 1.6', tailChecks, 1, 'canary', 800 * (4000 / 800) ** 1.6, 1.6 * sigmaLat, 0.99);
  });

  it('latency: 2 doubles the median (and p99)', () => {
    logQuantile('latency 2', slowChecks, 0, 'canary', 1600, sigmaLat, 0.5);
    logQuantile('latency 2', slowChecks, 1, 'canary', 8000, sigmaLat, 0.99);
  });

  /**
   * The mean over runs of ln(mean canary / mean baseline), against ln(expected). By the delta
   * method Var ln(x̄/ȳ) ≈ CV²ₓ/nₓ + CV²ᵧ/nᵧ, CVs from the lognormal moments; rounding tokens moves
   * a token mean by at most 0.5, which `roundingTol` allows for.
   */
  function meanRatio(label: string, c: Checks, gate: number, expected: number, cvCanary: number, cvBaseline: number, roundingTol: number) {
    const rows = rowsOf(c, gate);
    const logs = rows.map((i) => Math.log(c.canary[i]! / c.baseline[i]!));
    const nC = mean(rows.map((i) => c.canaryN[i]!));
    const sd = Math.sqrt(cvCanary ** 2 / nC + cvBaseline ** 2 / nBaseline);
    near(`${label}: ln mean ratio`, mean(logs), Math.log(expected), (4 * sd) / Math.sqrt(R) + roundingTol);
  }

  const inTok = lognormalMoments(1000, 6000);
  const outTok = lognormalMoments(300, 1500);
  /** Cost = (in·0.5 + out·1.5·L)/1e6 · price, tokens independent. */
  const cost = (length: number) => {
    const m = (0.5 * inTok.mean + 1.5 * length * outTok.mean) / 1e6;
    const v = (0.25 * inTok.variance + 2.25 * length * length * outTok.variance) / 1e12;
    return { mean: m, cv: Math.sqrt(v) / m };
  };
  const rounding = 2 * (0.5 / outTok.mean);

  it('price: 1.25 makes the mean cost ratio 1.25', () => {
    meanRatio('price 1.25', tailChecks, 2, 1.25, cost(1).cv, cost(1).cv, rounding);
    meanRatio('price 1.25: output tokens unchanged', tailChecks, 3, 1, Math.sqrt(outTok.variance) / outTok.mean, Math.sqrt(outTok.variance) / outTok.mean, rounding);
  });

  it('output_length: 1.3 makes mean output tokens 1.3×, and the cost follows', () => {
    const cv = Math.sqrt(outTok.variance) / outTok.mean;
    meanRatio('output_length 1.3', slowChecks, 3, 1.3, cv, cv, rounding);
    // (0.5·E[in] + 1.5·1.3·E[out]) / (0.5·E[in] + 1.5·E[out]) with lognormal means p50·e^{σ²/2}.
    meanRatio('output_length 1.3: cost', slowChecks, 2, cost(1.3).mean / cost(1).mean, cost(1.3).cv, cost(1).cv, rounding);
  });
});

// ---------------------------------------------------------------------------------------------
// 6: rates and status semantics

describe('status semantics: error, else refusal, else ok; thumbs-down on ok', () => {
  const runs = 5;
  const rpm = 2000;
  const doc: ScenarioDoc = {
    name: 'rates',
    runs,
    seed: 9,
    traffic: { requests_per_minute: rpm, baseline: { error_rate: 0.1, refusal_rate: 0.2, thumbs_down_rate: 0.3 } },
    candidate: { error_rate: 1.5, refusal_rate: 2, thumbs_down_rate: 1.5 },
    rollout: { stages: [{ percent: 50, hold: '60m' }], check_every: '10m' },
    gates: [
      { name: 'err', metric: 'error_rate', max: 2 },
      { name: 'ref', metric: 'refusal_rate', max: 2 },
      { name: 'eor', metric: 'error_or_refusal_rate', max: 2 },
      { name: 'td', metric: 'thumbs_down_rate', max: 2 },
    ],
  };
  // Canary: e = 0.15, r = 0.4, t = 0.45; baseline: e = 0.1, r = 0.2, t = 0.3.
  const arms = {
    canary: { error: 0.15, refusal: 0.85 * 0.4, either: 0.15 + 0.85 * 0.4, thumbs: 0.45 },
    baseline: { error: 0.1, refusal: 0.9 * 0.2, either: 0.1 + 0.9 * 0.2, thumbs: 0.3 },
  };
  let c: Checks;
  beforeAll(async () => {
    const [res] = (await run([doc], { recordChecks: true })) as [SimulatedScenario];
    c = checksOf(res);
  });

  it('canary: pooled counts give error share e, refusal share (1−e)·r of all requests, thumbs-down share t of ok requests', () => {
    const [err, ref, eor, td] = [0, 1, 2, 3].map((g) => rowsOf(c, g));
    expect(err!.length).toBe(runs * 6);
    for (const rows of [ref!, eor!, td!]) rows.forEach((i, j) => expect([c.run[i], c.check[i]]).toEqual([c.run[err![j]!], c.check[err![j]!]]));
    // Recover the counts from the rates: errors = rate·n; ok = n·(1 − error_or_refusal_rate).
    const n = err!.map((i) => c.canaryN[i]!);
    const N = n.reduce((a, b) => a + b, 0);
    const pooled = (rows: number[]) => rows.reduce((a, i, j) => a + c.canary[i]! * n[j]!, 0) / N;
    const ok = eor!.map((i, j) => n[j]! * (1 - c.canary[i]!));
    const okN = ok.reduce((a, b) => a + b, 0);
    const thumbs = td!.reduce((a, i, j) => a + c.canary[i]! * ok[j]!, 0) / okN;
    const want = arms.canary;
    near('canary error share', pooled(err!), want.error, shareTol(want.error, N));
    near('canary refusal share of all requests', pooled(ref!), want.refusal, shareTol(want.refusal, N));
    near('canary error-or-refusal share', pooled(eor!), want.either, shareTol(want.either, N));
    near('canary thumbs-down share of ok requests', thumbs, want.thumbs, shareTol(want.thumbs, okN));
  });

  it('baseline: window rates average to the same shares', () => {
    // A window's rate is an unbiased share with variance p(1−p)/n, n ≈ 10 000 (baseline requests
    // per window, not recorded); the mean of W windows has variance p(1−p)/(W·n). For thumbs-down
    // n is the ok count, ≈ 0.72·10 000. The 1.02 factor covers n's own ±1% Poisson spread.
    const nB = rpm * 10 * 0.5;
    const want = arms.baseline;
    const pairs: [number, number, number][] = [
      [0, want.error, nB],
      [1, want.refusal, nB],
      [2, want.either, nB],
      [3, want.thumbs, nB * (1 - want.either)],
    ];
    for (const [g, p, n] of pairs) {
      const rows = rowsOf(c, g);
      near(`baseline ${doc.gates![g]!.name} mean rate`, mean(rows.map((i) => c.baseline[i]!)), p, 1.02 * 4 * Math.sqrt((p * (1 - p)) / (rows.length * n)));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 7: run-to-run non-determinism

describe('nondeterminism.run: 0.15', () => {
  const R = 400;
  // Narrow input, output and latency laws (p99 = 1.1·p50, σ = 0.041) make a window's sampling
  // noise negligible next to the run factor; output tokens are free, so cost is input cost only.
  const doc: ScenarioDoc = {
    name: 'run-nondeterminism',
    runs: R,
    seed: 13,
    traffic: {
      requests_per_minute: 400,
      baseline: { latency_ms: { p50: 800, p99: 880 }, input_tokens: { p50: 1000, p99: 1100 }, output_tokens: { p50: 300, p99: 330 } },
      price: { input_per_million: 1, output_per_million: 0 },
    },
    candidate: { price: 1 },
    nondeterminism: { run: 0.15 },
    rollout: { stages: [{ percent: 50, hold: '10m' }], check_every: '10m' },
    gates: [
      { name: 'cost', metric: 'cost_usd', max_ratio: 1e9 },
      { name: 'out', metric: 'output_tokens', max_ratio: 1e9 },
      { name: 'lat', metric: 'latency_ms', stat: 'p50', max_ratio: 1e9 },
    ],
  };
  const sigma = Math.log(1.1) / Z99;
  const n = 400 * 10 * 0.5;
  // Sampling noise of a window's ratio: the ratio of two means (CV² ≈ e^{σ²}−1 per request) or
  // of two medians (sd of ln median σ·√(0.25/n)/φ(0)), both arms.
  const noiseVar = {
    cost: (2 * (Math.exp(sigma * sigma) - 1)) / n,
    out: (2 * (Math.exp(sigma * sigma) - 1)) / n + 2 * (1 / 12 / 300 ** 2) / n,
    lat: 2 * logQuantileSd(sigma, 0.5, n) ** 2,
  };
  let ratios: Record<'cost' | 'out' | 'lat', number[]>;
  let baselineCost: number[];
  beforeAll(async () => {
    const [res] = (await run([doc], { recordChecks: true })) as [SimulatedScenario];
    const c = checksOf(res);
    const of = (g: number) => rowsOf(c, g).map((i) => c.canary[i]! / c.baseline[i]!);
    ratios = { cost: of(0), out: of(1), lat: of(2) };
    baselineCost = rowsOf(c, 0).map((i) => c.baseline[i]!);
  });

  for (const key of ['cost', 'out', 'lat'] as const) {
    it(`spreads the per-run ${key} ratio uniformly over [0.85, 1.15]`, () => {
      const xs = ratios[key];
      expect(xs.length).toBe(R);
      const noiseSd = Math.sqrt(noiseVar[key]);
      // Range: P(min > 0.85 + d) = (1 − d/0.3)^R ≤ 1e−6 for d = 0.3·(1 − 1e−6^{1/R}) ≈ 0.0102.
      const d = 0.3 * (1 - Math.pow(1e-6, 1 / R));
      const min = Math.min(...xs);
      const max = Math.max(...xs);
      observed.push(`${key} ratio range [${min.toFixed(4)}, ${max.toFixed(4)}]`);
      expect(min).toBeGreaterThanOrEqual(0.85 - 5 * noiseSd);
      expect(min).toBeLessThanOrEqual(0.85 + d + 5 * noiseSd);
      expect(max).toBeLessThanOrEqual(1.15 + 5 * noiseSd);
      expect(max).toBeGreaterThanOrEqual(1.15 - d - 5 * noiseSd);
      // Mean 1, variance 0.3²/12 = 0.15²/3 (plus the sampling noise); Var(s²) ≈ (μ₄ − σ⁴)/R with
      // μ₄ = 0.3⁴/80 for a uniform of width 0.3.
      const v = 0.15 ** 2 / 3 + noiseVar[key];
      near(`${key} ratio mean`, mean(xs), 1, 4 * Math.sqrt(v / R));
      near(`${key} ratio variance`, variance(xs), v, 4 * Math.sqrt((0.3 ** 4 / 80 - (0.15 ** 2 / 3) ** 2) / R));
      // Kolmogorov–Smirnov against U[0.85, 1.15]: D < √(ln(2/α)/(2R)) at α = 0.001, plus the noise.
      const sorted = [...xs].sort((a, b) => a - b);
      let D = 0;
      sorted.forEach((x, i) => {
        const F = Math.min(1, Math.max(0, (x - 0.85) / 0.3));
        D = Math.max(D, Math.abs(F - i / R), Math.abs(F - (i + 1) / R));
      });
      observed.push(`${key} ratio KS D = ${D.toFixed(4)}`);
      expect(D).toBeLessThan(Math.sqrt(Math.log(2 / ALPHA) / (2 * R)) + (5 * noiseSd) / 0.3);
    });
  }

  it('draws independent factors per multiplier, and leaves the baseline alone', () => {
    const corr = (a: number[], b: number[]) => {
      const ma = mean(a);
      const mb = mean(b);
      let s = 0;
      for (let i = 0; i < a.length; i++) s += (a[i]! - ma) * (b[i]! - mb);
      return s / (a.length - 1) / Math.sqrt(variance(a) * variance(b));
    };
    // Independent: a sample correlation has sd ≈ 1/√R.
    near('corr(cost, out)', corr(ratios.cost, ratios.out), 0, 4 / Math.sqrt(R));
    near('corr(cost, lat)', corr(ratios.cost, ratios.lat), 0, 4 / Math.sqrt(R));
    near('corr(out, lat)', corr(ratios.out, ratios.lat), 0, 4 / Math.sqrt(R));
    // The baseline's mean cost varies only by sampling: CV² = (e^{σ²}−1)/n per run.
    const cv2 = variance(baselineCost) / mean(baselineCost) ** 2;
    const want = (Math.exp(sigma * sigma) - 1) / n;
    // Var(s²)/σ⁴ ≈ 2/(R−1) for a normal mean: 4 sds of that.
    near('baseline mean cost CV² across runs', cv2, want, want * 4 * Math.sqrt(2 / (R - 1)));
  });
});

describe('nondeterminism.check: 0.1', () => {
  const R = 50;
  const W = R * 6;
  const e = 0.5;
  // Narrow laws (σ = 0.041) and ~2 000 requests per arm and window: a window's statistic is its
  // arm's factor f ~ Normal(1, 0.1) times the configured value, up to a small sampling noise.
  const doc: ScenarioDoc = {
    name: 'check-nondeterminism',
    runs: R,
    seed: 19,
    traffic: {
      requests_per_minute: 400,
      baseline: { latency_ms: { p50: 800, p99: 880 }, input_tokens: { p50: 1000, p99: 1100 }, output_tokens: { p50: 300, p99: 330 }, error_rate: e },
    },
    nondeterminism: { check: 0.1 },
    rollout: { stages: [{ percent: 50, hold: '60m' }], check_every: '10m' },
    gates: [
      { name: 'lat', metric: 'latency_ms', stat: 'p50', max_ratio: 1e9 },
      { name: 'out', metric: 'output_tokens', max_ratio: 1e9 },
      { name: 'err', metric: 'error_rate', max: 2 },
    ],
  };
  const sigma = Math.log(1.1) / Z99;
  const nOk = 400 * 10 * 0.5 * (1 - e);
  // Noise variances of a window's statistic divided by its configured value: a median of nOk
  // lognormal draws, a mean of nOk draws (CV² e^{σ²}−1), and an error share of n = 2 000 draws.
  const noise = { lat: logQuantileSd(sigma, 0.5, nOk) ** 2, out: (Math.exp(sigma * sigma) - 1) / nOk, err: (1 - e) / (e * 400 * 10 * 0.5) };
  let f: Record<'canary' | 'baseline', Record<'lat' | 'out' | 'err', number[]>>;
  beforeAll(async () => {
    const [res] = (await run([doc], { recordChecks: true })) as [SimulatedScenario];
    const c = checksOf(res);
    const of = (arm: 'canary' | 'baseline', g: number, scale: number) => rowsOf(c, g).map((i) => c[arm][i]! / scale);
    f = {
      canary: { lat: of('canary', 0, 800), out: of('canary', 1, 300), err: of('canary', 2, e) },
      baseline: { lat: of('baseline', 0, 800), out: of('baseline', 1, 300), err: of('baseline', 2, e) },
    };
  });
  const corr = (a: number[], b: number[]) => {
    const ma = mean(a);
    const mb = mean(b);
    let s = 0;
    for (let i = 0; i < a.length; i++) s += (a[i]! - ma) * (b[i]! - mb);
    return s / (a.length - 1) / Math.sqrt(variance(a) * variance(b));
  };

  it('scales each window and arm by a factor ~ Normal(1, 0.1)', () => {
    for (const arm of ['canary', 'baseline'] as const) {
      const xs = f[arm].lat;
      expect(xs.length).toBe(W);
      const v = 0.01 + noise.lat;
      near(`${arm} window latency p50 / 800: mean`, mean(xs), 1, 4 * Math.sqrt(v / W));
      // Var(s²) = 2σ⁴/(W−1) for normal data.
      near(`${arm} window latency p50 / 800: variance`, variance(xs), v, 4 * v * Math.sqrt(2 / (W - 1)));
    }
  });

  it('shares one factor across a window\'s latencies, token counts and rates, and draws one per arm', () => {
    // With a common factor, corr(x, y) = Var f / √((Var f + noise_x)(Var f + noise_y)); a sample
    // correlation's sd is ≈ (1 − ρ²)/√W.
    for (const arm of ['canary', 'baseline'] as const) {
      for (const [a, b] of [
        ['lat', 'out'],
        ['lat', 'err'],
      ] as const) {
        const rho = 0.01 / Math.sqrt((0.01 + noise[a]) * (0.01 + noise[b]));
        near(`${arm} corr(${a}, ${b}) within a window`, corr(f[arm][a], f[arm][b]), rho, (4 * (1 - rho * rho)) / Math.sqrt(W) + 0.005);
      }
    }
    near('corr(canary, baseline) latency factors', corr(f.canary.lat, f.baseline.lat), 0, 4 / Math.sqrt(W));
    // Independent across windows: consecutive windows of a run are uncorrelated.
    const xs = f.canary.lat;
    const pairs = xs.map((x, i) => [x, xs[i + 1]] as const).filter((_, i) => i % 6 !== 5);
    near('corr(window k, window k+1)', corr(pairs.map((p) => p[0]), pairs.map((p) => p[1]!)), 0, 4 / Math.sqrt(pairs.length));
  });
});

// ---------------------------------------------------------------------------------------------
// 8: against the independent reference model

describe('against a request-by-request reference model (DESIGN.md semantics)', () => {
  const runs = 2000;
  // Low traffic (canary ~40 requests per window at 10%, ~200 at 50%), both kinds of
  // non-determinism, a quantile gate on check windows and a sustained ratio hold gate on stage windows.
  const doc: ScenarioDoc = {
    name: 'reference',
    runs,
    seed: 21,
    traffic: { requests_per_minute: 40, baseline: { error_rate: 0.05, refusal_rate: 0.1 } },
    candidate: { latency: 1.1, output_length: 1.05 },
    nondeterminism: { run: 0.15, check: 0.05 },
    rollout: { stages: [{ percent: 10, hold: '30m' }, { percent: 50, hold: '30m' }, { percent: 100 }], check_every: '10m' },
    gates: [
      { name: 'latency_p90', metric: 'latency_ms', stat: 'p90', max_ratio: 1.5, min_samples: 20 },
      { name: 'output_mean', metric: 'output_tokens', max_ratio: 1.12, action: 'hold', sustained: 2, window: 'stage' },
    ],
  };
  const windows = refSchedule(doc);
  let sim: { outcome: number; stage: number; gate: number; check: number }[];
  let ref: { outcome: number; stage: number; gate: number; check: number }[];
  beforeAll(async () => {
    const [res] = (await run([doc])) as [SimulatedScenario];
    const o = outcomesOf(res);
    sim = o.run.map((_, i) => ({ outcome: o.outcome[i]!, stage: o.stage[i]!, gate: o.gate[i]!, check: o.check[i]! }));
    ref = [];
    for (let i = 0; i < runs; i++) {
      const r = referenceRun(doc, doc.gates!, 0x5eed0000 + i);
      ref.push({ outcome: OUTCOME_CODES.indexOf(r.outcome), stage: r.stage, gate: r.gate, check: r.check });
    }
  });

  function compare(label: string, category: (x: { outcome: number; stage: number; gate: number; check: number }) => number, k: number) {
    const a = new Array(k).fill(0) as number[];
    const b = new Array(k).fill(0) as number[];
    for (const x of sim) a[category(x)]!++;
    for (const x of ref) b[category(x)]!++;
    const t = chiSquareTwoSample(a, b);
    observed.push(`${label}: simulate ${a.join('/')} vs reference ${b.join('/')}; chi2 ${t.stat.toFixed(2)} on ${t.df} df, p = ${t.p.toFixed(3)}`);
    // Per category too: two independent shares, 4·√(p(1−p)·2/n).
    a.forEach((x, i) => {
      const p = (x + b[i]!) / (2 * runs);
      near(`${label}, category ${i}`, x / runs, b[i]! / runs, 4 * Math.sqrt((p * (1 - p) * 2) / runs) + 2 / runs);
    });
    expect(t.p).toBeGreaterThan(ALPHA);
  }

  it('agrees on the outcome × halt-stage distribution', () => {
    // Categories: promote, rollback@1, rollback@2, hold@1, hold@2.
    compare('outcome × stage', (x) => (x.outcome === PROMOTE ? 0 : 1 + 2 * (x.outcome === ROLLBACK ? 0 : 1) + (x.stage - 1)), 5);
  });

  it('agrees on which gate fires at which check', () => {
    compare('gate × check', (x) => (x.check < 0 ? 0 : 1 + x.gate * windows.length + x.check), 1 + 2 * windows.length);
  });
});

// ---------------------------------------------------------------------------------------------
// 9: determinism

describe('determinism', () => {
  const doc: ScenarioDoc = {
    name: 'determinism',
    runs: 300,
    seed: 17,
    traffic: { requests_per_minute: 100, baseline: { error_rate: 0.02 } },
    nondeterminism: { run: 0.15, check: 0.05 },
    rollout: { stages: [{ percent: 2, hold: '12m' }, { percent: 5, hold: '15m' }, { percent: 100 }], check_every: '5m' },
    gates: [
      { name: 'any_error', metric: 'error_rate', max: 0, sustained: 2 },
      { name: 'latency_p90', metric: 'latency_ms', stat: 'p90', max_ratio: 1.6, action: 'hold' },
    ],
  };
  const columns = (r: SimulatedScenario) => ({ outcomes: outcomesOf(r), checks: checksOf(r) });

  it('gives identical outcomes and checks for 1 and 2 workers, and for a prefix of the runs; another seed differs', async () => {
    const [one] = (await run([doc], { workers: 1, recordChecks: true })) as [SimulatedScenario];
    const [two] = (await run([doc], { workers: 2, recordChecks: true })) as [SimulatedScenario];
    const a = columns(one);
    expect(columns(two)).toEqual(a);
    expect(new Set(a.outcomes.outcome).size).toBeGreaterThan(1);

    // Run i depends on (seed, i) alone: the first 40 of 300 runs are the 40 runs of a shorter job.
    const [prefix] = (await run([doc], { workers: 2, recordChecks: true, runs: 40 })) as [SimulatedScenario];
    const p = columns(prefix);
    for (const k of Object.keys(p.outcomes) as (keyof Outcomes)[]) expect(p.outcomes[k]).toEqual(a.outcomes[k].slice(0, 40));
    const n = p.checks.run.length;
    for (const k of Object.keys(p.checks) as (keyof Checks)[]) expect(p.checks[k]).toEqual(a.checks[k].slice(0, n));

    const [other] = (await run([doc], { workers: 2, recordChecks: true, seed: 18 })) as [SimulatedScenario];
    const b = columns(other);
    expect(b.outcomes.check).not.toEqual(a.outcomes.check);
    expect(b.checks.canary).not.toEqual(a.checks.canary);
  });
});
