import http from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, UserError } from '../../src/config/errors.js';
import { HttpTarget } from '../../src/targets/http.js';
import { StubModel } from '../../src/targets/stub.js';
import { type StubServer, startStubServer } from '../../src/targets/stub-server.js';
import { type Target, loadTarget } from '../../src/targets/target.js';
import { parseRetryAfter } from '../../src/targets/timing.js';
import { request, stubConfig, tmpDir, write } from './helpers.js';

/**
 * The HTTP target against real servers on loopback: serve-stub's server for the happy paths, and
 * a node:http server written here for each failure mode (its first path segment picks the mode).
 */

const STUB = { seed: 7, model: 'stub-7', baseline: { latency_ms: { p50: 60, p99: 120 }, output_tokens: { p50: 40, p99: 80 } }, candidate: { output_length: 1.3 } };

let stub: StubServer;
let failing: http.Server;
let failingUrl: string;
let dir: string;
const seen: { path: string; headers: http.IncomingHttpHeaders; body: Record<string, unknown> }[] = [];
const counts = new Map<string, number>();
const targets: Target[] = [];

function track<T extends Target>(t: T): T {
  targets.push(t);
  return t;
}

async function httpTarget(fields: Record<string, unknown>): Promise<Target> {
  const file = write(dir, `t-${targets.length}.yaml`, JSON.stringify({ kind: 'http', ...fields }));
  return track(await loadTarget(file));
}

function reply(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const completion = (content: string) => ({
  id: 'x',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 },
});

