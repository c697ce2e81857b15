// A module target: an async function from a replayed request to a (partial) response.
// `request` has request_id, timestamp_ms, input (text or messages JSON, or null), input_tokens,
// output_tokens and latency_ms (the baseline's), and model. Throwing records an error; fields left
// out default (status ok, latency measured, cost from the target file's price, the rest null).
export async function call(request, { signal, options }) {
  // Here you would call your own client, an SDK, or a local model. This one answers at once,
  // 20% shorter and 10% faster than the baseline did.
  if (signal.aborted) throw new Error('aborted');
  const outputTokens = Math.max(1, Math.round((request.output_tokens ?? 100) * 0.8));
  const words = Math.round(outputTokens * (options.words_per_token ?? 0.75));
  return {
    output: request.input === null ? null : Array.from({ length: words }, () => 'ok').join(' '),
    input_tokens: request.input_tokens,
    output_tokens: outputTokens,
    latency_ms: request.latency_ms === null ? undefined : request.latency_ms * 0.9,
    finish_reason: 'stop',
  };
}

// Optional: called once when the replay ends.
export async function close() {}
