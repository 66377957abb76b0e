import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { labelSignature } from "../../engine/index.js";
import { Selector } from "../../selector/index.js";
import { labelMaps, selectorNodes } from "../../selector/testing.js";
import { LabelClasses } from "./label-classes.js";

const LABELS = ["app", "tier", "ns", "constructor"];
const VALUES = ["a", "b", "", "x y"];
const node = selectorNodes(LABELS, VALUES);
const labelMap = labelMaps(LABELS, VALUES, 3);
/** Items 0–7 get labels (put) or leave (delete), in any order. */
const step = fc.tuple(fc.integer({ min: 0, max: 7 }), fc.option(labelMap, { nil: undefined }));

describe("LabelClasses", () => {
  it("candidates(selector) holds every class the selector matches, after any sequence of adds and removes", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), fc.array(node, { minLength: 1, maxLength: 5 }), (steps, asts) => {
        const idx = new LabelClasses();
        const current = new Map<string, { sig: string; labels: Record<string, string> }>();
        for (const [n, labels] of steps) {
          const item = `i${n}`;
          const old = current.get(item);
          if (old) idx.remove(item, old.sig);
          current.delete(item);
          if (labels) {
            const sig = labelSignature(labels);
            idx.add(item, sig, labels);
            current.set(item, { sig, labels });
          }
        }
        // Classes are exactly the distinct label maps of the current items.
        expect(idx.size).toBe(new Set([...current.values()].map((c) => c.sig)).size);
        expect([...idx.all()].flatMap((c) => [...c.ids]).sort()).toEqual([...current.keys()].sort());
        for (const ast of asts) {
          const sel = new Selector(ast);
          const want = [...current].filter(([, c]) => sel.matches(c.labels)).map(([id]) => id).sort();
          const got = [...idx.candidates(sel)].filter((c) => sel.matches(c.labels)).flatMap((c) => [...c.ids]).sort();
          expect(got).toEqual(want);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("narrows to the posting list of the restricted label", () => {
    const idx = new LabelClasses();
    idx.add("a1", labelSignature({ app: "a" }), { app: "a" });
    idx.add("a2", labelSignature({ app: "a" }), { app: "a" });
    idx.add("b1", labelSignature({ app: "b", tier: "t" }), { app: "b", tier: "t" });
    idx.add("n1", labelSignature({ other: "x" }), { other: "x" });
    const eq = new Selector({ type: "eq", label: "app", value: "a" });
    expect([...idx.candidates(eq)].map((c) => [...c.ids])).toEqual([["a1", "a2"]]);
    expect([...idx.candidates(new Selector({ type: "has", label: "tier" }))].map((c) => [...c.ids])).toEqual([["b1"]]);
    expect([...idx.candidates(new Selector({ type: "in", label: "app", values: ["a", "b"] }))].length).toBe(2);
    expect([...idx.candidates(new Selector({ type: "all" }))].length).toBe(3);
    expect([...idx.candidates(new Selector({ type: "eq", label: "app", value: "zz" }))]).toEqual([]);
    // An emptied class leaves the posting lists.
    idx.remove("b1", labelSignature({ app: "b", tier: "t" }));
    expect([...idx.candidates(new Selector({ type: "has", label: "tier" }))]).toEqual([]);
    expect(idx.size).toBe(2);
  });
});
