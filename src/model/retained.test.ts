import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { copyRecord, exactArray, joined } from "./retained.js";

describe("exactArray", () => {
  it("returns an empty list itself and a copy of any other", () => {
    const empty: number[] = [];
    expect(exactArray(empty)).toBe(empty);
    const grown: number[] = [];
    grown.push(1, 2, 3);
    const copy = exactArray(grown);
    expect(copy).not.toBe(grown);
    expect(copy).toEqual([1, 2, 3]);
  });
});

describe("joined", () => {
  it.each([
    [["np", "ns-1", "np-42"], "/", "np/ns-1/np-42"],
    [["pro", "kns.a"], "/", "pro/kns.a"],
    [["10.0.0.1", "/32"], "", "10.0.0.1/32"],
    [["only"], "/", "only"],
  ])("joins %j with %j", (parts, sep, want) => {
    expect(joined(sep, ...parts)).toBe(want);
  });
});

describe("copyRecord", () => {
  it("copies own keys in order, like a spread", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string()), (d) => {
        const c = copyRecord(d);
        expect(c).not.toBe(d);
        expect(Object.keys(c)).toEqual(Object.keys({ ...d }));
        expect(c).toEqual({ ...d });
      }),
    );
  });

  it.each([
    ["integer-like keys first, as property order has them", { b: "1", "2": "x", a: "2", "1": "y" }],
    ["an own __proto__ key stays data", JSON.parse('{"a":"1","__proto__":"p","z":"2"}') as Record<string, string>],
  ])("%s", (_why, record) => {
    const c = copyRecord(record);
    expect(Object.keys(c)).toEqual(Object.keys({ ...record }));
    expect(JSON.stringify(c)).toBe(JSON.stringify({ ...record }));
    expect(Object.getPrototypeOf(c)).toBe(Object.prototype);
  });

  it("leaves inherited keys out", () => {
    const base = { inherited: "x" };
    const r = Object.create(base) as Record<string, string>;
    r.own = "y";
    expect(copyRecord(r)).toEqual({ own: "y" });
  });
});
