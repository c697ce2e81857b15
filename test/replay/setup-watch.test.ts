import { describe, expect, it } from 'vitest';
import { IN_FLIGHT_SLOT } from '../../src/replay/in-flight.js';
import {
  CLEARED,
  PAUSED,
  REACHED_SLOT,
  SETUP_STATE_SLOT,
  SETUP_STOPPED,
  STOP_SLOT,
  WATCHING,
  maySendNow,
  mayStillSend,
  noteAnswer,
  noteReached,
  setupStopped,
} from '../../src/replay/setup-watch.js';

const controls = () => new Int32Array(new SharedArrayBuffer(4 * 8));
const fault = (c: Int32Array, reason = 'connection refused (connect ECONNREFUSED 127.0.0.1:1)', n = 1) => {
  for (let i = 0; i < n; i++) noteAnswer(c, true, reason, 10);
};

describe('the setup watch', () => {
  it('stops once 10 answers failed in the setup for one reason, none from a model, and none is still out', async () => {
    const c = controls();
    fault(c, undefined, 9);
    expect(c[SETUP_STATE_SLOT]).toBe(WATCHING);
    expect(maySendNow(c)).toBe(true);
    expect(await mayStillSend(c)).toBe(true);
    fault(c);
    expect(c[SETUP_STATE_SLOT]).toBe(PAUSED);
    // Paused: only the awaited check can decide.
    expect(maySendNow(c)).toBe(null);
    expect(await mayStillSend(c)).toBe(false);
    expect(maySendNow(c)).toBe(false);
    expect(setupStopped(c)).toBe(true);
    expect(c[STOP_SLOT]).toBe(1);
  });

  it('paused, lets the answers in flight decide: one from a model ends the watch, and sending goes on', async () => {
    const c = controls();
    fault(c, undefined, 10);
    // A slow request is still out when the tenth fast fault lands.
    c[IN_FLIGHT_SLOT] = 1;
    const waiting = mayStillSend(c);
    await new Promise((resolve) => setTimeout(resolve, 20));
    noteAnswer(c, false, null, 10);
    Atomics.sub(c, IN_FLIGHT_SLOT, 1);
    expect(await waiting).toBe(true);
    expect(c[SETUP_STATE_SLOT]).toBe(CLEARED);
    // Over for good: more faults no longer pause.
    fault(c, undefined, 30);
    expect(c[SETUP_STATE_SLOT]).toBe(CLEARED);
    expect(c[STOP_SLOT]).toBe(0);
  });

  it('never watches past a model\'s answer, and faults for different reasons are requests failing one by one', async () => {
    const answered = controls();
    noteAnswer(answered, false, null, 10);
    fault(answered, undefined, 20);
    expect([answered[SETUP_STATE_SLOT], answered[REACHED_SLOT]]).toEqual([CLEARED, 1]);
    const virtual = controls();
    noteReached(virtual, 2048);
    fault(virtual, undefined, 20);
    expect(virtual[SETUP_STATE_SLOT]).toBe(CLEARED);
    const mixed = controls();
    fault(mixed, 'HTTP 404: The model retired does not exist', 9);
    fault(mixed, 'HTTP 404: The model gpt-3.5-turbo-0301 does not exist', 1);
    expect(mixed[SETUP_STATE_SLOT]).toBe(CLEARED);
    expect(await mayStillSend(mixed)).toBe(true);
  });

  it('a threshold of 0 never stops; a stop flag (Ctrl-C) always does', async () => {
    const c = controls();
    for (let i = 0; i < 50; i++) noteAnswer(c, true, 'HTTP 401: bad key', 0);
    expect(await mayStillSend(c)).toBe(true);
    expect(maySendNow(c)).toBe(true);
    c[STOP_SLOT] = 1;
    expect(await mayStillSend(c)).toBe(false);
    expect(maySendNow(c)).toBe(false);
    expect(setupStopped(c)).toBe(false);
  });
});
