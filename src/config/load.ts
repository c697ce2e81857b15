import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, UserError, formatPath } from './errors.js';
import { describeValue, issueToConfigError, valueAt } from './issues.js';
import type { Expectation, Gate, GateConfig, Scenario, Stage } from './model.js';
import { isRateMetric } from './model.js';
import { GateFileSchema, type GateInput, GateListSchema, ScenarioSchema, type ScenarioFile } from './schema.js';

/** How a path is shown in messages: relative to the working directory when it lies inside it. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** Reads a YAML or JSON file into plain data; syntax errors name the file, line and column. */
export function readConfigFile(file: string): unknown {
  const shown = displayPath(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${shown}: no such file`);
    if (code === 'EISDIR') throw new UserError(`${shown}: is a folder, expected a YAML or JSON file`);
    throw new UserError(`${shown}: cannot read (${code ?? String(err)})`);
  }
  // YAML is a superset of JSON, so one parser serves both and reports positions the same way.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lineCounter.linePos(e.pos[0]);
    const where = pos ? `${shown}:${pos.line}:${pos.col}` : shown;
    throw new UserError(`${where}: ${path.extname(file) === '.json' ? 'JSON' : 'YAML'} syntax error: ${e.message.split('\n')[0]}`);
  }
  return doc.toJS();
}

/** Turns zod's first issue into `file: field.path: a sentence a person understands`. */
function issueToError(file: string, data: unknown, issue: z.core.$ZodIssue, prefix: readonly PropertyKey[] = []): ConfigError {
  if (issue.code === 'invalid_union') {
    // The only union is `gates: path | list`; a list deserves the list's own first problem.
    const v = valueAt(data, issue.path);
    if (Array.isArray(v)) {
      const inner = GateListSchema.safeParse(v);
      if (!inner.success) return issueToConfigError(file, v, inner.error.issues[0]!, [...prefix, ...issue.path]);
    }
    return new ConfigError(file, formatPath([...prefix, ...issue.path]), `must be a path to a gate file or a list of gates, got ${describeValue(v)}`);
  }
  return issueToConfigError(file, data, issue, prefix);
}

function parseWith<S extends z.ZodType>(schema: S, data: unknown, file: string): z.output<S> {
  const result = schema.safeParse(data);
  if (!result.success) throw issueToError(file, data, result.error.issues[0]!);
  return result.data;
}

const UNIT_MINUTES: Record<string, number> = { ms: 1 / 60000, s: 1 / 60, m: 1, h: 60, d: 1440 };

/** `1h30m` → 90. The schema has already checked the form. */
export function durationMinutes(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g)) total += Number(m[1]) * UNIT_MINUTES[m[2]!]!;
  return total;
}

/** Cross-field rules a JSON Schema cannot say well, with the gate's own path in the message. */
function normaliseGates(raw: GateInput[], file: string, fieldPrefix: string): Gate[] {
  const seen = new Map<string, number>();
  return raw.map((g, i) => {
    const at = (field: string) => `${fieldPrefix}[${i}]${field ? '.' + field : ''}`;
    const fail = (field: string, problem: string) => new ConfigError(file, at(field), problem);
    const name = g.name ?? g.metric;
    if (seen.has(name)) {
      throw fail(g.name ? 'name' : '', `gate name "${name}" is already used by ${fieldPrefix}[${seen.get(name)}]; give each gate a distinct name`);
    }
    seen.set(name, i);
    const rate = isRateMetric(g.metric);
    if (rate && g.stat !== undefined) throw fail('stat', `${g.metric} is a rate; stat applies only to continuous metrics`);
    const thresholds = (['max_ratio', 'min_ratio', 'max', 'min', 'max_delta'] as const).filter((k) => g[k] !== undefined);
    if (thresholds.length === 0 && g.test === undefined) {
      throw fail('', 'needs a condition: one of max_ratio, min_ratio, max, min, max_delta, or a test with alpha');
    }
    if (g.test === undefined && g.alpha !== undefined) throw fail('alpha', 'alpha applies only to a gate with a test');
    if (g.test === undefined && g.direction !== undefined) throw fail('direction', 'direction applies only to a gate with a test');
    if (g.test === 'proportion' && !rate) throw fail('test', `proportion compares rates; ${g.metric} is continuous (use mann_whitney or ks)`);
    if ((g.test === 'ks' || g.test === 'mann_whitney') && rate) throw fail('test', `${g.test} compares samples of a continuous metric; ${g.metric} is a rate (use proportion)`);
    if (g.test === 'ks' && g.direction !== undefined) throw fail('direction', 'ks is two-sided; direction applies to mann_whitney and proportion');
    const gate: Gate = {
      name,
      metric: g.metric,
      stat: g.stat ?? 'mean',
      action: g.action ?? 'rollback',
      sustained: g.sustained ?? 1,
      minSamples: g.min_samples ?? 0,
      window: g.window ?? 'check',
    };
    if (g.description !== undefined) gate.description = g.description;
    for (const k of thresholds) gate[k] = g[k];
    if (g.test !== undefined) gate.test = { kind: g.test, alpha: g.alpha ?? 0.01, direction: g.direction ?? 'increase' };
    return gate;
  });
}

export function loadGateFile(file: string): GateConfig {
  const abs = path.resolve(file);
  const shown = displayPath(abs);
  const data = readConfigFile(abs);
  const parsed = parseWith(GateFileSchema, data, shown);
  return {
    label: path.basename(abs).replace(/\.(ya?ml|json)$/i, ''),
    source: shown,
    gates: normaliseGates(parsed.gates, shown, 'gates'),
  };
}

function normaliseStages(parsed: ScenarioFile, file: string): Stage[] {
  const stages = parsed.rollout.stages;
  return stages.map((s, i) => {
    const last = i === stages.length - 1;
    if (s.hold === undefined && !last) {
      throw new ConfigError(file, `rollout.stages[${i}].hold`, 'is required on every stage but the last');
    }
    const holdMinutes = s.hold === undefined ? null : durationMinutes(s.hold);
    if (holdMinutes !== null && !(holdMinutes > 0)) throw new ConfigError(file, `rollout.stages[${i}].hold`, 'must be longer than 0');
    return { percent: s.percent, holdMinutes };
  });
}

/** Checks in one run's schedule (a 10-hour rollout checked every second has 36,000). */
export const MAX_CHECKS_PER_RUN = 100_000;

export interface LoadOptions {
  /**
   * Gate configs replacing the scenario's own gates (`--gates`, repeatable); the scenario carries
   * the first. `expect.gate` must name a gate of at least one of them: `check` fails the others.
   */
  gates?: GateConfig | readonly GateConfig[];
  /** Leaves `expect.gate` unchecked: `simulate` never reads `expect`. */
  skipExpectGate?: boolean;
}

export function loadScenarioFile(file: string, options: LoadOptions = {}): Scenario {
  const abs = path.resolve(file);
  const shown = displayPath(abs);
  const data = readConfigFile(abs);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(shown, '', `must be a mapping of scenario fields, got ${describeValue(data)}`);
  }
  const parsed = parseWith(ScenarioSchema, data, shown);
  const stages = normaliseStages(parsed, shown);
  const checkEveryMinutes = durationMinutes(parsed.rollout.check_every);
  if (!(checkEveryMinutes > 0)) throw new ConfigError(shown, 'rollout.check_every', 'must be longer than 0');
  // Every check of a run is a window simulated and judged, and its readings are kept until
  // written: a 100000h hold checked every second took gigabytes before its first run ended.
  const checks = stages.reduce((n, st) => n + (st.holdMinutes === null ? 0 : Math.ceil(st.holdMinutes / checkEveryMinutes)), 0);
  if (checks > MAX_CHECKS_PER_RUN) {
    throw new ConfigError(shown, 'rollout.check_every', `makes ${Math.round(checks).toLocaleString('en-US')} checks a run over the stages' holds; at most ${MAX_CHECKS_PER_RUN.toLocaleString('en-US')}: check less often or hold less long`);
  }

  const overrides: readonly GateConfig[] = options.gates === undefined ? [] : 'label' in options.gates ? [options.gates] : options.gates;
  let gates: GateConfig | null = overrides[0] ?? null;
  if (!gates && parsed.gates !== undefined) {
    if (typeof parsed.gates === 'string') {
      const gateFile = path.resolve(path.dirname(abs), parsed.gates);
      try {
        gates = loadGateFile(gateFile);
      } catch (err) {
        if (err instanceof UserError && err.message.endsWith('no such file')) {
          // As the file wrote it, and where that is from here when the two differ.
          const here = displayPath(gateFile);
          throw new ConfigError(shown, 'gates', `gate file ${parsed.gates}${here !== parsed.gates ? ` (${here})` : ''} does not exist`);
        }
        throw err;
      }
    } else {
      gates = { label: 'inline', source: shown, gates: normaliseGates(parsed.gates as GateInput[], shown, 'gates') };
    }
  }
  // Every config the command judges, not only the one the scenario carries.
  const configs = overrides.length ? overrides : gates ? [gates] : [];
  const b = parsed.traffic.baseline;
  if (!b.ttft_ms) {
    for (const config of configs) {
      const i = config.gates.findIndex((g) => g.metric === 'ttft_ms');
      if (i >= 0) throw new ConfigError(config.source, `gates[${i}].metric`, `ttft_ms needs traffic.baseline.ttft_ms in ${shown}`);
    }
  }
  let expect: Expectation | undefined;
  if (parsed.expect) {
    expect = { outcome: parsed.expect.outcome, probability: parsed.expect.probability };
    if (parsed.expect.gate !== undefined) {
      const name = parsed.expect.gate;
      if (!options.skipExpectGate && configs.length && !configs.some((c) => c.gates.some((g) => g.name === name))) {
        const listed = configs.map((c) => (configs.length > 1 ? `${c.label}: ` : '') + c.gates.map((g) => g.name).join(', '));
        throw new ConfigError(
          shown,
          'expect.gate',
          `no gate named "${name}" in ${configs.length > 1 ? `any of the gate configs (${listed.join('; ')})` : `gate config ${configs[0]!.label} (gates: ${listed[0]})`}`,
        );
      }
      expect.gate = name;
    }
    if (parsed.expect.by_stage !== undefined) {
      if (parsed.expect.by_stage > stages.length) {
        throw new ConfigError(shown, 'expect.by_stage', `must be at most ${stages.length}, the number of stages`);
      }
      expect.by_stage = parsed.expect.by_stage;
    }
  }
  const scenario: Scenario = {
    name: parsed.name ?? path.basename(abs).replace(/\.(ya?ml|json)$/i, ''),
    file: shown,
    runs: parsed.runs,
    seed: parsed.seed,
    requestsPerMinute: parsed.traffic.requests_per_minute,
    baseline: { ...b, ttft_ms: b.ttft_ms ?? null },
    price: parsed.traffic.price,
    candidate: parsed.candidate,
    nondeterminism: parsed.nondeterminism,
    stages,
    checkEveryMinutes,
    gates,
  };
  if (parsed.description !== undefined) scenario.description = parsed.description;
  const traces = parsed.traffic.traces;
  if (traces !== undefined) {
    const spec = typeof traces === 'string' ? { path: traces } : traces;
    // A DuckDB table spec is file.duckdb:table; only the file part is relative to the scenario.
    const [file, table] = spec.path.split(/:(?=[^/\\]+$)/);
    const resolved = path.resolve(path.dirname(abs), file!) + (table && /\.duckdb$/i.test(file!) ? `:${table}` : '');
    scenario.tracesFile = { path: resolved, ...(spec.map !== undefined ? { map: spec.map } : {}) };
  }
  if (expect) scenario.expect = expect;
  return scenario;
}

