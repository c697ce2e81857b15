/**
 * The reference of bench/replay.mjs, run in its own Node process (like the CLI it is set against):
 * DuckDB alone does the replay's transform of a token-and-latency trace with a virtual stub whose
 * only regression is `candidate.price` (1.4) and whose non-determinism is 0 — read the Parquet,
 * compute the same 29 columns `replay_requests` holds (the candidate equal to the baseline but for
 * a cost 1.4 × the baseline's, statuses, refusals, the row index), and write them to a table in a
 * fresh DuckDB file. No per-request random stream, no made-up answer text, no similarity or
 * refusal regexes: the least work that yields a comparable table.
 *
 *   node bench/_replay-duckdb.mjs <trace.parquet> <out.duckdb> <price factor>
 * prints {"rows": n} on stdout.
 */
import { DuckDBInstance } from '@duckdb/node-api';

const [parquet, out, factor = '1.4'] = process.argv.slice(2);
const q = (s) => `'${s.replace(/'/g, "''")}'`;
const instance = await DuckDBInstance.create(out);
const c = await instance.connect();
// A trace with the Azure LLM trace's columns only gets the canonical names, as rehearse's mapping
// gives them, and row-number request ids; the columns it lacks are NULL.
const have = new Set((await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${q(parquet)})`)).getRowObjectsJson().map((r) => r.column_name));
const source = have.has('ContextTokens')
  ? `(SELECT printf('row-%06d', row_number() OVER ()) AS request_id, TIMESTAMP AS timestamp, NULL::VARCHAR AS session_id,
      NULL::VARCHAR AS tenant, NULL::VARCHAR AS route, NULL::VARCHAR AS model, ContextTokens AS input_tokens,
      GeneratedTokens AS output_tokens, NULL::DOUBLE AS latency_ms, NULL::DOUBLE AS ttft_ms,
      (ContextTokens * 0.5 + GeneratedTokens * 1.5) / 1e6 AS cost_usd, 'ok' AS status, NULL::BOOLEAN AS refusal,
      NULL::TINYINT AS feedback FROM read_parquet(${q(parquet)}))`
  : `read_parquet(${q(parquet)})`;
await c.run(`CREATE TABLE replay_requests AS
SELECT
  'bench' AS invocation_id,
  request_id,
  (row_number() OVER ())::BIGINT AS row_index,
  epoch_ms(timestamp)::DOUBLE AS timestamp_ms,
  session_id, tenant, route, model,
  input_tokens::DOUBLE AS input_tokens,
  latency_ms AS baseline_latency_ms,
  latency_ms AS candidate_latency_ms,
  ttft_ms AS baseline_ttft_ms,
  latency_ms * 0.2 AS candidate_ttft_ms,
  output_tokens::DOUBLE AS baseline_output_tokens,
  greatest(1, output_tokens)::DOUBLE AS candidate_output_tokens,
  input_tokens::DOUBLE AS candidate_input_tokens,
  cost_usd AS baseline_cost_usd,
  ${Number(factor)} * cost_usd AS candidate_cost_usd,
  status AS baseline_status,
  status AS candidate_status,
  coalesce(refusal, false) AS baseline_refusal,
  coalesce(refusal, false) AS candidate_refusal,
  feedback::DOUBLE AS baseline_feedback,
  NULL::DOUBLE AS similarity,
  NULL::BOOLEAN AS schema_valid,
  CASE WHEN status = 'ok' THEN 'stop' END AS finish_reason,
  NULL::VARCHAR AS error,
  1::DOUBLE AS attempts,
  0::DOUBLE AS sent_offset_ms
FROM ${source}`);
const r = await c.runAndReadAll('SELECT count(*)::DOUBLE FROM replay_requests');
c.closeSync?.();
instance.closeSync?.();
process.stdout.write(JSON.stringify({ rows: Number(r.getRowsJson()[0][0]) }) + '\n');
