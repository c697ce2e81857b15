import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/stats/random.js';
import {
  CHARS_PER_TOKEN,
  estimateTokens,
  fillerPrompt,
  inputText,
  madeUpAnswer,
  parseInput,
  parsedJsonInput,
} from '../../src/targets/text.js';

describe('parseInput', () => {
  it('reads null, undefined, empty and blank input as none', () => {
    expect(parseInput(null)).toEqual({ kind: 'none' });
    expect(parseInput(undefined)).toEqual({ kind: 'none' });
    expect(parseInput('')).toEqual({ kind: 'none' });
    expect(parseInput(' \n\t ')).toEqual({ kind: 'none' });
  });

  it('keeps plain text as it is, untrimmed', () => {
    expect(parseInput('What is 2+2?')).toEqual({ kind: 'text', text: 'What is 2+2?' });
    expect(parseInput('  padded  ')).toEqual({ kind: 'text', text: '  padded  ' });
  });

  it('reads a JSON list of role messages as messages, even after leading whitespace', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ];
    expect(parseInput(JSON.stringify(messages))).toEqual({ kind: 'messages', messages });
    expect(parseInput('\n  ' + JSON.stringify(messages))).toEqual({ kind: 'messages', messages });
  });

  it('reads an OpenAI request body by its messages list', () => {
    const messages = [{ role: 'user', content: 'Hi', name: 'ann' }];
    const body = JSON.stringify({ model: 'gpt-x', temperature: 0, messages });
    expect(parseInput(body)).toEqual({ kind: 'messages', messages });
  });

  it('falls back to the whole text for bracketed input that is not a message list', () => {
    for (const s of [
      '[not json at all',
      '{"model": "gpt-x"}',
      '[]',
      '[1, 2, 3]',
      '[{"content": "no role"}]',
      '[{"role": 7, "content": "role not a string"}]',
      '[{"role": "user"}, null]',
      '[["role", "user"]]',
      '{"messages": []}',
      '{"messages": "hi"}',
    ]) {
      expect(parseInput(s)).toEqual({ kind: 'text', text: s });
    }
  });
});

describe('parsedJsonInput', () => {
  it('classifies an already-parsed value, keeping the original text for the text case', () => {
    const messages = [{ role: 'user', content: 'x' }];
    expect(parsedJsonInput(messages, 'ignored')).toEqual({ kind: 'messages', messages });
    expect(parsedJsonInput({ messages }, 'ignored')).toEqual({ kind: 'messages', messages });
    expect(parsedJsonInput(42, '42')).toEqual({ kind: 'text', text: '42' });
    expect(parsedJsonInput(null, 'null')).toEqual({ kind: 'text', text: 'null' });
  });
});

describe('inputText', () => {
  it('is empty for none and the text itself for text', () => {
    expect(inputText({ kind: 'none' })).toBe('');
    expect(inputText({ kind: 'text', text: 'abc' })).toBe('abc');
  });

  it('joins the messages’ text by newlines, taking text parts and skipping contentless messages', () => {
    const parsed = parseInput(
      JSON.stringify([
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look at' },
            { type: 'image_url', image_url: { url: 'http://x/y.png' } },
            { type: 'text', text: 'this.' },
          ],
        },
        { role: 'assistant', tool_calls: [{ id: 't1' }] },
        { role: 'tool', content: 42 },
        { role: 'user', content: '' },
        { role: 'user', content: 'Thanks' },
      ]),
    );
    expect(parsed.kind).toBe('messages');
    // 'Be brief.' + the two text parts (themselves newline-joined) + 'Thanks'; the assistant has no
    // content, the tool content is not text, and the empty string is dropped.
    expect(inputText(parsed)).toBe('Be brief.\nLook at\nthis.\nThanks');
  });
});

describe('estimateTokens', () => {
  it('is ceil(characters / 4), at least 1', () => {
    expect(CHARS_PER_TOKEN).toBe(4);
    expect(estimateTokens('')).toBe(1);
    expect(estimateTokens('a')).toBe(1);
    expect(estimateTokens('abcd')).toBe(1);
    expect(estimateTokens('abcde')).toBe(2);
    expect(estimateTokens('x'.repeat(4000))).toBe(1000);
    expect(estimateTokens('x'.repeat(4001))).toBe(1001);
  });
});

