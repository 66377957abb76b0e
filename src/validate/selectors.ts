/**
 * Selector fields (SEMANTICS §1.4, §5.3): each must parse (no trimming: a trailing newline from a
 * YAML `|` block is an error), is at most 1024 characters (CRD schema), and `global()` may appear
 * only in a rule's namespaceSelector, and there only on its own.
 */
import type { IssuePath } from "../model/index.js";
import { isOnlyGlobal, validateSelector } from "../selector/index.js";
import { byteLen, valueOffsets, type Report } from "./check-util.js";

export const MAX_SELECTOR_LENGTH = 1024;

/** Where a selector sits decides whether `global()` is allowed in it. */
export type GlobalUse = "forbidden" | "alone" | "ignored";

export function checkSelector(value: unknown, path: IssuePath, global: GlobalUse, report: Report): void {
  if (typeof value !== "string") return;
  const len = byteLen(value);
  if (len > MAX_SELECTOR_LENGTH) {
    report("selector-too-long", path, `selector is ${len} characters long; the limit is ${MAX_SELECTOR_LENGTH}`);
    return;
  }
  const err = validateSelector(value);
  if (err) {
    const i = report("invalid-selector", path, `invalid selector ${JSON.stringify(value)}: ${err.reason}${hint(value)}`);
    valueOffsets.set(i, err.position);
    return;
  }
  if (!value.includes("global(")) return;
  if (global === "forbidden") {
    report("global-selector", path, "global() can only be used in a rule's namespaceSelector");
  } else if (global === "alone" && value !== "global()" && !isOnlyGlobal(value)) {
    report("global-selector", path, "global() cannot be combined with other selectors");
  }
}

function hint(value: string): string {
  if (/[\r\n]$/.test(value)) return " (the selector ends with a newline: use `>-` or `|-` in YAML, or a plain scalar)";
  if (/(^|[^=!])=([^=]|$)/.test(value)) return " (use == for equality)";
  if (/&(?!&)|(^|[^&])&$/.test(value) && !value.includes("&&")) return " (use && for AND)";
  return "";
}
