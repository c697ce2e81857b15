import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { MAX_ANSWER_TOKENS } from '../../src/targets/stub.js';
import { type StubServer, startStubServer } from '../../src/targets/stub-server.js';
import { MAX_TIMER_MS } from '../../src/targets/timing.js';
import { fillerPrompt, parseInput, parsedJsonInput } from '../../src/targets/text.js';
import { stubConfig } from './helpers.js';

/**
 * serve-stub's responses are assembled from pieces serialised once (test/cli/serve-stub.test.ts
 * checks what they say); these tests pin that the text is exactly what JSON.stringify of the
 * whole object would give, and that waits end quietly when the client goes away.
 */

/** Runs `fn` against a fresh stub server, closed afterwards whatever happens. */
async function withServer<T>(fields: Record<string, unknown>, fn: (s: StubServer) => Promise<T>): Promise<T> {
  const s = await startStubServer(stubConfig(fields), { port: 0 });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

const FAST = { latency_ms: { p50: 2, p99: 4 } };
const canonical = (text: string) => JSON.stringify(JSON.parse(text));

function post(url: string, body: unknown, id: string) {
  return fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': id }, body: JSON.stringify(body) });
}

describe('serve-stub response text', () => {
  it('a completion is the JSON.stringify of its object, for answers, refusals and odd model names', async () => {
    const messages = [{ role: 'user', content: 'Quote "this" and a \\ backslash, naïvely.' }];
    for (const fields of [
      { baseline: FAST, model: 'cand' },
      { baseline: { ...FAST, refusal_rate: 1 }, model: 'a "quoted" \u00e9 model' },
    ]) {
      await withServer(fields, async (s) => {
        for (const id of ['a', 'b', 'c']) {
          const res = await post(s.url, { model: 'x', messages, max_tokens: 30 }, id);
          const text = await res.text();
          expect(text).toBe(canonical(text));
          expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
          expect(JSON.parse(text)).toMatchObject({ object: 'chat.completion', model: fields.model });
        }
      });
    }
  });

  it('every streamed chunk is the JSON.stringify of its object', async () => {
    const body = { model: 'x', messages: [{ role: 'user', content: 'Stream "quotes".' }], stream: true, stream_options: { include_usage: true } };
    const text = await withServer({ baseline: FAST, model: 'm"1' }, async (s) => (await post(s.url, body, 'sse')).text());
    const events = text.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    for (const e of events.slice(0, -1)) {
      const data = e.slice('data: '.length);
      expect(data).toBe(canonical(data));
      expect(JSON.parse(data)).toMatchObject({ object: 'chat.completion.chunk', model: 'm"1' });
    }
  });

  it('a client that leaves during the wait breaks nothing: the server keeps serving', async () => {
    await withServer({ baseline: { latency_ms: { p50: 300, p99: 300 } } }, async (s) => {
      const raw = http.request(`${s.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      raw.on('error', () => undefined);
      raw.end(JSON.stringify({ messages: [{ role: 'user', content: 'bye' }] }));
      await new Promise((r) => setTimeout(r, 50));
      raw.destroy();
      const after = await post(s.url, { messages: [{ role: 'user', content: 'still there?' }] }, 'after');
      expect(after.status).toBe(200);
      expect((await after.json()).object).toBe('chat.completion');
    });
  });

  it('close() does not wait for the latency of requests in flight', async () => {
    const s = await startStubServer(stubConfig({ baseline: { latency_ms: { p50: 5000, p99: 5000 } } }), { port: 0 });
    const pending = post(s.url, { messages: [{ role: 'user', content: 'slow' }] }, 'slow').catch(() => 'cut');
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await s.close();
    expect(await pending).toBe('cut');
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('serve-stub limits', () => {
  const hi = [{ role: 'user', content: 'hi' }];

  it('refuses a max_tokens or max_completion_tokens above the limit with an OpenAI-style 400, and keeps serving', async () => {
    await withServer({ baseline: FAST }, async (s) => {
      for (const field of ['max_tokens', 'max_completion_tokens']) {
        for (const v of [1e12, MAX_ANSWER_TOKENS + 1]) {
          const res = await post(s.url, { messages: hi, [field]: v }, `big-${field}-${v}`);
          expect(res.status).toBe(400);
          expect(await res.json()).toEqual({
            error: { message: `${field} is too large: ${v}. The stub answers at most ${MAX_ANSWER_TOKENS} completion tokens.`, type: 'invalid_request_error', param: field, code: 'invalid_value' },
          });
        }
      }
      // A number JSON cannot hold finitely is too large as well.
      const raw = `{"messages":${JSON.stringify(hi)},"max_tokens":1e999}`;
      const inf = await fetch(`${s.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      expect(inf.status).toBe(400);
      expect((await inf.json()).error.param).toBe('max_tokens');

      const after = await post(s.url, { messages: hi, max_tokens: 20 }, 'after');
      expect(after.status).toBe(200);
      expect((await after.json()).usage.completion_tokens).toBe(20);
    });
  });

  it('refuses a max_tokens that is not a whole number of at least 1 (as OpenAI does), and takes null as none', async () => {
    await withServer({ baseline: FAST }, async (s) => {
      for (const v of ['20', -5, 0, 2.5, true]) {
        const res = await post(s.url, { messages: hi, max_tokens: v }, `odd-${String(v)}`);
        expect(res.status, String(v)).toBe(400);
        expect(await res.json()).toEqual({
          error: { message: `max_tokens must be a whole number of at least 1, got ${JSON.stringify(v)}`, type: 'invalid_request_error', param: 'max_tokens', code: 'invalid_value' },
        });
      }
      expect((await post(s.url, { messages: hi, max_tokens: null }, 'null-max')).status).toBe(200);
    });
  });

  it('bounds the answer text at the limit while usage reports the whole count', async () => {
    await withServer({ baseline: FAST, candidate: { output_length: 4 } }, async (s) => {
      const res = await post(s.url, { messages: hi, max_tokens: MAX_ANSWER_TOKENS }, 'at-limit');
      expect(res.status).toBe(200);
      const j = await res.json();
      expect(j.usage.completion_tokens).toBe(4 * MAX_ANSWER_TOKENS);
      expect(j.choices[0].message.content.length).toBeLessThanOrEqual(MAX_ANSWER_TOKENS * 4);
      expect(j.choices[0].message.content.length).toBeGreaterThan(MAX_ANSWER_TOKENS * 4 - 20);
    });
  });

  it('waits a latency beyond what one timer can take, without the overflow warning or an early answer', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      await withServer({ baseline: { latency_ms: { p50: 2 * MAX_TIMER_MS, p99: 2 * MAX_TIMER_MS } } }, async (s) => {
        const res = await fetch(`${s.url}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ messages: hi }),
          signal: AbortSignal.timeout(300),
        }).then(
          (r) => r.status,
          (err: Error) => err.name,
        );
        expect(res).toBe('TimeoutError');
      });
      await new Promise((r) => setImmediate(r));
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('text helpers behind the HTTP paths', () => {
  it('fillerPrompt gives that many words of the cycle, as one word at a time would', () => {
    const words = ['the', 'of', 'and', 'to', 'in', 'is', 'that', 'for', 'it', 'as', 'with', 'was', 'on', 'be', 'at', 'by', 'this', 'not', 'are', 'from'];
    for (const n of [0.2, 1, 2, 19, 20, 21, 39, 40, 41, 64, 137, 1000]) {
      const k = Math.max(1, Math.round(n));
      expect(fillerPrompt(n)).toBe(Array.from({ length: k }, (_, i) => words[i % words.length]).join(' '));
    }
  });

  it('parsedJsonInput of a parsed value is parseInput of its text', () => {
    const cases: unknown[] = [
      [{ role: 'user', content: 'hi' }],
      [{ role: 'system', content: 'brief' }, { role: 'user', content: [{ type: 'text', text: 'a' }] }],
      { messages: [{ role: 'user', content: 'wrapped' }], model: 'x' },
      [{ content: 'no role' }],
      [1, 2],
      { not: 'messages' },
    ];
    for (const v of cases) {
      const text = JSON.stringify(v);
      expect(parsedJsonInput(v, text)).toEqual(parseInput(text));
    }
  });
});
