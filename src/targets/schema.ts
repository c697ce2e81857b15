import { z } from 'zod';
import { finite, multiplier, quantilePair, rate } from '../config/fields.js';

/**
 * The target file formats: `kind: stub`, `kind: http` and `kind: module`. As in
 * src/config/schema.ts, every field carries its documentation and default in its description, so
 * the JSON Schemas from {@link targetJsonSchemas} (and any reference generated from them) say
 * exactly what the loader accepts.
 */

export const TARGET_KINDS = ['stub', 'http', 'module'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

const DURATION = /^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d)\s*)+$/;
const TIMEOUT = /^\s*(?:(\d+(\.\d+)?\s*(ms|s|m|h|d)\s*)+|\d+(\.\d+)?\s*x\s*)$/;


const duration = (what: string, dflt: string) =>
  z
    .string()
    .regex(DURATION, { message: 'must be a duration such as 500ms, 30s, 2m or 1m30s' })
    .default(dflt)
    .describe(`${what} A duration: a number and a unit (ms, s, m, h, d), e.g. \`500ms\`, \`30s\`, \`1m30s\`. Default ${dflt}.`);

const TIMEOUT_MESSAGE = 'must be a duration such as 30s or 1500ms, a number of milliseconds, or a multiple of the trace\'s own latency such as 3x';
const TIMEOUT_FORMS =
  "A duration (`30s`, `1500ms`), a number of milliseconds, or a multiple of the trace's own latency (`3x`: three times as long as the baseline took, " +
  'never less than `timeout_floor`; `timeout_fallback` for requests whose trace has no latency).';
const timeout = (what: string) =>
  z
    .union([finite().gt(0), z.string().regex(TIMEOUT, { message: TIMEOUT_MESSAGE })], { error: TIMEOUT_MESSAGE })
    .describe(`${what} ${TIMEOUT_FORMS}`);

const TIMEOUT_OR_NONE_MESSAGE = TIMEOUT_MESSAGE.replace(', or a multiple', ', a multiple') + ', or none';
/** A timeout that may also be `none`: a module's own work (a batch job, a local model) may have no sensible bound. */
const timeoutOrNone = (what: string) =>
  z
    .union([finite().gt(0), z.literal('none'), z.string().regex(TIMEOUT, { message: TIMEOUT_OR_NONE_MESSAGE })], { error: TIMEOUT_OR_NONE_MESSAGE })
    .describe(`${what} ${TIMEOUT_FORMS} Or \`none\`: no timeout.`);



const priceSchema = (what: string) =>
  z
    .object({
      input_per_million: finite().min(0).describe('USD per million input tokens.'),
      output_per_million: finite().min(0).describe('USD per million output tokens.'),
    })
    .strict()
    .describe(what);

const meta = {
  $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editors.'),
  name: z.string().min(1).optional().describe('Names the target in reports. Defaults to the file name without its extension.'),
  description: z.string().optional().describe('What this candidate is, in a sentence.'),
};

