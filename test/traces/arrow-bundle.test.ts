import * as node from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { arrow, RecordBatchStreamWriter, tableFromIPC, tableToIPC } from '../../src/traces/arrow-bundle.js';

/** Columns of every type the traces carry (text with nulls and non-ASCII, floats with NaN, flags, int64). */
function columns(a: typeof node): Record<string, node.Vector> {
  return {
    id: a.vectorFromArray(['a', null, 'é', '🚀', ''], new a.Utf8()),
    x: a.vectorFromArray([1.5, NaN, null, -0, Number.MAX_VALUE], new a.Float64()),
    flag: a.vectorFromArray([1, 0, 1, 0, 0], new a.Uint8()),
    big: a.vectorFromArray([2n ** 40n, 5n, null, 0n, -1n], new a.Int64()),
  };
}

const rows = (t: node.Table) => t.toArray().map((r) => r.toJSON());

describe('the Arrow bundle src/ loads', () => {
  it('is a different copy of the library from the Node entry (so src/ takes every class from it)', () => {
    expect(arrow.Table).not.toBe(node.Table);
  });

  it('writes IPC the Node entry reads, and reads what it writes, to the same values and types', () => {
    for (const format of ['stream', 'file'] as const) {
      const ours = new arrow.Table(columns(arrow as unknown as typeof node));
      const theirs = new node.Table(columns(node));
      const read = node.tableFromIPC(tableToIPC(ours, format));
      const back = tableFromIPC(node.tableToIPC(theirs, format));
      expect(rows(read)).toEqual(rows(theirs));
      expect(rows(back)).toEqual(rows(ours));
      expect(read.schema.fields.map((f) => String(f.type))).toEqual(theirs.schema.fields.map((f) => String(f.type)));
      expect(tableToIPC(ours, format)).toEqual(node.tableToIPC(theirs, format));
    }
  });

  it('gives a writer that is read as an async iterable of the stream the Node entry writes', async () => {
    const t = new arrow.Table(columns(arrow as unknown as typeof node));
    const writer = new RecordBatchStreamWriter();
    const chunks: Uint8Array[] = [];
    const reading = (async () => {
      for await (const c of writer) chunks.push(c);
    })();
    for (const b of t.batches) writer.write(b);
    writer.finish();
    await reading;
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(node.tableToIPC(new node.Table(columns(node)), 'stream')));
  });
});
