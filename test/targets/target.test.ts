import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, UserError } from '../../src/config/errors.js';
import { HttpTarget } from '../../src/targets/http.js';
import { ModuleTarget } from '../../src/targets/module.js';
import { StubTarget } from '../../src/targets/stub.js';
import { type Target, loadStubFile, loadTarget } from '../../src/targets/target.js';
import { request, tmpDir, write } from './helpers.js';

let dir: string;
let server: Server;
let base: string;
const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];
const open: Target[] = [];
const track = <T extends Target>(t: T): T => {
  open.push(t);
  return t;
};

beforeAll(async () => {
  // Under os.tmpdir(), outside the working directory: messages show these paths whole.
  dir = tmpDir('rehearse-target-');
  write(dir, 'pricier.yaml', 'kind: stub\ncandidate: { price: 2 }\n');
  write(dir, 'named.yml', 'kind: stub\nname: fancy\ncandidate: { latency: 1.5 }\n');
  write(dir, 'cand.json', JSON.stringify({ kind: 'stub', seed: 7 }));
  write(dir, 'echo.mjs', "export async function call(req) { return { output: 'echo ' + req.request_id, output_tokens: 3 }; }\n");
  write(dir, 'plain.js', "export default async (req) => 'js ' + req.request_id;\n");
  write(dir, 'common.cjs', "module.exports = { call: async (req) => 'cjs ' + req.request_id };\n");
  write(dir, 'mod.yaml', 'kind: module\nname: my-module\nmodule: echo.mjs\n');
  write(dir, 'mod-missing.yaml', 'kind: module\nmodule: gone.mjs\n');
  write(dir, 'list.yaml', '- kind: stub\n');
  write(dir, 'empty.yaml', '');
  write(dir, 'nokind.yaml', 'candidate: { price: 2 }\n');
  write(dir, 'grpc.yaml', 'kind: grpc\n');
  write(dir, 'badfield.yaml', 'kind: stub\ncandidate:\n  latency: -1\n');
  write(dir, 'syntax.yaml', 'kind: stub\ncandidate: { price: 2\n');
  write(dir, 'nokey.yaml', 'kind: http\nurl: http://127.0.0.1:9/v1\napi_key_env: REHEARSE_TARGET_TEST_UNSET\n');
  mkdirSync(path.join(dir, 'folder.yaml'));

  // A minimal OpenAI-compatible endpoint that records what it is sent.
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url === '/v1/models') {
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'served-model', object: 'model' }] }));
      } else if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'hello back' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 2 } }));
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterEach(async () => {
  while (open.length > 0) await open.pop()!.close();
  delete process.env.REHEARSE_API_KEY;
  seen.length = 0;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const at = (name: string) => path.join(dir, name);

describe('loadTarget: stub files', () => {
  it('loads a YAML stub file, labelled by its file name without the extension', async () => {
    const t = track(await loadTarget(at('pricier.yaml')));
    expect(t).toBeInstanceOf(StubTarget);
    expect(t.kind).toBe('stub');
    expect(t.label).toBe('pricier');
    expect((t as StubTarget).source).toBe(at('pricier.yaml'));
    // Without noise or injected failures the stub returns the trace's tokens and latency;
    // cost = (1000 · 0.5 + 300 · 1.5) / 1e6 · price 2 = 0.0019.
    const r = await t.call(request('t-1'));
    expect(r).toMatchObject({ status: 'ok', latency_ms: 800, input_tokens: 1000, output_tokens: 300, attempts: 1 });
    expect(r.cost_usd).toBeCloseTo(0.0019, 15);
  });

  it('takes the label from `name` when given; .yml and .json files too', async () => {
    const named = track(await loadTarget(at('named.yml')));
    expect(named.label).toBe('fancy');
    // latency 1.5 on a trace latency of 800 ms: 1200 ms.
    expect((await named.call(request('t-2'))).latency_ms).toBeCloseTo(1200, 9);
    const json = track(await loadTarget(at('cand.json')));
    expect(json).toBeInstanceOf(StubTarget);
    expect(json.label).toBe('cand');
    expect((json as StubTarget).config.seed).toBe(7);
  });
});

describe('loadTarget: URLs', () => {
  it('an http:// URL is an OpenAI-compatible endpoint with every default, labelled by the URL', async () => {
    const t = track(await loadTarget(base));
    expect(t).toBeInstanceOf(HttpTarget);
    expect(t.kind).toBe('http');
    expect(t.label).toBe(base);
    expect((t as HttpTarget).config).toMatchObject({ kind: 'http', url: base, stream: false, timeout: '60s', send_request_id: true });
    const r = await t.call(request('u-1', { input: 'hello' }));
    expect(r).toMatchObject({ status: 'ok', output: 'hello back', input_tokens: 5, output_tokens: 2, finish_reason: 'stop' });
    const post = seen.find((s) => s.method === 'POST')!;
    expect(post.url).toBe('/v1/chat/completions');
    // The model is the first one the endpoint lists.
    expect(JSON.parse(post.body)).toMatchObject({ model: 'served-model', messages: [{ role: 'user', content: 'hello' }] });
    expect(post.headers.authorization).toBeUndefined();
    expect(post.headers['x-request-id']).toBe('u-1');
  });

  it('sends the key from REHEARSE_API_KEY as a bearer token', async () => {
    process.env.REHEARSE_API_KEY = 'sk-test-123';
    const t = track(await loadTarget(base));
    await t.call(request('u-2', { input: 'hi' }));
    const post = seen.find((s) => s.method === 'POST')!;
    expect(post.headers.authorization).toBe('Bearer sk-test-123');
  });

  it('recognises the scheme in any case', async () => {
    const t = track(await loadTarget('HTTPS://api.example.com/v1'));
    expect(t.kind).toBe('http');
    expect(t.label).toBe('HTTPS://api.example.com/v1');
    expect((t as HttpTarget).config.url).toBe('https://api.example.com/v1');
  });

  it('a malformed URL is a UserError naming it', async () => {
    for (const spec of ['http://', 'http://exa mple.com/v1', 'https://[::1/v1']) {
      const err = await loadTarget(spec).catch((e: unknown) => e);
      expect(err, spec).toBeInstanceOf(UserError);
      expect((err as Error).message).toBe(`${spec}: not a valid URL`);
    }
  });
});

describe('loadTarget: modules', () => {
  it('a bare .mjs path is a module target with every default, labelled by its file name', async () => {
    const t = track(await loadTarget(at('echo.mjs')));
    expect(t).toBeInstanceOf(ModuleTarget);
    expect(t.kind).toBe('module');
    expect(t.label).toBe('echo.mjs');
    expect(await t.call(request('m-1'))).toMatchObject({ status: 'ok', output: 'echo m-1', output_tokens: 3, attempts: 1 });
  });

  it('a .cjs path works too, its exports read from module.exports; and a .js one', async () => {
    const t = track(await loadTarget(at('common.cjs')));
    expect(t.label).toBe('common.cjs');
    expect(await t.call(request('m-2'))).toMatchObject({ status: 'ok', output: 'cjs m-2' });
    const js = track(await loadTarget(at('plain.js')));
    expect(js).toBeInstanceOf(ModuleTarget);
    expect(js.label).toBe('plain.js');
    expect(await js.call(request('m-4'))).toMatchObject({ status: 'ok', output: 'js m-4' });
  });

  it('a module target file resolves the module beside it and takes its name', async () => {
    const t = track(await loadTarget(at('mod.yaml')));
    expect(t).toBeInstanceOf(ModuleTarget);
    expect(t.label).toBe('my-module');
    expect((await t.call(request('m-3'))).output).toBe('echo m-3');
  });

  it('a module file naming a missing module is a ConfigError naming both', async () => {
    await expect(loadTarget(at('mod-missing.yaml'))).rejects.toThrow(new ConfigError(at('mod-missing.yaml'), 'module', `${at('gone.mjs')} does not exist`));
  });
});

describe('loadTarget: bad targets', () => {
  it('a missing file is a UserError naming it and saying what a target can be', async () => {
    const missing = at('nope.yaml');
    const err = await loadTarget(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(`${missing}: no such file (a target is a stub or target file, an http(s):// URL, or a .js/.mjs module)`);
    // A path inside the working directory is shown relative to it.
    await expect(loadTarget('no/such/target.yaml')).rejects.toThrow(/^no\/such\/target\.yaml: no such file/);
    await expect(loadTarget(at('gone.mjs'))).rejects.toThrow(`${at('gone.mjs')}: no such file`);
  });

  it('a folder is refused', async () => {
    await expect(loadTarget(at('folder.yaml'))).rejects.toThrow(new UserError(`${at('folder.yaml')}: is a folder, expected a target file, an http(s):// URL or a .js/.mjs module`));
  });

  it('a file that is not a mapping, has no kind or an unknown kind is a ConfigError naming the file', async () => {
    await expect(loadTarget(at('list.yaml'))).rejects.toThrow(new ConfigError(at('list.yaml'), '', 'must be a mapping of target fields, got a list'));
    await expect(loadTarget(at('empty.yaml'))).rejects.toThrow(new ConfigError(at('empty.yaml'), '', 'must be a mapping of target fields, got null'));
    await expect(loadTarget(at('nokind.yaml'))).rejects.toThrow(`${at('nokind.yaml')}: kind: is required: one of stub, http, module`);
    await expect(loadTarget(at('grpc.yaml'))).rejects.toThrow(`${at('grpc.yaml')}: kind: must be one of stub, http, module, got the text "grpc"`);
  });

  it('a bad field names the file and the field', async () => {
    const err = await loadTarget(at('badfield.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe('candidate.latency');
    expect((err as Error).message).toBe(`${at('badfield.yaml')}: candidate.latency: must be at least 0`);
  });

  it('a YAML syntax error names the file and the line', async () => {
    const err = await loadTarget(at('syntax.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(new RegExp(`^${at('syntax.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: YAML syntax error`));
  });

  it('an http file whose key variable is unset names the field and the variable', async () => {
    delete process.env.REHEARSE_TARGET_TEST_UNSET;
    await expect(loadTarget(at('nokey.yaml'))).rejects.toThrow(
      `${at('nokey.yaml')}: api_key_env: the environment variable REHEARSE_TARGET_TEST_UNSET is not set; export it with the API key, or remove api_key_env`,
    );
  });
});

describe('loadStubFile', () => {
  it('reads a stub file with its label and where it came from', () => {
    const s = loadStubFile(at('named.yml'));
    expect(s.label).toBe('fancy');
    expect(s.source).toBe(at('named.yml'));
    expect(s.config.candidate.latency).toBe(1.5);
    expect(s.config.model).toBe('rehearse-stub');
  });

  it('refuses anything but kind: stub', () => {
    expect(() => loadStubFile(at('nokind.yaml'))).toThrow(`${at('nokind.yaml')}: kind: is required: a stub file says \`kind: stub\``);
    expect(() => loadStubFile(at('mod.yaml'))).toThrow(`${at('mod.yaml')}: kind: must be stub for serve-stub, got the text "module"`);
    expect(() => loadStubFile(at('list.yaml'))).toThrow(`${at('list.yaml')}: must be a mapping of stub fields, got a list`);
    expect(() => loadStubFile(at('nope.yaml'))).toThrow(`${at('nope.yaml')}: no such file`);
  });
});
