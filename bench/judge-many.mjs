/**
 * Simulate once, judge many (see bench/README.md, "judge-many", for what each figure means).
 *
 * The bundled scenarios/clean/no-regression.yaml, 1,000 runs kept whole with simulateWindows
 * (exact engine, this thread, the window needs of the gate grid), against judging 1,000 gate
 * configs over those runs with judgeWindows (this thread): the bundled scenarios/gates/default.yaml
 * with the max_ratio of latency_p99, cost_per_request and error_or_refusal each over 10 values
 * (a 10 × 10 × 10 grid). Target: judging the 1,000 configs costs less than simulating the runs.
 *
 * The runs are cut into slices; each slice is simulated, then judged under every config in the
 * next round, where the order of the two jobs is rotated, so the pair (simulate slice, judge the
 * same slice) is timed seconds apart and neither job always goes first. Writes
 * bench/results/judge-many.json. BENCH_RUNS=<n> (default 1000), BENCH_SLICES=<n> (default 4).
 */
import path from 'node:path';
import { checkBuild, distUrl, envInt, machine, median, ROOT, round, spread, table, timed, writeResult } from './_lib.mjs';
import { QUIET, backgroundOf, rows } from './_exact-lib.mjs';

const NAME = 'judge-many';
const TARGET = 1;
const RUNS = envInt('BENCH_RUNS', 1000);
const SLICES = Math.min(RUNS, envInt('BENCH_SLICES', 4));
const GRID = 10;
/** The three gates whose max_ratio the grid varies: from the file's value up to 4× it, geometric. */
const VARIED = ['latency_p99', 'cost_per_request', 'error_or_refusal'];
const SPAN = 4;

const build = checkBuild(['sim/windows.js', 'sim/runs.js', 'sim/ladder.js', 'gates/window.js', 'config/load.js']);
const { loadScenarioFile, loadGateFile } = await import(distUrl('config/load.js'));
const { simulateWindows, judgeWindows } = await import(distUrl('sim/windows.js'));
const { simulateRuns } = await import(distUrl('sim/runs.js'));
const { checkSchedule } = await import(distUrl('sim/ladder.js'));
const { needsOf } = await import(distUrl('gates/window.js'));

const started = Date.now();
const facts = machine();
const r3 = (x) => round(x, 3);
const log = (msg) => process.stderr.write(`${NAME}: ${msg}\n`);

// ---------------------------------------------------------------- scenario and configs
const scenario = loadScenarioFile(path.join(ROOT, 'scenarios/clean/no-regression.yaml'));
const base = loadGateFile(path.join(ROOT, 'scenarios/gates/default.yaml'));
for (const name of VARIED) {
  const g = base.gates.find((x) => x.name === name);
  if (!g || g.max_ratio === undefined) throw new Error(`scenarios/gates/default.yaml has no gate ${name} with a max_ratio`);
}
const values = (g) => Array.from({ length: GRID }, (_, i) => round(g.max_ratio * Math.pow(SPAN, i / (GRID - 1)), 4));
const axes = VARIED.map((name) => values(base.gates.find((x) => x.name === name)));
const configs = [];
for (const a of axes[0]) {
  for (const b of axes[1]) {
    for (const c of axes[2]) {
      const ratios = { [VARIED[0]]: a, [VARIED[1]]: b, [VARIED[2]]: c };
      configs.push({ label: `grid-${configs.length}`, source: base.source, gates: base.gates.map((g) => (g.name in ratios ? { ...g, max_ratio: ratios[g.name] } : g)) });
    }
  }
}
// The same grid with gates that never fire (each threshold 1e12 times larger, the test at alpha 0):
// the worst case for judging, every gate read at every check of every run.
const neverGate = (g) => (g.test ? { ...g, test: { ...g.test, alpha: 0 } } : { ...g, max_ratio: g.max_ratio * 1e12 });
const never = configs.map((c) => ({ ...c, label: `never-${c.label}`, gates: c.gates.map(neverGate) }));
// The summaries are simulated once with the needs of every config (the grid varies thresholds
// only, so they are the default file's needs: the scenario's own gates).
const needs = needsOf(configs);
const needsMatch = JSON.stringify(needs) === JSON.stringify(needsOf([scenario.gates])) && JSON.stringify(needs) === JSON.stringify(needsOf(never));
/** Distinct gates in a list of configs, by what their verdicts depend on: what judgeWindows scans. */
const distinctGates = (list) => new Set(list.flatMap((c) => c.gates.map((g) => JSON.stringify({ ...g, name: undefined, description: undefined, action: undefined })))).size;
if (!needsMatch) throw new Error("the grid's window needs differ from the scenario's gates': the runs would not be the same work");
const schedule = checkSchedule(scenario.stages, scenario.checkEveryMinutes);
const ENGINE = 'exact';

