import pc from 'picocolors';

/**
 * A plain text table: columns sized to their widest cell, numbers right-aligned. Colour comes
 * from picocolors, which already honours NO_COLOR and non-TTY output.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], rightAligned: readonly boolean[] = []): string {
  // A loop, not Math.max(...cells): spreading 125,000 rows' cells overflowed the call stack.
  const widths = headers.map((h) => visibleLength(h));
  for (const r of rows) for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i]!, visibleLength(r[i] ?? ''));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i]! - visibleLength(cell));
        return rightAligned[i] ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  return [pc.bold(line(headers)), ...rows.map(line)].join('\n');
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

export function percent(x: number, digits = 0): string {
  return `${(x * 100).toFixed(digits)}%`;
}

export function integer(x: number): string {
  const r = Math.round(x);
  // Math.round(-0.4) is -0, which would print as "-0".
  return (r === 0 ? 0 : r).toLocaleString('en-US');
}

/** Text for one Markdown table cell: a `|` would end the cell and a newline the row. */
export function markdownCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
