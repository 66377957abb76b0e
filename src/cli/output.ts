/**
 * Printing issues for people: `file:line:col: error[code] path: message`, then the source line
 * with a caret under the offending part (like rustc or yaml's prettifyError). Shared by every
 * verb that reads manifests; pure string building, so callers choose the stream.
 */
import type { Issue } from "../model/index.js";
import { formatPath } from "../model/index.js";

export interface IssueFormatOptions {
  /** Source texts by file name ("" for anonymous text), for the excerpt. */
  sources?: ReadonlyMap<string, string>;
  /** ANSI colours. Use `useColor(stream)` to decide. */
  color?: boolean;
}

const ansi = (on: boolean, code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "") && env.TERM !== "dumb";
}

function lineAt(text: string, line: number): string | undefined {
  let start = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", start);
    if (nl === -1) return undefined;
    start = nl + 1;
  }
  const end = text.indexOf("\n", start);
  return text.slice(start, end === -1 ? text.length : end).replace(/\r$/, "");
}

/** One issue as text (header line, then an excerpt when the source is known). */
export function formatIssue(issue: Issue, opts: IssueFormatOptions = {}): string {
  const c = opts.color === true;
  const bold = ansi(c, "1");
  const dim = ansi(c, "2");
  const sevColor = ansi(c, issue.severity === "error" ? "1;31" : "1;33");
  const blue = ansi(c, "34");
  const pos = issue.pos;
  const where = pos ? `${pos.file ?? "<input>"}:${pos.line}:${pos.col}: ` : issue.resource ? `${issue.resource}: ` : "";
  const path = issue.path.length > 0 ? `${formatPath(issue.path)}: ` : "";
  let out = `${bold(where)}${sevColor(issue.severity)}${dim(`[${issue.code}]`)} ${path}${issue.message}`;
  const text = pos ? opts.sources?.get(pos.file ?? "") : undefined;
  const src = pos && text !== undefined ? lineAt(text, pos.line) : undefined;
  if (pos && src !== undefined && src.trim() !== "") {
    const num = String(pos.line);
    const gutter = " ".repeat(num.length);
    const start = Math.max(0, pos.col - 1);
    let width = 1;
    if (pos.offset !== undefined && pos.endOffset !== undefined && pos.endOffset > pos.offset) {
      width = Math.min(pos.endOffset - pos.offset, Math.max(1, src.length - start));
    }
    // Keep tabs so the caret lines up under tab-indented text.
    const pad = src.slice(0, start).replace(/[^\t]/g, " ");
    out += `\n${blue(`${gutter} |`)}\n${blue(`${num} |`)} ${src}\n${blue(`${gutter} |`)} ${pad}${sevColor("^".repeat(width))}`;
  }
  // Several documents may share a file: name the resource the issue belongs to.
  if (pos && issue.resource) out += `\n${dim(`  = in ${issue.resource}`)}`;
  return out;
}

/** All issues, blank-line separated, with a trailing newline (empty string for no issues). */
export function formatIssues(issues: readonly Issue[], opts: IssueFormatOptions = {}): string {
  if (issues.length === 0) return "";
  return `${issues.map((i) => formatIssue(i, opts)).join("\n\n")}\n`;
}

/** Writes formatIssues to `write` (stdout by default). */
export function printIssues(
  issues: readonly Issue[],
  opts: IssueFormatOptions & { write?: (s: string) => void } = {},
): void {
  const text = formatIssues(issues, opts);
  if (text) (opts.write ?? ((s: string) => void process.stdout.write(s)))(text);
}

/** "2 errors, 1 warning" */
export function countIssues(issues: readonly Issue[]): { errors: number; warnings: number; text: string } {
  const errors = issues.filter((i) => i.severity === "error").length;
  const warnings = issues.length - errors;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  const parts = [errors ? plural(errors, "error") : "", warnings ? plural(warnings, "warning") : ""].filter(Boolean);
  return { errors, warnings, text: parts.join(", ") };
}
