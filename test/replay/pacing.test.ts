import { describe, expect, it } from 'vitest';
import { type Pacing, describePacing, dueOffsetMs } from '../../src/replay/pacing.js';

describe('dueOffsetMs', () => {
  it('sends everything at once under max pacing, whatever the index or trace time', () => {
    const p: Pacing = { kind: 'max' };
    expect(dueOffsetMs(p, 0, 0, 0)).toBe(0);
    expect(dueOffsetMs(p, 12_345, 1_700_000_000_000, 1_600_000_000_000)).toBe(0);
  });

  it('replays the trace clock divided by the speed factor', () => {
    // Epoch-millisecond timestamps: the first request at 1_700_000_000_000.
    const first = 1_700_000_000_000;
    // Real time (factor 1): 90 s after the first request is due 90_000 ms after the start.
    expect(dueOffsetMs({ kind: 'speed', factor: 1 }, 7, first + 90_000, first)).toBe(90_000);
    // 4× faster: 90_000 / 4 = 22_500.
    expect(dueOffsetMs({ kind: 'speed', factor: 4 }, 7, first + 90_000, first)).toBe(22_500);
    // Half speed (factor 0.5) stretches the gaps: 3_000 / 0.5 = 6_000.
    expect(dueOffsetMs({ kind: 'speed', factor: 0.5 }, 1, first + 3_000, first)).toBe(6_000);
    // The first request itself is due at once.
    expect(dueOffsetMs({ kind: 'speed', factor: 4 }, 0, first, first)).toBe(0);
  });

  it('works with numeric offsets as timestamps and ignores the index under speed pacing', () => {
    // Offsets in milliseconds from 250: request at 1_250 is 1_000 ms in, ×2 faster → 500.
    expect(dueOffsetMs({ kind: 'speed', factor: 2 }, 0, 1_250, 250)).toBe(500);
    expect(dueOffsetMs({ kind: 'speed', factor: 2 }, 999, 1_250, 250)).toBe(500);
  });

  it('never schedules before the start when a request is earlier than the first (out-of-order trace)', () => {
    expect(dueOffsetMs({ kind: 'speed', factor: 2 }, 3, 1_000, 5_000)).toBe(0);
  });

  it('spaces requests evenly at a fixed rate, by index alone', () => {
    // 4 requests per second: request k is due at k × 250 ms.
    const p: Pacing = { kind: 'rate', perSecond: 4 };
    expect(dueOffsetMs(p, 0, 9e12, 0)).toBe(0);
    expect(dueOffsetMs(p, 1, 0, 0)).toBe(250);
    expect(dueOffsetMs(p, 10, 123, 456)).toBe(2_500);
    // A fractional rate: 0.5 per second is one request every 2 s; request 3 at 6_000 ms.
    expect(dueOffsetMs({ kind: 'rate', perSecond: 0.5 }, 3, 0, 0)).toBe(6_000);
  });

  it('gives non-decreasing offsets for a sorted trace under every pacing', () => {
    const times = [0, 10, 10, 35, 1_000, 1_001];
    for (const p of [{ kind: 'max' }, { kind: 'speed', factor: 3 }, { kind: 'rate', perSecond: 7 }] as Pacing[]) {
      const due = times.map((t, i) => dueOffsetMs(p, i, t, times[0]!));
      for (let i = 1; i < due.length; i++) expect(due[i]!).toBeGreaterThanOrEqual(due[i - 1]!);
    }
  });
});

describe('describePacing', () => {
  it('says in words how requests are paced', () => {
    expect(describePacing({ kind: 'max' })).toBe('as fast as the concurrency allows');
    expect(describePacing({ kind: 'speed', factor: 10 })).toBe("the trace's own arrival gaps, 10× faster");
    expect(describePacing({ kind: 'rate', perSecond: 2.5 })).toBe('2.5 requests per second');
  });
});
