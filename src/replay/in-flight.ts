/**
 * The replay's cap on requests in flight (`--concurrency`), one count for every task and worker.
 *
 * A worker runs two batches at once, and each used to get its share of the cap: `--concurrency 1`
 * sent two requests at a time, and a batch running alone near the end of a replay sent half as
 * many as asked. The count lives in the replay's shared control buffer; a request takes a slot
 * once due, and gives it back when answered.
 */

/** Slot of the control buffer that counts requests in flight (CONTROL.inFlight in replay.ts). */
export const IN_FLIGHT_SLOT = 5;

/** Atomics.waitAsync, in V8 since Node 16 (TypeScript declares it from lib ES2024, past this build's ES2022). */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, index: number, value: number, timeout: number): { async: boolean; value: unknown } }).waitAsync;

/** Longest wait between looks at the stop flag while waiting for a slot held by another worker. */
const SHARED_POLL_MS = 50;

export class InFlight {
  /** Loops of this thread waiting for a slot, when no other thread can free one. */
  private readonly waiters: (() => void)[] = [];

  /**
   * @param control the replay's shared Int32 control slots
   * @param limit requests in flight at most, over the whole replay
   * @param shared whether other threads take slots too (several workers): then a slot freed
   *   elsewhere is watched for with Atomics.waitAsync; alone, a freed slot is handed over here.
   */
  constructor(
    private readonly control: Int32Array,
    private readonly limit: number,
    private readonly shared: boolean,
  ) {}

  /** Takes a slot if one is free now, without a promise (the usual case below the cap). */
  tryTake(): boolean {
    for (;;) {
      const now = Atomics.load(this.control, IN_FLIGHT_SLOT);
      if (now >= this.limit) return false;
      if (Atomics.compareExchange(this.control, IN_FLIGHT_SLOT, now, now + 1) === now) return true;
    }
  }

  /** Takes a slot, waiting for one; false, without one, once `stopped()`. */
  async take(stopped: () => boolean): Promise<boolean> {
    for (;;) {
      if (stopped()) {
        // Every loop waiting here is to give up too: one given slot wakes one waiter only.
        for (const wake of this.waiters.splice(0)) wake();
        return false;
      }
      const now = Atomics.load(this.control, IN_FLIGHT_SLOT);
      if (now < this.limit) {
        if (Atomics.compareExchange(this.control, IN_FLIGHT_SLOT, now, now + 1) === now) return true;
        continue;
      }
      if (this.shared) {
        const w = waitAsync(this.control, IN_FLIGHT_SLOT, now, SHARED_POLL_MS);
        if (w.async) await w.value;
      } else {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    }
  }

  /** Gives a slot back (exactly once per slot taken). */
  give(): void {
    Atomics.sub(this.control, IN_FLIGHT_SLOT, 1);
    if (this.shared) Atomics.notify(this.control, IN_FLIGHT_SLOT, 1);
    else this.waiters.shift()?.();
  }
}
