import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');
const AZURE = path.join(root, 'traces/azure-llm-2023-code.csv');
/** The bundled synthetic trace records statuses (errors, timeouts, refusals); the Azure trace none. */
const SYNTHETIC = path.join(root, 'traces/synthetic.jsonl');

function rehearse(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function query(db: string, sql: string) {
  const r = rehearse(['query', '--db', db, '--json', sql]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Record<string, number | string | boolean | null>[];
}

/** As if the replay had been interrupted (a SIGKILL leaves it 'running'; this is quicker), with `sql` run too. */
async function markInterrupted(db: string, id: string, sql?: string): Promise<void> {
  const { DuckDBInstance } = await import('../../src/store/duckdb.js');
  const instance = await DuckDBInstance.create(db);
  const c = await instance.connect();
  await c.run(`UPDATE invocations SET status = 'interrupted' WHERE invocation_id = '${id}'`);
  if (sql) await c.run(sql);
  c.closeSync();
  instance.closeSync();
}

let dir: string;
// serve-stub runs as its own process: the tests call the CLI synchronously, which would block an
// in-process server's event loop.
let server: ChildProcess;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-replay-'));
  // Price 1.4 alone: with the same tokens on both sides, every ok answer costs exactly 1.4× the baseline.
  writeFileSync(path.join(dir, 'pricier.yaml'), 'kind: stub\nseed: 3\ncandidate: { price: 1.4 }\nbaseline: { error_rate: 0.01 }\n');
  writeFileSync(path.join(dir, 'same.yaml'), 'kind: stub\nseed: 3\n');
  writeFileSync(path.join(dir, 'same-rates.yaml'), 'kind: stub\nseed: 3\nbaseline: { error_rate: 0.01, refusal_rate: 0.03 }\n');
  writeFileSync(path.join(dir, 'flaky.yaml'), 'kind: stub\nseed: 4\ncandidate: { error_rate: 2, refusal_rate: 2 }\nbaseline: { error_rate: 0.02, refusal_rate: 0.05 }\n');
  writeFileSync(path.join(dir, 'rates.yaml'), 'gates:\n  - { name: errors, metric: error_rate, max_ratio: 1.5 }\n  - { name: refusals, metric: refusal_rate, max_ratio: 1.5 }\n');
  writeFileSync(path.join(dir, 'slow.yaml'), 'kind: stub\nseed: 5\ncandidate: { output_length: 1.3 }\nbaseline: { latency_ms: { p50: 30, p99: 80 } }\n');
  writeFileSync(path.join(dir, 'gates.yaml'), 'gates:\n  - { name: cost_per_request, metric: cost_usd, max_ratio: 1.2 }\n  - { name: errors, metric: error_rate, max: 0.05 }\n');
  server = spawn(process.execPath, [cli, 'serve-stub', '--stub', path.join(dir, 'slow.yaml'), '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.once('exit', (code) => reject(new Error(`serve-stub exited with ${code}: ${out}`)));
  });
});

afterAll(() => {
  server?.kill('SIGTERM');
});

