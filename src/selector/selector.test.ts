import { describe, expect, it } from "vitest";
import { SelectorParseError } from "./errors.js";
import { compareUtf8 } from "./ast.js";
import { MAX_NESTING } from "./parser.js";
import { normaliseSelector, parseSelector, tryParseSelector, validateSelector } from "./selector.js";

type L = Record<string, string>;

/** Felix's selectorTests (parser_test.go) plus cases for every row of SEMANTICS §1.3. */
const evalTable: Array<[string, L[], L[]]> = [
  [`a == "b"`, [{ a: "b" }, { a: "b", c: "d" }], [{}, { a: "c" }, { c: "d" }]],
  [`a == "b" && c == "d"`, [{ a: "b", c: "d" }], [{}, { a: "b", c: "e" }, { a: "c", c: "d" }, { c: "d" }, { a: "b" }]],
  [`a == "b" || c == "d"`, [{ a: "b", c: "d" }, { a: "b" }, { c: "d" }], [{}, { a: "e", c: "e" }, { c: "e" }, { a: "e" }]],
  [`a in {"'", '"', "c"}`, [{ a: "c" }, { a: `"` }, { a: `'` }], [{}, { a: "e" }]],
  [`a not in {"'", '"', "c"}`, [{}, { a: "e" }], [{ a: "c" }, { a: `"` }, { a: `'` }]],
  [`a == 'a'`, [{ a: "a" }], [{ a: "b" }, {}]],
  [`a == "a"`, [{ a: "a" }], []],
  [`a != "b"`, [{ a: "a" }, {}], [{ a: "b" }]],
  [`a != "a"`, [{}], [{ a: "a" }]],
  [`a != 'a'`, [], [{ a: "a" }]],
  [`a contains "a"`, [{ a: "a" }, { a: "bab" }, { a: "aaa", b: "c" }], [{}, { a: "b" }, { b: "aaa" }]],
  [`a starts with "a"`, [{ a: "a" }, { a: "abb" }, { a: "aaa", b: "c" }], [{}, { a: "b" }, { a: "baa" }, { b: "aaa" }]],
  [`a ends with "a"`, [{ a: "a" }, { a: "bba" }, { a: "aaa", b: "c" }], [{}, { a: "b" }, { a: "aab" }, { b: "aaa" }]],
  [`a contains ""`, [{ a: "" }, { a: "x" }], [{}]],
  [`a starts with ""`, [{ a: "" }], [{ b: "" }]],
  [`a ends with ""`, [{ a: "q" }], [{}]],
  [`a in {"a"}`, [{ a: "a" }], [{ a: "b" }]],
  [`!a in {"a"}`, [{ a: "b" }, {}], [{ a: "a" }]],
  [`a in {"a", "b"}`, [{ a: "a" }, { a: "b" }], [{ a: "c" }, {}]],
  [`a in {}`, [], [{}, { a: "" }]],
  [`a not in {}`, [{}, { a: "" }], []],
  [`a not in {"d", "e"}`, [{ a: "a" }], [{ a: "d" }]],
  [`a not in {"a"}`, [], [{ a: "a" }]],
  [`a in {"a", "b", "c", "d", "e", "f"}`, [{ a: "f" }], [{ a: "g" }]],
  [`a not in {"a", "b", "c", "d", "e", "f"}`, [{ a: "g" }, {}], [{ a: "c" }]],
  [`has(a)`, [{ a: "b" }, { a: "" }], [{ b: "a" }]],
  [`!has(a)`, [{ b: "b" }], [{ a: "b" }]],
  [`has(b)`, [], [{ a: "b" }]],
  [`!!has(b)`, [], [{ a: "b" }]],
  [`! has(a)`, [], [{ a: "b" }]],
  [`!!! has(a)`, [], [{ a: "b" }]],
  [`!!!has(a)`, [], [{ a: "b" }]],
  [`!! ! has(a)`, [], [{ a: "b" }]],
  [`! !!has(a)`, [], [{ a: "b" }]],
  [``, [{}, { a: "b" }], []],
  [` `, [{}], []],
  [`all()`, [{}], []],
  [` all()`, [{ a: "b" }], []],
  [`global()`, [{}], []],
  [` global()`, [{ a: "b" }], []],
  [`!all()`, [], [{}, { a: "b" }]],
  [`a == 'a1' && b == 'b1'`, [{ a: "a1", b: "b1" }], []],
  [`a == 'a1' && b != 'b1'`, [], [{ a: "a1", b: "b1" }]],
  [`a != 'a1' && b == 'b1'`, [], [{ a: "a1", b: "b1" }]],
  [`a != 'a1' && b != 'b1'`, [], [{ a: "a1", b: "b1" }]],
  [`a != 'a1' && !b == 'b1'`, [], [{ a: "a1", b: "b1" }]],
  [`!a == 'a1' && b == 'b1'`, [{ b: "b1" }], [{ a: "a1", b: "b1" }]],
  [`has(a) && !has(b)`, [{ a: "a" }], [{ a: "a", b: "b" }]],
  [`!has(b) && has(a)`, [{ a: "a" }], []],
  [`!(!has(a) || has(b))`, [{ a: "a" }], [{ a: "a", b: "" }]],
  [`!(has(b) || !has(a))`, [{ a: "a" }], []],
  [`a == 'a1' || b == 'b1'`, [{ a: "a1", b: "b1" }], []],
  [`a == 'a1' || b != 'b1'`, [{ a: "a1", b: "b1" }], []],
  [`a != 'a1' || b == 'b1'`, [{ a: "a1", b: "b1" }], []],
  [`a != 'a1' || b != 'b1'`, [], [{ a: "a1", b: "b1" }]],
  [`! a == 'a1' || ! b == 'b1'`, [], [{ a: "a1", b: "b1" }]],
  // Precedence: && binds tighter than ||.
  [`a == "1" || b == "1" && c == "1"`, [{ a: "1" }, { b: "1", c: "1" }], [{ b: "1" }]],
  [`(a == "1" || b == "1") && c == "1"`, [{ a: "1", c: "1" }], [{ a: "1" }]],
  // Keyword-named labels.
  [`in in {"in"}`, [{ in: "in" }], [{ in: "out" }]],
  [`not in {"a"}`, [{ not: "a" }], [{ not: "b" }, {}]],
  [`has == "x" && all == "y"`, [{ has: "x", all: "y" }], [{ has: "x" }]],
  // Case- and byte-exact.
  [`a == "B"`, [{ a: "B" }], [{ a: "b" }, { A: "B" }]],
  [`a == "é"`, [{ a: "é" }], [{ a: "e\u0301" }]],
  // Inherited Object.prototype members are not labels.
  [`has(constructor)`, [{ constructor: "" }], [{}]],
  [`toString != "x"`, [{}], [{ toString: "x" }]],
  [`__proto__ == "x"`, [JSON.parse(`{"__proto__":"x"}`) as L], [{}]],
];

