/**
 * HTTP replay against wrk, on the same `serve-stub` server in the same run (see bench/README.md,
 * "replay-http", for what each figure means).
 *
 * One `serve-stub` process (latency p50 1 ms, p99 5 ms, really waited) serves every job. Each round
 * times, in rotated order:
 * - replay: `rehearse replay t.parquet --target <url> --max --concurrency 64` over a synthetic trace
 *   (`traces generate --rows 25000 --seed 1`), as a user runs it;
 * - wrk: `wrk -t2 -c64` for as long as the warm-up replay took (3 to 10 s), sending what the
 *   replay sends: the chat completion bodies HttpTarget.buildBody makes of the trace's first rows
 *   (JSON, not streaming), with their x-request-id and the same headers, so the server does the
 *   same work per request;
 * - where the time goes: the replay with `--limit 2000` (start-up), with `--workers 1`, against a
 *   module target that answers at once (the replay's own work without HTTP), and the HTTP target
 *   alone (HttpTarget.call in one thread, 64 in flight, no replay around it).
 * Every job records its own CPU, the server's CPU and the other processes' CPU meanwhile.
 *
 * Writes bench/results/replay-http.json. BENCH_ROUNDS=<n> (default 3), BENCH_HTTP_ROWS (25000).
 * `node bench/replay-http.mjs --target-alone <url> <requests.json> <n>` is the target-alone job's
 * child (it prints its own figures as JSON).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, checkBuild, distUrl, envInt, machine, median, perSecond, ROOT, round, rounds, spread, table, TMP_DIR, writeResult } from './_lib.mjs';
import { QUIET, backgroundOf, pairedMedian, pairedQuiet, removeDb, rows as roundRows, timedChild } from './_exact-lib.mjs';

const CONCURRENCY = 64;

if (process.argv[2] === '--target-alone') {
  await targetAlone(process.argv[3], process.argv[4], Number(process.argv[5]));
  process.exit(0);
}

/** The HTTP target on its own: `n` calls, `CONCURRENCY` in flight, cycling through the requests given. */
async function targetAlone(url, requestsFile, n) {
  const { loadTarget } = await import(distUrl('targets/target.js'));
  const base = JSON.parse(readFileSync(requestsFile, 'utf8'));
  const target = await loadTarget(url);
  // The first call discovers the model, as a replay worker's does; it is not timed.
  await target.call({ ...base[0], request_id: 'warm-up' });
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++;
        const r = await target.call({ ...base[i % base.length], request_id: `${base[i % base.length].request_id}/${i}` });
        if (r.status === 'error' || r.status === 'timeout') errors++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  await target.close();
  process.stdout.write(JSON.stringify({ requests: n, errors, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 }) + '\n');
}

const NAME = 'replay-http';
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const ROWS = envInt('BENCH_HTTP_ROWS', 25_000);
const FEW = 2_000;
/** Distinct requests wrk cycles through (each thread from the first). */
const WRK_BODIES = 1_000;
const TARGET_RATIO = 0.6;

const build = checkBuild(['cli/main.js', 'replay/replay.js', 'replay/worker.js', 'targets/http.js', 'targets/stub-server.js', 'targets/target.js']);
const started = Date.now();
const facts = machine();
const log = (msg) => process.stderr.write(`${NAME}: ${msg}\n`);
const r3 = (x) => round(x, 3);
const CLI = path.join(ROOT, 'dist/cli/main.js');
const CPU_REPORT = path.join(BENCH_DIR, '_cpu-report.mjs');
const SELF = path.join(BENCH_DIR, `${NAME}.mjs`);
const DIR = path.join(TMP_DIR, NAME);
rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR, { recursive: true });
const f = (name) => path.join(DIR, name);

const wrkPath = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).stdout.trim();
if (!wrkPath) {
  log('wrk not found: install Debian\'s `wrk` package; nothing measured');
  process.exit(2);
}

// ---------------------------------------------------------------- inputs
const STUB = f('stub-http.yaml');
writeFileSync(
  STUB,
  `kind: stub
name: bench-http
model: rehearse-stub
seed: 1
baseline:
  latency_ms: { p50: 1, p99: 5 }
  output_tokens: { p50: 20, p99: 60 }
  error_rate: 0
  refusal_rate: 0
nondeterminism: 0
price: { input_per_million: 0.5, output_per_million: 1.5 }
serve: { rate_limit_rate: 0 }
`,
);
// The replay's own work without HTTP: a module target that answers at once, with an answer of
// the stub's typical length.
const INSTANT = f('instant.mjs');
writeFileSync(
  INSTANT,
  `const output = 'Service project during after lists improves policy build review feature. Before order covers product.';
export async function call() {
  return { status: 'ok', latency_ms: 1, output, input_tokens: 50, output_tokens: 20, finish_reason: 'stop' };
}
`,
);

