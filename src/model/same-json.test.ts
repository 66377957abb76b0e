import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sameJson } from "./same-json.js";

const byText = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
/** A copy sharing no array or plain object with the original (leaves kept as they are). */
function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (v && typeof v === "object" && !(v instanceof Date)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)]));
  return v;
}

// Values of every kind JSON.stringify treats specially, small enough that equal texts are common.
const leaf = fc.oneof(
  fc.constantFrom(null, undefined, true, false, 0, -0, 1, NaN, Infinity, -Infinity, "", "a", "1", () => 1, Symbol.for("s")),
  fc.integer({ min: -2, max: 2 }),
  fc.constantFrom(new Date(0), new Date(1)),
);
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    leaf,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom("a", "b", "c"), tie("value"), { maxKeys: 3 }),
  ),
}));

describe("sameJson", () => {
  it("answers what comparing the JSON texts answers", () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        expect(sameJson(a, b)).toBe(byText(a, b));
      }),
      { numRuns: 5000 },
    );
  });

  it("answers it for copies with small changes, key order included", () => {
    const mutate = fc.tuple(value, fc.nat()).map(([v, n]) => {
      const c = copy(v);
      if (c && typeof c === "object") {
        const keys = Object.keys(c);
        if (keys.length > 0) {
          const k = keys[n % keys.length]!;
          const o = c as Record<string, unknown>;
          if (n % 3 === 0) o[k] = undefined; // omitted in JSON: may still print the same
          else if (n % 3 === 1 && !Array.isArray(c)) {
            const x = o[k];
            delete o[k];
            o[k] = x; // same entries, key moved last
          } else o[k] = "changed";
        }
      }
      return [v, c] as const;
    });
    const plain = fc.jsonValue();
    fc.assert(
      fc.property(fc.oneof(mutate, fc.tuple(plain, plain), plain.map((v) => [v, copy(v)] as const)), ([a, b]) => {
        expect(sameJson(a, b)).toBe(byText(a, b));
      }),
      { numRuns: 5000 },
    );
  });

  it("treats -0 as 0 and non-finite numbers as null, like the texts", () => {
    expect(sameJson({ a: -0 }, { a: 0 })).toBe(true);
    expect(sameJson([NaN], [null])).toBe(true);
    expect(sameJson({ a: undefined, b: 1 }, { b: 1 })).toBe(true);
    expect(sameJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(false);
    expect(sameJson([undefined], [null])).toBe(true);
  });
});
