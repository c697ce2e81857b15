import { Rng, Z99 } from '../stats/random.js';
import type { StubFile } from './schema.js';
import type { Target, TargetRequest, TargetResponse } from './target.js';
import { estimateTokens, inputText, madeUpAnswer, parseInput } from './text.js';
import { abortOutcome, costUsd, sleep } from './timing.js';

/**
 * The trace's own rates where it records how requests ended, over the rows replayed: what a
 * stub's error_rate and refusal_rate multipliers scale for such a trace.
 */
export interface TraceRates {
  /** Share of requests that failed (error or timeout); null where the trace has no status. */
  failed: number | null;
  /** Share of the requests that did not fail which were refused; null where the trace records no refusals. */
  refused: number | null;
}

/** One request's status, baseline and candidate, from its status uniform (statusOf). */
export interface StatusDraw {
  baselineFailed: boolean;
  baselineRefused: boolean;
  /** The candidate's: 'error' or 'timeout' when it fails (the trace's kind where it repeats one). */
  failure: 'error' | 'timeout' | null;
  /** The failure, or the refusal, repeats the trace's (as opposed to one the stub injects). */
  repeated: boolean;
  refused: boolean;
}

/**
 * The statuses of one request from one uniform u, for the baseline and the candidate together;
 * `failure` and `refused` are what the trace records (null: nothing). The baseline's outcome is
 * the trace's, or where the trace is silent the model's, from u alone: it failed when u < e, else
 * it refused when v < r, v being u's position in the band of requests that did not fail (uniform
 * there). The candidate then reads the position within the baseline's band (uniform there too):
 * where the baseline failed (refused), it does too while that position is below min(1, m); where
 * it did not, it does below x = (m − 1)⁺·p/(1 − p), p the base rate (the trace's own where it
 * records the outcome: `rates`; else e or r), so that its rate is m·p. Extra failures take the
 * same share x of refused and answered requests; refusals are decided on what is left. An
 * identical candidate (m = 1) repeats the baseline request by request.
 */
export function statusOf(
  u: number,
  failure: 'ok' | 'error' | 'timeout' | null,
  refused: boolean | null,
  base: { error: number; refusal: number },
  m: { error: number; refusal: number },
  rates: TraceRates | null,
): StatusDraw {
  // A refusal the trace records is an answer: that request did not fail.
  if (failure === null && refused === true) failure = 'ok';
  // Failures: the baseline's band of u and u's position v in it.
  let baselineFailed: boolean, v: number, pFail: number;
  if (failure === null) {
    const e = base.error;
    baselineFailed = u < e;
    v = baselineFailed ? u / e : (u - e) / (1 - e);
    pFail = e;
  } else {
    baselineFailed = failure !== 'ok';
    v = u;
    pFail = rates?.failed ?? base.error;
  }
  const r = base.refusal;
  const pRefuse = refused === null ? r : rates?.refused ?? r;
  if (baselineFailed) {
    const keepFail = Math.min(1, m.error);
    const candidateFails = v < keepFail;
    // The baseline has no refusal of its own; a candidate that answers refuses at its rate.
    const w0 = candidateFails ? 0 : (v - keepFail) / (1 - keepFail);
    const refusedNow = !candidateFails && w0 < Math.min(1, pRefuse * m.refusal);
    return { baselineFailed, baselineRefused: false, failure: candidateFails ? (failure === 'timeout' ? 'timeout' : 'error') : null, repeated: candidateFails && failure !== null, refused: refusedNow };
  }
  // The baseline's refusal comes from v alone, before anything of the candidate's: drawn from
  // what was left once the candidate's extra failures were cut out, it moved with error_rate
  // (an error-only regression turned baseline refusals into errors and answers into refusals).
  const baselineRefused = refused ?? v < r;
  // w: uniform within the baseline's refusal band, so the candidate's extra failures take the
  // same share of refused and answered requests, and the refusal rate of the rest stays r.
  const w = refused !== null ? v : baselineRefused ? v / r : (v - r) / (1 - r);
  const extraFail = extraShare(m.error, pFail);
  if (w < extraFail) return { baselineFailed, baselineRefused, failure: 'error', repeated: false, refused: false };
  const w2 = (w - extraFail) / (1 - extraFail);
  const candidateRefused = baselineRefused ? w2 < Math.min(1, m.refusal) : w2 < extraShare(m.refusal, pRefuse);
  return { baselineFailed, baselineRefused, failure: null, repeated: candidateRefused && baselineRefused && refused !== null, refused: candidateRefused };
}

/** The share x of the requests without an event that get one, so that a rate p becomes m·p: (m − 1)⁺·p/(1 − p), at most 1. */
function extraShare(m: number, p: number): number {
  if (!(m > 1) || !(p > 0)) return 0;
  if (!(p < 1)) return 0;
  return Math.min(1, ((m - 1) * p) / (1 - p));
}

