import { type ExpectationResult, explain } from '../check/expectation.js';

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** One testcase per scenario and gate config; a failure carries the sentence a person can act on. */
export function junitXml(results: readonly ExpectationResult[], seconds: number): string {
  const failures = results.filter((r) => !r.passed).length;
  const cases = results.map((r) => {
    const name = xml(r.scenario);
    const classname = xml(`rehearse.check.${r.gateConfig}`);
    const body = r.passed
      ? `    <system-out>${xml(explain(r))}</system-out>\n`
      : `    <failure message="${xml(explain(r))}" type="ExpectationNotMet">${xml(explain(r))}</failure>\n`;
    return `  <testcase name="${name}" classname="${classname}" time="0">\n${body}  </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="rehearse check" tests="${results.length}" failures="${failures}" time="${seconds.toFixed(3)}">`,
    `<testsuite name="rehearse check" tests="${results.length}" failures="${failures}" errors="0" skipped="0" time="${seconds.toFixed(3)}">`,
    ...cases,
    '</testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
