import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { formatTable } from "./table.js";

describe("formatTable", () => {
  it("aligns columns with three spaces and trims trailing blanks", () => {
    expect(formatTable(["NAME", "TIER"], [["allow-dns", "default"], ["x", "security"]])).toBe(
      "NAME        TIER\nallow-dns   default\nx           security\n",
    );
    expect(formatTable(["NAME", "ORDER"], [["a", ""]])).toBe("NAME   ORDER\na\n");
  });

  it("bolds only the headings when colour is on", () => {
    expect(formatTable(["A", "B"], [["1", "2"]], { color: true })).toBe("\x1b[1mA\x1b[0m   \x1b[1mB\x1b[0m\n1   2\n");
  });

  it("every column starts at the same offset on every line (property)", () => {
    const cell = fc.stringMatching(/^[a-z0-9.-]{1,12}$/);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(fc.array(cell, { minLength: n, maxLength: n }), fc.array(fc.array(cell, { minLength: n, maxLength: n }), { maxLength: 6 }))), ([heads, rows]) => {
        const lines = formatTable(heads, rows).trimEnd().split("\n");
        const starts = (l: string, cells: readonly string[]) => {
          let at = 0;
          return cells.map((c) => {
            const i = l.indexOf(c, at);
            at = i + c.length;
            return i;
          });
        };
        const expected = starts(lines[0]!, heads);
        rows.forEach((r, i) => expect(starts(lines[i + 1]!, r)).toEqual(expected));
      }),
    );
  });
});
