import { durationMinutes } from '../config/load.js';
import type { TargetRequest } from './target.js';

/** Timeouts, waits and Retry-After, shared by the HTTP and module targets and the stub. */

/** `1m30s` → 90000. The schema has already checked the form. */
export function durationMs(text: string): number {
  return durationMinutes(text) * 60_000;
}

export type TimeoutSpec = { kind: 'fixed'; ms: number } | { kind: 'multiple'; factor: number; floorMs: number; fallbackMs: number };

/** A `timeout` field (milliseconds, a duration or `3x`) with its floor and fallback. */
export function parseTimeout(value: number | string, floor: string, fallback: string): TimeoutSpec {
  if (typeof value === 'number') return { kind: 'fixed', ms: value };
  const m = /^\s*(\d+(?:\.\d+)?)\s*x\s*$/.exec(value);
  if (m) return { kind: 'multiple', factor: Number(m[1]), floorMs: durationMs(floor), fallbackMs: durationMs(fallback) };
  return { kind: 'fixed', ms: durationMs(value) };
}

/** The timeout of one request in milliseconds. */
export function timeoutFor(spec: TimeoutSpec, req: TargetRequest): number {
  if (spec.kind === 'fixed') return spec.ms;
  if (req.latency_ms === null || !(req.latency_ms >= 0) || !Number.isFinite(req.latency_ms)) return spec.fallbackMs;
  return Math.max(spec.floorMs, spec.factor * req.latency_ms);
}

export function describeTimeout(ms: number): string {
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return ms >= 10_000 ? `${+(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}

/**
 * The longest delay setTimeout honours: 2^31 − 1 ms, about 24.8 days. Node runs a longer one
 * after 1 ms (with a TimeoutOverflowWarning), so a huge timeout or latency would end at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A pending {@link longTimeout}. */
export interface LongTimer {
  cancel(): void;
}

/**
 * setTimeout for any delay: one beyond {@link MAX_TIMER_MS} is waited in steps of at most that.
 * The steps are counted rather than timed with a clock, so fake timers drive it as they drive
 * setTimeout. An infinite delay never fires; NaN or a negative one fires on the next turn.
 */
export function longTimeout(fn: () => void, ms: number): LongTimer {
  let left = ms;
  let timer: NodeJS.Timeout;
  const arm = () => {
    // NaN or a negative delay fires on the next turn, as setTimeout would (but without its warning).
    const step = left > 0 ? Math.min(left, MAX_TIMER_MS) : 0;
    left -= step;
    timer = setTimeout(wake, step);
  };
  const wake = () => (left > 0 ? arm() : fn());
  arm();
  return { cancel: () => clearTimeout(timer) };
}

/** Waits `ms` (however long: {@link longTimeout}); resolves true when the time passed, false as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (!(ms > 0)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      timer.cancel();
      resolve(false);
    };
    const timer = longTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A Retry-After header in milliseconds: delay-seconds (`120`, leniently `1.5`) or an HTTP date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`, measured from `now`, at least 0). null when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return null;
  const t = v.trim();
  if (t === '') return null;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const date = Date.parse(t);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

/** `retry-after-ms` (Azure OpenAI and OpenAI send it beside Retry-After): milliseconds, or null. */
export function parseRetryAfterMs(value: string | string[] | undefined): number | null {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  return v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Number(v) : null;
}

/** Why a call ended early, when an outside signal aborted it: a TimeoutError reason is a timeout. */
export function abortOutcome(signal: AbortSignal): { status: 'timeout' | 'error'; error: string } {
  const reason = signal.reason as { name?: string; message?: string } | undefined;
  if (reason && reason.name === 'TimeoutError') return { status: 'timeout', error: `timeout (${reason.message ?? 'aborted by the caller'})` };
  return { status: 'error', error: `aborted${reason?.message ? `: ${reason.message}` : ''}` };
}

/** (in·input + out·output) / 1e6 USD; null when a count or the price is missing. */
export function costUsd(
  price: { input_per_million: number; output_per_million: number } | undefined | null,
  inputTokens: number | null,
  outputTokens: number | null,
  multiplier = 1,
): number | null {
  if (!price || inputTokens === null || outputTokens === null) return null;
  return ((inputTokens * price.input_per_million + outputTokens * price.output_per_million) * multiplier) / 1e6;
}
