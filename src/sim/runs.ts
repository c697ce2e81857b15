import type { GateConfig, Scenario } from '../config/model.js';
import { type CheckMeta, RunJudge, type RunOutcome } from '../gates/judge.js';
import { Rng } from '../stats/random.js';
import { checkSchedule } from './ladder.js';
import { type EngineKind, createEngine } from './engine.js';
import { OUTCOME_CODES, type RunBatch, VERDICT_CODES } from '../store/columns.js';
import { BASELINE, CANARY, N, type SummaryNeeds, WINDOW_WIDTH, needsOf } from '../gates/window.js';

/**
 * Simulates a contiguous range of runs of one scenario and judges them under one or more gate
 * configs. The result is columnar (typed arrays), so a worker hands it back by transfer.
 */

type Ctor<T> = { new (n: number): T };

/** A set of growable typed columns: appends are amortised O(1), the result is trimmed views. */
class Columns<T extends Record<string, Int32Array | Float64Array | Uint8Array>> {
  private cols: T;
  length = 0;
  private capacity: number;

  constructor(
    private readonly kinds: { [K in keyof T]: Ctor<T[K]> },
    capacity = 1024,
  ) {
    this.capacity = capacity;
    this.cols = Object.fromEntries(Object.entries(kinds).map(([k, C]) => [k, new (C as Ctor<T[keyof T]>)(capacity)])) as unknown as T;
  }

  push(row: { [K in keyof T]: number }): void {
    if (this.length === this.capacity) {
      this.capacity *= 2;
      for (const k of Object.keys(this.cols) as (keyof T)[]) {
        const next = new this.kinds[k](this.capacity);
        (next as Float64Array).set(this.cols[k] as Float64Array);
        this.cols[k] = next;
      }
    }
    for (const k of Object.keys(row) as (keyof T)[]) (this.cols[k] as Float64Array)[this.length] = row[k];
    this.length++;
  }

  /** Exactly-sized copies, so a transfer moves no slack. */
  finish(): T {
    return Object.fromEntries(Object.entries(this.cols).map(([k, a]) => [k, (a as Float64Array).slice(0, this.length)])) as unknown as T;
  }
}

export interface SimulateOptions {
  configs: readonly GateConfig[];
  runFrom: number;
  runTo: number;
  /** Record every gate reading of every check (the `checks` table). */
  recordChecks: boolean;
  engine: EngineKind;
}

export function simulateRuns(scenario: Scenario, options: SimulateOptions): RunBatch {
  const { configs, runFrom, runTo, recordChecks } = options;
  const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
  const needs: SummaryNeeds = needsOf(configs);
  const stride = needs.stage ? 2 * WINDOW_WIDTH : WINDOW_WIDTH;
  const summary = new Float64Array(stride);
  const outcomes = new Columns({
    config: Int32Array,
    run: Int32Array,
    outcome: Uint8Array,
    stage: Int32Array,
    gate: Int32Array,
    check: Int32Array,
    canaryRequests: Float64Array,
  });
  const checks = recordChecks
    ? new Columns({
        config: Int32Array,
        run: Int32Array,
        check: Int32Array,
        gate: Int32Array,
        canary: Float64Array,
        baseline: Float64Array,
        canaryN: Float64Array,
        p: Float64Array,
        verdict: Uint8Array,
        fired: Uint8Array,
      }, 4096)
    : null;

  let simulatedRequests = 0;
  for (let run = runFrom; run < runTo; run++) {
    const engine = createEngine(options.engine, scenario, needs, Rng.forRun(scenario.seed, run));
    const judges = configs.map((c) => new RunJudge(c.gates));
    const results: (RunOutcome | null)[] = configs.map(() => null);
    let open = configs.length;
    for (let c = 0; c < schedule.length && open > 0; c++) {
      const w = schedule[c]!;
      const canaryRequests = engine.window(w, summary, 0);
      simulatedRequests += summary[CANARY + N]! + summary[BASELINE + N]!;
      const meta: CheckMeta = { stage: w.stage, percent: w.percent, endMinute: w.endMinute, canaryRequests };
      for (let k = 0; k < configs.length; k++) {
        if (results[k]) continue;
        const onCheck = checks
          ? (check: number, gate: number, r: { verdict: string; canary: number; baseline: number; canaryN: number; p: number }, fired: boolean) =>
              checks.push({
                config: k,
                run,
                check,
                gate,
                canary: r.canary,
                baseline: r.baseline,
                canaryN: r.canaryN,
                p: r.p,
                verdict: VERDICT_CODES.indexOf(r.verdict as (typeof VERDICT_CODES)[number]),
                fired: fired ? 1 : 0,
              })
          : undefined;
        const outcome = judges[k]!.check(c, meta, summary, 0, onCheck);
        if (outcome) {
          results[k] = outcome;
          open--;
        }
      }
    }
    for (let k = 0; k < configs.length; k++) {
      const o = results[k] ?? judges[k]!.promote();
      outcomes.push({
        config: k,
        run,
        outcome: OUTCOME_CODES.indexOf(o.outcome),
        stage: o.haltedStage ?? 0,
        gate: o.gate,
        check: o.check,
        canaryRequests: o.canaryRequests,
      });
    }
  }
  return { outcomes: outcomes.finish(), checks: checks ? checks.finish() : null, simulatedRequests };
}
