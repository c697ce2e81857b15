import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Piscina } from 'piscina';
import pc from 'picocolors';
import { UserError } from '../config/errors.js';
import { loadGateFile } from '../config/load.js';
import type { Gate } from '../config/model.js';
import { columnQuantiles, exactMeanSql, exactSumSql, fixedPointExponent, maxAbsSql } from '../replay/column-values.js';
import { OutputSchema } from '../replay/compare.js';
import { PACE_SLACK_MS, describePacing, type Pacing } from '../replay/pacing.js';
import { startReplayPool } from '../replay/pool.js';
import { STOP_GRACE_MS, defaultBatchSize, replayTrace, traceRatesOf, traceSaysOf } from '../replay/replay.js';
import { type ShadowVerdict, abstainReason, judgeShadowGates, writeShadowVerdicts } from '../replay/shadow-gates.js';
import { integer, percent, renderTable } from '../report/table.js';
import { defaultWorkers } from '../sim/pool.js';
import { Store } from '../store/database.js';
import { finishInvocation, startInvocation } from '../store/invocations.js';
import { StubTarget } from '../targets/stub.js';
import { loadTarget } from '../targets/target.js';
import { splitDuckdbSpec } from '../traces/formats.js';
import { type Trace, openTrace } from '../traces/reader.js';
import { Progress } from './common.js';
import { type ReplayCliOptions, targetSpec } from './replay.js';

/**
 * The options that decide which rows a replay holds and what they store: a resume must give the
 * same, or its rows would be another replay's mixed into this one (matched by row number).
 */
const RESUME_SAME = ['trace', 'target', 'map', 'format', 'sample', 'limit', 'from', 'to', 'refusalPattern', 'schema', 'baselinePrice'] as const;

const OPTION_NAME: Record<(typeof RESUME_SAME)[number], string> = {
  trace: 'the trace',
  target: '--target',
  map: '--map',
  format: '--format',
  sample: '--sample',
  limit: '--limit',
  from: '--from',
  to: '--to',
  refusalPattern: '--refusal-pattern',
  schema: '--schema',
  baselinePrice: '--baseline-price',
};

/**
 * A file named on the command line, as an absolute path, so a resume from another folder (or
 * naming it `./x` instead of `x`) finds its replay; a URL or anything else stays as given.
 */
function fileKey(spec: string): string {
  const { path: file, table } = splitDuckdbSpec(spec);
  return existsSync(file) ? path.resolve(file) + (table !== undefined ? `:${table}` : '') : spec;
}

/** A stored replay's trace or target against this one's: their files, or as given where a record is older than `*_file`. */
function sameFile(was: Record<string, unknown>, now: Record<string, unknown>, k: 'trace' | 'target'): boolean {
  const file = `${k}_file`;
  return was[file] !== undefined && now[file] !== undefined ? was[file] === now[file] : was[k] === now[k];
}

async function findResumable(store: Store, args: Record<string, unknown>, id: string | true): Promise<string> {
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  let rows: unknown[][];
  if (id === true) {
    // The replays of this trace and target, the latest first: the latest unfinished one is resumed.
    const all = (await store.connection.runAndReadAll(`SELECT invocation_id, status, args FROM invocations WHERE command = 'replay' ORDER BY started_at DESC`)).getRowsJson();
    const mine = all.filter((r) => {
      const was = JSON.parse(String(r[2])) as Record<string, unknown>;
      return sameFile(was, args, 'trace') && sameFile(was, args, 'target');
    });
    rows = mine.filter((r) => r[1] !== 'ok');
    if (rows.length === 0) {
      // Starting afresh instead would silently replay it all again beside the finished one.
      const what = `of ${String(args.trace)} against ${String(args.target)} in ${store.file}`;
      if (mine.length > 0) throw new UserError(`--resume: every replay ${what} finished (the latest: ${String(mine[0]![0])}); there is nothing to resume (run it without --resume for a new one)`);
      throw new UserError(`--resume: no replay ${what} to resume (run it without --resume to start one)`);
    }
  } else {
    rows = (await store.connection.runAndReadAll(`SELECT invocation_id, status, args FROM invocations WHERE invocation_id = ${q(id)} AND command = 'replay'`)).getRowsJson();
    if (rows.length === 0) throw new UserError(`${store.file}: no replay invocation ${id} to resume`);
  }
  const [invocation, status, stored] = rows[0]! as [string, string, string];
  if (status === 'ok') throw new UserError(`--resume ${invocation}: that replay finished; there is nothing to resume (run it again without --resume for a new one)`);
  const was = JSON.parse(stored) as Record<string, unknown>;
  const differ = RESUME_SAME.filter((k) => (k === 'trace' || k === 'target' ? !sameFile(was, args, k) : !same(was[k], args[k])));
  if (differ.length) {
    const show = (v: unknown) => (v === undefined || v === null ? '(not given)' : typeof v === 'string' ? v : JSON.stringify(v));
    const what = differ.map((k) => `${OPTION_NAME[k]} was ${show(was[k])}, now ${show(args[k])}`).join('; ');
    throw new UserError(`--resume ${invocation}: ${what}. A resumed replay must read the same rows with the same target and comparison: give the options it started with`);
  }
  return String(invocation);
}

