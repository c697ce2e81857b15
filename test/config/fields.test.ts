import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { finite, multiplier, quantilePair, rate } from '../../src/config/fields.js';

/** The shared field builders: what each accepts, what it fills in when absent, and what it says about itself. */

const ok = (schema: z.ZodType, value: unknown) => schema.safeParse(value);

describe('finite', () => {
  it.each([0, -3.5, 1e300, Number.MIN_VALUE])('accepts %s', (x) => {
    expect(ok(finite(), x)).toEqual({ success: true, data: x });
  });

  it.each([NaN, Infinity, -Infinity, '1', null, undefined])('rejects %s', (x) => {
    expect(ok(finite(), x).success).toBe(false);
  });
});

describe('rate', () => {
  const schema = rate('Share of requests that fail.');

  it('defaults to 0 when absent', () => {
    expect(schema.parse(undefined)).toBe(0);
    expect(z.object({ r: schema }).parse({})).toEqual({ r: 0 });
  });

  it.each([0, 0.25, 1])('accepts %s, the closed interval [0, 1]', (x) => {
    expect(schema.parse(x)).toBe(x);
  });

  it.each([-0.01, 1.01, 2, NaN, Infinity, '0.5'])('rejects %s', (x) => {
    expect(ok(schema, x).success).toBe(false);
  });

  it('describes itself with the caller’s words and its range', () => {
    expect(schema.description).toBe('Share of requests that fail. A probability in [0, 1]. Default 0.');
  });

  it('reports a value above 1 as too big with maximum 1, inclusive', () => {
    const r = ok(schema, 1.5);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]).toMatchObject({ code: 'too_big', maximum: 1, inclusive: true });
  });
});

describe('multiplier', () => {
  const schema = multiplier('Latency.');

  it('defaults to 1, leaving the baseline unchanged', () => {
    expect(schema.parse(undefined)).toBe(1);
  });

  it.each([0, 1, 1.25, 40])('accepts %s (no upper bound)', (x) => {
    expect(schema.parse(x)).toBe(x);
  });

  it.each([-0.5, -1, NaN, Infinity])('rejects %s', (x) => {
    expect(ok(schema, x).success).toBe(false);
  });

  it('describes itself as a multiplier with default 1', () => {
    expect(schema.description).toBe('Latency. A multiplier on the baseline: 1 (the default) leaves it unchanged, 1.25 is 25% more.');
  });
});

describe('quantilePair', () => {
  const schema = quantilePair('Latency in ms.', 800, 4000);

  it('defaults to the given median and 99th percentile', () => {
    expect(schema.parse(undefined)).toEqual({ p50: 800, p99: 4000 });
  });

  it('accepts p99 above p50, and equal (a constant)', () => {
    expect(schema.parse({ p50: 10, p99: 50 })).toEqual({ p50: 10, p99: 50 });
    expect(schema.parse({ p50: 10, p99: 10 })).toEqual({ p50: 10, p99: 10 });
  });

  it('refuses p99 below p50, located on p99', () => {
    const r = ok(schema, { p50: 10, p99: 9 });
    expect(r.success).toBe(false);
    expect(r.error!.issues).toHaveLength(1);
    expect(r.error!.issues[0]).toMatchObject({ path: ['p99'], message: 'p99 must be at least p50' });
  });

  it.each([
    [{ p50: 0, p99: 10 }, ['p50']],
    [{ p50: 10, p99: -1 }, ['p99']],
    [{ p50: 10 }, ['p99']],
    [{ p50: NaN, p99: 10 }, ['p50']],
  ])('refuses %j at %j (both must be finite and above 0)', (value, at) => {
    const r = ok(schema, value);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(at);
  });

  it('refuses an unknown key', () => {
    const r = ok(schema, { p50: 10, p99: 20, p90: 15 });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['p90'] });
  });

  it('describes itself with its default', () => {
    expect(schema.description).toBe('Latency in ms. A lognormal distribution through its median and 99th percentile. Default { p50: 800, p99: 4000 }.');
  });
});
