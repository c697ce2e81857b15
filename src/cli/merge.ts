import { Command } from 'commander';
import { mergeShards } from '../store/merge.js';
import { action } from './common.js';

export function mergeCommand(): Command {
  return new Command('merge')
    .description('Join shard databases (from `simulate --shard i/n`) into one results file.')
    .argument('<out>', 'the DuckDB file to merge into (created if missing; may already hold results)')
    .argument('<shards...>', 'shard DuckDB files')
    .option('--json', 'print the merge report as JSON')
    .addHelpText(
      'after',
      `
Shards of one invocation must be one job split n ways: the same scenarios, seeds, runs, gates,
engine and n. Shards that differ, or overlap, are refused and nothing is written.

Example (four shards of one invocation, then one merged file):
  for i in 0 1 2 3; do rehearse simulate scenarios/ --shard $i/4 --invocation nightly-42 --db shard-$i.duckdb; done
  rehearse merge reports/nightly.duckdb shard-*.duckdb`,
    )
    .action(
      action(async (out: string, shards: string[], opts: { json?: boolean }) => {
        const report = await mergeShards(out, shards);
        if (opts.json) {
          process.stdout.write(JSON.stringify(report, null, 2) + '\n');
          return 0;
        }
        process.stdout.write(`Merged ${report.shards} file${report.shards === 1 ? '' : 's'} into ${out}\n`);
        for (const inv of report.invocations) {
          const shards = inv.shards.length ? `shards ${inv.shards.join(', ')}` : 'unsharded';
          process.stdout.write(`  invocation ${inv.invocation_id}: ${inv.runs} outcome rows, ${shards}`);
          process.stdout.write(inv.missing.length ? `; MISSING ${inv.missing.join(', ')}\n` : '\n');
        }
        return 0;
      }),
    );
}
