import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TargetRequest } from '../../src/targets/target.js';
import {
  MAX_TIMER_MS,
  abortOutcome,
  costUsd,
  describeTimeout,
  durationMs,
  longTimeout,
  parseRetryAfter,
  parseTimeout,
  sleep,
  timeoutFor,
} from '../../src/targets/timing.js';

function request(latency_ms: number | null): TargetRequest {
  return { request_id: 'r1', timestamp_ms: 0, input: null, input_tokens: 10, output_tokens: 20, latency_ms, model: null };
}

describe('durationMs', () => {
  it('converts durations to milliseconds', () => {
    // 1 minute + 30 seconds = 90 s.
    expect(durationMs('1m30s')).toBeCloseTo(90_000, 6);
    expect(durationMs('250ms')).toBeCloseTo(250, 6);
    expect(durationMs('1.5s')).toBeCloseTo(1_500, 6);
    // 2 hours = 7_200 s.
    expect(durationMs('2h')).toBeCloseTo(7_200_000, 6);
    expect(durationMs('1d')).toBeCloseTo(86_400_000, 6);
  });
});

describe('parseTimeout', () => {
  it('takes a number as fixed milliseconds and a duration as fixed', () => {
    expect(parseTimeout(2500, '1s', '60s')).toEqual({ kind: 'fixed', ms: 2500 });
    const t = parseTimeout('30s', '1s', '60s');
    expect(t.kind).toBe('fixed');
    expect(t.kind === 'fixed' && t.ms).toBeCloseTo(30_000, 6);
  });

  it('takes `3x` as a multiple of the baseline latency, with the floor and fallback in ms', () => {
    const t = parseTimeout('3x', '500ms', '2m');
    expect(t.kind).toBe('multiple');
    if (t.kind !== 'multiple') return;
    expect(t.factor).toBe(3);
    expect(t.floorMs).toBeCloseTo(500, 6);
    expect(t.fallbackMs).toBeCloseTo(120_000, 6);
    // Decimal factors and surrounding whitespace are accepted.
    const u = parseTimeout(' 2.5 x ', '1s', '1m');
    expect(u.kind === 'multiple' && u.factor).toBe(2.5);
  });
});

describe('timeoutFor', () => {
  it('gives the fixed timeout whatever the request', () => {
    const spec = { kind: 'fixed', ms: 1234 } as const;
    expect(timeoutFor(spec, request(10))).toBe(1234);
    expect(timeoutFor(spec, request(null))).toBe(1234);
  });

  it('scales the baseline latency, never below the floor', () => {
    const spec = { kind: 'multiple', factor: 3, floorMs: 500, fallbackMs: 60_000 } as const;
    // 3 × 1_000 = 3_000 above the floor.
    expect(timeoutFor(spec, request(1_000))).toBe(3_000);
    // 3 × 100 = 300 is below the 500 floor.
    expect(timeoutFor(spec, request(100))).toBe(500);
    // A zero latency is a valid one: the floor.
    expect(timeoutFor(spec, request(0))).toBe(500);
  });

  it('falls back when the baseline latency is missing or unusable', () => {
    const spec = { kind: 'multiple', factor: 3, floorMs: 500, fallbackMs: 60_000 } as const;
    for (const latency of [null, NaN, -5, Infinity]) expect(timeoutFor(spec, request(latency))).toBe(60_000);
  });
});

