import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SortedRecord } from "./sorted.js";

describe("SortedRecord", () => {
  it("after any sequence of adds, removes and sets, equals a Map-backed reference, in key order", () => {
    const key = fc.constantFrom("a", "b", "c", "p/x", "p/y", "s:1", "s:10", "s:2", "é", "ｚ");
    const op = fc.oneof(
      fc.record({ op: fc.constant("reset" as const), keys: fc.array(key, { maxLength: 6 }), value: fc.option(fc.integer(), { nil: undefined }) }),
      fc.record({ op: fc.constant("add" as const), key }),
      fc.record({ op: fc.constant("remove" as const), key }),
      fc.record({ op: fc.constant("set" as const), key, value: fc.option(fc.integer(), { nil: undefined }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const r = new SortedRecord<number>();
        const ref = new Map<string, number | undefined>();
        for (const o of ops) {
          if (o.op === "reset") {
            r.reset(o.keys, () => o.value);
            ref.clear();
            for (const k of o.keys) ref.set(k, o.value);
          } else if (o.op === "add") {
            r.add(o.key);
            if (!ref.has(o.key)) ref.set(o.key, undefined);
          } else if (o.op === "remove") {
            r.remove(o.key);
            ref.delete(o.key);
          } else {
            r.set(o.key, o.value);
            if (ref.has(o.key)) ref.set(o.key, o.value);
          }
        }
        const keys = [...ref.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        expect(r.keys).toEqual(keys);
        const want: Record<string, number> = {};
        for (const k of keys) if (ref.get(k) !== undefined) want[k] = ref.get(k)!;
        const got = r.record();
        expect(got).toEqual(want);
        expect(Object.keys(got)).toEqual(Object.keys(want)); // key order too
      }),
      { numRuns: 500 },
    );
  });
});
