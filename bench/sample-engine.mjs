/**
 * Whole-command benchmark of the `sample` engine (see bench/README.md for what each figure means).
 *
 * 1. Engine vs kernel: simulated requests per second of rehearse's simulate() (workers: 1,
 *    engine: 'sample') against a minimal hand-written kernel (bench/_kernel.mjs) doing the same
 *    work in the same process, paired round by round. Target: engine / kernel ≥ 0.5.
 * 2. Worker scaling: the same simulate() with workers 1 and 2. Target: ≥ 1.7 on 2 cores.
 *
 * Writes bench/results/sample-engine.json. Run with `npm run build && npm run bench`, or alone
 * with `node bench/sample-engine.mjs`. BENCH_RUNS=<n> fixes the runs per call (else sized to ~2.5 s a call).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { runKernel, kernelLaw } from './_kernel.mjs';
import { TMP_DIR, checkBuild, distUrl, machine, median, perSecond, round, rounds, spread, table, timed, writeResult } from './_lib.mjs';

const NAME = 'sample-engine';
const TARGET_ENGINE_VS_KERNEL = 0.5;
const TARGET_SCALING = 1.7;
/** Runs per call are sized so a workers: 1 call takes about this long, within these bounds. */
const SECONDS_PER_CALL = 2.5;
const MIN_RUNS = 48;
const MAX_RUNS = 400;
/** Runs of the short calls that measure the pool's cost per simulate() call. */
const STARTUP_RUNS = 2;
/** Measured rounds: each times every job once. */
const ROUNDS = 4;
const GATE_RATIO = 1000;
/** Background load, in cores, below which a measurement counts as quiet. */
const QUIET = 0.3;

const build = checkBuild(['sim/simulate.js', 'config/load.js', 'sim/ladder.js', 'sim/runs.js']);
const { simulate } = await import(distUrl('sim/simulate.js'));
const { loadScenarioFile } = await import(distUrl('config/load.js'));
const { checkSchedule } = await import(distUrl('sim/ladder.js'));
const { simulateRuns } = await import(distUrl('sim/runs.js'));

const started = Date.now();
const r3 = (x) => round(x, 3);
const facts = machine();

// The scenario: 600 requests/minute, the default ladder, checks every 5 minutes, a candidate
// identical to the baseline, no non-determinism, and two gates that never fire, so every window
// of every run is simulated and the work per run is fixed.
const SCENARIO_YAML = `name: bench-sample-engine
description: No regression and never-firing gates, so every run simulates every window.
runs: 1
seed: 1
traffic:
  requests_per_minute: 600
  baseline:
    latency_ms: { p50: 800, p99: 4000 }
    output_tokens: { p50: 300, p99: 1500 }
    input_tokens: { p50: 1000, p99: 6000 }
    error_rate: 0.002
    refusal_rate: 0.01
    thumbs_down_rate: 0.03
  price: { input_per_million: 0.5, output_per_million: 1.5 }
candidate: {}
nondeterminism: { run: 0, check: 0 }
rollout:
  stages:
    - { percent: 1, hold: 30m }
    - { percent: 5, hold: 2h }
    - { percent: 25, hold: 4h }
    - { percent: 100 }
  check_every: 5m
gates:
  - { name: cost_per_request, metric: cost_usd, stat: mean, max_ratio: ${GATE_RATIO} }
  - { name: latency_p99, metric: latency_ms, stat: p99, max_ratio: ${GATE_RATIO} }
`;
mkdirSync(TMP_DIR, { recursive: true });
const scenarioFile = path.join(TMP_DIR, `${NAME}.yaml`);
writeFileSync(scenarioFile, SCENARIO_YAML);
const scenario = loadScenarioFile(scenarioFile);
const configs = [scenario.gates];

