/**
 * The `exact` engine against traffic volume, against the `sample` engine, and against NumPy
 * (see bench/README.md, "exact-engine", for what each figure means).
 *
 * a. Time per run of ExactRun at 600 and at 600,000 requests/minute, single thread, the same
 *    78 windows. Target: within 1.5× of each other (its cost must not grow with traffic).
 * b. Simulated requests per second of ExactRun against SampleRun at 60,000 requests/minute.
 *    Target: exact ≥ 1,000× sample.
 * c. The same scenario simulated request by request by bench/numpy/simulate.py (vectorised NumPy),
 *    timed in the same rounds. Targets: exact ≥ 100× NumPy; sample ≥ 1× NumPy. Skipped, with a
 *    message, when python3 or numpy is missing.
 *
 * Every job is timed once per round, in an order rotated each round; ratios are taken within a
 * round, then the median over rounds. Writes bench/results/exact-engine.json.
 * BENCH_ROUNDS=<n> (default 4), BENCH_SAMPLE_RUNS=<n> (default 1), PYTHON=<interpreter>.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { BENCH_DIR, checkBuild, distUrl, envInt, machine, median, perSecond, round, rounds, spread, table, timed, writeResult } from './_lib.mjs';
import { QUIET, backgroundOf, benchScenarioYaml, engineLoop, pairedMedian, pairedQuiet, rows, scratchFile, timedChild } from './_exact-lib.mjs';

const NAME = 'exact-engine';
const TARGET_FLAT = 1.5;
const TARGET_VS_SAMPLE = 1000;
const TARGET_VS_NUMPY = 100;
const TARGET_SAMPLE_VS_NUMPY = 1;
const ROUNDS = envInt('BENCH_ROUNDS', 4);
const SAMPLE_RUNS = envInt('BENCH_SAMPLE_RUNS', 1);
const NUMPY_RUNS = SAMPLE_RUNS;
/** Exact-engine jobs are sized so one takes about this long. */
const EXACT_SECONDS = 0.7;
const PYTHON = process.env.PYTHON || 'python3';
const NUMPY_SCRIPT = path.join(BENCH_DIR, 'numpy', 'simulate.py');

const build = checkBuild(['sim/exact-engine.js', 'sim/sample-engine.js', 'sim/ladder.js', 'gates/window.js', 'stats/random.js', 'config/load.js']);
const { loadScenarioFile } = await import(distUrl('config/load.js'));
const { ExactRun } = await import(distUrl('sim/exact-engine.js'));
const { SampleRun } = await import(distUrl('sim/sample-engine.js'));
const { checkSchedule } = await import(distUrl('sim/ladder.js'));
const { needsOf, WINDOW_WIDTH, CANARY, BASELINE, N, statOffset } = await import(distUrl('gates/window.js'));
const { Rng } = await import(distUrl('stats/random.js'));

const started = Date.now();
const facts = machine();
const r3 = (x) => round(x, 3);
const log = (msg) => process.stderr.write(`${NAME}: ${msg}\n`);

// ---------------------------------------------------------------- scenarios
const load = (rpm, extra = {}) => {
  const name = `bench-exact-${rpm}${extra.check === 0 ? '-no-check-noise' : ''}`;
  return loadScenarioFile(scratchFile(`${name}.yaml`, benchScenarioYaml({ name, requestsPerMinute: rpm, ...extra })));
};
const scenarios = { s600: load(600), s60k: load(60_000), s600k: load(600_000), s600kNoCheck: load(600_000, { check: 0 }) };
const schedule = checkSchedule(scenarios.s600.stages, scenarios.s600.checkEveryMinutes);
const needs = needsOf([scenarios.s600.gates]);
const out = new Float64Array(2 * WINDOW_WIDTH);
const offsets = { canaryN: CANARY + N, baselineN: BASELINE + N, costAt: BASELINE + statOffset('cost_usd', 'mean'), p99At: BASELINE + statOffset('latency_ms', 'p99') };
const ctx = (Engine, scenario) => ({ Engine, Rng, scenario, needs, schedule, out, ...offsets });
const expectedPerRun = (s) => schedule.reduce((a, w) => a + s.requestsPerMinute * (w.endMinute - w.startMinute), 0);

