import { describe, expect, it } from 'vitest';
import type { ExpectationResult } from '../../src/check/expectation.js';
import { junitXml } from '../../src/report/junit.js';

/**
 * The JUnit file CI systems parse: it must be well-formed XML whatever the scenario and gate names
 * hold, carry one testcase per result, and count the failures. The results are built by hand, so
 * each message below is worked out from the fields, not taken from a run.
 */

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITY = /&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/y;

/** Decodes character data, failing on a bare `&` (which no XML parser accepts). */
function decode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; ) {
    if (s[i] !== '&') {
      out += s[i++];
      continue;
    }
    ENTITY.lastIndex = i;
    const m = ENTITY.exec(s);
    if (!m) throw new Error(`bare & at ${i} in ${JSON.stringify(s)}`);
    const e = m[1]!;
    out += e === 'amp' ? '&' : e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : e === 'apos' ? "'" : String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    i += m[0].length;
  }
  return out;
}

/**
 * A strict little XML reader, enough for JUnit: a declaration, then elements with double-quoted
 * attributes and text. Any `<` in text or attribute, any bare `&`, any unbalanced tag, a
 * duplicated attribute or trailing content throws.
 */
function parseXml(xml: string): XmlElement {
  const decl = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/;
  if (!decl.test(xml)) throw new Error('missing XML declaration');
  const body = xml.replace(decl, '');
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  const attr = /\s+([A-Za-z_][\w.-]*)="([^"<]*)"/g;
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  let pos = 0;
  while (pos < body.length) {
    token.lastIndex = pos;
    const m = token.exec(body);
    if (!m) throw new Error(`not well-formed at offset ${pos}: ${JSON.stringify(body.slice(pos, pos + 40))}`);
    pos = token.lastIndex;
    const top = stack[stack.length - 1]!;
    if (m[5] !== undefined) {
      const text = decode(m[5]);
      if (stack.length === 1 && text.trim() !== '') throw new Error('text outside the root element');
      top.text += text;
      continue;
    }
    const [, closing, name, attrText, selfClosing] = m;
    if (closing) {
      if (attrText || selfClosing) throw new Error(`malformed closing tag ${name}`);
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(attr)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      attrs[a[1]!] = decode(a[2]!);
    }
    const el: XmlElement = { name: name!, attrs, children: [], text: '' };
    if (stack.length === 1 && root.children.length > 0) throw new Error('more than one root element');
    top.children.push(el);
    if (!selfClosing) stack.push(el);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (root.children.length !== 1) throw new Error('expected exactly one root element');
  return root.children[0]!;
}

