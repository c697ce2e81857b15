import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_DB, MAP_OPTION, Progress, action, checkOutputPath, collect, decimal, engineOption, nonEmpty, nonNegativeInt, once, positiveInt, sampleShare, snakeKeys } from '../../src/cli/common.js';
import { ConfigError, UserError } from '../../src/config/errors.js';
import { userErrorOf } from '../user-error.js';

/**
 * What every command shares: option parsers, the error-to-exit-code wrapper (DESIGN: 2 for bad
 * input with one line and no stack, 1 for the rest) and the progress bar, which draws on a
 * terminal only. stderr is captured by a spy; the clock is faked for the bar's rate and ETA.
 */

let stderr: ReturnType<typeof vi.spyOn>;
const written = () => stderr.mock.calls.map((c: unknown[]) => String(c[0]));
const savedExitCode = process.exitCode;
const savedDebug = process.env.REHEARSE_DEBUG;
const ttyDescriptor = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');

function setStderrTTY(value: boolean): void {
  Object.defineProperty(process.stderr, 'isTTY', { value, configurable: true, writable: true });
}

beforeEach(() => {
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  delete process.env.REHEARSE_DEBUG;
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  process.exitCode = savedExitCode;
  if (savedDebug === undefined) delete process.env.REHEARSE_DEBUG;
  else process.env.REHEARSE_DEBUG = savedDebug;
  if (ttyDescriptor) Object.defineProperty(process.stderr, 'isTTY', ttyDescriptor);
  else delete (process.stderr as { isTTY?: boolean }).isTTY;
});

describe('option parsers', () => {
  it('positiveInt takes whole numbers from 1 up', () => {
    const parse = positiveInt('--runs');
    expect(parse('1')).toBe(1);
    expect(parse('250')).toBe(250);
  });

  it.each(['0', '-3', '1.5', 'abc', '', 'NaN', 'Infinity', '0x10', '1e3', ' '])('positiveInt refuses %j, naming the option and the value', (value) => {
    const parse = positiveInt('--runs');
    expect(() => parse(value)).toThrow(InvalidArgumentError);
    expect(() => parse(value)).toThrow(`--runs must be a whole number of at least 1, got "${value}"`);
  });

  it('positiveInt with a maximum takes it and refuses above it, giving the reason', () => {
    const parse = positiveInt('--runs', { value: 2147483647, why: 'runs are numbered with 32-bit integers' });
    expect(parse('2147483647')).toBe(2147483647);
    expect(() => parse('2147483648')).toThrow('--runs must be a whole number from 1 to 2147483647 (runs are numbered with 32-bit integers), got "2147483648"');
    expect(() => parse('99999999999999999999')).toThrow(/from 1 to 2147483647/);
    expect(() => parse('0')).toThrow('--runs must be a whole number of at least 1, got "0"');
  });

  it('nonEmpty refuses an empty or blank value (an unset variable), naming the option', () => {
    expect(nonEmpty('--invocation')('nightly-42')).toBe('nightly-42');
    for (const v of ['', ' ', '\t']) {
      expect(() => nonEmpty('--invocation')(v)).toThrow(InvalidArgumentError);
      expect(() => nonEmpty('--invocation')(v)).toThrow('--invocation must not be empty');
    }
  });

  it('nonNegativeInt takes 0 too', () => {
    const parse = nonNegativeInt('--seed');
    expect(parse('0')).toBe(0);
    expect(parse('42')).toBe(42);
  });

  it.each(['-1', '0.5', 'seven', 'Infinity', '', '  ', '0x10', '1e3', '9007199254740993'])('nonNegativeInt refuses %j', (value) => {
    expect(() => nonNegativeInt('--seed')(value)).toThrow(`--seed must be a whole number of at least 0, got "${value}"`);
  });

  it('decimal reads numbers as people write them, and nothing else Number() would take', () => {
    expect([decimal('1'), decimal(' 0.5 '), decimal('.5'), decimal('2.'), decimal('1e3'), decimal('2.5E-2')]).toEqual([1, 0.5, 0.5, 2, 1000, 0.025]);
    for (const v of ['0x10', '0b1', '', '  ', 'Infinity', '-1', '1.2.3', '1,5', 'NaN', '+1']) expect(decimal(v), v).toBeNaN();
  });

  it('sampleShare takes a fraction or a percentage in (0, 1], and refuses the rest naming --sample', () => {
    expect([sampleShare('0.1'), sampleShare('10%'), sampleShare(' 100% '), sampleShare('1')]).toEqual([0.1, 0.1, 1, 1]);
    for (const v of ['0', '0%', '1.5', '150%', '0x1', '', 'ten']) expect(() => sampleShare(v), v).toThrow(`--sample must be a share in (0, 1] such as 0.1 or 10%, got "${v}"`);
  });

  it('collect appends each repetition without touching the earlier list', () => {
    const first = collect('a.yaml');
    expect(first).toEqual(['a.yaml']);
    const second = collect('b.yaml', first);
    expect(second).toEqual(['a.yaml', 'b.yaml']);
    expect(first).toEqual(['a.yaml']);
  });

  it('collects repeated options through commander, in order', () => {
    const cmd = new Command().exitOverride().option('--gates <file>', 'gates', collect);
    cmd.parse(['--gates', 'strict.yaml', '--gates', 'loose.yaml'], { from: 'user' });
    expect(cmd.opts().gates).toEqual(['strict.yaml', 'loose.yaml']);
  });

  it('snakeKeys writes keys as the DuckDB columns are, leaving maps keyed by gate names as named', () => {
    expect(snakeKeys([{ gateConfig: 'a', topGateShare: 0.5, gateCounts: { costGate: 3 }, expect: { byStage: 2 }, nested: [{ falseAlarm: 0 }] }])).toEqual([
      { gate_config: 'a', top_gate_share: 0.5, gate_counts: { costGate: 3 }, expect: { by_stage: 2 }, nested: [{ false_alarm: 0 }] },
    ]);
    expect(snakeKeys(null)).toBeNull();
    expect(snakeKeys('gateConfig')).toBe('gateConfig');
  });

  it('--map repeated joins its lists, in order, as one map', () => {
    const cmd = new Command().exitOverride().option(MAP_OPTION.flags, MAP_OPTION.help, MAP_OPTION.collect);
    cmd.parse(['--map', 'ts=timestamp:s', '--map', 'a=input_tokens,b=output_tokens'], { from: 'user' });
    expect(cmd.opts().map).toBe('ts=timestamp:s,a=input_tokens,b=output_tokens');
  });

  it('the default database is reports/rehearse.duckdb (DESIGN: common options)', () => {
    expect(DEFAULT_DB).toBe('reports/rehearse.duckdb');
  });
});

