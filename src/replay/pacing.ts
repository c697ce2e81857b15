/**
 * When each request is sent, relative to the start of the replay. Pure, so every worker computes
 * its own requests' send times from the shared start instant and the pacing needs no messages.
 */
export type Pacing =
  | { kind: 'max' }
  | { kind: 'speed'; factor: number }
  | { kind: 'rate'; perSecond: number };

/**
 * Milliseconds after the start at which the request at `index` (0-based, in trace order) with
 * trace time `timestampMs` is due; the trace's first request has time `firstMs`.
 */
export function dueOffsetMs(p: Pacing, index: number, timestampMs: number, firstMs: number): number {
  switch (p.kind) {
    case 'max':
      return 0;
    case 'speed':
      return Math.max(0, (timestampMs - firstMs) / p.factor);
    case 'rate':
      return (index / p.perSecond) * 1000;
  }
}

export function describePacing(p: Pacing): string {
  switch (p.kind) {
    case 'max':
      return 'as fast as the concurrency allows';
    case 'speed':
      return `the trace's own arrival gaps, ${p.factor}× faster`;
    case 'rate':
      return `${p.perSecond} requests per second`;
  }
}

/** How late a paced request may go out before it counts as late: the pace asked was not kept. */
export const PACE_SLACK_MS = 1000;
