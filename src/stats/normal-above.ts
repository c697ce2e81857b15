import { fastExp } from './fast-exp.js';
import type { Rng } from './random.js';
import { normalSf } from './tests.js';
import { exponential } from './ziggurat.js';

/**
 * Where normalAbove pays: its acceptance rate is a·(1 − Φ(a))/φ(a), 0.66 at a = 1 and above 0.87
 * from a = 2.3 (a p99), against ~0.5 at a = 0.67; below this, inversion is cheaper.
 */
export const NORMAL_ABOVE_FROM = 1;

/**
 * A standard normal given Z > a, for a > 0, exactly: Marsaglia's (1964) tail method. X =
 * √(a² + 2E), E a standard exponential, has density x·e^((a² − x²)/2) on (a, ∞) (inversion of that
 * law); accepting it with probability a/X leaves a density ∝ e^(−x²/2) there. E comes from the
 * exponential ziggurat, so a try costs a square root and no logarithm (−2 ln U costs ~16 ns in V8,
 * two thirds of a try), and no normal quantile function, whose tail branch costs a logarithm, a
 * root and two rational polynomials.
 */
export function normalAbove(rng: Rng, a: number): number {
  const a2 = a * a;
  for (;;) {
    const x = Math.sqrt(a2 + 2 * exponential(rng));
    if (rng.uniform() * x < a) return x;
  }
}

/**
 * Z | Z > a for one fixed a, by a ziggurat: for drawing many values above the same cut (the exact
 * engine's split levels), a few times cheaper than normalAbove, whose square root, exponential
 * variate and acceptance test each value pays. Over y = Z − a ≥ 0 the density is proportional to
 * f(y) = e^(−a·y − y²/2), decreasing from f(0) = 1, with inverse f⁻¹(t) = −a + √(a² − 2 ln t) and
 * tail mass ∫_r^∞ f = √(2π)·e^(a²/2)·(1 − Φ(a + r)). The layers are built as Marsaglia & Tsang
 * (2000) build the normal's: LAYERS strips of equal area v, the base strip a rectangle under f(r)
 * plus the tail beyond r, with r found by bisection so that the top strip closes at f(0). A draw
 * takes a layer (its own 8 bits) and a 32-bit position: inside the next strip's width it is
 * accepted at once (~99% of draws); else the wedge is tested against f, or for the base strip the
 * tail Z | Z > a + r comes from normalAbove. Exact as the ziggurat is: the accepted points are
 * uniform under f.
 */
export class NormalAboveTable {
  /** Strip widths: x[0] the base strip's virtual width v/f(r), x[1] = r, …, x[LAYERS] = 0. */
  private readonly x: Float64Array;
  /** f at each width. */
  private readonly fx: Float64Array;
  /** x[i]/2^32: the scale of a 32-bit position in strip i. */
  private readonly scale: Float64Array;
  /** The base strip's right edge r, where its tail begins. */
  readonly r: number;

  constructor(readonly a: number) {
    if (!(a >= 0 && Number.isFinite(a))) throw new RangeError(`NormalAboveTable: a must be finite and ≥ 0, got ${a}`);
    const L = TABLE_LAYERS;
    const f = (y: number) => Math.exp(-a * y - 0.5 * y * y);
    const fInv = (t: number) => -a + Math.sqrt(a * a - 2 * Math.log(t));
    const tail = (r: number) => Math.sqrt(2 * Math.PI) * Math.exp(0.5 * a * a) * normalSf(a + r);
    // The strips' widths from the base up for a base edge r; the top strip's excess height
    // (f at its bottom plus v/width, less f(0) = 1) is > 0 when r is too small, < 0 too large.
    const x = new Float64Array(L + 1);
    const build = (r: number): number => {
      const v = r * f(r) + tail(r);
      x[0] = v / f(r);
      x[1] = r;
      for (let i = 1; i < L - 1; i++) {
        const t = f(x[i]!) + v / x[i]!;
        if (!(t < 1)) return 1; // the strips overflow below the top: r is too small
        x[i + 1] = fInv(t);
      }
      x[L] = 0;
      return f(x[L - 1]!) + v / x[L - 1]! - 1;
    };
    // f(y) ≤ e^(−y²/2): r below the normal's 3.654 (for 256 strips) always closes, and at y = 40
    // f is below the doubles.
    let lo = 1e-6, hi = 40;
    for (let it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
      const mid = 0.5 * (lo + hi);
      if (build(mid) > 0) lo = mid;
      else hi = mid;
    }
    this.r = hi;
    build(hi);
    this.x = x;
    this.fx = x.map(f);
    this.scale = x.map((w) => w / 4294967296);
  }

  draw(rng: Rng): number {
    const x = this.x, scale = this.scale;
    for (;;) {
      const layer = rng.nextUint32() & (TABLE_LAYERS - 1);
      const y = rng.nextUint32() * scale[layer]!;
      if (y < x[layer + 1]!) return this.a + y;
      if (layer === 0) return normalAbove(rng, this.a + this.r);
      const fx = this.fx;
      if (fx[layer]! + rng.uniform() * (fx[layer + 1]! - fx[layer]!) < fastExp(-this.a * y - 0.5 * y * y)) return this.a + y;
    }
  }
}

const TABLE_LAYERS = 256;
