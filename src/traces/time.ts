const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * `Date.parse`, but NaN for a day the month does not have: V8 reads any day up to 31 in any
 * month, so 2024-02-30 became March 1 and a `--from` slice silently started a day late.
 */
export function parseDateTime(text: string): number {
  const t = Date.parse(text);
  const ymd = /^\s*([+-]\d{6}|\d{4})-(\d\d)-(\d\d)/.exec(text);
  if (ymd && Number.isFinite(t)) {
    const [year, month, day] = [Number(ymd[1]), Number(ymd[2]), Number(ymd[3])];
    const last = month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
    if (day > last) return NaN;
  }
  return t;
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}