/**
 * The most tokens of made-up text one answer carries: 131072 (2^17, the output window of the
 * largest current models), about 512 KiB of text. Token counts are not capped (an output_length
 * regression shows through whatever the trace says); only the words stop there, so that a trace
 * row or a serve-stub request asking for a trillion tokens cannot make one answer exhaust memory.
 * serve-stub refuses a max_tokens above it.
 */
export const MAX_ANSWER_TOKENS = 131_072;

/**
 * The stub candidate: the baseline as the trace recorded it, with the scenario's regressions
 * applied: its latencies and lengths, and how its requests ended (a failure or a refusal in the
 * trace is repeated, the multipliers adding or removing some; statusOf). Its answer to a request depends on its seed and the request id alone: the random
 * stream is {@link requestStream}(seed, request_id), drawn in a fixed order (status uniform, three
 * normals for the latency, output and input draws, the non-determinism normal, then the words of
 * the answer), whatever the request carries.
 */
export class StubModel {
  private readonly latencySigma: number;
  private readonly outputSigma: number;
  private readonly inputSigma: number;
  private readonly base: { error: number; refusal: number };
  private readonly multipliers: { error: number; refusal: number };
  private readonly refusalTokens: number;
  /**
   * The trace's own failure and refusal rates, over the rows replayed, where it records how its
   * requests ended: set by the replay when a regression multiplier above 1 needs them (the share
   * of extra failures among the requests that did not fail is (m − 1)·p/(1 − p) for the trace's p).
   * Null: the baseline block's rates stand in.
   */
  traceRates: TraceRates | null = null;

  constructor(readonly config: StubFile) {
    const b = config.baseline;
    this.latencySigma = Math.log(b.latency_ms.p99 / b.latency_ms.p50) / Z99;
    this.outputSigma = Math.log(b.output_tokens.p99 / b.output_tokens.p50) / Z99;
    this.inputSigma = Math.log(b.input_tokens.p99 / b.input_tokens.p50) / Z99;
    this.base = { error: b.error_rate, refusal: b.refusal_rate };
    this.multipliers = { error: config.candidate.error_rate, refusal: config.candidate.refusal_rate };
    this.refusalTokens = estimateTokens(config.refusal.text);
  }

  /** The random stream of one request. */
  rngFor(requestId: string): Rng {
    return requestStream(this.config.seed, requestId);
  }