const simulateSlice = (from, to) => simulateWindows(scenario, needs, from, to, ENGINE);
function judgeAll(windows, list) {
  let checks = 0, promoted = 0, halts = 0;
  const promotedPerConfig = new Float64Array(list.length);
  for (let k = 0; k < list.length; k++) {
    const outcomes = judgeWindows(windows, schedule, list[k].gates);
    for (const o of outcomes) {
      checks += o.check < 0 ? windows.checks : o.check + 1;
      if (o.check < 0) {
        promoted++;
        promotedPerConfig[k]++;
      } else halts++;
    }
  }
  return { checks, promoted, halts, promotedPerConfig, judgements: list.length * (windows.runTo - windows.runFrom) };
}

// ---------------------------------------------------------------- warm-up and sanity
log('warming up');
const warm = simulateSlice(RUNS, RUNS + 4); // runs outside the measured range
judgeAll(warm, configs.slice(0, 50));
judgeAll(warm, never.slice(0, 50));
// The kept summaries judged under the scenario's own gates give what simulateRuns (simulate and
// judge in one pass, stopping at the halt) gives for the same runs: same outcome, gate, check and
// canary requests.
const direct = simulateRuns(scenario, { configs: [scenario.gates], runFrom: RUNS, runTo: RUNS + 4, recordChecks: false, engine: ENGINE }).outcomes;
const judged = judgeWindows(warm, schedule, scenario.gates.gates);
const sameOutcomes = judged.every((o, i) => o.check === direct.check[i] && o.gate === direct.gate[i] && o.canaryRequests === direct.canaryRequests[i]);
if (!sameOutcomes) throw new Error('judgeWindows over kept summaries disagrees with simulateRuns on the same runs');

// ---------------------------------------------------------------- measure
const sliceRuns = Math.ceil(RUNS / SLICES);
const slices = Array.from({ length: SLICES }, (_, i) => [i * sliceRuns, Math.min(RUNS, (i + 1) * sliceRuns)]).filter(([a, b]) => b > a);
const m = { simulate: [], judge: [], judgeNever: [] };
const record = (job, t, extra) =>
  m[job].push({ wall: t.wall, cpu: t.ownCpu, cpuPerWall: t.ownCpu / t.wall, backgroundCores: t.backgroundCores, ...extra });
let totals = { checks: 0, judgements: 0, promoted: 0 };
const promotedPerConfig = new Float64Array(configs.length);
let summariesBytes = 0;

async function simulateJob(i) {
  const [from, to] = slices[i];
  const t = await timed(() => simulateSlice(from, to));
  summariesBytes += t.value.summaries.byteLength + t.value.canaryRequests.byteLength;
  record('simulate', t, { slice: i, runs: to - from, msPerRun: (1000 * t.wall) / (to - from) });
  return t.value;
}
async function judgeJobs(i, windows) {
  const runs = windows.runTo - windows.runFrom;
  const t = await timed(() => judgeAll(windows, configs));
  totals = { checks: totals.checks + t.value.checks, judgements: totals.judgements + t.value.judgements, promoted: totals.promoted + t.value.promoted };
  t.value.promotedPerConfig.forEach((x, k) => (promotedPerConfig[k] += x));
  record('judge', t, { slice: i, runs, configs: configs.length, checksJudged: t.value.checks, nsPerCheck: (1e9 * t.wall) / t.value.checks / base.gates.length });
  const n = await timed(() => judgeAll(windows, never));
  record('judgeNever', n, { slice: i, runs, configs: never.length, checksJudged: n.value.checks, nsPerCheck: (1e9 * n.wall) / n.value.checks / base.gates.length });
}

log(`${RUNS} runs in ${slices.length} slices × ${schedule.length} checks; ${configs.length} configs (${VARIED.join(', ')} max_ratio over ${GRID} values each)`);
let pending = await simulateJob(0);
for (let i = 1; i <= slices.length; i++) {
  const judgeSlice = i - 1, windows = pending;
  if (i === slices.length) {
    await judgeJobs(judgeSlice, windows);
    break;
  }
  // Rotate: even rounds judge first, odd rounds simulate first.
  if (i % 2 === 0) {
    await judgeJobs(judgeSlice, windows);
    pending = await simulateJob(i);
  } else {
    const next = await simulateJob(i);
    await judgeJobs(judgeSlice, windows);
    pending = next;
  }
}

// ---------------------------------------------------------------- figures
const sum = (job, f = 'wall') => m[job].reduce((a, x) => a + x[f], 0);
// Per slice: judging that slice under every config / simulating that slice (the same runs).
const perSlice = m.simulate.map((s, i) => m.judge[i].wall / s.wall);
const perSliceCpu = m.simulate.map((s, i) => m.judge[i].cpu / s.cpu);
const ratio = median(perSlice);
const simulateSeconds = sum('simulate');
const judgeSeconds = sum('judge');
// The worst case, every judgement reading all 78 checks: the never-firing grid, judged whole.
const neverSeconds = sum('judgeNever');
const worstRatio = median(m.simulate.map((s, i) => m.judgeNever[i].wall / s.wall));
const quietRounds = perSlice.filter((_, i) => [m.simulate[i], m.judge[i]].every((x) => x.backgroundCores !== null && x.backgroundCores <= QUIET));
const promotedShares = [...promotedPerConfig].map((x) => x / RUNS);
const background = backgroundOf(m);

