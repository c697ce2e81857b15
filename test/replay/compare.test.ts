import { describe, expect, it } from 'vitest';
import { OutputSchema, costOf, isRefusal, refusalDetector, similarity } from '../../src/replay/compare.js';
import { dueOffsetMs } from '../../src/replay/pacing.js';

describe('refusal detection', () => {
  const d = refusalDetector(['\\bout of scope\\b']);
  it.each([
    ["I'm sorry, but I can't help with that.", true],
    ['I cannot assist with this request.', true],
    ['As an AI language model, I cannot browse the web.', true],
    ['That question is out of scope for this assistant.', true],
    ['Here is the SQL you asked for: SELECT 1;', false],
    ['You can call the API with curl.', false],
  ])('%s → %s', (text, refused) => {
    expect(isRefusal(d, text, 'stop')).toBe(refused);
  });
  it('counts content_filter as a refusal whatever the text', () => {
    expect(isRefusal(d, 'Sure!', 'content_filter')).toBe(true);
    expect(isRefusal(d, null, null)).toBe(false);
  });
});

describe('similarity', () => {
  it('is the Jaccard index of the word sets', () => {
    expect(similarity('the cat sat', 'the cat sat')).toBe(1);
    // {the, cat, sat} vs {the, dog, sat}: 2 shared of 4 distinct.
    expect(similarity('The cat sat', 'the dog sat.')).toBe(0.5);
    expect(similarity('alpha', 'beta')).toBe(0);
  });

  it('cuts words as Unicode letters and digits do, whether or not the text is ASCII', () => {
    // The definition, written independently: Jaccard of the lower-cased \p{L}\p{N} runs.
    const reference = (a: string, b: string) => {
      const words = (t: string) => new Set(t.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
      const wa = words(a);
      const wb = words(b);
      if (wa.size + wb.size === 0) return 1;
      const shared = [...wa].filter((w) => wb.has(w)).length;
      return shared / (wa.size + wb.size - shared);
    };
    const texts = ['', '...', 'a_b c-d', "don't DON'T", 'x9Y 9 09', 'Café naïve', 'cafe CAFÉ', 'İstanbul istanbul', '\u212Aelvin kelvin', 'tab\there\nnew', '日本語 テキスト', 'e\u0301 é', '  end ', 'A'];
    for (const a of texts) for (const b of texts) expect(similarity(a, b)).toBe(reference(a, b));
    expect(similarity('', '')).toBe(1);
    // {a, b, c, d} vs {a, b}: the underscore and the hyphen cut words.
    expect(similarity('a_b c-d', 'A B')).toBe(0.5);
  });
});

describe('output schema', () => {
  it('accepts valid JSON, fenced or not, and rejects the rest', async () => {
    const schema = await OutputSchema.compile({ type: 'object', required: ['answer'], properties: { answer: { type: 'string' } } });
    expect(schema.check('{"answer": "42"}')).toBe(true);
    expect(schema.check('```json\n{"answer": "42"}\n```')).toBe(true);
    expect(schema.check('{"answer": 42}')).toBe(false);
    expect(schema.check('not json')).toBe(false);
    expect(schema.check(null)).toBe(false);
  });
});

describe('cost and pacing', () => {
  it('prices tokens per million', () => {
    expect(costOf(1000, 300, 0.5, 1.5)).toBeCloseTo(0.00095, 15);
    expect(costOf(null, 300, 0.5, 1.5)).toBeNull();
  });
  it('paces by the trace clock, a fixed rate, or not at all', () => {
    expect(dueOffsetMs({ kind: 'speed', factor: 10 }, 5, 61_000, 1_000)).toBe(6_000);
    expect(dueOffsetMs({ kind: 'rate', perSecond: 50 }, 100, 0, 0)).toBe(2_000);
    expect(dueOffsetMs({ kind: 'max' }, 100, 9e9, 0)).toBe(0);
  });
});
