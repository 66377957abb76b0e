/**
 * Evaluation order of tiers and policies (SEMANTICS §2.1, §2.2; felix calc/policy_sorter.go).
 * Sorting is semantics, not presentation: the engine sorts programs with these, and the staged
 * what-if view in match.ts re-sorts merged tiers with the same comparators.
 */
import type { PolicyIR, TierIR } from "./ir.js";

/** Tiers: existing tiers before missing ones, then ascending order with no-order last, then name
 *  byte-wise. */
export function compareTiers(a: TierIR, b: TierIR): number {
  const am = a.missing === true;
  const bm = b.missing === true;
  if (am !== bm) return am ? 1 : -1;
  const ao = a.order ?? Infinity;
  const bo = b.order ?? Infinity;
  if (ao !== bo) return ao < bo ? -1 : 1;
  return byteCompare(a.name, b.name);
}

/** Policies within a tier: ascending order (missing = +∞, last); ties by
 *  "<name>/<namespace>/<kind>" byte-wise (Calico v3.32+). */
export function comparePolicies(
  a: Pick<PolicyIR, "order" | "name" | "namespace" | "kind">,
  b: Pick<PolicyIR, "order" | "name" | "namespace" | "kind">,
): number {
  const ao = a.order ?? Infinity;
  const bo = b.order ?? Infinity;
  if (ao !== bo) return ao < bo ? -1 : 1;
  return byteCompare(`${a.name}/${a.namespace ?? ""}/${a.kind}`, `${b.name}/${b.namespace ?? ""}/${b.kind}`);
}

/** Go's string comparison: by UTF-8 bytes. JS compares UTF-16 code units, which differs only for
 *  astral vs. high-BMP characters; names here are ASCII in practice, but be exact anyway. */
export function byteCompare(a: string, b: string): number {
  if (a === b) return 0;
  const ascii = /^[\x00-\x7f]*$/;
  if (ascii.test(a) && ascii.test(b)) return a < b ? -1 : 1;
  const ab = Buffer.from(a, "utf8");
  const bb = Buffer.from(b, "utf8");
  return Buffer.compare(ab, bb);
}
