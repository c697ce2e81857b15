import type { GateConfig, Scenario } from '../config/model.js';
import { type CheckPoint, OUTCOME_CODES, type RunBatch } from './columns.js';
import { type Store, appendNullable } from './database.js';

/** What one scenario's simulation hands to the store: its runs under each gate config. */
export interface SimulatedScenario {
  scenario: Scenario;
  configs: readonly GateConfig[];
  schedule: readonly CheckPoint[];
  batches: readonly RunBatch[];
}

/**
 * Appends a simulation's scenarios, outcomes and checks. Appenders write DuckDB's columnar
 * chunks directly: one call per value, no SQL text per row.
 */
export async function writeSimulation(store: Store, invocationId: string, results: readonly SimulatedScenario[]): Promise<void> {
  const scenarios = await store.appender('scenarios');
  const outcomes = await store.appender('outcomes');
  const checks = await store.appender('checks');
  for (const { scenario, configs, schedule, batches } of results) {
    for (const config of configs) {
      scenarios.appendVarchar(invocationId);
      scenarios.appendVarchar(scenario.name);
      scenarios.appendVarchar(scenario.file);
      if (scenario.description === undefined) scenarios.appendNull();
      else scenarios.appendVarchar(scenario.description);
      scenarios.appendVarchar(config.label);
      scenarios.appendInteger(scenario.runs);
      scenarios.appendBigInt(BigInt(scenario.seed));
      // Empirical traffic is named by its source, not copied: the trace itself is the record.
      const { empirical, ...definition } = scenario;
      scenarios.appendVarchar(JSON.stringify({ ...definition, gates: config, ...(empirical ? { empirical: { source: empirical.source, rows: empirical.rows } } : {}) }));
      scenarios.endRow();
    }
    for (const batch of batches) {
      const o = batch.outcomes;
      for (let i = 0; i < o.run.length; i++) {
        const config = configs[o.config[i]!]!;
        const promoted = o.check[i]! < 0;
        const w = promoted ? null : schedule[o.check[i]!]!;
        outcomes.appendVarchar(invocationId);
        outcomes.appendVarchar(scenario.name);
        outcomes.appendVarchar(config.label);
        outcomes.appendInteger(o.run[i]!);
        outcomes.appendBigInt(BigInt(scenario.seed));
        outcomes.appendVarchar(OUTCOME_CODES[o.outcome[i]!]!);
        appendNullable(outcomes, w ? w.stage + 1 : null, 'integer');
        appendNullable(outcomes, w ? w.percent : null, 'double');
        if (promoted) outcomes.appendNull();
        else outcomes.appendVarchar(config.gates[o.gate[i]!]!.name);
        appendNullable(outcomes, w ? w.endMinute : null, 'double');
        outcomes.appendBigInt(BigInt(o.canaryRequests[i]!));
        outcomes.endRow();
      }
      const c = batch.checks;
      if (!c) continue;
      for (let i = 0; i < c.run.length; i++) {
        const config = configs[c.config[i]!]!;
        const w = schedule[c.check[i]!]!;
        checks.appendVarchar(invocationId);
        checks.appendVarchar(scenario.name);
        checks.appendVarchar(config.label);
        checks.appendInteger(c.run[i]!);
        checks.appendInteger(w.stage + 1);
        checks.appendDouble(w.endMinute);
        checks.appendVarchar(config.gates[c.gate[i]!]!.name);
        appendNullable(checks, c.canary[i], 'double');
        appendNullable(checks, c.baseline[i], 'double');
        checks.appendBigInt(BigInt(c.canaryN[i]!));
        appendNullable(checks, c.p[i], 'double');
        // An abstaining gate neither breached nor passed: NULL, so counts of breaches stay honest.
        if (c.verdict[i] === 2) checks.appendNull();
        else checks.appendBoolean(c.verdict[i] === 1);
        checks.appendBoolean(c.fired[i] === 1);
        checks.endRow();
      }
    }
  }
  for (const a of [scenarios, outcomes, checks]) {
    a.flushSync();
    a.closeSync();
  }
}
