/**
 * `npm run bench`: runs every benchmark in bench/ in turn, each in its own Node process (so one
 * bench's JIT state, heap and worker threads never colour another's figures), then prints a short
 * summary from the results each wrote to bench/results/<name>.json.
 *
 * A benchmark is any bench/*.mjs but this file and helpers whose names start with `_`
 * (bench/numpy/ holds exact-engine's Python yardstick, not a benchmark).
 * `npm run bench -- sample-engine` runs only the named ones.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, RESULTS_DIR, checkBuild, table } from './_lib.mjs';

checkBuild([]);

const all = readdirSync(BENCH_DIR)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.startsWith('_'))
  .map((f) => f.slice(0, -'.mjs'.length))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`bench: no benchmark named ${unknown.join(', ')} (have: ${all.join(', ')})\n`);
  process.exit(2);
}
const benches = wanted.length > 0 ? wanted : all;

const outcomes = [];
for (const name of benches) {
  process.stderr.write(`\n== ${name}\n`);
  const started = Date.now();
  const child = spawnSync(process.execPath, [path.join(BENCH_DIR, `${name}.mjs`)], {
    stdio: 'inherit',
    env: { ...process.env, REHEARSE_BENCH_BUILD_CHECKED: '1' },
  });
  const seconds = (Date.now() - started) / 1000;
  const file = path.join(RESULTS_DIR, `${name}.json`);
  // Only a result written by this run counts: a failed bench must not report last week's figures.
  const fresh = existsSync(file) && statSync(file).mtimeMs >= started;
  const ok = child.status === 0 && fresh;
  const summary = ok ? (JSON.parse(readFileSync(file, 'utf8')).summary ?? []) : [];
  outcomes.push({ name, ok, seconds, summary, status: child.status ?? child.signal });
}

const rows = [['bench', 'figure', 'value', 'target', '']];
for (const o of outcomes) {
  if (!o.ok) {
    rows.push([o.name, `FAILED (exit ${o.status})`, '', '', '']);
    continue;
  }
  if (o.summary.length === 0) rows.push([o.name, '(no summary)', '', '', '']);
  o.summary.forEach((s, i) => rows.push([i === 0 ? o.name : '', s.figure, String(s.value), s.target ?? '', s.met === undefined ? '' : s.met ? 'met' : 'MISSED']));
}
console.log(`\nbench summary (${outcomes.reduce((a, o) => a + o.seconds, 0).toFixed(0)} s; figures are ratios measured within one run, see bench/README.md)`);
console.log(table(rows));
process.exit(outcomes.every((o) => o.ok) ? 0 : 1);
