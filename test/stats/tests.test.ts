import { describe, it, expect } from 'vitest';
import { kstwoSf, ksTwoSample, mannWhitney, normalCdf, normalSf, twoProportion } from '../../src/stats/tests.js';

// Every reference number below was produced with SciPy 1.17.1 / NumPy 2.4.6 (Python 3.11). The data
// sets are either literal or built by `gen`, which uses only integer arithmetic plus one correctly
// rounded division and addition, so NumPy and V8 see bit-identical inputs. The Python twin is
//   def gen(n, mult, mod, scale, offset=0.0):
//       i = np.arange(n, dtype=np.int64); return ((i * mult) % mod) / scale + offset
function gen(n: number, mult: number, mod: number, scale: number, offset = 0): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = ((i * mult) % mod) / scale + offset;
  return out.sort();
}

const sorted = (xs: number[]): Float64Array => Float64Array.from(xs).sort();

/** |actual/expected − 1| ≤ tol, printing both numbers when it fails. */
function expectRel(actual: number, expected: number, tol: number): void {
  const rel = expected === 0 ? Math.abs(actual) : Math.abs(actual / expected - 1);
  expect(rel, `actual ${actual} vs expected ${expected} (rel ${rel})`).toBeLessThanOrEqual(tol);
}

// Integer-valued, unequal sizes (14 vs 19), ties within and across samples.
const SMALL_A = sorted([3, 5, 5, 7, 9, 9, 9, 12, 14, 15, 15, 18, 20, 21]);
const SMALL_B = sorted([1, 2, 4, 5, 5, 6, 8, 9, 9, 10, 11, 11, 13, 14, 16, 17, 17, 19, 22]);
const EMPTY = new Float64Array(0);

describe('normalSf / normalCdf', () => {
  // [z, scipy.stats.norm.sf(z), 0.5 * mpmath.erfc(z / mpmath.sqrt(2)) at mp.dps = 40 (mpmath 1.3.0)].
  // scipy's own relative error grows to 1.1e-13 at z = 37 (it evaluates via ndtr's erfc at
  // z/√2, whose rounding is amplified by z²), so the scipy check gets 3e-13; against the
  // 40-digit values Cody's approximation holds 1e-15, asserted at 5e-15 for libm differences.
  const cases: [number, number, number][] = [
    [0, 0.5, 0.5],
    [1, 0.15865525393145707, 0.15865525393145705],
    [1.96, 0.024997895148220435, 0.024997895148220435],
    [3, 0.0013498980316300933, 0.0013498980316300946],
    [5, 2.866515718791933e-7, 2.866515718791939e-7],
    [8, 6.22096057427174e-16, 6.220960574271784e-16],
    [10, 7.61985302416047e-24, 7.619853024160525e-24],
    [20, 2.7536241186061556e-89, 2.7536241186062337e-89],
    [37, 5.7255712225239266e-300, 5.725571222524577e-300],
  ];
  it.each(cases)('sf(%d) matches scipy and mpmath in relative terms', (z, scipy, exact) => {
    expectRel(normalSf(z), scipy, 3e-13);
    expectRel(normalSf(z), exact, 5e-15);
    // Symmetry: the lower tail must be just as accurate, not 1 − (something near 1).
    expectRel(normalCdf(-z), exact, 5e-15);
  });

  it('complements in the body', () => {
    // scipy.stats.norm.cdf(1) = 0.8413447460685429, norm.sf(-5) = 0.9999997133484281
    expect(normalCdf(1)).toBeCloseTo(0.8413447460685429, 15);
    expect(normalSf(-5)).toBeCloseTo(0.9999997133484281, 15);
    expect(normalSf(-20)).toBe(1);
    expect(normalSf(40)).toBe(0);
    expect(normalCdf(-40)).toBe(0);
  });
});

