import { Rng, Z99 } from '../stats/random.js';
import type { StubFile } from './schema.js';
import type { Target, TargetRequest, TargetResponse } from './target.js';
import { estimateTokens, inputText, madeUpAnswer, parseInput } from './text.js';
import { abortOutcome, costUsd, sleep } from './timing.js';

/**
 * The stub candidate: the baseline as the trace recorded it, with the scenario's regressions
 * applied. Its answer to a request depends on its seed and the request id alone: the random
 * stream is {@link requestStream}(seed, request_id), drawn in a fixed order (status uniform, three
 * normals for the latency, output and input draws, the non-determinism normal, then the words of
 * the answer), whatever the request carries.
 */
export class StubModel {
  private readonly latencySigma: number;
  private readonly outputSigma: number;
  private readonly inputSigma: number;
  private readonly errorRate: number;
  private readonly refusalRate: number;
  private readonly refusalTokens: number;

  constructor(readonly config: StubFile) {
    const b = config.baseline;
    this.latencySigma = Math.log(b.latency_ms.p99 / b.latency_ms.p50) / Z99;
    this.outputSigma = Math.log(b.output_tokens.p99 / b.output_tokens.p50) / Z99;
    this.inputSigma = Math.log(b.input_tokens.p99 / b.input_tokens.p50) / Z99;
    this.errorRate = Math.min(1, b.error_rate * config.candidate.error_rate);
    this.refusalRate = Math.min(1, b.refusal_rate * config.candidate.refusal_rate);
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
    const ttft = latency * cfg.ttft_share;

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

    const e = this.errorRate;
    if (uStatus < e) {
      return {
        status: 'error',
        latency_ms: ttft,
        ttft_ms: null,
        input_tokens: null,
        output_tokens: null,
        output: null,
        finish_reason: null,
        cost_usd: null,
        error: 'injected error (stub error_rate)',
        attempts: 1,
      };
    }
    if (e < 1 && (uStatus - e) / (1 - e) < this.refusalRate) {
      const share = Math.min(1, this.refusalTokens / outputTokens);
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
      output: parsed === null || parsed.kind === 'none' ? null : madeUpAnswer(rng, outputTokens),
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
