import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { schemaCommand } from '../../src/cli/schema.js';

/**
 * `rehearse schema`: the JSON Schemas of scenario, gate and target files, written for editors, and
 * the Markdown reference. The command runs in-process into a temporary folder; the schemas it
 * writes are then used as an editor would, to validate the repository's own scenario and gate files.
 */

const root = path.resolve(import.meta.dirname, '../..');
const FILES = ['scenario.schema.json', 'gates.schema.json', 'stub.schema.json', 'http-target.schema.json', 'module-target.schema.json'];

let dir: string;
let stdout: ReturnType<typeof vi.spyOn>;
let stderr: ReturnType<typeof vi.spyOn>;
const savedExitCode = process.exitCode;
const out = () => stdout.mock.calls.map((c: unknown[]) => String(c[0])).join('');

async function schema(...args: string[]): Promise<void> {
  await schemaCommand().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined }).parseAsync(args, { from: 'user' });
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-schema-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = savedExitCode;
});

describe('rehearse schema', () => {
  it('writes the five schemas into --out, creating the folders, and says what it wrote', async () => {
    const outDir = path.join(dir, 'a', 'b');
    await schema('--out', outDir);
    expect(stderr).not.toHaveBeenCalled();
    expect(process.exitCode).toBe(0);
    expect(readdirSync(outDir).sort()).toEqual([...FILES].sort());
    expect(out()).toBe(FILES.map((f) => `wrote ${path.join(outDir, f)}\n`).join(''));
  });

  it('exits 2 naming the path when a file stands where a folder should be', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    await schema('--out', file);
    expect(process.exitCode).toBe(2);
    expect(stderr).toHaveBeenCalledWith(`rehearse: ${file}: cannot write (a file is where a folder should be)\n`);
    await schema('--out', path.join(dir, 'ok'), '--docs', path.join(file, 'reference.md'));
    expect(process.exitCode).toBe(2);
  });

  it('writes each schema as titled, 2-space-indented JSON ending in a newline', async () => {
    const outDir = path.join(dir, 'titles');
    await schema('--out', outDir);
    const titles: Record<string, string> = {
      'scenario.schema.json': 'rehearse scenario',
      'gates.schema.json': 'rehearse gate file',
      'stub.schema.json': 'rehearse stub target',
      'http-target.schema.json': 'rehearse http target',
      'module-target.schema.json': 'rehearse module target',
    };
    for (const file of FILES) {
      const text = readFileSync(path.join(outDir, file), 'utf8');
      const json = JSON.parse(text);
      expect(json.title, file).toBe(titles[file]);
      expect(json.$schema, file).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(json.type, file).toBe('object');
      expect(text).toBe(JSON.stringify(json, null, 2) + '\n');
    }
  });

  it('writes the Markdown reference first with --docs, creating its folder', async () => {
    const outDir = path.join(dir, 'with-docs');
    const docs = path.join(dir, 'docs', 'nested', 'reference.md');
    await schema('--out', outDir, '--docs', docs);
    expect(process.exitCode).toBe(0);
    const lines = out().split('\n');
    expect(lines[0]).toBe(`wrote ${docs}`);
    expect(lines.slice(1, -1)).toEqual(FILES.map((f) => `wrote ${path.join(outDir, f)}`));
    const md = readFileSync(docs, 'utf8');
    expect(md.startsWith('# Scenario and gate file reference\n')).toBe(true);
    expect(md).toContain('## Scenario file');
    expect(md).toContain('## Gate file');
    // Fields of the scenario file, as DESIGN documents them, each in a row of the reference.
    for (const field of ['runs', 'seed', 'rollout.stages', 'rollout.check_every', 'expect.probability']) expect(md).toContain(`| \`${field}\` |`);
  });

  it('writes no reference without --docs', async () => {
    await schema('--out', path.join(dir, 'no-docs'));
    expect(out()).not.toMatch(/\.md\n/);
  });

  it('writes --out to schema/ by default', () => {
    expect(schemaCommand().options.find((o) => o.long === '--out')?.defaultValue).toBe('schema');
  });
});

describe('the schemas it writes', () => {
  let validateScenario: (data: unknown) => boolean;
  let validateGates: (data: unknown) => boolean;

  beforeAll(async () => {
    const outDir = path.join(dir, 'ajv');
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    await schema('--out', outDir);
    vi.restoreAllMocks();
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    validateScenario = ajv.compile(JSON.parse(readFileSync(path.join(outDir, 'scenario.schema.json'), 'utf8')));
    validateGates = ajv.compile(JSON.parse(readFileSync(path.join(outDir, 'gates.schema.json'), 'utf8')));
  });

  const yamlFile = (rel: string) => parseYaml(readFileSync(path.join(root, rel), 'utf8'));

  it('accept the bundled scenario and gate files', () => {
    expect(validateScenario(yamlFile('scenarios/regressions/cost-25.yaml'))).toBe(true);
    expect(validateScenario(yamlFile('scenarios/clean/no-regression.yaml'))).toBe(true);
    expect(validateGates(yamlFile('scenarios/gates/default.yaml'))).toBe(true);
  });

  it('reject what the loader rejects: a stage above 100%, an unknown metric, an unknown field', () => {
    const scenario = yamlFile('scenarios/regressions/cost-25.yaml');
    scenario.rollout.stages[1].percent = 150;
    expect(validateScenario(scenario)).toBe(false);
    expect(validateGates({ gates: [{ name: 'x', metric: 'latency', max_ratio: 2 }] })).toBe(false);
    expect(validateScenario({ ...yamlFile('scenarios/regressions/cost-25.yaml'), colour: 'blue' })).toBe(false);
    // A gate file lists at least one gate.
    expect(validateGates({ gates: [] })).toBe(false);
  });
});
