import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { referenceMarkdown } from '../../src/config/reference.js';
import { jsonSchemas } from '../../src/config/schema.js';

// schema/*.json and docs/reference.md are generated (`npm run schema`) and committed so editors
// and readers find them without building; these tests fail when they fall behind the code.
describe('generated schema and reference', () => {
  it.each(Object.entries(jsonSchemas()))('schema/%s is up to date', (name, schema) => {
    const committed = JSON.parse(readFileSync(new URL(`../../schema/${name}`, import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(schema)));
  });

  it('docs/reference.md is up to date and documents every gate field', () => {
    const committed = readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8');
    expect(committed).toBe(referenceMarkdown());
    for (const field of ['metric', 'stat', 'max_ratio', 'min_ratio', 'max_delta', 'test', 'alpha', 'direction', 'action', 'sustained', 'min_samples', 'window']) {
      expect(committed).toContain(`| \`gates[].${field}\``);
    }
  });
});
