/**
 * Whole-command benchmark of the `sample` engine (see bench/README.md for what each figure means).
 *
 * 1. Engine vs kernel: simulated requests per second of rehearse's simulate() (workers: 1) against
 *    a minimal hand-written kernel (bench/_kernel.mjs) doing the same work in the same process,
 *    paired round by round. Target: engine / kernel ≥ 0.5.
 * 2. Worker scaling: the same simulate() with workers 1 and 2. Target: ≥ 1.7 on 2 cores.
 *
 * Writes bench/results/sample-engine.json. Run with `npm run build && npm run bench`, or alone
 * with `node bench/sample-engine.mjs`. BENCH_SCALING_RUNS=<n> fixes the runs of part 2.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runKernel, kernelLaw } from './_kernel.mjs';
import { TMP_DIR, checkBuild, distUrl, machine, median, perSecond, round, rounds, spread, table, timed, writeResult } from './_lib.mjs';

const NAME = 'sample-engine';
const TARGET_ENGINE_VS_KERNEL = 0.5;
const TARGET_SCALING = 1.7;
/** Part 1: runs per measurement, and measured rounds after one warm-up round. */
const RUNS_1 = 12;
const ROUNDS_1 = 5;
/** Part 2: a workers: 1 pass is sized to take about this long; rounds alternate the order. */
const SCALING_SECONDS = 3.5;
const ROUNDS_2 = 3;
const GATE_RATIO = 1000;

checkBuild(['sim/simulate.js', 'config/load.js', 'sim/ladder.js', 'sim/runs.js']);
const { simulate } = await import(distUrl('sim/simulate.js'));
const { loadScenarioFile } = await import(distUrl('config/load.js'));
const { checkSchedule } = await import(distUrl('sim/ladder.js'));
const { simulateRuns } = await import(distUrl('sim/runs.js'));

const started = Date.now();
const facts = machine();

// The scenario: 600 requests/minute, the default ladder, checks every 5 minutes, a candidate
// identical to the baseline, no non-determinism, and two gates that never fire, so every window
// of every run is simulated and the work per run is fixed.
const SCENARIO_YAML = `name: bench-sample-engine
description: No regression and never-firing gates, so every run simulates every window.
runs: ${RUNS_1}
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
const kernel = (runs) => runKernel({ canaryMeans, baselineMeans, law, runs, seed: scenario.seed, maxCostRatio: GATE_RATIO, maxP99Ratio: GATE_RATIO });

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

const viaSimulate = (runs, workers) => simulate({ scenarios: [scenario], runs, workers, recordChecks: false }).then(summed);
const inThread = (runs) => simulateRuns(scenario, { configs, runFrom: 0, runTo: runs, recordChecks: false });

const log = (msg) => process.stderr.write(`${NAME}: ${msg}\n`);

// ---------------------------------------------------------------- 1. engine vs kernel
log(`engine vs kernel: ${RUNS_1} runs × ${schedule.length} windows, ${ROUNDS_1} rounds after a warm-up`);
const part1 = { simulate: [], inThread: [], kernel: [] };
let kernelAnswers = null;
let simulateCheck = null;
await rounds(1 + ROUNDS_1, ['simulate', 'inThread', 'kernel'], async (what, r) => {
  let t;
  if (what === 'simulate') {
    t = await timed(() => viaSimulate(RUNS_1, 1));
    simulateCheck = t.value;
    t.requests = t.value.requests;
  } else if (what === 'inThread') {
    t = await timed(() => inThread(RUNS_1));
    t.requests = t.value.simulatedRequests;
  } else {
    t = await timed(() => kernel(RUNS_1));
    kernelAnswers = t.value;
    t.requests = t.value.requests;
  }
  if (r > 0) part1[what].push({ wall: t.wall, requests: t.requests, rate: t.requests / t.wall, ownCpu: t.ownCpu, backgroundCores: t.backgroundCores });
});

if (simulateCheck.promoted !== simulateCheck.runs) {
  throw new Error(`${simulateCheck.runs - simulateCheck.promoted} runs halted: the gates must never fire, or runs simulate different amounts of work`);
}
if (kernelAnswers.halts !== 0) throw new Error('the kernel halted a run: its gates must never fire');

// The kernel must compute what the gates read: its baseline mean cost and p99 latency, averaged
// over the checks, against the lognormals' closed forms (rounding the tokens moves the mean by
// far less than the tolerance; the sample p99 of a few thousand requests is nearly unbiased).
const lognormalMean = (mu, s) => Math.exp(mu + (s * s) / 2);
const expectedCost = lognormalMean(law.muI, law.sI) * law.pin + lognormalMean(law.muO, law.sO) * law.pout;
const kernelCheck = {
  meanCost: round(kernelAnswers.meanBaselineCost, 5),
  expectedMeanCost: round(expectedCost, 5),
  p99LatencyMs: round(kernelAnswers.meanBaselineP99, 5),
  expectedP99LatencyMs: scenario.baseline.latency_ms.p99,
};
kernelCheck.ok =
  Math.abs(kernelAnswers.meanBaselineCost / expectedCost - 1) < 0.03 &&
  Math.abs(kernelAnswers.meanBaselineP99 / scenario.baseline.latency_ms.p99 - 1) < 0.03;
if (!kernelCheck.ok) throw new Error(`the kernel's answers are off: ${JSON.stringify(kernelCheck)}`);

