import { mean, median } from 'simple-statistics';
import { OUTCOME_CODES } from '../store/columns.js';
import type { SimulatedScenario } from '../store/outcomes.js';

/** What a release owner reads first about one scenario under one gate config. */
export interface OutcomeSummary {
  scenario: string;
  gateConfig: string;
  runs: number;
  rollback: number;
  hold: number;
  promote: number;
  /** The gate that ended the most runs, and the share of all runs it ended. */
  topGate: string | null;
  topGateShare: number;
  /** Medians over the runs that halted; null when none did. */
  medianHaltStage: number | null;
  medianDetectedMinute: number | null;
  meanCanaryRequests: number;
  /** Runs ended by each gate. */
  gateCounts: Record<string, number>;
}

export function summariseOutcomes(result: SimulatedScenario): OutcomeSummary[] {
  return result.configs.map((config, k) => {
    const counts = [0, 0, 0];
    const gateCounts: Record<string, number> = {};
    const stages: number[] = [];
    const minutes: number[] = [];
    const exposed: number[] = [];
    for (const batch of result.batches) {
      const o = batch.outcomes;
      for (let i = 0; i < o.run.length; i++) {
        if (o.config[i] !== k) continue;
        counts[o.outcome[i]!]!++;
        exposed.push(o.canaryRequests[i]!);
        if (o.check[i]! >= 0) {
          const name = config.gates[o.gate[i]!]!.name;
          gateCounts[name] = (gateCounts[name] ?? 0) + 1;
          stages.push(o.stage[i]!);
          minutes.push(result.schedule[o.check[i]!]!.endMinute);
        }
      }
    }
    const runs = exposed.length;
    let topGate: string | null = null;
    for (const [name, n] of Object.entries(gateCounts)) if (topGate === null || n > gateCounts[topGate]!) topGate = name;
    const share = (n: number) => (runs > 0 ? n / runs : 0);
    return {
      scenario: result.scenario.name,
      gateConfig: config.label,
      runs,
      rollback: share(counts[OUTCOME_CODES.indexOf('rollback')]!),
      hold: share(counts[OUTCOME_CODES.indexOf('hold')]!),
      promote: share(counts[OUTCOME_CODES.indexOf('promote')]!),
      topGate,
      topGateShare: topGate ? share(gateCounts[topGate]!) : 0,
      medianHaltStage: stages.length ? median(stages) : null,
      medianDetectedMinute: minutes.length ? median(minutes) : null,
      meanCanaryRequests: runs ? mean(exposed) : 0,
      gateCounts,
    };
  });
}
