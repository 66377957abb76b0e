import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSelector } from "../../selector/index.js";
import { PolicySelectorIndex } from "./policy-index.js";

// Selectors of every shape the index treats differently: one equality, a set of values, several
// restrictions, none (has, negations, all, or), and one that cannot match.
const SELECTORS = [
  "app == 'a'",
  "app == 'b' && tier == 'x'",
  "tier in {'x', 'y'}",
  "app == 'a' && tier in {'x', 'y'}",
  "has(app)",
  "!has(tier)",
  "app != 'a'",
  "all()",
  "app == 'a' || tier == 'y'",
  "app == 'a' && app == 'b'",
  "projectcalico.org/namespace == 'n1' && app in {'a', 'c'}",
  "tier not in {'x'}",
];

const labelsArb = fc.record(
  { app: fc.constantFrom("a", "b", "c"), tier: fc.constantFrom("x", "y", "z"), "projectcalico.org/namespace": fc.constantFrom("n1", "n2") },
  { requiredKeys: [] },
);

describe("PolicySelectorIndex", () => {
  it("offers every policy whose selector matches, as policies come and go", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(SELECTORS.length - 1), fc.boolean()), { maxLength: 30 }), fc.array(labelsArb, { minLength: 1, maxLength: 10 }), (ops, items) => {
        const index = new PolicySelectorIndex<number>();
        const present = new Set<number>();
        for (const [i, add] of ops) {
          if (add) {
            index.add(i, parseSelector(SELECTORS[i]!));
            present.add(i);
          } else {
            index.remove(i);
            present.delete(i);
          }
        }
        for (const labels of items) {
          const candidates = index.candidates(labels);
          for (const i of present) if (parseSelector(SELECTORS[i]!).matches(labels)) expect(candidates.has(i), `${SELECTORS[i]} on ${JSON.stringify(labels)}`).toBe(true);
          for (const i of candidates) expect(present.has(i)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("narrows: an equality selector is not offered for another value", () => {
    const index = new PolicySelectorIndex<string>();
    index.add("eq", parseSelector("app == 'a'"));
    index.add("any", parseSelector("has(app)"));
    expect([...index.candidates({ app: "b" })]).toEqual(["any"]);
    expect([...index.candidates({ app: "a" })].sort()).toEqual(["any", "eq"]);
  });
});