const rate1 = (what) => median(part1[what].map((m) => m.rate));
// Ratios are paired: each round's engine figure over the same round's kernel figure.
const paired = (a, b) => median(part1[a].map((m, i) => m.rate / part1[b][i].rate));
const engineVsKernel = paired('simulate', 'kernel');
const inThreadVsKernel = paired('inThread', 'kernel');
// Same runs, same seed: the same requests, so the wall-time difference is the pool's cost per call
// (thread start, module loading, a cold JIT in the worker, transfers).
const poolOverhead = median(part1.simulate.map((m, i) => m.wall - part1.inThread[i].wall));

// ---------------------------------------------------------------- 2. worker scaling
const perRun = simulateCheck.requests / simulateCheck.runs;
const envRuns = Number(process.env.BENCH_SCALING_RUNS);
const RUNS_2 =
  Number.isInteger(envRuns) && envRuns > 0
    ? envRuns
    : Math.max(64, Math.min(400, Math.ceil((SCALING_SECONDS * rate1('simulate')) / perRun / 16) * 16));
log(`worker scaling: ${RUNS_2} runs, workers 1 and 2, ${ROUNDS_2} rounds`);
const part2 = { 1: [], 2: [] };
const outcomesOf = {};
await rounds(ROUNDS_2, [1, 2], async (workers) => {
  const t = await timed(() => viaSimulate(RUNS_2, workers));
  outcomesOf[workers] ??= t.value;
  part2[workers].push({
    wall: t.wall,
    requests: t.value.requests,
    rate: t.value.requests / t.wall,
    cpuPerWall: t.ownCpu / t.wall,
    backgroundCores: t.backgroundCores,
  });
});
// Determinism costs nothing to check here: both worker counts must give the same results.
const sameResults =
  outcomesOf[1].requests === outcomesOf[2].requests &&
  outcomesOf[1].batches.flatMap((b) => [...b.outcomes.canaryRequests]).join() === outcomesOf[2].batches.flatMap((b) => [...b.outcomes.canaryRequests]).join();
if (!sameResults) throw new Error('workers: 1 and workers: 2 gave different results');

const rate2 = (w) => median(part2[w].map((m) => m.rate));
const scaling = median(part2[2].map((m, i) => m.rate / part2[1][i].rate));
// The pool's fixed cost per call is paid once by either worker count; without it the ratio is
// what each extra run gains. A derived estimate, shown beside the measured figure.
const w1Wall = median(part2[1].map((m) => m.wall)), w2Wall = median(part2[2].map((m) => m.wall));
const scalingNetOfStartup = w2Wall > poolOverhead ? (w1Wall - poolOverhead) / (w2Wall - poolOverhead) : null;

// ---------------------------------------------------------------- results
const allBackground = [...part1.simulate, ...part1.inThread, ...part1.kernel, ...part2[1], ...part2[2]]
  .map((m) => m.backgroundCores)
  .filter((x) => x !== null);
const background = allBackground.length ? median(allBackground) : null;
const maxBackground = allBackground.length ? Math.max(...allBackground) : null;