// Passed. explain(): head "expected promote in ≥ 90% of runs; got 95% (95% CI 83–99%)"; the other
// missed runs, by how they ended: 2 of 40 rolled back by cost → "5% rolled back by cost".
const passed: ExpectationResult = {
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
const passedMessage = 'expected promote in ≥ 90% of runs; got 95% (95% CI 83–99%); 5% rolled back by cost';

// Failed, with every XML special character in the names and the gate names (which reach the
// message). explain(): "rollback via p99<2s by stage 1" at 95%; share 60% (CI 50–69%); the missed
// runs, commonest first: 29 of 100 promoted → "29% promoted", 11 rolled back by `errors "5xx"`
// → "11% rolled back by errors "5xx" instead".
const failedGate: ExpectationResult = {
  scenario: 'cost <40%> & "more"',
  gateConfig: 'a&b',
  expect: { outcome: 'rollback', gate: 'p99<2s', by_stage: 1, probability: 0.95 },
  runs: 100,
  met: 60,
  share: 0.6,
  low: 0.5,
  high: 0.69,
  passed: false,
  outcomes: { rollback: 0.71, hold: 0, promote: 0.29 },
  gates: { 'p99<2s': 60, 'errors "5xx"': 11 },
  misses: { promoted: 29, 'rolled back by errors "5xx" instead': 11 },
};
const failedGateMessage = 'expected rollback via p99<2s by stage 1 in ≥ 95% of runs; got 60% (95% CI 50–69%); 29% promoted, 11% rolled back by errors "5xx" instead';

// Failed: nothing met. "expected hold in ≥ 50% of runs; got 0% (95% CI 0–28%)"; promote 100% → "100% promoted".
const failedHold: ExpectationResult = {
  scenario: "it's > 'quoted'",
  gateConfig: 'loose',
  expect: { outcome: 'hold', probability: 0.5 },
  runs: 10,
  met: 0,
  share: 0,
  low: 0,
  high: 0.28,
  passed: false,
  outcomes: { rollback: 0, hold: 0, promote: 1 },
  gates: {},
  misses: { promoted: 10 },
};
const failedHoldMessage = "expected hold in ≥ 50% of runs; got 0% (95% CI 0–28%); 100% promoted";

describe('junitXml', () => {
  const xml = junitXml([passed, failedGate, failedHold], 1.5);
  const root = parseXml(xml);

  it('is well-formed: a testsuites root holding one testsuite', () => {
    expect(root.name).toBe('testsuites');
    expect(root.children.map((c) => c.name)).toEqual(['testsuite']);
    expect(xml.endsWith('</testsuites>\n')).toBe(true);
  });

  it('counts the tests and the failures (3 tests, 2 not passed) on both levels, with the time to 3 decimals', () => {
    const suite = root.children[0]!;
    for (const el of [root, suite]) {
      expect(el.attrs.tests).toBe('3');
      expect(el.attrs.failures).toBe('2');
      expect(el.attrs.time).toBe('1.500');
    }
    expect(suite.attrs.errors).toBe('0');
    expect(suite.attrs.skipped).toBe('0');
  });

  it('writes one testcase per result, in order, names and classnames escaped so they read back exactly', () => {
    const cases = root.children[0]!.children;
    expect(cases.map((c) => c.name)).toEqual(['testcase', 'testcase', 'testcase']);
    expect(cases.map((c) => c.attrs.name)).toEqual(['clean', 'cost <40%> & "more"', "it's > 'quoted'"]);
    expect(cases.map((c) => c.attrs.classname)).toEqual(['rehearse.check.strict', 'rehearse.check.a&b', 'rehearse.check.loose']);
    // The raw text carries the entities, never the characters themselves inside the attribute.
    expect(xml).toContain('name="cost &lt;40%&gt; &amp; &quot;more&quot;"');
    expect(xml).toContain('classname="rehearse.check.a&amp;b"');
  });

  it('gives a failing case a failure element whose message and body are the explanation', () => {
    const cases = root.children[0]!.children;
    const failures = cases.flatMap((c) => c.children.filter((x) => x.name === 'failure'));
    expect(failures).toHaveLength(2);
    const [gate, hold] = [cases[1]!.children, cases[2]!.children];
    expect(gate).toHaveLength(1);
    expect(gate[0]!.name).toBe('failure');
    expect(gate[0]!.attrs.type).toBe('ExpectationNotMet');
    expect(gate[0]!.attrs.message).toBe(failedGateMessage);
    expect(gate[0]!.text).toBe(failedGateMessage);
    expect(hold[0]!.attrs.message).toBe(failedHoldMessage);
    expect(hold[0]!.text).toBe(failedHoldMessage);
  });

  it('gives a passing case no failure, only its explanation as system-out', () => {
    const children = root.children[0]!.children[0]!.children;
    expect(children.map((c) => c.name)).toEqual(['system-out']);
    expect(children[0]!.text).toBe(passedMessage);
  });

  it('is well-formed and counts zero for no results', () => {
    const empty = parseXml(junitXml([], 0.0004));
    const suite = empty.children[0]!;
    expect(suite.children).toEqual([]);
    for (const el of [empty, suite]) {
      expect(el.attrs.tests).toBe('0');
      expect(el.attrs.failures).toBe('0');
      // 0.0004 s to three decimals.
      expect(el.attrs.time).toBe('0.000');
    }
  });

  it('counts every failure when all fail', () => {
    const all = parseXml(junitXml([failedHold, failedGate, failedHold], 2));
    expect(all.attrs.tests).toBe('3');
    expect(all.attrs.failures).toBe('3');
    expect(all.children[0]!.children.filter((c) => c.children[0]?.name === 'failure')).toHaveLength(3);
  });

  it('the checker itself rejects what a parser would', () => {
    // Guards the guard: if parseXml accepted these, the tests above could not fail.
    expect(() => parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a name="x < y"></a>')).toThrow();
    expect(() => parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a>x & y</a>')).toThrow();
    expect(() => parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a name="say "hi""></a>')).toThrow();
    expect(() => parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a><b></a></b>')).toThrow();
  });
});
