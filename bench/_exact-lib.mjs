/**
 * Helpers shared by bench/exact-engine.mjs, bench/judge-many.mjs and bench/suite.mjs (a helper:
 * its name starts with `_`, so bench/run.mjs never runs it as a benchmark). bench/_lib.mjs has the
 * paths, machine facts, timing and tables; this adds what these three need on top: the bench
 * scenario, a windows-only engine loop, paired medians over rounds, a summary of background load,
 * and child processes timed with their own CPU accounted for.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TMP_DIR, median, round, timed } from './_lib.mjs';

/** Background load, in cores, above which a bench prints a warning. */
export const QUIET = 0.3;

/**
 * The bench scenario: the default ladder (1% 30m → 5% 2h → 25% 4h → 100%), checks every 5m, a
 * candidate identical to the baseline with run-to-run and window-to-window non-determinism, and
 * two gates that never fire (p99 latency and mean cost, max_ratio 1000), so every run simulates
 * all 78 windows and the work per run is fixed.
 */
export function benchScenarioYaml({ name, requestsPerMinute, run = 0.15, check = 0.05, gateRatio = 1000 }) {
  return `name: ${name}
description: No regression, non-determinism on, gates that never fire; every run simulates every window.
runs: 1
seed: 1
traffic:
  requests_per_minute: ${requestsPerMinute}
  baseline:
    latency_ms: { p50: 800, p99: 4000 }
    output_tokens: { p50: 300, p99: 1500 }
    input_tokens: { p50: 1000, p99: 6000 }
    error_rate: 0.002
    refusal_rate: 0.01
    thumbs_down_rate: 0.03
  price: { input_per_million: 0.5, output_per_million: 1.5 }
candidate: {}
nondeterminism: { run: ${run}, check: ${check} }
rollout:
  stages:
    - { percent: 1, hold: 30m }
    - { percent: 5, hold: 2h }
    - { percent: 25, hold: 4h }
    - { percent: 100 }
  check_every: 5m
gates:
  - { name: latency_p99, metric: latency_ms, stat: p99, max_ratio: ${gateRatio} }
  - { name: cost_per_request, metric: cost_usd, stat: mean, max_ratio: ${gateRatio} }
`;
}

/** Writes a scratch file under bench/.tmp (git-ignored) and returns its path. */
export function scratchFile(name, text) {
  mkdirSync(TMP_DIR, { recursive: true });
  const file = path.join(TMP_DIR, name);
  writeFileSync(file, text);
  return file;
}

export function removeDb(file) {
  for (const f of [file, `${file}.wal`]) rmSync(f, { force: true });
}

/**
 * Runs `runs` runs of one engine class (ExactRun or SampleRun) over every window of the schedule,
 * in this thread: the engine's own work, nothing else (no judging, no pool). Returns the requests
 * the scenario represents (the Poisson counts of both arms, summed over the windows) and the
 * baseline's mean cost and p99 latency averaged over the checks (offsets costAt, p99At).
 */
export function engineLoop({ Engine, Rng, scenario, needs, schedule, out, canaryN, baselineN, costAt, p99At }, runFrom, runs) {
  let requests = 0, cost = 0, p99 = 0;
  for (let r = runFrom; r < runFrom + runs; r++) {
    const engine = new Engine(scenario, needs, Rng.forRun(scenario.seed, r));
    for (let c = 0; c < schedule.length; c++) {
      engine.window(schedule[c], out, 0);
      requests += out[canaryN] + out[baselineN];
      cost += out[costAt];
      p99 += out[p99At];
    }
  }
  const checks = runs * schedule.length;
  // The baseline's mean cost and p99 latency averaged over the checks: what the gates read.
  return { requests, runs, meanBaselineCost: cost / checks, meanBaselineP99: p99 / checks };
}

/**
 * Median over rounds of a per-round ratio a/b of a field of two jobs' measurement lists
 * (`fieldB`, when given, is b's field: e.g. a rate against a whole-process rate).
 */
export function pairedMedian(m, a, b, field, fieldB = field) {
  const n = Math.min(m[a].length, m[b].length);
  const xs = [];
  for (let i = 0; i < n; i++) xs.push(m[a][i][field] / m[b][i][fieldB]);
  return median(xs);
}

/** The same ratio over the rounds where neither job saw more than QUIET cores of background load. */
export function pairedQuiet(m, a, b, field) {
  const n = Math.min(m[a].length, m[b].length);
  const rs = [];
  for (let i = 0; i < n; i++) {
    if ([m[a][i], m[b][i]].every((x) => x.backgroundCores !== null && x.backgroundCores <= QUIET)) rs.push(m[a][i][field] / m[b][i][field]);
  }
  return { rounds: rs.length, ratio: rs.length ? round(median(rs), 3) : null };
}

export function backgroundOf(m) {
  const all = Object.values(m).flat().map((x) => x.backgroundCores).filter((x) => x !== null && x !== undefined);
  return {
    note: 'CPU used by other processes during the measurements, in cores (/proc/stat less this process and its children); high values make the figures unreliable',
    medianCores: all.length ? round(median(all), 3) : null,
    maxCores: all.length ? round(Math.max(...all), 3) : null,
  };
}

/** Rounds every number of a list of measurement rows to 4 significant digits, for the JSON. */
export const rows = (list) => list.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, typeof v === 'number' ? round(v, 4) : v])));

/**
 * Runs a child process to completion, timed with bench/_lib.mjs's timed(): wall seconds and the
 * machine's background load. The child's own CPU is taken off the background (it is this
 * measurement's work, not another process's) when the child reports it: `childCpu(stdout)` reads
 * it from the child's output, or, for Node children, the file `cpuFile` that
 * bench/_cpu-report.mjs writes at exit.
 */
export async function timedChild(command, args, { input, env, cpuFile, childCpu } = {}) {
  if (cpuFile) rmSync(cpuFile, { force: true });
  const t = await timed(
    () =>
      new Promise((resolve, reject) => {
        const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '', stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
        child.stdin.end(input ?? '');
      }),
  );
  let cpu = null, report = null;
  if (cpuFile && existsSync(cpuFile)) {
    report = JSON.parse(readFileSync(cpuFile, 'utf8'));
    cpu = report.cpuSeconds;
  } else if (childCpu) cpu = childCpu(t.value.stdout);
  const backgroundCores = t.backgroundCores === null || cpu === null ? t.backgroundCores : Math.max(0, t.backgroundCores - cpu / t.wall);
  return { ...t.value, wall: t.wall, childCpu: cpu, report, backgroundCores };
}
