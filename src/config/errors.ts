/**
 * A problem the user can fix: bad input, a missing file, a locked database. The CLI prints its
 * message alone (no stack) and exits 2.
 */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** A config problem, located as `file: field.path: what is wrong`. */
export class ConfigError extends UserError {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly problem: string,
  ) {
    super(field ? `${file}: ${field}: ${problem}` : `${file}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** `['rollout', 'stages', 2, 'percent']` → `rollout.stages[2].percent`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}
