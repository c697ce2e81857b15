import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { UserError } from '../config/errors.js';
import { startReplayPool } from '../replay/pool.js';
import { TRACE_FORMATS, type TraceFormat } from '../traces/format-names.js';
import { defaultWorkers } from '../sim/pool.js';
import { DEFAULT_DB, MAP_OPTION, action, collect, decimal, once, positiveInt, sampleShare } from './common.js';

export interface ReplayCliOptions {
  target: string;
  map?: string;
  format?: TraceFormat;
  gates?: string;
  speed?: number;
  rate?: number;
  max?: boolean;
  concurrency: number;
  sample?: number;
  limit?: number;
  from?: string;
  to?: string;
  workers?: number;
  refusalPattern?: string[];
  schema?: string;
  baselinePrice?: { input_per_million: number; output_per_million: number };
  resume?: string | boolean;
  batchSize?: number;
  traceMemory: string;
  db: string;
  json?: boolean;
  quiet?: boolean;
}

function positive(name: string) {
  return (v: string) => {
    const x = decimal(v);
    if (!(x > 0) || !Number.isFinite(x)) throw new InvalidArgumentError(`${name} must be a number above 0, got "${v}"`);
    return x;
  };
}

function prices(v: string) {
  const m = /^\s*([^,/]+)[,/]([^,/]+)$/.exec(v);
  const [input, output] = m ? [decimal(m[1]!), decimal(m[2]!)] : [NaN, NaN];
  if (!Number.isFinite(input) || !Number.isFinite(output)) throw new InvalidArgumentError(`--baseline-price must be <input>,<output> USD per million tokens, e.g. 0.5,1.5; got "${v}"`);
  return { input_per_million: input, output_per_million: output };
}

/** A pattern is compiled in the workers: a bad one must fail here, named, not there. */
function refusalPattern(value: string, previous: string[] = []): string[] {
  try {
    new RegExp(value, 'i');
  } catch (err) {
    throw new InvalidArgumentError(`--refusal-pattern "${value}" is not a valid regular expression: ${(err as Error).message}`);
  }
  return collect(value, previous);
}

/** DuckDB's memory_limit units; its own error ("Failed to set config") names neither option nor value. */
function memorySize(name: string) {
  return (v: string) => {
    // DuckDB's own spellings: 512MB, 512M, 2GiB, 1e3MB, "1000000 bytes", any case.
    const m = /^\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*(bytes?|b|[kmgt]i?b|[kmgt])\s*$/i.exec(v);
    if (!m || !(Number(m[1]) > 0)) throw new InvalidArgumentError(`${name} must be a size above 0 such as 512MB or 2GB (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, or K, M, G, T), got "${v}"`);
    return v.trim();
  };
}

export function replayCommand(): Command {
  return new Command('replay')
    .description('Shadow-replay stored traces against a candidate, compare request by request with the baseline, and judge shadow gates.')
    .argument('<traces>', 'Parquet, JSONL, CSV, Arrow IPC, OpenTelemetry GenAI OTLP JSON, or file.duckdb:table')
    .requiredOption('--target <stub-file|URL|module>', 'the candidate: a stub file (kind: stub), a target file (kind: http|module), an OpenAI-compatible base URL, or an ESM module')
    .option(MAP_OPTION.flags, MAP_OPTION.help, MAP_OPTION.collect)
    .addOption(new Option('--format <format>', 'the trace format, when the file name does not tell it').choices(TRACE_FORMATS))
    .option(
      '--gates <file>',
      'shadow gates: judge the candidate against the baseline (exit 1 when a gate, hold or rollback, breaches over all traffic)',
      once('--gates', 'a replay judges one gate file (simulate and check compare several)'),
    )
    .option('--speed <x>', "replay the trace's own arrival gaps x times faster", positive('--speed'))
    .option('--rate <r>', 'replay at a fixed rate, requests per second', positive('--rate'))
    .option('--max', 'as fast as --concurrency allows (the default for virtual stubs)')
    .option('--concurrency <n>', 'requests in flight at most', positiveInt('--concurrency'), 16)
    .option('--sample <f>', 'keep this share of sessions (the same sessions every time), such as 0.1 or 10%', sampleShare)
    .option('--limit <n>', 'replay at most n requests', positiveInt('--limit'))
    .option('--from <time>', 'replay requests at or after this time (ms or ISO date-time)')
    .option('--to <time>', 'replay requests before this time')
    .option('--workers <n>', 'worker threads (default: 1 for stubs and HTTP endpoints, whose work is waiting; one per core for a module target)', positiveInt('--workers'))
    .option('--refusal-pattern <regex>', 'another pattern that marks a refusal (repeatable; finish_reason content_filter always does)', refusalPattern)
    .option('--schema <file.json>', 'a JSON Schema the candidate outputs must satisfy')
    .option('--baseline-price <in,out>', "USD per million tokens for the baseline's cost when the trace has none", prices)
    .option('--trace-memory <size>', "DuckDB's memory limit for reading the trace (e.g. 512MB, 2GB); it spills beyond it, but a Parquet row group must fit", memorySize('--trace-memory'), '128MB')
    .option(
      '--batch-size <n>',
      'requests per batch: the unit handed to a worker and stored once answered (commits every 32,768 requests or 2 seconds) (default: 2048 for a virtual stub; for a target that waits, 16 times the requests in flight per batch, at least 128, so answers are stored every few rounds of requests)',
      positiveInt('--batch-size'),
    )
    .option('--resume [invocation]', 'continue an interrupted replay (the latest unfinished one of this trace and target, or the id given), with the options it started with')
    .option('--db <file>', 'DuckDB file the results accumulate in', DEFAULT_DB)
    .option('--json', 'print the summary as JSON')
    .option('--quiet', 'no progress bar and no tables')
    .addHelpText(
      'after',
      `
Examples:
  rehearse replay traces/azure-llm-2023-code.csv --target examples/targets/stub-pricier-longer.yaml --gates scenarios/gates/default.yaml
  rehearse serve-stub --stub examples/targets/stub-pricier-longer.yaml --port 8080 &
  rehearse replay traces/azure-llm-2023-code.csv --target http://127.0.0.1:8080/v1 --speed 60 --concurrency 1024`,
    )
    .action(action(runReplay));
}


/** The target as the workers are given it: a URL, or a file's absolute path. */
export function targetSpec(target: string): string {
  return /^https?:\/\//i.test(target) ? target : path.resolve(target);
}

/** A module target by its file name (a target file naming `kind: module` is known once read). */
const MODULE_FILE = /\.(mjs|cjs|js)$/i;

async function runReplay(traceSpec: string, opts: ReplayCliOptions): Promise<number> {
  const paced = [opts.speed !== undefined, opts.rate !== undefined, Boolean(opts.max)].filter(Boolean).length;
  if (paced > 1) throw new UserError('give one of --speed, --rate and --max');
  // The workers start loading their code now, while this thread imports DuckDB, Arrow and the
  // config schemas (the two took ~250 ms each, one after the other). How many depends on the
  // target, not read yet: a user's module may compute and gets one per core, anything else one.
  const workers = opts.workers ?? (!/^https?:\/\//i.test(opts.target) && MODULE_FILE.test(opts.target) ? defaultWorkers() : 1);
  const pool = startReplayPool(workers, targetSpec(opts.target));
  const { replayWith } = await import('./replay-run.js');
  return replayWith(traceSpec, opts, { pool, workers });
}