describe('checkOutputPath', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-common-'));

  it('accepts a new file, an existing file, a file in folders yet to be made, and a folder for a folder', () => {
    writeFileSync(path.join(dir, 'old.xml'), '');
    for (const f of ['new.xml', 'old.xml', 'a/b/c.xml']) expect(() => checkOutputPath('--junit', path.join(dir, f), { file: 'check.xml' })).not.toThrow();
    expect(() => checkOutputPath('--out', dir, 'folder')).not.toThrow();
    expect(() => checkOutputPath('--out', path.join(dir, 'x', 'y'), 'folder')).not.toThrow();
  });

  it('refuses, exit 2, naming the option: a folder for a file, a file for a folder, a file in the way, an empty path', () => {
    const folder = path.join(dir, 'folder');
    mkdirSync(folder);
    const file = path.join(dir, 'file');
    writeFileSync(file, '');
    const cases: [() => void, string][] = [
      [() => checkOutputPath('--junit', folder, { file: 'check.xml' }), `--junit ${folder}: is a folder; give a file, e.g. ${path.join(folder, 'check.xml')}`],
      [() => checkOutputPath('--out', file, 'folder'), `--out ${file}: is a file, not a folder (a missing folder is created)`],
      [() => checkOutputPath('--summary', path.join(file, 's.md'), { file: 'summary.md' }), `--summary ${path.join(file, 's.md')}: cannot create it, ${file} is a file`],
      [() => checkOutputPath('--out', path.join(file, 'a', 'b'), 'folder'), `--out ${path.join(file, 'a', 'b')}: cannot create it, ${file} is a file`],
      [() => checkOutputPath('--summary', '', { file: 'summary.md' }), '--summary: empty path'],
    ];
    for (const [f, message] of cases) {
      const e = userErrorOf(f);
      expect(e.exitCode).toBe(2);
      expect(e.message).toBe(message);
    }
  });

  it.skipIf(process.getuid?.() === 0)('refuses a path it cannot write (not testable as root, who may write anywhere)', () => {
    const locked = path.join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    try {
      expect(userErrorOf(() => checkOutputPath('--junit', path.join(locked, 'x.xml'), { file: 'check.xml' })).message).toBe(
        `--junit ${path.join(locked, 'x.xml')}: cannot create it, ${locked} is not writable`,
      );
    } finally {
      chmodSync(locked, 0o700);
    }
  });
});

