import { InvalidArgumentError, Option } from 'commander';
import { ENGINES } from '../sim/engine.js';
import { UserError } from '../config/errors.js';

export const DEFAULT_DB = 'reports/rehearse.duckdb';

/** Digits only: Number() would also take "", " ", "0x10" and "1e3". */
const WHOLE = /^\s*\d+\s*$/;

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = WHOLE.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got "${value}"`);
    return n;
  };
}

export function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = WHOLE.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number of at least 0, got "${value}"`);
    return n;
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
