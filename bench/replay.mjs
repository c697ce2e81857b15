/**
 * Shadow replay through the CLI (see bench/README.md, "replay", for what each figure means).
 *
 * 1. Throughput: `rehearse replay t.parquet --target <virtual stub, price 1.4> --max --db <fresh>
 *    --quiet` over a synthetic 200,000-row trace (`traces generate --rows 200000 --seed 1`), against
 *    DuckDB alone doing a comparable transform (bench/_replay-duckdb.mjs: read the Parquet, the 29
 *    columns of replay_requests with a candidate cost 1.4 × the baseline's, into a table of a fresh
 *    DuckDB file), each in its own child process, once per round in rotated order. Where the time
 *    goes: the same command with --limit 1,000 and 50,000 (fixed cost and cost per row) and with
 *    --workers 1.
 * 2. Token-only throughput: the same over a trace with the Azure LLM trace's columns only
 *    (timestamp, input and output tokens; request ids from row numbers), against the same reference.
 * 3. Peak memory: peak RSS (getrusage of the child, and /proc sampling) replaying 200,000 rows,
 *    1 million and 10 million (measured, not extrapolated).
 *
 * HTTP replay against wrk is bench/replay-http.mjs.
 *
 * Writes bench/results/replay.json. BENCH_ROUNDS=<n> (default 2), BENCH_REPLAY_ROWS (200000),
 * BENCH_REPLAY_BIG_ROWS (1000000), BENCH_REPLAY_HUGE_ROWS (10000000; 0 skips it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, checkBuild, envInt, machine, median, perSecond, ROOT, round, rounds, spread, table, TMP_DIR, writeResult } from './_lib.mjs';
import { backgroundOf, removeDb, rows as roundRows, timedChild } from './_exact-lib.mjs';

const NAME = 'replay';
const ROUNDS = envInt('BENCH_ROUNDS', 2);
const ROWS = envInt('BENCH_REPLAY_ROWS', 200_000);
const BIG_ROWS = envInt('BENCH_REPLAY_BIG_ROWS', 1_000_000);
const HUGE_ROWS = process.env.BENCH_REPLAY_HUGE_ROWS === '0' ? 0 : envInt('BENCH_REPLAY_HUGE_ROWS', 10_000_000);
const FEW = 1_000;
const SOME = 50_000;
const PRICE = 1.4;
const TARGETS = { ratioVsDuckdb: 0.2, tracesPerSecond: 500_000, peakRssMiBAt10M: 512 };

const build = checkBuild(['cli/main.js', 'replay/replay.js', 'replay/worker.js', 'traces/reader.js', 'targets/stub.js', 'store/replay-requests.js']);
const started = Date.now();
const facts = machine();
const log = (msg) => process.stderr.write(`${NAME}: ${msg}\n`);
const CLI = path.join(ROOT, 'dist/cli/main.js');
const CPU_REPORT = path.join(BENCH_DIR, '_cpu-report.mjs');
const REF = path.join(BENCH_DIR, '_replay-duckdb.mjs');
const DIR = path.join(TMP_DIR, 'replay');
rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR, { recursive: true });
const f = (name) => path.join(DIR, name);
const r3 = (x) => round(x, 3);
const MiB = (kib) => kib / 1024;

// ---------------------------------------------------------------- inputs
const STUB = f('stub-virtual.yaml');
writeFileSync(
  STUB,
  `kind: stub
name: bench-virtual
model: rehearse-stub
seed: 1
candidate: { price: ${PRICE} }
inject: virtual
price: { input_per_million: 0.5, output_per_million: 1.5 }
`,
);
function generate(rows) {
  const file = f(`t${rows}.parquet`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, 'traces', 'generate', file, '--rows', String(rows), '--seed', '1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`traces generate: ${r.stderr}`);
  log(`generated ${rows} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return file;
}

/** A trace with the Azure LLM trace's columns only, scaled up: what the bundled real trace carries. */
async function generateTokenOnly(rows) {
  const file = f(`tokens${rows}.parquet`);
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  // Deterministic: token counts from a hash of the row number, one request every 50 ms.
  await c.run(`COPY (SELECT TIMESTAMP '2023-11-16 18:00:00' + to_milliseconds(i * 50) AS TIMESTAMP,
      (50 + hash(i) % 4000)::INTEGER AS ContextTokens, (1 + hash(i + ${rows}) % 600)::INTEGER AS GeneratedTokens
    FROM range(${rows}) t(i)) TO '${file}' (FORMAT parquet)`);
  c.closeSync();
  db.closeSync();
  return file;
}