const r3 = (x) => round(x, 3);
const roundTimes = (list) => list.map((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'number' ? round(v, 4) : v])));
const result = {
  bench: NAME,
  date: new Date(started).toISOString(),
  durationSeconds: round((Date.now() - started) / 1000, 3),
  machine: facts,
  backgroundLoad: {
    note: 'CPU used by other processes during the measurements, in cores (from /proc/stat); high values make figures unreliable',
    medianCores: background === null ? null : r3(background),
    maxCores: maxBackground === null ? null : r3(maxBackground),
  },
  scenario: {
    requestsPerMinute: scenario.requestsPerMinute,
    ladder: scenario.stages.map((s) => `${s.percent}%${s.holdMinutes === null ? '' : ` ${s.holdMinutes}m`}`).join(' → '),
    checkEveryMinutes: scenario.checkEveryMinutes,
    windows: schedule.length,
    expectedRequestsPerRun: expectedPerRun,
    gates: scenario.gates.gates.map((g) => `${g.metric} ${g.stat} max_ratio ${g.max_ratio}`),
  },
  engineVsKernel: {
    runs: RUNS_1,
    rounds: ROUNDS_1,
    engineRequestsPerSecond: Math.round(rate1('simulate')),
    engineInThreadRequestsPerSecond: Math.round(rate1('inThread')),
    kernelRequestsPerSecond: Math.round(rate1('kernel')),
    ratio: r3(engineVsKernel),
    target: TARGET_ENGINE_VS_KERNEL,
    met: engineVsKernel >= TARGET_ENGINE_VS_KERNEL,
    inThreadRatio: r3(inThreadVsKernel),
    poolOverheadSecondsPerCall: r3(poolOverhead),
    spread: { engine: r3(spread(part1.simulate.map((m) => m.rate))), kernel: r3(spread(part1.kernel.map((m) => m.rate))) },
    kernelCheck,
    measurements: { simulate: roundTimes(part1.simulate), inThread: roundTimes(part1.inThread), kernel: roundTimes(part1.kernel) },
  },
  workerScaling: {
    runs: RUNS_2,
    rounds: ROUNDS_2,
    workers1RequestsPerSecond: Math.round(rate2(1)),
    workers2RequestsPerSecond: Math.round(rate2(2)),
    ratio: r3(scaling),
    target: TARGET_SCALING,
    met: scaling >= TARGET_SCALING,
    ratioNetOfPoolStartup: scalingNetOfStartup === null ? null : r3(scalingNetOfStartup),
    cpuPerWallWorkers2: r3(median(part2[2].map((m) => m.cpuPerWall))),
    sameResults,
    measurements: { workers1: roundTimes(part2[1]), workers2: roundTimes(part2[2]) },
  },
};
result.summary = [
  { figure: 'engine / kernel (requests/s)', value: result.engineVsKernel.ratio, target: `≥ ${TARGET_ENGINE_VS_KERNEL}`, met: result.engineVsKernel.met },
  { figure: 'workers 2 / workers 1 (requests/s)', value: result.workerScaling.ratio, target: `≥ ${TARGET_SCALING}`, met: result.workerScaling.met },
];
const file = writeResult(NAME, result);

const mark = (met) => (met ? 'met' : 'MISSED');
console.log(`\n${NAME}  ${facts.node}, ${facts.cpu}, ${facts.cores} cores, ${result.date}`);
console.log(
  table([
    ['figure', 'value', 'target'],
    [`engine: simulate(), workers 1, ${RUNS_1} runs`, perSecond(rate1('simulate')), ''],
    ['engine: simulateRuns() in this thread', perSecond(rate1('inThread')), ''],
    ['kernel: hand-written, this thread', perSecond(rate1('kernel')), ''],
    ['engine / kernel', r3(engineVsKernel).toFixed(3), `≥ ${TARGET_ENGINE_VS_KERNEL} ${mark(result.engineVsKernel.met)}`],
    ['engine in thread / kernel', r3(inThreadVsKernel).toFixed(3), ''],
    ['pool cost per simulate() call', `${(poolOverhead * 1000).toFixed(0)} ms`, ''],
    [`simulate(), workers 1, ${RUNS_2} runs`, perSecond(rate2(1)), ''],
    [`simulate(), workers 2, ${RUNS_2} runs`, perSecond(rate2(2)), ''],
    ['workers 2 / workers 1', r3(scaling).toFixed(3), `≥ ${TARGET_SCALING} ${mark(result.workerScaling.met)}`],
    ['  net of pool start-up (derived)', scalingNetOfStartup === null ? 'n/a' : r3(scalingNetOfStartup).toFixed(3), ''],
    ['  process CPU / wall, workers 2', r3(median(part2[2].map((m) => m.cpuPerWall))).toFixed(2), '≈ 2 if both cores free'],
    ['background load (other processes)', background === null ? 'n/a' : `${background.toFixed(2)} cores`, 'max ' + (maxBackground === null ? 'n/a' : maxBackground.toFixed(2))],
  ]),
);
if (background !== null && maxBackground > 0.3) {
  console.log(`warning: other processes used up to ${maxBackground.toFixed(2)} cores during the measurements; the figures, the worker scaling above all, may be low`);
}
console.log(`wrote ${path.relative(process.cwd(), file)} in ${result.durationSeconds} s`);
