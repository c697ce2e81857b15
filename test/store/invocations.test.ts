import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/config/errors.js';
import { Store } from '../../src/store/database.js';
import { VERSION, finishInvocation, startInvocation } from '../../src/store/invocations.js';

/** The invocations table as the design names it: one row per command, opened as running, closed with a status. */

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-invocations-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function withStore<T>(fn: (store: Store, file: string) => Promise<T>): Promise<T> {
  const file = path.join(dir, `inv-${n++}.duckdb`);
  const store = await Store.open(file);
  try {
    return await fn(store, file);
  } finally {
    store.close();
  }
}

interface Row {
  invocation_id: string;
  command: string;
  args: unknown;
  started: boolean;
  finished: boolean;
  ordered: boolean | null;
  status: string;
  version: string;
}

async function rows(store: Store): Promise<Row[]> {
  const r = await store.connection.runAndReadAll(`
    SELECT invocation_id, command, args::VARCHAR AS args, started_at IS NOT NULL AS started, finished_at IS NOT NULL AS finished,
           finished_at >= started_at AS ordered, status, version
    FROM invocations ORDER BY invocation_id`);
  return r.getRowObjectsJson().map((row) => ({ ...(row as unknown as Row), args: JSON.parse(String(row.args)) }));
}

describe('startInvocation', () => {
  it('records the command, its arguments as JSON and the version, as running and not yet finished', async () => {
    await withStore(async (store) => {
      const args = { paths: ['scenarios'], workers: 2, shard: '1/4', quiet: true };
      const id = await startInvocation(store, 'simulate', args, 'job-1');
      expect(id).toBe('job-1');
      expect(await rows(store)).toEqual([
        { invocation_id: 'job-1', command: 'simulate', args, started: true, finished: false, ordered: null, status: 'running', version: VERSION },
      ]);
    });
  });

  it('stores text with quotes intact (no SQL breaks out of its string)', async () => {
    await withStore(async (store) => {
      const args = { note: "it's \"quoted\"; DROP TABLE invocations; --" };
      await startInvocation(store, "check'd", args, "o'brien");
      const [row] = await rows(store);
      expect(row!.invocation_id).toBe("o'brien");
      expect(row!.command).toBe("check'd");
      expect(row!.args).toEqual(args);
    });
  });

  it('makes up a distinct UUID when no id is given', async () => {
    await withStore(async (store) => {
      const a = await startInvocation(store, 'simulate', {});
      const b = await startInvocation(store, 'simulate', {});
      const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
      expect(a).toMatch(uuid);
      expect(b).toMatch(uuid);
      expect(a).not.toBe(b);
      expect((await rows(store)).map((r) => r.invocation_id).sort()).toEqual([a, b].sort());
    });
  });

  it('refuses an id already in the file with a UserError naming the file and the id, and writes nothing', async () => {
    await withStore(async (store, file) => {
      await startInvocation(store, 'simulate', { shard: '0/2' }, 'nightly-42');
      const err = await startInvocation(store, 'simulate', { shard: '1/2' }, 'nightly-42').then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UserError);
      const message = (err as UserError).message;
      expect(message.startsWith(`${file}: `)).toBe(true);
      expect(message).toContain('nightly-42');
      expect(message).toContain('rehearse merge');
      expect((err as UserError).exitCode).toBe(2);
      const stored = await rows(store);
      expect(stored).toHaveLength(1);
      expect(stored[0]!.args).toEqual({ shard: '0/2' });
    });
  });
});

describe('startInvocation refuses an empty id', () => {
  it.each(['', '  '])('%j: exit 2, and writes nothing', async (id) => {
    await withStore(async (store) => {
      await expect(startInvocation(store, 'simulate', {}, id)).rejects.toMatchObject({ name: 'UserError', exitCode: 2, message: '--invocation: empty id' });
      expect(await rows(store)).toEqual([]);
    });
  });
});

describe('finishInvocation', () => {
  it.each(['ok', 'failed', 'interrupted'] as const)('closes an invocation as %s, after it started', async (status) => {
    await withStore(async (store) => {
      await startInvocation(store, 'check', {}, 'a');
      await finishInvocation(store, 'a', status);
      const [row] = await rows(store);
      expect(row).toMatchObject({ invocation_id: 'a', status, finished: true, ordered: true });
    });
  });

  it('closes only the invocation named', async () => {
    await withStore(async (store) => {
      await startInvocation(store, 'simulate', {}, 'first');
      await startInvocation(store, 'simulate', {}, "second's");
      await finishInvocation(store, "second's", 'failed');
      const stored = await rows(store);
      expect(stored.map((r) => [r.invocation_id, r.status, r.finished])).toEqual([
        ['first', 'running', false],
        ["second's", 'failed', true],
      ]);
    });
  });
});
