import { hash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError } from '../config/errors.js';
import { Rng } from '../stats/random.js';
import type { StubFile } from './schema.js';
import { MAX_ANSWER_TOKENS, StubModel } from './stub.js';
import type { TargetRequest, TargetResponse } from './target.js';
import { estimateTokens, inputText, parsedJsonInput } from './text.js';
import { MAX_TIMER_MS, durationMs } from './timing.js';

/**
 * A stub served over real HTTP as an OpenAI-compatible API (what `rehearse serve-stub` runs):
 *
 * - `POST /v1/chat/completions`: the stub's answer, its latency really waited. Non-streaming: one
 *   JSON `chat.completion` with usage. Streaming (`stream: true`): server-sent `data:` chunks, the
 *   first after the time to first token and the rest spread over the remaining latency, a last
 *   choice chunk with the finish_reason, then (with `stream_options.include_usage`) a chunk with
 *   `choices: []` and the usage, then `data: [DONE]`.
 * - `GET /v1/models`: the stub's model.
 * - Injected errors are HTTP 500 (sent after the error's latency); a `serve.rate_limit_rate`
 *   share of attempts get an immediate 429 with Retry-After; refusals are ordinary answers that
 *   say the refusal text with its finish_reason.
 *
 * A request's id is its `x-request-id` header when present, else `body:` and a hash of the body,
 * so the same request gets the same answer. The baseline's output tokens are the request's
 * `max_tokens` (or `max_completion_tokens`), not capped by it: the stub's output_length regression
 * shows through. Either field above {@link MAX_ANSWER_TOKENS} (131072) is refused with a 400, as
 * a real API refuses one beyond its model's window, and an answer's text never runs past that
 * many tokens whatever its count (usage still reports the count). Requests carry no baseline
 * latency, so it is drawn from `baseline.latency_ms`.
 *
 * The server is the far end of the replay's own load tests (bench/replay-http.mjs), so a
 * completion costs as little CPU as it can: the constant parts of every response are
 * serialised once, waits are bare timers, and nothing is allocated per request just in case the
 * client goes away (a wait checks on waking whether the response is still open).
 */

const MAX_BODY = 16 * 1024 * 1024;
/** How many request ids' attempt counts are remembered (for 429s that a retry may pass). */
const MAX_TRACKED = 100_000;
const STREAM_PIECES = 16;

export interface StubServer {
  readonly server: http.Server;
  /** The API base URL, e.g. `http://127.0.0.1:41234/v1`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops open connections (streams in progress are cut). */
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function apiError(res: http.ServerResponse, status: number, message: string, type: string, headers: Record<string, string> = {}): void {
  send(res, status, { error: { message, type, param: null, code: null } }, headers);
}

function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(null);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const OPEN = Promise.resolve(true);
const GONE = Promise.resolve(false);

function stillOpen(resolve: (open: boolean) => void, res: http.ServerResponse): void {
  resolve(!res.destroyed);
}

/**
 * Waits `ms`; true when the response can still be written, false when the client (or the
 * server's close) destroyed it meanwhile. The timer is unref'd: an open socket keeps the process
 * alive for a request in progress, and once the socket is gone nothing waits on the timer.
 */
function wait(res: http.ServerResponse, ms: number): Promise<boolean> {
  if (!(ms > 0)) return res.destroyed ? GONE : OPEN;
  // Beyond what one timer can wait (a stub whose latency model reaches weeks), wait in steps.
  if (ms > MAX_TIMER_MS) return wait(res, MAX_TIMER_MS).then((open) => open && wait(res, ms - MAX_TIMER_MS));
  return new Promise((resolve) => {
    setTimeout(stillOpen, ms, resolve, res).unref();
  });
}

function usageOf(r: TargetResponse): string {
  const prompt = r.input_tokens ?? 0;
  const completion = r.output_tokens ?? 0;
  return JSON.stringify({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });
}

/** Splits text into at most `n` pieces at word boundaries (spaces kept), never an empty list. */
function splitPieces(text: string, n: number): string[] {
  if (text === '') return [''];
  const words = text.match(/\S+\s*/g) ?? [text];
  const count = Math.min(n, words.length);
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    out.push(words.slice(Math.floor((k * words.length) / count), Math.floor(((k + 1) * words.length) / count)).join(''));
  }
  return out;
}

