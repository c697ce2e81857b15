import { createRequire } from 'node:module';
import type * as Arrow from 'apache-arrow';

/**
 * Apache Arrow from its single-file bundle. The package's Node entry is ~160 ES modules, which
 * every process and every replay worker compiled at start (130–190 ms on the reference machine);
 * the bundle is the same library built into one file and loads in ~25 ms. The one thing it lacks
 * is the Node stream adapter (`toNodeStream`): writers are read as async iterables instead.
 * Everything in src/ takes Arrow from here, so one copy of its classes is ever loaded.
 */
export const arrow = createRequire(import.meta.url)('apache-arrow/Arrow.esnext.min') as typeof Arrow;

export const {
  DataType,
  Float64,
  RecordBatchFileWriter,
  RecordBatchReader,
  RecordBatchStreamWriter,
  Table,
  Uint8,
  Utf8,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
} = arrow;
export type Table<T extends Arrow.TypeMap = any> = Arrow.Table<T>;
export type Vector<T extends Arrow.DataType = any> = Arrow.Vector<T>;
export type Utf8 = Arrow.Utf8;
export type DataType = Arrow.DataType;
export type { RecordBatch } from 'apache-arrow';