export const StubFileSchema = z
  .object({
    ...meta,
    kind: z.literal('stub').describe('`stub`: a simulated candidate that answers from the trace with regressions injected, without any model.'),
    model: z.string().min(1).default('rehearse-stub').describe('The model name the stub answers as (in `serve-stub` responses and its /v1/models). Default `rehearse-stub`.'),
    seed: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe('The stub\'s answer to a request depends on this seed and the request id alone (its random stream is keyed `stub:<seed>:<request_id>`). Default 1.'),
    candidate: z
      .object({
        latency: multiplier('Scales every latency (and time to first token).'),
        latency_tail: multiplier(
          'Widens the latency spread around the median of `baseline.latency_ms`: a trace latency L becomes p50 · (L / p50)^latency_tail, so the median stays and the tail moves (the lognormal\'s σ is scaled). Set `baseline.latency_ms.p50` to your traces\' median.',
        ),
        output_length: multiplier('Scales output tokens (before rounding; at least 1). An answer\'s made-up text stops at 131072 tokens; its token count does not.'),
        price: multiplier('Scales both prices, so the cost per request.'),
        error_rate: multiplier(
          'Scales the failure rate. Where the trace records statuses, its failures (error, timeout) are repeated and the rate scaled is the trace\'s own over the rows replayed: above 1 a share of the other requests fails too, so that the rate becomes this times the trace\'s; below 1 only that share of its failures is repeated. Where it records none, `baseline.error_rate` stands in for the baseline\'s, drawn for both sides from the same uniform, so that 1 matches the baseline request by request. Capped at 1.',
        ),
        refusal_rate: multiplier('Scales the refusal rate as `error_rate` scales failures: the trace\'s refusals (status `refusal` or a refusal column) are repeated and their rate scaled, else `baseline.refusal_rate` stands in. Capped at 1.'),
        thumbs_down_rate: multiplier('Accepted so that a scenario\'s `candidate` block can be pasted as is; ignored, since replayed requests get no user feedback.'),
      })
      .strict()
      .prefault({})
      .describe('Injected regressions, the scenario file\'s `candidate` block: multipliers on the baseline, all 1 by default.'),
    baseline: z
      .object({
        latency_ms: quantilePair(
          'The latency model: its median is the centre `latency_tail` widens around, and requests whose trace has no latency draw their baseline latency from it. End-to-end milliseconds.',
          800,
          4000,
        ),
        output_tokens: quantilePair('Output tokens drawn for requests whose trace has none (or, in serve-stub, whose request has no max_tokens; serve-stub refuses a max_tokens above 131072 with HTTP 400).', 300, 1500),
        input_tokens: quantilePair('Input tokens drawn for requests whose trace has neither input tokens nor input text (otherwise they are the trace\'s, or the text\'s length / 4).', 1000, 6000),
        error_rate: rate('Share of requests that fail, for traces without a status (and in serve-stub): the baseline\'s there, and what `candidate.error_rate` scales.'),
        refusal_rate: rate('Share of the requests that did not fail which are refused, for traces that record no refusals (and in serve-stub): the baseline\'s there, and what `candidate.refusal_rate` scales.'),
      })
      .strict()
      .prefault({})
      .describe('The baseline model as far as the trace does not tell it: base rates and the distributions used for missing values.'),
    price: z
      .object({
        input_per_million: finite().min(0).default(0.5).describe('USD per million input tokens. Default 0.5.'),
        output_per_million: finite().min(0).default(1.5).describe('USD per million output tokens. Default 1.5.'),
      })
      .strict()
      .prefault({})
      .describe('The baseline\'s prices; the stub\'s cost is (input_tokens·input + output_tokens·output) / 1e6 × `candidate.price` USD.'),
    nondeterminism: finite()
      .min(0)
      .default(0)
      .describe(
        'Request-to-request variation: each request draws one factor ~ Normal(1, nondeterminism), clamped at 0, that multiplies its latency (so its time to first token) and its output tokens (before rounding, so cost follows). 0.05 is ±5% (one σ). Default 0. The baseline keeps the trace\'s values, so a distribution test over many requests (output_length_shift) sees the jitter as a change, most of all where the trace\'s lengths sit on a few exact values: a clean candidate is rehearsed with 0.',
      ),
    ttft_share: finite()
      .gt(0)
      .max(1)
      .default(0.2)
      .describe('Time to first token as a share of the latency, for requests whose trace has none (the trace\'s moves as the latency does). An error answers at its time to first token; a refusal takes its time to first token plus its few tokens\' share of the decoding time. Default 0.2.'),
    inject: z
      .enum(['virtual', 'real'])
      .default('virtual')
      .describe('virtual (the default): the latency is recorded, never waited, so a replay runs at full speed. real: call() really waits the latency (serve-stub always waits it).'),
    refusal: z
      .object({
        text: z.string().min(1).default("I can't help with that.").describe('What a refusal says. Default "I can\'t help with that."'),
        finish_reason: z.enum(['content_filter', 'stop']).default('content_filter').describe('The finish_reason of a refusal: content_filter (the default) or stop.'),
      })
      .strict()
      .prefault({})
      .describe('How refusals look.'),
    serve: z
      .object({
        rate_limit_rate: rate('Share of HTTP attempts answered 429 Too Many Requests by serve-stub (drawn per request id and attempt, so a retried request may pass).'),
        retry_after: duration('The Retry-After of those 429s, sent in whole seconds (rounded up).', '1s'),
      })
      .strict()
      .prefault({})
      .describe('Only for `rehearse serve-stub`.'),
  })
  .strict()
  .describe('A rehearse stub target: a candidate simulated from the trace with regressions injected.');

const retrySchema = z
  .object({
    max_attempts: z.number().int().min(1).default(5).describe('Attempts per request, the first included, while the endpoint answers 429. Default 5; 1 never retries.'),
    max_wait: duration('Most time spent waiting between attempts of one request; a Retry-After beyond what is left gives up at once.', '60s'),
    base_delay: duration('The first wait when a 429 has no Retry-After; it doubles with every attempt.', '500ms'),
    max_delay: duration('The longest single wait when a 429 has no Retry-After.', '30s'),
  })
  .strict()
  .prefault({})
  .describe('Retries of rate-limited requests (HTTP 429): Retry-After (seconds or an HTTP date) or retry-after-ms is honoured, else exponential backoff. Only 429 is retried, and not one that says the quota is spent (insufficient_quota): errors, timeouts and resets are recorded as they are.');

const timeoutFields = {
  timeout_floor: duration('With a multiple (`3x`), the timeout is never shorter than this.', '1s'),
  timeout_fallback: duration('With a multiple (`3x`), the timeout of requests whose trace has no latency.', '60s'),
};