/** A file found under a folder is a gate file, not a scenario, when `gates` is its only field. */
function isGateFile(file: string): boolean {
  try {
    const data = readConfigFile(file);
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return false;
    const keys = Object.keys(data).filter((k) => k !== '$schema');
    return keys.length === 1 && keys[0] === 'gates' && Array.isArray((data as { gates: unknown }).gates);
  } catch {
    return false;
  }
}

/**
 * The scenario files named by the command line: files as given, folders searched recursively for
 * *.yaml, *.yml and *.json (gate files skipped), in a stable sorted order.
 */
export function collectScenarioPaths(inputs: string[]): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    const abs = path.resolve(input);
    let st;
    try {
      st = statSync(abs);
    } catch {
      throw new UserError(`${input}: no such file or folder`);
    }
    if (st.isFile()) {
      out.push(abs);
      continue;
    }
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (/\.(ya?ml|json)$/i.test(entry.name) && !isGateFile(p)) found.push(p);
      }
    };
    walk(abs);
    if (found.length === 0) throw new UserError(`${input}: no scenario files (*.yaml, *.yml, *.json) in this folder`);
    out.push(...found);
  }
  return [...new Set(out)];
}

export function loadScenarios(inputs: string[], options: LoadOptions = {}): Scenario[] {
  const scenarios = collectScenarioPaths(inputs).map((f) => loadScenarioFile(f, options));
  const names = new Map<string, string>();
  for (const s of scenarios) {
    const other = names.get(s.name);
    if (other) throw new ConfigError(s.file, 'name', `scenario name "${s.name}" is also used by ${other}; names must be unique in one invocation`);
    names.set(s.name, s.file);
    if (!s.gates) throw new ConfigError(s.file, 'gates', 'no gates: give `gates:` in the scenario (a file or a list) or pass --gates <file>');
  }
  return scenarios;
}
