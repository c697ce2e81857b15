import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { targetJsonSchemas } from '../../src/targets/schema.js';
import { StubTarget } from '../../src/targets/stub.js';
import { loadTarget } from '../../src/targets/target.js';
import { request } from './helpers.js';

const examples = path.resolve(import.meta.dirname, '../../examples/targets');

describe('example target files', () => {
  it('the stub charges 1.4x and answers 30% longer', async () => {
    const t = await loadTarget(path.join(examples, 'stub-pricier-longer.yaml'));
    expect(t).toBeInstanceOf(StubTarget);
    expect((t as StubTarget).config.candidate).toMatchObject({ price: 1.4, output_length: 1.3, latency: 1 });
    const rs = await Promise.all(Array.from({ length: 2000 }, (_, i) => t.call(request(`e-${i}`))));
    const ok = rs.filter((r) => r.status === 'ok');
    const meanOut = ok.reduce((a, r) => a + r.output_tokens!, 0) / ok.length;
    expect(Math.abs(meanOut / 300 - 1.3)).toBeLessThan(0.01); // nondeterminism 0.05: SE ≈ 0.0011
  });

  it('the module target answers', async () => {
    const t = await loadTarget(path.join(examples, 'module-target.yaml'));
    const r = await t.call(request('e-1', { input: 'hello', output_tokens: 100, latency_ms: 1000 }));
    expect(r).toMatchObject({ status: 'ok', output_tokens: 80, latency_ms: 900, finish_reason: 'stop' });
    expect(r.cost_usd).toBeCloseTo((1000 * 0.5 + 80 * 1.5) / 1e6, 15);
    await t.close();
  });

  it('the http target loads once its key variable is set', async () => {
    delete process.env.CANDIDATE_API_KEY;
    await expect(loadTarget(path.join(examples, 'http-target.yaml'))).rejects.toThrow(/api_key_env: the environment variable CANDIDATE_API_KEY is not set/);
    process.env.CANDIDATE_API_KEY = 'sk-example';
    const t = await loadTarget(path.join(examples, 'http-target.yaml'));
    expect(t.kind).toBe('http');
    expect(t.label).toBe('candidate-vllm');
    await t.close();
    delete process.env.CANDIDATE_API_KEY;
  });

  it('the target schemas export as JSON Schema with every field described', () => {
    const schemas = targetJsonSchemas() as Record<string, { properties: Record<string, { description?: string }> }>;
    expect(Object.keys(schemas)).toEqual(['stub.schema.json', 'http-target.schema.json', 'module-target.schema.json']);
    for (const s of Object.values(schemas)) {
      for (const [field, p] of Object.entries(s.properties)) expect(p.description, field).toBeTruthy();
    }
  });
});