export const HttpFileSchema = z
  .object({
    ...meta,
    kind: z.literal('http').describe('`http`: an OpenAI-compatible chat completions endpoint.'),
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL such as http://127.0.0.1:8000/v1' })
      .describe('The API base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`; `/chat/completions` is appended. A URL already ending in `/chat/completions` (with a query, e.g. an Azure api-version) is used as it is.'),
    model: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The model to ask for. Default: the endpoint\'s only model, as GET <url>/models lists it; where it lists several (a gateway), each request\'s own model from the trace, and a request whose model it does not list fails unsent, naming the ones it does; where it lists none or cannot say, the trace\'s model. The model that answered is stored per request (replay_requests.candidate_model).',
      ),
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be the name of an environment variable (letters, digits and _), not the key itself' })
      .optional()
      .describe('The name of the environment variable that holds the API key, sent as `Authorization: Bearer <key>` (or in `api_key_header`). It must be set when the target is loaded. Never write the key itself in the file.'),
    api_key_header: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { message: 'must be an HTTP header name such as api-key' })
      .optional()
      .describe('The header that carries the key of `api_key_env`: the key alone in it, e.g. `api-key` for Azure OpenAI. Default `Authorization`, as `Bearer <key>`.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers, e.g. `{ x-team: ml }` (a key belongs in `api_key_env`). Accept-Encoding is always identity: answers are read uncompressed. Default none.'),
    stream: z.boolean().default(false).describe('Stream the answer (SSE) to measure time to first token; usage is asked for with stream_options.include_usage. Default false.'),
    timeout: timeout('How long one attempt may take, to the last byte, before it is recorded as a timeout. Default 60s.').default('60s'),
    ...timeoutFields,
    retry: retrySchema,
    connections: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        'Most concurrent connections to the endpoint per loaded target (one undici Pool each; a replay has one per worker). Requests beyond it wait in a local queue, and that wait counts in their latency and timeout. Default: no limit (a connection per request in flight, kept alive for reuse), so the replay\'s own pacing sets the concurrency.',
      ),
    max_tokens_field: z
      .enum(['max_tokens', 'max_completion_tokens'])
      .default('max_tokens')
      .describe('The request field that carries the output cap for traces without text (set to the trace\'s output tokens). Default max_tokens; newer OpenAI models want max_completion_tokens.'),
    params: z
      .record(z.string(), z.unknown())
      .default({})
      .describe('Extra request body fields, e.g. `{ temperature: 0 }` or vLLM\'s `{ ignore_eos: true }`. They cannot replace model, messages or stream. Default none.'),
    send_request_id: z.boolean().default(true).describe('Send the trace\'s request id as the `x-request-id` header (serve-stub answers deterministically by it). Default true.'),
    price: priceSchema('The candidate\'s prices, to give each answer a cost_usd from its usage. Without it cost_usd is left empty.').optional(),
  })
  .strict()
  .describe('A rehearse HTTP target: an OpenAI-compatible chat completions endpoint.');

export const ModuleFileSchema = z
  .object({
    ...meta,
    kind: z.literal('module').describe('`module`: your own ESM file that answers a request.'),
    module: z.string().min(1).describe('Path of the ESM file (.js or .mjs), relative to this file. It exports an async function `call(request, { signal, options })` (or a default export) returning a partial response; it may export `close()`.'),
    export: z.string().min(1).optional().describe('The export to call. Default: `call`, else the default export.'),
    options: z.record(z.string(), z.unknown()).default({}).describe('Passed to the function as `options` in its second argument. Default {}.'),
    timeout: timeoutOrNone(
      'How long one call may take before it is recorded as a timeout (the signal passed to the function is aborted, and a call that ignores it is abandoned). Default 60s, as for HTTP targets, so a call that never settles cannot hang the replay.',
    ).default('60s'),
    ...timeoutFields,
    price: priceSchema('Prices to give answers without a cost_usd one from their tokens.').optional(),
  })
  .strict()
  .describe('A rehearse module target: a candidate answered by your own code.');

export type StubFile = z.output<typeof StubFileSchema>;
export type HttpFile = z.output<typeof HttpFileSchema>;
export type ModuleFile = z.output<typeof ModuleFileSchema>;
export type Price = z.output<ReturnType<typeof priceSchema>>;

/** Generated JSON Schemas of the target files, keyed by the file name they would be written to. */
export function targetJsonSchemas(): Record<string, unknown> {
  const opts = { io: 'input', target: 'draft-2020-12' } as const;
  return {
    'stub.schema.json': { title: 'rehearse stub target', ...z.toJSONSchema(StubFileSchema, opts) },
    'http-target.schema.json': { title: 'rehearse http target', ...z.toJSONSchema(HttpFileSchema, opts) },
    'module-target.schema.json': { title: 'rehearse module target', ...z.toJSONSchema(ModuleFileSchema, opts) },
  };
}