const result = {
  bench: NAME,
  date: new Date(started).toISOString(),
  durationSeconds: null,
  machine: facts,
  build,
  backgroundLoad: background,
  scenario: {
    file: 'scenarios/clean/no-regression.yaml',
    requestsPerMinute: scenario.requestsPerMinute,
    nondeterminism: scenario.nondeterminism,
    windows: schedule.length,
    engine: ENGINE,
    gates: 'scenarios/gates/default.yaml',
    needsMatch,
    strideFloats: warm.stride,
    summariesMiB: r3(summariesBytes / 2 ** 20),
  },
  grid: {
    configs: configs.length,
    varied: Object.fromEntries(VARIED.map((name, i) => [name, axes[i]])),
    fixed: base.gates.filter((g) => !VARIED.includes(g.name)).map((g) => g.name),
    promotedShare: { min: r3(Math.min(...promotedShares)), median: r3(median(promotedShares)), max: r3(Math.max(...promotedShares)) },
    meanChecksJudgedPerRun: r3(totals.checks / totals.judgements),
  },
  runs: RUNS,
  slices: slices.length,
  judgeVsSimulate: {
    simulateSeconds: r3(simulateSeconds),
    simulateMsPerRun: r3((1000 * simulateSeconds) / RUNS),
    judgeSeconds: r3(judgeSeconds),
    judgeMsPerConfig: r3((1000 * judgeSeconds) / configs.length),
    distinctGates: distinctGates(configs),
    judgeNsPerCheckJudged: r3((1e9 * judgeSeconds) / totals.checks / base.gates.length),
    ratio: r3(ratio),
    ratioOfTotals: r3(judgeSeconds / simulateSeconds),
    target: `< ${TARGET}`,
    met: ratio < TARGET,
    ratioCpuTime: r3(median(perSliceCpu)),
    quiet: { rounds: quietRounds.length, ratio: quietRounds.length ? r3(median(quietRounds)) : null },
    sameOutcomesAsSimulateRuns: sameOutcomes,
  },
  worstCase: {
    note: `every judgement reads all ${schedule.length} checks: the same ${never.length}-config grid with gates that never fire, judged whole`,
    distinctGates: distinctGates(never),
    judgeSeconds: r3(neverSeconds),
    ratio: r3(worstRatio),
  },
  spread: Object.fromEntries(Object.entries(m).map(([job, list]) => [job, r3(spread(list.map((x) => x.wall / (x.runs ?? 1))))])),
  measurements: Object.fromEntries(Object.entries(m).map(([job, list]) => [job, rows(list)])),
};
result.summary = [
  { figure: `judge ${configs.length} configs / simulate ${RUNS} runs`, value: result.judgeVsSimulate.ratio, target: `< ${TARGET}`, met: result.judgeVsSimulate.met },
  { figure: '  worst case (no gate fires)', value: result.worstCase.ratio },
];
result.durationSeconds = round((Date.now() - started) / 1000, 3);
const file = writeResult(NAME, result);

const mark = (met) => (met ? 'met' : 'MISSED');
console.log(`\n${NAME}: ${facts.node}, ${facts.cpu}, ${facts.cores} cores, ${result.date}`);
console.log(
  table([
    ['figure', 'value', 'target'],
    [`simulate ${RUNS} runs once (simulateWindows, exact, 1 thread)`, `${simulateSeconds.toFixed(2)} s`, `${((1000 * simulateSeconds) / RUNS).toFixed(1)} ms a run`],
    [`judge ${configs.length} configs over them (judgeWindows, 1 thread)`, `${judgeSeconds.toFixed(2)} s`, `${result.grid.meanChecksJudgedPerRun} checks a judgement`],
    ['judge / simulate (median over slices)', ratio.toFixed(3), `< ${TARGET} ${mark(result.judgeVsSimulate.met)}`],
    ['  on CPU time', median(perSliceCpu).toFixed(3), ''],
    [`  worst case: no gate fires, ${schedule.length} checks a judgement`, worstRatio.toFixed(3), `${neverSeconds.toFixed(2)} s for ${never.length} configs`],
    ['  distinct gates scanned: grid, worst case', `${result.judgeVsSimulate.distinctGates}, ${result.worstCase.distinctGates}`, `${result.judgeVsSimulate.judgeMsPerConfig} ms a config`],
    ['share promoted over the grid: min, median, max', `${result.grid.promotedShare.min}, ${result.grid.promotedShare.median}, ${result.grid.promotedShare.max}`, ''],
    ['background load (other processes)', background.medianCores === null ? 'n/a' : `${background.medianCores.toFixed(2)} cores`, background.maxCores === null ? '' : `max ${background.maxCores.toFixed(2)}`],
  ]),
);
if (background.maxCores !== null && background.maxCores > QUIET) {
  console.log(`warning: other processes used up to ${background.maxCores.toFixed(2)} cores during the measurements; the ratio pairs jobs on the same runs, but read it with care`);
}
console.log(`wrote ${path.relative(process.cwd(), file)} in ${result.durationSeconds} s`);