const TRACE = f('t.parquet');
{
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, 'traces', 'generate', TRACE, '--rows', String(ROWS), '--seed', '1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`traces generate: ${r.stderr}`);
  log(`generated ${ROWS} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** The trace's first rows as the TargetRequests a replay worker makes of them. */
async function firstRequests(n) {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const q = `SELECT request_id, input, input_tokens::DOUBLE AS input_tokens, output_tokens::DOUBLE AS output_tokens, latency_ms::DOUBLE AS latency_ms, model FROM read_parquet('${TRACE.replace(/'/g, "''")}') LIMIT ${n}`;
  const out = (await c.runAndReadAll(q)).getRowObjectsJson().map((r) => ({
    request_id: String(r.request_id),
    timestamp_ms: 0,
    input: r.input ?? null,
    input_tokens: r.input_tokens ?? null,
    output_tokens: r.output_tokens ?? null,
    latency_ms: r.latency_ms ?? null,
    model: r.model ?? null,
  }));
  c.closeSync();
  db.closeSync();
  return out;
}

// ---------------------------------------------------------------- the server
const CLK = 100;
const stat = (file) => readFileSync(file, 'utf8').split(') ')[1].split(' ');
/** CPU seconds of a running process (utime + stime). */
const processCpu = (pid) => {
  const s = stat(`/proc/${pid}/stat`);
  return (Number(s[11]) + Number(s[12])) / CLK;
};
/** CPU seconds of this process's children that have exited and been waited for (wrk's, here). */
const reapedChildrenCpu = () => {
  const s = stat('/proc/self/stat');
  return (Number(s[13]) + Number(s[14])) / CLK;
};

log('starting serve-stub');
const server = spawn(process.execPath, [CLI, 'serve-stub', '--stub', STUB, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
const stopServer = () => server.exitCode === null && server.kill('SIGTERM');
process.on('exit', stopServer);
const url = await new Promise((resolve, reject) => {
  let text = '';
  const onData = (d) => {
    text += d;
    const hit = /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(text);
    if (hit) resolve(hit[0]);
  };
  server.stdout.on('data', onData);
  server.stderr.on('data', onData);
  server.on('exit', (code) => reject(new Error(`serve-stub exited ${code}: ${text}`)));
  setTimeout(() => reject(new Error(`serve-stub printed no URL: ${text}`)), 10_000);
});

/**
 * Times a child with its own CPU and the server's; the server works for the measurement, so its
 * CPU is taken off the background load along with the child's.
 */
async function measured(command, args, opts) {
  const s0 = processCpu(server.pid);
  const r = await timedChild(command, args, opts);
  const serverCpu = processCpu(server.pid) - s0;
  if (r.code !== 0) throw new Error(`${path.basename(args[0] ?? command)}: exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const backgroundCores = r.backgroundCores === null ? null : Math.max(0, r.backgroundCores - serverCpu / r.wall);
  return { ...r, serverCpu, backgroundCores };
}

// ---------------------------------------------------------------- jobs
async function replayJob(job, target, extra = []) {
  const db = f(`${job}.duckdb`);
  removeDb(db);
  const cpuFile = f(`${job}.cpu.json`);
  const args = [CLI, 'replay', TRACE, '--target', target, '--max', '--concurrency', String(CONCURRENCY), '--db', db, '--quiet', '--json', ...extra];
  const r = await measured(process.execPath, ['--import', CPU_REPORT, ...args], { cpuFile, env: { REHEARSE_BENCH_CPU_FILE: cpuFile, NO_COLOR: '1' } });
  removeDb(db);
  rmSync(cpuFile, { force: true });
  const out = JSON.parse(r.stdout);
  if (out.candidate_errors > 0) throw new Error(`${job}: ${out.candidate_errors} candidate errors`);
  const latency = out.summary?.find?.((s) => s.metric === 'latency p50')?.candidate ?? null;
  return {
    requests: out.replayed,
    seconds: out.seconds,
    wall: r.wall,
    requestsPerSecond: out.replayed / out.seconds,
    requestsPerWallSecond: out.replayed / r.wall,
    clientCpu: r.childCpu,
    clientCpuMicrosPerRequest: (r.childCpu / out.replayed) * 1e6,
    serverCpuMicrosPerRequest: (r.serverCpu / out.replayed) * 1e6,
    cpuCoresUsed: (r.childCpu + r.serverCpu) / r.wall,
    candidateLatencyP50Ms: latency,
    backgroundCores: r.backgroundCores,
  };
}

const REQUESTS = f('requests.json');
const LUA = f('post.lua');
/** Long-bracket Lua string that no `]=*]` inside the text can end early. */
function luaString(text) {
  let level = 0;
  while (text.includes(`]${'='.repeat(level)}]`)) level++;
  const eq = '='.repeat(level);
  // A newline right after the opening bracket is dropped by Lua: put one there on purpose.
  return `[${eq}[\n${text}]${eq}]`;
}

async function writeWrkScript() {
  const reqs = await firstRequests(WRK_BODIES);
  writeFileSync(REQUESTS, JSON.stringify(reqs));
  const { loadTarget } = await import(distUrl('targets/target.js'));
  const target = await loadTarget(url);
  const model = (await (await fetch(`${url}/models`)).json()).data[0].id;
  // Exactly the bodies the replay's HTTP target sends (it discovers the same model).
  const bodies = reqs.map((r) => JSON.stringify(target.buildBody(r, model)));
  await target.close();
  const lua = `-- ${WRK_BODIES} chat completions as rehearse's HTTP target builds them from the trace's first rows
