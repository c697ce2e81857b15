#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../store/invocations.js';
import { checkCommand } from './check.js';
import { mergeCommand } from './merge.js';
import { queryCommand } from './query.js';
import { replayCommand } from './replay.js';
import { reportCommand } from './report.js';
import { schemaCommand } from './schema.js';
import { serveStubCommand } from './serve-stub.js';
import { simulateCommand } from './simulate.js';
import { tracesCommand } from './traces.js';
import { tuneCommand } from './tune.js';

const program = new Command('rehearse')
  .description('Rehearse a model rollout offline: shadow replay of stored traces, seeded canary simulation, gate tuning and CI checks, recorded in DuckDB.')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .addCommand(simulateCommand())
  .addCommand(checkCommand())
  .addCommand(replayCommand())
  .addCommand(tuneCommand())
  .addCommand(mergeCommand())
  .addCommand(reportCommand())
  .addCommand(queryCommand())
  .addCommand(serveStubCommand())
  .addCommand(schemaCommand())
  .addCommand(tracesCommand());

for (const cmd of program.commands) cmd.exitOverride().showHelpAfterError('(run with --help for usage)');

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are successes; every other usage problem is bad input: exit 2.
    const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
    process.exitCode = ok ? 0 : 2;
  } else {
    throw err;
  }
}