beforeAll(async () => {
  dir = tmpDir();
  stub = await startStubServer(stubConfig(STUB), { port: 0 });
  failing = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mode = (req.url ?? '').split('/')[1]!;
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      const id = String(req.headers['x-request-id']);
      const n = (counts.get(`${mode}:${id}`) ?? 0) + 1;
      counts.set(`${mode}:${id}`, n);
      switch (mode) {
        case 'echo':
          return reply(res, 200, completion('fine'));
        case 'no-models':
          return (req.url ?? '').endsWith('/models') ? reply(res, 200, { object: 'list', data: [] }) : reply(res, 200, completion('fine'));
        case 'models-404':
          return (req.url ?? '').endsWith('/models') ? reply(res, 404, { error: { message: 'no such route' } }) : reply(res, 200, completion('fine'));
        case 'hang':
        case 'hang-queue':
          return; // never answers
        case 'hang-stream':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'one' }, finish_reason: null }] })}\n\n`);
          return; // and never finishes
        case 'stream-error':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'one' }, finish_reason: null }] })}\n\n`);
          res.write(`data: ${JSON.stringify({ error: { message: 'the model crashed mid-answer' } })}\n\n`);
          return; // and never finishes: the error event alone must end the call
        case 'stream-split':
          // Events cut at awkward places, CRLF line ends, a comment, a multi-byte character split across writes.
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          {
            const text = `: keep-alive\r\n\r\ndata: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant', content: 'naïve ' }, finish_reason: null }] })}\r\n\r\ndata: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'answer' }, finish_reason: 'stop' }] })}\n\ndata: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } })}\n\ndata: [DONE]\n\n`;
            const bytes = Buffer.from(text);
            const cut = bytes.indexOf(Buffer.from('ï')) + 1; // inside the two bytes of ï
            res.write(bytes.subarray(0, cut));
            setTimeout(() => res.end(bytes.subarray(cut)), 20);
          }
          return;
        case 'bom':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(completion('with a byte-order mark')))]));
        case 'impossible':
          // Exactly this text: a content that is no text, a finish_reason that is no name, counts that are no counts.
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end('{"choices":[{"message":{"content":42},"finish_reason":7}],"usage":{"completion_tokens":-5,"prompt_tokens":"x"}}');
        case 'impossible-stream':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'fine' }, finish_reason: 'stop' }] })}\n\n`);
          res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: Number.MAX_VALUE * -1, completion_tokens: '12' } })}\n\n`);
          return res.end('data: [DONE]\n\n');
        case 'refusal-text':
          return reply(res, 200, { choices: [{ message: { content: { parts: ['x'] }, refusal: 'I will not.' }, finish_reason: 'content_filter' }], usage: { prompt_tokens: 0, completion_tokens: 4 } });
        case 'reset':
          return req.socket.destroy();
        case 'multi':
          // A gateway serving several models, which answers naming the dated version asked for.
          if ((req.url ?? '').endsWith('/models')) return reply(res, 200, { object: 'list', data: ['text-embedding-3-small', 'gpt-4o', 'gpt-4o-mini'].map((id) => ({ id, object: 'model' })) });
          return reply(res, 200, { ...completion('fine'), model: `${body.model}-2024-07-18` });
        case 'context':
          return reply(res, 400, { error: { message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9100 tokens.", type: 'invalid_request_error', code: 'context_length_exceeded' } });
        case 'quota':
          // OpenAI's answer when the account's credit is spent: a 429 that waiting does not cure.
          return reply(res, 429, { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } });
        case 'limited-ms':
          return n === 1 ? reply(res, 429, { error: { message: 'slow down' } }, { 'retry-after-ms': '300', 'retry-after': '30' }) : reply(res, 200, completion('after 300 ms'));
        case 'gzip':
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          return res.end(gzipSync(JSON.stringify(completion('compressed anyway'))));
        case 'gzip-stream':
          res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
          return res.end(gzipSync(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x' }, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`));
        case 'done-held':
          // The whole answer and [DONE], then the response is never ended.
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'whole answer' }, finish_reason: 'stop' }] })}\n\n`);
          res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 2 } })}\n\ndata: [DONE]\n\n`);
          return;
        case 'stream-cr':
          // Bare CR line ends (the SSE spec allows CR, LF and CRLF), one cut between two CRs.
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'carriage ' }, finish_reason: null }] })}\r`);
          setTimeout(() => res.end(`\rdata: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'returns' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2 } })}\r\rdata: [DONE]\r\r`), 20);
          return;
        case 'stream-as-json':
          // A proxy that relabels the stream as JSON, and opens it with a blank line of its own.
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('\n');
          setTimeout(() => {
            res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'still ' }, finish_reason: null }] })}\n\n`);
            setTimeout(() => res.end(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'a stream' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 3 } })}\n\ndata: [DONE]\n\n`), 60);
          }, 20);
          return;
        case 'event-error':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          return res.end(`event: error\ndata: {"message":"overloaded"}\n\n`);
        case 'key-header':
          return reply(res, 200, completion(`api-key=${req.headers['api-key'] ?? '-'} authorization=${req.headers.authorization ?? '-'} encoding=${req.headers['accept-encoding']}`));
        case 'status': {
          // /status/<code>/v1/...: that status, with an OpenAI-style error body.
          const code = Number((req.url ?? '').split('/')[2]);
          return reply(res, code, { error: { message: `answered ${code}` } });
        }
        case 'error500':
          return reply(res, 500, { error: { message: 'the candidate fell over', type: 'server_error' } });
        case 'notjson':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end('<html>proxy error</html>');
        case 'limited-once':
          return n === 1 ? reply(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '1' }) : reply(res, 200, completion('after the wait'));
        case 'limited-always':
          return reply(res, 429, { error: { message: 'quota exceeded' } });
        case 'limited-long':
          return reply(res, 429, { error: { message: 'come back later' } }, { 'retry-after': '120' });
        default:
          return reply(res, 404, { error: { message: 'no such mode' } });
      }
    });
  });
  await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
  failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(targets.map((t) => t.close()));
  await stub?.close();
  failing?.closeAllConnections();
  await new Promise((resolve) => failing?.close(resolve));
});

describe('http target against serve-stub', () => {
  it('without a model from /models or the trace, every request records why /models named none', async () => {
    for (const [mode, why] of [
      ['no-models', 'GET /no-models/v1/models lists no model'],
      ['models-404', 'GET /models-404/v1/models answered HTTP 404'],
    ]) {
      const t = track(await loadTarget(`${failingUrl}/${mode}/v1`));
      const r = await t.call(request(`${mode}-1`, { input: 'hi', model: null }));
      expect(r.status).toBe('error');
      expect(r.error).toBe(`no model to ask for: give \`model\` in the target file (${why} and the trace names none)`);
    }
  });

  it('an endpoint nobody listens on is recorded as unreachable, not as a missing model', async () => {
    // A port just released: nothing listens there.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const t = track(await loadTarget(`http://127.0.0.1:${port}/v1`));
    const r = await t.call(request('down-1', { input: 'hi', model: null }));
    expect(r.status).toBe('error');
    expect(r.error).toMatch(new RegExp(`^cannot reach the endpoint: connection refused \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\), at GET /v1/models \\(asking which model it serves\\)$`));
  });

  it('a bare URL: discovers the model, answers non-streaming with usage, and matches the stub in-process', async () => {
    const t = track(await loadTarget(stub.url));
    expect(t.kind).toBe('http');
    const req = request('q-1', { input: 'What is a canary release?', latency_ms: null, output_tokens: null, input_tokens: null });
    const r = await t.call(req);
    expect(r.status).toBe('ok');
    expect(r.attempts).toBe(1);
    expect(r.ttft_ms).toBeNull();
    expect(r.finish_reason).toBe('stop');
    expect(r.cost_usd).toBeNull(); // no price in a bare URL target
    // serve-stub draws what the request does not carry from the same stream as the stub in-process.
    const local = new StubModel(stubConfig(STUB)).answer({ ...req, input: JSON.stringify([{ role: 'user', content: req.input }]) });
    expect(r.output).toBe(local.output);
    expect(r.output_tokens).toBe(local.output_tokens);
    expect(r.input_tokens).toBe(local.input_tokens);
    expect(r.latency_ms).toBeGreaterThanOrEqual(local.latency_ms - 5);
    // Deterministic per request id.
    expect((await t.call(req)).output).toBe(r.output);
  });

  it('streams: time to first token before the end, usage from the last chunk, the same answer', async () => {
    const t = await httpTarget({ url: stub.url, stream: true, price: { input_per_million: 1, output_per_million: 2 } });
    const plain = await httpTarget({ url: stub.url });
    const req = request('q-2', { input: 'Explain shadow traffic.', latency_ms: null, output_tokens: null });
    const [s, p] = await Promise.all([t.call(req), plain.call(req)]);
    expect(s.status).toBe('ok');
    expect(s.ttft_ms).not.toBeNull();
    expect(s.ttft_ms!).toBeGreaterThan(0);
    expect(s.ttft_ms!).toBeLessThan(s.latency_ms);
    expect(s.output).toBe(p.output);
    expect(s.output_tokens).toBe(p.output_tokens);
    expect(s.input_tokens).toBe(p.input_tokens);
    expect(s.cost_usd).toBeCloseTo((s.input_tokens! * 1 + s.output_tokens! * 2) / 1e6, 15);
  });

  it('sends max_tokens = the trace\'s output tokens for token-only traces, and the stub applies output_length', async () => {
    const t = await httpTarget({ url: stub.url, model: 'stub-7' });
    const r = await t.call(request('q-3', { input: null, input_tokens: 50, output_tokens: 100 }));
    expect(r.status).toBe('ok');
    expect(r.output_tokens).toBe(130);
  });
});

