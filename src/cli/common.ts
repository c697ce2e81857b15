import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import { ENGINES } from '../sim/engine.js';
import { UserError } from '../config/errors.js';
import type { Store } from '../store/database.js';
import { finishInvocation } from '../store/invocations.js';

export const DEFAULT_DB = 'reports/rehearse.duckdb';

/**
 * While a job runs, Ctrl-C and SIGTERM (a CI timeout, `timeout`, Kubernetes) mark its invocation
 * interrupted and exit 130, as DESIGN.md says. Without this, SIGTERM exited 143 and a signal
 * left the invocation `running` for ever. Returns what removes the handlers, once the job is done.
 */
export function interruptible(store: Store, invocation: string): () => void {
  const stop = () => {
    const quit = () => process.exit(130);
    // A store busy with a long write must not keep the process alive past a second.
    setTimeout(quit, 1000).unref();
    finishInvocation(store, invocation, 'interrupted').then(quit, quit);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  };
}

/** A whole number written in digits; NaN for anything else Number() would take ("", " ", "0x10", "1e3"). */
export function wholeNumber(value: string): number {
  return /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
}

/** A decimal number, as a person writes one (1, 0.5, .5, 1e3); NaN for anything else, which Number() would take ("0x10", "", "Infinity"). */
export function decimal(value: string): number {
  return /^\s*(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?\s*$/i.test(value) ? Number(value) : NaN;
}

/**
 * A result as machine-readable output writes it: keys in snake_case, as the DuckDB columns and
 * the YAML fields are (the summaries' own camelCase showed through `--json` beside snake_case
 * keys). The values under `dataKeys` are maps keyed by names users chose (gates), left as named.
 */
export function snakeKeys(value: unknown, dataKeys: ReadonlySet<string> = DATA_KEYS): unknown {
  if (Array.isArray(value)) return value.map((v) => snakeKeys(v, dataKeys));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => {
      const key = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      return [key, dataKeys.has(key) ? v : snakeKeys(v, dataKeys)];
    }),
  );
}

/** Maps keyed by gate names, in the results --json prints. */
const DATA_KEYS = new Set(['gate_counts', 'gates', 'gate_paths', 'misses']);

/**
 * An option given at most once: commander keeps the last of a repeated option, so a second
 * `--gates` silently replaced the first (a bad first file went unread).
 */
export function once(flag: string, why: string): (value: string, previous: string | undefined) => string {
  return (value, previous) => {
    if (previous !== undefined) throw new InvalidArgumentError(`${flag} given twice ("${previous}", "${value}"): ${why}`);
    return value;
  };
}

/** `--sample`: a share of sessions in (0, 1], as a fraction or a percentage. */
export function sampleShare(value: string): number {
  const pct = value.trim().endsWith('%');
  const n = decimal(pct ? value.trim().slice(0, -1) : value) / (pct ? 100 : 1);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`--sample must be a share in (0, 1] such as 0.1 or 10%, got "${value}"`);
  return n;
}

/** `--map`, for every command that reads a trace: repeated, its lists join. */
export const MAP_OPTION = {
  flags: '--map <SRC=dst,...>',
  help: 'rename foreign trace columns to canonical ones, e.g. --map ts=timestamp,prompt_len=input_tokens; a time column may say its unit: ts=timestamp:s (s, ms, us, ns; default ms) (repeatable)',
  collect: (value: string, previous?: string): string => (previous ? `${previous},${value}` : value),
};

/** `max`, when given, comes with the reason for it, which the message repeats. */
export function positiveInt(name: string, max?: { value: number; why: string }) {
  return (value: string): number => {
    const n = wholeNumber(value);
    if (max && n > max.value) throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max.value} (${max.why}), got "${value}"`);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got "${value}"`);
    return n;
  };
}

