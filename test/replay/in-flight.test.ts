import { describe, expect, it } from 'vitest';
import { IN_FLIGHT_SLOT, InFlight } from '../../src/replay/in-flight.js';

const tick = (ms = 1) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `loops` loops of `rounds` requests each, through `slots` (one InFlight per simulated worker): the
 * peak in flight. Every other loop first tries for a free slot without waiting, as the worker does.
 */
async function drive(slots: InFlight[], loops: number, rounds: number): Promise<{ peak: number; sent: number }> {
  let now = 0, peak = 0, sent = 0;
  await Promise.all(
    Array.from({ length: loops }, async (_, k) => {
      const f = slots[k % slots.length]!;
      for (let r = 0; r < rounds; r++) {
        expect((k % 2 === 0 && f.tryTake()) || (await f.take(() => false))).toBe(true);
        peak = Math.max(peak, ++now);
        sent++;
        await tick(1 + ((k + r) % 3));
        now--;
        f.give();
      }
    }),
  );
  return { peak, sent };
}

describe('the replay\'s count of requests in flight', () => {
  it('never lets more than the limit out, and reaches it, however many loops ask', async () => {
    for (const limit of [1, 3, 8]) {
      const control = new Int32Array(new SharedArrayBuffer(4 * 6));
      const { peak, sent } = await drive([new InFlight(control, limit, false)], 20, 5);
      expect(peak).toBe(limit);
      expect(sent).toBe(100);
      expect(control[IN_FLIGHT_SLOT]).toBe(0);
    }
  });

  it('takes a free slot at once without a promise, and none at the limit', () => {
    const control = new Int32Array(new SharedArrayBuffer(4 * 6));
    const f = new InFlight(control, 2, false);
    expect([f.tryTake(), f.tryTake(), f.tryTake()]).toEqual([true, true, false]);
    expect(control[IN_FLIGHT_SLOT]).toBe(2);
    f.give();
    expect(f.tryTake()).toBe(true);
    expect(control[IN_FLIGHT_SLOT]).toBe(2);
  });

  it('shared between workers (one count, Atomics.waitAsync), the limit holds over all of them', async () => {
    const control = new Int32Array(new SharedArrayBuffer(4 * 6));
    const workers = [new InFlight(control, 3, true), new InFlight(control, 3, true)];
    const { peak, sent } = await drive(workers, 10, 6);
    expect(peak).toBe(3);
    expect(sent).toBe(60);
    expect(control[IN_FLIGHT_SLOT]).toBe(0);
  });

  it('once stopped, every loop waiting for a slot gives up, none left hanging', async () => {
    for (const shared of [false, true]) {
      const control = new Int32Array(new SharedArrayBuffer(4 * 6));
      const f = new InFlight(control, 1, shared);
      let stopped = false;
      expect(await f.take(() => stopped)).toBe(true);
      const waiting = Array.from({ length: 4 }, () => f.take(() => stopped));
      await tick(5);
      stopped = true;
      f.give();
      // The freed slot goes to none of them: a request due before the stop is not sent after it.
      expect(await Promise.all(waiting)).toEqual([false, false, false, false]);
      expect(control[IN_FLIGHT_SLOT]).toBe(0);
    }
  });
});
