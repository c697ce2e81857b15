import { describe, expect, it } from 'vitest';
import { type MetricNeeds, QUANTILE_PROBS } from '../../src/gates/window.js';
import { StagePool, StageSamples } from '../../src/sim/stage-pool.js';
import { quantileSorted } from '../../src/stats/quantile.js';
import { Rng } from '../../src/stats/random.js';

// CONTINUOUS_METRICS order: latency_ms 0, ttft_ms 1, output_tokens 2, input_tokens 3, cost_usd 4.
const LAT = 0, OUT = 2;

/** Latency: p99 read (quantiles only); output tokens: a KS test (needs the sorted pool). */
function needs(): MetricNeeds {
  const f = () => [false, false, false, false, false];
  const n: MetricNeeds = { sorted: f(), tests: f(), quantiles: [0, 1, 2, 3, 4].map(() => QUANTILE_PROBS.map(() => false)), means: f(), mannWhitney: f(), ks: f() };
  n.sorted[LAT] = true;
  n.quantiles[LAT]![3] = true;
  n.sorted[OUT] = n.tests[OUT] = n.ks[OUT] = true;
  return n;
}

const rng = Rng.forRun(5, 0, 'stage-pool');
const window = (n: number, round: boolean) => Float64Array.from({ length: n }, () => (round ? Math.max(1, Math.round(Math.exp(5 + 0.7 * rng.normal()))) : Math.exp(6.7 + 0.69 * rng.normal())));

describe('StagePool', () => {
  it('merges sorted windows into one sorted pool, and empties on reset', () => {
    const pool = new StagePool();
    const all: number[] = [];
    for (const n of [3, 0, 700, 1, 2500]) {
      const w = window(n, true).sort();
      all.push(...w);
      pool.merge(w, n);
      expect(Array.from(pool.sorted.subarray(0, pool.len))).toEqual(Array.from(Float64Array.from(all).sort()));
    }
    pool.reset();
    expect(pool.len).toBe(0);
  });
});

describe('StageSamples', () => {
  it('keeps a tested metric as a sorted pool (every quantile), a read quantile by brackets (that one alone), nothing else', () => {
    const s = new StageSamples(needs());
    expect([0, 1, 2, 3, 4].map((k) => s.keeps(k))).toEqual([true, false, true, false, false]);
    expect(s.mergesSorted(LAT)).toBe(false);
    expect(s.mergesSorted(OUT)).toBe(true);
    const lat: number[] = [], out: number[] = [];
    const q = new Float64Array(5);
    for (let stage = 0; stage < 2; stage++) {
      s.reset();
      lat.length = out.length = 0;
      for (const n of [40, 900, 3000, 2000]) {
        const l = window(n, false), o = window(n, true).sort();
        lat.push(...l);
        out.push(...o);
        s.add(LAT, l, n);
        s.add(OUT, o, n);
        const sortedLat = Float64Array.from(lat).sort(), sortedOut = Float64Array.from(out).sort();
        s.writeQuantiles(LAT, q, 0);
        // Only p99 is read: exactly the sorted pool's, the rest NaN.
        expect(q[3]).toBe(quantileSorted(sortedLat, sortedLat.length, 0.99));
        for (const i of [0, 1, 2, 4]) expect(q[i]).toBeNaN();
        s.writeQuantiles(OUT, q, 0);
        QUANTILE_PROBS.forEach((p, i) => expect(q[i]).toBe(quantileSorted(sortedOut, sortedOut.length, p)));
        const pool = s.sorted(OUT);
        expect(pool.len).toBe(out.length);
        expect(Array.from(pool.values.subarray(0, pool.len))).toEqual(Array.from(sortedOut));
      }
    }
    // A metric nobody reads writes NaN.
    s.writeQuantiles(1, q, 0);
    expect(Array.from(q).every(Number.isNaN)).toBe(true);
  });

  it('keeps nothing without stage needs', () => {
    const s = new StageSamples(null);
    expect([0, 1, 2, 3, 4].some((k) => s.keeps(k))).toBe(false);
  });
});
