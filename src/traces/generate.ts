import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '../store/duckdb.js';
import { UserError } from '../config/errors.js';
import { makeFolderFor } from './output-file.js';
import { Rng } from '../stats/random.js';
import type { TraceStatus } from './canonical.js';
import { lit } from './sql.js';
import { parseDateTime } from './time.js';

/**
 * Deterministic synthetic traces: the same options give the same rows, and the same bytes.
 *
 * Every canonical column is exercised: sessions (each with a tenant and a route), four routes
 * (chat sends its input as messages JSON, the others as text), models with their prices, text
 * built from a few templates with token counts of about a quarter of its length, lognormal
 * time-to-first-token and per-token decode times, Poisson arrivals, errors (1.5%), timeouts
 * (0.5%), refusals (2% of the answered), costs and thumbs (−1/0/1, or none).
 */
export interface GenerateOptions {
  /** Rows (default 2000). */
  rows?: number;
  /** Seed (default 1): any number or string. */
  seed?: number | string;
  /** Distinct sessions (default: one per 8 rows, at least 1). */
  sessions?: number;
  /** First arrival's origin: an ISO date-time (default 2024-05-01T09:00:00Z). */
  start?: string;
  /** Mean arrivals per minute (default 120). */
  requestsPerMinute?: number;
}

export interface SyntheticRow {
  request_id: string;
  timestamp: string;
  session_id: string;
  tenant: string;
  route: string;
  model: string;
  input: string;
  output: string | null;
  input_tokens: number;
  output_tokens: number;
  latency_ms: number;
  ttft_ms: number | null;
  status: TraceStatus;
  refusal: boolean;
  cost_usd: number;
  feedback: number | null;
}

const TENANTS: [string, number][] = [
  ['acme', 0.35],
  ['globex', 0.25],
  ['initech', 0.2],
  ['umbrella', 0.12],
  ['hooli', 0.08],
];
type Route = 'chat' | 'summarize' | 'code' | 'extract';
const ROUTES: [Route, number][] = [
  ['chat', 0.45],
  ['summarize', 0.25],
  ['code', 0.2],
  ['extract', 0.1],
];
const ROUTE_MODELS: Record<Route, [string, number][]> = {
  chat: [
    ['gpt-4o-mini', 0.6],
    ['llama-3.1-70b', 0.4],
  ],
  summarize: [['gpt-4o-mini', 1]],
  code: [
    ['gpt-4o', 0.7],
    ['llama-3.1-70b', 0.3],
  ],
  extract: [
    ['gpt-4o-mini', 0.8],
    ['gpt-4o', 0.2],
  ],
};
/** USD per million input and output tokens, and a speed factor on latencies. */
const MODELS: Record<string, { input: number; output: number; speed: number }> = {
  'gpt-4o': { input: 2.5, output: 10, speed: 1.3 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, speed: 0.8 },
  'llama-3.1-70b': { input: 0.6, output: 0.8, speed: 1.0 },
};
/** Median input and output tokens by route. */
const SIZES: Record<Route, { input: number; output: number }> = {
  chat: { input: 20, output: 35 },
  summarize: { input: 45, output: 25 },
  code: { input: 20, output: 40 },
  extract: { input: 30, output: 20 },
};

const WORDS = (
  'the a our this every latest quarterly customer invoice shipment order account report policy ' +
  'service payment refund delivery contract team project release build request response model ' +
  'update review schedule budget forecast region market product feature issue ticket record ' +
  'needs shows includes explains requires covers lists reaches changes improves reduces follows ' +
  'quickly carefully today again later soon clearly mostly within after before during across'
).split(' ');
const TOPICS = ['billing', 'shipping', 'onboarding', 'security', 'pricing', 'returns', 'analytics', 'support'];
const DOCS = ['email thread', 'meeting transcript', 'support ticket', 'contract', 'incident report', 'product review'];
const LANGS = ['Python', 'TypeScript', 'Go', 'SQL', 'Rust'];
const TASKS = ['parses a CSV line', 'retries a request with backoff', 'merges two sorted lists', 'validates an email address', 'counts words in a file'];
const FIELDS = ['names and dates', 'amounts and currencies', 'addresses', 'order numbers', 'action items'];
const REFUSALS = ["I'm sorry, but I can't help with that request.", "I can't assist with that.", 'That request goes against the usage policy, so I cannot answer it.'];

