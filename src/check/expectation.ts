import type { Expectation, GateConfig } from '../config/model.js';
import { wilsonInterval } from '../stats/interval.js';
import { OUTCOME_CODES, type OutcomeColumns } from '../store/columns.js';

/**
 * `rehearse check`'s verdict on one scenario under one gate config: the share of runs that meet
 * the scenario's `expect`, against the probability it requires. Pure: columns in, record out.
 */
export interface ExpectationResult {
  scenario: string;
  gateConfig: string;
  expect: Expectation;
  runs: number;
  met: number;
  share: number;
  /** Wilson 95% interval of the share. */
  low: number;
  high: number;
  passed: boolean;
  /** Share of runs per outcome, for the failure message. */
  outcomes: Record<'rollback' | 'hold' | 'promote', number>;
  /** Runs ended by each gate. */
  gates: Record<string, number>;
  /**
   * The runs that missed the expectation, by how they ended ("promoted", "held by thumbs_down",
   * "rolled back by cost_per_request after stage 1"): together with `met`, every run once.
   */
  misses: Record<string, number>;
  /**
   * Set when the config cannot meet the expectation at all: `expect.gate` names a gate this config
   * lacks (another `--gates` config of the same command has it).
   */
  missingGate?: string;
}

/** Whether one run meets the expectation: its outcome, and when given its gate and stage. */
export function meets(expect: Expectation, outcome: string, gate: string | null, stage: number | null): boolean {
  if (outcome !== expect.outcome) return false;
  if (expect.outcome === 'promote') return true;
  if (expect.gate !== undefined && gate !== expect.gate) return false;
  if (expect.by_stage !== undefined && (stage === null || stage > expect.by_stage)) return false;
  return true;
}

export function judgeExpectation(
  scenario: string,
  config: GateConfig,
  configIndex: number,
  expect: Expectation,
  columns: readonly OutcomeColumns[],
): ExpectationResult {
  let runs = 0;
  let met = 0;
  const outcomes = { rollback: 0, hold: 0, promote: 0 };
  const gates: Record<string, number> = {};
  const misses: Record<string, number> = {};
  for (const o of columns) {
    for (let i = 0; i < o.run.length; i++) {
      if (o.config[i] !== configIndex) continue;
      runs++;
      const outcome = OUTCOME_CODES[o.outcome[i]!]!;
      outcomes[outcome]++;
      const gate = o.gate[i]! >= 0 ? config.gates[o.gate[i]!]!.name : null;
      if (gate) gates[gate] = (gates[gate] ?? 0) + 1;
      const stage = o.stage[i]! > 0 ? o.stage[i]! : null;
      if (meets(expect, outcome, gate, stage)) met++;
      else {
        const how = missedHow(expect, outcome, gate, stage);
        misses[how] = (misses[how] ?? 0) + 1;
      }
    }
  }
  const { low, high } = wilsonInterval(met, runs);
  const share = runs > 0 ? met / runs : 0;
  const frac = (n: number) => (runs > 0 ? n / runs : 0);
  const lacksGate = expect.outcome !== 'promote' && expect.gate !== undefined && !config.gates.some((g) => g.name === expect.gate);
  return {
    scenario,
    gateConfig: config.label,
    expect,
    runs,
    met,
    share,
    low,
    high,
    // Deterministic for a seed; the interval is reported so a reader sees how close the call was.
    // A config without the named gate fails even at probability 0: the expectation means nothing there.
    passed: !lacksGate && runs > 0 && share >= expect.probability,
    outcomes: { rollback: frac(outcomes.rollback), hold: frac(outcomes.hold), promote: frac(outcomes.promote) },
    gates,
    misses,
    ...(lacksGate ? { missingGate: `gate config ${config.label} has no gate named "${expect.gate}" (its gates: ${config.gates.map((g) => g.name).join(', ')})` } : {}),
  };
}

const ENDED = { promote: 'promoted', hold: 'held', rollback: 'rolled back' } as const;

