/**
 * The columnar shapes simulation results travel in: from a worker (transferred typed arrays) to
 * the store's appenders. They live with the store because they are its rows, column by column.
 */

export const OUTCOME_CODES = ['rollback', 'hold', 'promote'] as const;
export const VERDICT_CODES = ['pass', 'breach', 'abstain'] as const;

export interface OutcomeColumns {
  config: Int32Array;
  run: Int32Array;
  outcome: Uint8Array;
  /** 1-based; 0 on promote. */
  stage: Int32Array;
  /** -1 on promote. */
  gate: Int32Array;
  /** Index into the check schedule; -1 on promote. */
  check: Int32Array;
  canaryRequests: Float64Array;
}

export interface CheckColumns {
  config: Int32Array;
  run: Int32Array;
  check: Int32Array;
  gate: Int32Array;
  canary: Float64Array;
  baseline: Float64Array;
  canaryN: Float64Array;
  p: Float64Array;
  verdict: Uint8Array;
  fired: Uint8Array;
}

export interface RunBatch {
  outcomes: OutcomeColumns;
  checks: CheckColumns | null;
  /** Requests drawn, both arms, every window simulated (runs stop drawing once every config halted). */
  simulatedRequests: number;
}

/** Where a check falls: enough of a check window for the store to place a row. */
export interface CheckPoint {
  /** 0-based stage index. */
  stage: number;
  percent: number;
  endMinute: number;
}
