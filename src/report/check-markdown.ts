import { type ExpectationResult, ciPercent, describeExpectation, explain, metPercent, requiredPercent } from '../check/expectation.js';
import { markdownCell } from './table.js';

/** A Markdown summary ready for $GITHUB_STEP_SUMMARY. */
export function checkMarkdown(results: readonly ExpectationResult[]): string {
  const failed = results.filter((r) => !r.passed);
  const head = failed.length
    ? `### ❌ rehearse check: ${failed.length} of ${results.length} expectations not met`
    : `### ✅ rehearse check: all ${results.length} expectations met`;
  const rows = results.map(
    (r) =>
      `| ${r.passed ? '✅' : '❌'} | ${markdownCell(r.scenario)} | ${markdownCell(r.gateConfig)} | ${markdownCell(describeExpectation(r.expect))} | ≥ ${requiredPercent(r.expect.probability)} | ${metPercent(r.share, r.expect.probability)} | ${ciPercent(r.low, r.high)} | ${r.runs} |`,
  );
  const details = failed.map((r) => `- **${r.scenario}** (${r.gateConfig}): ${explain(r)}`);
  return [
    head,
    '',
    '| | scenario | gates | expected | required | met | 95% CI | runs |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    ...(details.length ? ['', ...details] : []),
    '',
  ].join('\n');
}