describe("evaluation (Felix selectorTests)", () => {
  it.each(evalTable)("%j", (text, yes, no) => {
    const sel = parseSelector(text);
    const canon = parseSelector(sel.toString());
    for (const l of yes) {
      expect(sel.matches(l), `${text} should match ${JSON.stringify(l)}`).toBe(true);
      expect(canon.matches(l)).toBe(true);
      expect(sel.matchesGetter((k) => (Object.hasOwn(l, k) ? l[k] : undefined))).toBe(true);
    }
    for (const l of no) {
      expect(sel.matches(l), `${text} should not match ${JSON.stringify(l)}`).toBe(false);
      expect(canon.matches(l)).toBe(false);
      expect(sel.matchesGetter((k) => (Object.hasOwn(l, k) ? l[k] : undefined))).toBe(false);
    }
    expect(sel.uniqueId()).toBe(canon.uniqueId());
  });
});

/** Felix's badSelectors, with the reason and offset we report. */
const badTable: Array<[string, string, number]> = [
  ["b == b", "expected string", 5],
  ["b contains b", "expected string", 11],
  ["b starts with b", "expected operator after label \"b\"", 2],
  ["b ends with b", "expected operator after label \"b\"", 2],
  ["b starts with 'x' && c ends with d", "expected operator after label \"c\"", 23],
  ["'b1' == b", "unexpected token: TokStringLiteral(b1)", 0],
  ["b", "unexpected end of string looking for op", 1],
  ["a b", `expected operator after label "a"`, 2],
  ["!", "unexpected token: TokEOF()", 1],
  [`foo == "bar" &`, "expected &&", 13],
  [`foo == "bar" |`, "expected ||", 13],
  [`foo != ||`, "expected string", 7],
  [`foo in {"", ||`, "expected }", 12],
  [`foo in ""`, "expected set literal", 7],
  [`foo in {"a" "b"}`, "expected }", 12],
  [`foo in {,}`, "expected }", 8],
  [`foo in {"a",,}`, "expected }", 12],
  [`"FOO`, "unterminated string", 0],
  [`"FOO'`, "unterminated string", 0],
  [`'FOO`, "unterminated string", 0],
  [`(`, "unexpected token: TokEOF()", 1],
  [`(a == "foo"`, "expected )", 11],
  [`)`, "unexpected token: TokRParen()", 0],
  [`()`, "unexpected token: TokRParen()", 1],
  [`%`, "expected identifier", 0],
  [`a == "b" && %`, "expected identifier", 12],
  [`a == "b" || %`, "expected identifier", 12],
  [`a `, "unexpected end of string looking for op", 2],
  [`has(foo) &&`, "unexpected token: TokEOF()", 11],
  [`a == 1`, "expected string", 5],
  [`a )`, "expected == or != not: TokRParen()", 2],
  [`a == "b")`, "unexpected content at end of selector [TokRParen() TokEOF()]", 8],
  [`a == "b" c == "d"`, "unexpected content at end of selector [TokLabel(c) TokEq() TokStringLiteral(d) TokEOF()]", 9],
  [`has (x)`, "expected == or != not: TokLParen()", 4],
  [`all ()`, "expected == or != not: TokLParen()", 4],
  [`a == "b"\n`, "expected identifier", 8],
  [`a == "b" && b == 'c`, "unterminated string", 17],
  // Lexical errors win even when a grammatical error comes first.
  [`) == 'x`, "unterminated string", 5],
];

