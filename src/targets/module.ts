import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import { displayPath } from '../config/load.js';
import { issueToConfigError } from '../config/issues.js';
import type { ModuleFile } from './schema.js';
import type { Target, TargetRequest, TargetResponse } from './target.js';
import { type TimeoutSpec, abortOutcome, costUsd, describeTimeout, longTimeout, parseTimeout, timeoutFor } from './timing.js';

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

/** How long {@link ModuleTarget.close} waits for the module's own `close()`. */
export const CLOSE_TIMEOUT_MS = 5_000;
/**
 * How long importing a module target may take (its top-level code: a module may load a model or
 * its weights there, so this is generous; it exists because a top-level await that never settled
 * made Node quit silently with code 13).
 */
export const LOAD_TIMEOUT_MS = 10 * 60_000;

/** What a module threw, as one line: `message`, or `TypeError: message` for a named error. */
function describeThrown(err: unknown): string {
  const e = err as Error;
  return e instanceof Error ? `${e.name === 'Error' ? '' : e.name + ': '}${e.message}` : String(err);
}

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
    model: z.string().nullable().default(null),
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
    /** Where close() failures point: the target file's `module` field, or the bare module file. */
    private readonly where: { file: string; field: string; module: string },
  ) {}

  /** Imports the module; a missing file, a failing import or no such function is a ConfigError. */
  static async load(config: ModuleFile, where: { label: string; source: string; baseDir: string }): Promise<ModuleTarget> {
    const abs = path.resolve(where.baseDir, config.module);
    const shown = displayPath(abs);
    const bare = where.source === shown;
    const field = bare ? '' : 'module';
    if (!existsSync(abs)) throw new ConfigError(where.source, field, `${shown} does not exist`);
    let mod: Record<string, unknown>;
    // A top-level await that never settles left nothing for the event loop to wait on, and Node
    // quit silently with code 13: the import gets a deadline, whose timer keeps the process up.
    let timer: NodeJS.Timeout | undefined;
    const late = Symbol('late');
    try {
      const loaded = await Promise.race([
        import(pathToFileURL(abs).href) as Promise<Record<string, unknown>>,
        new Promise<typeof late>((resolve) => (timer = setTimeout(resolve, LOAD_TIMEOUT_MS, late))),
      ]);
      if (loaded === late) throw new ConfigError(where.source, field, `loading ${shown} did not finish within ${describeTimeout(LOAD_TIMEOUT_MS)} (a top-level await that never settles?)`);
      mod = loaded;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(where.source, field, `cannot load ${shown}: ${((err as Error)?.message ?? String(err)).split('\n')[0]}`);
    } finally {
      clearTimeout(timer);
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
    const timeout = config.timeout === 'none' ? null : parseTimeout(config.timeout, config.timeout_floor, config.timeout_fallback);
    return new ModuleTarget(where.label, where.source, fn as ModuleFn, close ?? null, config, timeout, { file: where.source, field, module: shown });
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
        : longTimeout(() => {
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
      return failed('error', `module threw: ${describeThrown(err)}`);
    } finally {
      timer?.cancel();
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
      model: r.model,
    };
  }

  /**
   * Calls the module's `close()`, if it exports one, and waits for it at most
   * {@link CLOSE_TIMEOUT_MS}. When it throws, rejects, or has not settled by then, this rejects
   * with a ConfigError (a UserError: exit 2) naming the module file and close(), e.g.
   * `t.yaml: module: close() of mods/m.mjs did not finish within 5s`: a module that cannot clean
   * up is the user's to fix, and saying so beats an internal error or, for a close() that never
   * settles, a process that ends with nothing left to run and no message. A close() still running
   * after the deadline is abandoned, not cancelled.
   */
  async close(): Promise<void> {
    const closeFn = this.closeFn;
    if (!closeFn) return;
    const { file, field, module } = this.where;
    const problem = (what: string) => new ConfigError(file, field, `close()${field ? ` of ${module}` : ''} ${what}`);
    const late = Symbol('late');
    let timer: NodeJS.Timeout | undefined;
    // Not unref'd: when nothing else is pending, this timer is what keeps the process alive to
    // report a close() that never settles.
    const deadline = new Promise<typeof late>((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS, late);
    });
    let outcome: unknown;
    try {
      outcome = await Promise.race([Promise.resolve().then(() => closeFn()), deadline]);
    } catch (err) {
      throw problem(`threw: ${describeThrown(err)}`);
    } finally {
      clearTimeout(timer);
    }
    if (outcome === late) throw problem(`did not finish within ${describeTimeout(CLOSE_TIMEOUT_MS)}`);
  }
}
