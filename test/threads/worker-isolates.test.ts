import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * Whether a worker thread's isolate compiles in the background is V8's own answer,
 * `%IsConcurrentRecompilationSupported()`, asked from inside a fresh worker. It runs in a child
 * process of its own (with --allow-natives-syntax), because the flag is process-wide: asked in
 * this test process, the answer would depend on which test ran first. The pools are the build in
 * dist/, as the CLI runs them.
 */

const run = promisify(execFile);
const dist = (p: string) => pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist', p)).href;

async function answers(script: string): Promise<Record<string, boolean>> {
  const probe = `
    const { Worker } = await import('node:worker_threads');
    const probe = () => new Promise((resolve, reject) => {
      const w = new Worker("require('node:worker_threads').parentPort.postMessage(%IsConcurrentRecompilationSupported())", { eval: true });
      w.once('message', (m) => { w.terminate().then(() => resolve(m)); });
      w.once('error', reject);
    });
    const out = {};
    ${script}
    console.log(JSON.stringify(out));`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-isolates-'));
  try {
    writeFileSync(path.join(dir, 'probe.mjs'), probe);
    const { stdout } = await run(process.execPath, ['--allow-natives-syntax', path.join(dir, 'probe.mjs')], { timeout: 60_000 });
    return JSON.parse(stdout) as Record<string, boolean>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('worker isolates', () => {
  it('compile in the background by default, on their own thread once prepared, and prepared twice is still so', async () => {
    const got = await answers(`
      out.before = await probe();
      const { prepareWorkerIsolates } = await import(${JSON.stringify(dist('threads/worker-isolates.js'))});
      prepareWorkerIsolates();
      out.after = await probe();
      prepareWorkerIsolates();
      out.again = await probe();`);
    expect(got).toEqual({ before: true, after: false, again: false });
  });

  it('are prepared by the replay pool before its workers start', async () => {
    const got = await answers(`
      out.before = await probe();
      const { startReplayPool } = await import(${JSON.stringify(dist('replay/pool.js'))});
      const pool = startReplayPool(1);
      out.after = await probe();
      await pool.destroy();`);
    expect(got).toEqual({ before: true, after: false });
  });

  it('are prepared by the simulation pool before its workers start', async () => {
    const got = await answers(`
      out.before = await probe();
      const { simulateOnPool } = await import(${JSON.stringify(dist('sim/pool.js'))});
      await simulateOnPool([], { workers: 1, recordChecks: false, engine: 'sample' });
      out.after = await probe();`);
    expect(got).toEqual({ before: true, after: false });
  });
});
