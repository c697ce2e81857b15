/**
 * Shared helpers of the benchmarks (files starting with `_` are helpers, never run as benches):
 * paths, the build check, machine facts, timing with CPU accounting, medians, tables, results.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.dirname(BENCH_DIR);
export const DIST = path.join(ROOT, 'dist');
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');
/** Scratch files (git-ignored). */
export const TMP_DIR = path.join(BENCH_DIR, '.tmp');

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (/\.(ts|js)$/.test(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * The benchmarks import the built code: stop with a clear message when there is none, and warn
 * when src/ changed after the last build (the figures would describe old code).
 */
export function checkBuild(files) {
  if (!existsSync(DIST)) {
    process.stderr.write('bench: dist/ is missing: run `npm run build` first (the benchmarks measure the built code)\n');
    process.exit(2);
  }
  const missing = files.filter((f) => !existsSync(path.join(DIST, f)));
  if (missing.length > 0) {
    process.stderr.write(`bench: dist/${missing[0]} is missing: run \`npm run build\` first\n`);
    process.exit(2);
  }
  const src = newestMtime(path.join(ROOT, 'src'));
  const dist = newestMtime(DIST);
  const stale = src > dist;
  // bench/run.mjs has already warned about a stale build for the benches it starts.
  if (stale && !process.env.REHEARSE_BENCH_BUILD_CHECKED) {
    process.stderr.write('bench: warning: src/ is newer than dist/; run `npm run build` to measure the current code\n');
  }
  const iso = (ms) => (ms ? new Date(ms).toISOString() : null);
  return { distBuiltAt: iso(dist), srcChangedAt: iso(src), srcNewerThanDist: stale };
}

export const distUrl = (file) => new URL(`../dist/${file}`, import.meta.url).href;

export function machine() {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()}`,
    arch: os.arch(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

const CLK_TCK = 100;

/** Busy CPU-seconds of the whole machine so far (Linux /proc/stat), or null elsewhere. */
function machineBusySeconds() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
    return busy / CLK_TCK;
  } catch {
    return null;
  }
}

/**
 * Times one call: wall seconds, this process's CPU seconds (all its threads, workers included),
 * and the CPU the rest of the machine used meanwhile, in cores (null when /proc/stat is absent).
 * Background load is what makes a shared machine's figures drift; it is recorded with them.
 */
export async function timed(fn) {
  const busy0 = machineBusySeconds();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const busy1 = machineBusySeconds();
  const ownCpu = (cpu.user + cpu.system) / 1e6;
  // /proc/stat counts in 10 ms ticks: small negatives are rounding, not negative load.
  const backgroundCores = busy0 === null || busy1 === null ? null : Math.max(0, (busy1 - busy0 - ownCpu) / wall);
  return { value, wall, ownCpu, backgroundCores };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Relative spread of repeated measurements: (max − min) / median. */
export function spread(xs) {
  return (Math.max(...xs) - Math.min(...xs)) / median(xs);
}

export const round = (x, digits = 3) => (x === null || !Number.isFinite(x) ? x : Number(x.toPrecision(digits)));

/** Formats a rate in requests per second: 3.21 M/s. */
export const perSecond = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k/s` : `${x.toFixed(1)} /s`);

/** A plain-text table: the first row is the header; columns after the first are right-aligned. */
export function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function writeResult(name, data) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

/** Runs fn for each item in order, rotating the order every round so no item always goes first. */
export async function rounds(count, items, fn) {
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < items.length; i++) await fn(items[(i + r) % items.length], r);
  }
}

/** A positive whole number from the environment (a bench's size or round count), else `dflt`. */
export const envInt = (name, dflt) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : dflt;
};
