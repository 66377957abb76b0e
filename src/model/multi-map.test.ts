import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MultiMap } from "./multi-map.js";

describe("MultiMap", () => {
  it("holds what a Map of Sets holds, after any sequence of adds and deletes", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.constantFrom("a", "b", "c"), fc.constantFrom("x", "y", "z"))), (ops) => {
        const m = new MultiMap<string, string>();
        const ref = new Map<string, Set<string>>();
        for (const [add, k, v] of ops) {
          if (add) {
            m.add(k, v);
            if (!ref.has(k)) ref.set(k, new Set());
            ref.get(k)!.add(v);
          } else {
            m.delete(k, v);
            ref.get(k)?.delete(v);
            if (ref.get(k)?.size === 0) ref.delete(k);
          }
          for (const key of ["a", "b", "c"]) {
            expect(new Set(m.get(key))).toEqual(ref.get(key) ?? new Set());
            expect(m.has(key)).toBe(ref.has(key));
          }
          expect(m.size).toBe(ref.size);
        }
      }),
    );
  });
});
