import { describe, expect, it } from 'vitest';
import { ConfigError, UserError } from '../../src/config/errors.js';
import type { CanonicalColumn } from '../../src/traces/canonical.js';
import { checkRequired, mapUnits, normaliseMap, parseMap, resolveMapping } from '../../src/traces/mapping.js';

const FILE = 'traces/prod.csv';

/** The resolved mapping as `canonical ← source (via)` lines, in canonical order. */
function summary(columns: string[], map: Map<string, CanonicalColumn> = new Map()): string[] {
  return resolveMapping(FILE, columns, map).entries.map((e) => `${e.column} <- ${e.source} (${e.via})`);
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('parseMap', () => {
  it('parses SRC=dst pairs, ignoring whitespace and empty items', () => {
    expect(parseMap('TIMESTAMP=timestamp,ContextTokens=input_tokens', FILE)).toEqual({ TIMESTAMP: 'timestamp', ContextTokens: 'input_tokens' });
    expect(parseMap(' ts = timestamp ,, dur=latency_ms , ', FILE)).toEqual({ ts: 'timestamp', dur: 'latency_ms' });
    expect(parseMap('', FILE)).toEqual({});
  });

  it('splits at the last `=`, so a source name may contain one', () => {
    expect(parseMap('a=b=latency_ms', FILE)).toEqual({ 'a=b': 'latency_ms' });
  });

  it('refuses an item without a source or a destination, naming the file and the field', () => {
    for (const bad of ['timestamp', '=timestamp', 'ts=', 'ts= ']) {
      const err = thrown(() => parseMap(`dur=latency_ms,${bad}`, FILE));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain(`${FILE}: --map: "${bad.trim()}" is not SRC=dst`);
    }
    const err = thrown(() => parseMap('oops', FILE, 'target.map'));
    expect(err.message.startsWith(`${FILE}: target.map: "oops"`)).toBe(true);
  });

  it('refuses a source mapped twice', () => {
    const err = thrown(() => parseMap('ts=timestamp, ts=latency_ms', FILE));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('source column "ts" is mapped twice');
  });
});

describe('normaliseMap', () => {
  it('is empty without a map', () => {
    expect(normaliseMap(undefined, FILE).size).toBe(0);
  });

  it('takes the command-line text or an object, lower-casing and trimming the canonical names', () => {
    expect([...normaliseMap('ts=TimeStamp,dur= Latency_MS', FILE)]).toEqual([
      ['ts', 'timestamp'],
      ['dur', 'latency_ms'],
    ]);
    expect([...normaliseMap({ ContextTokens: 'input_tokens' }, FILE)]).toEqual([['ContextTokens', 'input_tokens']]);
  });

  it('refuses a destination that is not canonical, listing the canonical columns', () => {
    const err = thrown(() => normaliseMap('dur=duration_ms', FILE));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('"dur=duration_ms": "duration_ms" is not a canonical column');
    expect(err.message).toContain('request_id, timestamp, session_id');
    const obj = thrown(() => normaliseMap({ x: 'row' }, FILE, 'scenario.traffic.map'));
    expect(obj.message.startsWith(`${FILE}: scenario.traffic.map: "x=row"`)).toBe(true);
  });

  it('refuses two sources for one canonical column', () => {
    const err = thrown(() => normaliseMap('a=latency_ms,b=LATENCY_MS', FILE));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('both "a" and "b" are mapped to latency_ms');
  });
});

describe('mapUnits', () => {
  it('reads a time unit after the canonical name, for time columns, leaving milliseconds out', () => {
    const spec = 'Timestamp=timestamp:s, dur=latency_ms : NS,first=ttft_ms:us,gen=output_tokens';
    expect([...mapUnits(spec, FILE)]).toEqual([
      ['timestamp', 's'],
      ['latency_ms', 'ns'],
      ['ttft_ms', 'us'],
    ]);
    expect([...normaliseMap(spec, FILE)].slice(0, 3)).toEqual([
      ['Timestamp', 'timestamp'],
      ['dur', 'latency_ms'],
      ['first', 'ttft_ms'],
    ]);
    expect([...mapUnits('ts=timestamp:ms', FILE)]).toEqual([]);
    expect([...mapUnits({ ts: 'timestamp:s' }, FILE)]).toEqual([['timestamp', 's']]);
  });

  it('refuses an unknown unit, a unit on a column that is not time, and a second colon', () => {
    expect(thrown(() => mapUnits('ts=timestamp:hours', FILE)).message).toBe(`${FILE}: --map: "ts=timestamp:hours": "hours" is not a time unit (one of s, ms, us, ns)`);
    expect(thrown(() => normaliseMap('n=input_tokens:s', FILE)).message).toBe(`${FILE}: --map: "n=input_tokens:s": a unit is for time columns only (timestamp, latency_ms, ttft_ms), not input_tokens`);
    expect(thrown(() => normaliseMap('ts=timestamp:s:ms', FILE)).message).toBe(`${FILE}: --map: "ts=timestamp:s:ms": "s:ms" is not a time unit (one of s, ms, us, ns)`);
    expect(thrown(() => normaliseMap('ts=timestamp:', FILE))).toBeInstanceOf(ConfigError);
  });
});

describe('resolveMapping', () => {
  it('takes columns bearing canonical names, in any case, in canonical order', () => {
    expect(summary(['LATENCY_MS', 'Timestamp', 'model', 'extra'])).toEqual([
      'timestamp <- Timestamp (name)',
      'model <- model (name)',
      'latency_ms <- LATENCY_MS (name)',
    ]);
  });

  it('prefers the exact-case column when several match a canonical name', () => {
    // The exact name wins wherever it stands; the other spelling is left unused.
    const r = resolveMapping(FILE, ['Latency_MS', 'latency_ms', 'timestamp'], new Map());
    expect(r.sources.get('latency_ms')).toBe('latency_ms');
    expect(r.entries).toHaveLength(2);
  });

  it('maps foreign column names with SRC=dst, before any name matching', () => {
    const map = normaliseMap('sent_at=timestamp,duration=latency_ms,prompt_len=input_tokens', FILE);
    const r = resolveMapping(FILE, ['sent_at', 'duration', 'prompt_len', 'completion_tokens'], map);
    expect(r.entries).toEqual([
      { column: 'timestamp', source: 'sent_at', via: 'map' },
      { column: 'input_tokens', source: 'prompt_len', via: 'map' },
      { column: 'latency_ms', source: 'duration', via: 'map' },
    ]);
    expect(r.known).toBeNull();
    // completion_tokens is not a canonical name: left alone.
    expect(r.sources.has('output_tokens')).toBe(false);
  });

  it('lets a mapping override a canonically named column and take it away from its own name', () => {
    // `latency_ms` is really time to first token here, and `total_ms` the latency.
    const map = normaliseMap('latency_ms=ttft_ms,total_ms=latency_ms', FILE);
    expect(summary(['timestamp', 'latency_ms', 'total_ms'], map)).toEqual([
      'timestamp <- timestamp (name)',
      'latency_ms <- total_ms (map)',
      'ttft_ms <- latency_ms (map)',
    ]);
    // Mapped to another column, a canonically named column does not also feed its own name.
    const only = resolveMapping(FILE, ['timestamp', 'latency_ms'], normaliseMap('latency_ms=ttft_ms', FILE));
    expect(only.sources.has('latency_ms')).toBe(false);
    expect(only.sources.get('ttft_ms')).toBe('latency_ms');
  });

  it('finds a mapped source case-insensitively when only one column matches, and the exact one otherwise', () => {
    expect(resolveMapping(FILE, ['SentAt'], normaliseMap('sentat=timestamp', FILE)).sources.get('timestamp')).toBe('SentAt');
    expect(resolveMapping(FILE, ['sentat', 'SENTAT'], normaliseMap('SENTAT=timestamp', FILE)).sources.get('timestamp')).toBe('SENTAT');
    // Two case-insensitive candidates and no exact one: ambiguous, so not found.
    const err = thrown(() => resolveMapping(FILE, ['sentat', 'SENTAT'], normaliseMap('SentAt=timestamp', FILE)));
    expect(err).toBeInstanceOf(ConfigError);
  });

  it('refuses a mapping from a column the trace lacks, listing the columns', () => {
    const err = thrown(() => resolveMapping(FILE, ['a', 'b'], normaliseMap('c=timestamp', FILE)));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`${FILE}: --map: no column "c" in the trace (columns: a, b)`);
  });

  it('recognises the Azure LLM trace by its columns, without a mapping', () => {
    const r = resolveMapping(FILE, ['TIMESTAMP', 'ContextTokens', 'GeneratedTokens'], new Map());
    expect(r.known).toBe('Azure LLM inference trace');
    expect(r.entries).toEqual([
      { column: 'timestamp', source: 'TIMESTAMP', via: 'known' },
      { column: 'input_tokens', source: 'ContextTokens', via: 'known' },
      { column: 'output_tokens', source: 'GeneratedTokens', via: 'known' },
    ]);
    // Lower-case column names are recognised too.
    expect(resolveMapping(FILE, ['timestamp', 'contexttokens', 'generatedtokens'], new Map()).known).toBe('Azure LLM inference trace');
  });

  it('lets an explicit mapping take precedence over the known format', () => {
    // ContextTokens mapped elsewhere: its alias to input_tokens no longer applies.
    const r = resolveMapping(FILE, ['TIMESTAMP', 'ContextTokens', 'GeneratedTokens'], normaliseMap('ContextTokens=latency_ms', FILE));
    expect(r.known).toBe('Azure LLM inference trace');
    expect(r.sources.get('latency_ms')).toBe('ContextTokens');
    expect(r.sources.has('input_tokens')).toBe(false);
    expect(r.sources.get('output_tokens')).toBe('GeneratedTokens');
  });

  it('needs the whole signature to recognise a format', () => {
    const r = resolveMapping(FILE, ['TIMESTAMP', 'ContextTokens'], new Map());
    expect(r.known).toBeNull();
    expect(r.entries).toEqual([{ column: 'timestamp', source: 'TIMESTAMP', via: 'name' }]);
  });

  it('resolves nothing from no columns', () => {
    const r = resolveMapping(FILE, [], new Map());
    expect(r).toEqual({ entries: [], sources: new Map(), known: null });
  });
});

