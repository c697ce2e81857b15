import { describe, expect, it } from 'vitest';
import { checkSchedule } from '../../src/sim/ladder.js';

describe('checkSchedule', () => {
  it('checks every interval of each stage, with a shorter last window off the grid, and none on a last stage without hold', () => {
    const w = checkSchedule(
      [
        { percent: 1, holdMinutes: 12 },
        { percent: 5, holdMinutes: 10 },
        { percent: 100, holdMinutes: null },
      ],
      5,
    );
    expect(w.map((x) => [x.stage, x.percent, x.startMinute, x.endMinute, x.stageStartMinute])).toEqual([
      [0, 1, 0, 5, 0],
      [0, 1, 5, 10, 0],
      [0, 1, 10, 12, 0],
      [1, 5, 12, 17, 12],
      [1, 5, 17, 22, 12],
    ]);
  });

  it('gives the default ladder 6 + 24 + 48 checks', () => {
    const w = checkSchedule(
      [
        { percent: 1, holdMinutes: 30 },
        { percent: 5, holdMinutes: 120 },
        { percent: 25, holdMinutes: 240 },
        { percent: 100, holdMinutes: null },
      ],
      5,
    );
    expect(w).toHaveLength(78);
    expect(w.at(-1)!.endMinute).toBe(390);
  });

  it('checks a last stage that has a hold, and a hold shorter than the interval once', () => {
    const w = checkSchedule([{ percent: 50, holdMinutes: 3 }], 5);
    expect(w).toEqual([{ stage: 0, percent: 50, startMinute: 0, endMinute: 3, stageStartMinute: 0 }]);
  });
});
