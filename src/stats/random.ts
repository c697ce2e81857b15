import seedrandom from 'seedrandom';
import { normalTail, zigguratTables } from './ziggurat.js';

/**
 * The random stream of one simulated run.
 *
 * xoshiro128** keeps the hot loop in 32-bit integer arithmetic, which V8 compiles to a few
 * instructions; seedrandom's ARC4 only expands the (seed, run) key into the initial state, so a
 * run's stream depends on that key alone and never on which worker or batch drew it.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(key: string) {
    const arc4 = seedrandom(key);
    this.s0 = arc4.int32() | 0;
    this.s1 = arc4.int32() | 0;
    this.s2 = arc4.int32() | 0;
    this.s3 = arc4.int32() | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /**
   * A stream from four 32-bit state words (not all zero), for callers that derive the state
   * themselves from a fast hash instead of seedrandom's key expansion (one stream per request).
   */
  static fromState(s0: number, s1: number, s2: number, s3: number): Rng {
    const r = Object.create(Rng.prototype) as Rng;
    r.s0 = s0 | 0;
    r.s1 = s1 | 0;
    r.s2 = s2 | 0;
    r.s3 = s3 | 0;
    if ((r.s0 | r.s1 | r.s2 | r.s3) === 0) r.s0 = 1;
    return r;
  }

  /**
   * Stream `i` derived from this one's present state, which it leaves as it is: a caller can give
   * parts of a run their own streams without moving the draws that follow in this one. Each state
   * word goes through murmur3's finaliser (a bijection) mixed with `i`, so the derived states are
   * as good as random and differ for every `i`.
   */
  derive(i: number): Rng {
    const k = Math.imul(i + 1, 0x9e3779b9);
    return Rng.fromState(fmix32(this.s0 ^ k), fmix32(this.s1 + k), fmix32(this.s2 ^ rotl(k, 13)), fmix32(this.s3 - rotl(k, 7)));
  }

  /** The stream of run `run` of a scenario seeded with `seed`. */
  static forRun(seed: number, run: number, purpose = 'run'): Rng {
    return new Rng(`rehearse:${purpose}:${seed}:${run}`);
  }

  nextUint32(): number {
    const s0 = this.s0, s1 = this.s1, s2 = this.s2 ^ s0, s3 = this.s3 ^ s1;
    // Each field written once from locals: re-reading fields mid-step costs more than the step.
    this.s0 = s0 ^ s3;
    this.s1 = s1 ^ s2;
    this.s2 = s2 ^ (s1 << 9);
    this.s3 = rotl(s3, 11);
    return Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
  }

  /**
   * Fills out[0, n) with the stream's next n 32-bit draws (as nextUint32 would return them),
   * stepping the generator with its state in locals: a hot loop that reads raw draws from a
   * buffer pays about a third of what a method call per draw costs.
   */
  fillUint32(out: Uint32Array, n = out.length): void {
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    for (let i = 0; i < n; i++) {
      const x = Math.imul(s1, 5);
      out[i] = Math.imul((x << 7) | (x >>> 25), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** Uniform in the open interval (0, 1): never 0, so log(u) is always finite. */
  uniform(): number {
    return (this.nextUint32() + 0.5) * 2.3283064365386963e-10;
  }

  /**
   * Standard normal by the ziggurat method (Marsaglia & Tsang 2000, 128 layers). The layer index
   * comes from its own 32-bit draw rather than the low bits of the value's draw, which avoids the
   * correlation Doornik (2005) found in the original. About 97% of calls take the fast path: two
   * integer draws, a compare and a multiply, with no logarithm.
   */
  normal(): number {
    for (;;) {
      const iz = this.nextUint32() & 127;
      const hz = this.nextUint32() | 0;
      if (Math.abs(hz) < KN[iz]!) return hz * WN[iz]!;
      const x = hz * WN[iz]!;
      if (iz === 0) return normalTail(this, ZIG_R, hz > 0);
      if (FN[iz]! + this.uniform() * (FN[iz - 1]! - FN[iz]!) < Math.exp(-0.5 * x * x)) return x;
    }
  }

  /** Poisson(lambda): inversion for small means, Hörmann's PTRS (as numpy does) above 10. */
  poisson(lambda: number): number {
    if (!(lambda > 0)) return 0;
    if (lambda < 10) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let prod = this.uniform();
      while (prod > limit) {
        k++;
        prod *= this.uniform();
      }
      return k;
    }
    const slam = Math.sqrt(lambda);
    const loglam = Math.log(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const U = this.uniform() - 0.5;
      const V = this.uniform();
      const us = 0.5 - Math.abs(U);
      const k = Math.floor(((2 * a) / us + b) * U + lambda + 0.43);
      if (us >= 0.07 && V <= vr) return k;
      if (k < 0 || (us < 0.013 && V > us)) continue;
      if (Math.log(V) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logGamma(k + 1)) {
        return k;
      }
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error below 1e-13). */
/** murmur3's 32-bit finaliser: a bijection that mixes every input bit into every output bit. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** z such that Φ(z) = 0.99: the lognormal through p50 and p99 has σ = ln(p99/p50) / Z99. */
export const Z99 = 2.3263478740408408;

/** Ziggurat tables for 128 layers (Marsaglia & Tsang 2000). */
const ZIG_R = 3.442619855899;
const { k: KN, w: WN, f: FN } = zigguratTables(128, ZIG_R, 9.91256303526217e-3);
