import { IN_FLIGHT_SLOT } from './in-flight.js';

/**
 * Whether a replay's first answers say its setup is wrong (a URL nobody listens on, a refused key,
 * an unknown model: TargetResponse.setup_fault), shared by every task and worker through the
 * replay's control slots. A wrong setup fails every request of the trace, at its pace, for hours;
 * a healthy replay must never stop for it.
 *
 * Once `threshold` answers failed in the setup, all for one reason, and none came from a model,
 * sending pauses: the answers still in flight decide. If none of them reached a model either, the
 * replay stops (SETUP_STOPPED); if one did, the watch ends and sending resumes (a fast 401 for a
 * few requests must not outrun a slow success). Answers for different reasons end the watch too.
 */

/** Control slots (CONTROL in replay.ts): the stop flag, answers that failed in the setup, answers from a model, the watch, the first fault's reason. */
export const STOP_SLOT = 0;
export const SETUP_FAULTS_SLOT = 3;
export const REACHED_SLOT = 4;
export const SETUP_STATE_SLOT = 6;
export const SETUP_REASON_SLOT = 7;

export const WATCHING = 0;
export const PAUSED = 1;
/** The watch is over: a model answered, or the faults differed. */
export const CLEARED = 2;
export const SETUP_STOPPED = 3;

/** How often a paused loop looks at the answers still out. */
const PAUSE_POLL_MS = 5;

/** A non-zero 32-bit fingerprint of a failure's reason (FNV-1a): faults are compared across threads by it. */
function fingerprint(reason: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < reason.length; i++) h = Math.imul(h ^ reason.charCodeAt(i), 0x01000193);
  return h | 1;
}

/** Records one answer: whether it failed in the setup (and why), or came from a model. */
export function noteAnswer(control: Int32Array, setupFault: boolean, reason: string | null, threshold: number): void {
  if (!setupFault) {
    Atomics.add(control, REACHED_SLOT, 1);
    Atomics.compareExchange(control, SETUP_STATE_SLOT, WATCHING, CLEARED);
    return;
  }
  const faults = Atomics.add(control, SETUP_FAULTS_SLOT, 1) + 1;
  const mine = fingerprint(reason ?? '');
  const first = Atomics.compareExchange(control, SETUP_REASON_SLOT, 0, mine);
  if (first !== 0 && first !== mine) {
    // Two reasons: requests failing one by one (a context limit, one retired model), not a setup.
    Atomics.compareExchange(control, SETUP_STATE_SLOT, WATCHING, CLEARED);
    Atomics.compareExchange(control, SETUP_STATE_SLOT, PAUSED, CLEARED);
    return;
  }
  if (threshold > 0 && faults >= threshold && Atomics.load(control, REACHED_SLOT) === 0) {
    Atomics.compareExchange(control, SETUP_STATE_SLOT, WATCHING, PAUSED);
  }
}

/** Answers every thread of the replay counts as model answers at once (a virtual stub's batch). */
export function noteReached(control: Int32Array, n: number): void {
  Atomics.add(control, REACHED_SLOT, n);
  Atomics.compareExchange(control, SETUP_STATE_SLOT, WATCHING, CLEARED);
}

/** Whether the replay stopped on its setup. */
export function setupStopped(control: Int32Array): boolean {
  return Atomics.load(control, SETUP_STATE_SLOT) === SETUP_STOPPED;
}

/**
 * mayStillSend without a promise, for the usual case: true to send, false once the replay
 * stopped, null while the watch is paused (then await mayStillSend).
 */
export function maySendNow(control: Int32Array): boolean | null {
  if (Atomics.load(control, STOP_SLOT) !== 0) return false;
  const state = Atomics.load(control, SETUP_STATE_SLOT);
  if (state === SETUP_STOPPED) return false;
  return state === PAUSED ? null : true;
}

/**
 * Before a request is sent: true to send it, false once the replay stopped. While the watch is
 * paused it waits for the answers in flight, and the first loop to find none left decides.
 */
export async function mayStillSend(control: Int32Array): Promise<boolean> {
  for (;;) {
    if (Atomics.load(control, STOP_SLOT) !== 0) return false;
    const state = Atomics.load(control, SETUP_STATE_SLOT);
    if (state === SETUP_STOPPED) return false;
    if (state !== PAUSED) return true;
    if (Atomics.load(control, IN_FLIGHT_SLOT) === 0) {
      const verdict = Atomics.load(control, REACHED_SLOT) === 0 ? SETUP_STOPPED : CLEARED;
      if (Atomics.compareExchange(control, SETUP_STATE_SLOT, PAUSED, verdict) === PAUSED && verdict === SETUP_STOPPED) Atomics.store(control, STOP_SLOT, 1);
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, PAUSE_POLL_MS));
  }
}
