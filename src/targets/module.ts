import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import { displayPath } from '../config/load.js';
import { issueToConfigError } from '../config/issues.js';
import type { ModuleFile } from './schema.js';
import type { Target, TargetRequest, TargetResponse } from './target.js';
import { type TimeoutSpec, abortOutcome, costUsd, describeTimeout, parseTimeout, timeoutFor } from './timing.js';

/**
 * A user's ESM file as a {@link Target}. It exports an async function (named `call`, or the
 * default export, or the one `export:` names):
 *
 *     export async function call(request, { signal, options }) {
 *       return { output: '...', output_tokens: 120, latency_ms: 850 };
 *     }
 *
 * taking a {@link TargetRequest} and returning a partial {@link TargetResponse} (or a string, the
 * output). What it returns is validated; what it throws is recorded as an error. Fields it leaves
 * out: status `ok`, latency_ms the measured wall time, cost_usd from `price` when given, the rest
 * null. It may export `close()`, called by the target's close().
 */

type ModuleFn = (req: TargetRequest, ctx: { signal: AbortSignal; options: Record<string, unknown> }) => unknown;

const finite = () => z.number().refine(Number.isFinite, { message: 'must be a finite number' });
const count = () => z.number().int().min(0).nullable();

const ModuleResponseSchema = z
  .object({
    status: z.enum(['ok', 'error', 'timeout', 'refusal']).default('ok'),
    latency_ms: finite().min(0).optional(),
    ttft_ms: finite().min(0).nullable().default(null),
    input_tokens: count().default(null),
    output_tokens: count().default(null),
    output: z.string().nullable().default(null),
    finish_reason: z.string().nullable().default(null),
    cost_usd: finite().min(0).nullable().optional(),
    error: z.string().nullable().default(null),
    attempts: z.number().int().min(1).default(1),
  })
  .strict();

export class ModuleTarget implements Target {
  readonly kind = 'module' as const;

  private constructor(
    readonly label: string,
    readonly source: string,
    private readonly fn: ModuleFn,
    private readonly closeFn: (() => unknown) | null,
    private readonly config: ModuleFile,
    private readonly timeout: TimeoutSpec | null,
  ) {}

  /** Imports the module; a missing file, a failing import or no such function is a ConfigError. */
  static async load(config: ModuleFile, where: { label: string; source: string; baseDir: string }): Promise<ModuleTarget> {
    const abs = path.resolve(where.baseDir, config.module);
    const shown = displayPath(abs);
    const bare = where.source === shown;
    const field = bare ? '' : 'module';
    if (!existsSync(abs)) throw new ConfigError(where.source, field, `${shown} does not exist`);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(where.source, field, `cannot load ${shown}: ${((err as Error)?.message ?? String(err)).split('\n')[0]}`);
    }
    // A CommonJS module arrives as { default: module.exports }.
    const cjs = mod.default !== null && typeof mod.default === 'object' ? (mod.default as Record<string, unknown>) : {};
    let fn: unknown;
    if (config.export !== undefined) {
      fn = mod[config.export] ?? cjs[config.export];
      if (typeof fn !== 'function') throw new ConfigError(where.source, 'export', `${shown} exports no function named ${config.export}`);
    } else {
      fn = [mod.call, mod.default, cjs.call].find((f) => typeof f === 'function');
      if (typeof fn !== 'function') {
        throw new ConfigError(where.source, field, `${shown} must export an async function \`call(request, { signal, options })\` (or a default export)`);
      }
    }
    const close = [mod.close, cjs.close].find((f) => typeof f === 'function') as (() => unknown) | undefined;
    const timeout = config.timeout === undefined ? null : parseTimeout(config.timeout, config.timeout_floor, config.timeout_fallback);
    return new ModuleTarget(where.label, where.source, fn as ModuleFn, close ?? null, config, timeout);
  }

  async call(req: TargetRequest, signal?: AbortSignal): Promise<TargetResponse> {
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    const failed = (status: 'error' | 'timeout', error: string): TargetResponse => ({
      status,
      latency_ms: elapsed(),
      ttft_ms: null,
      input_tokens: null,
      output_tokens: null,
      output: null,
      finish_reason: null,
      cost_usd: null,
      error,
      attempts: 1,
    });
    if (signal?.aborted) return failed(abortOutcome(signal).status, abortOutcome(signal).error);
    const controller = new AbortController();
    let timedOut = false;
    const timeoutMs = this.timeout === null ? null : timeoutFor(this.timeout, req);
    const timer =
      timeoutMs === null
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            controller.abort(new Error(`timeout after ${describeTimeout(timeoutMs)}`));
          }, timeoutMs);
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let value: unknown;
    try {
      // The call races the signal, so a module that ignores it still times out.
      const aborted = new Promise<never>((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      });
      aborted.catch(() => {});
      value = await Promise.race([Promise.resolve().then(() => this.fn({ ...req }, { signal: controller.signal, options: this.config.options })), aborted]);
    } catch (err) {
      if (timedOut) return failed('timeout', `timeout after ${describeTimeout(timeoutMs!)}`);
      if (signal?.aborted) return failed(abortOutcome(signal).status, abortOutcome(signal).error);
      const e = err as Error;
      return failed('error', `module threw: ${e instanceof Error ? `${e.name === 'Error' ? '' : e.name + ': '}${e.message}` : String(err)}`);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    const latency = elapsed();
    if (typeof value === 'string') value = { output: value };
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { ...failed('error', `module returned ${value === undefined ? 'nothing' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'null' : `a ${typeof value}`}, expected a response object or a string`), latency_ms: latency };
    }
    const parsed = ModuleResponseSchema.safeParse(value);
    if (!parsed.success) {
      const e = issueToConfigError('module', value, parsed.error.issues[0]!);
      return { ...failed('error', `module returned an invalid response: ${e.field ? `${e.field}: ` : ''}${e.problem}`), latency_ms: latency };
    }
    const r = parsed.data;
    return {
      status: r.status,
      latency_ms: r.latency_ms ?? latency,
      ttft_ms: r.ttft_ms,
      input_tokens: r.input_tokens,
      output_tokens: r.output_tokens,
      output: r.output,
      finish_reason: r.finish_reason,
      cost_usd: r.cost_usd !== undefined ? r.cost_usd : costUsd(this.config.price, r.input_tokens, r.output_tokens),
      error: r.status === 'ok' ? r.error : (r.error ?? `module reported ${r.status}`),
      attempts: r.attempts,
    };
  }

  async close(): Promise<void> {
    if (this.closeFn) await this.closeFn();
  }
}
