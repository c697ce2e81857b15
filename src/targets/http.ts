import type { IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { type Dispatcher, Pool } from 'undici';
import type { HttpFile, Price } from './schema.js';
import type { Target, TargetRequest, TargetResponse } from './target.js';
import { type ChatMessage, fillerPrompt, parseInput } from './text.js';
import { MAX_TIMER_MS, type TimeoutSpec, abortOutcome, costUsd, describeTimeout, durationMs, parseRetryAfter, parseRetryAfterMs, parseTimeout, sleep, timeoutFor } from './timing.js';

/**
 * An OpenAI-compatible chat completions endpoint as a {@link Target}, on one undici Pool per
 * target. Each call sends the trace's input (text as one user message, messages JSON as it is,
 * or for token-only traces a filler prompt of the trace's input tokens with max_tokens set to its
 * output tokens), measures the latency (and, streaming, the time to first token), reads usage,
 * and retries 429s honouring Retry-After. Nothing is thrown out of `call`.
 *
 * Requests go through `Pool.dispatch` with one small handler object per attempt rather than
 * `Pool.request`: a replay sends thousands of requests a second from each worker, and the body
 * stream, AbortController, timers and listeners `request` builds around every response made up
 * about 40% of the target's CPU per request (bench/replay-http.mjs, `targetAlone`).
 */

/** An attempt's answer; `call` sets its `attempts`. */
type Body = TargetResponse;
type Attempt = { kind: 'done'; res: Body } | { kind: 'rate_limited'; retryAfterMs: number | null; latency: number; message: string };

/** `ttft`: a stream that failed after its first token still measured the time to it. */
function fail(status: 'error' | 'timeout', latency: number, error: string, attempts = 0, ttft: number | null = null): Body {
  return { status, latency_ms: latency, ttft_ms: ttft, input_tokens: null, output_tokens: null, output: null, finish_reason: null, cost_usd: null, error, attempts };
}

/** A failure that says the setup is wrong, not the candidate (TargetResponse.setup_fault). */
function setupFault(res: Body): Body {
  res.setup_fault = true;
  return res;
}

/** HTTP statuses that answer for the request's address, credentials or shape, not for a model. */
const SETUP_STATUSES = new Set([400, 401, 403, 404, 405, 422]);

/** 400s that refuse one request for its size (OpenAI, vLLM, TGI, Anthropic's wording), not the setup. */
const PER_REQUEST_LIMIT = /context_length_exceeded|context length|context window|maximum context|too many tokens|prompt is too long|input is too long|must have less than|max_tokens .*(too large|exceed)/i;

/** A TLS handshake's failure codes (certificates, a TLS port spoken to in plain HTTP or back). */
const tlsFailure = (code: string) => code === 'EPROTO' || /CERT|TLS|SSL/.test(code);

/** Connection failures that mean the endpoint cannot be reached as configured. */
function unreachable(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = String(e?.code ?? e?.cause?.code ?? '');
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'].includes(code) || tlsFailure(code);
}

/** An OpenAI-style error body's `code` or `type` (`insufficient_quota`), or null. */
function errorCode(text: string): string | null {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; type?: unknown } }).error;
    const c = e?.code ?? e?.type;
    return typeof c === 'string' ? c : null;
  } catch {
    return null;
  }
}

/** A short reason from an error body: OpenAI's `error.message`, else the start of the text. */
function errorMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown };
    if (typeof j.error === 'string') return j.error;
    if (j.error && typeof j.error.message === 'string') return j.error.message;
    if (typeof j.message === 'string') return j.message;
    if (typeof j.detail === 'string') return j.detail;
  } catch {
    // not JSON
  }
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? t.slice(0, 197) + '...' : t;
}