describe('engineOption', () => {
  const parse = (args: string[]) => {
    const cmd = new Command()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined, writeOut: () => undefined })
      .addOption(engineOption());
    cmd.parse(args, { from: 'user' });
    return cmd.opts().engine as string;
  };

  it('defaults to auto and accepts exact and sample', () => {
    expect(parse([])).toBe('auto');
    expect(parse(['--engine', 'exact'])).toBe('exact');
    expect(parse(['--engine', 'sample'])).toBe('sample');
  });

  it('refuses any other engine as a usage error', () => {
    let error: unknown;
    try {
      parse(['--engine', 'fast']);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CommanderError);
    // Not help or version: main.ts turns it into exit 2. The message lists the allowed choices.
    expect((error as CommanderError).code).toBe('commander.invalidArgument');
    expect((error as CommanderError).message).toMatch(/auto, exact, sample/);
  });
});

describe('action', () => {
  it('sets the exit code the body returns, 0 when it returns nothing, and passes the arguments through', async () => {
    const seen: unknown[] = [];
    await action(async (a: string, b: { n: number }) => {
      seen.push(a, b);
      return 1;
    })('x', { n: 2 });
    expect(seen).toEqual(['x', { n: 2 }]);
    expect(process.exitCode).toBe(1);
    await action(async () => undefined)();
    expect(process.exitCode).toBe(0);
    expect(written()).toEqual([]);
  });

  it('prints a UserError as one line and exits with its code (2 by default)', async () => {
    await expect(action(async () => {
      throw new UserError('scenarios/x.yaml: no such file');
    })()).resolves.toBeUndefined();
    expect(written()).toEqual(['rehearse: scenarios/x.yaml: no such file\n']);
    expect(process.exitCode).toBe(2);
  });

  it('keeps the exit code a UserError asks for', async () => {
    await action(async () => {
      throw new UserError('a check failed', 1);
    })();
    expect(process.exitCode).toBe(1);
  });

  it('prints a ConfigError as file: field: problem, exit 2, no stack', async () => {
    await action(async () => {
      throw new ConfigError('s.yaml', 'rollout.stages[1].percent', 'must be at most 100');
    })();
    expect(written()).toEqual(['rehearse: s.yaml: rollout.stages[1].percent: must be at most 100\n']);
    expect(written().join('')).not.toMatch(/\n\s+at /);
    expect(process.exitCode).toBe(2);
  });

  it('reports any other error as an internal error, exit 1, with the stack only under REHEARSE_DEBUG', async () => {
    const boom = async () => {
      throw new Error('boom');
    };
    await action(boom)();
    expect(written()).toEqual(['rehearse: internal error: boom\n', '(set REHEARSE_DEBUG=1 for the stack trace, and please report it)\n']);
    expect(process.exitCode).toBe(1);

    stderr.mockClear();
    process.env.REHEARSE_DEBUG = '1';
    await action(boom)();
    const out = written();
    expect(out[0]).toBe('rehearse: internal error: boom\n');
    expect(out[1]).toMatch(/^Error: boom\n\s+at /);
    expect(out.join('')).not.toContain('set REHEARSE_DEBUG');
    expect(process.exitCode).toBe(1);
  });

  it('reports a thrown non-Error by its text', async () => {
    await action(async () => {
      throw 'oops';
    })();
    expect(written()[0]).toBe('rehearse: internal error: oops\n');
    expect(process.exitCode).toBe(1);
  });
});

