import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenarioFile } from '../../src/config/load.js';
import { loadEmpirical } from '../../src/sim/empirical.js';
import { simulate } from '../../src/sim/simulate.js';

const AZURE = path.resolve(import.meta.dirname, '../../traces/azure-llm-2023-code.csv');

// Reference values computed independently from the CSV with Python's csv and statistics modules:
//   ContextTokens: mean 2047.848282118154, population sd 1973.7653686465558 (8,819 rows)
//   GeneratedTokens: mean 27.88252636353328, sd 59.858856455382764; mean of max(1, round(1.3·x)) = 36.30014740900329
const INPUT_MEAN = 2047.848282118154;
const INPUT_SD = 1973.7653686465558;
const OUTPUT_MEAN_X13 = 36.30014740900329;
const OUTPUT_SD = 59.858856455382764;

function scenario(dir: string, extra = ''): string {
  const file = path.join(dir, 'azure.yaml');
  writeFileSync(
    file,
    `name: azure-empirical
runs: 40
seed: 3
traffic:
  requests_per_minute: 200
  traces: ${path.relative(dir, AZURE)}
candidate: { output_length: 1.3 }
rollout:
  stages: [{ percent: 50, hold: 60m }, { percent: 100 }]
  check_every: 10m
gates:
  - { name: in_mean, metric: input_tokens, max_ratio: 100 }
  - { name: out_mean, metric: output_tokens, max_ratio: 100 }
${extra}`,
  );
  return file;
}

describe('empirical traffic (traffic.traces)', () => {
  it('reads the trace relative to the scenario, once, into shared memory', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-empirical-'));
    const s = await loadEmpirical(loadScenarioFile(scenario(dir)));
    expect(s.empirical!.rows).toBe(8819);
    expect(s.empirical!.input_tokens.buffer).toBeInstanceOf(SharedArrayBuffer);
    // The Azure trace has no latencies: the lognormal stands in for every row.
    expect(s.empirical!.latency_ms.every((x) => Number.isNaN(x))).toBe(true);
  });

  it('resamples rows: token means are the trace\'s, and output_length scales output tokens', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-empirical-'));
    const s = await loadEmpirical(loadScenarioFile(scenario(dir)));
    const [result] = await simulate({ scenarios: [s], workers: 2, recordChecks: true, engine: 'auto' });
    const c = result!.batches.map((b) => b.checks!);
    // Pool every check window's means, weighted by its request count.
    let inSum = 0, inN = 0, outB = 0, outBN = 0, outC = 0, outCN = 0;
    for (const k of c) {
      for (let i = 0; i < k.run.length; i++) {
        if (k.verdict[i] === 2) continue;
        const n = k.canaryN[i]!; // 50% stage: canary and baseline counts are alike; weight by canary count
        if (k.gate[i] === 0) {
          inSum += k.baseline[i]! * n;
          inN += n;
        } else {
          outB += k.baseline[i]! * n;
          outBN += n;
          outC += k.canary[i]! * n;
          outCN += n;
        }
      }
    }
    // 40 runs × 6 windows × ~600 baseline requests ≈ 144,000 draws: sd of the mean ≈ 1974/√144000 ≈ 5.2; allow 5 sd
    // plus the weighting's slack.
    expect(Math.abs(inSum / inN - INPUT_MEAN)).toBeLessThan(5 * INPUT_SD / Math.sqrt(inN) + 5);
    expect(Math.abs(outC / outCN - OUTPUT_MEAN_X13)).toBeLessThan((5 * 1.3 * OUTPUT_SD) / Math.sqrt(outCN) + 0.3);
    expect(outC / outCN / (outB / outBN)).toBeGreaterThan(1.25);
    expect(outC / outCN / (outB / outBN)).toBeLessThan(1.35);
  });

  it('draws per request under every engine, so auto and sample give the same runs', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-empirical-'));
    const s = await loadEmpirical(loadScenarioFile(scenario(dir)));
    const [a] = await simulate({ scenarios: [s], workers: 1, recordChecks: false, engine: 'auto', runs: 10 });
    const [b] = await simulate({ scenarios: [s], workers: 2, recordChecks: false, engine: 'sample', runs: 10 });
    expect(a!.batches.flatMap((x) => Array.from(x.outcomes.canaryRequests))).toEqual(b!.batches.flatMap((x) => Array.from(x.outcomes.canaryRequests)));
  });

  it('names the scenario file and field when the trace is missing', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rehearse-empirical-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'traffic:\n  traces: nope.csv\ngates:\n  - { metric: cost_usd, max_ratio: 2 }\n');
    await expect(loadEmpirical(loadScenarioFile(file))).rejects.toThrow(/bad\.yaml: traffic\.traces: .*nope\.csv/);
  });
});
