/** ipset element texts: the canonical-IPv4 fast path returns exactly what the parse path would. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalAddr } from "../../rule/index.js";
import { elementTexts } from "./ipset.js";

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
