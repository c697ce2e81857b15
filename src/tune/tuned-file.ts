import { stringify } from 'yaml';
import type { Gate, GateConfig } from '../config/model.js';

/** A gate as it is written in a gate file: the file format's field names, defaults left out. */
export function gateToFile(g: Gate): Record<string, unknown> {
  const out: Record<string, unknown> = { name: g.name };
  if (g.description) out.description = g.description;
  out.metric = g.metric;
  if (!g.metric.endsWith('_rate') && g.stat !== 'mean') out.stat = g.stat;
  for (const k of ['max_ratio', 'min_ratio', 'max', 'min', 'max_delta'] as const) if (g[k] !== undefined) out[k] = g[k];
  if (g.test) {
    out.test = g.test.kind;
    out.alpha = g.test.alpha;
    if (g.test.kind !== 'ks' && g.test.direction !== 'increase') out.direction = g.test.direction;
  }
  if (g.action !== 'rollback') out.action = g.action;
  if (g.sustained !== 1) out.sustained = g.sustained;
  if (g.minSamples !== 0) out.min_samples = g.minSamples;
  if (g.window !== 'check') out.window = g.window;
  return out;
}

/** The tuned gate file: the evidence as header comments, then gates any command can load. */
export function tunedGateFile(config: GateConfig, evidence: readonly string[]): string {
  const header = evidence.map((line) => (line ? `# ${line}` : '#')).join('\n');
  return `${header}\n${stringify({ gates: config.gates.map(gateToFile) }, { lineWidth: 0 })}`;
}
