/**
 * User-facing problems are data, never exceptions. Every stage that reads user input
 * (YAML loading, validation, conversion, the CLI) returns `Issue[]`; nothing is thrown at the user.
 */

/** Where in a source file an issue points (1-based line and column). */
export interface SourcePos {
  file?: string; // absent for strings and stdin ("<stdin>" is used for stdin)
  line: number;
  col: number;
  /** Byte/char offset range in the source text, for caret excerpts. */
  offset?: number;
  endOffset?: number;
}

export type IssuePath = ReadonlyArray<string | number>;

export interface Issue {
  /** Stable, machine-readable code, e.g. "invalid-selector", "unknown-field", "yaml-syntax". */
  code: string;
  /** JSON path inside the resource: ["spec", "ingress", 0, "source", "selector"]. */
  path: IssuePath;
  /** One sentence a person can act on. */
  message: string;
  severity: "error" | "warning";
  /** Which document this came from: "NetworkPolicy ns/name" — filled in by the loader. */
  resource?: string;
  pos?: SourcePos;
}

export function issue(code: string, path: IssuePath, message: string, severity: Issue["severity"] = "error"): Issue {
  return { code, path, message, severity };
}

/** Formats a path as `spec.ingress[0].source.selector`. */
export function formatPath(path: IssuePath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? seg : `.${seg}`;
  }
  return out;
}

export type Result<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

/** Raised only for broken internal invariants ("probably a bug"); never for user input. */
export class BugError extends Error {
  constructor(message: string) {
    super(`Probably bug: ${message}`);
    this.name = "BugError";
  }
}

export function assertNever(x: never, what = "value"): never {
  throw new BugError(`unexpected ${what}: ${JSON.stringify(x)}`);
}
