import { Pool } from 'undici';
import type { HttpFile } from './schema.js';
import type { Target, TargetRequest, TargetResponse } from './target.js';
import { type ChatMessage, fillerPrompt, parseInput } from './text.js';
import { type TimeoutSpec, abortOutcome, costUsd, describeTimeout, durationMs, parseRetryAfter, parseTimeout, sleep, timeoutFor } from './timing.js';

/**
 * An OpenAI-compatible chat completions endpoint as a {@link Target}, on one undici Pool per
 * target. Each call sends the trace's input (text as one user message, messages JSON as it is,
 * or for token-only traces a filler prompt of the trace's input tokens with max_tokens set to its
 * output tokens), measures the latency (and, streaming, the time to first token), reads usage,
 * and retries 429s honouring Retry-After. Nothing is thrown out of `call`.
 */

type Body = Omit<TargetResponse, 'attempts'>;
type Attempt = { kind: 'done'; res: Body } | { kind: 'rate_limited'; retryAfterMs: number | null; latency: number; message: string };

const EMPTY = { ttft_ms: null, input_tokens: null, output_tokens: null, output: null, finish_reason: null, cost_usd: null } as const;

function fail(status: 'error' | 'timeout', latency: number, error: string): Body {
  return { status, latency_ms: latency, ...EMPTY, error };
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
  return `request failed: ${message}${code ? ` (${code})` : ''}`;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

interface Usage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
}

