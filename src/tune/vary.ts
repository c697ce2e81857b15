import { issueToConfigError } from '../config/issues.js';
import type { Gate, GateConfig } from '../config/model.js';
import { GateSchema } from '../config/schema.js';
import { gateToFile } from './tuned-file.js';

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
 * The most values one `--vary` may give a field. Coordinate descent sweeps a field's values in
 * full, so a field with more values than the `--budget` cannot even be swept once.
 */
export const MAX_VALUES_PER_FIELD = 10_000;

/**
 * The most settings all `--vary` fields may make together. Only the budget is ever judged, but a
 * grid this large is a typo in a step, not a search anyone means to run.
 */
export const MAX_GRID_SETTINGS = 1_000_000;

const count = (n: number) => (!Number.isFinite(n) ? 'more than 10^308' : n < 1e15 ? Math.round(n).toLocaleString('en-US') : n.toExponential(2));

/**
 * The loader's own schema judges each value, in the gate it is written into, so `tune` cannot
 * recommend a value a gate file may not hold and the two sets of rules cannot drift apart.
 */
function checkValue(text: string, gate: Gate, field: TunableField, value: number): void {
  const trial = applyValue(gate, field, value);
  const data = gateToFile(trial);
  const result = GateSchema.safeParse(data);
  if (result.success) return;
  // The tunable fields are spelled as in a gate file, so the issue is found by the field's name.
  const issue = result.error.issues.find((i) => i.path[0] === field) ?? result.error.issues[0]!;
  const { problem } = issueToConfigError('', data, issue);
  throw new VaryError(`--vary "${text}": ${gate.name}.${field}=${value}: ${problem}, as in a gate file`);
}

/** A copy of the gate with one tunable field set. */
function applyValue(gate: Gate, field: TunableField, value: number): Gate {
  const g: Gate = { ...gate, ...(gate.test ? { test: { ...gate.test } } : {}) };
  if (field === 'alpha') g.test!.alpha = value;
  else if (field === 'min_samples') g.minSamples = value;
  else g[field] = value;
  return g;
}

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
  // A rule the loader holds across fields (normaliseGates), which the schema alone does not.
  if (field === 'alpha' && !g.test) throw new VaryError(`--vary "${text}": gate ${gate} has no test, so no alpha`);
  // Number('') is 0: an empty item must not become a threshold of zero.
  const number = (x: string) => (x.trim() === '' ? NaN : Number(x));
  let values: number[];
  if (spec.includes(':')) {
    const parts = spec.split(':').map(number);
    if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x)) || !(parts[2]! > 0) || parts[1]! < parts[0]!) {
      throw new VaryError(`--vary "${text}": a range is from:to:step with from ≤ to and step > 0`);
    }
    const [from, to, step] = parts as [number, number, number];
    const n = Math.floor((to - from) / step + 1e-9);
    // Counted before anything is built: a tiny step would otherwise ask for billions of values.
    if (!(n + 1 <= MAX_VALUES_PER_FIELD)) {
      throw new VaryError(`--vary "${text}": the range makes ${count(n + 1)} settings of ${gate}.${field}; the limit is ${count(MAX_VALUES_PER_FIELD)} per field (use a larger step)`);
    }
    values = Array.from({ length: n + 1 }, (_, i) => Number((from + i * step).toPrecision(12)));
  } else {
    values = spec.split(',').map(number);
    if (values.some((x) => !Number.isFinite(x))) throw new VaryError(`--vary "${text}": values must be numbers`);
    if (values.length > MAX_VALUES_PER_FIELD) {
      throw new VaryError(`--vary "${text}": the list makes ${count(values.length)} settings of ${gate}.${field}; the limit is ${count(MAX_VALUES_PER_FIELD)} per field`);
    }
  }
  const unique = [...new Set(values)];
  for (const v of unique) checkValue(text, g, field as TunableField, v);
  return { gate, field: field as TunableField, values: unique };
}

/** Refuses a grid of more than MAX_GRID_SETTINGS settings, saying what each field contributes. */
export function checkGridSize(dimensions: readonly Dimension[]): void {
  const size = gridSize(dimensions);
  if (size <= MAX_GRID_SETTINGS) return;
  const factors = dimensions.map((d) => `${d.gate}.${d.field} ${count(d.values.length)}`).join(' × ');
  throw new VaryError(`--vary: the grid makes ${count(size)} settings (${factors}); the limit is ${count(MAX_GRID_SETTINGS)} (use larger steps or fewer fields)`);
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
    const k = gates.findIndex((x) => x.name === d.gate);
    gates[k] = applyValue(gates[k]!, d.field, combination[i]!);
  });
  return { ...config, gates };
}

export function describeCombination(dimensions: readonly Dimension[], combination: Combination): string {
  return dimensions.map((d, i) => `${d.gate}.${d.field}=${combination[i]}`).join(' ');
}
