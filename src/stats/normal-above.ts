import type { Rng } from './random.js';

/**
 * Where normalAbove pays: its acceptance rate is a·(1 − Φ(a))/φ(a), 0.66 at a = 1 and above 0.87
 * from a = 2.3 (a p99), against ~0.5 at a = 0.67; below this, inversion is cheaper.
 */
export const NORMAL_ABOVE_FROM = 1;

/**
 * A standard normal given Z > a, for a > 0, exactly: Marsaglia's (1964) tail method. X =
 * √(a² − 2 ln U) has density x·e^((a² − x²)/2) on (a, ∞) (inversion of that law); accepting it with
 * probability a/X leaves a density ∝ e^(−x²/2) there. One logarithm and one square root a try,
 * and no normal quantile function, whose tail branch costs a logarithm, a root and two rational
 * polynomials.
 */
export function normalAbove(rng: Rng, a: number): number {
  const a2 = a * a;
  for (;;) {
    const x = Math.sqrt(a2 - 2 * Math.log(rng.uniform()));
    if (rng.uniform() * x < a) return x;
  }
}
