import { fastExp } from './fast-exp.js';
import type { Rng } from './random.js';

/**
 * Ziggurat tables (Marsaglia & Tsang 2000, "The Ziggurat Method for Generating Random
 * Variables") for `layers` layers with base-strip tail start r and common area v: per layer, the
 * fast test's bound k on a signed 32-bit draw hz (|hz| < k[i]), the scale w (x = hz·w[i]) and the
 * density f at the layer's edge.
 */
export function zigguratTables(layers: number, r: number, v: number): { k: Float64Array; w: Float64Array; f: Float64Array } {
  const k = new Float64Array(layers), w = new Float64Array(layers), f = new Float64Array(layers);
  const m1 = 2147483648;
  let dn = r;
  let tn = dn;
  const q = v / Math.exp(-0.5 * dn * dn);
  k[0] = (dn / q) * m1;
  k[1] = 0;
  w[0] = q / m1;
  w[layers - 1] = dn / m1;
  f[0] = 1;
  f[layers - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = layers - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(v / dn + Math.exp(-0.5 * dn * dn)));
    k[i + 1] = (dn / tn) * m1;
    tn = dn;
    f[i] = Math.exp(-0.5 * dn * dn);
    w[i] = dn / m1;
  }
  return { k, w, f };
}

/**
 * Standard normals in bulk, for the `sample` engine's per-request draws: the ziggurat with 256
 * layers, whose fast path (a multiply and a compare) takes 98.5% of the values, against 97.2%
 * for Rng.normal's 128; each miss costs some thirty times a hit. Raw draws come from the run's
 * stream through Rng.fillUint32, a chunk at a time: one 32-bit draw per value and one per four
 * layers (a byte each). A layer never shares bits with its value's draw, which avoids the
 * correlation Doornik (2005) found in the original method, and the four layers of a draw are
 * disjoint bits, so independent. Every fill is consumed whole by its chunk and never reused.
 */
const LAYERS = 256;
const R = 3.6541528853610088;
const { k: K, w: W, f: F } = zigguratTables(LAYERS, R, 4.92867323399e-3);
/**
 * The fast test as a bound on the value: |hz·W| < K·W, cheaper in V8 than the absolute value of
 * an int32. It can differ from |hz| < K only for a lattice point on the edge, where K's own
 * rounding already decides, and such a point inside the rectangle passes the wedge test anyway.
 */
const EDGE = K.map((k, i) => k * W[i]!);

const CHUNK = 2048;
const LAYER_WORDS = CHUNK / 4;
const RAW = new Uint32Array(LAYER_WORDS + CHUNK);
const RAW_SIGNED = new Int32Array(RAW.buffer);

/** Writes n standard normals to out[0, n). */
export function fillNormals(rng: Rng, out: Float64Array, n: number): void {
  // Module constants copied to locals: V8 reloads and rechecks module bindings on every iteration
  // of a loop that contains a call (afterMiss), locals it keeps in registers.
  const raw = RAW, signed = RAW_SIGNED, w = W, edge = EDGE;
  for (let done = 0; done < n; ) {
    const c = Math.min(CHUNK, n - done);
    const words = (c + 3) >> 2;
    rng.fillUint32(raw, words + c);
    for (let j = 0; j < c; j++) {
      // Shifts rather than a byte view: the same layers on any byte order.
      const layer = (raw[j >> 2]! >>> ((j & 3) << 3)) & 255;
      const hz = signed[words + j]!;
      const x = hz * w[layer]!;
      // Each branch stores its own result: a value merging the fast path's double with a call's
      // would be boxed by V8, one heap allocation per normal; so is a double a call returns.
      if (Math.abs(x) < edge[layer]!) out[done + j] = x;
      else afterMiss(rng, layer, hz, out, done + j);
    }
    done += c;
  }
}

/** A normal beyond ±r, the base layer's tail (Marsaglia's exponential rejection). */
export function normalTail(rng: Rng, r: number, positive: boolean): number {
  let xt: number, y: number;
  do {
    xt = -Math.log(rng.uniform()) / r;
    y = -Math.log(rng.uniform());
  } while (y + y < xt * xt);
  return positive ? r + xt : -r - xt;
}

/** Finishes, at out[at], a ziggurat draw whose first attempt missed the fast path, from the Rng. */
function afterMiss(rng: Rng, layer: number, hz: number, out: Float64Array, at: number): void {
  for (;;) {
    const x = hz * W[layer]!;
    if (layer === 0) {
      out[at] = normalTail(rng, R, hz > 0);
      return;
    }
    if (F[layer]! + rng.uniform() * (F[layer - 1]! - F[layer]!) < fastExp(-0.5 * x * x)) {
      out[at] = x;
      return;
    }
    layer = rng.nextUint32() & 255;
    hz = rng.nextUint32() | 0;
    const y = hz * W[layer]!;
    if (Math.abs(y) < EDGE[layer]!) {
      out[at] = y;
      return;
    }
  }
}

/**
 * Exponential ziggurat (Marsaglia & Tsang 2000, 256 layers, base strip from r = 7.6971…): the
 * tables per layer, with k a bound on an unsigned 32-bit draw (u < k[i] takes the fast path), w
 * the scale (x = u·w[i]) and f the density e^-x at the layer's edge.
 */
function exponentialTables(layers: number, r: number, v: number): { k: Float64Array; w: Float64Array; f: Float64Array } {
  const k = new Float64Array(layers), w = new Float64Array(layers), f = new Float64Array(layers);
  const m2 = 4294967296;
  let de = r;
  let te = de;
  const q = v / Math.exp(-de);
  k[0] = (de / q) * m2;
  k[1] = 0;
  w[0] = q / m2;
  w[layers - 1] = de / m2;
  f[0] = 1;
  f[layers - 1] = Math.exp(-de);
  for (let i = layers - 2; i >= 1; i--) {
    de = -Math.log(v / de + Math.exp(-de));
    k[i + 1] = (de / te) * m2;
    te = de;
    f[i] = Math.exp(-de);
    w[i] = de / m2;
  }
  return { k, w, f };
}

const EXP_R = 7.69711747013104972;
const { k: EK, w: EW, f: EF } = exponentialTables(256, EXP_R, 3.949659822581572e-3);

/**
 * A standard exponential variate (−ln U in law) without a logarithm on ~99% of calls: the layer
 * from its own 32-bit draw (as for the normals, never bits shared with the value's draw), then a
 * compare and a multiply. A miss tests the wedge against e^-x; the base layer's tail beyond r is
 * r plus an exponential (memorylessness), drawn by inversion.
 */
export function exponential(rng: Rng): number {
  for (;;) {
    const layer = rng.nextUint32() & 255;
    const u = rng.nextUint32();
    const x = u * EW[layer]!;
    if (u < EK[layer]!) return x;
    if (layer === 0) return EXP_R - Math.log(rng.uniform());
    if (EF[layer]! + rng.uniform() * (EF[layer - 1]! - EF[layer]!) < Math.exp(-x)) return x;
  }
}
