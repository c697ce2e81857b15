#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../store/invocations.js';
import type { Command as CommandType } from 'commander';

/**
 * Each command's module, loaded on demand: a command pulls in what it needs (DuckDB, undici,
 * Arrow, Vega) and nothing else, so `rehearse query` does not pay for importing `replay`'s
 * dependencies. Help and unknown commands load them all.
 */
const COMMANDS: Record<string, () => Promise<CommandType>> = {
  simulate: async () => (await import('./simulate.js')).simulateCommand(),
  check: async () => (await import('./check.js')).checkCommand(),
  replay: async () => (await import('./replay.js')).replayCommand(),
  tune: async () => (await import('./tune.js')).tuneCommand(),
  merge: async () => (await import('./merge.js')).mergeCommand(),
  report: async () => (await import('./report.js')).reportCommand(),
  query: async () => (await import('./query.js')).queryCommand(),
  'serve-stub': async () => (await import('./serve-stub.js')).serveStubCommand(),
  schema: async () => (await import('./schema.js')).schemaCommand(),
  traces: async () => (await import('./traces.js')).tracesCommand(),
};

// `rehearse … | head` closes stdout early: the reader wanted no more, which is not a crash (an
// unhandled EPIPE printed a stack trace). The results are in the DuckDB file by then.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const program = new Command('rehearse')
  .description('Rehearse a model rollout offline: shadow replay of stored traces, seeded canary simulation, gate tuning and CI checks, recorded in DuckDB.')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

const named = process.argv[2];
const wanted = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
for (const name of wanted) program.addCommand(await COMMANDS[name]!());

for (const cmd of program.commands) cmd.exitOverride().showHelpAfterError('(run with --help for usage)');

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help asked for and version are successes; every other usage problem is bad input: exit 2,
    // a missing command too (commander then shows the help on stderr, as an error).
    const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || (err.code === 'commander.help' && err.exitCode === 0);
    process.exitCode = ok ? 0 : 2;
  } else {
    throw err;
  }
}
