/**
 * Canonical printer: Calico's collectFragments (parser/ast.go), SEMANTICS §1.5. The canonical text
 * is what Calico hashes into the selector's unique id, so it must match byte for byte.
 */
import { hash } from "node:crypto";
import type { SelectorNode } from "./ast.js";

const OPS = {
  eq: " == ",
  ne: " != ",
  contains: " contains ",
  startsWith: " starts with ",
  endsWith: " ends with ",
} as const;

/** `"` unless the value contains `"`; then `'` (no escaping exists in the language). */
function quote(s: string): string {
  return s.includes('"') ? `'${s}'` : `"${s}"`;
}

export function printSelector(n: SelectorNode): string {
  const out: string[] = [];
  emit(n, out);
  return out.join("");
}

function emit(n: SelectorNode, out: string[]): void {
  switch (n.type) {
    case "all":
      out.push("all()");
      return;
    case "global":
      out.push("global()");
      return;
    case "has":
      out.push("has(", n.label, ")");
      return;
    case "eq":
    case "ne":
    case "contains":
    case "startsWith":
    case "endsWith":
      out.push(n.label, OPS[n.type], quote(n.value));
      return;
    case "in":
    case "notIn":
      out.push(n.label, n.type === "in" ? " in {" : " not in {", n.values.map(quote).join(", "), "}");
      return;
    case "not":
      out.push("!");
      emit(n.operand, out);
      return;
    case "and":
    case "or": {
      const sep = n.type === "and" ? " && " : " || ";
      out.push("(");
      n.operands.forEach((o, k) => {
        if (k > 0) out.push(sep);
        emit(o, out);
      });
      out.push(")");
      return;
    }
  }
}

/** Calico hash.MakeUniqueID(prefix, content): prefix + ":" + base64url-nopad(SHA-224(prefix + ":" + content)). */
export function makeUniqueId(prefix: string, content: string): string {
  // One-shot hash (Node ≥ 20.12): a third of createHash's cost for texts this short, and a full
  // build hashes every distinct selector (~60k at 100k pods).
  const digest = hash("sha224", `${prefix}:${content}`, "base64url");
  // Flat (join), not a concatenation: set ids are kept in every rule that references the set.
  return [prefix, digest].join(":");
}
