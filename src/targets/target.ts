import { statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, UserError } from '../config/errors.js';
import { displayPath, readConfigFile } from '../config/load.js';
import { describeValue, parseConfig } from '../config/issues.js';
import { HttpFileSchema, ModuleFileSchema, StubFileSchema, TARGET_KINDS, type TargetKind } from './schema.js';
import { StubTarget } from './stub.js';

/**
 * The candidate side of shadow replay. A replay engine turns each stored trace into a
 * {@link TargetRequest}, calls {@link Target.call}, and compares the {@link TargetResponse}
 * with the trace (the baseline). A target never throws from `call`: failures, timeouts and
 * resets come back as a response with `status` and `error` saying what happened.
 */

export type { TargetKind } from './schema.js';

/** One replayed request: what the trace knows about it. */
export interface TargetRequest {
  /** The trace's request id; the stub's answer depends on it (and its seed) alone. */
  request_id: string;
  /** When the baseline served it (epoch milliseconds). */
  timestamp_ms: number;
  /** Text, or chat messages as JSON (a list of { role, content }); null for token-only traces. */
  input: string | null;
  input_tokens: number | null;
  /** The baseline's output tokens: the stub's baseline, and max_tokens for HTTP traces without text. */
  output_tokens: number | null;
  /** The baseline's end-to-end latency: the stub's baseline, and the base of `timeout: 3x`. */
  latency_ms: number | null;
  /** The baseline's time to first token, where the trace has it: the stub's baseline. */
  ttft_ms?: number | null;
  /** The baseline's model, as the trace names it. */
  model: string | null;
  /**
   * How the baseline's request ended where the trace records it: 'error' or 'timeout' (it
   * failed), 'ok' (it did not); null or absent where the trace has no status. A stub repeats it,
   * its regressions scaling the rate; other targets ignore it.
   */
  failure?: 'ok' | 'error' | 'timeout' | null;
  /** Whether the baseline refused, where the trace records refusals (null or absent: it does not). */
  refused?: boolean | null;
}

export type TargetStatus = 'ok' | 'error' | 'timeout' | 'refusal';

/** The candidate's answer. */
export interface TargetResponse {
  /**
   * ok, error (HTTP error, reset, refused connection, bad response, a module that threw),
   * timeout, or refusal. Only the stub (which injects them) and modules report `refusal`; an
   * HTTP target returns `ok` with the text and finish_reason, and the comparison decides.
   */
  status: TargetStatus;
  /** End-to-end milliseconds of the attempt that produced this answer (virtual for a stub). */
  latency_ms: number;
  /** Time to first token in milliseconds; null when not measured (non-streaming HTTP). */
  ttft_ms: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  output: string | null;
  finish_reason: string | null;
  /** null when the target has no prices or the token counts are missing. */
  cost_usd: number | null;
  /** Why, when status is not ok (e.g. `timeout after 200ms`, `HTTP 500: ...`, `connection reset (...)`). */
  error: string | null;
  /** HTTP attempts made (429s are retried); 1 for stubs and modules. */
  attempts: number;
  /**
   * Set when the request failed before any model answered it, for a reason in the replay's setup
   * rather than in the candidate: the endpoint unreachable (refused, unknown host, TLS), the key
   * refused (401, 403), the path or model unknown (404, 405), or a request the server cannot take
   * (400, 422: a parameter it does not know). A replay whose first answers all say so stops.
   */
  setup_fault?: true;
  /**
   * The model that answered, as the answer names it (OpenAI's `model`: a gateway's alias becomes
   * the dated version), else the model asked for; a stub's own `model`. Absent when unknown.
   */
  model?: string | null;
}

export interface Target {
  readonly kind: TargetKind;
  /** Names the target in reports: the file's `name`, its base name, or the URL. */
  readonly label: string;
  /** Never rejects: every failure is a response with its status and reason. */
  call(req: TargetRequest, signal?: AbortSignal): Promise<TargetResponse>;
  /** Releases connections (HTTP) or calls the module's `close()`. Call once, after the last call. */
  close(): Promise<void>;
}

function labelOf(file: string, name: string | undefined): string {
  return name ?? path.basename(file).replace(/\.(ya?ml|json)$/i, '');
}

