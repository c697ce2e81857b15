/**
 * The bundled suite, whole command (see bench/README.md, "suite", for what each figure means).
 *
 * `node dist/cli/main.js simulate scenarios --runs 1000 --db <fresh file> --quiet` (engine auto,
 * workers: the machine's cores), against the same command with `--runs 100` (the ratio shows how
 * the wall time scales with runs) and with `--no-checks`. Target: the 1,000-run suite under 5 s.
 *
 * Where the time goes: the same work through the API in this process, phase by phase (load the
 * scenarios, open the DuckDB file, simulate(), writeSimulation(), finish and close), and the
 * CLI's start-up alone (`--version`: Node plus importing the CLI's modules) against a bare
 * `node -e 0`. Every job runs once per round, in an order rotated each round; medians over rounds.
 * Writes bench/results/suite.json. BENCH_ROUNDS=<n> (default 3).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, checkBuild, distUrl, envInt, machine, median, ROOT, round, rounds, spread, table, timed, TMP_DIR, writeResult } from './_lib.mjs';
import { QUIET, backgroundOf, removeDb, rows, timedChild } from './_exact-lib.mjs';

const NAME = 'suite';
const TARGET_SECONDS = 5;
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const RUNS = 1000;
const FEW_RUNS = 100;

const build = checkBuild(['cli/main.js', 'sim/simulate.js', 'store/outcomes.js', 'store/database.js', 'store/invocations.js', 'config/load.js', 'sim/pool.js']);
const { loadScenarios } = await import(distUrl('config/load.js'));
const { simulate } = await import(distUrl('sim/simulate.js'));
const { defaultWorkers } = await import(distUrl('sim/pool.js'));
const { Store } = await import(distUrl('store/database.js'));
const { writeSimulation } = await import(distUrl('store/outcomes.js'));
const { startInvocation, finishInvocation } = await import(distUrl('store/invocations.js'));

const started = Date.now();
const facts = machine();
const r3 = (x) => round(x, 3);
const log = (msg) => process.stderr.write(`${NAME}: ${msg}\n`);
const WORKERS = defaultWorkers();
const CLI = path.join(ROOT, 'dist/cli/main.js');
const SCENARIOS = path.join(ROOT, 'scenarios');
const CPU_REPORT = path.join(BENCH_DIR, '_cpu-report.mjs');
const db = (job) => path.join(TMP_DIR, `suite-${job}.duckdb`);
const cpuFile = (job) => path.join(TMP_DIR, `suite-${job}.cpu.json`);

// ---------------------------------------------------------------- jobs
/** A CLI invocation in a child process, with its own CPU (all threads) reported at exit. */
async function command(job, args) {
  if (args.includes('--db')) removeDb(db(job));
  const r = await timedChild(process.execPath, ['--import', CPU_REPORT, ...args], { cpuFile: cpuFile(job), env: { REHEARSE_BENCH_CPU_FILE: cpuFile(job), NO_COLOR: '1' } });
  if (r.code !== 0) throw new Error(`${job}: exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  if (args.includes('--db')) removeDb(db(job));
  // The wall time split at the child's own instants: Node's boot (until the preload ran), the
  // program (imports included) until the 'exit' event, then the teardown until the parent saw it end.
  const split = r.report
    ? { bootSeconds: r.report.preloadMs / 1000, programSeconds: (r.report.exitMs - r.report.preloadMs) / 1000, teardownSeconds: Math.max(0, r.wall - r.report.exitMs / 1000), maxRssMiB: r.report.maxRssKiB / 1024 }
    : {};
  return { wall: r.wall, cpu: r.childCpu, cpuPerWall: r.childCpu === null ? null : r.childCpu / r.wall, backgroundCores: r.backgroundCores, ...split };
}
const simulateArgs = (job, runs, extra = []) => [CLI, 'simulate', SCENARIOS, '--runs', String(runs), '--db', db(job), '--quiet', ...extra];

let simulated = null;
/** The command's work through the API, in this process, phase by phase. */
async function api(runs = RUNS) {
  removeDb(db('api'));
  const phases = {};
  const phase = async (name, fn) => {
    const t = await timed(fn);
    phases[name] = { wall: t.wall, cpu: t.ownCpu, backgroundCores: t.backgroundCores };
    return t.value;
  };
  const t = await timed(async () => {
    const scenarios = await phase('load', () => loadScenarios([SCENARIOS]));
    const store = await phase('open', () => Store.open(db('api')));
    const invocation = await phase('startInvocation', () => startInvocation(store, 'simulate', { paths: [SCENARIOS], runs }));
    const results = await phase('simulate', () => simulate({ scenarios, runs, workers: WORKERS, recordChecks: true, engine: 'auto' }));
    await phase('write', () => writeSimulation(store, invocation, results));
    await phase('finishAndClose', async () => {
      await finishInvocation(store, invocation, 'ok');
      store.close();
    });
    return results;
  });
  removeDb(db('api'));
  if (!simulated && runs === RUNS) {
    let runs = 0, checks = 0, requests = 0;
    for (const r of t.value) {
      for (const b of r.batches) {
        runs += b.outcomes.run.length;
        checks += b.checks ? b.checks.run.length : 0;
        requests += b.simulatedRequests;
      }
    }
    simulated = { scenarios: t.value.length, runs, checkRows: checks, simulatedRequests: requests };
  }
  return { wall: t.wall, cpu: t.ownCpu, cpuPerWall: t.ownCpu / t.wall, backgroundCores: t.backgroundCores, phases };
}

const jobs = {
  runs1000: () => command('runs1000', simulateArgs('runs1000', RUNS)),
  runs100: () => command('runs100', simulateArgs('runs100', FEW_RUNS)),
  runs1000NoChecks: () => command('runs1000NoChecks', simulateArgs('runs1000NoChecks', RUNS, ['--no-checks'])),
  api: () => api(),
  cliStartup: () => command('cliStartup', [CLI, '--version']),
  nodeBare: () => command('nodeBare', ['-e', '0']),
};

// ---------------------------------------------------------------- measure
log('warming up (the page cache)');
await command('runs100', simulateArgs('runs100', FEW_RUNS));
log(`${ROUNDS} rounds of ${Object.keys(jobs).join(', ')}; ${WORKERS} workers`);
const m = Object.fromEntries(Object.keys(jobs).map((j) => [j, []]));
await rounds(ROUNDS, Object.keys(jobs), async (job) => {
  m[job].push(await jobs[job]());
});
for (const job of Object.keys(jobs)) rmSync(cpuFile(job), { force: true });

// ---------------------------------------------------------------- figures
const med = (job, f = 'wall') => median(m[job].map((x) => x[f]));
const paired = (a, b, f = 'wall') => median(m[a].map((x, i) => x[f] / m[b][i][f]));
const wall1000 = med('runs1000');
const scaling = paired('runs1000', 'runs100');
const phaseNames = Object.keys(m.api[0].phases);
const phaseMedian = (p, f = 'wall') => median(m.api.map((x) => x.phases[p][f]));
// Shares on wall time within the API job (one job, so the machine's load colours every phase
// alike), and on CPU time against the command's CPU in the same round (CPU barely notices load).
const phases = Object.fromEntries(
  phaseNames.map((p) => [
    p,
    {
      seconds: r3(phaseMedian(p)),
      cpuSeconds: r3(phaseMedian(p, 'cpu')),
      shareOfApiWall: r3(median(m.api.map((x) => x.phases[p].wall / x.wall))),
      cpuShareOfCommand: r3(median(m.api.map((x, i) => x.phases[p].cpu / m.runs1000[i].cpu))),
    },
  ]),
);
// What the command spends beyond the API's work (process start, imports, teardown): on wall time
// (two jobs timed apart, so load-sensitive) and on CPU time.
const outsideApi = median(m.runs1000.map((x, i) => x.wall - m.api[i].wall));
const outsideApiCpu = median(m.runs1000.map((x, i) => x.cpu - m.api[i].cpu));
const outsideApiCpuShare = median(m.runs1000.map((x, i) => (x.cpu - m.api[i].cpu) / x.cpu));
const importCost = median(m.cliStartup.map((x, i) => x.wall - m.nodeBare[i].wall));
// Derived: the cost of one more run (all 8 scenarios), and the fixed cost of an invocation.
const perRunSet = (wall1000 - med('runs100')) / (RUNS - FEW_RUNS);
const fixed = med('runs100') - FEW_RUNS * perRunSet;
// Derived, an estimate for a machine with every core free: the command's CPU outside simulate() run
// on one core, plus simulate()'s CPU (measured through the API) spread perfectly over the workers.
const simCpu = phaseMedian('simulate', 'cpu');
const cpuEstimate = med('runs1000', 'cpu') - simCpu + simCpu / WORKERS;
const background = backgroundOf(m);
const quiet = m.runs1000.filter((x) => x.backgroundCores !== null && x.backgroundCores <= QUIET).map((x) => x.wall);

const result = {
  bench: NAME,
  date: new Date(started).toISOString(),
  durationSeconds: null,
  machine: facts,
  build,
  backgroundLoad: background,
  command: `node dist/cli/main.js simulate scenarios --runs ${RUNS} --db <fresh file> --quiet`,
  workers: WORKERS,
  engine: 'auto',
  simulated,
  rounds: ROUNDS,
  suite: {
    runs1000Seconds: r3(wall1000),
    target: `< ${TARGET_SECONDS} s`,
    met: wall1000 < TARGET_SECONDS,
    runs1000CpuSeconds: r3(med('runs1000', 'cpu')),
    runs1000CpuPerWall: r3(med('runs1000', 'cpuPerWall')),
    quiet: { rounds: quiet.length, seconds: quiet.length ? r3(median(quiet)) : null },
    freeCoresEstimateSeconds: r3(cpuEstimate),
    freeCoresEstimateNote: "derived: the command's CPU outside simulate() on one core plus simulate()'s CPU split evenly over the workers; about the wall time on idle cores (an estimate, not a bound: DuckDB and the imports use other threads too)",
    runs100Seconds: r3(med('runs100')),
    ratio1000Over100: r3(scaling),
    noChecksSeconds: r3(med('runs1000NoChecks')),
    noChecksOverChecks: r3(paired('runs1000NoChecks', 'runs1000')),
    marginalMsPerRunOfTheSuite: r3(1000 * perRunSet),
    fixedSecondsPerInvocation: r3(fixed),
  },
  profile: {
    note: "the same work through the API in this process (workers as the CLI), phase by phase; shareOfApiWall: the phase's share of that job's wall time; cpuShareOfCommand: its CPU against the 1,000-run command's CPU in the same round",
    apiSeconds: r3(med('api')),
    phases,
    simulateCpuPerWall: r3(median(m.api.map((x) => x.phases.simulate.cpu / x.phases.simulate.wall))),
    outsideApiSeconds: r3(outsideApi),
    outsideApiCpuSeconds: r3(outsideApiCpu),
    outsideApiCpuShareOfCommand: r3(outsideApiCpuShare),
    command: {
      note: "the 1,000-run command's wall split at its own instants (bench/_cpu-report.mjs): Node's boot, the program until the 'exit' event (imports included), the teardown after it",
      bootSeconds: r3(med('runs1000', 'bootSeconds')),
      programSeconds: r3(med('runs1000', 'programSeconds')),
      teardownSeconds: r3(med('runs1000', 'teardownSeconds')),
      maxRssMiB: r3(med('runs1000', 'maxRssMiB')),
    },
    cliStartupSeconds: r3(med('cliStartup')),
    nodeBareSeconds: r3(med('nodeBare')),
    cliImportSeconds: r3(importCost),
  },
  spread: Object.fromEntries(Object.entries(m).map(([job, list]) => [job, r3(spread(list.map((x) => x.wall)))])),
  measurements: Object.fromEntries(
    Object.entries(m).map(([job, list]) => [job, rows(list.map((x) => (x.phases ? { ...x, phases: Object.fromEntries(Object.entries(x.phases).map(([p, v]) => [p, rows([v])[0]])) } : x)))]),
  ),
};
result.summary = [
  { figure: `suite, ${RUNS} runs, wall`, value: `${result.suite.runs1000Seconds} s`, target: `< ${TARGET_SECONDS} s`, met: result.suite.met },
  { figure: `  ${RUNS} runs / ${FEW_RUNS} runs`, value: result.suite.ratio1000Over100 },
  { figure: "  simulate()'s share of the command's CPU", value: phases.simulate.cpuShareOfCommand },
];
result.durationSeconds = round((Date.now() - started) / 1000, 3);
const file = writeResult(NAME, result);

const s = (x) => `${x.toFixed(2)} s`;
const pct = (x) => `${(100 * x).toFixed(0)}%`;
console.log(`\n${NAME}: ${facts.node}, ${facts.cpu}, ${facts.cores} cores, ${WORKERS} workers, ${result.date}`);
console.log(
  table([
    ['figure', 'value', 'target'],
    [`suite, ${RUNS} runs (8 scenarios, checks recorded)`, s(wall1000), `< ${TARGET_SECONDS} s ${wall1000 < TARGET_SECONDS ? 'met' : 'MISSED'}`],
    ['  its CPU (all threads) / wall', r3(med('runs1000', 'cpuPerWall')).toFixed(2), `${s(med('runs1000', 'cpu'))} CPU`],
    ['  estimate on free cores (derived from CPU)', s(cpuEstimate), `< ${TARGET_SECONDS} s ${cpuEstimate < TARGET_SECONDS ? 'would be met' : 'missed even so'}`],
    [`suite, ${FEW_RUNS} runs`, s(med('runs100')), ''],
    [`${RUNS} runs / ${FEW_RUNS} runs`, scaling.toFixed(2), `derived: ${(1000 * perRunSet).toFixed(2)} ms a run of the suite + ${s(fixed)} fixed`],
    [`suite, ${RUNS} runs, --no-checks`, s(med('runs1000NoChecks')), `${paired('runs1000NoChecks', 'runs1000').toFixed(2)} of with checks`],
    ['where the time goes (API, this process):', 'wall', "share of wall, of the command's CPU"],
    ...phaseNames.map((p) => [`  ${p}`, s(phaseMedian(p)), `${pct(phases[p].shareOfApiWall)}, ${pct(phases[p].cpuShareOfCommand)} (${s(phaseMedian(p, 'cpu'))} CPU)`]),
    ['  beyond the API (start-up, imports, exit)', s(outsideApi), `${pct(outsideApiCpuShare)} of CPU (${s(outsideApiCpu)})`],
    ['  the command: Node boot, program, teardown', `${s(med('runs1000', 'bootSeconds'))}, ${s(med('runs1000', 'programSeconds'))}, ${s(med('runs1000', 'teardownSeconds'))}`, ''],
    ['  CLI start-up (--version) vs node -e 0', `${s(med('cliStartup'))} vs ${s(med('nodeBare'))}`, `imports ≈ ${s(importCost)}`],
    ['background load (other processes)', background.medianCores === null ? 'n/a' : `${background.medianCores.toFixed(2)} cores`, background.maxCores === null ? '' : `max ${background.maxCores.toFixed(2)}`],
  ]),
);
if (background.maxCores !== null && background.maxCores > QUIET) {
  console.log(`warning: other processes used up to ${background.maxCores.toFixed(2)} cores during the measurements; the wall times (the target is one) read high`);
}
console.log(`wrote ${path.relative(process.cwd(), file)} in ${result.durationSeconds} s`);