describe("bad selectors", () => {
  it.each(badTable)("%j → %s @%i", (text, reason, position) => {
    const r = tryParseSelector(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(SelectorParseError);
    expect(r.error).toBeInstanceOf(Error);
    expect(r.error.reason).toBe(reason);
    expect(r.error.position).toBe(position);
    expect(validateSelector(text)?.reason).toBe(reason);
    expect(() => parseSelector(text)).toThrow(SelectorParseError);
  });

  it("rejects non-string input with SelectorParseError", () => {
    expect(() => parseSelector(undefined as unknown as string)).toThrow(SelectorParseError);
    expect(() => parseSelector(42 as unknown as string)).toThrow(SelectorParseError);
  });

  it("limits nesting instead of overflowing the stack", () => {
    const deep = "(".repeat(MAX_NESTING + 1) + "all()" + ")".repeat(MAX_NESTING + 1);
    expect(() => parseSelector(deep)).toThrow(SelectorParseError);
    const ok = "(".repeat(MAX_NESTING) + "all()" + ")".repeat(MAX_NESTING);
    expect(parseSelector(ok).toString()).toBe("all()");
    // Hundreds of thousands of "!" are iterative, not recursive.
    expect(parseSelector("!".repeat(100001) + "all()").toString()).toBe("!all()");
  });
});

/** Felix canonicalisationTests plus the printer rules of SEMANTICS §1.5. */
const canonTable: Array<[string, string, string?]> = [
  ["", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"],
  [" all() ", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"],
  [" (all() )", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"],
  [`! (has( b)||! has(a ))`, "!(has(b) || !has(a))", "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q"],
  [`! (a == "b"&&! c != "d")`, `!(a == "b" && !c != "d")`, "s:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w"],
  [`a == "'"`, `a == "'"`],
  [`a == '"'`, `a == '"'`],
  [`a contains '"'`, `a contains '"'`],
  [`a contains "'"`, `a contains "'"`],
  [`a startswith '"'`, `a starts with '"'`],
  [`a endswith "'"`, `a ends with "'"`],
  [`a!='"'`, `a != '"'`],
  [`a in {"d"}`, `a in {"d"}`],
  [`a in {"a", "b"}`, `a in {"a", "b"}`],
  [`a in {"d", "a", "b"}`, `a in {"a", "b", "d"}`],
  [`a in {"z", "x", "y", "a"}`, `a in {"a", "x", "y", "z"}`],
  [`a in {"z", "z", "x", "y", "x", "a"}`, `a in {"a", "x", "y", "z"}`],
  [`a in {"'", '"'}`, `a in {'"', "'"}`],
  [`a in {"b",}`, `a in {"b"}`],
  [`a notin {}`, `a not in {}`],
  [`a==''`, `a == ""`],
  [`global( )`, `global()`],
  [`!!a == 'b'`, `a == "b"`],
  [`!!!a == 'b'`, `!a == "b"`],
  [`!(a == 'b')`, `!a == "b"`],
  [`a == '1' && b == '2' && c == '3'`, `(a == "1" && b == "2" && c == "3")`],
  [`a == '1' || b == '2' && c == '3'`, `(a == "1" || (b == "2" && c == "3"))`],
  [`(a == '1' && b == '2') && c == '3'`, `((a == "1" && b == "2") && c == "3")`],
  [`((a == '1'))`, `a == "1"`],
];

describe("canonical form", () => {
  it.each(canonTable)("%j → %s", (input, expected, uid) => {
    const sel = parseSelector(input);
    expect(sel.toString()).toBe(expected);
    const again = parseSelector(expected);
    expect(again.toString()).toBe(expected);
    expect(again.uniqueId()).toBe(sel.uniqueId());
    expect(sel.uniqueId()).toMatch(/^s:[A-Za-z0-9_-]{38}$/);
    if (uid) expect(sel.uniqueId()).toBe(uid);
  });

  it("keeps Calico's quirk: a parenthesised double negation prints as !! and re-parses shorter", () => {
    const sel = parseSelector(`!(!a == 'b')`);
    expect(sel.toString()).toBe(`!!a == "b"`);
    expect(parseSelector(sel.toString()).toString()).toBe(`a == "b"`);
  });

  it("sorts set members in UTF-8 byte order, like Go", () => {
    // U+FF5E (3 UTF-8 bytes, EF BD 9E) sorts before U+1F600 (F0 9F 98 80) in Go, after it in UTF-16.
    expect(parseSelector(`a in {"😀", "～"}`).toString()).toBe(`a in {"～", "😀"}`);
    expect(compareUtf8("😀", "～")).toBeGreaterThan(0);
    expect(compareUtf8("a", "ab")).toBeLessThan(0);
  });

  it("exposes the AST as frozen plain data", () => {
    const sel = parseSelector(`a in {"y", "x"} && !has(b)`);
    expect(JSON.parse(JSON.stringify(sel.ast))).toEqual({
      type: "and",
      operands: [
        { type: "in", label: "a", values: ["x", "y"] },
        { type: "not", operand: { type: "has", label: "b" } },
      ],
    });
    expect(Object.isFrozen(sel.ast)).toBe(true);
    expect(JSON.stringify({ s: sel })).toBe(JSON.stringify({ s: `(a in {"x", "y"} && !has(b))` }));
  });
});

describe("labelKeys", () => {
  it.each([
    ["", []],
    [`b == "1" && (a in {"x"} || !has(c)) && b != "2"`, ["a", "b", "c"]],
    [`x contains "y" || y starts with "" || z ends with ""`, ["x", "y", "z"]],
  ] as Array<[string, string[]]>)("%j", (text, keys) => {
    expect(parseSelector(text).labelKeys()).toEqual(keys);
  });
});

describe("labelRestrictions (Calico label_restriction_test.go)", () => {
  type R = { p?: boolean; a?: boolean; v?: string[] };
  const table: Array<[string, Record<string, R>]> = [
    ["", {}],
    ["all()", {}],
    ["global()", {}],
    ["a == 'value'", { a: { p: true, v: ["value"] } }],
    ["has(a)", { a: { p: true } }],
    ["a in {'v1','v2'}", { a: { p: true, v: ["v1", "v2"] } }],
    ["a not in {'v1','v2'}", {}],
    ["a contains 'foo'", { a: { p: true } }],
    ["a ends with 'foo'", { a: { p: true } }],
    ["a starts with 'foo'", { a: { p: true } }],
    ["a != 'value'", {}],
    ["a == 'v1' && a == 'v1'", { a: { p: true, v: ["v1"] } }],
    ["a == 'v1' && a == 'v2'", { a: { p: true, v: [] } }],
    ["a == 'v1' && has(a)", { a: { p: true, v: ["v1"] } }],
    ["a in {'v1','v2'} && a in {'v2','v3'} ", { a: { p: true, v: ["v2"] } }],
    ["a in {'v1','v2', 'v3'} && a in {'v2','v3'} ", { a: { p: true, v: ["v2", "v3"] } }],
    ["has(a) && a == 'v1'", { a: { p: true, v: ["v1"] } }],
    ["has(a) && !has(a)", { a: { p: true, a: true } }],
    ["a == 'v1' && b == 'v2'", { a: { p: true, v: ["v1"] }, b: { p: true, v: ["v2"] } }],
    ["a == 'v1' && all()", { a: { p: true, v: ["v1"] } }],
    ["all() && a == 'v1'", { a: { p: true, v: ["v1"] } }],
    ["a == 'v1' || a == 'v2'", { a: { p: true, v: ["v1", "v2"] } }],
    ["has(a) || a == 'v2'", { a: { p: true } }],
    ["a=='v2' || has(a)", { a: { p: true } }],
    ["a=='v2' || has(b)", {}],
    ["a=='v2' || (has(b) && has(a))", { a: { p: true } }],
    ["a == 'v1' || b == 'v2'", {}],
    ["a == 'v1' || all()", {}],
    ["all() || b == 'v2'", {}],
    ["!(a == 'value')", {}],
    ["!has(a)", { a: { a: true } }],
    ["!!has(a)", { a: { p: true } }],
  ];
  it.each(table)("%j", (text, want) => {
    for (const t of text === "" ? [text] : [text, `all() && (${text})`]) {
      const got = Object.fromEntries(
        [...parseSelector(t).labelRestrictions()].map(([k, r]) => {
          const o: R = {};
          if (r.mustBePresent) o.p = true;
          if (r.mustBeAbsent) o.a = true;
          if (r.mustHaveOneOfValues) o.v = [...r.mustHaveOneOfValues].sort();
          return [k, o];
        }),
      );
      expect(got).toEqual(want);
    }
  });
});

describe("normaliseSelector (Calico selector.Normalise)", () => {
  it.each([
    ["  a=='b'\n", `a == "b"`],
    ["\u0085has(x)\t", "has(x)"],
    ["", "all()"],
    [" a == ", "a =="],
    ["\ufeffhas(x)", "\ufeffhas(x)"],
  ])("%j → %j", (input, out) => {
    expect(normaliseSelector(input)).toBe(out);
  });

  it("validation does not trim", () => {
    expect(validateSelector("has(x)\n")).toBeInstanceOf(SelectorParseError);
    expect(validateSelector("has(x) \t")).toBeUndefined();
  });
});
