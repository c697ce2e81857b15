import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gate, GateConfig, Scenario } from '../../src/config/model.js';
import type { CheckColumns, CheckPoint, OutcomeColumns, RunBatch } from '../../src/store/columns.js';
import { Store } from '../../src/store/database.js';
import { type SimulatedScenario, writeSimulation } from '../../src/store/outcomes.js';

/**
 * Simulation columns in, rows of scenarios / outcomes / checks out. The columns are written by
 * hand so every stored value can be traced to its source: a check index resolves to the schedule
 * (stage 1-based, percent, end minute), a gate index to the run's own gate config's gate names.
 */

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-outcomes-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const gate = (name: string): Gate => ({ name, metric: 'cost_usd', stat: 'mean', max_ratio: 1.2, action: 'rollback', sustained: 1, minSamples: 100, window: 'check' }) as Gate;

const strict: GateConfig = { label: 'strict', source: 'strict.yaml', gates: [gate('cost'), gate('errors')] };
const loose: GateConfig = { label: 'loose', source: 'loose.yaml', gates: [gate('cost-loose')] };

function scenario(over: Partial<Scenario>): Scenario {
  return {
    name: 's',
    file: '/scenarios/s.yaml',
    runs: 2,
    seed: 7,
    requestsPerMinute: 600,
    candidate: { latency: 1, latency_tail: 1, output_length: 1, price: 1.2, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 },
    nondeterminism: { run: 0, check: 0 },
    stages: [
      { percent: 5, holdMinutes: 20 },
      { percent: 50, holdMinutes: 20 },
      { percent: 100, holdMinutes: null },
    ],
    checkEveryMinutes: 10,
    gates: null,
    ...over,
  } as Scenario;
}

// Checks at minute 10 and 20 of stage 0 (5%), then minute 40 of stage 1 (50%).
const schedule: CheckPoint[] = [
  { stage: 0, percent: 5, endMinute: 10 },
  { stage: 0, percent: 5, endMinute: 20 },
  { stage: 1, percent: 50, endMinute: 40 },
];

function outcomes(rows: { config: number; run: number; outcome: number; gate: number; check: number; canary: number }[]): OutcomeColumns {
  return {
    config: Int32Array.from(rows, (r) => r.config),
    run: Int32Array.from(rows, (r) => r.run),
    outcome: Uint8Array.from(rows, (r) => r.outcome),
    // The writer places a halt by its check, not by this column; a deliberately wrong value here
    // (99) shows it is not what is stored.
    stage: Int32Array.from(rows, (r) => (r.check < 0 ? 0 : 99)),
    gate: Int32Array.from(rows, (r) => r.gate),
    check: Int32Array.from(rows, (r) => r.check),
    canaryRequests: Float64Array.from(rows, (r) => r.canary),
  };
}

function checks(
  rows: { config: number; run: number; check: number; gate: number; canary: number; baseline: number; n: number; p: number; verdict: number; fired: number }[],
): CheckColumns {
  return {
    config: Int32Array.from(rows, (r) => r.config),
    run: Int32Array.from(rows, (r) => r.run),
    check: Int32Array.from(rows, (r) => r.check),
    gate: Int32Array.from(rows, (r) => r.gate),
    canary: Float64Array.from(rows, (r) => r.canary),
    baseline: Float64Array.from(rows, (r) => r.baseline),
    canaryN: Float64Array.from(rows, (r) => r.n),
    p: Float64Array.from(rows, (r) => r.p),
    verdict: Uint8Array.from(rows, (r) => r.verdict),
    fired: Uint8Array.from(rows, (r) => r.fired),
  };
}

