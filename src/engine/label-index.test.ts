import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Selector } from "../selector/index.js";
import { labelMaps, selectorNodes } from "../selector/testing.js";
import { LabelIndex, labelSignature } from "./label-index.js";

const LABELS = ["app", "tier", "ns", "has-dash", "constructor"];
const VALUES = ["a", "b", "c", "", "x y"];
const node = selectorNodes(LABELS, VALUES);
const labelMap = labelMaps(LABELS, VALUES, 4);

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

  it("labelSignature is equal exactly when two label maps hold the same entries, in any key order", () => {
    // Texts drawn from an alphabet with both separators, the JSON form's quote, colon and comma,
    // so the separator form, the JSON fallback and their mixture are all reached.
    const text = fc.string({ unit: fc.constantFrom("a", "b", "\u0001", "\u0002", '"', ":", ","), maxLength: 4 });
    const map = fc.dictionary(text, text, { maxKeys: 3 });
    const shuffled = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).reverse());
    const same = (a: Record<string, string>, b: Record<string, string>) =>
      Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => Object.hasOwn(b, k) && b[k] === a[k]);
    // Besides unrelated pairs: the same characters split differently between key and value, or
    // moved between two labels, which a concatenation without separators would confuse.
    const resplit = fc.tuple(text, text, text, map).map(([x, y, z, rest]) => [{ ...rest, [x + y]: z }, { ...rest, [x]: y + z }] as const);
    const moved = fc.tuple(text, text, text, text).map(([k1, v1, k2, v2]) => [{ [k1]: v1 + k2, [v2]: "" }, { [k1]: v1, [k2 + v2]: "" }] as const);
    fc.assert(
      fc.property(fc.oneof(fc.tuple(map, map), resplit, moved), ([a, b]) => {
        expect(labelSignature(a) === labelSignature(b)).toBe(same(a, b));
        expect(labelSignature(shuffled(a))).toBe(labelSignature(a));
      }),
      { numRuns: 2000 },
    );
  });
});