/** Why a request failed at the transport level: reset, refused, unknown host, or else. */
export function describeFailure(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e?.code ?? e?.cause?.code;
  const message = e?.message || e?.cause?.message || String(err);
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return `connection reset (${code}: ${message})`;
  if (code === 'ECONNREFUSED') return `connection refused (${message})`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${message})`;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return `connect timeout (${message})`;
  if (code && tlsFailure(code)) return `TLS failed (${code}: ${message})`;
  return `request failed: ${message}${code ? ` (${code})` : ''}`;
}

/**
 * A usage token count, or null. A server that sends a negative, infinite or non-number count
 * (`-5`, `"x"`) said nothing usable, so the count is absent, as if usage had left it out: the
 * answer stays `ok` (its text and finish_reason may be fine) but gets no token count or cost,
 * rather than an impossible one that would skew every length and cost statistic.
 */
function tokenCount(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}

interface Usage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
}

function answer(price: Price | undefined, latency: number, ttft: number | null, output: string | null, finish: string | null, usage: Usage | null | undefined): Body {
  const inputTokens = tokenCount(usage?.prompt_tokens);
  const outputTokens = tokenCount(usage?.completion_tokens);
  return {
    status: 'ok',
    latency_ms: latency,
    ttft_ms: ttft,
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    output,
    finish_reason: finish,
    cost_usd: costUsd(price, inputTokens, outputTokens),
    error: null,
    attempts: 0,
  };
}

function readJson(price: Price | undefined, text: string, latency: number): Body {
  let j: {
    error?: unknown;
    choices?: { message?: { content?: unknown; refusal?: unknown }; text?: unknown; finish_reason?: unknown }[];
    usage?: Usage;
    model?: unknown;
  };
  try {
    j = JSON.parse(text);
  } catch {
    return fail('error', latency, `invalid JSON response: ${errorMessage(text) || '(empty body)'}`);
  }
  if (j === null || typeof j !== 'object') return fail('error', latency, 'invalid response: not a JSON object');
  if (j.error) return fail('error', latency, `error response: ${errorMessage(text)}`);
  const choice = Array.isArray(j.choices) ? j.choices[0] : undefined;
  if (!choice || typeof choice !== 'object') return fail('error', latency, 'invalid response: no choices');
  // The first text among content, refusal and the legacy `text`: a non-string one (`content: 42`)
  // is no text, as streaming treats such a delta, so the answer is recorded without an output.
  const content = [choice.message?.content, choice.message?.refusal, choice.text].find((v): v is string => typeof v === 'string') ?? null;
  const res = answer(price, latency, null, content, typeof choice.finish_reason === 'string' ? choice.finish_reason : null, j.usage);
  if (typeof j.model === 'string' && j.model !== '') res.model = j.model;
  return res;
}

/** How long a response may run on after its `data: [DONE]` before its connection is dropped. */
const DONE_LINGER_MS = 100;

/** Bodies a server compressed though asked for identity: read, not recorded as invalid JSON. */
const INFLATE: Record<string, (b: Buffer) => Buffer> = { gzip: gunzipSync, 'x-gzip': gunzipSync, deflate: inflateSync, br: brotliDecompressSync };

/** The body as text, as undici's `body.text()` reads it: UTF-8, a leading byte-order mark dropped. Throws on an encoding it cannot undo. */
function decode(chunks: Buffer[], encoding = 'identity'): string {
  if (chunks.length === 0) return '';
  let b = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (encoding !== 'identity') {
    const inflate = INFLATE[encoding];
    if (!inflate) throw new Error(`an encoding rehearse does not read`);
    b = inflate(b);
  }
  const start = b.length > 2 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  return b.toString('utf8', start);
}

// SSE lines end in CRLF, LF or a bare CR (the spec allows all three); an event ends at a blank
// line. A CR last in the buffer may be the first half of a CRLF split across chunks: taken as a
// line end, its LF then reads as one more blank line, which dispatches nothing.
const EVENT_END = /(?:\r\n|\r|\n)(?:\r\n|\r|\n)/;
const LINE_END = /\r\n|\r|\n/;
/** Delta fields other than content whose arrival also counts as the first token. */
const OTHER_DELTAS = ['reasoning_content', 'reasoning', 'tool_calls'];

/** Server-sent events, fed chunk by chunk as they arrive: `data: {chunk}` events until `data: [DONE]`. */
class SseReader {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private output = '';
  private sawContent = false;
  /** Time to the first token, once one came. */
  ttft: number | null = null;
  private finish: string | null = null;
  private usage: Usage | null = null;
  private model: string | null = null;
  /** `data: [DONE]` came: the answer is whole, whether or not the server ends the response. */
  done = false;

  constructor(
    private readonly started: number,
    private readonly price: Price | undefined,
  ) {}

  /** Reads a chunk; an error event ends the answer (returned), else null. */
  push(chunk: Buffer): Body | null {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    let m: RegExpExecArray | null;
    while ((m = EVENT_END.exec(this.buffer)) !== null) {
      const event = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const err = this.handle(event);
      if (err) return err;
    }
    return null;
  }

  end(): Body {
    this.buffer += this.decoder.decode();
    if (this.buffer.trim() !== '') {
      const err = this.handle(this.buffer);
      if (err) return err;
    }
    const latency = performance.now() - this.started;
    if (!this.done && this.finish === null) return fail('error', latency, 'stream ended before data: [DONE]', 0, this.ttft);
    const res = answer(this.price, latency, this.ttft, this.sawContent ? this.output : null, this.finish, this.usage);
    if (this.model !== null) res.model = this.model;
    return res;
  }

  private handle(event: string): Body | null {
    let data = '';
    let lines = 0;
    let name = '';
    for (const l of event.split(LINE_END)) {
      if (l.startsWith('event:')) name = l.slice(6).trim();
      if (!l.startsWith('data:')) continue;
      data += (lines++ > 0 ? '\n' : '') + (l.charCodeAt(5) === 32 ? l.slice(6) : l.slice(5));
    }
    if (data === '') return null;
    // Some servers name an error event (`event: error`) and put only a message in its data.
    if (name === 'error') return fail('error', performance.now() - this.started, `error in stream: ${errorMessage(data) || data.slice(0, 200)}`, 0, this.ttft);
    if (data.trim() === '[DONE]') {
      this.done = true;
      return null;
    }
    let chunk: {
      error?: unknown;
      choices?: { delta?: Record<string, unknown>; finish_reason?: unknown }[];
      usage?: Usage | null;
      model?: unknown;
    };
    try {
      chunk = JSON.parse(data);
    } catch {
      return null; // a malformed event is skipped, as SSE clients do
    }
    if (chunk?.error) return fail('error', performance.now() - this.started, `error in stream: ${errorMessage(data)}`, 0, this.ttft);
    if (chunk?.usage) this.usage = chunk.usage;
    if (typeof chunk?.model === 'string' && chunk.model !== '') this.model = chunk.model;
    const choice = Array.isArray(chunk?.choices) ? chunk.choices[0] : undefined;
    if (choice) {
      const d = choice.delta ?? {};
      const piece = typeof d.content === 'string' ? d.content : typeof d.refusal === 'string' ? d.refusal : '';
      if (this.ttft === null && (piece !== '' || OTHER_DELTAS.some((k) => d[k] !== undefined && d[k] !== null && d[k] !== ''))) this.ttft = performance.now() - this.started;
      if (piece !== '') {
        this.output += piece;
        this.sawContent = true;
      }
      if (typeof choice.finish_reason === 'string') this.finish = choice.finish_reason;
    }
    return null;
  }
}

/**
 * Whether a body opens as server-sent events do (`data:`, `event:`, `id:`, `retry:` or a `:`
 * comment), not as JSON; null while it has shown only white space.
 */
function looksLikeSse(chunk: Buffer): boolean | null {
  let i = 0;
  while (i < chunk.length && (chunk[i] === 0x20 || chunk[i] === 0x0a || chunk[i] === 0x0d || chunk[i] === 0x09)) i++;
  if (i >= chunk.length) return null;
  if (chunk[i] === 0x3a) return true; // ':' a comment
  const head = chunk.toString('latin1', i, i + 6);
  return head.startsWith('data:') || head.startsWith('event:') || head.startsWith('id:') || head.startsWith('retry:');
}

function onTimeout(x: Exchange): void {
  x.timerFired();
}

/**
 * One attempt, as an undici dispatch handler: it collects the response (or feeds an SSE reader
 * as chunks arrive), and settles exactly once, with the answer, a 429 to retry, a failure, a
 * timeout, or the outside signal's abort. Settling first and aborting the exchange after means
 * late callbacks from undici find it settled and do nothing.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private readonly started = performance.now();
  private controller: Dispatcher.DispatchController | null = null;
  private settled = false;
  private statusCode = 0;
  private headers: IncomingHttpHeaders | null = null;
  private chunks: Buffer[] = [];
  private sse: SseReader | null = null;
  private timer!: NodeJS.Timeout;
  /** Of a timeout beyond what one setTimeout can wait (MAX_TIMER_MS), what is still to wait once the timer fires. */
  private timerLeft: number;
  private readonly onAbort: (() => void) | null = null;
  private encoding = 'identity';
  /** A stream asked for came labelled as JSON: its first bytes decide whether it is one anyway. */
  private sniffing = false;
  /** Set after `[DONE]`: drops a response the server holds open. */
  private linger: NodeJS.Timeout | null = null;

  constructor(
    private readonly path: string,
    private readonly stream: boolean,
    private readonly price: Price | undefined,
    private readonly timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (a: Attempt) => void,
  ) {
    this.timerLeft = timeoutMs;
    this.armTimer();
    if (signal) {
      this.onAbort = () => {
        const o = abortOutcome(signal);
        this.settle({ kind: 'done', res: fail(o.status, this.elapsed(), o.error, 0, this.sse?.ttft ?? null) }, true);
      };
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  private elapsed(): number {
    return performance.now() - this.started;
  }

  /** Settles the attempt; with `drop`, also aborts the exchange (now, or when it starts). */
  private settle(a: Attempt, drop = false): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.onAbort) this.signal!.removeEventListener('abort', this.onAbort);
    this.resolve(a);
    if (drop) this.controller?.abort(new Error('the attempt has ended'));
  }

  // A bare timer in steps, not longTimeout: this runs for every attempt of a replay, and a
  // closure per attempt is the kind of cost the dispatch handler exists to avoid.
  private armTimer(): void {
    const step = Math.min(this.timerLeft, MAX_TIMER_MS);
    this.timerLeft -= step;
    this.timer = setTimeout(onTimeout, step, this);
  }

  timerFired(): void {
    if (this.settled) return;
    if (this.timerLeft > 0) return this.armTimer();
    this.settle({ kind: 'done', res: fail('timeout', this.elapsed(), `timeout after ${describeTimeout(this.timeoutMs)}`, 0, this.sse?.ttft ?? null) }, true);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Settled while it waited in the pool's queue (a timeout, an abort): it is never sent.
    if (this.settled) controller.abort(new Error('the attempt has ended'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.settled) return;
    this.statusCode = statusCode;
    this.headers = headers;
    this.encoding = String(headers['content-encoding'] ?? 'identity').trim().toLowerCase() || 'identity';
    if (this.stream && statusCode >= 200 && statusCode < 300 && !String(headers['content-type'] ?? '').includes('application/json')) {
      // Asked for identity; a stream compressed anyway cannot be read event by event.
      if (this.encoding !== 'identity') {
        return this.settle({ kind: 'done', res: fail('error', this.elapsed(), `the endpoint compressed its stream (content-encoding ${this.encoding}) though asked for identity; rehearse reads streams uncompressed`) }, true);
      }
      this.sse = new SseReader(this.started, this.price);
    } else if (this.stream && statusCode >= 200 && statusCode < 300 && this.encoding === 'identity') {
      this.sniffing = true;
    }
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    if (this.sniffing) {
      // A stream labelled application/json (some proxies relabel it) is still read as a stream.
      const sse = looksLikeSse(chunk);
      if (sse !== null) this.sniffing = false;
      if (sse) {
        this.sse = new SseReader(this.started, this.price);
        for (const c of this.chunks.splice(0)) this.sse.push(c);
      }
    }
    if (this.sse === null) {
      this.chunks.push(chunk);
      return;
    }
    const err = this.sse.push(chunk);
    // An error event ends the answer; the rest of the stream is not waited for.
    if (err) return this.settle({ kind: 'done', res: err }, true);
    // `data: [DONE]` ends the answer, whether or not the server then ends the response: one that
    // holds it open lost a whole answer to the timeout. The connection gets a moment to finish
    // before it is dropped (the usual end follows within the same packet).
    if (this.sse.done) {
      this.settle({ kind: 'done', res: this.sse.end() });
      this.linger = setTimeout(() => this.controller?.abort(new Error('the answer ended with [DONE]')), DONE_LINGER_MS);
      this.linger.unref?.();
    }
  }

  onResponseEnd(): void {
    if (this.linger) clearTimeout(this.linger);
    if (this.settled) return;
    if (this.sse !== null) return this.settle({ kind: 'done', res: this.sse.end() });
    const latency = this.elapsed();
    let text: string;
    try {
      text = decode(this.chunks, this.encoding);
    } catch (err) {
      return this.settle({ kind: 'done', res: fail('error', latency, `cannot read the answer (content-encoding ${this.encoding}): ${(err as Error).message}`) });
    }
    const status = this.statusCode;
    if (status === 429) {
      // A spent quota is no rate limit: waiting does not bring it back.
      if (errorCode(text) === 'insufficient_quota') {
        return this.settle({ kind: 'done', res: setupFault(fail('error', latency, `HTTP 429: ${errorMessage(text) || 'insufficient_quota'} (quota spent: not retried)`)) });
      }
      const retryAfterMs = parseRetryAfterMs(this.headers!['retry-after-ms']) ?? parseRetryAfter(this.headers!['retry-after']);
      return this.settle({ kind: 'rate_limited', retryAfterMs, latency, message: errorMessage(text) });
    }
    if (status < 200 || status >= 300) {
      const msg = errorMessage(text);
      // A 404 or 405 is most often the URL: say where the request went, and what is likely missing.
      const where = status === 404 || status === 405 ? ` (POST ${this.path}${this.path === '/chat/completions' ? ': does the URL need /v1?' : ''})` : '';
      const res = fail('error', latency, `HTTP ${status}${msg ? `: ${msg}` : ''}${where}`);
      // A prompt longer than the candidate's context is the candidate's limit, request by request.
      const perRequest = PER_REQUEST_LIMIT.test(`${errorCode(text) ?? ''} ${msg}`);
      return this.settle({ kind: 'done', res: SETUP_STATUSES.has(status) && !perRequest ? setupFault(res) : res });
    }
    this.settle({ kind: 'done', res: readJson(this.price, text, latency) });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.linger) clearTimeout(this.linger);
    const res = fail('error', this.elapsed(), describeFailure(err), 0, this.sse?.ttft ?? null);
    this.settle({ kind: 'done', res: this.statusCode === 0 && unreachable(err) ? setupFault(res) : res });
  }
}

/** How long model discovery (GET /models) may take. */
const MODELS_TIMEOUT_MS = 10_000;

export class HttpTarget implements Target {
  readonly kind = 'http' as const;
  readonly label: string;
  readonly source: string;
  private readonly pool: Pool;
  private readonly completionsPath: string;
  private readonly modelsPath: string;
  private readonly modelsWhere: string;
  private readonly timeout: TimeoutSpec;
  private readonly headers: Record<string, string>;
  private readonly retry: { maxAttempts: number; maxWait: number; baseDelay: number; maxDelay: number };
  private modelsPromise: Promise<void> | null = null;
  /** The models GET /models lists; empty until known, and when it cannot say. */
  private listed: string[] = [];
  /** Why /models named no model, for the error every request then records. */
  private discovery = 'the endpoint lists none at /models';
  /** Set when discovery could not reach the endpoint at all: the calls say so, not that a model is missing. */
  private unreachable: string | null = null;
  /** Set when /models refused the credentials (401, 403): the calls say so. */
  private refused: string | null = null;
  /** The endpoint's one model, once /models named it: later calls need not wait on the discovery. */
  private only: string | undefined;
  private closed = false;

  constructor(
    readonly config: HttpFile,
    where: { label: string; source: string; apiKey: string | null },
  ) {
    this.label = where.label;
    this.source = where.source;
    const url = new URL(config.url);
    const pathname = url.pathname.replace(/\/+$/, '');
    if (/\/chat\/completions$/.test(pathname)) {
      this.completionsPath = pathname + url.search;
      this.modelsPath = pathname.replace(/\/chat\/completions$/, '') + '/models' + url.search;
    } else {
      this.completionsPath = pathname + '/chat/completions' + url.search;
      this.modelsPath = pathname + '/models' + url.search;
    }
    this.modelsWhere = `GET ${this.modelsPath}`;
    this.pool = new Pool(url.origin, { connections: config.connections ?? null, headersTimeout: 0, bodyTimeout: 0 });
    this.timeout = parseTimeout(config.timeout, config.timeout_floor, config.timeout_fallback);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.headers)) headers[k.toLowerCase()] = v;
    headers['content-type'] = 'application/json';
    headers.accept = config.stream ? 'text/event-stream' : 'application/json';
    // Answers are read as they come, not through a decompressor (one per stream would cost more
    // than the bytes saved on loopback or a LAN).
    headers['accept-encoding'] = 'identity';
    if (where.apiKey !== null) {
      const header = (config.api_key_header ?? 'authorization').toLowerCase();
      headers[header] = header === 'authorization' ? `Bearer ${where.apiKey}` : where.apiKey;
    }
    this.headers = headers;
    this.retry = {
      maxAttempts: config.retry.max_attempts,
      maxWait: durationMs(config.retry.max_wait),
      baseDelay: durationMs(config.retry.base_delay),
      maxDelay: durationMs(config.retry.max_delay),
    };
  }

  /** The request body sent for `req` (exported for tests and dry runs). */
  buildBody(req: TargetRequest, model: string): Record<string, unknown> {
    const parsed = parseInput(req.input);
    let messages: ChatMessage[];
    let maxTokens: number | null = null;
    if (parsed.kind === 'messages') messages = parsed.messages;
    else if (parsed.kind === 'text') messages = [{ role: 'user', content: parsed.text }];
    else {
      const n = req.input_tokens !== null && Number.isFinite(req.input_tokens) && req.input_tokens >= 1 ? req.input_tokens : 16;
      messages = [{ role: 'user', content: fillerPrompt(n) }];
      if (req.output_tokens !== null && Number.isFinite(req.output_tokens) && req.output_tokens >= 1) maxTokens = Math.round(req.output_tokens);
    }
    const body: Record<string, unknown> = { ...this.config.params, model, messages, stream: this.config.stream };
    if (this.config.stream) {
      const extra = this.config.params.stream_options;
      body.stream_options = { ...(extra !== null && typeof extra === 'object' ? extra : {}), include_usage: true };
    } else {
      delete body.stream_options;
    }
    if (maxTokens !== null) body[this.config.max_tokens_field] = maxTokens;
    return body;
  }

  async call(req: TargetRequest, signal?: AbortSignal): Promise<TargetResponse> {
    let attempts = 0;
    try {
      const model = this.config.model ?? this.only ?? (await this.modelFor(req));
      if (typeof model !== 'string') return model;
      const body = JSON.stringify(this.buildBody(req, model));
      const headers = this.config.send_request_id ? { ...this.headers, 'x-request-id': req.request_id } : this.headers;
      const timeoutMs = timeoutFor(this.timeout, req);
      let waited = 0;
      for (;;) {
        attempts++;
        const a = await this.attempt(body, headers, timeoutMs, signal);
        if (a.kind === 'done') {
          a.res.attempts = attempts;
          // The model the answer names (a gateway's alias resolves to a dated version), else the
          // one asked; a failure was answered by none.
          if (a.res.status === 'ok') a.res.model ??= model;
          return a.res;
        }
        const backoff = Math.min(this.retry.maxDelay, this.retry.baseDelay * 2 ** (attempts - 1));
        const delay = a.retryAfterMs ?? backoff;
        const why = a.message ? `: ${a.message}` : '';
        if (attempts >= this.retry.maxAttempts) {
          return fail('error', a.latency, `rate limited (HTTP 429) after ${attempts} attempt${attempts === 1 ? '' : 's'}${why}`, attempts);
        }
        if (waited + delay > this.retry.maxWait) {
          const wait = a.retryAfterMs !== null ? `Retry-After ${describeTimeout(delay)}` : `the next backoff (${describeTimeout(delay)})`;
          const left = describeTimeout(this.retry.maxWait - waited);
          return fail('error', a.latency, `rate limited (HTTP 429): ${wait} exceeds what is left of retry.max_wait (${left}) after ${attempts} attempt${attempts === 1 ? '' : 's'}${why}`, attempts);
        }
        if (!(await sleep(delay, signal))) return fail(abortOutcome(signal!).status, a.latency, abortOutcome(signal!).error, attempts);
        waited += delay;
      }
    } catch (err) {
      // Nothing above should throw; if something does, it is recorded, not propagated.
      return fail('error', 0, `internal error in the HTTP target: ${(err as Error)?.message ?? String(err)}`, attempts);
    }
  }

  private attempt(body: string, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal | undefined): Promise<Attempt> {
    if (signal?.aborted) {
      const o = abortOutcome(signal);
      return Promise.resolve({ kind: 'done', res: fail(o.status, 0, o.error) });
    }
    return new Promise<Attempt>((resolve) => {
      const exchange = new Exchange(this.completionsPath, this.config.stream, this.config.price, timeoutMs, signal, resolve);
      this.pool.dispatch({ path: this.completionsPath, method: 'POST', headers, body }, exchange);
    });
  }

  /**
   * The model to ask for `req`, when the target file names none: the endpoint's only model, or
   * among several the trace's own (a multi-model gateway asked for the first it lists answered
   * with an arbitrary model, silently), or without a list the trace's. A string is the model; a
   * response is why there is none.
   */
  private async modelFor(req: TargetRequest): Promise<string | Body> {
    await (this.modelsPromise ??= this.listModels());
    const listed = this.listed;
    if (this.only !== undefined) return this.only;
    if (listed.length > 1) {
      if (req.model !== null && listed.includes(req.model)) return req.model;
      const shown = listed.length > 5 ? `${listed.slice(0, 5).join(', ')}, …` : listed.join(', ');
      const trace = req.model === null ? 'the trace names none' : `the trace's ${req.model} is not one of them`;
      return setupFault(fail('error', 0, `no model to ask for: ${this.modelsWhere} lists ${listed.length} models (${shown}) and ${trace}: name one with \`model\` in a target file`));
    }
    if (req.model !== null) return req.model;
    if (this.unreachable) return setupFault(fail('error', 0, `cannot reach the endpoint: ${this.unreachable}`));
    if (this.refused) return setupFault(fail('error', 0, this.refused));
    return setupFault(fail('error', 0, `no model to ask for: give \`model\` in the target file (${this.discovery} and the trace names none)`));
  }

  /** The models the endpoint lists at GET <url>/models (none when it cannot say), with what happened in `discovery`. */
  private async listModels(): Promise<void> {
    const headers = { ...this.headers };
    delete headers['content-type'];
    headers.accept = 'application/json';
    const where = this.modelsWhere;
    try {
      const res = await this.pool.request({ path: this.modelsPath, method: 'GET', headers, signal: AbortSignal.timeout(MODELS_TIMEOUT_MS) });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        this.discovery = `${where} answered HTTP ${res.statusCode}`;
        // A refused key refuses the chat completions too: say that, not "no model".
        if (res.statusCode === 401 || res.statusCode === 403) {
          const msg = errorMessage(text);
          this.refused = `HTTP ${res.statusCode} at ${where}${msg ? `: ${msg}` : ''}`;
        }
        return;
      }
      const j = JSON.parse(text) as { data?: { id?: unknown }[] };
      const ids = Array.isArray(j.data) ? j.data.map((m) => m?.id).filter((id): id is string => typeof id === 'string' && id !== '') : [];
      this.listed = [...new Set(ids)];
      if (this.listed.length === 1) this.only = this.listed[0];
      if (this.listed.length === 0) this.discovery = `${where} lists no model`;
    } catch (err) {
      // A slow or broken /models is not an endpoint without models: say which it was.
      const e = err as { name?: string; message?: string };
      this.discovery = e?.name === 'TimeoutError' || e?.name === 'AbortError' ? `${where} did not answer within ${describeTimeout(MODELS_TIMEOUT_MS)}` : `${where} failed: ${e?.message ?? String(err)}`;
      const failure = describeFailure(err);
      if (unreachable(err)) this.unreachable = `${failure}, at ${where} (asking which model it serves)`;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.pool.destroy().then(resolve, resolve);
      }, 2000);
    });
    try {
      await Promise.race([this.pool.close(), grace]);
    } catch {
      // already closed or destroyed
    } finally {
      clearTimeout(timer);
    }
  }
}