class Draw {
  constructor(readonly rng: Rng) {}
  pick<T>(items: readonly T[]): T {
    return items[Math.min(items.length - 1, Math.floor(this.rng.uniform() * items.length))]!;
  }
  weighted<T>(items: readonly [T, number][]): T {
    let u = this.rng.uniform();
    for (const [x, w] of items) {
      if (u < w) return x;
      u -= w;
    }
    return items[items.length - 1]![0];
  }
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.rng.normal());
  }
  sentence(): string {
    const n = 4 + Math.floor(this.rng.uniform() * 7);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(this.pick(WORDS));
    const s = words.join(' ');
    return s[0]!.toUpperCase() + s.slice(1) + '.';
  }
  /** Sentences until the text holds about `tokens` tokens (four characters each). */
  filler(tokens: number, sep = ' '): string {
    const parts: string[] = [this.sentence()];
    let len = parts[0]!.length;
    while (len + 20 < tokens * 4) {
      const s = this.sentence();
      parts.push(s);
      len += s.length + sep.length;
    }
    return parts.join(sep);
  }
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));
const tokensOf = (text: string, d: Draw): number => Math.max(1, Math.round((text.length / 4) * (1 + 0.05 * d.rng.normal())));

function makeInput(route: Route, tenant: string, tokens: number, d: Draw): string {
  switch (route) {
    case 'chat':
      return JSON.stringify([
        { role: 'system', content: `You are the ${tenant} assistant. Answer briefly.` },
        { role: 'user', content: `How do I handle ${d.pick(TOPICS)}? ${d.filler(tokens - 12)}` },
      ]);
    case 'summarize':
      return `Summarize the following ${d.pick(DOCS)} in three bullet points.\n\n${d.filler(tokens - 12)}`;
    case 'code':
      return `Write a ${d.pick(LANGS)} function that ${d.pick(TASKS)}. ${d.filler(tokens - 12)}`;
    case 'extract':
      return `Extract the ${d.pick(FIELDS)} from this ${d.pick(DOCS)} as JSON: ${d.filler(tokens - 12)}`;
  }
}

function makeOutput(route: Route, tokens: number, d: Draw): string {
  switch (route) {
    case 'chat':
      return d.filler(tokens);
    case 'summarize': {
      const per = Math.max(1, Math.round(tokens / 3));
      return [0, 1, 2].map(() => `- ${d.filler(per)}`).join('\n');
    }
    case 'code': {
      const lines = ['def solve(data):'];
      let len = lines[0]!.length;
      while (len < tokens * 4) {
        const line = `    # ${d.sentence()}`;
        lines.push(line);
        len += line.length + 1;
      }
      lines.push('    return data');
      return lines.join('\n');
    }
    case 'extract':
      return JSON.stringify({ items: d.filler(Math.max(1, tokens - 6)).split('. ').slice(0, 4) });
  }
}

function checkOptions(o: GenerateOptions): Required<GenerateOptions> {
  const rows = o.rows ?? 2000;
  if (!Number.isInteger(rows) || rows < 0) throw new UserError(`--rows: must be a whole number of at least 0, got ${rows}`);
  const sessions = o.sessions ?? Math.max(1, Math.round(rows / 8));
  if (!Number.isInteger(sessions) || sessions < 1) throw new UserError(`--sessions: must be a whole number of at least 1, got ${sessions}`);
  const start = o.start ?? '2024-05-01T09:00:00Z';
  if (!Number.isFinite(parseDateTime(start))) throw new UserError(`--start: "${start}" is not an ISO date-time`);
  const rpm = o.requestsPerMinute ?? 120;
  if (!(rpm > 0)) throw new UserError(`requestsPerMinute: must be above 0, got ${rpm}`);
  return { rows, seed: o.seed ?? 1, sessions, start, requestsPerMinute: rpm };
}

