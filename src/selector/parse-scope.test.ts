import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseSelector, tryParseSelector, withSelectorParseScope } from "./index.js";

describe("withSelectorParseScope", () => {
  it("keeps every text parsed inside it (past the 20k cap) and returns the same instance", () => {
    const texts = Array.from({ length: 25_000 }, (_, i) => `app == "a${i}"`);
    withSelectorParseScope(() => {
      const first = texts.map((t) => parseSelector(t));
      // Had the cap applied, the cache would have been cleared at 20k and the early texts re-parsed
      // into new instances.
      texts.forEach((t, i) => expect(parseSelector(t)).toBe(first[i]));
    });
  });

  it("parses exactly like outside a scope, also errors, and nests", () => {
    const atom = fc.constantFrom("a", "b.c/d", "x-1");
    const text = fc.oneof(
      fc.tuple(atom, fc.string({ maxLength: 6 })).map(([k, v]) => `${k} == ${JSON.stringify(v)}`),
      atom.map((k) => `has(${k})`),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.array(text, { maxLength: 8 }), (ts) => {
        const plain = ts.map((t) => {
          const r = tryParseSelector(t);
          return r.ok ? r.selector.toString() : `error ${r.error.message}`;
        });
        const scoped = withSelectorParseScope(() =>
          withSelectorParseScope(() =>
            ts.map((t) => {
              const r = tryParseSelector(t);
              return r.ok ? r.selector.toString() : `error ${r.error.message}`;
            }),
          ),
        );
        expect(scoped).toEqual(plain);
      }),
    );
  });
});
