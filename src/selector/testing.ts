/**
 * fast-check arbitraries for tests of what evaluates selectors (label indexes, candidate
 * narrowing): selector ASTs over a small label and value vocabulary, so that matches, misses
 * and repeated values are all common. Conjunctions of eq / in / has (what posting lists answer)
 * come mixed with every other kind of term. `in` / `notIn` values may repeat.
 */
import fc from "fast-check";
import type { SelectorNode } from "./ast.js";

export function selectorNodes(labels: readonly string[], values: readonly string[]): fc.Arbitrary<SelectorNode> {
  const label = fc.constantFrom(...labels);
  const value = fc.constantFrom(...values);
  return fc.letrec<{ node: SelectorNode }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small" },
      fc.constant({ type: "all" } as SelectorNode),
      label.map((l) => ({ type: "has", label: l }) as SelectorNode),
      fc.tuple(fc.constantFrom("eq", "ne", "startsWith" as const), label, value).map(([type, l, v]) => ({ type, label: l, value: v }) as SelectorNode),
      fc.tuple(fc.constantFrom("in", "notIn" as const), label, fc.array(value, { maxLength: 3 })).map(([type, l, vs]) => ({ type, label: l, values: vs }) as SelectorNode),
      tie("node").map((n) => ({ type: "not", operand: n }) as SelectorNode),
      fc.tuple(fc.constantFrom("and", "and", "or" as const), fc.array(tie("node"), { minLength: 2, maxLength: 3 })).map(([type, ops]) => ({ type, operands: ops }) as SelectorNode),
    ),
  })).node;
}

/** Label maps over the same vocabulary. */
export function labelMaps(labels: readonly string[], values: readonly string[], maxKeys: number): fc.Arbitrary<Record<string, string>> {
  return fc.dictionary(fc.constantFrom(...labels), fc.constantFrom(...values), { maxKeys });
}