/** The rows of a synthetic trace, in timestamp order. */
export function* syntheticRows(options: GenerateOptions = {}): Generator<SyntheticRow> {
  const o = checkOptions(options);
  const sessionDraw = new Draw(new Rng(`rehearse:traces:sessions:${o.seed}`));
  const sessions = Array.from({ length: o.sessions }, (_, i) => ({
    id: `sess-${String(i + 1).padStart(5, '0')}`,
    tenant: sessionDraw.weighted(TENANTS),
    route: sessionDraw.weighted(ROUTES),
  }));
  const d = new Draw(new Rng(`rehearse:traces:rows:${o.seed}`));
  const ratePerMs = o.requestsPerMinute / 60000;
  let t = parseDateTime(o.start);
  for (let i = 0; i < o.rows; i++) {
    t += -Math.log(d.rng.uniform()) / ratePerMs;
    const session = sessions[Math.floor(d.rng.uniform() * sessions.length)]!;
    const route = session.route;
    const model = d.weighted(ROUTE_MODELS[route]);
    const m = MODELS[model]!;
    const size = SIZES[route];
    const input = makeInput(route, session.tenant, Math.max(3, Math.round(d.lognormal(size.input, 0.6))), d);
    const inputTokens = tokensOf(input, d);
    const u = d.rng.uniform();
    const status: TraceStatus = u < 0.015 ? 'error' : u < 0.02 ? 'timeout' : 'ok';
    let output: string | null = null;
    let outputTokens = 0;
    let refusal = false;
    let ttft: number | null = null;
    let latency: number;
    if (status === 'ok') {
      refusal = d.rng.uniform() < 0.02;
      output = refusal ? d.pick(REFUSALS) : makeOutput(route, Math.max(2, Math.round(d.lognormal(size.output, 0.7))), d);
      outputTokens = tokensOf(output, d);
      ttft = d.lognormal(250 * m.speed, 0.5) + inputTokens * 0.05;
      latency = ttft + outputTokens * d.lognormal(18 * m.speed, 0.25);
    } else if (status === 'timeout') {
      latency = 30000;
    } else {
      latency = d.lognormal(400, 0.8);
    }
    let feedback: number | null = null;
    if (status === 'ok') {
      const f = d.rng.uniform();
      const down = refusal ? 0.2 : 0.03;
      feedback = f < down ? -1 : f < down + 0.1 ? 1 : f < down + 0.12 ? 0 : null;
    }
    yield {
      request_id: `req-${String(i + 1).padStart(6, '0')}`,
      timestamp: new Date(Math.round(t)).toISOString(),
      session_id: session.id,
      tenant: session.tenant,
      route,
      model,
      input,
      output,
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      latency_ms: round(latency, 1),
      ttft_ms: ttft === null ? null : round(ttft, 1),
      status,
      refusal,
      cost_usd: round((inputTokens * m.input + outputTokens * m.output) / 1e6, 8),
      feedback,
    };
  }
}

/** The DuckDB types of the synthetic columns, for reading the JSONL back exactly. */
const SYNTHETIC_TYPES = `{request_id: 'VARCHAR', timestamp: 'TIMESTAMPTZ', session_id: 'VARCHAR', tenant: 'VARCHAR', route: 'VARCHAR', model: 'VARCHAR',
  input: 'VARCHAR', output: 'VARCHAR', input_tokens: 'INTEGER', output_tokens: 'INTEGER', latency_ms: 'DOUBLE', ttft_ms: 'DOUBLE',
  status: 'VARCHAR', refusal: 'BOOLEAN', cost_usd: 'DOUBLE', feedback: 'TINYINT'}`;

async function writeJsonl(out: string, options: GenerateOptions): Promise<number> {
  const stream = createWriteStream(out);
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  // A failed open or write (a full disk, a folder in the way) rejects `done` before anything
  // awaits it: handled here, so it is the message below and not an unhandled rejection.
  done.catch(() => undefined);
  let n = 0;
  try {
    let buf: string[] = [];
    for (const row of syntheticRows(options)) {
      buf.push(JSON.stringify(row));
      n++;
      if (buf.length === 1000) {
        if (!stream.write(buf.join('\n') + '\n')) await Promise.race([once(stream, 'drain'), done]);
        buf = [];
      }
    }
    if (buf.length) stream.write(buf.join('\n') + '\n');
    stream.end();
    await done;
  } catch (err) {
    stream.destroy();
    throw new UserError(`${out}: cannot write: ${(err as Error).message}`);
  }
  return n;
}

/**
 * Writes a synthetic trace: JSON lines (.jsonl, .ndjson) or Parquet (.parquet, written by DuckDB
 * on one thread so that the bytes repeat; timestamps TIMESTAMP WITH TIME ZONE, tokens INTEGER).
 */
export async function writeSyntheticTrace(out: string, options: GenerateOptions = {}): Promise<{ rows: number; format: 'jsonl' | 'parquet' }> {
  checkOptions(options);
  const ext = path.extname(out).toLowerCase();
  if (ext !== '.jsonl' && ext !== '.ndjson' && ext !== '.parquet') throw new UserError(`${out}: write a synthetic trace as .jsonl, .ndjson or .parquet`);
  makeFolderFor(out);
  if (ext === '.jsonl' || ext === '.ndjson') return { rows: await writeJsonl(out, options), format: 'jsonl' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-generate-'));
  try {
    const tmp = path.join(dir, 'rows.jsonl');
    const rows = await writeJsonl(tmp, options);
    const instance = await DuckDBInstance.create(':memory:', { threads: '1', temp_directory: dir });
    try {
      const conn = await instance.connect();
      await conn.run(`SET TimeZone = 'UTC'`);
      try {
        await conn.run(
          `COPY (SELECT * FROM read_json(${lit(tmp)}, format = 'newline_delimited', columns = ${SYNTHETIC_TYPES})) TO ${lit(out)} (FORMAT parquet, COMPRESSION zstd)`,
        );
      } catch (err) {
        throw new UserError(`${out}: cannot write: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        conn.closeSync();
      }
    } finally {
      instance.closeSync();
    }
    return { rows, format: 'parquet' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
