import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/issues.js';
import { type StubFile, StubFileSchema } from '../../src/targets/schema.js';
import type { TargetRequest } from '../../src/targets/target.js';

export function tmpDir(prefix = 'rehearse-targets-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** A validated stub config from the fields given (kind added). */
export function stubConfig(fields: Record<string, unknown> = {}): StubFile {
  return parseConfig(StubFileSchema, { kind: 'stub', ...fields }, 'test-stub.yaml');
}

export function request(id: string, over: Partial<TargetRequest> = {}): TargetRequest {
  return { request_id: id, timestamp_ms: 1_700_000_000_000, input: null, input_tokens: 1000, output_tokens: 300, latency_ms: 800, model: 'baseline-model', ...over };
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Linear-interpolation quantile (numpy's default). */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? s[lo]!) - s[lo]!);
}