describe('mannWhitney', () => {
  // U is an exact count (halves included), so it must match exactly. The p-values go through the same
  // closed form as scipy; only the summation order of the tie term differs, worth ~1e-15 in σ, so
  // 1e-9 relative is generous even at z ≈ 15 (p ≈ 1e-37), where a σ error is amplified by z².
  const TOL = 1e-9;

  it('small integer samples with ties', () => {
    // mannwhitneyu(A, B, alternative='greater'|'less', method='asymptotic', use_continuity=True)
    const r = mannWhitney(SMALL_A, SMALL_B);
    expect(r.u).toBe(146.5);
    expectRel(r.pIncrease, 0.3174334755712962, TOL);
    expectRel(r.pDecrease, 0.6954706721479627, TOL);
    // Swapping the arms swaps the alternatives: mannwhitneyu(B, A, ...) gives U = 119.5.
    const s = mannWhitney(SMALL_B, SMALL_A);
    expect(s.u).toBe(119.5);
    expectRel(s.pIncrease, 0.6954706721479627, TOL);
    expectRel(s.pDecrease, 0.3174334755712962, TOL);
    expect(s.z).toBeCloseTo(-r.z, 12);
  });

  it('identical samples: no evidence either way, p just above 0.5 from the continuity correction', () => {
    // mannwhitneyu(A, A, ...) → U = 98.0, p = 0.5092431692372965 for both alternatives
    const r = mannWhitney(SMALL_A, SMALL_A);
    expect(r.u).toBe(98);
    expect(r.z).toBe(0);
    expectRel(r.pIncrease, 0.5092431692372965, TOL);
    expectRel(r.pDecrease, 0.5092431692372965, TOL);
  });

  it('empty or constant inputs carry no evidence', () => {
    for (const [a, b] of [
      [EMPTY, SMALL_B],
      [SMALL_A, EMPTY],
      [EMPTY, EMPTY],
      [sorted([5, 5, 5]), sorted([5, 5, 5, 5])],
    ] as const) {
      const r = mannWhitney(a, b);
      expect(r.pIncrease).toBe(1);
      expect(r.pDecrease).toBe(1);
      expect(r.z).toBe(0);
    }
    expect(mannWhitney(sorted([5, 5, 5]), sorted([5, 5, 5, 5])).u).toBe(6);
  });

  // Canary gen(5000, 7919, 1000, 10, off) against baseline gen(20000, 104729, 1000, 10): 1000
  // distinct values, every one tied 5 or 20 times, so the tie correction matters throughout.
  const large: [number, number, number, number][] = [
    // [offset, U, p greater, p less]
    [0.8, 50789900, 0.04176609645880425, 0.9582340990690636],
    [2.0, 51980000, 7.193282927910805e-6, 0.9999928067887561],
    [2.5, 52468750, 3.175014698372438e-8, 0.9999999682502413],
    [3.0, 52955000, 4.773572850507719e-11, 0.999999999952265],
    [3.3, 53236650, 6.657076193144473e-13, 0.9999999999993343],
    [-2.0, 48020000, 0.9999928067869848, 7.193284699260894e-6],
    [4.0, 53920000, 4.420155203053517e-18, 1.0],
  ];
  it.each(large)('5000 vs 20000 tied values, canary shifted by %d', (off, u, pg, pl) => {
    const r = mannWhitney(gen(5000, 7919, 1000, 10, off), gen(20000, 104729, 1000, 10));
    expect(r.u).toBe(u);
    expectRel(r.pIncrease, pg, TOL);
    expectRel(r.pDecrease, pl, TOL);
  });

  it('50000 vs 40000 (10007 distinct values)', () => {
    // canary gen(50000, 7919, 10007, 100, off), baseline gen(40000, 104729, 10007, 100)
    const b = gen(40000, 104729, 10007, 100);
    let r = mannWhitney(gen(50000, 7919, 10007, 100, 0.5), b);
    expect(r.u).toBe(1010008772);
    expectRel(r.pIncrease, 0.004879702091443344, TOL);
    expectRel(r.pDecrease, 0.9951203015618874, TOL);
    r = mannWhitney(gen(50000, 7919, 10007, 100, -0.3), b);
    expect(r.u).toBe(994068919.5);
    expectRel(r.pIncrease, 0.937163486342443, TOL);
    expectRel(r.pDecrease, 0.06283654554488172, TOL);
    r = mannWhitney(gen(50000, 7919, 1000, 10, 3.0), gen(40000, 104729, 1000, 10));
    expect(r.u).toBe(1059100000);
    expectRel(r.pIncrease, 7.11925433686831e-53, TOL);
  });
});

