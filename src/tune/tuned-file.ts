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

/**
 * The tuned gate file: the evidence as header comments, then gates any command can load. A
 * description was written for the values of `base`: where tuning changed them, it says so, or
 * "stays within 1.2x" would stand beside a max_ratio of 1.25.
 */
export function tunedGateFile(config: GateConfig, evidence: readonly string[], base?: GateConfig): string {
  const header = evidence.map((line) => (line ? `# ${line}` : '#')).join('\n');
  const gates = config.gates.map((g) => {
    const out = gateToFile(g);
    const before = base?.gates.find((b) => b.name === g.name);
    if (typeof out.description === 'string' && before) {
      const changes = tunedChanges(gateToFile(before), out);
      if (changes.length) out.description = `${out.description} (tuned: ${changes.join(', ')})`;
    }
    return out;
  });
  return `${header}\n${stringify({ gates }, { lineWidth: 0 })}`;
}

/** The fields tuning changed, as `max_ratio 1.2 → 1.25`; a field left at its default reads as it. */
function tunedChanges(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const DEFAULTS: Record<string, unknown> = { sustained: 1, min_samples: 0, window: 'check', action: 'rollback', stat: 'mean' };
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== 'name' && k !== 'description');
  const show = (v: unknown, k: string) => String(v ?? DEFAULTS[k] ?? 'none');
  return keys.filter((k) => show(before[k], k) !== show(after[k], k)).map((k) => `${k} ${show(before[k], k)} → ${show(after[k], k)}`);
}