  /**
   * The answer to `req`, with its latency recorded (nothing is waited here). Without `text` an
   * answer that would be made-up words has output null: the words are the last draws, so
   * everything else is the same either way, and a replay that compares no text skips the cost.
   * The words stop at {@link MAX_ANSWER_TOKENS}; output_tokens does not.
   */
  answer(req: TargetRequest, text = true): TargetResponse {
    const cfg = this.config;
    const c = cfg.candidate;
    const rng = this.rngFor(req.request_id);
    const uStatus = rng.uniform();
    const zLatency = rng.normal();
    const zOutput = rng.normal();
    const zInput = rng.normal();
    const factor = Math.max(0, 1 + cfg.nondeterminism * rng.normal());

    // Latency: the trace's (or one drawn from the latency model), moved away from the model's
    // median by latency_tail (σ scaled), then scaled by latency and the request's factor.
    const median = cfg.baseline.latency_ms.p50;
    let latency: number;
    if (isCount(req.latency_ms)) {
      const base = req.latency_ms;
      const spread = c.latency_tail === 1 ? base : base > 0 ? median * Math.pow(base / median, c.latency_tail) : 0;
      latency = spread * c.latency;
    } else {
      latency = median * Math.exp(c.latency_tail * this.latencySigma * zLatency) * c.latency;
    }
    latency *= factor;
    // Time to first token: the trace's, moved as its latency was; else a share of the latency.
    const ttft = isCount(req.ttft_ms) && isCount(req.latency_ms) && req.latency_ms > 0 ? req.ttft_ms * (latency / req.latency_ms) : latency * cfg.ttft_share;

    // Parsing the input (often chat messages as JSON) is the costly part of a virtual answer:
    // done only when the token count or the answer's text depends on it.
    const countGiven = isCount(req.input_tokens);
    const parsed = countGiven && !text ? null : parseInput(req.input);
    const inputChars = parsed ? inputText(parsed) : '';
    const inputTokens = countGiven
      ? (req.input_tokens as number)
      : inputChars
        ? estimateTokens(inputChars)
        : Math.max(1, Math.round(cfg.baseline.input_tokens.p50 * Math.exp(this.inputSigma * zInput)));
    const baseOutput = isCount(req.output_tokens) ? req.output_tokens : cfg.baseline.output_tokens.p50 * Math.exp(this.outputSigma * zOutput);
    const outputTokens = Math.max(1, Math.round(baseOutput * c.output_length * factor));

    const st = statusOf(uStatus, req.failure ?? null, req.refused ?? null, this.base, this.multipliers, this.traceRates);
    if (st.failure !== null) {
      return {
        status: st.failure,
        latency_ms: ttft,
        ttft_ms: null,
        input_tokens: null,
        output_tokens: null,
        output: null,
        finish_reason: null,
        cost_usd: null,
        error: st.repeated ? `the trace's ${st.failure} repeated (stub)` : 'injected error (stub error_rate)',
        attempts: 1,
      };
    }
    if (st.refused && st.repeated) {
      // The trace's refusal, repeated: its own length and time, moved as an answer's would be.
      return {
        status: 'refusal',
        latency_ms: latency,
        ttft_ms: ttft,
        input_tokens: inputTokens,
        output_tokens: outputTokens,
        output: cfg.refusal.text,
        finish_reason: cfg.refusal.finish_reason,
        cost_usd: costUsd(cfg.price, inputTokens, outputTokens, c.price),
        error: "the trace's refusal repeated (stub)",
        attempts: 1,
      };
    }
    if (st.refused) {
      // Decoding time per token is the trace's latency over the trace's length: a refusal's few
      // tokens take the same time whatever output_length does to the answers it replaces.
      const share = Math.min(1, this.refusalTokens / Math.max(1, Math.round(baseOutput * factor)));
      return {
        status: 'refusal',
        latency_ms: ttft + (latency - ttft) * share,
        ttft_ms: ttft,
        input_tokens: inputTokens,
        output_tokens: this.refusalTokens,
        output: cfg.refusal.text,
        finish_reason: cfg.refusal.finish_reason,
        cost_usd: costUsd(cfg.price, inputTokens, this.refusalTokens, c.price),
        error: 'injected refusal (stub refusal_rate)',
        attempts: 1,
      };
    }
    return {
      status: 'ok',
      latency_ms: latency,
      ttft_ms: ttft,
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      output: parsed === null || parsed.kind === 'none' ? null : madeUpAnswer(rng, Math.min(outputTokens, MAX_ANSWER_TOKENS)),
      finish_reason: 'stop',
      cost_usd: costUsd(cfg.price, inputTokens, outputTokens, c.price),
      error: null,
      attempts: 1,
    };
  }
}

/**
 * The random stream of one request of a stub seeded with `seed`: the request id hashed (cyrb53's
 * two 32-bit lanes, with the seed's two halves folded into their start) and spread over
 * xoshiro128**'s four state words by splitmix32. A replay makes one stream per request, so this
 * must cost far less than seedrandom's key expansion; it is fixed here, so a stub answers the same
 * request the same way in every version.
 */
export function requestStream(seed: number, requestId: string): Rng {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  let h1 = 0xdeadbeef ^ lo;
  let h2 = 0x41c6ce57 ^ hi;
  for (let i = 0; i < requestId.length; i++) {
    const ch = requestId.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  let x = h1 ^ Math.imul(h2, 0x9e3779b9);
  const next = (): number => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return z ^ (z >>> 16);
  };
  return Rng.fromState(next() ^ h2, next(), next(), next());
}

function isCount(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** A stub as a {@link Target}: `inject: virtual` answers at once, `inject: real` waits the latency. */
export class StubTarget implements Target {
  readonly kind = 'stub' as const;
  readonly label: string;
  readonly source: string;
  readonly model: StubModel;

  constructor(config: StubFile, where: { label: string; source: string }) {
    this.model = new StubModel(config);
    this.label = where.label;
    this.source = where.source;
  }

  get config(): StubFile {
    return this.model.config;
  }

  /** `text: false` leaves out made-up answer words (see {@link StubModel.answer}). */
  async call(req: TargetRequest, signal?: AbortSignal, text = true): Promise<TargetResponse> {
    if (signal?.aborted) return aborted(signal, 0);
    const res = this.model.answer(req, text);
    if (this.model.config.inject === 'real') {
      const started = performance.now();
      if (!(await sleep(res.latency_ms, signal))) return aborted(signal!, performance.now() - started);
    }
    return res;
  }

  async close(): Promise<void> {}
}

function aborted(signal: AbortSignal, elapsed: number): TargetResponse {
  const { status, error } = abortOutcome(signal);
  return { status, latency_ms: elapsed, ttft_ms: null, input_tokens: null, output_tokens: null, output: null, finish_reason: null, cost_usd: null, error, attempts: 1 };
}