describe('ksTwoSample', () => {
  // D is computed with the same float operations as scipy (count/n1 − count/n2), so it must match
  // exactly. p: kstwo.sf is approximated (see kstwoSf); measured against scipy 'asymp' the worst
  // errors over these cases and the grid below are 1.3e-3 relative for p < 0.1 (n_eff = 20, p = 0.02)
  // and 5.7e-4 absolute above (n_eff = 10). The tolerances give ~2x headroom and stay well inside the
  // 2% that matters for a "p < alpha" gate.
  function expectP(actual: number, expected: number): void {
    if (expected >= 0.1) expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-3);
    else expectRel(actual, expected, 3e-3);
  }

  it('small integer samples with ties', () => {
    // ks_2samp(A, B, alternative='two-sided', method='asymp') → D = 0.13157894736842102, p = 0.9953002363811728
    const r = ksTwoSample(SMALL_A, SMALL_B);
    expect(r.d).toBe(0.13157894736842102);
    expectP(r.p, 0.9953002363811728);
    expect(ksTwoSample(SMALL_B, SMALL_A)).toEqual(r);
  });

  it('identical, constant, and empty samples', () => {
    expect(ksTwoSample(SMALL_A, SMALL_A)).toEqual({ d: 0, p: 1 });
    expect(ksTwoSample(sorted([5, 5, 5]), sorted([5, 5, 5, 5]))).toEqual({ d: 0, p: 1 });
    expect(ksTwoSample(EMPTY, SMALL_B)).toEqual({ d: 0, p: 1 });
    expect(ksTwoSample(SMALL_A, EMPTY)).toEqual({ d: 0, p: 1 });
    // n1 = n2 = 1: numpy rounds the effective n 0.5 to 0 and scipy returns NaN; we report no evidence.
    expect(ksTwoSample(sorted([1]), sorted([2]))).toEqual({ d: 1, p: 1 });
  });

  // Canary gen(n1, 7919, 1000, 10, off) against baseline gen(n2, 104729, 1000, 10), both with ties.
  // The sizes exercise each branch: n_eff = 20 (small-n), 360 (exact one-sided sum), 4000 and 22222
  // (asymptotic expansion).
  const shifted: [number, number, number, number, number][] = [
    // [n1, n2, offset, D, p]
    [30, 60, 0, 0.09999999999999998, 0.976255094592155],
    [30, 60, 15, 0.25, 0.13762569836717486],
    [30, 60, 30, 0.4, 0.0021189221820357984],
    [600, 900, 5, 0.05555555555555558, 0.20858493123063182],
    [600, 900, 12, 0.125, 2.3162948541859407e-5],
    [5000, 20000, 2, 0.020000000000000018, 0.08043072865191014],
    [5000, 20000, 2.5, 0.025000000000000022, 0.013247596816897514],
    [5000, 20000, 3, 0.030000000000000027, 0.001462075206936151],
    [5000, 20000, 3.3, 0.03400000000000003, 0.0001879395337302639],
    [5000, 20000, 4, 0.040000000000000036, 5.35555814699084e-6],
    [5000, 20000, 6, 0.06000000000000005, 5.842900646337505e-13],
    [50000, 40000, 1, 0.010000000000000009, 0.023330961380072665],
    [50000, 40000, 2, 0.020000000000000018, 3.749003948291873e-8],
    [50000, 40000, 3, 0.030000000000000027, 8.26863626954296e-18],
  ];
  it.each(shifted)('%d vs %d, canary shifted by %d', (n1, n2, off, d, p) => {
    const r = ksTwoSample(gen(n1, 7919, 1000, 10, off), gen(n2, 104729, 1000, 10));
    expect(r.d).toBe(d);
    expectP(r.p, p);
  });

  it('near-null large samples give p near 1', () => {
    // canary gen(50000, 7919, 10007, 100, -0.3) vs baseline gen(40000, 104729, 10007, 100)
    const r = ksTwoSample(gen(50000, 7919, 10007, 100, -0.3), gen(40000, 104729, 10007, 100));
    expect(r.d).toBe(0.0031050000000000244);
    expectP(r.p, 0.982472776435256);
  });

  it('a change in spread that Mann–Whitney cannot see', () => {
    // canary a_i = (lo + (i*7919) % w) / 10, i.e. a narrower band around the same centre, against
    // baseline gen(n2, 104729, 1000, 10); mannwhitneyu p stays near 0.5 for both.
    const band = (n: number, lo: number, w: number) => {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = (lo + ((i * 7919) % w)) / 10;
      return out.sort();
    };
    let r = ksTwoSample(band(2000, 50, 900), gen(3000, 104729, 1000, 10));
    expect(r.d).toBe(0.050000000000000044);
    expectP(r.p, 0.004784209236950396);
    r = ksTwoSample(band(20000, 20, 960), gen(30000, 104729, 1000, 10));
    expect(r.d).toBe(0.020000000000000018);
    expectP(r.p, 0.00013357286372337674);
    const mw = mannWhitney(band(20000, 20, 960), gen(30000, 104729, 1000, 10));
    expectRel(mw.pIncrease, 0.45287764647137485, 1e-9);
  });
});

