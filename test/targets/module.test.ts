import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { CLOSE_TIMEOUT_MS, LOAD_TIMEOUT_MS } from '../../src/targets/module.js';
import { type TargetResponse, loadTarget } from '../../src/targets/target.js';
import { MAX_TIMER_MS } from '../../src/targets/timing.js';
import { request, tmpDir, write } from './helpers.js';

let dir: string;

beforeAll(() => {
  dir = tmpDir('rehearse-module-');
  write(
    dir,
    'mods/good.mjs',
    `export let closed = 0;
export async function call(request, { signal, options }) {
  if (!(signal instanceof AbortSignal)) throw new Error('no signal');
  return { output: 'echo: ' + request.input, input_tokens: request.input_tokens, output_tokens: Math.round(request.output_tokens * options.factor), finish_reason: 'stop' };
}
export async function close() { globalThis.__rehearseModuleClosed = (globalThis.__rehearseModuleClosed ?? 0) + 1; }
`,
  );
  write(dir, 'mods/default.mjs', `export default async (request) => 'default says ' + request.request_id;\n`);
  write(dir, 'mods/throws.mjs', `export async function call(request) { throw new TypeError('cannot reach the model for ' + request.request_id); }\n`);
  write(dir, 'mods/invalid.mjs', `export async function call() { return { output_tokens: 'many' }; }\n`);
  write(dir, 'mods/typo.mjs', `export async function call() { return { outputs: 'x' }; }\n`);
  write(dir, 'mods/nothing.mjs', `export async function call() {}\n`);
  write(dir, 'mods/status.mjs', `export async function call() { return { status: 'refusal', output: 'no', latency_ms: 42 }; }\n`);
  write(dir, 'mods/slow.mjs', `export async function call() { await new Promise((r) => setTimeout(r, 5000).unref()); return 'late'; }\n`);
  write(dir, 'mods/named.mjs', `export async function answer() { return 'named'; }\n`);
  write(dir, 'mods/none.mjs', `export const value = 1;\n`);
  write(dir, 'mods/broken.mjs', `export async function call( {\n`);
  write(dir, 'mods/load-hangs.mjs', `await new Promise(() => {});\nexport async function call() { return 'never'; }\n`);
  write(dir, 'mods/never.mjs', `export async function call() { return new Promise(() => {}); }\n`);
  write(dir, 'mods/close-throws.mjs', `export async function call() { return 'ok'; }\nexport async function close() { throw new Error('the pool is already gone'); }\n`);
  write(dir, 'mods/close-sync-throws.mjs', `export function call() { return 'ok'; }\nexport function close() { throw new TypeError('no handle'); }\n`);
  write(dir, 'mods/close-hangs.mjs', `export async function call() { return 'ok'; }\nexport function close() { return new Promise(() => {}); }\n`);
  write(dir, 'good.yaml', 'kind: module\nname: good\nmodule: mods/good.mjs\noptions: { factor: 0.5 }\nprice: { input_per_million: 1, output_per_million: 2 }\n');
});

