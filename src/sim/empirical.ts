import { median } from 'simple-statistics';
import { ConfigError, UserError } from '../config/errors.js';
import type { EmpiricalTraffic, Scenario } from '../config/model.js';
import { openTrace } from '../traces/reader.js';

/** Rows kept for resampling at most: enough for any distribution, bounded in memory (4 × 8 B each). */
export const EMPIRICAL_ROW_LIMIT = 5_000_000;

function shared(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(n * 8));
}

/**
 * Reads a scenario's `traffic.traces` through the same reader as `replay`, keeping the columns a
 * simulated request resamples. Arrays live in SharedArrayBuffers: every worker task sees the same
 * memory, so a large trace is not copied once per task.
 */
export async function loadEmpirical(scenario: Scenario): Promise<Scenario> {
  if (!scenario.tracesFile || scenario.empirical) return scenario;
  const { path, map } = scenario.tracesFile;
  let trace;
  try {
    trace = await openTrace(path, { ...(map !== undefined ? { map } : {}), limit: EMPIRICAL_ROW_LIMIT });
  } catch (err) {
    if (err instanceof UserError) throw new ConfigError(scenario.file, 'traffic.traces', err.message);
    throw err;
  }
  try {
    const n = Math.min(trace.good, EMPIRICAL_ROW_LIMIT);
    if (n === 0) throw new ConfigError(scenario.file, 'traffic.traces', `${path} has no usable rows`);
    const cols = { latency_ms: shared(n), ttft_ms: shared(n), input_tokens: shared(n), output_tokens: shared(n) };
    let at = 0;
    for await (const b of trace.batches()) {
      const take = Math.min(b.length, n - at);
      cols.latency_ms.set(b.latency_ms.subarray(0, take), at);
      cols.ttft_ms.set(b.ttft_ms.subarray(0, take), at);
      cols.input_tokens.set(b.input_tokens.subarray(0, take), at);
      cols.output_tokens.set(b.output_tokens.subarray(0, take), at);
      at += take;
      if (at >= n) break;
    }
    const latencies = Array.from(cols.latency_ms.subarray(0, at)).filter((x) => !Number.isNaN(x));
    const empirical: EmpiricalTraffic = {
      source: path,
      ...(map !== undefined ? { map } : {}),
      rows: at,
      latency_ms: cols.latency_ms.subarray(0, at),
      ttft_ms: cols.ttft_ms.subarray(0, at),
      input_tokens: cols.input_tokens.subarray(0, at),
      output_tokens: cols.output_tokens.subarray(0, at),
      medianLatency: latencies.length ? median(latencies) : scenario.baseline.latency_ms.p50,
    };
    return { ...scenario, empirical };
  } finally {
    trace.close();
  }
}
