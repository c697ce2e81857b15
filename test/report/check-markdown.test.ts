import { describe, expect, it } from 'vitest';
import type { ExpectationResult } from '../../src/check/expectation.js';
import { checkMarkdown } from '../../src/report/check-markdown.js';

/**
 * The $GITHUB_STEP_SUMMARY text of `rehearse check`. Results are built by hand and every line
 * below is written out from their fields.
 */

const clean: ExpectationResult = {
  scenario: 'clean',
  gateConfig: 'strict',
  expect: { outcome: 'promote', probability: 0.9 },
  runs: 40,
  met: 38,
  share: 0.95,
  low: 0.83,
  high: 0.99,
  passed: true,
  outcomes: { rollback: 0.05, hold: 0, promote: 0.95 },
  gates: { cost: 2 },
  misses: { 'rolled back by cost': 2 },
};

const cost: ExpectationResult = {
  scenario: 'cost-40',
  gateConfig: 'strict',
  expect: { outcome: 'rollback', gate: 'cost', by_stage: 1, probability: 0.95 },
  runs: 100,
  met: 60,
  share: 0.6,
  low: 0.5,
  high: 0.69,
  passed: false,
  outcomes: { rollback: 0.71, hold: 0, promote: 0.29 },
  gates: { cost: 60, errors: 11 },
  misses: { promoted: 29, 'rolled back by errors instead': 11 },
};

const held: ExpectationResult = {
  scenario: 'thumbs',
  gateConfig: 'loose',
  expect: { outcome: 'hold', gate: 'thumbs', probability: 0.8 },
  runs: 8,
  met: 2,
  // 2 of 8 = 25%; a share of 0.125 elsewhere would round half up to 13%.
  share: 0.25,
  low: 0.07,
  high: 0.59,
  passed: false,
  outcomes: { rollback: 0.125, hold: 0.25, promote: 0.625 },
  gates: { thumbs: 2, cost: 1 },
  misses: { promoted: 5, 'rolled back by cost': 1 },
};

const TABLE_HEAD = ['| | scenario | gates | expected | required | met | 95% CI | runs |', '|---|---|---|---|---|---|---|---|'];

describe('checkMarkdown', () => {
  it('reports all met with a table and no details', () => {
    // pct(0.9) = 90%, pct(0.95) = 95%, CI 83–99%, 40 runs; describeExpectation(promote) = "promote".
    expect(checkMarkdown([clean])).toBe(
      ['### ✅ rehearse check: all 1 expectations met', '', ...TABLE_HEAD, '| ✅ | clean | strict | promote | ≥ 90% | 95% | 83–99% | 40 |', ''].join('\n'),
    );
  });

  it('counts the failures in the heading, one row per result in order, and a detail line per failure', () => {
    // cost-40: "rollback via cost by stage 1", required 95%, met 60%, CI 50–69%.
    //   explain: promoted 29%; wrong gate `errors` 11/100 = 11%.
    // thumbs: "hold via thumbs", required 80%, met 25%, CI 7–59%.
    //   explain: met 2/8 = 25%, promoted 5/8 = 62.5%, wrong gate `cost` 1/8 = 12.5%; whole percents by
    //   largest remainders (the two halves tie, the earlier share takes the point): 25 + 63 + 12 = 100
    //   (rounded one by one, 25 + 63 + 13 = 101).
    expect(checkMarkdown([clean, cost, held])).toBe(
      [
        '### ❌ rehearse check: 2 of 3 expectations not met',
        '',
        ...TABLE_HEAD,
        '| ✅ | clean | strict | promote | ≥ 90% | 95% | 83–99% | 40 |',
        '| ❌ | cost-40 | strict | rollback via cost by stage 1 | ≥ 95% | 60% | 50–69% | 100 |',
        '| ❌ | thumbs | loose | hold via thumbs | ≥ 80% | 25% | 7–59% | 8 |',
        '',
        '- **cost-40** (strict): expected rollback via cost by stage 1 in ≥ 95% of runs; got 60% (95% CI 50–69%); 29% promoted, 11% rolled back by errors instead',
        '- **thumbs** (loose): expected hold via thumbs in ≥ 80% of runs; got 25% (95% CI 7–59%); 63% promoted, 12% rolled back by cost',
        '',
      ].join('\n'),
    );
  });

  it('escapes a | in a name, so the row keeps its cells', () => {
    const piped = { ...clean, scenario: 'a|b', gateConfig: 'x|y' };
    const row = checkMarkdown([piped]).split('\n').find((l) => l.includes('a\\|b'));
    expect(row).toBe('| ✅ | a\\|b | x\\|y | promote | ≥ 90% | 95% | 83–99% | 40 |');
  });

  it('gives every row as many cells as the header', () => {
    const lines = checkMarkdown([clean, cost, held]).split('\n').filter((l) => l.startsWith('|'));
    const cells = (l: string) => l.split('|').length;
    expect(lines).toHaveLength(2 + 3);
    for (const l of lines) expect(cells(l)).toBe(cells(TABLE_HEAD[0]!));
  });

  it('lists only the failures in the details, and says how many failed when all do', () => {
    const md = checkMarkdown([cost, cost]);
    expect(md.split('\n')[0]).toBe('### ❌ rehearse check: 2 of 2 expectations not met');
    expect(md.split('\n').filter((l) => l.startsWith('- **'))).toHaveLength(2);
    expect(checkMarkdown([clean, cost]).split('\n').filter((l) => l.startsWith('- **'))).toEqual([
      '- **cost-40** (strict): expected rollback via cost by stage 1 in ≥ 95% of runs; got 60% (95% CI 50–69%); 29% promoted, 11% rolled back by errors instead',
    ]);
  });
});