describe('kstwoSf against scipy.stats.kstwo.sf', () => {
  // for n in NS: for p in PS: x = kstwo.isf(p, n); print(n, repr(x), repr(kstwo.sf(x, n)))
  // Rows are [n, x, kstwo.sf(x, n)] at p ≈ 0.99 … 1e-12, covering every branch boundary
  // (n = 140/141 where scipy changes method, n = 1000/1001 where we do).
  // Measured worst errors: relative 1.3e-3 for p < 0.1 (n = 20), 9.6e-4 in the tail at n = 1001,
  // absolute 5.7e-4 for p ≥ 0.1 at n = 10, < 5e-5 for n ≥ 20. Tolerances: n ≥ 20 → 3e-3 relative
  // below 0.1 and 2e-4 absolute above; n = 10 → 1e-2 relative / 1e-3 absolute.
  const NS = [10, 20, 50, 100, 140, 141, 300, 1000, 1001, 4000, 22222, 75000, 100000];
  const PS = ['0.99', '0.9', '0.5', '0.2', '0.1', '0.05', '0.02', '1e-2', '1e-3', '1e-4', '1e-5', '1e-6', '1e-8', '1e-10', '1e-12'];
  const X: number[][] = [
    [0.12725822969948414, 0.16738783534546595, 0.24686329073080385, 0.32256790169857147, 0.3686616741717247, 0.4092460847775048, 0.4566237843311816, 0.48893165941109273, 0.5804173076502117, 0.6548064163596211, 0.7170599388982792, 0.7698284330748159, 0.8521573662077843, 0.9066967008463193, 0.9411295981347525],
    [0.09183952886231249, 0.12060691452203408, 0.17734150203326088, 0.23151862314131647, 0.2647305721955969, 0.2940753144343292, 0.32866125252619866, 0.35241089163889466, 0.420851188984766, 0.4782101478867577, 0.5280255414283175, 0.572213511849155, 0.6480092379481066, 0.7111391039610757, 0.7644456574002546],
    [0.05944927152435086, 0.07775232592119911, 0.1138627929741595, 0.14836919494376388, 0.1695915472271858, 0.18840647917792508, 0.21067653034159844, 0.22603706070636317, 0.27067455996879725, 0.3086134727142147, 0.34206566342607575, 0.37222962395057946, 0.4253935199169665, 0.47161249073756034, 0.5127412504827983],
    [0.04258351033765298, 0.05556096098527018, 0.08114721899006636, 0.1056054379300071, 0.12066340877827493, 0.13402791648569778, 0.14986797376827993, 0.16080868092856113, 0.1926841642763391, 0.2198891645427127, 0.2439799136043842, 0.26579884737853915, 0.304517896106558, 0.33850807335247135, 0.36907028308183765],
    [0.0361725858001118, 0.04714927811935585, 0.0687864122274583, 0.08947161069033899, 0.10221040123564606, 0.11352006308692322, 0.12692973601731353, 0.1361953907840598, 0.1632100087358858, 0.18629283387566972, 0.20675714270681697, 0.22531361634635313, 0.25830248627378305, 0.28733485743169224, 0.31350687697544966],
    [0.036047675409580496, 0.04698575388491836, 0.06854593312811394, 0.08915791495720707, 0.10185176534199158, 0.11312164906753532, 0.12648429312204296, 0.13571749333517924, 0.16263682718994532, 0.18563472188066768, 0.2060159119032299, 0.2244834720295647, 0.25724279325480903, 0.28589578190401294, 0.3113649017289418],
    [0.024935938568055774, 0.03244260177104168, 0.04723531840255249, 0.06137903381834582, 0.07009270213089244, 0.07783200514647708, 0.0870129813362373, 0.09336000544252303, 0.11188248227498973, 0.12773232874982118, 0.14180428418417132, 0.15458191589137674, 0.17733995153257484, 0.19741024273859542, 0.2155246617301685],
    [0.01378461661537364, 0.017898959454988025, 0.026005301564520387, 0.03375653534582669, 0.03853304260042531, 0.042776500461245, 0.04781196316605031, 0.05129418752666127, 0.061462224771709525, 0.07017128659015608, 0.07791108968236725, 0.08494641956334534, 0.09749896862431376, 0.10860067630087757, 0.11865801797966088],
    [0.013777807971723035, 0.017890096385580853, 0.025992390097651547, 0.03373975305778524, 0.038513875495082214, 0.04275521513434262, 0.04778816492651667, 0.05126865197246225, 0.06143161877924106, 0.07013634111240992, 0.07787229077968426, 0.08490412088385837, 0.09745043370095022, 0.10854663596414718, 0.11859925983970719],
    [0.006932192151494173, 0.008989819726477319, 0.013043644797655449, 0.016919973485246893, 0.019308846519071537, 0.02143129655391987, 0.023950130301297817, 0.02569217943127486, 0.030779867033462513, 0.03513881307885889, 0.03901378629095104, 0.042537125804572355, 0.04882644127285265, 0.054392509753339535, 0.05943882713016339],
    [0.002951064318038676, 0.0038240998092260166, 0.005544077027883084, 0.0071887550817750475, 0.008202345174776072, 0.009102912789807377, 0.010171696882186967, 0.01091089824877322, 0.013069857665163867, 0.01491972180536874, 0.0165643262276692, 0.01805981036546512, 0.020729632764513096, 0.023092820590711143, 0.025235771298671612],
    [0.001608190641406142, 0.002083413139328064, 0.003019651908381811, 0.003914903750351697, 0.004466635620509513, 0.004956847145176813, 0.00553862738921433, 0.005941004793804174, 0.007116223372683318, 0.008123199763959758, 0.009018453610387262, 0.009832542530387508, 0.011285926161141411, 0.012572418054839503, 0.013738995865365576],
    [0.0013929901816356212, 0.0018045453524106908, 0.0026153524979369023, 0.0033906639724908603, 0.0038684783412446275, 0.004293014618329405, 0.004796852072194764, 0.005145321961471824, 0.006163094369856496, 0.007035165419230842, 0.0078104824651435536, 0.008515509120334669, 0.009774187529056502, 0.01088833481509362, 0.011898608493163418],
  ];
  const SF: number[][] = [
    [0.9900000000000012, 0.8999999999999997, 0.49999999999999756, 0.20000000000000606, 0.09999999999999942, 0.050000000000000155, 0.019999999999998908, 0.009999999999999676, 0.0010000000000000165, 9.999999999997622e-05, 1.0000000000008009e-05, 9.99999999976469e-07, 1.0000000030019106e-08, 9.999999999999999e-11, 1.0000000000000064e-12],
    [0.99, 0.9000000000000001, 0.49999999999999534, 0.2000000000000013, 0.10000000000000031, 0.050000000000000155, 0.020000000000001794, 0.010000000000000786, 0.0010000000000000009, 9.999999999999218e-05, 9.999999999995405e-06, 1.0000000000264234e-06, 1.0000000000866644e-08, 9.999998085266573e-11, 9.999521689847259e-13],
    [0.99, 0.900000000000001, 0.4999999999999999, 0.20000000000000395, 0.10000000000000775, 0.04999999999999971, 0.020000000000000018, 0.009999999999999565, 0.0009999999999994458, 0.00010000000000004065, 9.999999999913954e-06, 9.999999999973547e-07, 9.999999997121623e-09, 9.999995685752603e-11, 9.99923798998461e-13],
    [0.9899999999999998, 0.9000000000000001, 0.49999999999999967, 0.2000000000000114, 0.09999999999999928, 0.0500000000000008, 0.020000000000000098, 0.009999999999999402, 0.0009999999999998441, 9.999999999997615e-05, 9.999999999935774e-06, 1.0000000000455119e-06, 1.0000000084320567e-08, 1.0000005854154636e-10, 9.999604628451938e-13],
    [0.99, 0.9, 0.49999999999999983, 0.1999999999999972, 0.10000000000000936, 0.04999999999999193, 0.019999999999999227, 0.00999999999999772, 0.0009999999999998404, 9.999999999999354e-05, 9.999999999950393e-06, 1.0000000000157526e-06, 1.0000000030791324e-08, 1.0000005791691927e-10, 9.999689618783322e-13],
    [0.99, 0.9000000000000001, 0.49999999999999967, 0.20000000000000007, 0.10000000000000009, 0.04999999999999993, 0.019999489213371767, 0.009999621507960157, 0.0010000141090066002, 0.00010004998020532578, 1.0020158279716711e-05, 1.0054728701340495e-06, 1.0241510354061518e-08, 1.0768729074332883e-10, 1.215286909445069e-12],
    [0.99, 0.8999999999999999, 0.5, 0.20000000000000018, 0.10000000000000009, 0.04999999999999993, 0.01999990077376859, 0.009999917102524453, 0.0010000035753153984, 0.00010001109927571722, 1.0004395569994484e-05, 1.0011710264070751e-06, 1.0049056627586397e-08, 1.0143355360136009e-10, 1.0346458354266935e-12],
    [0.9900000000000003, 0.9000000000000047, 0.4999999999999116, 0.20000000000000018, 0.10000000000000009, 0.04999999999999982, 0.02000000879529964, 0.009999993614750832, 0.0010000003575235754, 0.00010000100782578349, 1.0000394180565085e-05, 1.0001037988908967e-06, 1.00042265880468e-08, 1.0011842050518184e-10, 1.002806139408764e-12],
    [0.9900000000000003, 0.9000000000000048, 0.49999999999991196, 0.20000000000000007, 0.10000000000000009, 0.05000000000000038, 0.020000008817081118, 0.009999993629931212, 0.0010000003568297385, 0.00010000100581968393, 1.0000393393360316e-05, 1.0001035914377498e-06, 1.0004218165669132e-08, 1.001182060152455e-10, 1.0026769726531929e-12],
    [0.99, 0.9, 0.49999999999999833, 0.20000000000000007, 0.09999999999996168, 0.0499999999999996, 0.02000001919635097, 0.010000000762892243, 0.0010000000236629184, 0.00010000006344147726, 1.000002468803953e-05, 1.0000064743476112e-06, 1.0000261197060712e-08, 1.0000738206490552e-10, 1.0000467529812085e-12],
    [0.9900000000000001, 0.8999999999999682, 0.5000000000000001, 0.19999999999999984, 0.09999999999999931, 0.04999999999999727, 0.020000019954435965, 0.010000001232548544, 0.0010000000009053882, 0.00010000000206530488, 1.0000000801831064e-05, 1.0000002100953256e-06, 1.000000855249312e-08, 1.0000043351573831e-10, 9.997157713503708e-13],
    [0.99000000000015, 0.8999999999999994, 0.5000000000010042, 0.19999999999999996, 0.1000000000000002, 0.0499999999999996, 0.020000019991108137, 0.010000001248053869, 0.001000000000194027, 0.00010000000018155891, 1.0000000070157851e-05, 1.0000000183745751e-06, 1.0000000669582799e-08, 9.99999083113303e-11, 9.999034217928208e-13],
    [0.9899999999999102, 0.8999999999999997, 0.5000000000005672, 0.19999999999999996, 0.09999999999999998, 0.050000000000000044, 0.02000001999371079, 0.010000001248795356, 0.0010000000001638293, 0.00010000000010203499, 1.0000000039394729e-05, 1.000000010423438e-06, 1.0000000372397624e-08, 9.999999087280253e-11, 1.000030738021948e-12],
  ];
  NS.forEach((n, r) => {
    it(`n = ${n}`, () => {
      const relTol = n >= 20 ? 3e-3 : 1e-2;
      const absTol = n >= 20 ? 2e-4 : 1e-3;
      PS.forEach((label, c) => {
        const expected = SF[r]![c]!;
        const got = kstwoSf(X[r]![c]!, n);
        if (expected >= 0.1) expect(Math.abs(got - expected), `p≈${label}`).toBeLessThanOrEqual(absTol);
        else expectRel(got, expected, relTol);
      });
    });
  });

  it('edges', () => {
    expect(kstwoSf(0, 100)).toBe(1);
    expect(kstwoSf(1, 100)).toBe(0);
    // kstwo.sf(0.004, 100) = 1.0: n·d ≤ 1/2, D_n can never be that small
    expect(kstwoSf(0.004, 100)).toBe(1);
    // kstwo.sf(0.008, 100) = 1.0: 1 − 100!/100^100 · 0.6^100
    expect(kstwoSf(0.008, 100)).toBe(1);
    // n·d ≥ n − 1 uses the exact 2(1 − d)^n: kstwo.sf(0.995, 100) = 1.5777218104421636e-230,
    // kstwo.sf(0.8, 5) = 0.0006399999999999993
    expectRel(kstwoSf(0.995, 100), 1.5777218104421636e-230, 1e-12);
    expectRel(kstwoSf(0.8, 5), 0.0006399999999999993, 1e-12);
  });
});

