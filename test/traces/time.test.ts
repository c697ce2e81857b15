import { describe, expect, it } from 'vitest';
import { parseDateTime } from '../../src/traces/time.js';

describe('parseDateTime', () => {
  it('reads real days as Date.parse does', () => {
    expect(parseDateTime('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29)); // 2024 is a leap year
    expect(parseDateTime('2000-02-29T12:30:00Z')).toBe(Date.UTC(2000, 1, 29, 12, 30)); // divisible by 400
    expect(parseDateTime('2024-04-30T23:59:59.250+02:00')).toBe(Date.UTC(2024, 3, 30, 21, 59, 59, 250));
    expect(parseDateTime('2024-12-31')).toBe(Date.UTC(2024, 11, 31));
  });

  it('refuses a day the month does not have, which Date.parse moves into the next month', () => {
    expect(Date.parse('2024-02-30T00:00:00Z')).toBe(Date.UTC(2024, 2, 1)); // why this exists
    for (const s of ['2024-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2024-04-31T00:00:00Z', '2024-06-31', '2024-11-31T10:00:00+01:00']) {
      expect(parseDateTime(s), s).toBeNaN();
    }
  });

  it('leaves what Date.parse refuses refused, and text without a date part to Date.parse', () => {
    expect(parseDateTime('2024-02-32T00:00:00Z')).toBeNaN();
    expect(parseDateTime('not a date')).toBeNaN();
    expect(parseDateTime('Wed, 21 Oct 2015 07:28:00 GMT')).toBe(Date.UTC(2015, 9, 21, 7, 28));
  });
});
