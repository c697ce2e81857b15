import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/issues.js';
import { HttpFileSchema, ModuleFileSchema, StubFileSchema, TARGET_KINDS, targetJsonSchemas } from '../../src/targets/schema.js';
import { MAX_ANSWER_TOKENS } from '../../src/targets/stub.js';

type JsonSchema = { description?: string; default?: unknown; properties?: Record<string, JsonSchema>; anyOf?: JsonSchema[]; additionalProperties?: unknown; title?: string; $schema?: string };

/** Every property of a JSON Schema, nested ones included, as [dotted path, schema]. */
function properties(s: JsonSchema, prefix = ''): [string, JsonSchema][] {
  const out: [string, JsonSchema][] = [];
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    out.push([prefix + k, v]);
    out.push(...properties(v, `${prefix}${k}.`));
    for (const alt of v.anyOf ?? []) out.push(...properties(alt, `${prefix}${k}.`));
  }
  return out;
}

/** The ConfigError parsing `data` raises: `file: field: problem`. */
function rejection(schema: z.ZodType, data: unknown): ConfigError {
  try {
    parseConfig(schema, data, 'target.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`accepted ${JSON.stringify(data)}`);
}

function expectRejected(schema: z.ZodType, data: unknown, field: string, problem: string | RegExp): void {
  const e = rejection(schema, data);
  expect(e.field, JSON.stringify(data)).toBe(field);
  expect(e.file).toBe('target.yaml');
  if (typeof problem === 'string') expect(e.message).toBe(`target.yaml: ${field}: ${problem}`);
  else expect(e.problem).toMatch(problem);
}

describe('the target JSON Schemas', () => {
  const schemas = targetJsonSchemas() as Record<string, JsonSchema>;

  it('come as three files, titled, in draft 2020-12, refusing unknown fields', () => {
    expect(TARGET_KINDS).toEqual(['stub', 'http', 'module']);
    expect(Object.keys(schemas)).toEqual(['stub.schema.json', 'http-target.schema.json', 'module-target.schema.json']);
    expect(Object.values(schemas).map((s) => s.title)).toEqual(['rehearse stub target', 'rehearse http target', 'rehearse module target']);
    for (const s of Object.values(schemas)) {
      expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(s.additionalProperties).toBe(false);
      expect(s.description).toBeTruthy();
    }
  });

  it('describe every field, nested ones included', () => {
    for (const [file, s] of Object.entries(schemas)) {
      const props = properties(s);
      expect(props.length, file).toBeGreaterThan(10);
      for (const [field, p] of props) expect(p.description, `${file}: ${field}`).toMatch(/\S{2,}/);
    }
    // Spot checks that nested fields are reached.
    const stub = new Map(properties(schemas['stub.schema.json']!));
    for (const f of ['candidate.latency_tail', 'baseline.latency_ms.p99', 'refusal.finish_reason', 'serve.retry_after', 'price.output_per_million']) expect(stub.has(f), f).toBe(true);
    expect(new Map(properties(schemas['http-target.schema.json']!)).has('retry.max_delay')).toBe(true);
  });

  it('state the limit serve-stub and the stub apply to answers, as the code has it', () => {
    const stub = new Map(properties(schemas['stub.schema.json']!));
    expect(stub.get('baseline.output_tokens')!.description).toContain(`refuses a max_tokens above ${MAX_ANSWER_TOKENS} with HTTP 400`);
    expect(stub.get('candidate.output_length')!.description).toContain(`text stops at ${MAX_ANSWER_TOKENS} tokens`);
  });

  it('state in each description the default the loader applies', () => {
    let checked = 0;
    for (const [file, s] of Object.entries(schemas)) {
      for (const [field, p] of properties(s)) {
        if (!('default' in p)) continue;
        const d = p.default;
        const where = `${file}: ${field}`;
        if (d !== null && typeof d === 'object') {
          // A quantile pair states both numbers; an empty mapping leaves it to the nested fields.
          for (const [k, v] of Object.entries(d)) expect(p.description, where).toContain(`${k}: ${v}`);
          continue;
        }
        expect(p.description, where).toMatch(/default/i);
        expect(p.description, where).toContain(String(d));
        checked++;
      }
    }
    // Scalar defaults: 20 in the stub file (model, seed, the 7 candidate multipliers, 2 baseline
    // rates, 2 prices, nondeterminism, ttft_share, inject, 2 refusal fields, 2 serve fields), 10 in
    // the http file (stream, 3 timeouts, 4 retry fields, max_tokens_field, send_request_id), 3 in
    // the module file (timeout, timeout_floor, timeout_fallback).
    expect(checked).toBe(33);
  });
});

describe('defaults', () => {
  it('a bare stub file gets every default its descriptions give', () => {
    expect(parseConfig(StubFileSchema, { kind: 'stub' }, 'stub.yaml')).toEqual({
      kind: 'stub',
      model: 'rehearse-stub',
      seed: 1,
      candidate: { latency: 1, latency_tail: 1, output_length: 1, price: 1, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 },
      baseline: {
        latency_ms: { p50: 800, p99: 4000 },
        output_tokens: { p50: 300, p99: 1500 },
        input_tokens: { p50: 1000, p99: 6000 },
        error_rate: 0,
        refusal_rate: 0,
      },
      price: { input_per_million: 0.5, output_per_million: 1.5 },
      nondeterminism: 0,
      ttft_share: 0.2,
      inject: 'virtual',
      refusal: { text: "I can't help with that.", finish_reason: 'content_filter' },
      serve: { rate_limit_rate: 0, retry_after: '1s' },
    });
  });

  it('a partly given block keeps the defaults of the fields it leaves out', () => {
    const s = parseConfig(StubFileSchema, { kind: 'stub', candidate: { price: 1.25 }, baseline: { error_rate: 0.1 }, price: { output_per_million: 3 }, refusal: { finish_reason: 'stop' } }, 'stub.yaml');
    expect(s.candidate).toEqual({ latency: 1, latency_tail: 1, output_length: 1, price: 1.25, error_rate: 1, refusal_rate: 1, thumbs_down_rate: 1 });
    expect(s.baseline.error_rate).toBe(0.1);
    expect(s.baseline.latency_ms).toEqual({ p50: 800, p99: 4000 });
    expect(s.price).toEqual({ input_per_million: 0.5, output_per_million: 3 });
    expect(s.refusal).toEqual({ text: "I can't help with that.", finish_reason: 'stop' });
  });

  it('a bare http file gets every default; model, key, connections and price stay unset', () => {
    const h = parseConfig(HttpFileSchema, { kind: 'http', url: 'http://127.0.0.1:8000/v1' }, 'http.yaml');
    expect(h).toEqual({
      kind: 'http',
      url: 'http://127.0.0.1:8000/v1',
      headers: {},
      stream: false,
      timeout: '60s',
      timeout_floor: '1s',
      timeout_fallback: '60s',
      retry: { max_attempts: 5, max_wait: '60s', base_delay: '500ms', max_delay: '30s' },
      max_tokens_field: 'max_tokens',
      params: {},
      send_request_id: true,
    });
  });

  it('a bare module file gets options {}, the 60s timeout of HTTP targets, and the timeout floor and fallback', () => {
    expect(parseConfig(ModuleFileSchema, { kind: 'module', module: 'mods/m.mjs' }, 'module.yaml')).toEqual({
      kind: 'module',
      module: 'mods/m.mjs',
      options: {},
      timeout: '60s',
      timeout_floor: '1s',
      timeout_fallback: '60s',
    });
  });

  it('accepts every documented form of a timeout and a duration', () => {
    for (const timeout of ['30s', '1500ms', '1m30s', ' 2m ', '3x', '2.5x', '1.5 x', 1500, 0.5]) {
      expect(parseConfig(HttpFileSchema, { kind: 'http', url: 'https://api.example.com/v1', timeout }, 'h.yaml').timeout).toBe(timeout);
      expect(parseConfig(ModuleFileSchema, { kind: 'module', module: 'm.mjs', timeout }, 'm.yaml').timeout).toBe(timeout);
    }
    // Only a module may have no timeout.
    expect(parseConfig(ModuleFileSchema, { kind: 'module', module: 'm.mjs', timeout: 'none' }, 'm.yaml').timeout).toBe('none');
    for (const d of ['500ms', '1h', '1d', '1.5s', '1m 30s']) {
      expect(parseConfig(HttpFileSchema, { kind: 'http', url: 'http://h/v1', retry: { max_wait: d } }, 'h.yaml').retry.max_wait).toBe(d);
    }
  });
});

describe('bad values are refused, naming the field', () => {
  const stub = (fields: Record<string, unknown>) => ({ kind: 'stub', ...fields });
  const http = (fields: Record<string, unknown>) => ({ kind: 'http', url: 'http://127.0.0.1:8000/v1', ...fields });
  const mod = (fields: Record<string, unknown>) => ({ kind: 'module', module: 'm.mjs', ...fields });

  it('stub files', () => {
    expectRejected(StubFileSchema, stub({ seed: -1 }), 'seed', 'must be at least 0');
    expectRejected(StubFileSchema, stub({ seed: 1.5 }), 'seed', /integer/);
    expectRejected(StubFileSchema, stub({ model: '' }), 'model', 'must not be empty');
    expectRejected(StubFileSchema, stub({ candidate: { latency: -0.5 } }), 'candidate.latency', 'must be at least 0');
    expectRejected(StubFileSchema, stub({ candidate: { latncy: 2 } }), 'candidate.latncy', 'unknown field (check the spelling; see schema/)');
    expectRejected(StubFileSchema, stub({ latency: 2 }), 'latency', 'unknown field (check the spelling; see schema/)');
    expectRejected(StubFileSchema, stub({ baseline: { latency_ms: { p50: 800, p99: 400 } } }), 'baseline.latency_ms.p99', 'p99 must be at least p50');
    expectRejected(StubFileSchema, stub({ baseline: { output_tokens: { p50: 0, p99: 10 } } }), 'baseline.output_tokens.p50', 'must be greater than 0');
    expectRejected(StubFileSchema, stub({ baseline: { error_rate: 1.5 } }), 'baseline.error_rate', 'must be at most 1');
    expectRejected(StubFileSchema, stub({ ttft_share: 0 }), 'ttft_share', 'must be greater than 0');
    expectRejected(StubFileSchema, stub({ ttft_share: 1.01 }), 'ttft_share', 'must be at most 1');
    expectRejected(StubFileSchema, stub({ nondeterminism: -0.1 }), 'nondeterminism', 'must be at least 0');
    expectRejected(StubFileSchema, stub({ nondeterminism: Infinity }), 'nondeterminism', /number/);
    expectRejected(StubFileSchema, stub({ inject: 'fake' }), 'inject', 'must be one of virtual, real, got the text "fake"');
    expectRejected(StubFileSchema, stub({ refusal: { finish_reason: 'length' } }), 'refusal.finish_reason', 'must be one of content_filter, stop, got the text "length"');
    expectRejected(StubFileSchema, stub({ refusal: { text: '' } }), 'refusal.text', 'must not be empty');
    expectRejected(StubFileSchema, stub({ price: { input_per_million: 'cheap' } }), 'price.input_per_million', 'must be a number, got the text "cheap"');
    expectRejected(StubFileSchema, stub({ serve: { retry_after: 'soon' } }), 'serve.retry_after', 'must be a duration such as 500ms, 30s, 2m or 1m30s');
    expectRejected(StubFileSchema, stub({ serve: { rate_limit_rate: -0.1 } }), 'serve.rate_limit_rate', 'must be at least 0');
    expectRejected(StubFileSchema, { kind: 'http' }, 'kind', 'must be stub, got the text "http"');
    expectRejected(StubFileSchema, stub({ candidate: [1] }), 'candidate', 'must be a mapping, got a list');
  });

  it('http files', () => {
    const TIMEOUT = "must be a duration such as 30s or 1500ms, a number of milliseconds, or a multiple of the trace's own latency such as 3x";
    expectRejected(HttpFileSchema, { kind: 'http' }, 'url', 'is required');
    for (const url of ['ftp://example.com/v1', 'not a url', 'file:///etc/passwd']) {
      expectRejected(HttpFileSchema, { kind: 'http', url }, 'url', 'must be an http:// or https:// URL such as http://127.0.0.1:8000/v1');
    }
    expectRejected(HttpFileSchema, http({ api_key_env: 'sk-123abc' }), 'api_key_env', 'must be the name of an environment variable (letters, digits and _), not the key itself');
    for (const timeout of ['forever', '3', 'x3', '', true, 'none']) expectRejected(HttpFileSchema, http({ timeout }), 'timeout', TIMEOUT);
    // A number is milliseconds: it must be above 0.
    for (const timeout of [0, -5]) expectRejected(HttpFileSchema, http({ timeout }), 'timeout', 'must be greater than 0');
    expectRejected(HttpFileSchema, http({ timeout_floor: '3x' }), 'timeout_floor', 'must be a duration such as 500ms, 30s, 2m or 1m30s');
    expectRejected(HttpFileSchema, http({ retry: { max_attempts: 0 } }), 'retry.max_attempts', 'must be at least 1');
    expectRejected(HttpFileSchema, http({ retry: { base_delay: '1 minute' } }), 'retry.base_delay', 'must be a duration such as 500ms, 30s, 2m or 1m30s');
    expectRejected(HttpFileSchema, http({ retry: { tries: 3 } }), 'retry.tries', 'unknown field (check the spelling; see schema/)');
    expectRejected(HttpFileSchema, http({ connections: 0 }), 'connections', 'must be at least 1');
    expectRejected(HttpFileSchema, http({ connections: 2.5 }), 'connections', /integer/);
    expectRejected(HttpFileSchema, http({ max_tokens_field: 'max_output_tokens' }), 'max_tokens_field', 'must be one of max_tokens, max_completion_tokens, got the text "max_output_tokens"');
    expectRejected(HttpFileSchema, http({ headers: { 'x-team': 1 } }), 'headers.x-team', 'must be a string, got number 1');
    expectRejected(HttpFileSchema, http({ stream: 'yes' }), 'stream', 'must be a boolean, got the text "yes"');
    expectRejected(HttpFileSchema, http({ price: { input_per_million: 1 } }), 'price.output_per_million', 'is required');
    expectRejected(HttpFileSchema, http({ price: { input_per_million: -1, output_per_million: 1 } }), 'price.input_per_million', 'must be at least 0');
    expectRejected(HttpFileSchema, http({ send_request_id: 1 }), 'send_request_id', 'must be a boolean, got number 1');
  });

  it('module files', () => {
    expectRejected(ModuleFileSchema, { kind: 'module' }, 'module', 'is required');
    expectRejected(ModuleFileSchema, mod({ module: '' }), 'module', 'must not be empty');
    expectRejected(ModuleFileSchema, mod({ export: '' }), 'export', 'must not be empty');
    expectRejected(ModuleFileSchema, mod({ options: ['a'] }), 'options', 'must be a mapping, got a list');
    expectRejected(
      ModuleFileSchema,
      mod({ timeout: 'soon' }),
      'timeout',
      "must be a duration such as 30s or 1500ms, a number of milliseconds, a multiple of the trace's own latency such as 3x, or none",
    );
    expectRejected(ModuleFileSchema, mod({ timeout: 0 }), 'timeout', 'must be greater than 0');
    expectRejected(ModuleFileSchema, mod({ url: 'http://x/v1' }), 'url', 'unknown field (check the spelling; see schema/)');
    expectRejected(ModuleFileSchema, mod({ name: '' }), 'name', 'must not be empty');
  });
});