describe('http target requests', () => {
  it('builds chat completions from text, messages JSON, or a filler prompt, with key, headers, params and request id', async () => {
    process.env.REHEARSE_TEST_KEY = 'sk-test-123';
    const t = await httpTarget({
      url: `${failingUrl}/echo/v1`,
      model: 'cand-1',
      api_key_env: 'REHEARSE_TEST_KEY',
      headers: { 'X-Team': 'ml' },
      params: { temperature: 0, model: 'not-this-one' },
      max_tokens_field: 'max_completion_tokens',
    });
    seen.length = 0;
    const text = await t.call(request('r-text', { input: 'hello' }));
    expect(text).toMatchObject({ status: 'ok', output: 'fine', input_tokens: 11, output_tokens: 3, finish_reason: 'stop', cost_usd: null, attempts: 1 });
    const messages = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }];
    await t.call(request('r-msgs', { input: JSON.stringify(messages) }));
    await t.call(request('r-tokens', { input: null, input_tokens: 64, output_tokens: 33 }));
    expect(seen.map((s) => s.path)).toEqual(['/echo/v1/chat/completions', '/echo/v1/chat/completions', '/echo/v1/chat/completions']);
    const [a, b, c] = seen;
    expect(a!.headers.authorization).toBe('Bearer sk-test-123');
    expect(a!.headers['x-team']).toBe('ml');
    expect(a!.headers['x-request-id']).toBe('r-text');
    expect(a!.body).toEqual({ temperature: 0, model: 'cand-1', messages: [{ role: 'user', content: 'hello' }], stream: false });
    expect(b!.body.messages).toEqual(messages);
    const filler = (c!.body.messages as { content: string }[])[0]!.content;
    expect(filler.split(' ')).toHaveLength(64);
    expect(c!.body.max_completion_tokens).toBe(33);
    expect(c!.body.max_tokens).toBeUndefined();
  });
});