describe('rehearse replay against a stub', () => {
  it('stores exactly the injected regression, request by request, and the cost gate breaches (exit 1)', () => {
    const db = path.join(dir, 'stub.duckdb');
    const r = rehearse(['replay', AZURE, '--target', path.join(dir, 'pricier.yaml'), '--gates', path.join(dir, 'gates.yaml'), '--limit', '3000', '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/cost_per_request\s+BREACH \(rollback\)/);
    const [row] = query(
      db,
      `SELECT count(*)::INT AS n, count(DISTINCT request_id)::INT AS ids,
              count(*) FILTER (WHERE candidate_status = 'ok')::INT AS ok,
              max(abs(candidate_cost_usd / baseline_cost_usd - 1.4)) FILTER (WHERE candidate_status = 'ok') AS worst,
              count(*) FILTER (WHERE candidate_status = 'error')::INT AS errors
       FROM replay_requests`,
    );
    expect(row!.n).toBe(3000);
    expect(row!.ids).toBe(3000);
    expect(Number(row!.worst)).toBeLessThan(1e-9);
    // 1% injected errors over 3,000 requests: 30 expected, sd 5.4; 4 sd either way.
    expect(Number(row!.errors)).toBeGreaterThan(30 - 4 * 5.4);
    expect(Number(row!.errors)).toBeLessThan(30 + 4 * 5.4);
    const gates = query(db, `SELECT gate, breached FROM replay_gates WHERE segment IS NULL ORDER BY gate`);
    expect(gates).toEqual([
      { gate: 'cost_per_request', breached: true },
      { gate: 'errors', breached: false },
    ]);
    // Segments: the Azure trace has no routes or tenants, so input sizes are the segments.
    const segments = query(db, `SELECT count(DISTINCT segment)::INT AS n FROM replay_gates WHERE segment_kind = 'input_size'`);
    expect(segments[0]!.n).toBeGreaterThan(2);

    // The report draws the distributions of both arms and the per-segment verdicts.
    const report = rehearse(['report', '--db', db, '--out', path.join(dir, 'report')]);
    expect(report.code).toBe(0);
    const html = readFileSync(path.join(dir, 'report', 'report.html'), 'utf8');
    expect(html).toMatch(/<section id="replay-distributions">[\s\S]*?<svg/);
    expect(html).toMatch(/<section id="replay-verdicts">[\s\S]*?<svg/);
  });

  it('passes (exit 0) when the candidate is the baseline', () => {
    const r = rehearse(['replay', AZURE, '--target', path.join(dir, 'same.yaml'), '--gates', path.join(dir, 'gates.yaml'), '--limit', '1000', '--db', path.join(dir, 'same.duckdb'), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.replayed).toBe(1000);
    expect(out.breached).toBe(false);
  });

  // How the two sides ended, per request: failed (error or timeout), refused, or answered.
  const OUTCOMES = `count(*)::INT AS n,
      count(*) FILTER (WHERE baseline_status IN ('error', 'timeout'))::INT AS b_failed,
      count(*) FILTER (WHERE baseline_status NOT IN ('error', 'timeout') AND coalesce(baseline_refusal, false))::INT AS b_refused,
      count(*) FILTER (WHERE candidate_status IN ('error', 'timeout'))::INT AS c_failed,
      count(*) FILTER (WHERE candidate_status = 'refusal')::INT AS c_refused,
      count(*) FILTER (WHERE (baseline_status IN ('error', 'timeout')) <> (candidate_status IN ('error', 'timeout'))
                          OR (baseline_status NOT IN ('error', 'timeout') AND coalesce(baseline_refusal, false)) <> (candidate_status = 'refusal'))::INT AS differ,
      count(*) FILTER (WHERE baseline_status IN ('error', 'timeout') AND candidate_status NOT IN ('error', 'timeout'))::INT AS failure_dropped,
      count(*) FILTER (WHERE baseline_status = 'timeout' AND candidate_status = 'timeout')::INT AS timeouts_kept`;

  it('an unchanged stub ends every request as the baseline did: the trace\'s statuses repeated, or where it has none the same draws', () => {
    for (const [trace, limit] of [[AZURE, '3000'], [SYNTHETIC, '2000']] as const) {
      const db = path.join(dir, `unchanged-${path.basename(trace)}.duckdb`);
      const r = rehearse(['replay', trace, '--target', path.join(dir, 'same-rates.yaml'), '--gates', path.join(dir, 'rates.yaml'), '--limit', limit, '--db', db, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.breached).toBe(false);
      // Without regressions or noise every summary figure is the baseline's: rates, latencies,
      // lengths and costs (a refusal or failure drawn for the baseline is one on both sides).
      for (const row of out.summary as { metric: string; baseline: number | null; candidate: number | null }[]) {
        expect(row.candidate, `${trace}: ${row.metric}`).toBeCloseTo(row.baseline!, 9);
      }
      const [o] = query(db, `SELECT ${OUTCOMES} FROM replay_requests`);
      expect(o!.differ, trace).toBe(0);
      // Both traces have failures and refusals on the baseline side: the synthetic's own, and on the
      // Azure trace (no statuses) the stub's rates, 1% and 3%, drawn for both sides.
      expect(o!.b_failed).toBeGreaterThan(0);
      expect(o!.b_refused).toBeGreaterThan(0);
    }
    // The synthetic trace's timeouts stay timeouts.
    const [o] = query(path.join(dir, 'unchanged-synthetic.jsonl.duckdb'), `SELECT ${OUTCOMES} FROM replay_requests`);
    expect(o!.timeouts_kept).toBeGreaterThan(0);
  });

  it('scales the failure and refusal rates by the multipliers: the trace\'s own where it records them, else the stub\'s', () => {
    for (const trace of [AZURE, SYNTHETIC]) {
      const db = path.join(dir, `flaky-${path.basename(trace)}.duckdb`);
      const r = rehearse(['replay', trace, '--target', path.join(dir, 'flaky.yaml'), '--gates', path.join(dir, 'rates.yaml'), '--db', db, '--json']);
      expect(r.code, r.stderr).toBe(1);
      const [o] = query(db, `SELECT ${OUTCOMES} FROM replay_requests`);
      const n = o!.n as number, bFailed = o!.b_failed as number, bRefused = o!.b_refused as number;
      // Every baseline failure is repeated (×2 ≥ 1); the others fail at x_e = (2 − 1)·E/(1 − E), and
      // of those still answered, the baseline's refusals repeat and the rest refuse at x_r = R/(1 − R),
      // E and R the baseline's rates (the trace's, or for the Azure trace the stub's 2% and 5%).
      const E = trace === AZURE ? 0.02 : bFailed / n;
      const R = trace === AZURE ? 0.05 : bRefused / (n - bFailed);
      const xe = E / (1 - E), xr = R / (1 - R);
      const others = n - bFailed, plain = others - bRefused;
      const failed = bFailed + others * xe, failedSd = Math.sqrt(others * xe * (1 - xe));
      const refused = (bRefused + plain * xr) * (1 - xe);
      expect(o!.failure_dropped).toBe(0);
      expect(Math.abs((o!.c_failed as number) - failed), `${trace}: failures`).toBeLessThan(4.5 * failedSd);
      // A sum of Bernoulli draws: its variance is below its mean.
      expect(Math.abs((o!.c_refused as number) - refused), `${trace}: refusals`).toBeLessThan(4.5 * Math.sqrt(refused));
      // About twice the baseline's, both of them.
      expect((o!.c_failed as number) / bFailed).toBeGreaterThan(1.5);
      expect((o!.c_refused as number) / bRefused).toBeGreaterThan(1.5);
    }
  });

  it('refuses --gates given twice (the second silently replaced the first)', () => {
    const r = rehearse(['replay', AZURE, '--target', path.join(dir, 'same.yaml'), '--gates', 'scenarios/gates/default.yaml', '--gates', 'nowhere.yaml', '--db', path.join(dir, 'twice.duckdb')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--gates given twice ("scenarios/gates/default.yaml", "nowhere.yaml"): a replay judges one gate file');
  });

  it('exits 2 on a bad target or trace', () => {
    const bad = rehearse(['replay', AZURE, '--target', path.join(dir, 'missing.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/missing\.yaml: no such file/);
    const trace = rehearse(['replay', path.join(dir, 'nope.csv'), '--target', path.join(dir, 'same.yaml')]);
    expect(trace.code).toBe(2);
    expect(trace.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('rehearse replay refuses what it cannot do well (exit 2, named)', () => {
  it('resumes only the replay it started: same trace, target and selection, not a finished one', async () => {
    const db = path.join(dir, 'resume-check.duckdb');
    const first = rehearse(['replay', AZURE, '--target', path.join(dir, 'pricier.yaml'), '--limit', '200', '--db', db, '--json', '--quiet']);
    expect(first.code).toBe(0);
    const id = JSON.parse(first.stdout).invocation_id as string;
    const finished = rehearse(['replay', AZURE, '--target', path.join(dir, 'pricier.yaml'), '--limit', '200', '--db', db, '--resume', id]);
    expect(finished.code).toBe(2);
    expect(finished.stderr).toMatch(/that replay finished/);
    // As if it had been interrupted: a resume with another target or selection would mix two replays.
    await markInterrupted(db, id);
    const otherTarget = rehearse(['replay', AZURE, '--target', path.join(dir, 'same.yaml'), '--limit', '200', '--db', db, '--resume', id]);
    expect(otherTarget.code).toBe(2);
    expect(otherTarget.stderr).toMatch(/--target was .*pricier\.yaml, now .*same\.yaml/);
    const otherLimit = rehearse(['replay', AZURE, '--target', path.join(dir, 'pricier.yaml'), '--limit', '300', '--db', db, '--resume', id]);
    expect(otherLimit.code).toBe(2);
    expect(otherLimit.stderr).toMatch(/--limit was 200, now 300/);
    const same = rehearse(['replay', AZURE, '--target', path.join(dir, 'pricier.yaml'), '--limit', '200', '--db', db, '--resume', id, '--json', '--quiet']);
    expect(same.stderr).toBe('');
    expect(same.code).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ invocation_id: id, replayed: 0, skipped_already_stored: 200 });
    // Without an id, a resume with nothing unfinished refuses: starting afresh would replay it all
    // again beside the finished one.
    const again = rehearse(['replay', AZURE, '--target', path.join(dir, 'pricier.yaml'), '--limit', '200', '--db', db, '--resume']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`every replay of ${AZURE} against ${path.join(dir, 'pricier.yaml')} in ${db} finished (the latest: ${id}); there is nothing to resume`);
    const fresh = rehearse(['replay', AZURE, '--target', path.join(dir, 'pricier.yaml'), '--limit', '200', '--db', path.join(dir, 'resume-none.duckdb'), '--resume']);
    expect(fresh.code).toBe(2);
    expect(fresh.stderr).toMatch(/--resume: no replay of .* to resume \(run it without --resume to start one\)/);
  });

  it('after a resume, counts the candidate errors of the whole replay, as its reasons and summary do', async () => {
    const db = path.join(dir, 'resume-errors.duckdb');
    const args = ['replay', AZURE, '--target', path.join(dir, 'flaky.yaml'), '--limit', '1000', '--db', db, '--json', '--quiet'];
    const whole = rehearse(args);
    expect(whole.code).toBe(0);
    const all = JSON.parse(whole.stdout) as { invocation_id: string; candidate_errors: number };
    // 2 × 2% injected: about 40 of 1,000.
    expect(all.candidate_errors).toBeGreaterThan(15);
    await markInterrupted(db, all.invocation_id, `DELETE FROM replay_requests WHERE row_index > 500`);
    const resumed = rehearse([...args, '--resume']);
    expect(resumed.code).toBe(0);
    const out = JSON.parse(resumed.stdout) as { replayed: number; candidate_errors: number; candidate_error_reasons: { n: number }[] };
    expect(out.replayed).toBe(500);
    expect(out.candidate_errors).toBe(all.candidate_errors);
    expect(out.candidate_error_reasons.reduce((a, r) => a + r.n, 0)).toBe(all.candidate_errors);
  });

  it('a failure the trace records and the stub repeats costs what the baseline\'s did, at the stub\'s price', () => {
    const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ request_id: `f${i}`, timestamp: 1000 * i, input_tokens: 100 + i, output_tokens: 50, status: i % 4 === 0 ? 'error' : 'ok' }));
    writeFileSync(path.join(dir, 'failures.jsonl'), rows.join('\n') + '\n');
    const db = path.join(dir, 'failures.duckdb');
    const r = rehearse(['replay', path.join(dir, 'failures.jsonl'), '--target', path.join(dir, 'pricier.yaml'), '--db', db, '--json', '--quiet']);
    expect(r.code).toBe(0);
    const [f] = query(
      db,
      `SELECT count(*)::INT AS n, count(candidate_cost_usd)::INT AS priced, max(abs(candidate_cost_usd / baseline_cost_usd - 1.4)) AS worst
       FROM replay_requests WHERE baseline_status = 'error' AND candidate_status = 'error'`,
    );
    expect(f!.n).toBe(10);
    expect(f!.priced).toBe(10);
    expect(Number(f!.worst)).toBeLessThan(1e-9);
  });

  it('says when it could not keep the pace asked (too few requests in flight), and not when it could', () => {
    // Answers take ~30 ms (slow.yaml's p50) with at most 2 in flight: ~65 a second, against the
    // 300 a second asked; 300 requests due within 1 s go out over ~4.5 s.
    const slow = rehearse(['replay', AZURE, '--target', `${url}/v1`, '--rate', '300', '--concurrency', '2', '--limit', '300', '--db', path.join(dir, 'behind.duckdb'), '--json', '--quiet']);
    expect(slow.code).toBe(0);
    expect(slow.stderr).toMatch(/^rehearse: the pace asked \(.*300.*\) was not kept: [\d,]+ requests \(\d+%\) went out more than 1 s after their due times, up to \d+\.\d s, with at most --concurrency 2 in flight/);
    const late = JSON.parse(slow.stdout) as { max_late_ms: number; late_requests: number; pace_kept: boolean };
    expect(late.pace_kept).toBe(false);
    expect(late.max_late_ms).toBeGreaterThan(1000);
    expect(late.late_requests).toBeGreaterThan(0);
    expect(late.late_requests).toBeLessThan(300);
    const kept = rehearse(['replay', AZURE, '--target', `${url}/v1`, '--rate', '40', '--concurrency', '16', '--limit', '40', '--db', path.join(dir, 'kept.duckdb'), '--json', '--quiet']);
    expect(kept.code).toBe(0);
    expect(kept.stderr).toBe('');
    expect((JSON.parse(kept.stdout) as { pace_kept: boolean }).pace_kept).toBe(true);
  });

  it('reads a trace in the format --format names, when its name says another', () => {
    writeFileSync(path.join(dir, 'pretty.jsonl'), '{\n  "request_id": "p1", "timestamp": 1,\n  "input_tokens": 5\n}\n{\n  "request_id": "p2", "timestamp": 2,\n  "input_tokens": 6\n}\n');
    const db = path.join(dir, 'pretty.duckdb');
    const asLines = rehearse(['replay', path.join(dir, 'pretty.jsonl'), '--target', path.join(dir, 'same.yaml'), '--db', db]);
    expect(asLines.code).toBe(2);
    expect(asLines.stderr).toMatch(/not one JSON object per line .*: read it as JSON with --format json/);
    const asJson = rehearse(['replay', path.join(dir, 'pretty.jsonl'), '--format', 'json', '--target', path.join(dir, 'same.yaml'), '--db', db, '--json', '--quiet']);
    expect(asJson.code).toBe(0);
    expect(JSON.parse(asJson.stdout).replayed).toBe(2);
  });

  it('stops when its first requests all fail in the setup (nobody listening): exit 2, named, the invocation failed', () => {
    const db = path.join(dir, 'down.duckdb');
    const r = rehearse(['replay', AZURE, '--target', 'http://127.0.0.1:1/v1', '--max', '--limit', '2000', '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^rehearse: http:\/\/127\.0\.0\.1:1\/v1: the first \d+ requests all failed before any model answered, so the replay stopped: cannot reach the endpoint: connection refused .*\. Nothing about the candidate to judge, and nothing kept: fix the target \(its URL, API key, model or parameters\) and run the same command again/,
    );
    // 10 faults stop the sending (at most the other 63 of the 64 in flight were sent meanwhile),
    // and none is kept: a --resume once the target is fixed would count them as the candidate's.
    expect(Number(/the first (\d+) requests/.exec(r.stderr)![1])).toBeLessThan(74);
    expect(query(db, `SELECT status FROM invocations`)).toEqual([{ status: 'failed' }]);
    expect(query(db, `SELECT count(*)::INT AS n FROM replay_requests`)).toEqual([{ n: 0 }]);
  });

  it('a bare URL refused its key says where a bare URL takes one (REHEARSE_API_KEY)', async () => {
    // In a process of its own: the CLI runs synchronously here and would block an in-process server.
    writeFileSync(
      path.join(dir, 'refuses.mjs'),
      `import http from 'node:http';
const s = http.createServer((req, res) => { req.resume(); req.on('end', () => {
  res.writeHead(401, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message: 'Incorrect API key provided: sk-wrong.', code: 'invalid_api_key' } }));
}); });
s.listen(0, '127.0.0.1', () => console.log(s.address().port));\n`,
    );
    const child = spawn(process.execPath, [path.join(dir, 'refuses.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
      const r = rehearse(['replay', AZURE, '--target', `http://127.0.0.1:${port}/v1`, '--max', '--limit', '200', '--db', path.join(dir, 'refused-key.duckdb')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        // The Azure trace names no model: /models, asked first, refused the key.
        'so the replay stopped: HTTP 401 at GET /v1/models: Incorrect API key provided: sk-wrong (a bare URL sends the key in REHEARSE_API_KEY, when set; a target file names its own variable in api_key_env). Nothing about the candidate',
      );
    } finally {
      child.kill();
    }
  });

  it('says when every candidate request failed for the candidate\'s own reasons, and replays them all', () => {
    writeFileSync(path.join(dir, 'all-fail.yaml'), 'kind: stub\ncandidate: { error_rate: 1000 }\nbaseline: { error_rate: 0.001 }\n');
    const r = rehearse(['replay', AZURE, '--target', path.join(dir, 'all-fail.yaml'), '--limit', '300', '--db', path.join(dir, 'all-fail.duckdb'), '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^rehearse: every candidate request failed \(300\); most common: injected error .*\. Before reading that as the candidate's regression, check the target is up and configured\n$/);
    expect(JSON.parse(r.stdout).replayed).toBe(300);
  });

  it('finds the replay to resume whatever spelling of the trace and target files, from another folder', async () => {
    const db = path.join(dir, 'resume-spelling.duckdb');
    const relativeTrace = path.relative(root, AZURE);
    const first = rehearse(['replay', relativeTrace, '--target', path.join(dir, 'pricier.yaml'), '--limit', '100', '--db', db, '--json', '--quiet']);
    expect(first.code).toBe(0);
    const id = JSON.parse(first.stdout).invocation_id as string;
    await markInterrupted(db, id);
    const r = spawnSync(process.execPath, [cli, 'replay', AZURE, '--target', path.relative(dir, path.join(dir, 'pricier.yaml')), '--limit', '100', '--db', db, '--resume', '--json', '--quiet'], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ invocation_id: id, replayed: 0, skipped_already_stored: 100 });
  });

  it('a trace with no usable rows, or a selection that keeps none, is bad input, not a pass', () => {
    writeFileSync(path.join(dir, 'allbad.csv'), 'request_id,timestamp,input_tokens\nr1,bad,5\nr2,bad,7\n');
    const bad = rehearse(['replay', path.join(dir, 'allbad.csv'), '--target', path.join(dir, 'pricier.yaml'), '--gates', path.join(dir, 'gates.yaml'), '--db', path.join(dir, 'none.duckdb')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/allbad\.csv: no usable rows to replay: all 2 are bad \(2 bad timestamp\)/);
    const late = rehearse(['replay', AZURE, '--from', '2100-01-01', '--target', path.join(dir, 'pricier.yaml'), '--db', path.join(dir, 'none.duckdb')]);
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/keep none of its [\d,]+ usable rows/);
  });

  it('a bad refusal pattern, JSON Schema or memory size is named before any work', () => {
    writeFileSync(path.join(dir, 'bad-schema.json'), '{"type":"objekt"}');
    for (const [args, message] of [
      [['--refusal-pattern', '('], /--refusal-pattern "\(" is not a valid regular expression/],
      [['--schema', path.join(dir, 'bad-schema.json')], /bad-schema\.json: not a valid JSON Schema/],
      [['--trace-memory', 'lots'], /--trace-memory must be a size above 0/],
    ] as const) {
      const r = rehearse(['replay', AZURE, '--target', path.join(dir, 'same.yaml'), '--limit', '10', '--db', path.join(dir, 'none.duckdb'), ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }
    // DuckDB's other spellings of a size stay accepted.
    for (const size of ['512M', '1e3MB', '2GiB']) {
      expect(rehearse(['replay', AZURE, '--target', path.join(dir, 'same.yaml'), '--limit', '10', '--db', path.join(dir, 'sizes.duckdb'), '--quiet', '--trace-memory', size]).code, size).toBe(0);
    }
  });

  it('a module that ends its worker thread is named', () => {
    writeFileSync(path.join(dir, 'exits.mjs'), 'export async function call() { process.exit(3); }\n');
    const r = rehearse(['replay', AZURE, '--target', path.join(dir, 'exits.mjs'), '--limit', '10', '--db', path.join(dir, 'exits.duckdb'), '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exits\.mjs: the module ended its worker thread/);
  });

  it('a hold gate that breaches over all traffic fails the replay (exit 1), as a rollback gate does', () => {
    writeFileSync(path.join(dir, 'hold.yaml'), 'gates:\n  - { name: cost_hold, metric: cost_usd, max_ratio: 1.2, action: hold }\n');
    const r = rehearse(['replay', AZURE, '--target', path.join(dir, 'pricier.yaml'), '--gates', path.join(dir, 'hold.yaml'), '--limit', '500', '--db', path.join(dir, 'hold.duckdb'), '--json', '--quiet']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).breached).toBe(true);
  });
});

describe('rehearse replay against a module', () => {
  it('a .mjs file and a target file naming it (kind: module) store the same answers, every request once', () => {
    // Output tokens twice the baseline's, latency from the request id: the same whichever
    // workers run it (a .mjs file starts one per core; a kind: module file is known as a module
    // only once read, and its pool is started again with as many).
    writeFileSync(
      path.join(dir, 'double.mjs'),
      `export async function call(req) {
  const n = Number(req.request_id.replace(/\\D/g, '')) || 0;
  return { status: 'ok', latency_ms: 10 + (n % 7), output: null, output_tokens: 2 * (req.output_tokens ?? 1), finish_reason: 'stop' };
}
`,
    );
    writeFileSync(path.join(dir, 'double.yaml'), 'kind: module\nmodule: double.mjs\n');
    const stored = (target: string, db: string) => {
      const r = rehearse(['replay', AZURE, '--target', path.join(dir, target), '--max', '--limit', '500', '--db', db, '--quiet']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return query(db, 'SELECT row_index::INT AS row, request_id, candidate_latency_ms AS latency, candidate_output_tokens AS tokens, baseline_output_tokens AS base FROM replay_requests ORDER BY row_index');
    };
    const byFile = stored('double.mjs', path.join(dir, 'module-file.duckdb'));
    const byTarget = stored('double.yaml', path.join(dir, 'module-target.duckdb'));
    expect(byFile).toHaveLength(500);
    expect(new Set(byFile.map((r) => r.request_id)).size).toBe(500);
    expect(byTarget).toEqual(byFile);
    for (const r of byFile) expect(r.tokens).toBe(2 * Number(r.base));
  });
});

describe('rehearse replay over real HTTP (serve-stub on loopback)', () => {
  it('says why candidates failed, most common reason first, when every request fails', () => {
    const db = path.join(dir, 'refused.duckdb');
    const r = rehearse(['replay', AZURE, '--target', 'http://127.0.0.1:1/v1', '--max', '--limit', '5', '--db', db]);
    expect(r.code).toBe(0);
    // The Azure trace names no model, so discovery at /models is what fails first.
    expect(r.stdout).toMatch(/5 candidate errors\n\nCandidate errors, most common first:\n {2}5 × .*ECONNREFUSED/);
    const json = rehearse(['replay', AZURE, '--target', 'http://127.0.0.1:1/v1', '--max', '--limit', '5', '--db', db, '--json']);
    expect(JSON.parse(json.stdout).candidate_error_reasons).toEqual([{ error: expect.stringMatching(/ECONNREFUSED/), n: 5 }]);
  });

  it('replays with --max: every request once, longer outputs measured', () => {
    const db = path.join(dir, 'http.duckdb');
    const r = rehearse(['replay', AZURE, '--target', `${url}/v1`, '--max', '--concurrency', '32', '--limit', '400', '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [row] = query(db, `SELECT count(*)::INT AS n, count(DISTINCT request_id)::INT AS ids, avg(candidate_output_tokens / baseline_output_tokens) AS ratio FROM replay_requests WHERE candidate_status = 'ok'`);
    expect(row!.n).toBe(row!.ids);
    expect(Number(row!.n)).toBeGreaterThan(390);
    // output_length 1.3, rounded tokens: the mean ratio sits near 1.3 (short outputs round coarsely).
    expect(Number(row!.ratio)).toBeGreaterThan(1.2);
    expect(Number(row!.ratio)).toBeLessThan(1.4);
    // The model the endpoint answered as (serve-stub's, found at /models) is stored and said.
    expect(query(db, 'SELECT DISTINCT candidate_model FROM replay_requests')).toEqual([{ candidate_model: 'rehearse-stub' }]);
    expect(r.stdout).toContain('\n\nAnswered by rehearse-stub\n\n');
  });

  it('judges a test gate on every stored value of both arms', async () => {
    // The bundled gates' output_length_shift is a two-sided KS test over output tokens: its p-value
    // from replay_gates must equal the test over the samples read back here, all of them.
    const db = path.join(dir, 'ks.duckdb');
    const r = rehearse(['replay', AZURE, '--target', path.join(dir, 'slow.yaml'), '--gates', path.join(root, 'scenarios/gates/default.yaml'), '--limit', '2500', '--db', db, '--quiet']);
    expect(r.stderr).toBe('');
    const [gate] = query(db, `SELECT p_value, breached, requests FROM replay_gates WHERE gate = 'output_length_shift' AND segment IS NULL`);
    const sample = (col: string, ok: string) =>
      Float64Array.from(query(db, `SELECT ${col}::DOUBLE AS x FROM replay_requests WHERE ${ok} AND ${col} IS NOT NULL`).map((x) => Number(x.x)));
    const { ksTwoSample } = await import('../../src/stats/tests.js');
    const candidate = sample('candidate_output_tokens', "candidate_status NOT IN ('error', 'timeout')");
    const baseline = sample('baseline_output_tokens', "coalesce(baseline_status, 'ok') NOT IN ('error', 'timeout')");
    expect(baseline.length).toBe(2500);
    expect(candidate.length).toBeGreaterThan(2400);
    expect(gate!.p_value).toBeCloseTo(ksTwoSample(candidate, baseline).p, 12);
    // 30% longer outputs over 2,500 requests: the shift is unmistakable.
    expect(gate!.p_value as number).toBeLessThan(1e-6);
    expect(gate!.breached).toBe(true);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)("stopped with %s (Ctrl-C, a CI timeout) mid-batch: exits 130 within one request's time, stores what was answered, and resumes the rest", async (signal) => {
    const db = path.join(dir, `${signal}.duckdb`);
    // One batch holds all 600 rows and --speed 1 spreads them over the trace's own hours: a stop
    // that waited for the batch would wait for hours; one that waits for the requests in flight
    // (serve-stub answers within ~100 ms) is quick.
    const args = ['replay', AZURE, '--target', `${url}/v1`, '--speed', '1', '--batch-size', '600', '--concurrency', '16', '--limit', '600', '--db', db];
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The trace's first requests arrive within seconds of each other.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const stoppedAt = Date.now();
    child.kill(signal);
    const code = await exited;
    const took = Date.now() - stoppedAt;
    expect(code).toBe(130);
    expect(took).toBeLessThan(5000);
    const m = /interrupted after (\d+) requests; resume with the same command and --resume ([0-9a-f-]+)/.exec(stderr);
    expect(m, stderr).not.toBeNull();
    const stored = query(db, 'SELECT count(*)::INT AS n FROM replay_requests')[0]!.n as number;
    expect(stored).toBe(Number(m![1]));
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThan(600);
    expect(query(db, `SELECT status FROM invocations WHERE invocation_id = '${m![2]}'`)[0]!.status).toBe('interrupted');
    const resumed = rehearse(['replay', AZURE, '--target', `${url}/v1`, '--max', '--concurrency', '16', '--limit', '600', '--db', db, '--resume', m![2]!]);
    expect(resumed.code).toBe(0);
    const [row] = query(db, 'SELECT count(*)::INT AS n, count(DISTINCT row_index)::INT AS rows, count(DISTINCT invocation_id)::INT AS inv FROM replay_requests');
    expect(row).toEqual({ n: 600, rows: 600, inv: 1 });
  });

  it('resumed under --rate, sends the rest at once at that rate, not after the time the first run covered', async () => {
    const db = path.join(dir, 'paced-resume.duckdb');
    const target = path.join(dir, 'pricier.yaml');
    // 80 requests at 20/s take 4 s; a stop after ~2 s leaves about half.
    const args = ['replay', AZURE, '--target', target, '--rate', '20', '--limit', '80', '--batch-size', '10', '--db', db, '--quiet'];
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const before = query(db, 'SELECT count(*)::INT AS n FROM replay_requests')[0]!.n as number;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(80);
    const resumed = rehearse([...args, '--resume', '--json']);
    expect(resumed.code).toBe(0);
    const out = JSON.parse(resumed.stdout) as { seconds: number; replayed: number; skipped_already_stored: number };
    expect(out.replayed + out.skipped_already_stored).toBe(80);
    // The rest, at 20 a second from the first one sent: (80 − before − 1)/20 s, plus slack for
    // start-up inside the timed part; resuming on the original schedule would add before/20 s.
    expect(out.seconds).toBeLessThan((80 - before - 1) / 20 + 0.8);
    const [row] = query(db, 'SELECT count(*)::INT AS n, count(DISTINCT row_index)::INT AS rows FROM replay_requests');
    expect(row).toEqual({ n: 80, rows: 80 });
  });

  it('killed with SIGKILL mid-run and resumed: every request exactly once', async () => {
    const db = path.join(dir, 'resume.duckdb');
    const args = ['replay', AZURE, '--target', `${url}/v1`, '--speed', '20', '--batch-size', '100', '--concurrency', '16', '--limit', '600', '--db', db, '--quiet'];
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: 'ignore' });
    // Kill without warning once some batches have been committed: DuckDB's write-ahead log grows
    // with each (100 rows ≈ tens of kB). At --speed 20 the 600 requests take about 12 s.
    const wal = `${db}.wal`;
    const size = () => (existsSync(wal) ? statSync(wal).size : 0);
    let baseline = -1;
    for (let waited = 0; waited < 30_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const s = size();
      if (baseline < 0 && s > 0) baseline = s;
      if (baseline >= 0 && s > baseline + 40_000) break;
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const before = query(db, 'SELECT count(*)::INT AS n FROM replay_requests')[0]!.n as number;
    // Some batches (100 rows each) landed, not all: the resume has work to do and work to skip.
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(600);
    const resumed = rehearse(['replay', AZURE, '--target', `${url}/v1`, '--max', '--concurrency', '16', '--limit', '600', '--db', db, '--resume']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const [row] = query(db, 'SELECT count(*)::INT AS n, count(DISTINCT request_id)::INT AS ids, count(DISTINCT invocation_id)::INT AS inv FROM replay_requests');
    expect(row).toEqual({ n: 600, ids: 600, inv: 1 });
  });
});
