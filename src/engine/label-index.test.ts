import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Selector, type SelectorNode } from "../selector/index.js";
import { LabelIndex } from "./label-index.js";

const LABELS = ["app", "tier", "ns", "has-dash", "constructor"];
const VALUES = ["a", "b", "c", "", "x y"];
const label = fc.constantFrom(...LABELS);
const value = fc.constantFrom(...VALUES);

// Conjunctions of eq / in / has (the posting-list path) mixed with everything else (the
// candidates + matcher path), so both are compared with plain evaluation.
const { node } = fc.letrec<{ node: SelectorNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small" },
    fc.constant({ type: "all" } as SelectorNode),
    label.map((l) => ({ type: "has", label: l }) as SelectorNode),
    fc.tuple(fc.constantFrom("eq", "ne", "startsWith" as const), label, value).map(([type, l, v]) => ({ type, label: l, value: v }) as SelectorNode),
    fc.tuple(fc.constantFrom("in", "notIn" as const), label, fc.uniqueArray(value, { maxLength: 3 })).map(([type, l, vs]) => ({ type, label: l, values: vs }) as SelectorNode),
    tie("node").map((n) => ({ type: "not", operand: n }) as SelectorNode),
    fc.tuple(fc.constantFrom("and", "and", "or" as const), fc.array(tie("node"), { minLength: 2, maxLength: 3 })).map(([type, ops]) => ({ type, operands: ops }) as SelectorNode),
  ),
}));
const labelMap = fc.dictionary(label, value, { maxKeys: 4 });

describe("LabelIndex", () => {
  it("select / selectClasses give exactly the items whose labels match, in class order", () => {
    fc.assert(
      fc.property(fc.array(labelMap, { minLength: 1, maxLength: 25 }), fc.array(node, { minLength: 1, maxLength: 6 }), (maps, asts) => {
        const idx = new LabelIndex();
        maps.forEach((m, i) => idx.add(`id${i}`, m));
        for (const ast of asts) {
          const sel = new Selector(ast);
          const want = idx.classList.filter((c) => sel.matches(c.labels)).map((c) => c.ordinal);
          expect(idx.selectClasses(sel), sel.toString()).toEqual(want);
          expect(idx.select(sel)).toEqual(want.flatMap((o) => idx.classList[o]!.ids));
        }
      }),
      { numRuns: 400 },
    );
  });

  it("addLike puts an item in the class of another without recomputing its signature", () => {
    const idx = new LabelIndex();
    expect(idx.add("a", { app: "x" })).toBe(0);
    expect(idx.add("b", { app: "y" })).toBe(1);
    expect(idx.addLike("c", 0)).toBe(2);
    expect(idx.classOf("c")).toBe(idx.classOf("a"));
    expect(idx.classOfItem(2)).toBe(idx.classOf("a"));
    expect(idx.classOfItem(2).items).toEqual([0, 2]);
    expect(idx.select(new Selector({ type: "eq", label: "app", value: "x" }))).toEqual(["a", "c"]);
    // Items added after the first lookup by id are found by id too.
    idx.addLike("d", 1);
    expect(idx.classOf("d")).toBe(idx.classOf("b"));
    expect(() => idx.addLike("e", 7)).toThrow(/unknown/);
  });
});