describe('http target failures', () => {
  it('honours Retry-After on a 429 and counts the attempts', async () => {
    const t = await httpTarget({ url: `${failingUrl}/limited-once/v1`, model: 'm' });
    const started = performance.now();
    const r = await t.call(request('rl-1'));
    const elapsed = performance.now() - started;
    expect(r).toMatchObject({ status: 'ok', output: 'after the wait', attempts: 2 });
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5000);
  });

  it('backs off exponentially without Retry-After and gives up after max_attempts', async () => {
    const t = await httpTarget({ url: `${failingUrl}/limited-always/v1`, model: 'm', retry: { max_attempts: 3, base_delay: '50ms' } });
    const started = performance.now();
    const r = await t.call(request('rl-2'));
    expect(performance.now() - started).toBeGreaterThanOrEqual(140); // 50ms + 100ms
    expect(r.status).toBe('error');
    expect(r.attempts).toBe(3);
    expect(r.error).toBe('rate limited (HTTP 429) after 3 attempts: quota exceeded');
    expect(counts.get('limited-always:rl-2')).toBe(3);
  });

  it('gives up at once when Retry-After is beyond the retry budget', async () => {
    const t = await httpTarget({ url: `${failingUrl}/limited-long/v1`, model: 'm', retry: { max_wait: '5s' } });
    const started = performance.now();
    const r = await t.call(request('rl-3'));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(r).toMatchObject({ status: 'error', attempts: 1 });
    expect(r.error).toMatch(/^rate limited \(HTTP 429\): Retry-After 120s exceeds what is left of retry.max_wait \(5s\)/);
  });

  it('records a hanging endpoint as a timeout, fixed or as a multiple of the trace latency', async () => {
    const fixed = await httpTarget({ url: `${failingUrl}/hang/v1`, model: 'm', timeout: '200ms' });
    let started = performance.now();
    const r = await fixed.call(request('h-1'));
    expect(r).toMatchObject({ status: 'timeout', error: 'timeout after 200ms', output: null, attempts: 1, ttft_ms: null });
    expect(r.latency_ms).toBeGreaterThanOrEqual(190);
    expect(performance.now() - started).toBeLessThan(2000);

    const multiple = await httpTarget({ url: `${failingUrl}/hang/v1`, model: 'm', timeout: '3x', timeout_floor: '0ms' });
    started = performance.now();
    expect(await multiple.call(request('h-2', { latency_ms: 100 }))).toMatchObject({ status: 'timeout', error: 'timeout after 300ms' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(performance.now() - started).toBeLessThan(2000);

    const numeric = await httpTarget({ url: `${failingUrl}/hang-stream/v1`, model: 'm', timeout: 150, stream: true });
    const cut = await numeric.call(request('h-3'));
    expect(cut).toMatchObject({ status: 'timeout', error: 'timeout after 150ms' });
    // Its first token came before the timeout: the time to it was measured and is kept.
    expect(cut.ttft_ms).toBeGreaterThanOrEqual(0);
    expect(cut.ttft_ms).toBeLessThan(cut.latency_ms);
  });

  it('a request still queued for a connection times out on time too', async () => {
    // One connection, held by the first request: the second waits in the pool's queue and must
    // time out from there, then be dropped when the connection frees up, never sent late.
    // A path of its own: under load, a request of an earlier test to /hang/ can reach the server
    // (whose loop is this one) only now, and was counted as this test's.
    // The first holds the connection for 1.2 s, the second times out after 200 ms: with the same
    // timeout for both, a loaded machine could fire the first's timer, free the connection and
    // send the second before its own timer ran, which is no fault.
    const t = await httpTarget({ url: `${failingUrl}/hang-queue/v1`, model: 'm', timeout: '4x', timeout_floor: '0ms', connections: 1 });
    const before = seen.filter((s) => s.path.startsWith('/hang-queue/')).length;
    const started = performance.now();
    const [a, b] = await Promise.all([
      t.call(request('q-a', { latency_ms: 300 })).then((r) => ({ r, at: performance.now() - started })),
      t.call(request('q-b', { latency_ms: 50 })).then((r) => ({ r, at: performance.now() - started })),
    ]);
    expect([a.r.status, b.r.status]).toEqual(['timeout', 'timeout']);
    expect(b.r.error).toBe('timeout after 200ms');
    // The second timed out from the queue, while the first still held the connection.
    expect(b.at).toBeLessThan(a.at);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.filter((s) => s.path.startsWith('/hang-queue/')).length - before).toBe(1);
  });

  it('an error event in a stream ends the call at once with the error', async () => {
    const t = await httpTarget({ url: `${failingUrl}/stream-error/v1`, model: 'm', stream: true, timeout: '5s' });
    const started = performance.now();
    const r = await t.call(request('se-1'));
    expect(r).toMatchObject({ status: 'error', error: 'error in stream: the model crashed mid-answer', attempts: 1 });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(r.ttft_ms).toBeGreaterThanOrEqual(0); // 'one' came first
    expect(r.ttft_ms).toBeLessThanOrEqual(r.latency_ms);
  });

  it('reads streams whatever the chunking: CRLF, comments, a character split across chunks', async () => {
    const t = await httpTarget({ url: `${failingUrl}/stream-split/v1`, model: 'm', stream: true });
    const r = await t.call(request('ss-1'));
    expect(r).toMatchObject({ status: 'ok', output: 'naïve answer', finish_reason: 'stop', input_tokens: 5, output_tokens: 2 });
    expect(r.ttft_ms).not.toBeNull();
    expect(r.ttft_ms!).toBeLessThan(r.latency_ms);
  });

  it('reads a JSON body that starts with a byte-order mark', async () => {
    const t = await httpTarget({ url: `${failingUrl}/bom/v1`, model: 'm' });
    expect(await t.call(request('b-1'))).toMatchObject({ status: 'ok', output: 'with a byte-order mark' });
  });

  it('takes impossible usage as absent and a non-string content as no text', async () => {
    const price = { input_per_million: 1, output_per_million: 2 };
    const t = await httpTarget({ url: `${failingUrl}/impossible/v1`, model: 'm', price });
    expect(await t.call(request('i-1'))).toMatchObject({ status: 'ok', output: null, finish_reason: null, input_tokens: null, output_tokens: null, cost_usd: null, error: null });
    const streamed = await httpTarget({ url: `${failingUrl}/impossible-stream/v1`, model: 'm', stream: true, price });
    expect(await streamed.call(request('i-2'))).toMatchObject({ status: 'ok', output: 'fine', input_tokens: null, output_tokens: null, cost_usd: null });
    // A content that is no text gives way to a refusal that is; zero is a valid count.
    const refusal = await httpTarget({ url: `${failingUrl}/refusal-text/v1`, model: 'm', price });
    expect(await refusal.call(request('i-3'))).toMatchObject({ status: 'ok', output: 'I will not.', finish_reason: 'content_filter', input_tokens: 0, output_tokens: 4, cost_usd: 8e-6 });
  });

  it('a timeout longer than one timer can wait is waited, not ended after 1 ms', async () => {
    // 3e9 ms is past setTimeout's 2^31 − 1 ms, which Node would cut to 1 ms.
    const t = await httpTarget({ url: `${failingUrl}/hang/v1`, model: 'm', timeout: 3e9 });
    const started = performance.now();
    const r = await t.call(request('lt-1'), AbortSignal.timeout(300));
    expect(r.status).toBe('timeout');
    expect(r.error).not.toMatch(/timeout after/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('records a reset connection as an error with its reason', async () => {
    const t = await httpTarget({ url: `${failingUrl}/reset/v1`, model: 'm' });
    const r = await t.call(request('x-1'));
    expect(r.status).toBe('error');
    expect(r.error).toMatch(/^connection reset \((UND_ERR_SOCKET|ECONNRESET)/);
  });

  it('records HTTP 500 with the server\'s message, and a body that is not JSON', async () => {
    const t = await httpTarget({ url: `${failingUrl}/error500/v1`, model: 'm' });
    expect(await t.call(request('e-1'))).toMatchObject({ status: 'error', error: 'HTTP 500: the candidate fell over', attempts: 1 });
    const bad = await httpTarget({ url: `${failingUrl}/notjson/v1`, model: 'm' });
    expect(await bad.call(request('e-2'))).toMatchObject({ status: 'error', error: 'invalid JSON response: <html>proxy error</html>' });
  });

  it('records a refused connection', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const t = await httpTarget({ url: `http://127.0.0.1:${port}/v1`, model: 'm' });
    expect((await t.call(request('c-1'))).error).toMatch(/^connection refused/);
  });

  it('asks a gateway of several models for the trace\'s own, never the first it lists, and records the model that answered', async () => {
    const t = await httpTarget({ url: `${failingUrl}/multi/v1` });
    const asked = () => seen.filter((x) => x.path === '/multi/v1/chat/completions').map((x) => (x.body as { model: string }).model);
    expect(await t.call(request('m-1', { model: 'gpt-4o-mini' }))).toMatchObject({ status: 'ok', model: 'gpt-4o-mini-2024-07-18' });
    expect(await t.call(request('m-2', { model: 'gpt-4o' }))).toMatchObject({ status: 'ok', model: 'gpt-4o-2024-07-18' });
    expect(asked()).toEqual(['gpt-4o-mini', 'gpt-4o']);
    // A model it does not serve, or none named: nothing is sent, and the list says what to name.
    const other = await t.call(request('m-3', { model: 'claude-3-haiku' }));
    expect(other).toMatchObject({ status: 'error', setup_fault: true, attempts: 0 });
    expect(other.error).toBe(
      'no model to ask for: GET /multi/v1/models lists 3 models (text-embedding-3-small, gpt-4o, gpt-4o-mini) and the trace\'s claude-3-haiku is not one of them: name one with `model` in a target file',
    );
    expect((await t.call(request('m-4', { model: null }))).error).toMatch(/lists 3 models \(.*\) and the trace names none: name one with `model`/);
    expect(asked()).toHaveLength(2);
    // The file's model is asked for whatever the trace says; an answer that names none records it.
    const named = await httpTarget({ url: `${failingUrl}/echo/v1`, model: 'my-candidate' });
    expect(await named.call(request('m-5', { model: 'gpt-4o' }))).toMatchObject({ status: 'ok', model: 'my-candidate' });
  });

  it('marks the failures that say the setup is wrong (address, key, path, parameters), and only those', async () => {
    for (const code of [400, 401, 403, 404, 405, 422]) {
      const t = await httpTarget({ url: `${failingUrl}/status/${code}/v1`, model: 'm' });
      // A 404 or 405 names where the request went: most often the URL is wrong.
      const where = code === 404 || code === 405 ? ` (POST /status/${code}/v1/chat/completions)` : '';
      expect(await t.call(request(`s-${code}`))).toMatchObject({ status: 'error', error: `HTTP ${code}: answered ${code}${where}`, setup_fault: true });
    }
    // A URL with no path at all: the 404 asks about the /v1 it likely lacks; an Azure path does not.
    const bare = await httpTarget({ url: failingUrl, model: 'm' });
    expect((await bare.call(request('s-bare'))).error).toBe('HTTP 404: no such mode (POST /chat/completions: does the URL need /v1?)');
    const azure = await httpTarget({ url: `${failingUrl}/status/404/openai/deployments/gpt4?api-version=2024-06-01`, model: 'm' });
    expect((await azure.call(request('s-azure'))).error).toBe('HTTP 404: answered 404 (POST /status/404/openai/deployments/gpt4/chat/completions?api-version=2024-06-01)');
    // A prompt over the candidate's context is that request's, not the setup's.
    const long = await httpTarget({ url: `${failingUrl}/context/v1`, model: 'm' });
    const tooLong = await long.call(request('s-long'));
    expect(tooLong).toMatchObject({ status: 'error', error: "HTTP 400: This model's maximum context length is 8192 tokens. However, your messages resulted in 9100 tokens." });
    expect(tooLong.setup_fault).toBeUndefined();
    // A candidate that errs, is overloaded, hangs or drops the connection is what a replay is for.
    for (const code of [500, 502, 503]) {
      const t = await httpTarget({ url: `${failingUrl}/status/${code}/v1`, model: 'm' });
      const r = await t.call(request(`s-${code}`));
      expect(r.error).toBe(`HTTP ${code}: answered ${code}`);
      expect(r.setup_fault).toBeUndefined();
    }
    const others = [
      await (await httpTarget({ url: `${failingUrl}/reset/v1`, model: 'm' })).call(request('r-1')),
      await (await httpTarget({ url: `${failingUrl}/hang/v1`, model: 'm', timeout: '50ms' })).call(request('h-1')),
      await (await httpTarget({ url: `${failingUrl}/limited-always/v1`, model: 'm', retry: { max_attempts: 1 } })).call(request('l-1')),
      await (await httpTarget({ url: `${failingUrl}/echo/v1`, model: 'm' })).call(request('ok-1')),
    ];
    expect(others.map((r) => r.status)).toEqual(['error', 'timeout', 'error', 'ok']);
    expect(others.map((r) => r.setup_fault)).toEqual([undefined, undefined, undefined, undefined]);
    // Nobody listening, with the model given or left to discovery: unreachable, marked.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    for (const model of ['m', undefined]) {
      const r = await (await httpTarget({ url: `http://127.0.0.1:${port}/v1`, ...(model ? { model } : {}) })).call(request('u-1', { model: null }));
      expect(r).toMatchObject({ status: 'error', setup_fault: true });
      expect(r.error).toMatch(model ? /^connection refused/ : /^cannot reach the endpoint: connection refused/);
    }
  });

  it('a spent quota (429 insufficient_quota) is not retried, and retry-after-ms is honoured before Retry-After', async () => {
    const quota = await (await httpTarget({ url: `${failingUrl}/quota/v1`, model: 'm' })).call(request('q-1'));
    expect(quota).toMatchObject({ status: 'error', attempts: 1, setup_fault: true, error: 'HTTP 429: You exceeded your current quota (quota spent: not retried)' });
    const t0 = performance.now();
    const ms = await (await httpTarget({ url: `${failingUrl}/limited-ms/v1`, model: 'm' })).call(request('q-2'));
    // 300 ms, not Retry-After's 30 s (which retry.max_wait, 60 s by default, would have allowed).
    expect(ms).toMatchObject({ status: 'ok', output: 'after 300 ms', attempts: 2 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('asks for uncompressed answers, reads a JSON body compressed anyway, and says so of a compressed stream', async () => {
    const echo = await (await httpTarget({ url: `${failingUrl}/key-header/v1`, model: 'm', headers: { 'Accept-Encoding': 'gzip' } })).call(request('z-0'));
    expect(echo.output).toContain('encoding=identity');
    expect(await (await httpTarget({ url: `${failingUrl}/gzip/v1`, model: 'm' })).call(request('z-1'))).toMatchObject({ status: 'ok', output: 'compressed anyway', output_tokens: 3 });
    const stream = await (await httpTarget({ url: `${failingUrl}/gzip-stream/v1`, model: 'm', stream: true })).call(request('z-2'));
    expect(stream).toMatchObject({ status: 'error', error: 'the endpoint compressed its stream (content-encoding gzip) though asked for identity; rehearse reads streams uncompressed' });
  });

  it('a stream is whole at data: [DONE], even when the server holds the response open; an `event: error` is an error', async () => {
    const t = await httpTarget({ url: `${failingUrl}/done-held/v1`, model: 'm', stream: true, timeout: '20s' });
    const t0 = performance.now();
    expect(await t.call(request('d-1'))).toMatchObject({ status: 'ok', output: 'whole answer', output_tokens: 2, finish_reason: 'stop' });
    expect(performance.now() - t0).toBeLessThan(5000);
    const e = await (await httpTarget({ url: `${failingUrl}/event-error/v1`, model: 'm', stream: true })).call(request('d-2'));
    expect(e).toMatchObject({ status: 'error', error: 'error in stream: overloaded' });
  });

  it('reads streams with bare CR line ends, and a stream labelled application/json, as streams', async () => {
    const cr = await (await httpTarget({ url: `${failingUrl}/stream-cr/v1`, model: 'm', stream: true })).call(request('s-1'));
    expect(cr).toMatchObject({ status: 'ok', output: 'carriage returns', output_tokens: 2, finish_reason: 'stop' });
    const t0 = performance.now();
    const relabelled = await (await httpTarget({ url: `${failingUrl}/stream-as-json/v1`, model: 'm', stream: true })).call(request('s-2'));
    expect(relabelled).toMatchObject({ status: 'ok', output: 'still a stream', output_tokens: 3, finish_reason: 'stop' });
    // The first token came with the first event, 60 ms before the last: read as it arrived, not at the end.
    expect(relabelled.ttft_ms).not.toBeNull();
    expect(relabelled.ttft_ms!).toBeLessThan(relabelled.latency_ms - 30);
    expect(performance.now() - t0).toBeLessThan(5000);
    // A JSON answer to a stream request (a server that ignores `stream`) is still read as JSON.
    expect(await (await httpTarget({ url: `${failingUrl}/bom/v1`, model: 'm', stream: true })).call(request('s-3'))).toMatchObject({ status: 'ok', output: 'with a byte-order mark' });
  });

  it('sends the key in the header api_key_header names (Azure OpenAI\'s api-key), alone', async () => {
    process.env.REHEARSE_HTTP_TEST_KEY = 'sk-test-123';
    try {
      const azure = await (await httpTarget({ url: `${failingUrl}/key-header/v1`, model: 'm', api_key_env: 'REHEARSE_HTTP_TEST_KEY', api_key_header: 'api-key' })).call(request('k-1'));
      expect(azure.output).toBe('api-key=sk-test-123 authorization=- encoding=identity');
      const bearer = await (await httpTarget({ url: `${failingUrl}/key-header/v1`, model: 'm', api_key_env: 'REHEARSE_HTTP_TEST_KEY' })).call(request('k-2'));
      expect(bearer.output).toBe('api-key=- authorization=Bearer sk-test-123 encoding=identity');
    } finally {
      delete process.env.REHEARSE_HTTP_TEST_KEY;
    }
  });

  it('an outside abort ends the call without throwing', async () => {
    const t = await httpTarget({ url: `${failingUrl}/hang/v1`, model: 'm' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('replay interrupted')), 50);
    expect(await t.call(request('a-1'), controller.signal)).toMatchObject({ status: 'error', error: 'aborted: replay interrupted' });
  });
});

describe('http target files', () => {
  it('a bad api_key_env name is a clear error naming the file and field', async () => {
    const file = write(dir, 'bad-key.yaml', `kind: http\nurl: ${failingUrl}/v1\napi_key_env: sk-abc123\n`);
    await expect(loadTarget(file)).rejects.toThrow(ConfigError);
    await expect(loadTarget(file)).rejects.toThrow(/bad-key\.yaml: api_key_env: must be the name of an environment variable/);
  });

  it('an unset api_key_env variable is a clear error', async () => {
    delete process.env.REHEARSE_NOT_SET_KEY;
    const file = write(dir, 'unset-key.yaml', `kind: http\nurl: ${failingUrl}/v1\napi_key_env: REHEARSE_NOT_SET_KEY\n`);
    await expect(loadTarget(file)).rejects.toThrow(/unset-key\.yaml: api_key_env: the environment variable REHEARSE_NOT_SET_KEY is not set/);
  });

  it('rejects bad URLs, timeouts and unknown fields with the field named', async () => {
    const cases: [string, RegExp][] = [
      ['url: ftp://example.com/v1', /: url: must be an http:\/\/ or https:\/\/ URL/],
      [`url: ${failingUrl}/v1\ntimeout: soon`, /: timeout: must be a duration such as 30s or 1500ms, a number of milliseconds, or a multiple/],
      [`url: ${failingUrl}/v1\nretry: { max_attempts: 0 }`, /: retry\.max_attempts: must be at least 1/],
      [`url: ${failingUrl}/v1\nstreem: true`, /: streem: unknown field/],
      ['model: x', /: url: is required/],
    ];
    for (const [body, message] of cases) {
      const file = write(dir, 'bad.yaml', `kind: http\n${body}\n`);
      await expect(loadTarget(file)).rejects.toThrow(message);
    }
  });

  it('kind is required and must be known; a missing file says what a target can be', async () => {
    await expect(loadTarget(write(dir, 'nokind.yaml', 'url: http://x/v1\n'))).rejects.toThrow(/nokind\.yaml: kind: is required: one of stub, http, module/);
    await expect(loadTarget(write(dir, 'badkind.yaml', 'kind: grpc\n'))).rejects.toThrow(/badkind\.yaml: kind: must be one of stub, http, module, got the text "grpc"/);
    await expect(loadTarget('no/such/target.yaml')).rejects.toThrow(UserError);
    await expect(loadTarget('no/such/target.yaml')).rejects.toThrow(/no such file \(a target is a stub or target file, an http\(s\):\/\/ URL, or a \.js\/\.mjs module\)/);
  });

  it('Retry-After: seconds or an HTTP date', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });

  it('keeps a URL that already ends in /chat/completions, query included', () => {
    const t = new HttpTarget({ kind: 'http', url: 'https://x.example/openai/deployments/d/chat/completions?api-version=2024-06-01', headers: {}, stream: false, timeout: '1s', timeout_floor: '1s', timeout_fallback: '1s', retry: { max_attempts: 1, max_wait: '1s', base_delay: '1s', max_delay: '1s' }, connections: 1, max_tokens_field: 'max_tokens', params: {}, send_request_id: true }, { label: 'x', source: 'x', apiKey: null });
    expect((t as unknown as { completionsPath: string }).completionsPath).toBe('/openai/deployments/d/chat/completions?api-version=2024-06-01');
    void t.close();
  });
});