describe('Progress', () => {
  const T0 = 1_700_000_000_000;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
  });

  it('is silent when stderr is not a terminal', () => {
    setStderrTTY(false);
    const p = new Progress(10, 'simulating', false);
    vi.setSystemTime(T0 + 5000);
    p.add(5);
    p.add(5);
    p.end();
    expect(written()).toEqual([]);
  });

  it('is silent with --quiet (or --json) even on a terminal', () => {
    setStderrTTY(true);
    const p = new Progress(10, 'simulating', true);
    vi.setSystemTime(T0 + 5000);
    p.add(10);
    p.end();
    expect(written()).toEqual([]);
  });

  it('is silent when there is nothing to do', () => {
    setStderrTTY(true);
    const p = new Progress(0, 'simulating', false);
    p.add(0);
    p.end();
    expect(written()).toEqual([]);
  });

  it('draws a 30-column bar with count, percent, rate and ETA, at most every 100 ms until done', () => {
    setStderrTTY(true);
    const p = new Progress(10, 'simulating', false);
    // 5 of 10 after 2 s: half → round(0.5·30) = 15 marks; 5 / 2 s = 2.5/s; ETA 2 / 0.5 − 2 = 2 s.
    vi.setSystemTime(T0 + 2000);
    p.add(5);
    expect(written()).toEqual([`\rsimulating [${'#'.repeat(15)}${'.'.repeat(15)}] 5/10 50% 2.5/s ETA 2s `]);
    // 50 ms later, not done: not redrawn.
    vi.setSystemTime(T0 + 2050);
    p.add(1);
    expect(written()).toHaveLength(1);
    // Another 50 ms, and done: drawn at once. 10 / 2.1 s = 4.76… → 4.8/s; ETA 2.1 / 1 − 2.1 = 0.
    vi.setSystemTime(T0 + 2100);
    p.add(4);
    expect(written()[1]).toBe(`\rsimulating [${'#'.repeat(30)}] 10/10 100% 4.8/s ETA 0s `);
    // end() clears the line.
    p.end();
    expect(written()[2]).toBe('\r\u001b[2K');
  });

  it('rounds a rate from 100/s to a whole number, shows the detail, and caps the bar at full', () => {
    setStderrTTY(true);
    const p = new Progress(1000, 'replaying', false, () => '2 errors');
    // 800 of 1000 after 4 s: round(0.8·30) = 24 marks; 800 / 4 = 200/s; ETA 4 / 0.8 − 4 = 1 s.
    vi.setSystemTime(T0 + 4000);
    p.add(800);
    expect(written()[0]).toBe(`\rreplaying [${'#'.repeat(24)}${'.'.repeat(6)}] 800/1000 80% 200/s 2 errors ETA 1s `);
    // Past the total (retries counted twice, say): the bar stays full and the percent at 100.
    vi.setSystemTime(T0 + 5000);
    p.add(400);
    expect(written()[1]).toMatch(new RegExp(`^\\rreplaying \\[${'#'.repeat(30)}\\] 1200/1000 100% `));
  });
});

describe('interruptible jobs (DESIGN: exit 130, the invocation marked interrupted)', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const cli = path.join(root, 'dist/cli/main.js');
  const jobs: [string, string[], NodeJS.Signals][] = [
    ['simulate', ['simulate', 'scenarios', '--runs', '40000', '--no-checks'], 'SIGTERM'],
    // Within each command's run limits (check: 100,000 with checks; tune: 100,000 in all), several seconds of work.
    ['check', ['check', 'scenarios', '--runs', '12000'], 'SIGTERM'],
    ['tune', ['tune', 'scenarios', '--gates', 'scenarios/gates/noise-aware.yaml', '--vary', 'cost_per_request.max_ratio=1.1:1.4:0.05', '--runs', '12000'], 'SIGINT'],
  ];
  it.each(jobs)('%s stopped by a signal mid-run exits 130 and records the invocation as interrupted', async (_name, args, signal) => {
    const { spawn, spawnSync } = await import('node:child_process');
    const db = path.join(mkdtempSync(path.join(os.tmpdir(), 'rehearse-interrupt-')), 'r.duckdb');
    const child = spawn(process.execPath, [cli, ...args, '--db', db, '--quiet'], { cwd: root, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    // Past start-up (the results file appears just before the invocation starts), into the
    // simulation, which takes far longer.
    for (let waited = 0; !existsSync(db) && waited < 30_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000));
    expect(child.exitCode).toBeNull();
    child.kill(signal);
    expect(await exited).toBe(130);
    const q = spawnSync(process.execPath, [cli, 'query', '--db', db, '--json', 'SELECT command, status FROM invocations'], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(q.stdout)).toEqual([{ command: args[0], status: 'interrupted' }]);
  });
});

describe('once', () => {
  it('takes the first value, and refuses a second naming both (commander kept the last, silently)', () => {
    const parse = once('--gates', 'a replay judges one gate file');
    expect(parse('a.yaml', undefined)).toBe('a.yaml');
    expect(() => parse('b.yaml', 'a.yaml')).toThrow(InvalidArgumentError);
    expect(() => parse('b.yaml', 'a.yaml')).toThrow('--gates given twice ("a.yaml", "b.yaml"): a replay judges one gate file');
  });
});
