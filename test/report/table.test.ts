import pc from 'picocolors';
import { describe, expect, it } from 'vitest';
import { integer, percent, renderTable } from '../../src/report/table.js';

/**
 * The terminal table: every expected line is spelled out with its padding counted by hand. The
 * header is bold through picocolors, which may or may not emit escapes under the test runner, so
 * the header is compared against `pc.bold` of its plain text and the layout with escapes removed.
 */

// eslint-disable-next-line no-control-regex
const strip = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

describe('renderTable', () => {
  it('sizes columns to the widest cell, two spaces apart, right-aligning the columns asked for', () => {
    // Widths: name = max(4, 5 "alpha", 1 "b") = 5; runs = max(4, 1, 4 "1234") = 4.
    // Header "name" + 1 space, "runs" fills its width; rows: "alpha" then "   5"; "b" + 4 spaces then "1234".
    const out = renderTable(['name', 'runs'], [['alpha', '5'], ['b', '1234']], [false, true]);
    const lines = out.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(pc.bold('name   runs'));
    expect(lines.slice(1)).toEqual(['alpha     5', 'b      1234']);
  });

  it('takes 200,000 rows (a spread of every cell overflowed the call stack at ~125,000)', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => [String(i)]);
    const lines = strip(renderTable(['i'], rows, [true])).split('\n');
    expect(lines).toHaveLength(200_001);
    expect(lines[1]).toBe('     0');
    expect(lines[200_000]).toBe('199999');
  });

  it('right-aligns the header of a right-aligned column too', () => {
    // Widths: 1 and 5 ("12345"); header "n" padded left by 4 spaces.
    const out = strip(renderTable(['a', 'n'], [['x', '12345']], [false, true]));
    expect(out.split('\n')).toEqual(['a      n', 'x  12345']);
  });

  it('trims the trailing padding of a left-aligned last column', () => {
    // Widths: 3 and 2; the row's "y" would be padded to "y " and then trimmed.
    const out = strip(renderTable(['a', 'bb'], [['xxx', 'y']]));
    expect(out.split('\n')).toEqual(['a    bb', 'xxx  y']);
    for (const line of out.split('\n')) expect(line).toBe(line.trimEnd());
  });

  it('measures cells by their visible text, not their colour escapes', () => {
    // A red "ab" is 2 columns wide though its string has 12 characters; the widest cell is "abcd"
    // (4), so the red cell is padded by 2 and the next column starts at the same place on every line.
    const red = '\u001b[31mab\u001b[39m';
    const out = renderTable(['k', 'v'], [[red, '1'], ['abcd', '2']]);
    const lines = out.split('\n');
    expect(lines[1]).toBe(`${red}  ` + '  1');
    expect(lines[2]).toBe('abcd  2');
    expect(strip(lines[0]!)).toBe('k     v');
    expect(strip(lines[1]!).indexOf('1')).toBe(strip(lines[2]!).indexOf('2'));
  });

  it('treats a missing cell as empty for the width, and prints only the cells a row has', () => {
    // Column b: max(1 "b", 0 for the missing cell) = 1.
    const out = strip(renderTable(['a', 'b'], [['1'], ['22', '3']]));
    expect(out.split('\n')).toEqual(['a   b', '1', '22  3']);
  });

  it('is only the header for no rows', () => {
    expect(strip(renderTable(['one', 'two'], []))).toBe('one  two');
  });
});

describe('percent', () => {
  it.each([
    [0.5, 0, '50%'],
    [1, 0, '100%'],
    [0, 0, '0%'],
    // 0.1234 × 100 = 12.34 → one decimal 12.3.
    [0.1234, 1, '12.3%'],
    [0.5, 2, '50.00%'],
    // 0.004 × 100 = 0.4 → 0 decimals rounds to 0.
    [0.004, 0, '0%'],
  ])('percent(%s, %s) = %s', (x, digits, text) => {
    expect(percent(x, digits)).toBe(text);
  });

  it('defaults to no decimals', () => {
    expect(percent(0.256)).toBe('26%');
  });
});

describe('integer', () => {
  it.each([
    [0, '0'],
    [999, '999'],
    [1000, '1,000'],
    // Rounded first: 1,234,567.4 → 1,234,567; 999.5 → 1,000.
    [1234567.4, '1,234,567'],
    [999.5, '1,000'],
    [-2500, '-2,500'],
    // Math.round(-0.4) is -0: printed as 0, not "-0".
    [-0.4, '0'],
  ])('integer(%s) = %s', (x, text) => {
    expect(integer(x)).toBe(text);
  });
});