// The kernel's work: the same windows, the same per-window Poisson means of each arm.
const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
const lambdas = schedule.map((w) => scenario.requestsPerMinute * (w.endMinute - w.startMinute));
const canaryMeans = schedule.map((w, i) => (lambdas[i] * w.percent) / 100);
const baselineMeans = schedule.map((w, i) => (lambdas[i] * (100 - w.percent)) / 100);
const expectedPerRun = lambdas.reduce((a, b) => a + b, 0);
const law = kernelLaw(scenario);
const kernelWork = { canaryMeans, baselineMeans, law, seed: scenario.seed, maxCostRatio: GATE_RATIO, maxP99Ratio: GATE_RATIO };
const kernel = (runs) => runKernel({ ...kernelWork, runs });
// The same runs split over `threads` fresh worker threads: the machine's own scaling, free of
// rehearse's pool, the ceiling the engine's worker scaling is read against.
const kernelThreads = (runs, threads) =>
  Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const from = Math.floor((runs * t) / threads), to = Math.floor((runs * (t + 1)) / threads);
      return new Promise((resolve, reject) => {
        const w = new Worker(new URL('./_kernel-thread.mjs', import.meta.url), { workerData: { ...kernelWork, runs: to - from, runFrom: from } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    }),
  ).then((parts) => ({ requests: parts.reduce((a, p) => a + p.requests, 0), halts: parts.reduce((a, p) => a + p.halts, 0) }));

const PROMOTE = 2; // OUTCOME_CODES.indexOf('promote')
function summed(result) {
  const batches = result[0].batches;
  let requests = 0, promoted = 0, runs = 0;
  for (const b of batches) {
    requests += b.simulatedRequests;
    runs += b.outcomes.outcome.length;
    for (const o of b.outcomes.outcome) if (o === PROMOTE) promoted++;
  }
  return { requests, runs, promoted, batches };
}

// The engine is pinned: simulate() defaults to `auto` (the exact engine) where the build has a
// choice; this bench measures `sample`, which draws every request.
const ENGINE = 'sample';
if (existsSync(new URL(distUrl('sim/engine.js')))) {
  const { ENGINES } = await import(distUrl('sim/engine.js'));
  if (!ENGINES.includes(ENGINE)) throw new Error(`this build has no ${ENGINE} engine (engines: ${ENGINES.join(', ')})`);
}
const viaSimulate = (runs, workers) => simulate({ scenarios: [scenario], runs, workers, recordChecks: false, engine: ENGINE }).then(summed);
const inThread = (runs) => simulateRuns(scenario, { configs, runFrom: 0, runTo: runs, recordChecks: false, engine: ENGINE });

const log = (msg) => process.stderr.write(`${NAME}: ${msg}\n`);

// ---------------------------------------------------------------- warm-up and sizing
// The kernel and the in-thread engine warm their JIT here; simulate() warms the main thread's side
// (each call starts a fresh pool, so the workers' JIT is cold in every call: part of its cost).
kernel(2);
inThread(2);
await viaSimulate(2, 1);
const sizing = await timed(() => inThread(4));
const warmRate = sizing.value.simulatedRequests / sizing.wall;
const envRuns = Number(process.env.BENCH_RUNS);
// A multiple of 16 (the pool cuts runs into workers × 8 tasks) and enough runs that the pool's
// start-up is a small share of a call.
const RUNS =
  Number.isInteger(envRuns) && envRuns > 0
    ? envRuns
    : Math.max(MIN_RUNS, Math.min(MAX_RUNS, Math.ceil((SECONDS_PER_CALL * warmRate) / expectedPerRun / 16) * 16));
const RUNS_IN_THREAD = Math.max(4, Math.round(RUNS / 4));

// ---------------------------------------------------------------- measure
// Every round times each job once, in a rotated order; ratios are taken within a round (pairs
// measured seconds apart), then the median over rounds.
log(`${RUNS} runs × ${schedule.length} windows (~${Math.round(expectedPerRun)} requests a run), ${ROUNDS} rounds`);
const m = { workers1: [], workers2: [], kernel: [], kernel2: [], inThread: [] };
const results = {};
const startup = [];
await rounds(ROUNDS, Object.keys(m), async (job) => {
  let t, requests;
  if (job === 'workers1' || job === 'workers2') {
    t = await timed(() => viaSimulate(RUNS, job === 'workers1' ? 1 : 2));
    requests = t.value.requests;
  } else if (job === 'kernel') {
    t = await timed(() => kernel(RUNS));
    requests = t.value.requests;
  } else if (job === 'kernel2') {
    t = await timed(() => kernelThreads(RUNS, 2));
    requests = t.value.requests;
  } else {
    t = await timed(() => inThread(RUNS_IN_THREAD));
    requests = t.value.simulatedRequests;
  }
  results[job] ??= t.value;
  if (job === 'inThread') {
    // The pool's cost per call, measured directly: a 2-run simulate() against the same 2 runs in
    // this thread (the same requests), back to back so both see the same machine.
    const call = await timed(() => viaSimulate(STARTUP_RUNS, 1));
    const own = await timed(() => inThread(STARTUP_RUNS));
    startup.push({ wall: call.wall - own.wall, cpu: call.ownCpu - own.ownCpu });
  }
  m[job].push({
    wall: t.wall,
    cpu: t.ownCpu,
    requests,
    rate: requests / t.wall,
    cpuRate: requests / t.ownCpu,
    cpuPerWall: t.ownCpu / t.wall,
    backgroundCores: t.backgroundCores,
  });
});

// ---------------------------------------------------------------- sanity
for (const job of ['workers1', 'workers2']) {
  const r = results[job];
  if (r.promoted !== r.runs) throw new Error(`${r.runs - r.promoted} runs halted: the gates must never fire, or runs differ in work`);
}
if (results.kernel.halts !== 0 || results.kernel2.halts !== 0) throw new Error('the kernel halted a run: its gates must never fire');
// Determinism is free to check here: both worker counts must give the same results.
const canaryRequests = (r) => r.batches.flatMap((b) => [...b.outcomes.canaryRequests]).join();
const sameResults = results.workers1.requests === results.workers2.requests && canaryRequests(results.workers1) === canaryRequests(results.workers2);
if (!sameResults) throw new Error('workers: 1 and workers: 2 gave different results');

// The kernel must compute what the gates read: its baseline mean cost and p99 latency, averaged
// over the checks, against the lognormals' closed forms (rounding the tokens moves the mean by
// far less than the tolerance; the sample p99 of a few thousand requests is nearly unbiased).
const lognormalMean = (mu, sd) => Math.exp(mu + (sd * sd) / 2);
const expectedCost = lognormalMean(law.muI, law.sI) * law.pin + lognormalMean(law.muO, law.sO) * law.pout;
const k = results.kernel;
const kernelCheck = {
  meanCostUsd: round(k.meanBaselineCost, 5),
  expectedMeanCostUsd: round(expectedCost, 5),
  p99LatencyMs: round(k.meanBaselineP99, 5),
  expectedP99LatencyMs: scenario.baseline.latency_ms.p99,
};
kernelCheck.ok = Math.abs(k.meanBaselineCost / expectedCost - 1) < 0.03 && Math.abs(k.meanBaselineP99 / scenario.baseline.latency_ms.p99 - 1) < 0.03;
if (!kernelCheck.ok) throw new Error(`the kernel's answers are off: ${JSON.stringify(kernelCheck)}`);

// ---------------------------------------------------------------- figures
const rate = (job) => median(m[job].map((x) => x.rate));
const paired = (a, b, field = 'rate') => median(m[a].map((x, i) => x[field] / m[b][i][field]));
// The same ratio over the rounds where neither job saw other processes use more than QUIET cores:
// null when no round was quiet. A supplement for busy machines; the headline uses every round.
const quietRounds = (a, b) => m[a].map((_, i) => i).filter((i) => [m[a][i], m[b][i]].every((x) => x.backgroundCores !== null && x.backgroundCores <= QUIET));
const pairedQuiet = (a, b) => {
  const rs = quietRounds(a, b);
  return { rounds: rs.length, ratio: rs.length ? r3(median(rs.map((i) => m[a][i].rate / m[b][i].rate))) : null };
};
const engineVsKernel = paired('workers1', 'kernel');
const inThreadVsKernel = paired('inThread', 'kernel');
// Drawing every request, the engine cannot beat the least work that does so by much: a ratio far
// above 1 means the call did not run the sample engine (an option ignored or renamed).
if (engineVsKernel > 2 || inThreadVsKernel > 2) {
  throw new Error(`engine / kernel = ${engineVsKernel.toFixed(2)}: simulate() does not seem to run the ${ENGINE} engine`);
}
// On CPU time (this process's, all threads) instead of wall time: single-threaded work measured
// this way barely notices other processes taking turns on the cores, so this ratio holds steady
// on a busy machine where the wall-time one drifts.
const engineVsKernelCpu = paired('workers1', 'kernel', 'cpuRate');
const inThreadVsKernelCpu = paired('inThread', 'kernel', 'cpuRate');
const scaling = paired('workers2', 'workers1');
const machineScaling = paired('kernel2', 'kernel');
// What a simulate() call costs beyond the engine's work (thread start, loading modules in the
// worker, its cold JIT, transfers), in wall and CPU seconds: the median of the direct measures.
const poolOverhead = median(startup.map((x) => x.wall));
const poolOverheadCpu = median(startup.map((x) => x.cpu));
// Either worker count pays that fixed cost once per call (two workers start side by side); taken
// off both wall times, the scaling ratio is what the second core adds to the work itself.
// Derived per round, then the median.
const net = m.workers1.map((x, i) => {
  const o = Math.max(0, poolOverhead), w2 = m.workers2[i].wall;
  return w2 > o ? (x.wall - o) / (w2 - o) : NaN;
}).filter(Number.isFinite);
const scalingNetOfStartup = net.length ? median(net) : null;

// ---------------------------------------------------------------- results
const allBackground = Object.values(m).flat().map((x) => x.backgroundCores).filter((x) => x !== null);
const background = allBackground.length ? median(allBackground) : null;
const maxBackground = allBackground.length ? Math.max(...allBackground) : null;

const rows = (list) => list.map((x) => Object.fromEntries(Object.entries(x).map(([key, v]) => [key, typeof v === 'number' ? round(v, 4) : v])));
const result = {
  bench: NAME,
  date: new Date(started).toISOString(),
  durationSeconds: round((Date.now() - started) / 1000, 3),
  machine: facts,
  build,
  backgroundLoad: {
    note: 'CPU used by other processes during the measurements, in cores (/proc/stat less this process); high values make the figures unreliable',
    medianCores: background === null ? null : r3(background),
    maxCores: maxBackground === null ? null : r3(maxBackground),
  },
  scenario: {
    engine: ENGINE,
    requestsPerMinute: scenario.requestsPerMinute,
    ladder: scenario.stages.map((st) => `${st.percent}%${st.holdMinutes === null ? '' : ` ${st.holdMinutes}m`}`).join(' → '),
    checkEveryMinutes: scenario.checkEveryMinutes,
    windows: schedule.length,
    expectedRequestsPerRun: expectedPerRun,
    gates: scenario.gates.gates.map((g) => `${g.metric} ${g.stat} max_ratio ${g.max_ratio}`),
  },
  runs: RUNS,
  runsInThread: RUNS_IN_THREAD,
  rounds: ROUNDS,
  engineVsKernel: {
    engineRequestsPerSecond: Math.round(rate('workers1')),
    kernelRequestsPerSecond: Math.round(rate('kernel')),
    ratio: r3(engineVsKernel),
    target: TARGET_ENGINE_VS_KERNEL,
    met: engineVsKernel >= TARGET_ENGINE_VS_KERNEL,
    quiet: pairedQuiet('workers1', 'kernel'),
    engineRequestsPerCpuSecond: Math.round(median(m.workers1.map((x) => x.cpuRate))),
    kernelRequestsPerCpuSecond: Math.round(median(m.kernel.map((x) => x.cpuRate))),
    ratioCpuTime: r3(engineVsKernelCpu),
    engineInThreadRequestsPerSecond: Math.round(rate('inThread')),
    inThreadRatio: r3(inThreadVsKernel),
    inThreadRatioCpuTime: r3(inThreadVsKernelCpu),
    poolSecondsPerCall: r3(poolOverhead),
    poolCpuSecondsPerCall: r3(poolOverheadCpu),
    kernelCheck,
  },
  workerScaling: {
    workers1RequestsPerSecond: Math.round(rate('workers1')),
    workers2RequestsPerSecond: Math.round(rate('workers2')),
    ratio: r3(scaling),
    target: TARGET_SCALING,
    met: scaling >= TARGET_SCALING,
    quiet: pairedQuiet('workers2', 'workers1'),
    kernelTwoThreadsRequestsPerSecond: Math.round(rate('kernel2')),
    machineRatio: r3(machineScaling),
    ratioOfMachine: r3(scaling / machineScaling),
    ratioNetOfPoolStartup: scalingNetOfStartup === null ? null : r3(scalingNetOfStartup),
    processCpuPerWallWorkers2: r3(median(m.workers2.map((x) => x.cpuPerWall))),
    sameResults,
  },
  spread: Object.fromEntries(Object.entries(m).map(([job, list]) => [job, r3(spread(list.map((x) => x.rate)))])),
  measurements: { ...Object.fromEntries(Object.entries(m).map(([job, list]) => [job, rows(list)])), poolPerCall: rows(startup) },
};
result.summary = [
  { figure: 'engine / kernel', value: result.engineVsKernel.ratio, target: `≥ ${TARGET_ENGINE_VS_KERNEL}`, met: result.engineVsKernel.met },
  { figure: 'engine / kernel, on CPU time', value: result.engineVsKernel.ratioCpuTime },
  { figure: 'workers 2 / workers 1', value: result.workerScaling.ratio, target: `≥ ${TARGET_SCALING}`, met: result.workerScaling.met },
  { figure: 'kernel 2 threads / 1 (the machine)', value: result.workerScaling.machineRatio },
];
const file = writeResult(NAME, result);

const mark = (met) => (met ? 'met' : 'MISSED');
const quietRow = (q) => [`  over quiet rounds only (${q.rounds} of ${ROUNDS})`, q.ratio === null ? 'n/a' : q.ratio.toFixed(3), ''];
console.log(`\n${NAME}: ${facts.node}, ${facts.cpu}, ${facts.cores} cores, ${result.date}`);
console.log(
  table([
    ['figure', 'value', 'target'],
    [`engine: simulate(), workers 1, ${RUNS} runs`, perSecond(rate('workers1')), ''],
    [`kernel: hand-written, ${RUNS} runs`, perSecond(rate('kernel')), ''],
    ['engine / kernel', r3(engineVsKernel).toFixed(3), `≥ ${TARGET_ENGINE_VS_KERNEL} ${mark(result.engineVsKernel.met)}`],
    quietRow(result.engineVsKernel.quiet),
    ['  on CPU time', r3(engineVsKernelCpu).toFixed(3), ''],
    [`  engine in this thread, ${RUNS_IN_THREAD} runs`, perSecond(rate('inThread')), ''],
    ['  engine in this thread / kernel', r3(inThreadVsKernel).toFixed(3), ''],
    ['    on CPU time', r3(inThreadVsKernelCpu).toFixed(3), ''],
    ['  pool cost per simulate() call', `${(poolOverhead * 1000).toFixed(0)} ms`, `${(poolOverheadCpu * 1000).toFixed(0)} ms CPU`],
    [`simulate(), workers 2, ${RUNS} runs`, perSecond(rate('workers2')), ''],
    ['workers 2 / workers 1', r3(scaling).toFixed(3), `≥ ${TARGET_SCALING} ${mark(result.workerScaling.met)}`],
    quietRow(result.workerScaling.quiet),
    ['  kernel, 2 threads / 1 thread (the machine)', r3(machineScaling).toFixed(3), ''],
    ['  workers 2 / 1 over the machine\'s', r3(scaling / machineScaling).toFixed(3), ''],
    ['  net of pool start-up (derived)', scalingNetOfStartup === null ? 'n/a' : r3(scalingNetOfStartup).toFixed(3), ''],
    ['  process CPU / wall, workers 2', r3(median(m.workers2.map((x) => x.cpuPerWall))).toFixed(2), '≈ 2 when both cores are free'],
    ['background load (other processes)', background === null ? 'n/a' : `${background.toFixed(2)} cores`, maxBackground === null ? '' : `max ${maxBackground.toFixed(2)}`],
  ]),
);
if (maxBackground !== null && maxBackground > QUIET) {
  console.log(`warning: other processes used up to ${maxBackground.toFixed(2)} cores during the measurements; the figures, worker scaling above all, may read low`);
}
console.log(`wrote ${path.relative(process.cwd(), file)} in ${result.durationSeconds} s`);