export class HttpTarget implements Target {
  readonly kind = 'http' as const;
  readonly label: string;
  readonly source: string;
  private readonly pool: Pool;
  private readonly completionsPath: string;
  private readonly modelsPath: string;
  private readonly timeout: TimeoutSpec;
  private readonly headers: Record<string, string>;
  private readonly retry: { maxAttempts: number; maxWait: number; baseDelay: number; maxDelay: number };
  private modelPromise: Promise<string | null> | null = null;
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
    this.pool = new Pool(url.origin, { connections: config.connections ?? null, headersTimeout: 0, bodyTimeout: 0 });
    this.timeout = parseTimeout(config.timeout, config.timeout_floor, config.timeout_fallback);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.headers)) headers[k.toLowerCase()] = v;
    headers['content-type'] = 'application/json';
    headers.accept = config.stream ? 'text/event-stream' : 'application/json';
    if (where.apiKey !== null) headers.authorization = `Bearer ${where.apiKey}`;
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
      const model = await this.resolveModel(req);
      if (model === null) {
        return { ...fail('error', 0, 'no model to ask for: give `model` in the target file (the endpoint lists none at /models and the trace names none)'), attempts: 0 };
      }
      const body = JSON.stringify(this.buildBody(req, model));
      const headers = this.config.send_request_id ? { ...this.headers, 'x-request-id': req.request_id } : this.headers;
      const timeoutMs = timeoutFor(this.timeout, req);
      let waited = 0;
      for (;;) {
        attempts++;
        const a = await this.attempt(body, headers, timeoutMs, signal);
        if (a.kind === 'done') return { ...a.res, attempts };
        const backoff = Math.min(this.retry.maxDelay, this.retry.baseDelay * 2 ** (attempts - 1));
        const delay = a.retryAfterMs ?? backoff;
        const why = a.message ? `: ${a.message}` : '';
        if (attempts >= this.retry.maxAttempts) {
          return { ...fail('error', a.latency, `rate limited (HTTP 429) after ${attempts} attempt${attempts === 1 ? '' : 's'}${why}`), attempts };
        }
        if (waited + delay > this.retry.maxWait) {
          const wait = a.retryAfterMs !== null ? `Retry-After ${describeTimeout(delay)}` : `the next backoff (${describeTimeout(delay)})`;
          return {
            ...fail('error', a.latency, `rate limited (HTTP 429): ${wait} exceeds what is left of retry.max_wait (${describeTimeout(this.retry.maxWait - waited)}) after ${attempts} attempt${attempts === 1 ? '' : 's'}${why}`),
            attempts,
          };
        }
        if (!(await sleep(delay, signal))) return { ...fail(abortOutcome(signal!).status, a.latency, abortOutcome(signal!).error), attempts };
        waited += delay;
      }
    } catch (err) {
      // Nothing above should throw; if something does, it is recorded, not propagated.
      return { ...fail('error', 0, `internal error in the HTTP target: ${(err as Error)?.message ?? String(err)}`), attempts };
    }
  }

  private async attempt(body: string, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal | undefined): Promise<Attempt> {
    if (signal?.aborted) {
      const o = abortOutcome(signal);
      return { kind: 'done', res: fail(o.status, 0, o.error) };
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`timeout after ${describeTimeout(timeoutMs)}`));
    }, timeoutMs);
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    try {
      const res = await this.pool.request({ path: this.completionsPath, method: 'POST', headers, body, signal: controller.signal });
      if (res.statusCode === 429) {
        const text = await res.body.text();
        return { kind: 'rate_limited', retryAfterMs: parseRetryAfter(res.headers['retry-after']), latency: elapsed(), message: errorMessage(text) };
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const text = await res.body.text();
        const msg = errorMessage(text);
        return { kind: 'done', res: fail('error', elapsed(), `HTTP ${res.statusCode}${msg ? `: ${msg}` : ''}`) };
      }
      const contentType = String(res.headers['content-type'] ?? '');
      if (this.config.stream && !contentType.includes('application/json')) {
        return { kind: 'done', res: await this.readStream(res.body, started) };
      }
      const text = await res.body.text();
      return { kind: 'done', res: this.readJson(text, elapsed()) };
    } catch (err) {
      const latency = elapsed();
      if (timedOut) return { kind: 'done', res: fail('timeout', latency, `timeout after ${describeTimeout(timeoutMs)}`) };
      if (signal?.aborted) {
        const o = abortOutcome(signal);
        return { kind: 'done', res: fail(o.status, latency, o.error) };
      }
      return { kind: 'done', res: fail('error', latency, describeFailure(err)) };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private answer(latency: number, ttft: number | null, output: string | null, finish: string | null, usage: Usage | null | undefined): Body {
    const inputTokens = num(usage?.prompt_tokens);
    const outputTokens = num(usage?.completion_tokens);
    return {
      status: 'ok',
      latency_ms: latency,
      ttft_ms: ttft,
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      output,
      finish_reason: finish,
      cost_usd: costUsd(this.config.price, inputTokens, outputTokens),
      error: null,
    };
  }

  private readJson(text: string, latency: number): Body {
    let j: {
      error?: unknown;
      choices?: { message?: { content?: unknown; refusal?: unknown }; text?: unknown; finish_reason?: unknown }[];
      usage?: Usage;
    };
    try {
      j = JSON.parse(text);
    } catch {
      return fail('error', latency, `invalid JSON response: ${errorMessage(text) || '(empty body)'}`);
    }
    if (j === null || typeof j !== 'object') return fail('error', latency, 'invalid response: not a JSON object');
    if (j.error) return fail('error', latency, `error response: ${errorMessage(text)}`);
    const choice = Array.isArray(j.choices) ? j.choices[0] : undefined;
    if (!choice) return fail('error', latency, 'invalid response: no choices');
    const content = choice.message?.content ?? choice.message?.refusal ?? choice.text ?? null;
    return this.answer(latency, null, typeof content === 'string' ? content : null, typeof choice.finish_reason === 'string' ? choice.finish_reason : null, j.usage);
  }

  /** Server-sent events: `data: {chunk}` events until `data: [DONE]`. */
  private async readStream(body: AsyncIterable<Buffer>, started: number): Promise<Body> {
    const decoder = new TextDecoder();
    let buffer = '';
    let output = '';
    let sawContent = false;
    let ttft: number | null = null;
    let finish: string | null = null;
    let usage: Usage | null = null;
    let done = false;
    const handle = (event: string): Body | null => {
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data === '') return null;
      if (data.trim() === '[DONE]') {
        done = true;
        return null;
      }
      let chunk: {
        error?: unknown;
        choices?: { delta?: Record<string, unknown>; finish_reason?: unknown }[];
        usage?: Usage | null;
      };
      try {
        chunk = JSON.parse(data);
      } catch {
        return null; // a malformed event is skipped, as SSE clients do
      }
      if (chunk?.error) return fail('error', performance.now() - started, `error in stream: ${errorMessage(data)}`);
      if (chunk?.usage) usage = chunk.usage;
      const choice = Array.isArray(chunk?.choices) ? chunk.choices[0] : undefined;
      if (choice) {
        const d = choice.delta ?? {};
        const piece = typeof d.content === 'string' ? d.content : typeof d.refusal === 'string' ? d.refusal : '';
        const other = ['reasoning_content', 'reasoning', 'tool_calls'].some((k) => d[k] !== undefined && d[k] !== null && d[k] !== '');
        if ((piece !== '' || other) && ttft === null) ttft = performance.now() - started;
        if (piece !== '') {
          output += piece;
          sawContent = true;
        }
        if (typeof choice.finish_reason === 'string') finish = choice.finish_reason;
      }
      return null;
    };
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      let m: RegExpExecArray | null;
      while ((m = /\r?\n\r?\n/.exec(buffer)) !== null) {
        const event = buffer.slice(0, m.index);
        buffer = buffer.slice(m.index + m[0].length);
        const err = handle(event);
        if (err) return err;
      }
    }
    buffer += decoder.decode();
    if (buffer.trim() !== '') {
      const err = handle(buffer);
      if (err) return err;
    }
    const latency = performance.now() - started;
    if (!done && finish === null) return fail('error', latency, 'stream ended before data: [DONE]');
    return this.answer(latency, ttft, sawContent ? output : null, finish, usage);
  }

  private resolveModel(req: TargetRequest): Promise<string | null> {
    if (this.config.model !== undefined) return Promise.resolve(this.config.model);
    this.modelPromise ??= this.discoverModel();
    return this.modelPromise.then((m) => m ?? req.model);
  }

  /** The first model the endpoint lists at GET <url>/models, or null. */
  private async discoverModel(): Promise<string | null> {
    const headers = { ...this.headers };
    delete headers['content-type'];
    headers.accept = 'application/json';
    try {
      const res = await this.pool.request({ path: this.modelsPath, method: 'GET', headers, signal: AbortSignal.timeout(10_000) });
      const text = await res.body.text();
      if (res.statusCode !== 200) return null;
      const j = JSON.parse(text) as { data?: { id?: unknown }[] };
      const id = Array.isArray(j.data) ? j.data[0]?.id : undefined;
      return typeof id === 'string' && id !== '' ? id : null;
    } catch {
      return null;
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
