import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type SelectorNode, toStringSet } from "./ast.js";
import { SelectorParseError } from "./errors.js";
import { printSelector } from "./printer.js";
import { parseSelector, Selector } from "./selector.js";

const LABELS = ["a", "b", "in", "not", "has", "all", "global", "contains", "x/y.z", "-1", "A_b"];
// No value holds both quote characters: the language cannot write one.
const VALUES = ["", "a", "b", "ab", "it's", 'say "x"', "all()", "ü😀", "～", " ", "\\"];

const label = fc.constantFrom(...LABELS);
const value = fc.constantFrom(...VALUES);

/** Random ASTs in the shape the parser builds (no `!` directly under `!`, groups of ≥ 2). */
const { node } = fc.letrec<{ node: SelectorNode; notOperand: SelectorNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant({ type: "all" } as SelectorNode),
    fc.constant({ type: "global" } as SelectorNode),
    label.map((l) => ({ type: "has", label: l }) as SelectorNode),
    fc
      .tuple(fc.constantFrom("eq", "ne", "contains", "startsWith", "endsWith" as const), label, value)
      .map(([type, l, v]) => ({ type, label: l, value: v }) as SelectorNode),
    fc
      .tuple(fc.constantFrom("in", "notIn" as const), label, fc.uniqueArray(value, { maxLength: 6 }))
      .map(([type, l, vs]) => ({ type, label: l, values: toStringSet(vs) }) as SelectorNode),
    tie("notOperand").map((o) => ({ type: "not", operand: o }) as SelectorNode),
    fc
      .tuple(fc.constantFrom("and", "or" as const), fc.array(tie("node"), { minLength: 2, maxLength: 4 }))
      .map(([type, operands]) => ({ type, operands }) as SelectorNode),
  ),
  notOperand: tie("node").filter((n) => n.type !== "not"),
}));

const labelMap = fc.dictionary(label, value, { maxKeys: 6 });

/** Straightforward interpreter of SEMANTICS §1.3, independent of the compiled matcher. */
function reference(n: SelectorNode, l: Record<string, string>): boolean {
  const has = (k: string) => Object.hasOwn(l, k);
  switch (n.type) {
    case "all":
    case "global":
      return true;
    case "has":
      return has(n.label);
    case "eq":
      return has(n.label) && l[n.label] === n.value;
    case "ne":
      return !has(n.label) || l[n.label] !== n.value;
    case "contains":
      return has(n.label) && l[n.label].includes(n.value);
    case "startsWith":
      return has(n.label) && l[n.label].startsWith(n.value);
    case "endsWith":
      return has(n.label) && l[n.label].endsWith(n.value);
    case "in":
      return has(n.label) && n.values.includes(l[n.label]);
    case "notIn":
      return !has(n.label) || !n.values.includes(l[n.label]);
    case "not":
      return !reference(n.operand, l);
    case "and":
      return n.operands.every((o) => reference(o, l));
    case "or":
      return n.operands.some((o) => reference(o, l));
  }
}

describe("properties", () => {
  it("print → parse gives the same canonical text, id and matches", () => {
    fc.assert(
      fc.property(node, fc.array(labelMap, { maxLength: 8 }), (ast, maps) => {
        const text = printSelector(ast);
        const sel = parseSelector(text);
        expect(sel.toString()).toBe(text);
        expect(sel.ast).toEqual(ast);
        const again = parseSelector(sel.toString());
        expect(again.uniqueId()).toBe(sel.uniqueId());
        for (const m of maps) {
          const want = reference(ast, m);
          expect(sel.matches(m)).toBe(want);
          expect(again.matches(m)).toBe(want);
          expect(sel.matchesGetter((k) => (Object.hasOwn(m, k) ? m[k] : undefined))).toBe(want);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("parsing the canonical text is a fixed point (also with arbitrary nested negation)", () => {
    const anyNot: fc.Arbitrary<SelectorNode> = node.chain((n) =>
      fc.nat({ max: 3 }).map((k) => {
        let out = n;
        for (let i = 0; i < k; i++) out = { type: "not", operand: out };
        return out;
      }),
    );
    fc.assert(
      fc.property(anyNot, (ast) => {
        const once = parseSelector(printSelector(ast)).toString();
        expect(parseSelector(once).toString()).toBe(once);
      }),
    );
  });

  const pieces = [
    " ", "\t", "\n", "(", ")", "{", "}", ",", "=", "==", "!", "!=", "&", "&&", "|", "||", '"', "'", "a", "b1", "-",
    "/", ".", "in", "not", "notin", "contains", "starts", "with", "startswith", "ends", "endswith", "has(", "all(",
    "global(", "has", "all", "'x'", '"y"', "%", "é", "😀", "\u0000",
  ];

  it("no input makes parseSelector throw anything but SelectorParseError", () => {
    const check = (s: string) => {
      try {
        const sel = parseSelector(s);
        // Whatever parses must print and re-parse.
        parseSelector(sel.toString());
      } catch (e) {
        if (!(e instanceof SelectorParseError)) throw e;
        expect(e.position).toBeGreaterThanOrEqual(0);
        expect(e.position).toBeLessThanOrEqual(s.length);
        expect(e.reason.length).toBeGreaterThan(0);
      }
    };
    fc.assert(fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 30 }).map((a) => a.join("")), check), {
      numRuns: 5000,
    });
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 40 }), check), { numRuns: 2000 });
  });
});

describe("labelRestrictionList", () => {
  it("is labelRestrictions() as a list, the same (frozen) list on every call", () => {
    fc.assert(
      fc.property(node, (n) => {
        const sel = parseSelector(printSelector(n));
        const list = sel.labelRestrictionList();
        expect(list.map(([k, r]) => [k, { ...r }])).toEqual([...sel.labelRestrictions()].map(([k, r]) => [k, { ...r }]));
        expect(sel.labelRestrictionList()).toBe(list);
        expect(Object.isFrozen(list)).toBe(true);
        for (const [, r] of list) expect(Object.isFrozen(r) && (r.mustHaveOneOfValues === undefined || Object.isFrozen(r.mustHaveOneOfValues))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("Selector.group", () => {
  it("has the text the printer gives its tree, and the same id and matches as that text parsed", () => {
    fc.assert(
      fc.property(fc.constantFrom("and" as const, "or" as const), fc.array(node, { minLength: 1, maxLength: 4 }), labelMap, (type, nodes, labels) => {
        const g = Selector.group(type, nodes.map((n) => new Selector(n)));
        expect(g.toString()).toBe(printSelector(g.ast));
        expect(g.toString()).toBe(printSelector({ type, operands: nodes } as SelectorNode));
        const parsed = new Selector({ type, operands: nodes } as SelectorNode);
        expect(g.uniqueId()).toBe(parsed.uniqueId());
        expect(g.matches(labels)).toBe(parsed.matches(labels));
      }),
      { numRuns: 2000 },
    );
  });

  it("nests groups: a group of groups prints as the printer prints it", () => {
    fc.assert(
      fc.property(fc.array(node, { minLength: 2, maxLength: 3 }), fc.array(node, { minLength: 2, maxLength: 3 }), (a, b) => {
        const inner = Selector.group("or", a.map((n) => new Selector(n)));
        const outer = Selector.group("and", [inner, ...b.map((n) => new Selector(n))]);
        expect(outer.toString()).toBe(printSelector(outer.ast));
      }),
      { numRuns: 500 },
    );
  });
});
