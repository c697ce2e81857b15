import type { Stage } from '../config/model.js';

/** One check window of the ladder: the requests served in (startMinute, endMinute]. */
export interface CheckWindow {
  /** 0-based stage index. */
  stage: number;
  percent: number;
  startMinute: number;
  /** The check's time from the start of the rollout: the `detected_minute` when a gate fires here. */
  endMinute: number;
  stageStartMinute: number;
}

const EPS = 1e-9;

/**
 * Every check of a rollout, in time order. Checks fall at each `checkEvery` after a stage starts,
 * plus one at the end of its hold when that is off the grid (a shorter last window). A last stage
 * without hold has none: reaching it is promotion.
 */
export function checkSchedule(stages: readonly Stage[], checkEveryMinutes: number): CheckWindow[] {
  const windows: CheckWindow[] = [];
  let stageStart = 0;
  stages.forEach((stage, index) => {
    if (stage.holdMinutes === null) return;
    const hold = stage.holdMinutes;
    let prev = 0;
    for (let k = 1; k * checkEveryMinutes < hold - EPS; k++) {
      const t = k * checkEveryMinutes;
      windows.push({ stage: index, percent: stage.percent, startMinute: stageStart + prev, endMinute: stageStart + t, stageStartMinute: stageStart });
      prev = t;
    }
    windows.push({ stage: index, percent: stage.percent, startMinute: stageStart + prev, endMinute: stageStart + hold, stageStartMinute: stageStart });
    stageStart += hold;
  });
  return windows;
}