// ---------------------------------------------------------------- numpy
/** The NumPy yardstick's job: the same windows and laws, as JSON on its stdin. */
const s60k = scenarios.s60k;
const numpyJob = JSON.stringify({
  seed: s60k.seed,
  runs: NUMPY_RUNS,
  requestsPerMinute: s60k.requestsPerMinute,
  windows: schedule.map((w) => ({ minutes: w.endMinute - w.startMinute, percent: w.percent })),
  baseline: s60k.baseline,
  price: s60k.price,
  candidate: s60k.candidate,
  nondeterminism: s60k.nondeterminism,
  gates: { costMaxRatio: 1000, p99MaxRatio: 1000 },
});
const probe = spawnSync(PYTHON, ['-c', 'import sys, numpy; print(numpy.__version__, sys.version.split()[0])'], { encoding: 'utf8' });
const numpy =
  probe.status === 0
    ? { available: true, numpy: probe.stdout.trim().split(' ')[0], python: probe.stdout.trim().split(' ')[1], interpreter: PYTHON }
    : {
        available: false,
        interpreter: PYTHON,
        reason: probe.error ? `${PYTHON} not found (${probe.error.code})` : `numpy is not importable by ${PYTHON}: ${(probe.stderr || '').trim().split('\n').pop()}`,
      };
if (!numpy.available) log(`skipping the NumPy comparison (part c): ${numpy.reason}; on Debian, apt-get install python3-numpy`);