/**
 * The target a `--target` names:
 * - an `http://` or `https://` base URL (an OpenAI-compatible API, e.g. `http://127.0.0.1:8000/v1`,
 *   with every target-file default; the key, if any, from REHEARSE_API_KEY);
 * - a `.js`, `.mjs` or `.cjs` module path (a module target with every default);
 * - a YAML or JSON target file whose `kind` is `stub`, `http` or `module`.
 * Bad files throw a ConfigError naming the file and the field.
 */
// HTTP and module targets are imported when asked for: a stub replay's workers start without
// loading an HTTP client they never use.
export async function loadTarget(spec: string): Promise<Target> {
  if (/^https?:\/\//i.test(spec)) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new UserError(`${spec}: not a valid URL`);
    }
    const cfg = parseConfig(HttpFileSchema, { kind: 'http', url: url.href }, spec);
    const key = process.env.REHEARSE_API_KEY;
    return new (await import('./http.js')).HttpTarget(cfg, { label: spec, source: spec, apiKey: key ? key : null });
  }
  const abs = path.resolve(spec);
  const shown = displayPath(abs);
  let isFile = false;
  try {
    isFile = statSync(abs).isFile();
  } catch {
    throw new UserError(`${shown}: no such file (a target is a stub or target file, an http(s):// URL, or a .js/.mjs module)`);
  }
  if (!isFile) throw new UserError(`${shown}: is a folder, expected a target file, an http(s):// URL or a .js/.mjs module`);
  if (/\.(mjs|cjs|js)$/i.test(abs)) {
    const cfg = parseConfig(ModuleFileSchema, { kind: 'module', module: abs }, shown);
    return (await import('./module.js')).ModuleTarget.load(cfg, { label: path.basename(abs), source: shown, baseDir: path.dirname(abs) });
  }
  const data = readConfigFile(abs);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(shown, '', `must be a mapping of target fields, got ${describeValue(data)}`);
  }
  const kind = (data as { kind?: unknown }).kind;
  if (kind === undefined) throw new ConfigError(shown, 'kind', `is required: one of ${TARGET_KINDS.join(', ')}`);
  switch (kind) {
    case 'stub': {
      const cfg = parseConfig(StubFileSchema, data, shown);
      return new StubTarget(cfg, { label: labelOf(abs, cfg.name), source: shown });
    }
    case 'http': {
      const cfg = parseConfig(HttpFileSchema, data, shown);
      let apiKey: string | null = null;
      if (cfg.api_key_env !== undefined) {
        const v = process.env[cfg.api_key_env];
        if (v === undefined || v === '') {
          throw new ConfigError(shown, 'api_key_env', `the environment variable ${cfg.api_key_env} is not set${v === '' ? ' (it is empty)' : ''}; export it with the API key, or remove api_key_env`);
        }
        apiKey = v;
      }
      return new (await import('./http.js')).HttpTarget(cfg, { label: labelOf(abs, cfg.name), source: shown, apiKey });
    }
    case 'module': {
      const cfg = parseConfig(ModuleFileSchema, data, shown);
      return (await import('./module.js')).ModuleTarget.load(cfg, { label: labelOf(abs, cfg.name), source: shown, baseDir: path.dirname(abs) });
    }
    default:
      throw new ConfigError(shown, 'kind', `must be one of ${TARGET_KINDS.join(', ')}, got ${describeValue(kind)}`);
  }
}

/** Reads a stub file (`kind: stub`); used by `serve-stub`. */
export function loadStubFile(file: string): { config: import('./schema.js').StubFile; label: string; source: string } {
  const abs = path.resolve(file);
  const shown = displayPath(abs);
  const data = readConfigFile(abs);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(shown, '', `must be a mapping of stub fields, got ${describeValue(data)}`);
  }
  const kind = (data as { kind?: unknown }).kind;
  if (kind !== 'stub') {
    throw new ConfigError(shown, 'kind', kind === undefined ? 'is required: a stub file says `kind: stub`' : `must be stub for serve-stub, got ${describeValue(kind)}`);
  }
  const config = parseConfig(StubFileSchema, data, shown);
  return { config, label: labelOf(abs, config.name), source: shown };
}
