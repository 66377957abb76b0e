/** ipset element texts: the canonical-IPv4 fast path returns exactly what the parse path would. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { patchSortedStrings, type DpSet, type Family, type SetField } from "../../dataplane/index.js";
import { canonicalAddr } from "../../rule/index.js";
import { elementTexts, ipsetDef, recordedElementChanges, type IpsetDef } from "./ipset.js";
import { planDelta } from "./plan.js";
import { listArray } from "../../model/index.js";

describe("elementTexts", () => {
  it("any dotted quad (canonical or not) comes out as canonicalAddr prints it", () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.integer({ min: 0, max: 255 }).map((n) => `0${n}`), fc.integer({ min: 256, max: 999 }).map(String));
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), (parts) => {
        const text = parts.join(".");
        const canonical = canonicalAddr(text);
        if (canonical === undefined) expect(() => elementTexts(text, "hash:ip", "s")).toThrow();
        else expect(elementTexts(text, "hash:ip", "s")).toEqual([canonical]);
      }),
    );
  });

  it.each([
    ["198.18.0.1", "hash:ip", ["198.18.0.1"]],
    ["198.18.0.1/32", "hash:ip", ["198.18.0.1"]],
    ["198.18.0.0/16", "hash:net", ["198.18.0.0/16"]],
    ["0.0.0.0/0", "hash:net", ["0.0.0.0/1", "128.0.0.0/1"]],
    ["198.18.0.1 . 6 . 80", "hash:ip,port", ["198.18.0.1,tcp:80"]],
    ["fd00:198::1", "hash:ip", ["fd00:198::1"]],
  ] as const)("%s in %s", (el, type, want) => {
    expect(elementTexts(el, type, "s")).toEqual(want);
  });
});

describe("ipsetDef of a patched set", () => {
  // Canonical model elements of non-interval sets: bare addresses, or "addr . proto . port".
  const v4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => `198.18.${a}.${b}`);
  const v6 = fc.integer({ min: 0, max: 0xffff }).map((n) => canonicalAddr(`fd00::${n.toString(16)}`)!);
  const withPort = (addr: fc.Arbitrary<string>) => fc.tuple(addr, fc.constantFrom(6, 17, 132), fc.integer({ min: 1, max: 65535 })).map(([a, p, port]) => `${a} . ${p} . ${port}`);
  const cases: Array<[string, fc.Arbitrary<string>, Family, SetField[]]> = [
    ["hash:ip v4", v4, 4, ["addr"]],
    ["hash:ip v6", v6, 6, ["addr"]],
    ["hash:ip,port v4", withPort(v4), 4, ["addr", "l4proto", "port"]],
  ];
  for (const [what, element, family, fields] of cases) {
    it(`${what}: a chain of recorded edits converts to what a whole conversion gives`, () => {
      const sorted = (xs: string[]) => [...new Set(xs)].sort();
      let recordedSteps = 0;
      fc.assert(
        fc.property(fc.array(element, { maxLength: 40 }), fc.array(fc.tuple(fc.array(element, { maxLength: 8 }), fc.nat()), { maxLength: 6 }), (start, steps) => {
          let set: DpSet = { name: "cali40s-test", family, fields, interval: false, about: "test", elements: sorted(start) };
          ipsetDef(set);
          for (const [adds, seed] of steps) {
            const remove = listArray(set.elements).filter((_, i) => (i + seed) % 3 === 0);
            const add = sorted(adds).filter((e) => !listArray(set.elements).includes(e));
            const before = ipsetDef(set);
            set = { ...set, elements: patchSortedStrings(set.elements, remove, add) };
            expect(ipsetDef(set)).toEqual(ipsetDef({ ...set, elements: [...set.elements] }));
            // planDelta takes the element changes from the recorded patch: exactly what the merge
            // walk over unrecorded copies gives.
            if (recordedElementChanges(before, ipsetDef(set))) recordedSteps++;
            const plan = (a: IpsetDef, b: IpsetDef) => planDelta({ tables: [], sets: { [a.name]: a } }, { tables: [], sets: { [b.name]: b } });
            // Copies carry no recorded edit (and a ChunkedList copies as the array it stands for).
            const copy = (d: IpsetDef): IpsetDef => ({ ...d, elements: [...d.elements] });
            expect(plan(before, ipsetDef(set))).toEqual(plan(copy(before), copy(ipsetDef(set))));
          }
        }),
      );
      expect(recordedSteps).toBeGreaterThan(0); // the recorded path really ran
    });
  }
});
