/**
 * Reachability tables in the notation the upstream e2e tests print: a header row naming the
 * destinations, then one row per source. "." = connection allowed, "X" = blocked, "-" = not checked
 * (used for an endpoint talking to itself, which upstream ignores as loopback). The header may start
 * with the corner token `from\to`, which a YAML block scalar needs: its first line must not be
 * indented deeper than the rows.
 *
 *       from\to x/a x/b x/c
 *       x/a      -   .   X
 *       x/b      .   -   X
 */
import type { Verdict } from "./types.js";

export interface ParsedTable {
  rows: string[];
  columns: string[];
  cells: Array<Array<Verdict | null>>;
}

export interface TableProblem {
  /** 1-based line inside the table text. */
  line: number;
  message: string;
}

export const CORNER = "from\\to";
const CELL: Record<string, Verdict | null> = { ".": "allow", X: "deny", "-": null };

export function parseTable(text: string): { table?: ParsedTable; problems: TableProblem[] } {
  const problems: TableProblem[] = [];
  const lines = text
    .split("\n")
    .map((raw, i) => ({ line: i + 1, tokens: raw.replace(/#.*$/, "").trim().split(/\s+/).filter(Boolean) }))
    .filter((l) => l.tokens.length > 0);
  if (lines.length === 0) return { problems: [{ line: 1, message: "table is empty: it needs a header row of destinations" }] };
  const header = lines[0]!;
  const columns = header.tokens[0] === CORNER ? header.tokens.slice(1) : header.tokens;
  if (columns.length === 0) problems.push({ line: header.line, message: "the header names no destinations" });
  const dupCol = firstDuplicate(columns);
  if (dupCol) problems.push({ line: header.line, message: `destination ${dupCol} appears twice in the header` });
  const rows: string[] = [];
  const cells: Array<Array<Verdict | null>> = [];
  for (const l of lines.slice(1)) {
    const [name, ...rest] = l.tokens;
    if (rest.length !== columns.length) {
      problems.push({ line: l.line, message: `row ${name} has ${rest.length} cells, the header has ${columns.length} destinations` });
      continue;
    }
    const row: Array<Verdict | null> = [];
    for (const [i, tok] of rest.entries()) {
      if (!(tok in CELL)) {
        problems.push({ line: l.line, message: `row ${name}, column ${columns[i]}: cell "${tok}" must be "." (allow), "X" (deny) or "-" (not checked)` });
        row.push(null);
      } else row.push(CELL[tok]!);
    }
    rows.push(name!);
    cells.push(row);
  }
  if (rows.length === 0 && problems.length === 0) problems.push({ line: header.line, message: "table has a header but no rows" });
  const dupRow = firstDuplicate(rows);
  if (dupRow) problems.push({ line: header.line, message: `source ${dupRow} has two rows` });
  if (problems.length > 0) return { problems };
  return { table: { rows, columns, cells }, problems };
}

/** Prints a table in the same notation (columns padded), e.g. to show expected vs actual. */
export function formatTable(t: ParsedTable): string {
  const width = Math.max(1, ...t.columns.map((c) => c.length));
  const rowWidth = Math.max(CORNER.length, ...t.rows.map((r) => r.length));
  const pad = (s: string, w: number) => s + " ".repeat(Math.max(0, w - s.length));
  const sym = (v: Verdict | null) => (v === null ? "-" : v === "allow" ? "." : "X");
  const lines = [pad(CORNER, rowWidth) + " " + t.columns.map((c) => pad(c, width)).join(" ")];
  t.rows.forEach((r, i) => {
    lines.push(pad(r, rowWidth) + " " + t.cells[i]!.map((v) => pad(sym(v), width)).join(" "));
  });
  return lines.map((l) => l.trimEnd()).join("\n") + "\n";
}

/**
 * Endpoint patterns used by `overrides`: "*" (any endpoint of the table), "x/*" (any pod of
 * namespace x), "* /a" without the space (pod a of any namespace), or an exact endpoint.
 */
export function matchesPattern(pattern: string, endpoint: string): boolean {
  if (pattern === "*") return true;
  if (pattern === endpoint) return true;
  const p = pattern.split("/");
  const e = endpoint.split("/");
  // Only pod references ("ns/name") take part in per-part wildcards; IPs and hep: names never do.
  if (p.length !== 2 || e.length !== 2 || endpoint.includes(":")) return false;
  return (p[0] === "*" || p[0] === e[0]) && (p[1] === "*" || p[1] === e[1]);
}

function firstDuplicate(xs: string[]): string | undefined {
  const seen = new Set<string>();
  for (const x of xs) {
    if (seen.has(x)) return x;
    seen.add(x);
  }
  return undefined;
}
