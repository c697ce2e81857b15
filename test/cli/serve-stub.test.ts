import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StubServer, startStubServer } from '../../src/targets/stub-server.js';
import { loadTarget } from '../../src/targets/target.js';
import { request, stubConfig, tmpDir, write } from '../targets/helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const FAST = { latency_ms: { p50: 2, p99: 4 } };

const servers: StubServer[] = [];
async function serve(fields: Record<string, unknown>): Promise<StubServer> {
  const s = await startStubServer(stubConfig(fields), { port: 0 });
  servers.push(s);
  return s;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function json(res: Response | Promise<Response>): Promise<any> {
  return (await res).json();
}

const hello = { model: 'any', messages: [{ role: 'user', content: 'Say something about canaries.' }] };

describe('serve-stub server', () => {
  it('answers non-streaming chat completions with usage, deterministically per x-request-id or body', async () => {
    const s = await serve({ baseline: FAST, model: 'cand' });
    const a = await post(s.url, hello, { 'x-request-id': 'abc' });
    expect(a.status).toBe(200);
    expect(a.headers.get('x-request-id')).toBe('abc');
    const ja = await json(a);
    expect(ja).toMatchObject({ object: 'chat.completion', model: 'cand', choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' }] });
    expect(ja.usage.prompt_tokens).toBe(Math.ceil('Say something about canaries.'.length / 4));
    expect(ja.usage.total_tokens).toBe(ja.usage.prompt_tokens + ja.usage.completion_tokens);
    expect(ja.choices[0].message.content.length).toBeLessThanOrEqual(ja.usage.completion_tokens * 4);
    const again = await json(post(s.url, hello, { 'x-request-id': 'abc' }));
    expect(again.choices[0].message.content).toBe(ja.choices[0].message.content);
    const other = await json(post(s.url, hello, { 'x-request-id': 'xyz' }));
    expect(other.choices[0].message.content).not.toBe(ja.choices[0].message.content);
    // Without the header, the body's hash is the id.
    const b1 = await json(post(s.url, hello));
    const b2 = await json(post(s.url, hello));
    const b3 = await json(post(s.url, { ...hello, temperature: 0 }));
    expect(b2.choices[0].message.content).toBe(b1.choices[0].message.content);
    expect(b3.choices[0].message.content).not.toBe(b1.choices[0].message.content);
  });

  it('streams SSE chunks: role first, usage in the last chunk with include_usage, then [DONE]', async () => {
    const s = await serve({ baseline: FAST });
    const plain = await json(post(s.url, hello, { 'x-request-id': 's1' }));
    const res = await post(s.url, { ...hello, stream: true, stream_options: { include_usage: true } }, { 'x-request-id': 's1' });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split('\n\n').filter(Boolean);
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const usage = chunks.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual(plain.usage);
    expect(chunks.at(-2).choices[0].finish_reason).toBe('stop');
    const content = chunks.flatMap((c) => c.choices.map((ch: { delta: { content?: string } }) => ch.delta.content ?? '')).join('');
    expect(content).toBe(plain.choices[0].message.content);

    const noUsage = (await (await post(s.url, { ...hello, stream: true }, { 'x-request-id': 's1' })).text()).split('\n\n').filter(Boolean);
    expect(noUsage.some((e) => e.includes('"usage"'))).toBe(false);
  });

  it('really waits the latency, with the first streamed token at its share of it', async () => {
    const s = await serve({ baseline: { latency_ms: { p50: 300, p99: 300 } }, ttft_share: 0.2 });
    let started = performance.now();
    await json(post(s.url, hello));
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);

    started = performance.now();
    const res = await post(s.url, { ...hello, stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    const first = performance.now() - started;
    while (!(await reader.read()).done);
    const total = performance.now() - started;
    expect(first).toBeGreaterThanOrEqual(55);
    expect(first).toBeLessThan(total - 150);
    expect(total).toBeGreaterThanOrEqual(290);
  });

  it('injects errors as HTTP 500 and refusals as answers that say so', async () => {
    const failing = await serve({ baseline: { ...FAST, error_rate: 1 } });
    const e = await post(failing.url, hello);
    expect(e.status).toBe(500);
    expect((await json(e)).error).toMatchObject({ type: 'server_error', message: 'injected error (stub error_rate)' });

    const refusing = await serve({ baseline: { ...FAST, refusal_rate: 0.5 }, candidate: { refusal_rate: 2 } });
    const r = await json(post(refusing.url, hello));
    expect(r.choices[0]).toMatchObject({ message: { content: "I can't help with that." }, finish_reason: 'content_filter' });
  });

  it('answers a configured share of attempts with 429 and Retry-After, and a retried request can pass', async () => {
    const s = await serve({ baseline: FAST, serve: { rate_limit_rate: 0.3, retry_after: '1500ms' } });
    const n = 300;
    const statuses = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const res = await post(s.url, hello, { 'x-request-id': `rl-${i}` });
        if (res.status === 429) expect(res.headers.get('retry-after')).toBe('2');
        await res.arrayBuffer();
        return res.status;
      }),
    );
    const limited = statuses.filter((x) => x === 429).length;
    expect(Math.abs(limited / n - 0.3)).toBeLessThan(4 * Math.sqrt((0.3 * 0.7) / n));

    const quick = await serve({ baseline: FAST, serve: { rate_limit_rate: 0.5, retry_after: '0s' } });
    const t = await loadTarget(quick.url);
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => t.call(request(`q-${i}`, { input: 'hi' }))));
    await t.close();
    expect(rs.every((r) => r.status === 'ok')).toBe(true);
    const attempts = rs.reduce((a, r) => a + r.attempts, 0);
    expect(attempts).toBeGreaterThan(45);
    expect(attempts).toBeLessThan(140);
  });

  it('lists its model, and answers unknown routes, wrong methods and bad bodies with OpenAI-style errors', async () => {
    const s = await serve({ model: 'my-stub', baseline: FAST });
    expect(await json(fetch(`${s.url}/models`))).toEqual({ object: 'list', data: [{ id: 'my-stub', object: 'model', created: 0, owned_by: 'rehearse' }] });
    expect((await fetch(`${s.url}/embeddings`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(`${s.url}/chat/completions`)).status).toBe(405);
    const bad = await fetch(`${s.url}/chat/completions`, { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.type).toBe('invalid_request_error');
    expect((await post(s.url, { model: 'x', messages: [] })).status).toBe(400);
  });
});

describe('rehearse serve-stub (the command)', () => {
  let dir: string;
  let runner: string;

  beforeAll(() => {
    dir = tmpDir('rehearse-serve-stub-');
    // The command as main.ts mounts it: usage errors exit 2.
    runner = write(
      dir,
      'runner.mjs',
      `import { serveStubCommand } from ${JSON.stringify(pathToFileURL(path.join(root, 'dist/cli/serve-stub.js')).href)};
const cmd = serveStubCommand().exitOverride();
try { await cmd.parseAsync(process.argv); } catch (err) { process.exitCode = 2; }
`,
    );
    write(dir, 'stub.yaml', 'kind: stub\nmodel: served\nbaseline: { latency_ms: { p50: 5, p99: 10 } }\ncandidate: { output_length: 1.3 }\n');
  });

  function start(args: string[]): ChildProcessWithoutNullStreams {
    return spawn(process.execPath, [runner, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
  }

  async function run(args: string[]) {
    const child = start(args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const [code] = await once(child, 'exit');
    return { code, stdout, stderr };
  }

  async function urlOf(child: ChildProcessWithoutNullStreams): Promise<{ url: string; output: () => string }> {
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    for (let i = 0; i < 100 && !/http:\/\/\S+\/v1/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    const m = /(http:\/\/\S+\/v1)/.exec(out);
    if (!m) throw new Error(`no URL printed: ${out}`);
    return { url: m[1]!, output: () => out };
  }

  it.each(['SIGTERM', 'SIGINT'] as const)('serves on a free port, prints the URL, and stops cleanly on %s', async (sig) => {
    const child = start(['--stub', 'stub.yaml', '--port', '0']);
    const { url, output } = await urlOf(child);
    expect(output()).toMatch(/^rehearse serve-stub: stub\.yaml \(model served\) at http:\/\/127\.0\.0\.1:\d+\/v1/);
    expect((await json(fetch(`${url}/models`))).data[0].id).toBe('served');
    const r = await json(post(url, { ...hello, max_tokens: 100 }));
    expect(r.usage.completion_tokens).toBe(130);
    const exited = once(child, 'exit');
    child.kill(sig);
    const [code] = await exited;
    expect(code).toBe(0);
    expect(output()).toContain(`rehearse serve-stub: stopped (${sig})`);
  });

  it('--json prints the address as one JSON line a script can read, and nothing else', async () => {
    const child = start(['--stub', 'stub.yaml', '--port', '0', '--json']);
    const { url, output } = await urlOf(child);
    const line = JSON.parse(output().trim());
    expect(line).toEqual({ url, model: 'served', stub: 'stub.yaml' });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
    expect(output().trim().split('\n')).toHaveLength(1);
  });

  it('a bad stub file exits 2 naming the file and field', async () => {
    write(dir, 'bad.yaml', 'kind: stub\ncandidate: { price: -1 }\n');
    const r = await run(['--stub', 'bad.yaml', '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('rehearse: bad.yaml: candidate.price: must be at least 0\n');
    write(dir, 'http.yaml', 'kind: http\nurl: http://127.0.0.1:1/v1\n');
    const h = await run(['--stub', 'http.yaml', '--port', '0']);
    expect(h.code).toBe(2);
    expect(h.stderr).toBe('rehearse: http.yaml: kind: must be stub for serve-stub, got the text "http"\n');
  });

  it.each(['0x1F90', '1e3', '', '65536', '-1'])('a --port of %j exits 2 (Number() read 0x1F90 as 8080)', async (port) => {
    const r = await run(['--stub', 'stub.yaml', '--port', port]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--port must be a whole number from 0 to 65535, got "${port}"`);
  });

  it('a port in use exits 2 with a clear message', async () => {
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const r = await run(['--stub', 'stub.yaml', '--port', String(port)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`rehearse: port ${port} on 127.0.0.1 is already in use; pick another --port (0 picks a free one)\n`);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