const batches: RunBatch[] = [
  {
    outcomes: outcomes([
      // strict run 0: rollback (code 0) by gate 1 "errors" at check 1 → stage 0+1 = 1, 5%, minute 20.
      { config: 0, run: 0, outcome: 0, gate: 1, check: 1, canary: 120 },
      // loose run 0: promote (code 2), no check → every halt column NULL.
      { config: 1, run: 0, outcome: 2, gate: -1, check: -1, canary: 5000 },
      // strict run 1: hold (code 1) by gate 0 "cost" at check 2 → stage 1+1 = 2, 50%, minute 40.
      { config: 0, run: 1, outcome: 1, gate: 0, check: 2, canary: 900 },
    ]),
    checks: checks([
      // verdict 0 = pass → breached false; 1 = breach → true; 2 = abstain → NULL. NaN → NULL.
      { config: 0, run: 0, check: 0, gate: 0, canary: 1.1, baseline: 1, n: 60, p: 0.2, verdict: 0, fired: 0 },
      { config: 0, run: 0, check: 1, gate: 1, canary: 0.05, baseline: 0.01, n: 120, p: 0.001, verdict: 1, fired: 1 },
      { config: 1, run: 0, check: 2, gate: 0, canary: NaN, baseline: NaN, n: 0, p: NaN, verdict: 2, fired: 0 },
    ]),
    simulatedRequests: 0,
  },
  {
    // A second batch, without checks: loose run 1 rolled back by loose's gate 0 "cost-loose" at check 0 → stage 1, 5%, minute 10.
    outcomes: outcomes([{ config: 1, run: 1, outcome: 0, gate: 0, check: 0, canary: 30 }]),
    checks: null,
    simulatedRequests: 0,
  },
];

async function open(): Promise<Store> {
  return Store.open(path.join(dir, `o-${n++}.duckdb`));
}

