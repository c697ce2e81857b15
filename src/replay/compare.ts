import type { ValidateFunction } from 'ajv';

/**
 * Request-by-request comparison of the candidate with the baseline the trace recorded. Pure
 * functions: the replay engine calls them in its workers, the tests call them directly.
 */

/** Phrases that mark a refusal in either model's text; `--refusal-pattern` adds more. */
export const DEFAULT_REFUSAL_PATTERNS = [
  "\\bI(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:'|no)t|cannot|won't|am unable to)\\b",
  "\\bI (?:can(?:'|no)t|cannot|won't|am unable to|'m unable to|'m not able to) (?:help|assist|provide|comply|do that|answer)",
  '\\bAs an AI(?: language model)?,? I (?:can(?:\'|no)t|cannot|don\'t)\\b',
];

export interface RefusalDetector {
  patterns: RegExp[];
  /** Finish reasons that count as a refusal whatever the text says. */
  finishReasons: Set<string>;
}

export function refusalDetector(extraPatterns: readonly string[] = [], finishReasons: readonly string[] = ['content_filter']): RefusalDetector {
  return {
    patterns: [...DEFAULT_REFUSAL_PATTERNS, ...extraPatterns].map((p) => new RegExp(p, 'i')),
    finishReasons: new Set(finishReasons),
  };
}

export function isRefusal(d: RefusalDetector, text: string | null, finishReason: string | null): boolean {
  if (finishReason !== null && d.finishReasons.has(finishReason)) return true;
  if (!text) return false;
  // Refusals open the answer; scanning only the head keeps long outputs cheap and avoids
  // flagging an answer that merely quotes a refusal further down.
  const head = text.length > 400 ? text.slice(0, 400) : text;
  return d.patterns.some((p) => p.test(head));
}

const WORD = /[\p{L}\p{N}]+/gu;

/**
 * Jaccard similarity of the two texts' word sets (lower-cased): 1 for the same words, 0 for
 * none shared. A cheap, order-blind signal that an answer changed, not a quality score.
 */
export function similarity(a: string, b: string): number {
  const wa = wordSet(a);
  const wb = wordSet(b);
  if (wa.size === 0 && wb.size === 0) return 1;
  let shared = 0;
  for (const w of wa) if (wb.has(w)) shared++;
  return shared / (wa.size + wb.size - shared);
}

/**
 * The text's lower-cased words: an ASCII text is cut by hand (a third cheaper than the Unicode
 * regex, run once per replayed request), any other goes through WORD, so both give the same set.
 */
function wordSet(text: string): Set<string> {
  const lower = text.toLowerCase();
  const words = new Set<string>();
  let start = -1;
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c >= 0x80) return new Set(lower.match(WORD) ?? []);
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      words.add(lower.slice(start, i));
      start = -1;
    }
  }
  if (start >= 0) words.add(lower.slice(start));
  return words;
}

/** What a replayed request's candidate ended as, in the order `replay_requests` codes them. */
export const CANDIDATE_STATUSES = ['ok', 'error', 'timeout', 'refusal'] as const;

/** Validates outputs against a JSON Schema: null when no schema is set. */
export class OutputSchema {
  private constructor(private readonly validate: ValidateFunction) {}

  /** ajv is loaded only when a replay checks a schema. */
  static async compile(schema: object): Promise<OutputSchema> {
    const { Ajv } = await import('ajv');
    return new OutputSchema(new Ajv({ allErrors: false, strict: false }).compile(schema));
  }

  check(text: string | null): boolean {
    if (text === null) return false;
    let value: unknown;
    try {
      value = JSON.parse(extractJson(text));
    } catch {
      return false;
    }
    return this.validate(value) as boolean;
  }
}

/** Models often fence JSON in Markdown; the schema judges what is inside the fence. */
function extractJson(text: string): string {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(text);
  return (fenced ? fenced[1]! : text).trim();
}

/** Cost from token counts and per-million prices; null when a count is missing. */
export function costOf(inputTokens: number | null, outputTokens: number | null, inputPerMillion: number, outputPerMillion: number): number | null {
  if (inputTokens === null || outputTokens === null || Number.isNaN(inputTokens) || Number.isNaN(outputTokens)) return null;
  return (inputTokens * inputPerMillion + outputTokens * outputPerMillion) / 1e6;
}