describe('fillerPrompt', () => {
  // The 20 filler words, in the module's order.
  const WORDS = 'the of and to in is that for it as with was on be at by this not are from'.split(' ');

  it('is the first n filler words for small n', () => {
    expect(fillerPrompt(1)).toBe('the');
    expect(fillerPrompt(3)).toBe('the of and');
    expect(fillerPrompt(20)).toBe(WORDS.join(' '));
  });

  it('cycles through the list past 20 words, single-spaced, with no trailing space', () => {
    expect(fillerPrompt(21)).toBe(WORDS.join(' ') + ' the');
    expect(fillerPrompt(40)).toBe([...WORDS, ...WORDS].join(' '));
    for (const n of [1, 2, 19, 20, 21, 39, 40, 41, 57, 100, 1234]) {
      const p = fillerPrompt(n);
      const words = p.split(' ');
      expect(words).toHaveLength(n);
      // Word i is WORDS[i mod 20].
      words.forEach((w, i) => expect(w).toBe(WORDS[i % WORDS.length]));
      expect(p).toBe(p.trim());
    }
  });

  it('rounds fractional counts and gives at least one word', () => {
    expect(fillerPrompt(2.6).split(' ')).toHaveLength(3);
    expect(fillerPrompt(2.4).split(' ')).toHaveLength(2);
    expect(fillerPrompt(0)).toBe('the');
    expect(fillerPrompt(-5)).toBe('the');
  });
});

describe('madeUpAnswer', () => {
  const ANSWER_WORDS = new Set(
    (
      'the model answer request data result value system user time first second because which should would could output input ' +
      'token latency service response simple example step then also more less each every where when this that with from into over ' +
      'under about after before config file table query test check change release canary traffic stage gate number share rate cost price'
    ).split(' '),
  );

  it('is deterministic for a given stream and varies between streams', () => {
    const a = madeUpAnswer(new Rng('text-test:1'), 80);
    const b = madeUpAnswer(new Rng('text-test:1'), 80);
    const c = madeUpAnswer(new Rng('text-test:2'), 80);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('is between 4·tokens − 2 and 4·tokens characters, ends with a full stop and starts a sentence', () => {
    // The words are joined by single spaces until the text reaches the 4·tokens target; the cut at
    // target − 1 characters loses at most a trailing space, then one full stop is added.
    for (let seed = 0; seed < 40; seed++) {
      for (const tokens of [1, 2, 5, 13, 50, 300]) {
        const text = madeUpAnswer(new Rng(`text-test:len:${seed}`), tokens);
        const target = tokens * 4;
        expect(text.length).toBeLessThanOrEqual(target);
        expect(text.length).toBeGreaterThanOrEqual(target - 2);
        expect(text.endsWith('.')).toBe(true);
        expect(text.endsWith('..')).toBe(false);
        expect(text[0]).toMatch(/[A-Z]/);
      }
    }
  });

  it('treats zero, negative and fractional token counts as rounded, at least 1', () => {
    // round(0) → 1 token → 4 characters at most, still a non-empty answer.
    const zero = madeUpAnswer(new Rng('text-test:zero'), 0);
    expect(zero.length).toBeGreaterThanOrEqual(2);
    expect(zero.length).toBeLessThanOrEqual(4);
    expect(madeUpAnswer(new Rng('text-test:neg'), -10).length).toBeLessThanOrEqual(4);
    // 2.6 rounds to 3 tokens: 10 to 12 characters.
    const frac = madeUpAnswer(new Rng('text-test:frac'), 2.6);
    expect(frac.length).toBeGreaterThanOrEqual(10);
    expect(frac.length).toBeLessThanOrEqual(12);
  });

  it('writes sentences of 6 to 14 known words, each capitalised', () => {
    const text = madeUpAnswer(new Rng('text-test:sentences'), 2000);
    const sentences = text.slice(0, -1).split('. ');
    // All but the last sentence are complete (the last may be cut at the length limit).
    expect(sentences.length).toBeGreaterThan(20);
    for (const s of sentences.slice(0, -1)) {
      const words = s.split(' ');
      expect(words.length).toBeGreaterThanOrEqual(6);
      expect(words.length).toBeLessThanOrEqual(14);
      expect(words[0]![0]).toMatch(/[A-Z]/);
      for (const w of words.slice(1)) expect(w).toMatch(/^[a-z]+$/);
      for (const w of words) expect(ANSWER_WORDS.has(w.toLowerCase())).toBe(true);
    }
  });
});
