import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadGateFile } from '../../src/config/load.js';
import type { Gate, GateConfig } from '../../src/config/model.js';
import { gateToFile, tunedGateFile } from '../../src/tune/tuned-file.js';

function gate(partial: Partial<Gate> & Pick<Gate, 'name' | 'metric'>): Gate {
  return { stat: 'mean', action: 'rollback', sustained: 1, minSamples: 0, window: 'check', ...partial };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-tuned-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gateToFile', () => {
  it('leaves every default out', () => {
    // stat mean, action rollback, sustained 1, min_samples 0 and window check are the file defaults.
    expect(gateToFile(gate({ name: 'cost', metric: 'cost_usd', max_ratio: 1.2 }))).toEqual({ name: 'cost', metric: 'cost_usd', max_ratio: 1.2 });
  });

  it('writes every non-default field under its file name, in the file order', () => {
    const out = gateToFile(
      gate({
        name: 'tail',
        description: 'p99 latency, pooled over the stage',
        metric: 'latency_ms',
        stat: 'p99',
        max_delta: 300,
        max_ratio: 1.3,
        action: 'hold',
        sustained: 3,
        minSamples: 200,
        window: 'stage',
      }),
    );
    expect(out).toEqual({
      name: 'tail',
      description: 'p99 latency, pooled over the stage',
      metric: 'latency_ms',
      stat: 'p99',
      max_ratio: 1.3,
      max_delta: 300,
      action: 'hold',
      sustained: 3,
      min_samples: 200,
      window: 'stage',
    });
    // Key order: name, description, metric, stat, thresholds (max_ratio, min_ratio, max, min, max_delta), … window.
    expect(Object.keys(out)).toEqual(['name', 'description', 'metric', 'stat', 'max_ratio', 'max_delta', 'action', 'sustained', 'min_samples', 'window']);
    // minSamples is the model's name only.
    expect(out).not.toHaveProperty('minSamples');
  });

  it('writes every threshold, zero included', () => {
    const out = gateToFile(gate({ name: 'g', metric: 'output_tokens', max_ratio: 2, min_ratio: 0, max: 5000, min: 0, max_delta: 0 }));
    expect(out).toEqual({ name: 'g', metric: 'output_tokens', max_ratio: 2, min_ratio: 0, max: 5000, min: 0, max_delta: 0 });
  });

  it('writes no stat for a rate metric', () => {
    expect(gateToFile(gate({ name: 'errors', metric: 'error_rate', max: 0.05 }))).toEqual({ name: 'errors', metric: 'error_rate', max: 0.05 });
  });

  it('keeps the stat of a test gate: the judge applies its thresholds to that statistic', () => {
    const g = gate({ name: 'mw-p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.5, test: { kind: 'mann_whitney', alpha: 0.01, direction: 'increase' } });
    expect(gateToFile(g)).toEqual({ name: 'mw-p99', metric: 'latency_ms', stat: 'p99', max_ratio: 1.5, test: 'mann_whitney', alpha: 0.01 });
  });

  it('writes a test with its alpha always, and its direction only when it is not the default', () => {
    const t = (kind: 'ks' | 'mann_whitney' | 'proportion', direction: 'increase' | 'decrease', metric: Gate['metric']) =>
      gateToFile(gate({ name: 't', metric, test: { kind, alpha: 0.01, direction } }));
    expect(t('mann_whitney', 'increase', 'latency_ms')).toEqual({ name: 't', metric: 'latency_ms', test: 'mann_whitney', alpha: 0.01 });
    expect(t('mann_whitney', 'decrease', 'output_tokens')).toEqual({ name: 't', metric: 'output_tokens', test: 'mann_whitney', alpha: 0.01, direction: 'decrease' });
    expect(t('proportion', 'decrease', 'thumbs_down_rate')).toEqual({ name: 't', metric: 'thumbs_down_rate', test: 'proportion', alpha: 0.01, direction: 'decrease' });
    // ks is two-sided: a direction is never written (the loader rejects one).
    expect(t('ks', 'decrease', 'ttft_ms')).toEqual({ name: 't', metric: 'ttft_ms', test: 'ks', alpha: 0.01 });
  });
});

describe('tunedGateFile', () => {
  const config: GateConfig = {
    label: 'tuned',
    source: 'gates.yaml',
    gates: [
      gate({ name: 'cost', metric: 'cost_usd', max_ratio: 1.15, sustained: 2 }),
      gate({ name: 'errors', metric: 'error_rate', test: { kind: 'proportion', alpha: 0.001, direction: 'increase' } }),
      gate({ name: 'refusals', metric: 'refusal_rate', max: 0.04, min_ratio: 0.5, action: 'hold', minSamples: 50 }),
      gate({ name: 'tail', metric: 'latency_ms', stat: 'p999', max_ratio: 1.4, window: 'stage' }),
      gate({ name: 'length', metric: 'output_tokens', test: { kind: 'ks', alpha: 0.0005, direction: 'increase' } }),
      gate({ name: 'ttft', metric: 'ttft_ms', test: { kind: 'mann_whitney', alpha: 0.02, direction: 'decrease' } }),
      gate({
        name: 'described',
        description: 'A description long enough that a YAML writer with a line width would fold it over two or more lines of the file.',
        metric: 'input_tokens',
        stat: 'p50',
        max: 9000,
      }),
    ],
  };
  const evidence = ['rehearse tune: 120 combinations', '', 'false alarms ≤ 5%: 0.031'];
  const text = tunedGateFile(config, evidence);

  it('starts with the evidence as comments, an empty line as a bare #', () => {
    const lines = text.split('\n');
    expect(lines.slice(0, 3)).toEqual(['# rehearse tune: 120 combinations', '#', '# false alarms ≤ 5%: 0.031']);
    expect(lines[3]).toBe('gates:');
  });

  it('is YAML whose gates are gateToFile of each gate, with no line folded', () => {
    expect(parse(text)).toEqual({ gates: config.gates.map(gateToFile) });
    const long = config.gates[6]!.description!;
    expect(text.split('\n').some((l) => l.includes(long))).toBe(true);
  });

  it('says on a described gate which of its values tuning changed, from the file it started from', () => {
    const base: GateConfig = {
      ...config,
      gates: config.gates.map((g) => (g.name === 'described' ? { ...g, max: 8000, sustained: 2 } : g.name === 'cost' ? { ...g, max_ratio: 1.2 } : g)),
    };
    const out = parse(tunedGateFile(config, evidence, base)) as { gates: { name: string; description?: string }[] };
    const described = out.gates.find((g) => g.name === 'described')!;
    // sustained 2 → the default 1, which the file leaves out: said as 1.
    expect(described.description).toBe(`${config.gates[6]!.description} (tuned: max 8000 → 9000, sustained 2 → 1)`);
    // A gate without a description gets none; an unchanged one keeps its own.
    expect(out.gates.find((g) => g.name === 'cost')!.description).toBeUndefined();
    expect((parse(tunedGateFile(config, evidence, config)) as typeof out).gates.find((g) => g.name === 'described')!.description).toBe(config.gates[6]!.description);
  });

  it('loads back through the gate-file loader as the same gates', () => {
    const file = path.join(dir, 'tuned.yaml');
    writeFileSync(file, text);
    const loaded = loadGateFile(file);
    expect(loaded.label).toBe('tuned');
    expect(loaded.gates).toEqual(config.gates);
  });

  it('loads back without evidence too', () => {
    const file = path.join(dir, 'bare.yaml');
    writeFileSync(file, tunedGateFile(config, []));
    expect(loadGateFile(file).gates).toEqual(config.gates);
  });
});