describe('checkRequired', () => {
  const present = (...cols: CanonicalColumn[]) => new Set<CanonicalColumn>(cols);

  it('accepts a timestamp with any one measure', () => {
    for (const m of ['input_tokens', 'output_tokens', 'latency_ms'] as const) {
      expect(() => checkRequired(FILE, ['x'], present('timestamp', m))).not.toThrow();
    }
  });

  it('refuses a trace without a timestamp, saying how to map one', () => {
    const err = thrown(() => checkRequired(FILE, ['when', 'latency_ms'], present('latency_ms')));
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    expect(err.message).toBe(`${FILE}: no timestamp column (columns: when, latency_ms); name one with --map SRC=timestamp`);
    expect(thrown(() => checkRequired(FILE, [], present())).message).toContain('(columns: (none))');
  });

  it('refuses a trace without any token or latency column', () => {
    const err = thrown(() => checkRequired(FILE, ['timestamp', 'ttft_ms', 'cost_usd'], present('timestamp', 'ttft_ms', 'cost_usd')));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain(`${FILE}: none of input_tokens, output_tokens, latency_ms (columns: timestamp, ttft_ms, cost_usd)`);
  });

  it('says when the "columns" are a first row of data or a line above the header', () => {
    // A header-less CSV: its first row became the names, a prompt among them.
    const prompt = 'How do I return an order that arrived damaged last week?';
    const noHeader = thrown(() => checkRequired(FILE, ['req-1', '2024-05-01 09:00:00', prompt, '56', 'ok'], present()));
    expect(noHeader.message).toContain(`(columns: req-1, 2024-05-01 09:00:00, ${prompt.slice(0, 39)}…, 56, ok)`);
    expect(noHeader.message).toContain('The names include values (2024-05-01 09:00:00, 56): if this file has no header row, add one');
    const banner = thrown(() => checkRequired(FILE, ['exported by tool v2'], present()));
    expect(banner.message).toContain('One column only, named like a sentence: if a line stands above the header, remove it');
    // Ordinary foreign names get no such guess.
    expect(thrown(() => checkRequired(FILE, ['when', 'latency_ms'], present('latency_ms'))).message).not.toContain('. ');
    expect(thrown(() => checkRequired(FILE, ['timestamp', 'p50'], present('timestamp'))).message).not.toContain('header');
  });

  it('checks what resolveMapping found', () => {
    const cols = ['sent_at', 'duration'];
    const ok = resolveMapping(FILE, cols, normaliseMap('sent_at=timestamp,duration=latency_ms', FILE));
    expect(() => checkRequired(FILE, cols, new Set(ok.sources.keys()))).not.toThrow();
    const missing = resolveMapping(FILE, cols, normaliseMap('duration=latency_ms', FILE));
    expect(() => checkRequired(FILE, cols, new Set(missing.sources.keys()))).toThrow(/no timestamp column/);
  });
});