describe('module target', () => {
  it('calls the module with the request, options and a signal; validates and completes its answer', async () => {
    const t = await loadTarget(path.join(dir, 'good.yaml'));
    expect(t.kind).toBe('module');
    expect(t.label).toBe('good');
    const r = await t.call(request('m-1', { input: 'hi', input_tokens: 10, output_tokens: 40 }));
    expect(r).toMatchObject({ status: 'ok', output: 'echo: hi', input_tokens: 10, output_tokens: 20, finish_reason: 'stop', error: null, attempts: 1, ttft_ms: null });
    expect(r.cost_usd).toBeCloseTo((10 * 1 + 20 * 2) / 1e6, 15);
    expect(r.latency_ms).toBeGreaterThanOrEqual(0);
    expect(r.latency_ms).toBeLessThan(1000);
    await t.close();
    expect((globalThis as { __rehearseModuleClosed?: number }).__rehearseModuleClosed).toBe(1);
  });

  it('a bare .mjs path with a default export returning a string', async () => {
    const t = await loadTarget(path.join(dir, 'mods/default.mjs'));
    expect(await t.call(request('m-2'))).toMatchObject({ status: 'ok', output: 'default says m-2', output_tokens: null, cost_usd: null });
  });

  it('records what a module throws, without throwing', async () => {
    const t = await loadTarget(path.join(dir, 'mods/throws.mjs'));
    expect(await t.call(request('m-3'))).toMatchObject({ status: 'error', output: null, error: 'module threw: TypeError: cannot reach the model for m-3' });
  });

  it('records invalid answers as errors naming the field', async () => {
    const invalid = await loadTarget(path.join(dir, 'mods/invalid.mjs'));
    expect((await invalid.call(request('m-4'))).error).toBe('module returned an invalid response: output_tokens: must be a number, got the text "many"');
    const typo = await loadTarget(path.join(dir, 'mods/typo.mjs'));
    expect((await typo.call(request('m-5'))).error).toBe('module returned an invalid response: outputs: unknown field (check the spelling; see schema/)');
    const nothing = await loadTarget(path.join(dir, 'mods/nothing.mjs'));
    expect(await nothing.call(request('m-6'))).toMatchObject({ status: 'error', error: 'module returned nothing, expected a response object or a string' });
  });

  it('keeps a status and latency the module reports', async () => {
    const t = await loadTarget(path.join(dir, 'mods/status.mjs'));
    expect(await t.call(request('m-7'))).toMatchObject({ status: 'refusal', output: 'no', latency_ms: 42, error: 'module reported refusal' });
  });

  it('times out a slow module even when it ignores the signal', async () => {
    write(dir, 'slow.yaml', 'kind: module\nmodule: mods/slow.mjs\ntimeout: 100ms\n');
    const t = await loadTarget(path.join(dir, 'slow.yaml'));
    const started = performance.now();
    expect(await t.call(request('m-8'))).toMatchObject({ status: 'timeout', error: 'timeout after 100ms' });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('calls the export a file names; a missing function or file is a ConfigError naming the field', async () => {
    write(dir, 'named.yaml', 'kind: module\nmodule: mods/named.mjs\nexport: answer\n');
    expect((await (await loadTarget(path.join(dir, 'named.yaml'))).call(request('m-9'))).output).toBe('named');

    write(dir, 'wrong-export.yaml', 'kind: module\nmodule: mods/named.mjs\nexport: reply\n');
    await expect(loadTarget(path.join(dir, 'wrong-export.yaml'))).rejects.toThrow(/wrong-export\.yaml: export: .*named\.mjs exports no function named reply/);
    write(dir, 'none.yaml', 'kind: module\nmodule: mods/none.mjs\n');
    await expect(loadTarget(path.join(dir, 'none.yaml'))).rejects.toThrow(/none\.yaml: module: .*none\.mjs must export an async function `call/);
    write(dir, 'missing.yaml', 'kind: module\nmodule: mods/missing.mjs\n');
    await expect(loadTarget(path.join(dir, 'missing.yaml'))).rejects.toThrow(ConfigError);
    await expect(loadTarget(path.join(dir, 'missing.yaml'))).rejects.toThrow(/missing\.yaml: module: .*missing\.mjs does not exist/);
    write(dir, 'broken.yaml', 'kind: module\nmodule: mods/broken.mjs\n');
    await expect(loadTarget(path.join(dir, 'broken.yaml'))).rejects.toThrow(/broken\.yaml: module: cannot load .*broken\.mjs: /);
  });
});

describe('module target limits', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Starts `t.call`, records its answer when it comes. */
  function start(t: { call: (r: ReturnType<typeof request>) => Promise<TargetResponse> }, id: string): { r?: TargetResponse } {
    const box: { r?: TargetResponse } = {};
    void t.call(request(id)).then((r) => (box.r = r));
    return box;
  }

  it('a bare module whose call never settles times out after the default 60s', async () => {
    const t = await loadTarget(path.join(dir, 'mods/never.mjs'));
    vi.useFakeTimers();
    const box = start(t, 'n-1');
    await vi.advanceTimersByTimeAsync(59_999);
    expect(box.r).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(box.r).toMatchObject({ status: 'timeout', error: 'timeout after 60s', output: null });
  });

  it('timeout: none sets no timer at all', async () => {
    write(dir, 'never-none.yaml', 'kind: module\nmodule: mods/never.mjs\ntimeout: none\n');
    const t = await loadTarget(path.join(dir, 'never-none.yaml'));
    vi.useFakeTimers();
    const box = start(t, 'n-2');
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(box.r).toBeUndefined();
  });

  it('a timeout beyond 2^31 ms is waited in full (fake timers end one such timer after 1 ms, as Node does)', async () => {
    write(dir, 'never-long.yaml', `kind: module\nmodule: mods/never.mjs\ntimeout: ${MAX_TIMER_MS + 1000}\n`);
    const t = await loadTarget(path.join(dir, 'never-long.yaml'));
    vi.useFakeTimers();
    const box = start(t, 'n-3');
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(box.r).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1000);
    expect(box.r).toMatchObject({ status: 'timeout' });
  });

  it('a close() that throws is a ConfigError naming the module file and close()', async () => {
    const bare = await loadTarget(path.join(dir, 'mods/close-throws.mjs'));
    await expect(bare.close()).rejects.toThrow(ConfigError);
    await expect(bare.close()).rejects.toThrow(/close-throws\.mjs: close\(\) threw: the pool is already gone$/);
    write(dir, 'close-sync.yaml', 'kind: module\nmodule: mods/close-sync-throws.mjs\n');
    const viaFile = await loadTarget(path.join(dir, 'close-sync.yaml'));
    await expect(viaFile.close()).rejects.toThrow(/close-sync\.yaml: module: close\(\) of .*close-sync-throws\.mjs threw: TypeError: no handle$/);
  });

  it(`a module whose top-level code never settles is given up after ${LOAD_TIMEOUT_MS} ms, as a ConfigError (Node quit with code 13)`, async () => {
    vi.useFakeTimers();
    let outcome: unknown = 'pending';
    void loadTarget(path.join(dir, 'mods/load-hangs.mjs')).then(
      () => (outcome = 'resolved'),
      (err: unknown) => (outcome = err),
    );
    await vi.advanceTimersByTimeAsync(LOAD_TIMEOUT_MS - 1);
    expect(outcome).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(ConfigError);
    expect((outcome as Error).message).toMatch(/load-hangs\.mjs: loading .*load-hangs\.mjs did not finish within \S+ \(a top-level await that never settles\?\)/);
    expect(vi.getTimerCount()).toBe(0);
  });

  it(`a close() that never settles is given up after ${CLOSE_TIMEOUT_MS} ms, as a ConfigError`, async () => {
    const t = await loadTarget(path.join(dir, 'mods/close-hangs.mjs'));
    vi.useFakeTimers();
    let outcome: unknown = 'pending';
    void t.close().then(
      () => (outcome = 'resolved'),
      (err: unknown) => (outcome = err),
    );
    await vi.advanceTimersByTimeAsync(CLOSE_TIMEOUT_MS - 1);
    expect(outcome).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(ConfigError);
    expect((outcome as Error).message).toMatch(/close-hangs\.mjs: close\(\) did not finish within 5s$/);
    expect(vi.getTimerCount()).toBe(0);
  });
});
