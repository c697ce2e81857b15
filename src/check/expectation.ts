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
  for (const o of columns) {
    for (let i = 0; i < o.run.length; i++) {
      if (o.config[i] !== configIndex) continue;
      runs++;
      const outcome = OUTCOME_CODES[o.outcome[i]!]!;
      outcomes[outcome]++;
      const gate = o.gate[i]! >= 0 ? config.gates[o.gate[i]!]!.name : null;
      if (gate) gates[gate] = (gates[gate] ?? 0) + 1;
      if (meets(expect, outcome, gate, o.stage[i]! > 0 ? o.stage[i]! : null)) met++;
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
    ...(lacksGate ? { missingGate: `gate config ${config.label} has no gate named "${expect.gate}" (its gates: ${config.gates.map((g) => g.name).join(', ')})` } : {}),
  };
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/** "rollback via cost_per_request by stage 1": the expectation as a release owner says it. */
export function describeExpectation(e: Expectation): string {
  if (e.outcome === 'promote') return 'promote';
  return [e.outcome, e.gate !== undefined ? `via ${e.gate}` : '', e.by_stage !== undefined ? `by stage ${e.by_stage}` : ''].filter(Boolean).join(' ');
}

/**
 * The sentence a failing check prints, and JUnit carries:
 * "expected rollback via cost_per_request by stage 1 in ≥ 95% of runs; got 71% (95% CI 65–76%); 29% promoted".
 */
export function explain(r: ExpectationResult): string {
  const head = `expected ${describeExpectation(r.expect)} in ≥ ${pct(r.expect.probability)} of runs; got ${pct(r.share)} (95% CI ${Math.round(r.low * 100)}–${Math.round(r.high * 100)}%)`;
  const others = (['promote', 'hold', 'rollback'] as const)
    .filter((o) => o !== r.expect.outcome && r.outcomes[o] > 0)
    .map((o) => `${pct(r.outcomes[o])} ${o === 'promote' ? 'promoted' : o === 'hold' ? 'held' : 'rolled back'}`);
  if (r.expect.outcome !== 'promote' && r.expect.gate !== undefined) {
    const wrongGate = Object.entries(r.gates)
      .filter(([g]) => g !== r.expect.gate)
      .sort((a, b) => b[1] - a[1])[0];
    if (wrongGate) others.push(`${pct(wrongGate[1] / r.runs)} halted by ${wrongGate[0]} instead`);
  }
  const why = r.missingGate ? `${head}; ${r.missingGate}` : head;
  return others.length ? `${why}; ${others.join(', ')}` : why;
}
