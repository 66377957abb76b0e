/**
 * Helpers shared by the semantic checks. Checks run even when the structure check found type
 * errors (so every problem is reported at once), therefore they read the resource through these
 * tolerant accessors and silently skip values of the wrong type (already reported).
 */
import type { Issue, IssuePath } from "../model/index.js";

export type Obj = Record<string, unknown>;

export type Report = (code: string, path: IssuePath, message: string, severity?: Issue["severity"]) => Issue;

/**
 * For issues about a character inside a string value (a selector parse error), the offset of
 * that character within the value. The loader uses it to put the caret on the character itself.
 */
export const valueOffsets = new WeakMap<Issue, number>();

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): Obj | undefined {
  return isObj(v) ? v : undefined;
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : undefined;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A string map's entries whose values are strings (others were reported as type errors). */
export function strEntries(v: unknown): Array<[string, string]> {
  if (!isObj(v)) return [];
  return Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string");
}

/** A collector: `report` appends to `issues`. */
export function collector(): { issues: Issue[]; report: Report } {
  const issues: Issue[] = [];
  const report: Report = (code, path, message, severity = "error") => {
    const i: Issue = { code, path: [...path], message, severity };
    issues.push(i);
    return i;
  };
  return { issues, report };
}

/** Go's len() of a string counts UTF-8 bytes; Kubernetes length limits are in bytes. */
export function byteLen(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

export function quote(v: unknown): string {
  return JSON.stringify(v);
}
