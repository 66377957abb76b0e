/**
 * Evaluation order of tiers and policies (SEMANTICS §2.1, §2.2; felix calc/policy_sorter.go).
 * Sorting is semantics, not presentation: the engine sorts programs with these, and the staged
 * what-if view in match.ts re-sorts merged tiers with the same comparators.
 */
import { joined } from "../model/index.js";
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

/** Texts whose UTF-16 order is their UTF-8 byte order as they are. */
const ASCII = /^[\x00-\x7f]*$/;

/**
 * comparePolicies as a precomputed key, for sorting many policies: `order` (missing = +∞) and a
 * tie-break text whose UTF-16 order is the UTF-8 byte order of "<name>/<namespace>/<kind>" — the
 * text itself when it is ASCII (the usual case), otherwise its UTF-8 bytes one char each, so code
 * units compare exactly as bytes do. Compare `order` with `<`, then `tie` with `<`.
 */
export function policySortKey(p: Pick<PolicyIR, "order" | "name" | "namespace" | "kind">): { order: number; tie: string } {
  // Joined flat: sorting compares each text ~30 times, and a concatenation is flattened first.
  const t = joined("/", p.name, p.namespace ?? "", p.kind);
  return { order: p.order ?? Infinity, tie: ASCII.test(t) ? t : Buffer.from(t, "utf8").toString("latin1") };
}

/** Go's string comparison: by UTF-8 bytes. JS compares UTF-16 code units, which differs only for
 *  astral vs. high-BMP characters; names here are ASCII in practice, but be exact anyway. */
export function byteCompare(a: string, b: string): number {
  if (a === b) return 0;
  if (ASCII.test(a) && ASCII.test(b)) return a < b ? -1 : 1;
  const ab = Buffer.from(a, "utf8");
  const bb = Buffer.from(b, "utf8");
  return Buffer.compare(ab, bb);
}