/**
 * The replay command's work, imported once its worker pool (`early`, started for the target the
 * command line names) is loading: this module pulls in DuckDB, Arrow and the config schemas.
 */
export async function replayWith(traceSpec: string, opts: ReplayCliOptions, early: { pool: Piscina; workers: number }): Promise<number> {
  try {
    return await replayOn(traceSpec, opts, early);
  } finally {
    // Idempotent: the run destroys it earlier on its own paths; this covers a throw before them.
    await early.pool.destroy().catch(() => undefined);
  }
}

async function replayOn(traceSpec: string, opts: ReplayCliOptions, early: { pool: Piscina; workers: number }): Promise<number> {
  const gates = opts.gates ? loadGateFile(opts.gates) : null;
  let schema: object | null = null;
  if (opts.schema) {
    try {
      schema = JSON.parse(readFileSync(opts.schema, 'utf8')) as object;
    } catch (err) {
      throw new UserError(`${opts.schema}: cannot read the JSON Schema (${(err as Error).message.split('\n')[0]})`);
    }
    // The workers compile it; a schema ajv rejects must fail here, named, not in them.
    try {
      await OutputSchema.compile(schema);
    } catch (err) {
      throw new UserError(`${opts.schema}: not a valid JSON Schema: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  // Resolve the target here, so a bad file or URL fails before any work, and to pick the pacing.
  const probe = await loadTarget(opts.target);
  const probeIsStub = probe instanceof StubTarget;
  const probeIsModule = probe.kind === 'module';
  const virtual = probe instanceof StubTarget && probe.config.inject === 'virtual';
  // A stub scales the trace's own failure and refusal rates where the trace records them: a
  // multiplier above 1 adds failures among the requests that did not fail, at a share set by the
  // rate, and one below 1 answers some of its failures, which refuse at its refusal rate.
  const scalesRates = probe instanceof StubTarget && (probe.config.candidate.error_rate !== 1 || probe.config.candidate.refusal_rate !== 1);
  try {
    await probe.close();
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${opts.target}: closing the target failed: ${(err as Error)?.message ?? String(err)}`);
  }
  const pacing: Pacing =
    opts.speed !== undefined ? { kind: 'speed', factor: opts.speed } : opts.rate !== undefined ? { kind: 'rate', perSecond: opts.rate } : opts.max || virtual ? { kind: 'max' } : { kind: 'speed', factor: 1 };
  const target = targetSpec(opts.target);

  // Both DuckDB instances get a modest memory limit (they spill beyond it): a replay of millions
  // of rows must not grow with them. The reader needs room for a Parquet row group on each of
  // DuckDB's threads (--trace-memory); the store only appends and evicts what it has written
  // (32 MB was too little for its commits).
  // The workers load their code while the trace is opened and checked.
  // One worker's event loop drives the stub or the HTTP sockets (64 in flight at ~20k requests/s);
  // a second only competes with the thread that reads the trace and writes the results, and
  // loads and warms its own copy of the code (measured on 2 cores: 2 workers 0.81× as fast as 1
  // for a virtual stub, 0.78× for HTTP). A user's module may compute: it gets one per core.
  const workers = opts.workers ?? (probeIsModule ? defaultWorkers() : 1);
  // A target file that names a module was started with one worker: it gets one per core.
  let pool = early.pool;
  if (workers !== early.workers) {
    await early.pool.destroy();
    pool = startReplayPool(workers, targetSpec(opts.target));
  }
  let poolStopped = false;
  const stopPool = async () => {
    if (poolStopped) return;
    poolStopped = true;
    await pool.destroy();
  };
  let trace: Trace;
  let store: Store;
  try {
    trace = await openTrace(traceSpec, {
      // A virtual stub waits for nothing at --max, but a paced one waits for its requests' due times.
      batchSize: opts.batchSize ?? defaultBatchSize(!virtual || pacing.kind !== 'max', opts.concurrency, workers),
      memoryLimit: opts.traceMemory,
      ...(opts.map ? { map: opts.map } : {}),
      ...(opts.format ? { format: opts.format } : {}),
      ...(opts.sample !== undefined ? { sample: opts.sample } : {}),
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      ...(opts.from !== undefined ? { from: opts.from } : {}),
      ...(opts.to !== undefined ? { to: opts.to } : {}),
    });
  } catch (err) {
    await pool.destroy();
    throw err;
  }
  try {
    store = await Store.open(opts.db, { memoryLimit: '48MB' });
  } catch (err) {
    trace.close();
    await pool.destroy();
    throw err;
  }
  let invocation: string | null = null;
  let stopping = false;
  // Ctrl-C, and SIGTERM (a CI timeout, `timeout`, Kubernetes), stop sending and store what was
  // answered. A second one quits at once, the invocation marked interrupted if that is quick.
  const onSigint = () => {
    if (stopping) {
      const quit = () => {
        if (invocation) process.stderr.write(`rehearse: quit; what was stored is kept: resume with the same command and --resume ${invocation}\n`);
        process.exit(130);
      };
      setTimeout(quit, 1000).unref();
      if (invocation) finishInvocation(store, invocation, 'interrupted').then(quit, quit);
      else quit();
      return;
    }
    stopping = true;
    if (!opts.quiet) {
      process.stderr.write(
        `\nrehearse: stopping: no new requests; answers in flight are stored as they come, those not back within ${STOP_GRACE_MS / 1000} s are left for \`--resume\` (Ctrl-C again to quit now)\n`,
      );
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    // Nothing to replay is bad input, not a pass: a gated replay of an empty or unusable trace
    // would otherwise exit 0 with every gate abstaining.
    if (Number(await trace.selectedRows()) === 0) throw new UserError(noRowsMessage(trace));
    const args = { trace: traceSpec, ...opts, target: opts.target, trace_file: fileKey(traceSpec), target_file: fileKey(opts.target) };
    if (opts.resume) invocation = await findResumable(store, args, opts.resume);
    const resumed = invocation !== null;
    if (invocation) await store.run(`UPDATE invocations SET status = 'running', finished_at = NULL WHERE invocation_id = '${invocation}'`);
    else invocation = await startInvocation(store, 'replay', args);

    if (!resumed) {
      const errors = await trace.errorList(100_000);
      if (errors.length) {
        const a = await store.appender('trace_errors');
        for (const e of errors) {
          a.appendVarchar(invocation);
          a.appendBigInt(BigInt(e.row));
          if (e.request_id === null) a.appendNull();
          else a.appendVarchar(e.request_id);
          a.appendVarchar(e.column ? `${e.reason} (${e.column})` : e.reason);
          a.appendVarchar(e.raw);
          a.endRow();
        }
        a.flushSync();
        a.closeSync();
      }
    }
    const n = await trace.selectedRows();
    const traceSays = traceSaysOf(trace);
    const traceRates = scalesRates && (traceSays.failure || traceSays.refusal) ? await traceRatesOf(trace, traceSays) : null;
    let answered = 0, answeredErrors = 0;
    const progress = new Progress(Number(n), 'replaying', Boolean(opts.quiet || opts.json), () => `${answeredErrors} errors`);
    const started = Date.now();
    const counts = await replayTrace(trace, store, invocation, {
      target,
      pacing,
      concurrency: opts.concurrency,
      workers,
      pool,
      refusalPatterns: opts.refusalPattern ?? [],
      schema,
      baselinePrice: opts.baselinePrice ?? null,
      traceSays,
      traceRates,
      inputText: probeIsStub && !schema ? 'without-input-tokens' : 'all',
      stopped: () => stopping,
      // Answers as they come, stored or not yet: a slow endpoint's batch takes a while to land.
      onProgress: (done, errors) => {
        answeredErrors = errors;
        progress.add(done - answered);
        answered = done;
      },
    }).catch((err: unknown) => {
      // A user's module that ends its thread (process.exit, a native crash) is the module's fault:
      // named, exit 2, not an internal error. Whole batches answered before it are stored.
      const message = (err as Error)?.message ?? String(err);
      if (probeIsModule && /worker exited|terminat/i.test(message)) throw new UserError(`${opts.target}: the module ended its worker thread while answering (${message}); a module target must not call process.exit`);
      throw err;
    });
    progress.add(counts.skipped);
    progress.end();
    // The workers and the trace's DuckDB are done: their memory goes before the gates and the
    // summary read the stored requests.
    await stopPool();
    trace.close();
    const seconds = (Date.now() - started) / 1000;
    if (counts.setupFault) {
      // Not a regression to judge and not an interruption to resume: the invocation is marked
      // failed (the catch below) and the same command, the target fixed, starts afresh.
      const [top] = (
        await store.connection.runAndReadAll(
          `SELECT error, count(*)::INTEGER AS n, sum(count(*)) OVER ()::INTEGER AS total FROM replay_requests WHERE invocation_id = '${invocation}' AND error IS NOT NULL GROUP BY ALL ORDER BY n DESC, error LIMIT 1`,
        )
      ).getRowObjectsJson() as { error: string; n: number; total: number }[];
      const reason = top ? (top.error.length > 300 ? `${top.error.slice(0, 297)}...` : top.error.replace(/[.\s]+$/, '')) : 'no reason recorded';
      const why = top && top.n < top.total ? `${reason} (${integer(top.n)} of them)` : reason;
      // A bare URL carries a key only from REHEARSE_API_KEY: the commonest cause of a 401 there.
      const keyHint = /^HTTP 40[13]\b/.test(top?.error ?? '') && /^https?:\/\//i.test(opts.target) ? ' (a bare URL sends the key in REHEARSE_API_KEY, when set; a target file names its own variable in api_key_env)' : '';
      // Those failures are the setup's, not the candidate's: kept, a `--resume` once the target
      // is fixed would count them as the candidate's errors.
      await store.run(`DELETE FROM replay_requests WHERE invocation_id = '${invocation}'`);
      throw new UserError(
        `${opts.target}: the first ${integer(counts.replayed)} requests all failed before any model answered, so the replay stopped: ${why}${keyHint}. ` +
          `Nothing about the candidate to judge, and nothing kept: fix the target (its URL, API key, model or parameters) and run the same command again`,
      );
    }
    if (counts.interrupted) {
      await finishInvocation(store, invocation, 'interrupted');
      process.stderr.write(`rehearse: interrupted after ${counts.replayed} requests; resume with the same command and --resume ${invocation}\n`);
      return 130;
    }
    const verdicts = gates ? await judgeShadowGates(store, invocation, gates.gates) : [];
    if (gates) await writeShadowVerdicts(store, invocation, verdicts);
    await finishInvocation(store, invocation, 'ok');
    const breached = verdicts.filter((v) => v.segment === null && v.reading.verdict === 'breach');
    // A hold breached is also a gate breached (DESIGN: exit 1): the rollout must not go on as is.
    const failing = breached.length > 0;
    const summary = await replaySummary(store, invocation);
    // Why candidates failed, most common first: "13 candidate errors" alone read like a pass when
    // every request was refused a connection.
    const reasons = (
      await store.connection.runAndReadAll(
        `SELECT error, count(*)::INTEGER AS n FROM replay_requests WHERE invocation_id = '${invocation}' AND candidate_status IN ('error', 'timeout') AND error IS NOT NULL GROUP BY ALL ORDER BY n DESC, error LIMIT 3`,
      )
    ).getRowObjectsJson() as { error: string; n: number }[];
    // Over the whole invocation, as the summary and the reasons are: after a resume, this run's
    // own count contradicted them.
    const [failedRow] = (
      await store.connection.runAndReadAll(`SELECT count(*) FILTER (WHERE candidate_status IN ('error', 'timeout'))::DOUBLE AS failed, count(*)::DOUBLE AS n FROM replay_requests WHERE invocation_id = '${invocation}'`)
    ).getRowObjectsJson() as { failed: number; n: number }[];
    const candidateErrors = Number(failedRow!.failed);
    // Which model answered: a gateway's alias or a discovered model is otherwise invisible.
    const models = (
      await store.connection.runAndReadAll(
        `SELECT candidate_model AS model, count(*)::INTEGER AS n FROM replay_requests WHERE invocation_id = '${invocation}' AND candidate_model IS NOT NULL GROUP BY ALL ORDER BY n DESC, model LIMIT 4`,
      )
    ).getRowObjectsJson() as { model: string; n: number }[];
    if (candidateErrors > 0 && candidateErrors === Number(failedRow!.n)) {
      // Failures of the setup stop the replay early (counts.setupFault); these reached the
      // endpoint, which may still be down behind a gateway: the verdicts need that caveat.
      process.stderr.write(
        `rehearse: every candidate request failed (${integer(candidateErrors)})${reasons[0] ? `; most common: ${reasons[0].error}` : ''}. Before reading that as the candidate's regression, check the target is up and configured\n`,
      );
    }
    // A replay that fell behind its pace measured a lighter load than the one asked for: say so,
    // or "60× faster" in the summary is a claim the run did not keep.
    const behind = counts.late > 0;
    if (behind) {
      process.stderr.write(
        `rehearse: the pace asked (${describePacing(pacing)}) was not kept: ${integer(counts.late)} requests (${percent(counts.late / Math.max(1, counts.replayed))}) went out more than ${PACE_SLACK_MS / 1000} s after their due times, up to ${(counts.maxLateMs / 1000).toFixed(1)} s, with at most --concurrency ${opts.concurrency} in flight; raise --concurrency (about the rate times the answers' seconds, at the trace's bursts)\n`,
      );
    }
    if (opts.json) {
      process.stdout.write(
        JSON.stringify(
          {
            invocation_id: invocation,
            db: opts.db,
            seconds,
            pacing: describePacing(pacing),
            max_late_ms: counts.maxLateMs,
            late_requests: counts.late,
            pace_kept: !behind,
            replayed: counts.replayed,
            skipped_already_stored: counts.skipped,
            candidate_errors: candidateErrors,
            candidate_error_reasons: reasons,
            candidate_models: models.slice(0, 3),
            trace_errors: trace.bad,
            summary,
            gates: verdicts.map((v) => {
              const gate = gates?.gates.find((g) => g.name === v.gate);
              const why = v.reading.verdict === 'abstain' && gate ? { abstain_reason: abstainReason(gate, v.reading) } : {};
              return { gate: v.gate, action: v.action, segment_kind: v.segmentKind, segment: v.segment, requests: v.requests, ...v.reading, ...why };
            }),
            breached: failing,
          },
          null,
          2,
        ) + '\n',
      );
      return failing ? 1 : 0;
    }
    if (!opts.quiet) {
      process.stdout.write(
        `${pc.bold('rehearse replay')}: ${integer(counts.replayed)} requests${resumed ? ` (resumed; ${integer(counts.skipped)} already stored)` : ''} from ${trace.label} against ${opts.target}, ${describePacing(pacing)}, ${seconds.toFixed(1)}s${trace.bad ? `; ${integer(trace.bad)} bad trace row${trace.bad === 1 ? '' : 's'} in trace_errors` : ''}${candidateErrors ? `; ${integer(candidateErrors)} candidate error${candidateErrors === 1 ? '' : 's'}` : ''}\n\n`,
      );
      // A stub answers as its own `model`: only an endpoint's or a module's is news.
      if (models.length && !probeIsStub) {
        const shown = models.slice(0, 3).map((m) => (models.length === 1 ? m.model : `${m.model} (${integer(m.n)})`));
        process.stdout.write(`Answered by ${shown.join(', ')}${models.length > 3 ? ', …' : ''}\n\n`);
      }
      if (reasons.length) {
        process.stdout.write(`Candidate errors, most common first:\n${reasons.map((r) => `  ${integer(r.n)} × ${r.error.length > 160 ? `${r.error.slice(0, 157)}...` : r.error}`).join('\n')}\n\n`);
      }
      process.stdout.write(summaryTable(summary) + '\n\n');
      if (gates) process.stdout.write(verdictText(verdicts, gates.gates) + '\n');
    }
    process.stdout.write(
      `Results: ${opts.db} (invocation ${invocation})\n  tables replay_requests, ${gates ? 'replay_gates, ' : ''}trace_errors, invocations; for example:\n` +
        `  npx rehearse query --db ${opts.db} "SELECT candidate_status, count(*) FROM replay_requests WHERE invocation_id = '${invocation}' GROUP BY ALL"\n`,
    );
    return failing ? 1 : 0;
  } catch (err) {
    if (invocation) await finishInvocation(store, invocation, 'failed').catch(() => undefined);
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await stopPool();
    trace.close();
    store.close();
  }
}

function noRowsMessage(trace: Trace): string {
  if (trace.rows === 0) return `${trace.name}: no rows to replay (the trace is empty)`;
  if (trace.good === 0) {
    const reasons = Object.entries(trace.badByReason)
      .filter(([, n]) => n > 0)
      .map(([r, n]) => `${integer(n)} ${r.replace(/_/g, ' ')}`)
      .join(', ');
    return `${trace.name}: no usable rows to replay: all ${integer(trace.rows)} are bad (${reasons}); \`rehearse traces inspect ${trace.name}\` shows them`;
  }
  return `${trace.name}: --from, --to, --sample and --limit keep none of its ${integer(trace.good)} usable rows`;
}

interface SummaryRow {
  metric: string;
  baseline: number | null;
  candidate: number | null;
  format: 'ms' | 'tokens' | 'usd' | 'share' | 'count';
}

async function replaySummary(store: Store, invocation: string): Promise<SummaryRow[]> {
  const ok = (arm: 'baseline' | 'candidate') => (arm === 'baseline' ? "coalesce(baseline_status, 'ok') NOT IN ('error', 'timeout')" : "candidate_status NOT IN ('error', 'timeout')");
  const from = `FROM replay_requests WHERE invocation_id = '${invocation}'`;
  const sums = ['baseline_output_tokens', 'candidate_output_tokens', 'baseline_cost_usd', 'candidate_cost_usd'] as const;
  const armOf = (column: string) => (column.startsWith('baseline') ? 'baseline' : 'candidate');
  // The largest magnitudes first, in one pass: the scales of the exact means and sums below.
  const [mags] = (await store.connection.runAndReadAll(
    `SELECT ${sums.map((c) => `${maxAbsSql(c, ok(armOf(c)))} AS ${c}, ${maxAbsSql(c, 'true')} AS all_${c}`).join(', ')} ${from}`,
  )).getRowObjectsJson() as Record<string, unknown>[];
  const e = (key: string) => fixedPointExponent(mags![key] === null ? null : Number(mags![key]));
  const [r] = (await store.connection.runAndReadAll(`
    SELECT count(*)::DOUBLE AS n,
      avg(CASE WHEN coalesce(baseline_status, 'ok') IN ('error', 'timeout') THEN 1 ELSE 0 END) AS b_err,
      avg(CASE WHEN candidate_status IN ('error', 'timeout') THEN 1 ELSE 0 END) AS c_err,
      avg(CASE WHEN baseline_refusal THEN 1 ELSE 0 END) AS b_ref,
      avg(CASE WHEN candidate_refusal THEN 1 ELSE 0 END) AS c_ref,
      ${exactMeanSql('baseline_output_tokens', ok('baseline'), e('baseline_output_tokens'))} AS b_out,
      ${exactMeanSql('candidate_output_tokens', ok('candidate'), e('candidate_output_tokens'))} AS c_out,
      ${exactMeanSql('baseline_cost_usd', ok('baseline'), e('baseline_cost_usd'))} AS b_cost,
      ${exactMeanSql('candidate_cost_usd', ok('candidate'), e('candidate_cost_usd'))} AS c_cost,
      ${exactSumSql('baseline_cost_usd', 'true', e('all_baseline_cost_usd'))} AS b_total, ${exactSumSql('candidate_cost_usd', 'true', e('all_candidate_cost_usd'))} AS c_total
    ${from}`)).getRowObjectsJson() as Record<string, unknown>[];
  // Exact quantiles by selection over each column read into a typed array: DuckDB's own would
  // hold more than the replay itself needed for a 10-million-request replay.
  const quantiles = async (column: string, arm: 'baseline' | 'candidate', probs: number[], names: string[]) => {
    const q = await columnQuantiles(store, column, `invocation_id = '${invocation}' AND ${ok(arm)}`, probs);
    names.forEach((name, i) => (r![name] = Number.isNaN(q[i]!) ? null : q[i]));
  };
  await quantiles('baseline_latency_ms', 'baseline', [0.5, 0.99], ['b_p50', 'b_p99']);
  await quantiles('candidate_latency_ms', 'candidate', [0.5, 0.99], ['c_p50', 'c_p99']);
  await quantiles('baseline_ttft_ms', 'baseline', [0.5], ['b_ttft']);
  await quantiles('candidate_ttft_ms', 'candidate', [0.5], ['c_ttft']);
  const v = (k: string) => (r![k] === null || r![k] === undefined ? null : Number(r![k]));
  return [
    { metric: 'requests', baseline: v('n'), candidate: v('n'), format: 'count' },
    { metric: 'error rate', baseline: v('b_err'), candidate: v('c_err'), format: 'share' },
    { metric: 'refusal rate', baseline: v('b_ref'), candidate: v('c_ref'), format: 'share' },
    { metric: 'latency p50', baseline: v('b_p50'), candidate: v('c_p50'), format: 'ms' },
    { metric: 'latency p99', baseline: v('b_p99'), candidate: v('c_p99'), format: 'ms' },
    { metric: 'ttft p50', baseline: v('b_ttft'), candidate: v('c_ttft'), format: 'ms' },
    { metric: 'output tokens (mean)', baseline: v('b_out'), candidate: v('c_out'), format: 'tokens' },
    { metric: 'cost per request', baseline: v('b_cost'), candidate: v('c_cost'), format: 'usd' },
    { metric: 'cost, all requests', baseline: v('b_total'), candidate: v('c_total'), format: 'usd' },
  ];
}

function formatValue(x: number | null, f: SummaryRow['format']): string {
  if (x === null || !Number.isFinite(x)) return '—';
  switch (f) {
    case 'ms':
      return `${integer(x)} ms`;
    case 'tokens':
      return x.toFixed(1);
    case 'usd':
      return `$${x < 0.01 ? x.toPrecision(3) : x.toFixed(2)}`;
    case 'share':
      return percent(x, 2);
    case 'count':
      return integer(x);
  }
}

function summaryTable(rows: readonly SummaryRow[]): string {
  return renderTable(
    ['', 'baseline', 'candidate', 'change'],
    rows.map((r) => [
      r.metric,
      formatValue(r.baseline, r.format),
      formatValue(r.candidate, r.format),
      r.format === 'count' || r.baseline === null || r.candidate === null || r.baseline === 0 ? '' : `${r.candidate >= r.baseline ? '+' : ''}${(((r.candidate - r.baseline) / r.baseline) * 100).toFixed(1)}%`,
    ]),
    [false, true, true, true],
  );
}

function verdictText(verdicts: readonly ShadowVerdict[], gates: readonly Gate[]): string {
  const fmt = (x: number) => (Number.isFinite(x) ? (Math.abs(x) < 0.01 && x !== 0 ? x.toPrecision(3) : x.toFixed(3)) : '—');
  const all = verdicts.filter((v) => v.segment === null);
  const lines = [
    renderTable(
      ['gate', 'verdict', 'baseline', 'candidate', 'p-value'],
      all.map((v) => [
        v.gate,
        v.reading.verdict === 'breach' ? (v.action === 'rollback' ? pc.red('BREACH (rollback)') : pc.yellow('BREACH (hold)')) : v.reading.verdict,
        fmt(v.reading.baseline),
        fmt(v.reading.canary),
        Number.isNaN(v.reading.p) || v.reading.verdict === 'abstain' ? '' : v.reading.p.toExponential(2),
      ]),
      [false, false, true, true, true],
    ),
  ];
  const abstained = all.filter((v) => v.reading.verdict === 'abstain');
  if (abstained.length) {
    lines.push('', 'Gates that could not judge (they pass nothing):');
    for (const v of abstained) {
      const gate = gates.find((g) => g.name === v.gate);
      lines.push(`  ${v.gate}: ${gate ? abstainReason(gate, v.reading) : 'too few values to judge'}`);
    }
  }
  const segments = verdicts.filter((v) => v.segment !== null && v.reading.verdict === 'breach');
  if (segments.length) {
    lines.push('', 'Where the candidate is worse (segments that breach):');
    // Input-size buckets name themselves ("input 1k-4k"); routes and tenants need their kind.
    const where = (v: (typeof segments)[number]) => (v.segmentKind === 'input_size' ? v.segment : `${v.segmentKind} ${v.segment}`);
    for (const v of segments.slice(0, 20)) lines.push(`  ${where(v)}: ${v.gate} (baseline ${fmt(v.reading.baseline)}, candidate ${fmt(v.reading.canary)}, ${integer(v.requests)} requests)`);
    if (segments.length > 20) lines.push(`  … and ${segments.length - 20} more in replay_gates`);
  }
  return lines.join('\n') + '\n';
}