describe('twoProportion', () => {
  // Closed form in Python: p1, p2, p = x1/n1, x2/n2, (x1+x2)/(n1+n2);
  // z = (p1-p2)/np.sqrt(p*(1-p)*(1/n1+1/n2)); scipy.stats.norm.sf(z), norm.cdf(z).
  // Same formula, so only normalSf's ~1e-15 error remains; 1e-12 relative.
  const cases: [number, number, number, number, number, number, number][] = [
    // [x1, n1, x2, n2, z, sf(z), cdf(z)]
    [30, 1000, 20, 1000, 1.4322297480788655, 0.07603904039648762, 0.9239609596035123],
    [12, 400, 30, 1000, 0, 0.5, 0.5],
    [500, 10000, 300, 10000, 7.216878364870324, 2.659725834699263e-13, 0.999999999999734],
    [3, 50, 0, 60, 1.9237813231859937, 0.027190999722152262, 0.9728090002778478],
    [150, 20000, 260, 20000, -5.460570286837309, 0.9999999762696229, 2.3730377107525273e-8],
  ];
  it.each(cases)('%d/%d vs %d/%d', (x1, n1, x2, n2, z, sf, cdf) => {
    const inc = twoProportion(x1, n1, x2, n2, 'increase');
    const dec = twoProportion(x1, n1, x2, n2, 'decrease');
    expect(inc.z).toBeCloseTo(z, 12);
    expect(dec.z).toBe(inc.z);
    expectRel(inc.p, sf, 1e-12);
    expectRel(dec.p, cdf, 1e-12);
  });

  it('degenerate inputs give no evidence', () => {
    expect(twoProportion(0, 100, 0, 100, 'increase')).toEqual({ z: 0, p: 1 });
    expect(twoProportion(100, 100, 50, 50, 'decrease')).toEqual({ z: 0, p: 1 });
    expect(twoProportion(0, 0, 5, 100, 'increase')).toEqual({ z: 0, p: 1 });
    expect(twoProportion(5, 100, 0, 0, 'decrease')).toEqual({ z: 0, p: 1 });
  });
});