export function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = wholeNumber(value);
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number of at least 0, got "${value}"`);
    return n;
  };
}

/** An id or name given on the command line: an empty one (an unset variable) would be recorded as is. */
export function nonEmpty(name: string) {
  return (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError(`${name} must not be empty`);
    return value;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Runs a command body and turns failures into exit codes: a UserError prints its message alone
 * (exit 2); anything else is a bug, printed as one line (the stack only with REHEARSE_DEBUG=1).
 */
export function action<A extends unknown[]>(body: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await body(...args);
      process.exitCode = code ?? 0;
    } catch (err) {
      if (err instanceof UserError) {
        process.stderr.write(`rehearse: ${err.message}\n`);
        process.exitCode = err.exitCode;
        return;
      }
      const e = err as Error;
      process.stderr.write(`rehearse: internal error: ${e?.message ?? String(err)}\n`);
      if (process.env.REHEARSE_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
      else process.stderr.write('(set REHEARSE_DEBUG=1 for the stack trace, and please report it)\n');
      process.exitCode = 1;
    }
  };
}

/** A one-line progress bar on stderr, drawn only on a terminal and never with --quiet or --json. */
export class Progress {
  private done = 0;
  private last = 0;
  private readonly started = Date.now();
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly label: string,
    quiet: boolean,
    /** More to show after the rate, e.g. the errors so far. */
    private readonly detail?: () => string,
  ) {
    this.enabled = !quiet && Boolean(process.stderr.isTTY) && total > 0;
  }

  add(n: number): void {
    this.done += n;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100 && this.done < this.total) return;
    this.last = now;
    const frac = Math.min(1, this.done / this.total);
    const width = 30;
    const filled = Math.round(frac * width);
    const elapsed = (now - this.started) / 1000;
    const eta = frac > 0 ? elapsed / frac - elapsed : 0;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const extra = this.detail ? ` ${this.detail()}` : '';
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${(frac * 100).toFixed(0)}% ${rate >= 100 ? Math.round(rate) : rate.toFixed(1)}/s${extra} ETA ${eta.toFixed(0)}s `,
    );
  }

  end(): void {
    if (this.enabled) process.stderr.write('\r\u001b[2K');
  }
}

export function engineOption(): Option {
  return new Option('--engine <kind>', 'auto (exact where it applies), exact, or sample (every request drawn: the reference)').choices(ENGINES).default('auto');
}

/** The nearest part of `p` that exists (the root at worst), and what it is. */
function nearestExisting(p: string): { at: string; isDirectory: boolean } {
  let at = path.resolve(p);
  for (;;) {
    try {
      return { at, isDirectory: statSync(at).isDirectory() };
    } catch {
      const up = path.dirname(at);
      if (up === at) return { at, isDirectory: true };
      at = up;
    }
  }
}

function writable(p: string): boolean {
  try {
    accessSync(p, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A path an option will write once the work is done (`check --junit`, `--summary`: a file;
 * `report --out`: a folder). Checked before the work, because a path that cannot be written would
 * otherwise fail after a long simulation, with the verdict lost. Missing folders are fine: the
 * writer creates them. `kind.file` is the name suggested when a folder is given for a file.
 */
export function checkOutputPath(option: string, target: string, kind: { file: string } | 'folder'): void {
  if (target.trim() === '') throw new UserError(`${option}: empty path`);
  const { at, isDirectory } = nearestExisting(target);
  if (at === path.resolve(target)) {
    if (kind === 'folder' && !isDirectory) throw new UserError(`${option} ${target}: is a file, not a folder (a missing folder is created)`);
    if (kind !== 'folder' && isDirectory) throw new UserError(`${option} ${target}: is a folder; give a file, e.g. ${path.join(target, kind.file)}`);
    if (!writable(at)) throw new UserError(`${option} ${target}: not writable`);
    return;
  }
  if (!isDirectory) throw new UserError(`${option} ${target}: cannot create it, ${at} is a file`);
  if (!writable(at)) throw new UserError(`${option} ${target}: cannot create it, ${at} is not writable`);
}