async function runNumpy() {
  const r = await timedChild(PYTHON, [NUMPY_SCRIPT], {
    input: numpyJob,
    // NumPy's random draws and element-wise kernels are single-threaded; pin any BLAS anyway.
    env: { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    childCpu: (stdout) => {
      try {
        return JSON.parse(stdout.trim().split('\n').pop()).processCpuSeconds ?? null;
      } catch {
        return null;
      }
    },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let value;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`bench/numpy/simulate.py failed (exit ${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  if (!value.ok) throw new Error(`bench/numpy/simulate.py: ${value.error}`);
  return { ...value, wall: r.wall, backgroundCores: r.backgroundCores };
}

// ---------------------------------------------------------------- warm-up and sizing
log('warming up and sizing');
const exactJobs = { exact600: scenarios.s600, exact600k: scenarios.s600k, exact60k: scenarios.s60k, exact600kNoCheckNoise: scenarios.s600kNoCheck };
const runsOf = {};
for (const [job, s] of Object.entries(exactJobs)) {
  engineLoop(ctx(ExactRun, s), 0, 20);
  const t = await timed(() => engineLoop(ctx(ExactRun, s), 0, 40));
  runsOf[job] = Math.max(20, Math.min(4000, Math.round((EXACT_SECONDS * 40) / t.wall / 10) * 10));
}
// The sample engine's JIT warms on the same code at low traffic (a 60k run takes seconds).
engineLoop(ctx(SampleRun, scenarios.s600), 0, 3);
runsOf.sample60k = SAMPLE_RUNS;
if (numpy.available) runsOf.numpy60k = NUMPY_RUNS;

// ---------------------------------------------------------------- measure
const jobs = Object.keys(runsOf);
const m = Object.fromEntries(jobs.map((j) => [j, []]));
const checks = {};
log(`${ROUNDS} rounds of ${jobs.map((j) => `${j} (${runsOf[j]} run${runsOf[j] === 1 ? '' : 's'})`).join(', ')}`);
await rounds(ROUNDS, jobs, async (job) => {
  if (job === 'numpy60k') {
    const r = await runNumpy();
    checks[job] ??= r;
    m[job].push({
      wall: r.seconds,
      cpu: r.cpuSeconds,
      processWall: r.wall,
      importSeconds: r.importSeconds,
      requests: r.requests,
      runs: r.runs,
      perRunMs: (1000 * r.seconds) / r.runs,
      rate: r.requests / r.seconds,
      cpuRate: r.requests / r.cpuSeconds,
      processRate: r.requests / r.wall,
      backgroundCores: r.backgroundCores,
    });
    return;
  }
  const Engine = job === 'sample60k' ? SampleRun : ExactRun;
  const s = job === 'sample60k' ? scenarios.s60k : exactJobs[job];
  const t = await timed(() => engineLoop(ctx(Engine, s), 0, runsOf[job]));
  checks[job] ??= t.value;
  m[job].push({
    wall: t.wall,
    cpu: t.ownCpu,
    requests: t.value.requests,
    runs: runsOf[job],
    perRunMs: (1000 * t.wall) / runsOf[job],
    rate: t.value.requests / t.wall,
    cpuRate: t.value.requests / t.ownCpu,
    backgroundCores: t.backgroundCores,
  });
});

// ---------------------------------------------------------------- sanity
// Every engine must compute what the gates read: the baseline's mean cost and p99 latency,
// averaged over the checks, against the lognormals' closed forms (within 3%).
const sigma = (q) => Math.log(q.p99 / q.p50) / 2.3263478740408408;
const b = s60k.baseline;
const expectedCost =
  (b.input_tokens.p50 * Math.exp(sigma(b.input_tokens) ** 2 / 2) * s60k.price.input_per_million +
    b.output_tokens.p50 * Math.exp(sigma(b.output_tokens) ** 2 / 2) * s60k.price.output_per_million) /
  1e6;
const sanity = Object.fromEntries(
  Object.entries(checks).map(([job, v]) => {
    const ok = Math.abs(v.meanBaselineCost / expectedCost - 1) < 0.03 && Math.abs(v.meanBaselineP99 / b.latency_ms.p99 - 1) < 0.03;
    return [job, { meanBaselineCostUsd: round(v.meanBaselineCost, 5), meanBaselineP99Ms: round(v.meanBaselineP99, 5), ok }];
  }),
);
sanity.expected = { meanBaselineCostUsd: round(expectedCost, 5), p99LatencyMs: b.latency_ms.p99 };
const bad = Object.entries(sanity).filter(([k, v]) => k !== 'expected' && !v.ok);
if (bad.length) throw new Error(`answers off the closed forms: ${JSON.stringify(Object.fromEntries(bad))}`);

// ---------------------------------------------------------------- figures
const med = (job, field) => median(m[job].map((x) => x[field]));
// a. time per run, 600 against 600,000 requests/minute: flat when near 1 (either way).
const flat = pairedMedian(m, 'exact600', 'exact600k', 'perRunMs');
const flatFactor = Math.max(flat, 1 / flat);
const flatCpu = median(m.exact600.map((x, i) => x.cpu / x.runs / (m.exact600k[i].cpu / m.exact600k[i].runs)));
// b. exact against sample at 60k: requests per second, paired within a round.
const vsSample = pairedMedian(m, 'exact60k', 'sample60k', 'rate');
const vsSampleCpu = pairedMedian(m, 'exact60k', 'sample60k', 'cpuRate');
// Diagnostic: what the window-to-window factor (check non-determinism) costs the exact engine.
const noCheck = pairedMedian(m, 'exact600k', 'exact600kNoCheckNoise', 'perRunMs');
// c. against NumPy.
const vsNumpy = numpy.available
  ? {
      exactVsNumpy: pairedMedian(m, 'exact60k', 'numpy60k', 'rate'),
      sampleVsNumpy: pairedMedian(m, 'sample60k', 'numpy60k', 'rate'),
      exactVsNumpyCpu: pairedMedian(m, 'exact60k', 'numpy60k', 'cpuRate'),
      sampleVsNumpyCpu: pairedMedian(m, 'sample60k', 'numpy60k', 'cpuRate'),
      exactVsNumpyProcess: pairedMedian(m, 'exact60k', 'numpy60k', 'rate', 'processRate'),
      sampleVsNumpyProcess: pairedMedian(m, 'sample60k', 'numpy60k', 'rate', 'processRate'),
    }
  : null;

const background = backgroundOf(m);
const result = {
  bench: NAME,
  date: new Date(started).toISOString(),
  durationSeconds: null,
  machine: facts,
  build,
  backgroundLoad: background,
  scenario: {
    ladder: scenarios.s600.stages.map((st) => `${st.percent}%${st.holdMinutes === null ? '' : ` ${st.holdMinutes}m`}`).join(' → '),
    checkEveryMinutes: scenarios.s600.checkEveryMinutes,
    windows: schedule.length,
    candidate: 'identical to the baseline',
    nondeterminism: scenarios.s600.nondeterminism,
    gates: scenarios.s600.gates.gates.map((g) => `${g.metric} ${g.stat} max_ratio ${g.max_ratio}`),
    requestsPerRun: { rpm600: expectedPerRun(scenarios.s600), rpm60k: expectedPerRun(scenarios.s60k), rpm600k: expectedPerRun(scenarios.s600k) },
    how: 'ExactRun / SampleRun constructed per run with Rng.forRun(seed, run) and stepped over checkSchedule() in this thread (window() only: no judging, no pool)',
  },
  rounds: ROUNDS,
  runsPerJob: runsOf,
  flatInTraffic: {
    exact600PerRunMs: r3(med('exact600', 'perRunMs')),
    exact600kPerRunMs: r3(med('exact600k', 'perRunMs')),
    ratio: r3(flat),
    factor: r3(flatFactor),
    target: `within ${TARGET_FLAT}× either way`,
    met: flatFactor <= TARGET_FLAT,
    ratioCpuTime: r3(flatCpu),
    quiet: pairedQuiet(m, 'exact600', 'exact600k', 'perRunMs'),
    exact600kNoCheckNoisePerRunMs: r3(med('exact600kNoCheckNoise', 'perRunMs')),
    checkNoiseCost: r3(noCheck),
  },
  exactVsSample: {
    requestsPerMinute: 60_000,
    exactRequestsPerSecond: Math.round(med('exact60k', 'rate')),
    sampleRequestsPerSecond: Math.round(med('sample60k', 'rate')),
    exactPerRunMs: r3(med('exact60k', 'perRunMs')),
    samplePerRunMs: r3(med('sample60k', 'perRunMs')),
    ratio: r3(vsSample),
    target: TARGET_VS_SAMPLE,
    met: vsSample >= TARGET_VS_SAMPLE,
    ratioCpuTime: r3(vsSampleCpu),
    quiet: pairedQuiet(m, 'exact60k', 'sample60k', 'rate'),
  },
  vsNumpy: numpy.available
    ? {
        ...numpy,
        numpyRequestsPerSecond: Math.round(med('numpy60k', 'rate')),
        numpyPerRunMs: r3(med('numpy60k', 'perRunMs')),
        numpyProcessSeconds: r3(med('numpy60k', 'processWall')),
        numpyImportSeconds: r3(med('numpy60k', 'importSeconds')),
        exactVsNumpy: r3(vsNumpy.exactVsNumpy),
        exactTarget: TARGET_VS_NUMPY,
        exactMet: vsNumpy.exactVsNumpy >= TARGET_VS_NUMPY,
        sampleVsNumpy: r3(vsNumpy.sampleVsNumpy),
        sampleTarget: TARGET_SAMPLE_VS_NUMPY,
        sampleMet: vsNumpy.sampleVsNumpy >= TARGET_SAMPLE_VS_NUMPY,
        exactVsNumpyCpuTime: r3(vsNumpy.exactVsNumpyCpu),
        sampleVsNumpyCpuTime: r3(vsNumpy.sampleVsNumpyCpu),
        exactVsNumpyWholeProcess: r3(vsNumpy.exactVsNumpyProcess),
        sampleVsNumpyWholeProcess: r3(vsNumpy.sampleVsNumpyProcess),
        quiet: { exact: pairedQuiet(m, 'exact60k', 'numpy60k', 'rate'), sample: pairedQuiet(m, 'sample60k', 'numpy60k', 'rate') },
      }
    : { ...numpy, skipped: true },
  sanity,
  spread: Object.fromEntries(Object.entries(m).map(([job, list]) => [job, r3(spread(list.map((x) => x.perRunMs)))])),
  measurements: Object.fromEntries(Object.entries(m).map(([job, list]) => [job, rows(list)])),
};
result.summary = [
  { figure: 'exact per run, 600 / 600k rpm', value: result.flatInTraffic.ratio, target: `${r3(1 / TARGET_FLAT)}–${TARGET_FLAT}`, met: result.flatInTraffic.met },
  { figure: 'exact / sample, 60k rpm', value: result.exactVsSample.ratio, target: `≥ ${TARGET_VS_SAMPLE}`, met: result.exactVsSample.met },
  ...(numpy.available
    ? [
        { figure: 'exact / NumPy, 60k rpm', value: result.vsNumpy.exactVsNumpy, target: `≥ ${TARGET_VS_NUMPY}`, met: result.vsNumpy.exactMet },
        { figure: 'sample / NumPy, 60k rpm', value: result.vsNumpy.sampleVsNumpy, target: `≥ ${TARGET_SAMPLE_VS_NUMPY}`, met: result.vsNumpy.sampleMet },
      ]
    : [{ figure: 'vs NumPy', value: 'skipped', target: numpy.reason }]),
];
result.durationSeconds = round((Date.now() - started) / 1000, 3);
const file = writeResult(NAME, result);

// ---------------------------------------------------------------- table
const mark = (met) => (met ? 'met' : 'MISSED');
const ms = (x) => `${x.toFixed(2)} ms`;
const tableRows = [
  ['figure', 'value', 'target'],
  ['a. exact, time per run at 600 rpm', ms(med('exact600', 'perRunMs')), ''],
  ['   exact, time per run at 600,000 rpm', ms(med('exact600k', 'perRunMs')), ''],
  ['   600 / 600,000 (paired median)', flat.toFixed(3), `${r3(1 / TARGET_FLAT)}–${TARGET_FLAT} ${mark(result.flatInTraffic.met)}`],
  ['     on CPU time', flatCpu.toFixed(3), ''],
  ['   600,000 rpm without check noise (diagnostic)', ms(med('exact600kNoCheckNoise', 'perRunMs')), `with / without ${noCheck.toFixed(2)}`],
  ['b. exact at 60k rpm', perSecond(med('exact60k', 'rate')), `${ms(med('exact60k', 'perRunMs'))} a run`],
  ['   sample at 60k rpm', perSecond(med('sample60k', 'rate')), `${ms(med('sample60k', 'perRunMs'))} a run`],
  ['   exact / sample', vsSample.toFixed(0), `≥ ${TARGET_VS_SAMPLE} ${mark(result.exactVsSample.met)}`],
  ['     on CPU time', vsSampleCpu.toFixed(0), ''],
];
if (numpy.available) {
  tableRows.push(
    [`c. NumPy ${numpy.numpy} at 60k rpm (in-process time)`, perSecond(med('numpy60k', 'rate')), `${ms(med('numpy60k', 'perRunMs'))} a run`],
    ['   exact / NumPy', vsNumpy.exactVsNumpy.toFixed(0), `≥ ${TARGET_VS_NUMPY} ${mark(result.vsNumpy.exactMet)}`],
    ['   sample / NumPy', vsNumpy.sampleVsNumpy.toFixed(3), `≥ ${TARGET_SAMPLE_VS_NUMPY} ${mark(result.vsNumpy.sampleMet)}`],
    ['     on CPU time: exact, sample', `${vsNumpy.exactVsNumpyCpu.toFixed(0)}, ${vsNumpy.sampleVsNumpyCpu.toFixed(3)}`, ''],
    ['     NumPy whole process (start-up incl.): exact, sample', `${vsNumpy.exactVsNumpyProcess.toFixed(0)}, ${vsNumpy.sampleVsNumpyProcess.toFixed(3)}`, ''],
  );
} else tableRows.push(['c. vs NumPy', 'skipped', numpy.reason]);
tableRows.push(['background load (other processes)', background.medianCores === null ? 'n/a' : `${background.medianCores.toFixed(2)} cores`, background.maxCores === null ? '' : `max ${background.maxCores.toFixed(2)}`]);
console.log(`\n${NAME}: ${facts.node}, ${facts.cpu}, ${facts.cores} cores, ${result.date}`);
console.log(table(tableRows));
if (background.maxCores !== null && background.maxCores > QUIET) {
  console.log(`warning: other processes used up to ${background.maxCores.toFixed(2)} cores during the measurements; the ratios pair jobs within a round, but read them with care`);
}
console.log(`wrote ${path.relative(process.cwd(), file)} in ${result.durationSeconds} s`);
