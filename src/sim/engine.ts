import type { GateConfig, Scenario } from '../config/model.js';
import type { SummaryNeeds } from '../gates/window.js';
import type { Rng } from '../stats/random.js';
import { ExactRun, gatePaths } from './exact-engine.js';
import type { CheckWindow } from './ladder.js';
import { SampleRun } from './sample-engine.js';

/**
 * The engines behind `--engine`. `sample` draws every request (the reference). `exact` draws each
 * window's statistics from their exact sampling distributions, and per request only for the
 * statistics that have no such law (KS and Mann–Whitney tests, stage-window quantiles, cost
 * quantiles); `auto` is `exact`, which already falls back per statistic where it must.
 */
export const ENGINES = ['auto', 'exact', 'sample'] as const;
export type EngineKind = (typeof ENGINES)[number];

export interface WindowEngine {
  /** Simulates the next check window, writes its summaries at `out[at]`, returns its canary requests. */
  window(w: CheckWindow, out: Float64Array, at: number): number;
}

export function createEngine(kind: EngineKind, scenario: Scenario, needs: SummaryNeeds, rng: Rng): WindowEngine {
  // Empirical traffic has no sampling law to draw statistics from: every engine draws requests.
  return kind === 'sample' || scenario.empirical ? new SampleRun(scenario, needs, rng) : new ExactRun(scenario, needs, rng);
}

/**
 * How each gate's statistic is drawn under an engine: `exact` (from its sampling distribution,
 * at a cost that does not grow with traffic) or `per-request`. Said in the output and the docs.
 */
export function describeGatePaths(kind: EngineKind, scenario: Scenario, config: GateConfig): Record<string, 'exact' | 'per-request'> {
  if (kind === 'sample' || scenario.empirical) return Object.fromEntries(config.gates.map((g) => [g.name, 'per-request' as const]));
  return Object.fromEntries(gatePaths(scenario, config.gates));
}