local bodies = {
${bodies.map(luaString).join(',\n')}
}
local ids = {
${reqs.map((r) => luaString(r.request_id)).join(',\n')}
}
local reqs = {}
local i = 0
function init(args)
  for k = 1, #bodies do
    reqs[k] = wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Accept"] = "application/json", ["x-request-id"] = ids[k] }, bodies[k])
  end
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
`;
  writeFileSync(LUA, lua);
  return { bodies: bodies.length, meanBodyBytes: bodies.reduce((a, b) => a + Buffer.byteLength(b), 0) / bodies.length, model };
}

let wrkSeconds = 5;
async function wrkJob(seconds = wrkSeconds) {
  const c0 = reapedChildrenCpu();
  const args = ['-t2', `-c${CONCURRENCY}`, `-d${seconds}s`, '--latency', '-s', LUA, `${url}/chat/completions`];
  const r = await measured(wrkPath, args, { childCpu: () => reapedChildrenCpu() - c0 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const total = Number(/(\d+) requests in/.exec(r.stdout)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(r.stdout)?.[1] ?? null;
  if (!(rps > 0) || non2xx > 0) throw new Error(`wrk: ${non2xx} non-2xx responses, or no rate: ${r.stdout}`);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  const p50Ms = p50 ? Number(p50[1]) * { us: 0.001, ms: 1, s: 1000 }[p50[2]] : null;
  return {
    requests: total,
    seconds,
    wall: r.wall,
    requestsPerSecond: rps,
    clientCpu: r.childCpu,
    clientCpuMicrosPerRequest: (r.childCpu / total) * 1e6,
    serverCpuMicrosPerRequest: (r.serverCpu / total) * 1e6,
    cpuCoresUsed: (r.childCpu + r.serverCpu) / r.wall,
    latencyP50Ms: p50Ms,
    socketErrors: errors,
    backgroundCores: r.backgroundCores,
  };
}

async function targetAloneJob() {
  const cpuFile = f('targetAlone.cpu.json');
  const r = await measured(process.execPath, ['--import', CPU_REPORT, SELF, '--target-alone', url, REQUESTS, String(ROWS)], { cpuFile, env: { REHEARSE_BENCH_CPU_FILE: cpuFile } });
  rmSync(cpuFile, { force: true });
  const out = JSON.parse(r.stdout);
  if (out.errors > 0) throw new Error(`targetAlone: ${out.errors} errors`);
  return {
    requests: out.requests,
    seconds: out.seconds,
    wall: r.wall,
    requestsPerSecond: out.requests / out.seconds,
    // The calls' own CPU (the child's start-up and the untimed first call excluded).
    clientCpuMicrosPerRequest: (out.cpuSeconds / out.requests) * 1e6,
    serverCpuMicrosPerRequest: (r.serverCpu / out.requests) * 1e6,
    backgroundCores: r.backgroundCores,
  };
}

// ---------------------------------------------------------------- measure
try {
  const wrkInput = await writeWrkScript();
  log(`wrk sends ${wrkInput.bodies} distinct bodies (mean ${Math.round(wrkInput.meanBodyBytes)} bytes), model ${wrkInput.model}`);
  log('warming up (server JIT, page cache)');
  await wrkJob(2);
  const warm = await replayJob('warmup', url);
  wrkSeconds = Math.min(10, Math.max(3, Math.round(warm.seconds)));
  log(`wrk runs ${wrkSeconds} s a round (a replay's duration)`);

  const jobs = {
    replay: () => replayJob('replay', url),
    wrk: () => wrkJob(),
    replayFew: () => replayJob('replayFew', url, ['--limit', String(FEW)]),
    replayWorkers1: () => replayJob('replayWorkers1', url, ['--workers', '1']),
    engineAlone: () => replayJob('engineAlone', INSTANT),
    targetAlone: () => targetAloneJob(),
  };
  log(`${ROUNDS} rounds of ${Object.keys(jobs).join(', ')}`);
  const m = Object.fromEntries(Object.keys(jobs).map((j) => [j, []]));
  await rounds(ROUNDS, Object.keys(jobs), async (job) => {
    const x = await jobs[job]();
    m[job].push(x);
    log(`  ${job}: ${perSecond(x.requestsPerSecond)}, client ${x.clientCpuMicrosPerRequest.toFixed(0)} µs/req, server ${x.serverCpuMicrosPerRequest.toFixed(0)} µs/req, background ${x.backgroundCores?.toFixed(2)} cores`);
  });

  // ---------------------------------------------------------------- figures
  const med = (job, field) => median(m[job].map((x) => x[field]));
  const perRound = (fn) => median(m.replay.map((_, i) => fn(i)));
  const ratio = pairedMedian(m, 'replay', 'wrk', 'requestsPerSecond');
  const ratioWall = pairedMedian(m, 'replay', 'wrk', 'requestsPerWallSecond', 'requestsPerSecond');
  // The replay's rate once started: the rows beyond the --limit run over the seconds beyond it.
  const steadyRate = (i) => {
    const extra = m.replay[i].seconds - m.replayFew[i].seconds;
    return extra > 0 ? (ROWS - FEW) / extra : NaN;
  };
  const ratioSteady = perRound((i) => steadyRate(i) / m.wrk[i].requestsPerSecond);
  const startupSeconds = perRound((i) => m.replayFew[i].seconds - FEW / steadyRate(i));
  const us = (job, field) => r3(med(job, field));
  const result = {
    bench: NAME,
    date: new Date().toISOString(),
    durationSeconds: null,
    machine: facts,
    build,
    backgroundLoad: backgroundOf(m),
    rounds: ROUNDS,
    server: {
      command: 'node dist/cli/main.js serve-stub --stub <stub> --port 0',
      stub: { latencyMs: { p50: 1, p99: 5 }, outputTokens: { p50: 20, p99: 60 }, errors: 0, refusals: 0, rateLimited: 0 },
    },
    trace: { generator: `node dist/cli/main.js traces generate <tmp>/t.parquet --rows ${ROWS} --seed 1`, rows: ROWS },
    replay: { command: `node dist/cli/main.js replay t.parquet --target <url> --max --concurrency ${CONCURRENCY} --db <fresh file> --quiet --json`, rate: 'requests / the command\'s own replay seconds (its JSON `seconds`)' },
    wrk: { command: `wrk -t2 -c${CONCURRENCY} -d<a replay's seconds>s --latency -s post.lua <url>/chat/completions`, seconds: wrkSeconds, ...wrkInput, headers: 'Content-Type, Accept: application/json, x-request-id (as the replay sends)' },
    ratio: {
      replayRequestsPerSecond: r3(med('replay', 'requestsPerSecond')),
      wrkRequestsPerSecond: r3(med('wrk', 'requestsPerSecond')),
      ratio: r3(ratio),
      target: TARGET_RATIO,
      met: ratio >= TARGET_RATIO,
      quiet: pairedQuiet(m, 'replay', 'wrk', 'requestsPerSecond'),
      ratioWallTime: r3(ratioWall),
      ratioSteady: r3(ratioSteady),
      note: 'ratio: per round, then the median. ratioWallTime: the whole command (Node start, opening the trace and the DuckDB file, the summary) over its wall time. ratioSteady: without the start-up, from the rows beyond a --limit run',
    },
    whereTimeGoes: {
      replayClientCpuMicrosPerRequest: us('replay', 'clientCpuMicrosPerRequest'),
      replayServerCpuMicrosPerRequest: us('replay', 'serverCpuMicrosPerRequest'),
      wrkClientCpuMicrosPerRequest: us('wrk', 'clientCpuMicrosPerRequest'),
      wrkServerCpuMicrosPerRequest: us('wrk', 'serverCpuMicrosPerRequest'),
      replayCoresUsed: us('replay', 'cpuCoresUsed'),
      wrkCoresUsed: us('wrk', 'cpuCoresUsed'),
      replayLatencyP50Ms: us('replay', 'candidateLatencyP50Ms'),
      wrkLatencyP50Ms: us('wrk', 'latencyP50Ms'),
      startupSeconds: r3(startupSeconds),
      steadyRequestsPerSecond: r3(perRound(steadyRate)),
      workers1RequestsPerSecond: r3(med('replayWorkers1', 'requestsPerSecond')),
      workers1OverWorkers2: r3(pairedMedian(m, 'replayWorkers1', 'replay', 'requestsPerSecond')),
      workers1ClientCpuMicrosPerRequest: us('replayWorkers1', 'clientCpuMicrosPerRequest'),
      engineAloneRequestsPerSecond: r3(med('engineAlone', 'requestsPerSecond')),
      engineAloneClientCpuMicrosPerRequest: us('engineAlone', 'clientCpuMicrosPerRequest'),
      targetAloneRequestsPerSecond: r3(med('targetAlone', 'requestsPerSecond')),
      targetAloneClientCpuMicrosPerRequest: us('targetAlone', 'clientCpuMicrosPerRequest'),
      targetAloneServerCpuMicrosPerRequest: us('targetAlone', 'serverCpuMicrosPerRequest'),
      note: 'client CPU: the whole client process (every thread; for the replays its start-up too), per request; server CPU: serve-stub\'s, per request. cores used: client + server CPU per wall second, of the machine\'s cores',
    },
    spread: Object.fromEntries(Object.keys(m).map((j) => [j, r3(spread(m[j].map((x) => x.requestsPerSecond)))])),
    measurements: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, roundRows(v)])),
  };
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  result.summary = [
    { figure: 'HTTP replay / wrk, serve-stub, 64 in flight', value: r3(ratio), target: `≥ ${TARGET_RATIO}`, met: result.ratio.met },
    { figure: '  replay / wrk (req/s)', value: `${fmt(med('replay', 'requestsPerSecond'))} / ${fmt(med('wrk', 'requestsPerSecond'))}` },
    { figure: '  without start-up (steady replay / wrk)', value: r3(ratioSteady) },
    { figure: '  client CPU per request, replay / wrk', value: `${fmt(med('replay', 'clientCpuMicrosPerRequest'))} / ${fmt(med('wrk', 'clientCpuMicrosPerRequest'))} µs` },
  ];
  result.durationSeconds = r3((Date.now() - started) / 1000);
  const file = writeResult(NAME, result);

  console.log(`\n${NAME}: ${facts.node}, ${facts.cpu}, ${facts.cores} cores, ${result.date}`);
  console.log(
    table([
      ['job', 'requests', 'req/s (median)', 'client µs/req', 'server µs/req', 'bg cores med', 'bg max'],
      ...Object.entries(m).map(([k, v]) => [
        k,
        fmt(v[0].requests),
        perSecond(median(v.map((x) => x.requestsPerSecond))),
        fmt(median(v.map((x) => x.clientCpuMicrosPerRequest))),
        fmt(median(v.map((x) => x.serverCpuMicrosPerRequest))),
        median(v.map((x) => x.backgroundCores)).toFixed(2),
        Math.max(...v.map((x) => x.backgroundCores)).toFixed(2),
      ]),
    ]),
  );
  console.log('');
  console.log(table([['figure', 'value', 'target', 'met'], ...result.summary.map((s) => [s.figure, s.value, s.target ?? '', s.met === undefined ? '' : s.met ? 'yes' : 'NO'])]));
  if (result.backgroundLoad.maxCores > QUIET) console.log(`warning: other processes used up to ${result.backgroundLoad.maxCores} cores during the measurements`);
  console.log(`\nwrote ${path.relative(ROOT, file)} in ${result.durationSeconds} s`);
} finally {
  stopServer();
  rmSync(DIR, { recursive: true, force: true });
}
