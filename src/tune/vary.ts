import type { Gate, GateConfig } from '../config/model.js';

/** The gate fields `tune` may vary: thresholds and how patient a gate is. Never what it reads. */
export const TUNABLE_FIELDS = ['max_ratio', 'min_ratio', 'max', 'min', 'max_delta', 'alpha', 'sustained', 'min_samples'] as const;
export type TunableField = (typeof TUNABLE_FIELDS)[number];

export interface Dimension {
  gate: string;
  field: TunableField;
  values: number[];
}

/** A point in the search space: one value per dimension, in dimension order. */
export type Combination = number[];

export class VaryError extends Error {}

/**
 * Parses `<gate>.<field>=<from>:<to>:<step>` (inclusive) or `<gate>.<field>=a,b,c`. Steps are
 * counted, not accumulated, so 1.1:1.5:0.1 gives exactly five values without float drift.
 */
export function parseVary(text: string, config: GateConfig): Dimension {
  const m = /^([^.=\s]+)\.([a-z_]+)=(.+)$/.exec(text.trim());
  if (!m) throw new VaryError(`--vary "${text}": expected <gate>.<field>=<from>:<to>:<step> or <gate>.<field>=a,b,c`);
  const [, gate, field, spec] = m as unknown as [string, string, string, string];
  const g = config.gates.find((x) => x.name === gate);
  if (!g) throw new VaryError(`--vary "${text}": no gate named "${gate}" in ${config.source} (gates: ${config.gates.map((x) => x.name).join(', ')})`);
  if (!(TUNABLE_FIELDS as readonly string[]).includes(field)) {
    throw new VaryError(`--vary "${text}": ${field} cannot be tuned; tunable fields are ${TUNABLE_FIELDS.join(', ')}`);
  }
  if (field === 'alpha' && !g.test) throw new VaryError(`--vary "${text}": gate ${gate} has no test, so no alpha`);
  let values: number[];
  if (spec.includes(':')) {
    const parts = spec.split(':').map(Number);
    if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x)) || !(parts[2]! > 0) || parts[1]! < parts[0]!) {
      throw new VaryError(`--vary "${text}": a range is from:to:step with from ≤ to and step > 0`);
    }
    const [from, to, step] = parts as [number, number, number];
    const n = Math.floor((to - from) / step + 1e-9);
    values = Array.from({ length: n + 1 }, (_, i) => Number((from + i * step).toPrecision(12)));
  } else {
    values = spec.split(',').map((x) => Number(x.trim()));
    if (values.some((x) => !Number.isFinite(x))) throw new VaryError(`--vary "${text}": values must be numbers`);
  }
  const integer = field === 'sustained' || field === 'min_samples';
  for (const v of values) {
    if (integer && (!Number.isInteger(v) || v < (field === 'sustained' ? 1 : 0))) throw new VaryError(`--vary "${text}": ${field} takes whole numbers${field === 'sustained' ? ' ≥ 1' : ' ≥ 0'}, got ${v}`);
    if (field === 'alpha' && !(v > 0 && v < 1)) throw new VaryError(`--vary "${text}": alpha must be in (0, 1), got ${v}`);
  }
  return { gate, field: field as TunableField, values: [...new Set(values)] };
}

export function gridSize(dimensions: readonly Dimension[]): number {
  return dimensions.reduce((n, d) => n * d.values.length, 1);
}

/** Every combination, the last dimension varying fastest. */
export function* grid(dimensions: readonly Dimension[]): Generator<Combination> {
  const idx = dimensions.map(() => 0);
  if (dimensions.some((d) => d.values.length === 0)) return;
  for (;;) {
    yield dimensions.map((d, i) => d.values[idx[i]!]!);
    let k = dimensions.length - 1;
    while (k >= 0 && ++idx[k]! === dimensions[k]!.values.length) idx[k--] = 0;
    if (k < 0) return;
  }
}

/** The gate config with a combination's values written in. */
export function applyCombination(config: GateConfig, dimensions: readonly Dimension[], combination: Combination): GateConfig {
  const gates: Gate[] = config.gates.map((g) => ({ ...g, ...(g.test ? { test: { ...g.test } } : {}) }));
  dimensions.forEach((d, i) => {
    const g = gates.find((x) => x.name === d.gate)!;
    const v = combination[i]!;
    if (d.field === 'alpha') g.test!.alpha = v;
    else if (d.field === 'min_samples') g.minSamples = v;
    else g[d.field] = v;
  });
  return { ...config, gates };
}

export function describeCombination(dimensions: readonly Dimension[], combination: Combination): string {
  return dimensions.map((d, i) => `${d.gate}.${d.field}=${combination[i]}`).join(' ');
}