async function query(store: Store, sql: string): Promise<Record<string, unknown>[]> {
  return (await store.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

describe('writeSimulation', () => {
  it('writes one outcome row per run, halts placed by their check and named by their own config’s gate', async () => {
    const store = await open();
    try {
      await writeSimulation(store, 'inv-1', [{ scenario: scenario({ seed: 2 ** 40 }), configs: [strict, loose], schedule, batches }]);
      const rows = await query(
        store,
        `SELECT invocation_id, scenario, gate_config, run, seed::VARCHAR AS seed, outcome, halted_stage, halted_percent, gate, detected_minute,
                canary_requests::DOUBLE AS canary_requests
         FROM outcomes ORDER BY gate_config DESC, run`,
      );
      const common = { invocation_id: 'inv-1', scenario: 's', seed: String(2 ** 40) };
      expect(rows).toEqual([
        { ...common, gate_config: 'strict', run: 0, outcome: 'rollback', halted_stage: 1, halted_percent: 5, gate: 'errors', detected_minute: 20, canary_requests: 120 },
        { ...common, gate_config: 'strict', run: 1, outcome: 'hold', halted_stage: 2, halted_percent: 50, gate: 'cost', detected_minute: 40, canary_requests: 900 },
        { ...common, gate_config: 'loose', run: 0, outcome: 'promote', halted_stage: null, halted_percent: null, gate: null, detected_minute: null, canary_requests: 5000 },
        { ...common, gate_config: 'loose', run: 1, outcome: 'rollback', halted_stage: 1, halted_percent: 5, gate: 'cost-loose', detected_minute: 10, canary_requests: 30 },
      ]);
    } finally {
      store.close();
    }
  });

  it('writes every check, an abstention and a NaN as NULL', async () => {
    const store = await open();
    try {
      await writeSimulation(store, 'inv-1', [{ scenario: scenario({}), configs: [strict, loose], schedule, batches }]);
      const rows = await query(
        store,
        `SELECT gate_config, run, stage, minute, gate, canary_value, baseline_value, canary_n::INT AS canary_n, p_value, breached, fired
         FROM checks ORDER BY gate_config DESC, run, minute`,
      );
      expect(rows).toEqual([
        { gate_config: 'strict', run: 0, stage: 1, minute: 10, gate: 'cost', canary_value: 1.1, baseline_value: 1, canary_n: 60, p_value: 0.2, breached: false, fired: false },
        { gate_config: 'strict', run: 0, stage: 1, minute: 20, gate: 'errors', canary_value: 0.05, baseline_value: 0.01, canary_n: 120, p_value: 0.001, breached: true, fired: true },
        // loose's gate 0 at check 2: stage 1+1 = 2, minute 40.
        { gate_config: 'loose', run: 0, stage: 2, minute: 40, gate: 'cost-loose', canary_value: null, baseline_value: null, canary_n: 0, p_value: null, breached: null, fired: false },
      ]);
      const [inv] = await query(store, `SELECT count(*)::INT AS n, count(DISTINCT invocation_id)::INT AS ids, min(invocation_id) AS id, min(scenario) AS s FROM checks`);
      expect(inv).toEqual({ n: 3, ids: 1, id: 'inv-1', s: 's' });
    } finally {
      store.close();
    }
  });

  it('writes one scenarios row per gate config, with the definition and that config as JSON', async () => {
    const store = await open();
    try {
      const described = scenario({ name: "it's", description: 'a "described" one', runs: 5, seed: 11 });
      await writeSimulation(store, 'inv-2', [
        { scenario: scenario({}), configs: [strict, loose], schedule, batches: [] },
        { scenario: described, configs: [loose], schedule, batches: [] },
      ]);
      const rows = await query(store, `SELECT invocation_id, scenario, file, description, gate_config, runs, seed::INT AS seed, definition::VARCHAR AS definition FROM scenarios ORDER BY scenario DESC, gate_config DESC`);
      expect(rows.map(({ definition, ...rest }) => rest)).toEqual([
        { invocation_id: 'inv-2', scenario: 's', file: '/scenarios/s.yaml', description: null, gate_config: 'strict', runs: 2, seed: 7 },
        { invocation_id: 'inv-2', scenario: 's', file: '/scenarios/s.yaml', description: null, gate_config: 'loose', runs: 2, seed: 7 },
        { invocation_id: 'inv-2', scenario: "it's", file: '/scenarios/s.yaml', description: 'a "described" one', gate_config: 'loose', runs: 5, seed: 11 },
      ]);
      const defs = rows.map((r) => JSON.parse(String(r.definition)) as Record<string, unknown>);
      expect(defs.map((d) => (d.gates as GateConfig).label)).toEqual(['strict', 'loose', 'loose']);
      expect(defs[0]!.gates).toEqual(strict);
      expect(defs[0]).toMatchObject({ name: 's', runs: 2, seed: 7, checkEveryMinutes: 10, candidate: { price: 1.2 } });
      expect(defs[2]).toMatchObject({ name: "it's", description: 'a "described" one' });
      // No batches: no outcome or check rows.
      expect(await query(store, `SELECT (SELECT count(*) FROM outcomes)::INT AS o, (SELECT count(*) FROM checks)::INT AS c`)).toEqual([{ o: 0, c: 0 }]);
    } finally {
      store.close();
    }
  });

  it('names empirical traffic by its source and row count, never copying the trace', async () => {
    const store = await open();
    try {
      const empirical = {
        source: '/traces/prod.parquet',
        rows: 3,
        latency_ms: Float64Array.of(100, 200, 300),
        ttft_ms: Float64Array.of(NaN, NaN, NaN),
        input_tokens: Float64Array.of(1, 2, 3),
        output_tokens: Float64Array.of(4, 5, 6),
        medianLatency: 200,
      };
      await writeSimulation(store, 'inv-3', [{ scenario: scenario({ empirical }), configs: [strict], schedule, batches: [] }]);
      const [row] = await query(store, `SELECT definition::VARCHAR AS definition FROM scenarios ORDER BY scenario DESC, gate_config DESC`);
      const def = JSON.parse(String(row!.definition)) as Record<string, unknown>;
      expect(def.empirical).toEqual({ source: '/traces/prod.parquet', rows: 3 });
      expect(String(row!.definition)).not.toContain('latency_ms');
      expect(String(row!.definition)).not.toContain('medianLatency');
    } finally {
      store.close();
    }
  });

  it('appends: a second write adds to what the file holds', async () => {
    const store = await open();
    try {
      const one: SimulatedScenario = { scenario: scenario({}), configs: [strict, loose], schedule, batches };
      await writeSimulation(store, 'inv-a', [one]);
      await writeSimulation(store, 'inv-b', [one]);
      // Each write: 2 scenario rows, 4 outcomes, 3 checks.
      expect(
        await query(
          store,
          `SELECT i.id AS invocation_id,
                  (SELECT count(*) FROM scenarios s WHERE s.invocation_id = i.id)::INT AS scenarios,
                  (SELECT count(*) FROM outcomes o WHERE o.invocation_id = i.id)::INT AS outcomes,
                  (SELECT count(*) FROM checks c WHERE c.invocation_id = i.id)::INT AS checks
           FROM (VALUES ('inv-a'), ('inv-b')) i(id) ORDER BY i.id`,
        ),
      ).toEqual([
        { invocation_id: 'inv-a', scenarios: 2, outcomes: 4, checks: 3 },
        { invocation_id: 'inv-b', scenarios: 2, outcomes: 4, checks: 3 },
      ]);
    } finally {
      store.close();
    }
  });
});
