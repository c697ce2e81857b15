import { Command, InvalidArgumentError } from 'commander';
import { loadStubFile } from '../targets/target.js';
import { startStubServer } from '../targets/stub-server.js';
import { action, wholeNumber } from './common.js';

function port(value: string): number {
  const n = wholeNumber(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port must be a whole number from 0 to 65535, got "${value}"`);
  return n;
}

export function serveStubCommand(): Command {
  return new Command('serve-stub')
    .description(
      'Serve a stub candidate as an OpenAI-compatible HTTP API (POST /v1/chat/completions, streaming or not; GET /v1/models), ' +
        'with its latency really waited and its regressions, errors (HTTP 500), refusals and 429s injected. Runs until Ctrl-C or SIGTERM.',
    )
    .requiredOption('--stub <file>', 'stub file (`kind: stub`)')
    .requiredOption('--port <n>', 'port to listen on; 0 picks a free one (the URL is printed)', port)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--json', 'print the address as one line of JSON ({"url", "model", "stub"}) for scripts, e.g. with --port 0')
    .action(
      action(async (opts: { stub: string; port: number; host: string; json?: boolean }) => {
        const stub = loadStubFile(opts.stub);
        const server = await startStubServer(stub.config, { host: opts.host, port: opts.port });
        if (opts.json) process.stdout.write(JSON.stringify({ url: server.url, model: stub.config.model, stub: stub.source }) + '\n');
        else process.stdout.write(`rehearse serve-stub: ${stub.source} (model ${stub.config.model}) at ${server.url}  (Ctrl-C stops)\n`);
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          const stop = (s: NodeJS.Signals) => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve(s);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await server.close();
        if (!opts.json) process.stdout.write(`rehearse serve-stub: stopped (${signal})\n`);
        return 0;
      }),
    );
}
