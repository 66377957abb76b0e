import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { formatTable, matchesPattern, parseTable, type ParsedTable } from "./table.js";

describe("parseTable", () => {
  it("reads the e2e notation, with or without the corner token", () => {
    const a = parseTable("x/a x/b\nx/a - X\nx/b . -\n");
    const b = parseTable("from\\to x/a x/b\n  x/a   -   X   # comment\n\n  x/b   .   -\n");
    expect(a.problems).toEqual([]);
    expect(b.table).toEqual(a.table);
    expect(a.table).toEqual({ rows: ["x/a", "x/b"], columns: ["x/a", "x/b"], cells: [[null, "deny"], ["allow", null]] });
  });

  it.each([
    ["", "table is empty"],
    ["x/a x/b\n", "no rows"],
    ["x/a x/b\nx/a . .  .\n", "has 3 cells"],
    ["x/a\nx/a o\n", 'cell "o"'],
    ["x/a\nx/a x\n", 'cell "x"'],
    ["x/a x/a\nx/a . .\n", "appears twice"],
    ["x/a\nx/b .\nx/b X\n", "two rows"],
    ["from\\to\nx/a\n", "names no destinations"],
  ])("rejects %j", (text, message) => {
    const r = parseTable(text);
    expect(r.table).toBeUndefined();
    expect(r.problems.map((p) => p.message).join("\n")).toContain(message);
  });

  const name = fc.stringMatching(/^[a-z]{1,3}\/[a-z0-9]{1,4}$/);
  const tableArb = fc
    .tuple(fc.uniqueArray(name, { minLength: 1, maxLength: 6 }), fc.uniqueArray(name, { minLength: 1, maxLength: 6 }))
    .chain(([rows, columns]) =>
      fc
        .array(fc.array(fc.constantFrom("allow" as const, "deny" as const, null), { minLength: columns.length, maxLength: columns.length }), {
          minLength: rows.length,
          maxLength: rows.length,
        })
        .map((cells): ParsedTable => ({ rows, columns, cells })),
    );

  it("parse(format(t)) = t", () => {
    fc.assert(
      fc.property(tableArb, (t) => {
        const r = parseTable(formatTable(t));
        expect(r.problems).toEqual([]);
        expect(r.table).toEqual(t);
      }),
    );
  });
});

describe("matchesPattern", () => {
  it.each([
    ["*", "x/a", true],
    ["*", "198.19.0.1", true],
    ["x/*", "x/a", true],
    ["x/*", "y/a", false],
    ["*/a", "y/a", true],
    ["*/a", "y/b", false],
    ["x/a", "x/a", true],
    ["x/a", "x/b", false],
    ["hep:h1", "hep:h1", true],
    ["*/*", "wep:x/w1", false],
    ["x/*", "198.19.0.1", false],
  ])("%s ~ %s = %s", (pat, ep, want) => {
    expect(matchesPattern(pat, ep)).toBe(want);
  });
});
