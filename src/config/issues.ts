import type { z } from 'zod';
import { ConfigError, formatPath } from './errors.js';

/**
 * zod validation reported for people: the first issue only, as
 * `file: field.path: a sentence a person understands`. Scenario, gate and target files share it.
 */

export function valueAt(data: unknown, keys: readonly PropertyKey[]): unknown {
  let cur: unknown = data;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the text ${JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v)}`;
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${String(v)}`;
}

const entries = (n: number) => `${n} ${n === 1 ? 'entry' : 'entries'}`;

/** zod's issue → a located ConfigError. `prefix` is prepended to the issue's path. */
export function issueToConfigError(file: string, data: unknown, issue: z.core.$ZodIssue, prefix: readonly PropertyKey[] = []): ConfigError {
  const at = [...prefix, ...issue.path];
  let problem: string;
  switch (issue.code) {
    case 'too_big':
      problem = issue.inclusive === false ? `must be less than ${issue.maximum}` : `must be at most ${issue.maximum}`;
      if (issue.origin === 'array') problem = `must have at most ${entries(Number(issue.maximum))}`;
      break;
    case 'too_small':
      if (issue.origin === 'array') problem = `must have at least ${entries(Number(issue.minimum))}`;
      else if (issue.origin === 'string') problem = 'must not be empty';
      else problem = issue.inclusive === false ? `must be greater than ${issue.minimum}` : `must be at least ${issue.minimum}`;
      break;
    case 'invalid_type': {
      const got = valueAt(data, issue.path);
      const expected =
        issue.expected === 'int' ? 'an integer' : issue.expected === 'object' || issue.expected === 'record' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`;
      problem = got === undefined ? 'is required' : `must be ${expected}, got ${describeValue(got)}`;
      break;
    }
    case 'invalid_value':
      problem = `must be ${issue.values.length === 1 ? '' : 'one of '}${issue.values.map((v) => String(v)).join(', ')}, got ${describeValue(valueAt(data, issue.path))}`;
      break;
    case 'unrecognized_keys':
      return new ConfigError(file, formatPath([...at, issue.keys[0]!]), 'unknown field (check the spelling; see schema/)');
    case 'not_multiple_of':
      problem = issue.divisor === 1 ? 'must be an integer' : `must be a multiple of ${issue.divisor}`;
      break;
    default:
      problem = issue.message;
  }
  return new ConfigError(file, formatPath(at), problem);
}

/** Parses `data` with `schema`; the first issue becomes a ConfigError naming `file` and the field. */
export function parseConfig<S extends z.ZodType>(schema: S, data: unknown, file: string): z.output<S> {
  const result = schema.safeParse(data);
  if (!result.success) throw issueToConfigError(file, data, result.error.issues[0]!);
  return result.data;
}