// ---------------------------------------------------------------- children
/** Peak RSS of a process by sampling /proc/<pid>/status every 50 ms (a cross-check of getrusage). */
function sampleRss(pid) {
  let peakKiB = 0;
  const read = () => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
    } catch {}
  };
  const timer = setInterval(read, 50);
  return () => {
    clearInterval(timer);
    return peakKiB;
  };
}

/** A Node child with its CPU (all threads) and peak RSS reported at exit by bench/_cpu-report.mjs. */
async function child(job, args) {
  const cpuFile = f(`${job}.cpu.json`);
  const r = await timedChild(process.execPath, ['--import', CPU_REPORT, ...args], { cpuFile, env: { REHEARSE_BENCH_CPU_FILE: cpuFile, NO_COLOR: '1' } });
  rmSync(cpuFile, { force: true });
  if (r.code !== 0) throw new Error(`${job}: exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}

/** `rehearse replay` of `trace` with the virtual stub; returns the timing, its own replay seconds, peak RSS. */
async function replayJob(job, trace, extra = [], expectRows) {
  const db = f(`${job}.duckdb`);
  removeDb(db);
  const args = [CLI, 'replay', trace, '--target', STUB, '--max', '--db', db, '--quiet', '--json', ...extra];
  const cpuFile = f(`${job}.cpu.json`);
  rmSync(cpuFile, { force: true });
  // timedChild does not expose the pid, so this wraps it: spawn here, sample /proc, time the same way.
  const res = await timedWithRss(args, cpuFile);
  removeDb(db);
  const out = JSON.parse(res.stdout);
  if (expectRows !== undefined && out.replayed !== expectRows) throw new Error(`${job}: replayed ${out.replayed}, expected ${expectRows}`);
  return {
    rows: out.replayed,
    wall: res.wall,
    replaySeconds: out.seconds,
    cpu: res.cpu,
    cpuPerWall: res.cpu === null ? null : res.cpu / res.wall,
    rowsPerSecond: out.replayed / res.wall,
    rowsPerReplaySecond: out.replayed / out.seconds,
    maxRssMiB: res.maxRssKiB === null ? null : MiB(res.maxRssKiB),
    sampledPeakRssMiB: MiB(res.sampledKiB),
    backgroundCores: res.backgroundCores,
  };
}

const CLK = 100;
function machineBusy() {
  const fld = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return (fld[0] + fld[1] + fld[2] + fld[5] + fld[6] + (fld[7] ?? 0)) / CLK;
}

/** Spawns node with the CPU-report preload, samples its RSS, and times it like timedChild. */
async function timedWithRss(args, cpuFile) {
  const busy0 = machineBusy();
  const own0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const { code, signal, stdout, stderr, sampledKiB } = await new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', CPU_REPORT, ...args], { env: { ...process.env, REHEARSE_BENCH_CPU_FILE: cpuFile, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const stop = sampleRss(c.pid);
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, sampledKiB: stop() }));
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const ownU = process.cpuUsage(own0);
  const busy1 = machineBusy();
  if (code !== 0) throw new Error(`${args[1]}: exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const report = existsSync(cpuFile) ? JSON.parse(readFileSync(cpuFile, 'utf8')) : null;
  rmSync(cpuFile, { force: true });
  const cpu = report ? report.cpuSeconds : null;
  const ownCpu = (ownU.user + ownU.system) / 1e6;
  const backgroundCores = Math.max(0, (busy1 - busy0 - ownCpu - (cpu ?? 0)) / wall);
  return { stdout, wall, cpu, maxRssKiB: report ? report.maxRssKiB : null, sampledKiB, backgroundCores };
}

async function referenceJob(trace, expectRows, job = 'reference') {
  const db = f(`${job}.duckdb`);
  removeDb(db);
  const r = await child(job, [REF, trace, db, String(PRICE)]);
  removeDb(db);
  const out = JSON.parse(r.stdout);
  if (out.rows !== expectRows) throw new Error(`reference: ${out.rows} rows, expected ${expectRows}`);
  return {
    rows: out.rows,
    wall: r.wall,
    cpu: r.childCpu,
    cpuPerWall: r.childCpu === null ? null : r.childCpu / r.wall,
    rowsPerSecond: out.rows / r.wall,
    maxRssMiB: r.report ? MiB(r.report.maxRssKiB) : null,
    backgroundCores: r.backgroundCores,
  };
}

// ---------------------------------------------------------------- 1. throughput
const trace = generate(ROWS);
const tokenTrace = await generateTokenOnly(ROWS);
log('warming up (page cache, JIT caches)');
await replayJob('warmup', trace, ['--limit', String(FEW)]);
await referenceJob(trace, ROWS);

const jobs = {
  replay: () => replayJob('replay', trace, [], ROWS),
  reference: () => referenceJob(trace, ROWS),
  replayWorkers2: () => replayJob('replayWorkers2', trace, ['--workers', '2'], ROWS),
  replayLimitFew: () => replayJob('replayLimitFew', trace, ['--limit', String(FEW)], FEW),
  replayLimitSome: () => replayJob('replayLimitSome', trace, ['--limit', String(SOME)], SOME),
  replayTokenOnly: () => replayJob('replayTokenOnly', tokenTrace, [], ROWS),
  referenceTokenOnly: () => referenceJob(tokenTrace, ROWS, 'referenceTokenOnly'),
};
log(`${ROUNDS} rounds of ${Object.keys(jobs).join(', ')} over ${ROWS} rows`);
const m = Object.fromEntries(Object.keys(jobs).map((j) => [j, []]));
await rounds(ROUNDS, Object.keys(jobs), async (job) => {
  const x = await jobs[job]();
  m[job].push(x);
  log(`  ${job}: ${x.wall.toFixed(2)} s, ${perSecond(x.rowsPerSecond)}, background ${x.backgroundCores.toFixed(2)} cores`);
});

const med = (job, field) => median(m[job].map((x) => x[field]));
const perRound = (fn) => median(m.replay.map((_, i) => fn(i)));
const ratio = perRound((i) => m.replay[i].rowsPerSecond / m.reference[i].rowsPerSecond);
const replayRate = med('replay', 'rowsPerSecond');
const referenceRate = med('reference', 'rowsPerSecond');
// Fixed cost and cost per row: the --limit runs against the full run, within a round.
const perRowSeconds = perRound((i) => (m.replay[i].wall - m.replayLimitSome[i].wall) / (ROWS - SOME));
const fixedSeconds = perRound((i) => m.replayLimitFew[i].wall - FEW * ((m.replay[i].wall - m.replayLimitSome[i].wall) / (ROWS - SOME)));
const workersRatio = perRound((i) => m.replayWorkers2[i].rowsPerSecond / m.replay[i].rowsPerSecond);
const tokenRatio = perRound((i) => m.replayTokenOnly[i].rowsPerSecond / m.referenceTokenOnly[i].rowsPerSecond);
const tokenRate = med('replayTokenOnly', 'rowsPerSecond');

// ---------------------------------------------------------------- 3. peak memory
const sizes = [{ rows: ROWS, maxRssMiB: med('replay', 'maxRssMiB'), sampledPeakRssMiB: med('replay', 'sampledPeakRssMiB'), wall: med('replay', 'wall') }];
const bigRuns = {};
for (const rows of [BIG_ROWS, HUGE_ROWS].filter((r) => r > ROWS)) {
  const file = generate(rows);
  log(`peak memory: replay of ${rows} rows`);
  const x = await replayJob(`replay${rows}`, file, [], rows);
  rmSync(file, { force: true });
  bigRuns[`replay${rows}`] = [x];
  sizes.push({ rows, maxRssMiB: x.maxRssMiB, sampledPeakRssMiB: x.sampledPeakRssMiB, wall: x.wall, rowsPerSecond: x.rowsPerSecond });
  log(`  replay${rows}: ${x.wall.toFixed(1)} s, ${perSecond(x.rowsPerSecond)}, peak RSS ${x.maxRssMiB.toFixed(0)} MiB`);
}
const largest = sizes[sizes.length - 1];
const measured10M = largest.rows >= 10_000_000;

// ---------------------------------------------------------------- figures
const all = { ...m, ...bigRuns };
const result = {
  bench: NAME,
  date: new Date().toISOString(),
  durationSeconds: null,
  machine: facts,
  build,
  backgroundLoad: backgroundOf(all),
  rounds: ROUNDS,
  trace: { generator: `node dist/cli/main.js traces generate <tmp>/t.parquet --rows ${ROWS} --seed 1`, rows: ROWS, columns: 'every canonical column: texts (input messages, output), tokens, latency, ttft, status, refusal, cost, feedback' },
  command: `node dist/cli/main.js replay t.parquet --target <stub: inject virtual, candidate.price ${PRICE}> --max --db <fresh file> --quiet --json`,
  throughput: {
    replayRowsPerSecond: r3(replayRate),
    replayRowsPerReplaySecond: r3(med('replay', 'rowsPerReplaySecond')),
    referenceRowsPerSecond: r3(referenceRate),
    ratio: r3(ratio),
    target: TARGETS.ratioVsDuckdb,
    met: ratio >= TARGETS.ratioVsDuckdb,
    absoluteTarget: { tracesPerSecond: TARGETS.tracesPerSecond, cores: facts.cores, met: replayRate >= TARGETS.tracesPerSecond, shortfall: r3(TARGETS.tracesPerSecond / replayRate) },
    replayCpuPerWall: r3(med('replay', 'cpuPerWall')),
    referenceCpuPerWall: r3(med('reference', 'cpuPerWall')),
  },
  whereTimeGoes: {
    fixedSecondsPerInvocation: r3(fixedSeconds),
    marginalMicrosecondsPerRow: r3(perRowSeconds * 1e6),
    marginalRowsPerSecond: r3(1 / perRowSeconds),
    limitFewSeconds: r3(med('replayLimitFew', 'wall')),
    limitSomeSeconds: r3(med('replayLimitSome', 'wall')),
    workers2OverWorkers1: r3(workersRatio),
    workers2RowsPerSecond: r3(med('replayWorkers2', 'rowsPerSecond')),
    workersNote: 'a virtual stub replays with 1 worker unless --workers says otherwise',
    note: `--limit ${FEW} and ${SOME} against the full ${ROWS} rows, within a round; fixed = the ${FEW}-row run less ${FEW} rows at the marginal cost`,
  },
  tokenOnly: {
    trace: `${ROWS} rows with the Azure LLM trace's columns (TIMESTAMP, ContextTokens, GeneratedTokens), generated in DuckDB from a hash of the row number`,
    replayRowsPerSecond: r3(tokenRate),
    referenceRowsPerSecond: r3(med('referenceTokenOnly', 'rowsPerSecond')),
    ratio: r3(tokenRatio),
    absoluteTarget: { tracesPerSecond: TARGETS.tracesPerSecond, met: tokenRate >= TARGETS.tracesPerSecond, shortfall: r3(TARGETS.tracesPerSecond / tokenRate) },
  },
  memory: {
    sizes: sizes.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, r3(v)]))),
    referencePeakRssMiB: r3(med('reference', 'maxRssMiB')),
    peakRssMiBAtLargest: r3(largest.maxRssMiB),
    largestRows: largest.rows,
    measuredAt10MRows: measured10M,
    target: TARGETS.peakRssMiBAt10M,
    met: measured10M ? largest.maxRssMiB <= TARGETS.peakRssMiBAt10M : null,
    note: 'peak RSS of the replay process (getrusage maxRSS, all threads; /proc VmRSS sampled every 50 ms as a cross-check), each size replayed in full (the count of stored requests is checked)',
  },
  spread: Object.fromEntries(Object.keys(m).map((j) => [j, r3(spread(m[j].map((x) => x.wall)))])),
  measurements: Object.fromEntries(Object.entries(all).map(([k, v]) => [k, roundRows(v)])),
};
const fmt = (x) => Math.round(x).toLocaleString('en-US');
result.summary = [
  { figure: `replay, virtual stub, ${fmt(ROWS)} rows (rows/s)`, value: `${fmt(replayRate)} /s` },
  { figure: '  replay / DuckDB SQL alone', value: r3(ratio), target: `≥ ${TARGETS.ratioVsDuckdb}`, met: result.throughput.met },
  { figure: '  replay rows/s on 2 cores', value: `${fmt(replayRate)} /s`, target: `≥ ${fmt(TARGETS.tracesPerSecond)} /s`, met: result.throughput.absoluteTarget.met },
  { figure: '  fixed cost per invocation', value: `${r3(fixedSeconds)} s` },
  { figure: '  --workers 2 / the default 1 (virtual stub)', value: r3(workersRatio) },
  { figure: `token-only trace, ${fmt(ROWS)} rows (rows/s)`, value: `${fmt(tokenRate)} /s`, target: `≥ ${fmt(TARGETS.tracesPerSecond)} /s`, met: result.tokenOnly.absoluteTarget.met },
  { figure: '  token-only replay / DuckDB SQL alone', value: r3(tokenRatio) },
  ...sizes.map((x) => ({ figure: `peak RSS replaying ${fmt(x.rows)} rows`, value: `${fmt(x.maxRssMiB)} MiB`, ...(x.rows >= 10_000_000 ? { target: `≤ ${TARGETS.peakRssMiBAt10M} MiB`, met: x.maxRssMiB <= TARGETS.peakRssMiBAt10M } : {}) })),
];
result.durationSeconds = r3((Date.now() - started) / 1000);
const file = writeResult(NAME, result);
rmSync(DIR, { recursive: true, force: true });

