/**
 * calicoctl-style "ps" tables: upper-case headings, columns left-aligned and separated by three
 * spaces (calicoctl's tabwriter padding), no borders. Colour (bold headings) only when asked,
 * which callers do only for a terminal.
 */

export interface TableOptions {
  /** Bold headings (ANSI); callers pass true only when writing to a terminal. */
  color?: boolean;
  /** Spaces between columns (default 3). */
  padding?: number;
}

/** Display width of a string: counts code points, ignoring ANSI colour sequences. */
function width(s: string): number {
  // eslint-disable-next-line no-control-regex
  return [...s.replace(/\x1b\[[0-9;]*m/g, "")].length;
}

export function formatTable(headings: readonly string[], rows: ReadonlyArray<readonly string[]>, opts: TableOptions = {}): string {
  const pad = opts.padding ?? 3;
  const cols = headings.length;
  const widths = headings.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const line = (cells: readonly string[], bold: boolean): string => {
    let out = "";
    for (let i = 0; i < cols; i++) {
      const cell = cells[i] ?? "";
      const text = bold ? `\x1b[1m${cell}\x1b[0m` : cell;
      out += i === cols - 1 ? text : text + " ".repeat(widths[i]! - width(cell) + pad);
    }
    return out.trimEnd();
  };
  return [line(headings, opts.color === true), ...rows.map((r) => line(r, false))].join("\n") + "\n";
}
