import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** The entry point as users run it: the built bin, a process per call. */
const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

// DESIGN.md's commands, and the ones this tool adds.
const COMMANDS = ['simulate', 'check', 'replay', 'tune', 'merge', 'report', 'query', 'serve-stub', 'schema', 'traces'];

describe('rehearse (the bin)', () => {
  it('lists every command in its help, exit 0', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it.each(COMMANDS)('%s --help describes the command and exits 0', (c) => {
    const r = run(c, '--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.startsWith(`Usage: rehearse ${c} `)).toBe(true);
  });

  it('prints the package version', () => {
    const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    const r = run('--version');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('exits 2 with a hint on an unknown command, an unknown option or a missing argument', () => {
    for (const args of [['nonsense'], ['simulate', '--nonsense', 'scenarios'], ['query']]) {
      const r = run(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('(run with --help for usage)');
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('exits 2, the help on stderr, when no command is given (it exited 0), and 0 for help asked for', () => {
    for (const args of [[], ['traces']]) {
      const r = run(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^Usage: rehearse/);
      expect(r.stdout).toBe('');
    }
    for (const args of [['help'], ['help', 'traces'], ['traces', '--help']]) expect(run(...args).code, args.join(' ')).toBe(0);
  });
});