/** The request listener of a stub server; exported so that it can be mounted elsewhere. */
export function stubRequestListener(config: StubFile): http.RequestListener {
  const model = new StubModel(config);
  const attempts = new Map<string, number>();
  const rateLimitRate = config.serve.rate_limit_rate;
  const retryAfterSeconds = String(Math.max(0, Math.ceil(durationMs(config.serve.retry_after) / 1000)));
  // Everything of a completion but its id, time, content, finish_reason and usage, serialised once:
  // the text is what JSON.stringify gives for the whole object (the tests parse it back).
  const modelJson = JSON.stringify(config.model);
  const completionHead = '","object":"chat.completion","created":';
  const completionContent = `,"model":${modelJson},"choices":[{"index":0,"message":{"role":"assistant","content":`;
  const completionFinish = '},"logprobs":null,"finish_reason":';
  const chunkHead = '","object":"chat.completion.chunk","created":';
  const chunkChoices = `,"model":${modelJson},"choices":`;

  const completions = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    if (raw === null) return apiError(res, 413, `request body larger than ${MAX_BODY} bytes`, 'invalid_request_error');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return apiError(res, 400, 'the body is not valid JSON', 'invalid_request_error');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return apiError(res, 400, 'the body must be a JSON object', 'invalid_request_error');
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) return apiError(res, 400, 'messages must be a non-empty list', 'invalid_request_error');
    // The stub writes no more than MAX_ANSWER_TOKENS of text: a request asking for more is
    // refused, as a real API refuses one beyond its model's window, rather than answered short.
    for (const field of ['max_tokens', 'max_completion_tokens'] as const) {
      const v = body[field];
      // As OpenAI's API does: a count that is not a whole number of at least 1 is a bad request,
      // not a value to ignore (the baseline's length would silently be the stub's own).
      if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
        return send(res, 400, {
          error: { message: `${field} must be a whole number of at least 1, got ${JSON.stringify(v)}`, type: 'invalid_request_error', param: field, code: 'invalid_value' },
        });
      }
      if (typeof v === 'number' && v > MAX_ANSWER_TOKENS) {
        return send(res, 400, {
          error: { message: `${field} is too large: ${v}. The stub answers at most ${MAX_ANSWER_TOKENS} completion tokens.`, type: 'invalid_request_error', param: field, code: 'invalid_value' },
        });
      }
    }

    const header = req.headers['x-request-id'];
    const headerId = Array.isArray(header) ? header[0] : header;
    const requestId = headerId && headerId.trim() !== '' ? headerId : `body:${hash('sha256', raw).slice(0, 16)}`;

    if (rateLimitRate > 0) {
      const n = (attempts.get(requestId) ?? 0) + 1;
      if (attempts.size >= MAX_TRACKED && !attempts.has(requestId)) attempts.clear();
      attempts.set(requestId, n);
      if (new Rng(`stub:${config.seed}:${requestId}:429:${n}`).uniform() < rateLimitRate) {
        return apiError(res, 429, 'Rate limit reached (injected by rehearse serve-stub)', 'rate_limit_error', { 'x-request-id': requestId, 'retry-after': retryAfterSeconds });
      }
    }

    const input = JSON.stringify(messages);
    const maxTokens = [body.max_tokens, body.max_completion_tokens].find((v): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 1);
    const treq: TargetRequest = {
      request_id: requestId,
      timestamp_ms: Date.now(),
      input,
      input_tokens: estimateTokens(inputText(parsedJsonInput(messages, input))),
      output_tokens: maxTokens ?? null,
      latency_ms: null,
      model: typeof body.model === 'string' ? body.model : null,
    };
    const answer = model.answer(treq);
    const started = performance.now();
    const until = (ms: number) => wait(res, started + ms - performance.now());

    if (answer.status === 'error') {
      if (!(await until(answer.latency_ms))) return;
      return apiError(res, 500, answer.error ?? 'injected error', 'server_error', { 'x-request-id': requestId });
    }
    const id = `chatcmpl-${hash('sha256', requestId).slice(0, 24)}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = usageOf(answer);
    const content = answer.output ?? '';
    const finish = JSON.stringify(answer.finish_reason);
    if (body.stream !== true) {
      if (!(await until(answer.latency_ms))) return;
      const text = `{"id":"${id}${completionHead}${created}${completionContent}${JSON.stringify(content)}${completionFinish}${finish}}],"usage":${usage}}`;
      res.writeHead(200, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(text)), 'x-request-id', requestId]);
      res.end(text);
      return;
    }

    const includeUsage = Boolean((body.stream_options as { include_usage?: unknown } | undefined)?.include_usage);
    const head = `data: {"id":"${id}${chunkHead}${created}${chunkChoices}`;
    const pieces = splitPieces(content, STREAM_PIECES);
    const ttft = answer.ttft_ms ?? 0;
    if (!(await until(ttft))) return;
    res.writeHead(200, ['content-type', 'text/event-stream', 'cache-control', 'no-cache', 'connection', 'keep-alive', 'x-request-id', requestId]);
    for (let k = 0; k < pieces.length; k++) {
      if (k > 0 && !(await until(ttft + ((answer.latency_ms - ttft) * k) / pieces.length))) return;
      const delta = k === 0 ? `{"role":"assistant","content":${JSON.stringify(pieces[k])}}` : `{"content":${JSON.stringify(pieces[k])}}`;
      res.write(`${head}[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":null}]}\n\n`);
    }
    if (!(await until(answer.latency_ms))) return;
    res.write(`${head}[{"index":0,"delta":{},"logprobs":null,"finish_reason":${finish}}]}\n\n`);
    if (includeUsage) res.write(`${head}[],"usage":${usage}}\n\n`);
    res.end('data: [DONE]\n\n');
  };

  const failed = (res: http.ServerResponse) => (err: unknown) => {
    if (!res.headersSent) apiError(res, 500, `stub failure: ${(err as Error)?.message ?? String(err)}`, 'server_error');
    else res.destroy();
  };

  return (req, res) => {
    // The replay's every request takes this path: spare it the URL parsing below.
    const pathname =
      req.url === '/v1/chat/completions' ? '/chat/completions' : new URL(req.url ?? '/', 'http://stub').pathname.replace(/\/+$/, '').replace(/^\/v1(?=\/|$)/, '');
    if (pathname === '/chat/completions') {
      if (req.method !== 'POST') return void apiError(res, 405, 'use POST', 'invalid_request_error', { allow: 'POST' });
      return void completions(req, res).catch(failed(res));
    }
    if (pathname === '/models') {
      if (req.method !== 'GET') return void apiError(res, 405, 'use GET', 'invalid_request_error', { allow: 'GET' });
      return void send(res, 200, { object: 'list', data: [{ id: config.model, object: 'model', created: 0, owned_by: 'rehearse' }] });
    }
    apiError(res, 404, `no route ${req.method} ${req.url}: the stub serves POST /v1/chat/completions and GET /v1/models`, 'invalid_request_error');
  };
}

/** Starts a stub server on `host:port` (port 0: a free one). A port in use is a UserError. */
export async function startStubServer(config: StubFile, options: { host?: string; port?: number } = {}): Promise<StubServer> {
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer(stubRequestListener(config));
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new UserError(`port ${options.port} on ${host} is already in use; pick another --port (0 picks a free one)`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') reject(new UserError(`cannot listen on ${host}: no such local address`));
      else if (err.code === 'EACCES') reject(new UserError(`not allowed to listen on port ${options.port} (ports below 1024 need privileges)`));
      else reject(err);
    };
    server.once('error', onError);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // A wildcard address is reached through loopback; IPv6 literals go in brackets.
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | null = null;
  return {
    server,
    port,
    url: `http://${urlHost}:${port}/v1`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