console.log(`\n${NAME}: ${facts.node}, ${facts.cpu}, ${facts.cores} cores, ${result.date}`);
console.log(
  table([
    ['job', 'rows', 'wall s (median)', 'rows/s', 'CPU/wall', 'peak RSS MiB', 'bg cores med', 'bg max'],
    ...Object.entries(all).map(([k, v]) => [
      k,
      fmt(v[0].rows),
      median(v.map((x) => x.wall)).toFixed(2),
      perSecond(median(v.map((x) => x.rowsPerSecond))),
      median(v.map((x) => x.cpuPerWall)).toFixed(2),
      fmt(median(v.map((x) => x.maxRssMiB))),
      median(v.map((x) => x.backgroundCores)).toFixed(2),
      Math.max(...v.map((x) => x.backgroundCores)).toFixed(2),
    ]),
  ]),
);
console.log('');
console.log(table([['figure', 'value', 'target', 'met'], ...result.summary.map((s) => [s.figure, s.value, s.target ?? '', s.met === undefined ? '' : s.met ? 'yes' : 'NO'])]));
if (result.backgroundLoad.maxCores > 0.3) console.log(`warning: other processes used up to ${result.backgroundLoad.maxCores} cores during the measurements`);
console.log(`\nwrote ${path.relative(ROOT, file)} in ${result.durationSeconds} s`);
