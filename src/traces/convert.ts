import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { Readable } from 'node:stream';
import { RecordBatchFileWriter, RecordBatchStreamWriter } from './arrow-bundle.js';
import { UserError } from '../config/errors.js';
import { batchToArrowTable } from './arrow.js';
import { allocateBatch } from './canonical.js';
import { type OpenTraceOptions, type Trace, type TraceSpec, openTrace } from './reader.js';
import { makeFolderFor } from './output-file.js';
import { lit } from './sql.js';

export type ConvertFormat = 'parquet' | 'arrow' | 'jsonl' | 'csv';

export interface ConvertResult {
  out: string;
  format: ConvertFormat;
  /** Rows written. */
  rows: number;
  /** The trace as read: format, mapping, counts and bad rows by reason. */
  trace: Pick<Trace, 'name' | 'label' | 'mapping' | 'columns' | 'rows' | 'good' | 'bad' | 'badByReason'>;
}

/** The output format from the file name: .parquet, .arrow/.feather/.ipc (Arrow IPC file), .arrows (stream), .jsonl/.ndjson, .csv. */
export function convertFormat(out: string): { format: ConvertFormat; arrowStream: boolean } {
  const ext = path.extname(out).toLowerCase();
  if (ext === '.parquet' || ext === '.pq') return { format: 'parquet', arrowStream: false };
  if (ext === '.arrow' || ext === '.feather' || ext === '.ipc') return { format: 'arrow', arrowStream: false };
  if (ext === '.arrows') return { format: 'arrow', arrowStream: true };
  if (ext === '.jsonl' || ext === '.ndjson') return { format: 'jsonl', arrowStream: false };
  if (ext === '.csv') return { format: 'csv', arrowStream: false };
  throw new UserError(`${out}: write the canonical trace as .parquet, .arrow (or .arrows, .feather), .jsonl or .csv`);
}

/**
 * Writes a trace in canonical form (its own columns, in canonical names, order and types; bad
 * rows left out): Parquet, JSON lines and CSV through DuckDB's COPY, with `timestamp` as
 * TIMESTAMP WITH TIME ZONE; Arrow IPC through apache-arrow (DuckDB cannot write it without the
 * network-installed nanoarrow extension), streamed batch by batch, with the batch schema
 * (`timestamp` Float64 milliseconds, NaN for null). Every output reads back as the same trace.
 * The file appears only when complete.
 */
export async function convertTrace(input: TraceSpec, out: string, options: OpenTraceOptions = {}): Promise<ConvertResult> {
  const { format, arrowStream } = convertFormat(out);
  const trace = await openTrace(input, options);
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${process.pid}.tmp`);
  try {
    makeFolderFor(out);
    let rows: number;
    if (format === 'arrow') {
      try {
        rows = await writeArrow(trace, tmp, arrowStream);
      } catch (err) {
        if (err instanceof UserError) throw err;
        throw new UserError(`${out}: cannot write: ${(err as Error).message}`);
      }
    } else {
      const select = `SELECT * REPLACE (make_timestamp(round(timestamp * 1000)::BIGINT)::TIMESTAMPTZ AS timestamp) FROM (${trace.selectSql()})`;
      const how = format === 'parquet' ? 'FORMAT parquet, COMPRESSION zstd' : format === 'jsonl' ? 'FORMAT json' : 'FORMAT csv, HEADER true';
      try {
        rows = await trace.run(`COPY (${select}) TO ${lit(tmp)} (${how})`);
      } catch (err) {
        throw new UserError(`${out}: cannot write: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    try {
      renameSync(tmp, out);
    } catch (err) {
      throw new UserError(`${out}: cannot write: ${(err as Error).message}`);
    }
    return {
      out,
      format,
      rows,
      trace: { name: trace.name, label: trace.label, mapping: trace.mapping, columns: trace.columns, rows: trace.rows, good: trace.good, bad: trace.bad, badByReason: trace.badByReason },
    };
  } finally {
    // Never masks the error that brought us here (a file where the folder should be: ENOTDIR).
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written there
    }
    trace.close();
  }
}

async function writeArrow(trace: Trace, file: string, stream: boolean): Promise<number> {
  const writer = stream ? new RecordBatchStreamWriter() : new RecordBatchFileWriter();
  const sink = createWriteStream(file);
  const finished = new Promise<void>((resolve, reject) => {
    sink.on('finish', resolve);
    sink.on('error', reject);
  });
  // A sink that fails to open rejects before anything awaits it: handled, reported below.
  finished.catch(() => undefined);
  // The writer is an async iterable of the file's bytes (the bundle has no toNodeStream).
  Readable.from(writer, { objectMode: false }).pipe(sink);
  let rows = 0;
  for await (const batch of trace.batches()) {
    for (const rb of batchToArrowTable(batch, trace.columns).batches) writer.write(rb);
    rows += batch.length;
    // Bounded memory: wait for the file to catch up before reading on.
    if (sink.writableNeedDrain) await once(sink, 'drain');
  }
  if (rows === 0) writer.write(batchToArrowTable(allocateBatch(0), trace.columns));
  writer.finish();
  await finished;
  return rows;
}
