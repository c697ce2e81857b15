import { Command, Option } from 'commander';
import { integer } from '../report/table.js';
import { convertTrace } from '../traces/convert.js';
import { TRACE_FORMATS, type TraceFormat } from '../traces/formats.js';
import { writeSyntheticTrace } from '../traces/generate.js';
import { inspectTrace, renderSummary } from '../traces/inspect.js';
import type { OpenTraceOptions } from '../traces/reader.js';
import { MAP_OPTION, action, nonNegativeInt, positiveInt, sampleShare } from './common.js';

interface SelectOpts {
  map?: string;
  format?: TraceFormat;
  from?: string;
  to?: string;
  sample?: number;
  limit?: number;
}

/** The options that pick which rows of a trace are read, shared by inspect and convert. */
function withSelection(cmd: Command): Command {
  return cmd
    .option(MAP_OPTION.flags, MAP_OPTION.help, MAP_OPTION.collect)
    .addOption(new Option('--format <format>', 'the trace format, when the file name does not tell it').choices(TRACE_FORMATS))
    .option('--from <time>', 'only rows at or after this time (ISO date-time, UTC unless it says otherwise, or milliseconds)')
    .option('--to <time>', 'only rows before this time')
    .option('--sample <share>', 'keep this share of sessions, the same ones every time (0.1 or 10%)', sampleShare)
    .option('--limit <n>', 'at most this many rows', nonNegativeInt('--limit'));
}

function readOptions(o: SelectOpts): OpenTraceOptions {
  return {
    map: o.map,
    format: o.format,
    from: o.from,
    to: o.to,
    sample: o.sample,
    limit: o.limit,
  };
}

function inspectCommand(): Command {
  return withSelection(
    new Command('inspect')
      .description('Read a trace and show its format, column mapping, rows (good and bad, by reason), time span and distributions.')
      .argument('<file>', 'a trace: .parquet, .csv, .jsonl/.ndjson, .json (records or OpenTelemetry OTLP), .arrow, or file.duckdb:table'),
  )
    .option('--json', 'print the summary as JSON')
    .action(
      action(async (file: string, opts: SelectOpts & { json?: boolean }) => {
        const summary = await inspectTrace(file, readOptions(opts));
        process.stdout.write(opts.json ? JSON.stringify(summary, null, 2) + '\n' : renderSummary(summary));
      }),
    );
}

function convertCommand(): Command {
  return withSelection(
    new Command('convert')
      .description('Write a trace in canonical form (bad rows left out): Parquet, Arrow IPC (.arrow), JSON lines or CSV, by the output name.')
      .argument('<in>', 'the trace to read (any format inspect reads)')
      .argument('<out>', 'the file to write: .parquet, .arrow (.arrows for the stream format), .jsonl or .csv'),
  )
    .option('--json', 'print the result as JSON')
    .action(
      action(async (input: string, out: string, opts: SelectOpts & { json?: boolean }) => {
        const r = await convertTrace(input, out, readOptions(opts));
        if (opts.json) {
          process.stdout.write(JSON.stringify({ out: r.out, format: r.format, rows: r.rows, bad: r.trace.bad, bad_by_reason: r.trace.badByReason, mapping: r.trace.mapping }, null, 2) + '\n');
        } else {
          const renamed = r.trace.mapping.filter((m) => m.source !== m.column);
          const same = r.trace.mapping.length - renamed.length;
          const mapping = [...renamed.map((m) => `${m.column} ← ${m.source}`), ...(same > 0 ? [`${same} column${same === 1 ? '' : 's'} by name`] : [])].join(', ');
          process.stdout.write(`rehearse traces convert: ${r.trace.name} (${r.trace.label}) → ${r.out} (${r.format})\n`);
          process.stdout.write(`  ${integer(r.rows)} rows written; ${integer(r.trace.bad)} bad rows left out\n  mapping: ${mapping}\n`);
        }
      }),
    );
}

function generateCommand(): Command {
  return new Command('generate')
    .description('Write a deterministic synthetic trace (same seed, same bytes) that exercises every canonical column.')
    .argument('<out>', 'the file to write: .jsonl (or .ndjson) or .parquet')
    .option('--rows <n>', 'rows', nonNegativeInt('--rows'), 2000)
    .option('--seed <s>', 'seed (any text)', '1')
    .option('--sessions <n>', 'distinct sessions (default: one per 8 rows)', positiveInt('--sessions'))
    .option('--start <time>', 'origin of the arrivals (ISO date-time)', '2024-05-01T09:00:00Z')
    .option('--rpm <n>', 'mean requests per minute', positiveInt('--rpm'), 120)
    .option('--json', 'print the result as JSON')
    .action(
      action(async (out: string, opts: { rows: number; seed: string; sessions?: number; start: string; rpm: number; json?: boolean }) => {
        const r = await writeSyntheticTrace(out, { rows: opts.rows, seed: opts.seed, sessions: opts.sessions, start: opts.start, requestsPerMinute: opts.rpm });
        if (opts.json) process.stdout.write(JSON.stringify({ out, format: r.format, rows: r.rows, seed: opts.seed }, null, 2) + '\n');
        else process.stdout.write(`rehearse traces generate: ${integer(r.rows)} rows (seed ${opts.seed}) → ${out} (${r.format})\n`);
      }),
    );
}

/** `rehearse traces inspect | convert | generate`. */
export function tracesCommand(): Command {
  const cmd = new Command('traces').description('Inspect, convert and generate request traces, the input of shadow replay.');
  for (const sub of [inspectCommand(), convertCommand(), generateCommand()]) {
    // Usage errors reach the program's handler (exit 2) rather than exiting here.
    cmd.addCommand(sub.exitOverride().showHelpAfterError('(run with --help for usage)'));
  }
  return cmd;
}
