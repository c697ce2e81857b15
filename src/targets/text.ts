import type { Rng } from '../stats/random.js';

/**
 * Text helpers shared by the targets: reading a trace's input (plain text or chat messages as
 * JSON), estimating token counts at 4 characters a token, the filler prompt sent for traces that
 * kept token counts but no text, and the stub's made-up answers.
 */

/** Characters per token used for every estimate (the usual rule of thumb for English text). */
export const CHARS_PER_TOKEN = 4;

export interface ChatMessage {
  role: string;
  content?: unknown;
  [key: string]: unknown;
}

export type ParsedInput = { kind: 'none' } | { kind: 'text'; text: string } | { kind: 'messages'; messages: ChatMessage[] };

function isMessageList(v: unknown): v is ChatMessage[] {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((m) => m !== null && typeof m === 'object' && !Array.isArray(m) && typeof (m as { role?: unknown }).role === 'string')
  );
}

/**
 * A trace's input: null or blank is `none`; a JSON list of `{ role, content }` objects (or an
 * object with such a `messages` list, as in an OpenAI request body) is `messages`; anything else
 * is plain `text`.
 */
export function parseInput(input: string | null | undefined): ParsedInput {
  if (input === null || input === undefined || input.trim() === '') return { kind: 'none' };
  const t = input.trimStart();
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      return parsedJsonInput(JSON.parse(input), input);
    } catch {
      // not JSON: plain text that happens to start with a bracket
    }
  }
  return { kind: 'text', text: input };
}

/**
 * What {@link parseInput} makes of `input` once JSON-parsed into `value`: for a caller that
 * already holds the parsed value (serve-stub has a request's messages), so it is not parsed twice.
 */
export function parsedJsonInput(value: unknown, input: string): ParsedInput {
  if (isMessageList(value)) return { kind: 'messages', messages: value };
  if (value !== null && typeof value === 'object' && isMessageList((value as { messages?: unknown }).messages)) {
    return { kind: 'messages', messages: (value as { messages: ChatMessage[] }).messages };
  }
  return { kind: 'text', text: input };
}

/** The text of a message's content: a string, or the `text` parts of a content-part list. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p !== null && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
      .filter(Boolean)
      .join('\n');
  }
  return '';
}

/** All the text of a parsed input, messages joined by newlines; '' for `none`. */
export function inputText(input: ParsedInput): string {
  if (input.kind === 'none') return '';
  if (input.kind === 'text') return input.text;
  return input.messages.map((m) => contentText(m.content)).filter(Boolean).join('\n');
}

/** ceil(characters / 4), at least 1. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / CHARS_PER_TOKEN));
}

/** Common English words that most tokenizers encode as one token each (with their leading space). */
const FILLER_WORDS = ['the', 'of', 'and', 'to', 'in', 'is', 'that', 'for', 'it', 'as', 'with', 'was', 'on', 'be', 'at', 'by', 'this', 'not', 'are', 'from'];

const FILLER_CYCLE = FILLER_WORDS.join(' ') + ' ';
/** FILLER_HEADS[k]: the first k filler words, joined. */
const FILLER_HEADS = FILLER_WORDS.map((_, k) => FILLER_WORDS.slice(0, k).join(' '));

/** A prompt of about `tokens` tokens: that many common one-token words, for traces without text. */
export function fillerPrompt(tokens: number): string {
  const n = Math.max(1, Math.round(tokens));
  // Whole cycles of the word list by String.repeat: an HTTP replay of a token-only trace builds
  // one of these, often thousands of words long, per request.
  const cycles = Math.floor(n / FILLER_WORDS.length);
  const rest = n % FILLER_WORDS.length;
  if (rest === 0) return FILLER_CYCLE.repeat(cycles).slice(0, -1);
  return FILLER_CYCLE.repeat(cycles) + FILLER_HEADS[rest]!;
}

const ANSWER_WORDS = [
  'the', 'model', 'answer', 'request', 'data', 'result', 'value', 'system', 'user', 'time', 'first', 'second',
  'because', 'which', 'should', 'would', 'could', 'output', 'input', 'token', 'latency', 'service', 'response',
  'simple', 'example', 'step', 'then', 'also', 'more', 'less', 'each', 'every', 'where', 'when', 'this', 'that',
  'with', 'from', 'into', 'over', 'under', 'about', 'after', 'before', 'config', 'file', 'table', 'query', 'test',
  'check', 'change', 'release', 'canary', 'traffic', 'stage', 'gate', 'number', 'share', 'rate', 'cost', 'price',
];

/**
 * A made-up answer of about `tokens × 4` characters (never more; at least one word), drawn from `rng`:
 * sentences of 6 to 14 words, ending with a full stop. Deterministic for a given stream.
 */
export function madeUpAnswer(rng: Rng, tokens: number): string {
  const target = Math.max(1, Math.round(tokens)) * CHARS_PER_TOKEN;
  const parts: string[] = [];
  let length = 0;
  let inSentence = 0;
  let sentenceLength = 6 + Math.floor(rng.uniform() * 9);
  while (length < target) {
    let w = ANSWER_WORDS[Math.floor(rng.uniform() * ANSWER_WORDS.length)]!;
    if (inSentence === 0) w = w[0]!.toUpperCase() + w.slice(1);
    inSentence++;
    if (inSentence >= sentenceLength) {
      w += '.';
      inSentence = 0;
      sentenceLength = 6 + Math.floor(rng.uniform() * 9);
    }
    parts.push(w);
    length += w.length + 1;
  }
  const text = parts.join(' ');
  const body = text.length >= target ? text.slice(0, target - 1).trimEnd() : text;
  return (body.endsWith('.') ? body.slice(0, -1) : body) + '.';
}