/** How a run that missed the expectation ended, as the failure sentence says it. */
function missedHow(expect: Expectation, outcome: 'rollback' | 'hold' | 'promote', gate: string | null, stage: number | null): string {
  if (outcome === 'promote' || gate === null) return ENDED[outcome];
  const by = `${ENDED[outcome]} by ${gate}`;
  if (outcome !== expect.outcome) return by;
  if (expect.gate !== undefined && gate !== expect.gate) return `${by} instead`;
  return `${by} after stage ${expect.by_stage}`;
}

/** A required probability as the scenario wrote it: 0.95 as "95%", 0.955 as "95.5%" (rounded, it read "≥ 96%"). */
export const requiredPercent = (p: number) => `${Number((p * 100).toFixed(2))}%`;

/** A 95% interval in whole percents, or to a tenth where whole percents would show one value ("95–95%"). */
export function ciPercent(low: number, high: number): string {
  const whole = Math.round(low * 100) !== Math.round(high * 100);
  const at = (x: number) => (whole ? String(Math.round(x * 100)) : (x * 100).toFixed(1));
  return `${at(low)}–${at(high)}%`;
}

/**
 * The share of runs that met an expectation, as a whole percent (`whole`, default the share
 * rounded), except when that would read as meeting a requirement it falls short of: 94.96% of
 * runs against "≥ 95%" reads "94.9%", not "95%".
 */
export function metPercent(share: number, probability: number, whole = Math.round(share * 100)): string {
  if (share < probability && whole >= probability * 100) return `${(Math.floor(share * 1000) / 10).toFixed(1)}%`;
  return `${whole}%`;
}

/**
 * Whole percents of `total` for each count, adding up to 100 when the counts add up to `total`
 * (largest remainders, ties to the earlier count): rounded one by one, a failure sentence's
 * shares came to 101%.
 */
export function wholePercents(counts: readonly number[], total: number): number[] {
  if (total <= 0) return counts.map(() => 0);
  const exact = counts.map((n) => (n * 100) / total);
  const out = exact.map(Math.floor);
  const sum = counts.reduce((a, b) => a + b, 0);
  let left = Math.round((sum * 100) / total) - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    out[i]!++;
    left--;
  }
  return out;
}

/** "rollback via cost_per_request by stage 1": the expectation as a release owner says it. */
export function describeExpectation(e: Expectation): string {
  if (e.outcome === 'promote') return 'promote';
  return [e.outcome, e.gate !== undefined ? `via ${e.gate}` : '', e.by_stage !== undefined ? `by stage ${e.by_stage}` : ''].filter(Boolean).join(' ');
}

/** Ways of missing named in a failure sentence; the rest are summed as "otherwise". */
const MISSES_SHOWN = 4;

/**
 * The sentence a failing check prints, and JUnit carries:
 * "expected rollback via cost_per_request by stage 1 in ≥ 95% of runs; got 71% (95% CI 65–76%); 29% promoted".
 */
export function explain(r: ExpectationResult): string {
  // Every missed run once, the commonest ways first: the shares and the head's add up.
  const ways = Object.entries(r.misses).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = ways.slice(0, MISSES_SHOWN);
  const rest = ways.slice(MISSES_SHOWN).reduce((n, [, k]) => n + k, 0);
  const [got, ...missed] = wholePercents([r.met, ...shown.map(([, n]) => n), rest], r.runs);
  const others = [...shown.map(([how], i) => `${missed[i]}% ${how}`), ...(rest > 0 ? [`${missed[shown.length]}% otherwise`] : [])];
  const head = `expected ${describeExpectation(r.expect)} in ≥ ${requiredPercent(r.expect.probability)} of runs; got ${metPercent(r.share, r.expect.probability, got)} (95% CI ${ciPercent(r.low, r.high)})`;
  const why = r.missingGate ? `${head}; ${r.missingGate}` : head;
  return others.length ? `${why}; ${others.join(', ')}` : why;
}