describe('describeTimeout', () => {
  it('prints whole seconds as seconds, long ones to a tenth, short ones in milliseconds', () => {
    expect(describeTimeout(5_000)).toBe('5s');
    expect(describeTimeout(60_000)).toBe('60s');
    expect(describeTimeout(1_000)).toBe('1s');
    expect(describeTimeout(1_500)).toBe('1500ms');
    expect(describeTimeout(250)).toBe('250ms');
    // Rounded to whole milliseconds below 10 s.
    expect(describeTimeout(999.6)).toBe('1000ms');
    // 12_345 ms → 12.345 s → one decimal: 12.3.
    expect(describeTimeout(12_345)).toBe('12.3s');
    // 10_001 ms → 10.0 s to a tenth → printed without the trailing zero.
    expect(describeTimeout(10_001)).toBe('10s');
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves true at once for zero, negative or NaN waits', async () => {
    await expect(sleep(0)).resolves.toBe(true);
    await expect(sleep(-10)).resolves.toBe(true);
    await expect(sleep(NaN)).resolves.toBe(true);
  });

  it('resolves false at once for an already-aborted signal', async () => {
    const c = new AbortController();
    c.abort();
    await expect(sleep(10_000, c.signal)).resolves.toBe(false);
  });

  it('resolves true only once the time has passed', async () => {
    vi.useFakeTimers();
    let done: boolean | undefined;
    void sleep(1_000).then((v) => (done = v));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('resolves false as soon as the signal aborts, and then never flips', async () => {
    vi.useFakeTimers();
    const c = new AbortController();
    let done: boolean | undefined;
    void sleep(10_000, c.signal).then((v) => (done = v));
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toBeUndefined();
    c.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(done).toBe(false);
    // The timer was cleared, not left pending.
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('waits longer than one timer can take', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // The fake timers run a delay over 2^31 − 1 ms after 1 ms, as Node does: a single setTimeout
  // would end these waits at once.
  it('sleep waits the whole time, in steps', async () => {
    vi.useFakeTimers();
    let done: boolean | undefined;
    void sleep(2 * MAX_TIMER_MS + 10).then((v) => (done = v));
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(done).toBeUndefined();
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 9);
    expect(done).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('an abort in a later step ends the sleep and leaves no timer behind', async () => {
    vi.useFakeTimers();
    const c = new AbortController();
    let done: boolean | undefined;
    void sleep(3 * MAX_TIMER_MS, c.signal).then((v) => (done = v));
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 5);
    c.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('longTimeout fires once, on time, and cancel() stops it in any step', async () => {
    vi.useFakeTimers();
    let fired = 0;
    longTimeout(() => fired++, MAX_TIMER_MS + 1);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toBe(1);
    const t = longTimeout(() => fired++, 2 * MAX_TIMER_MS);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 1);
    t.cancel();
    await vi.advanceTimersByTimeAsync(2 * MAX_TIMER_MS);
    expect(fired).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds, leniently with a fraction, and the first of several headers', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter(' 7 ')).toBe(7_000);
    expect(parseRetryAfter('1.5')).toBe(1_500);
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter(['2', '5'])).toBe(2_000);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    // 07:28:00 GMT is 30 s after 07:27:30 GMT on the same day.
    const now = Date.UTC(2015, 9, 21, 7, 27, 30);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(30_000);
    // A date already past: wait 0.
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now + 60_000)).toBe(0);
  });

  it('is null when absent, blank or unreadable', () => {
    expect(parseRetryAfter(undefined)).toBeNull();
    expect(parseRetryAfter('')).toBeNull();
    expect(parseRetryAfter('   ')).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter([])).toBeNull();
  });
});

describe('abortOutcome', () => {
  it('calls a TimeoutError reason a timeout, with its message', () => {
    const c = new AbortController();
    c.abort(new DOMException('the 200ms budget ran out', 'TimeoutError'));
    expect(abortOutcome(c.signal)).toEqual({ status: 'timeout', error: 'timeout (the 200ms budget ran out)' });
    const d = new AbortController();
    d.abort({ name: 'TimeoutError' });
    expect(abortOutcome(d.signal)).toEqual({ status: 'timeout', error: 'timeout (aborted by the caller)' });
  });

  it('calls any other reason an error, with its message when it has one', () => {
    const c = new AbortController();
    c.abort(new Error('replay interrupted'));
    expect(abortOutcome(c.signal)).toEqual({ status: 'error', error: 'aborted: replay interrupted' });
    const d = new AbortController();
    d.abort('just a string');
    expect(abortOutcome(d.signal)).toEqual({ status: 'error', error: 'aborted' });
    // The default reason (an AbortError) is not a timeout.
    const e = new AbortController();
    e.abort();
    expect(abortOutcome(e.signal).status).toBe('error');
  });
});

describe('costUsd', () => {
  const price = { input_per_million: 0.5, output_per_million: 1.5 };

  it('prices tokens per million, times the multiplier', () => {
    // (1_000 × 0.5 + 300 × 1.5) / 1e6 = (500 + 450) / 1e6.
    expect(costUsd(price, 1_000, 300)).toBeCloseTo(950e-6, 15);
    // × 1.4: 1_330 / 1e6.
    expect(costUsd(price, 1_000, 300, 1.4)).toBeCloseTo(1_330e-6, 15);
    expect(costUsd(price, 0, 0)).toBe(0);
  });

  it('is null without a price or a token count', () => {
    expect(costUsd(undefined, 1_000, 300)).toBeNull();
    expect(costUsd(null, 1_000, 300)).toBeNull();
    expect(costUsd(price, null, 300)).toBeNull();
    expect(costUsd(price, 1_000, null)).toBeNull();
  });
});
