import { describe, expect, it } from "vitest";
import { SelectorParseError } from "./errors.js";
import { type TokenKind, tokenize } from "./tokenizer.js";

type Tok = [TokenKind, string?];

/** Cases mirror Calico's tokenizer_test.go plus the lexical rules of SEMANTICS §1.1. */
const good: Array<[string, Tok[]]> = [
  [`a=="b"`, [["label", "a"], ["eq"], ["string", "b"], ["eof"]]],
  [`a!="b"`, [["label", "a"], ["ne"], ["string", "b"], ["eof"]]],
  [`a != "b"`, [["label", "a"], ["ne"], ["string", "b"], ["eof"]]],
  [`(a=="b")`, [["lparen"], ["label", "a"], ["eq"], ["string", "b"], ["rparen"], ["eof"]]],
  [`label contains "value"`, [["label", "label"], ["contains"], ["string", "value"], ["eof"]]],
  [`contains contains "contains"`, [["label", "contains"], ["contains"], ["string", "contains"], ["eof"]]],
  [`contains contains 'contains'`, [["label", "contains"], ["contains"], ["string", "contains"], ["eof"]]],
  [`label contains"value"`, [["label", "label"], ["contains"], ["string", "value"], ["eof"]]],
  [`label startswith "value"`, [["label", "label"], ["startsWith"], ["string", "value"], ["eof"]]],
  [`label endswith "value"`, [["label", "label"], ["endsWith"], ["string", "value"], ["eof"]]],
  [`label starts with "value"`, [["label", "label"], ["startsWith"], ["string", "value"], ["eof"]]],
  [`startswith starts with "value"`, [["label", "startswith"], ["startsWith"], ["string", "value"], ["eof"]]],
  [`label ends with "value"`, [["label", "label"], ["endsWith"], ["string", "value"], ["eof"]]],
  [`endswith ends with "value"`, [["label", "endswith"], ["endsWith"], ["string", "value"], ["eof"]]],
  [`label starts  with "value"`, [["label", "label"], ["startsWith"], ["string", "value"], ["eof"]]],
  [`label starts\twith "value"`, [["label", "label"], ["startsWith"], ["string", "value"], ["eof"]]],
  [`label ends  with "value"`, [["label", "label"], ["endsWith"], ["string", "value"], ["eof"]]],
  ["a".repeat(512) + ` == "value"`, [["label", "a".repeat(512)], ["eq"], ["string", "value"], ["eof"]]],
  [
    `a not in "bar" && !has(foo) || b in c`,
    [["label", "a"], ["notIn"], ["string", "bar"], ["and"], ["not"], ["has", "foo"], ["or"], ["label", "b"], ["in"], ["label", "c"], ["eof"]],
  ],
  [`has(calico/k8s_ns)`, [["has", "calico/k8s_ns"], ["eof"]]],
  [`has(calico/k8s_NS-.1/role)`, [["has", "calico/k8s_NS-.1/role"], ["eof"]]],
  [
    `calico/k8s_ns == "kube-system" && k8s-app == "kube-dns"`,
    [["label", "calico/k8s_ns"], ["eq"], ["string", "kube-system"], ["and"], ["label", "k8s-app"], ["eq"], ["string", "kube-dns"], ["eof"]],
  ],
  [
    `a  not  in  "bar"  &&  ! has( foo )  ||  b  in  c `,
    [["label", "a"], ["notIn"], ["string", "bar"], ["and"], ["not"], ["has", "foo"], ["or"], ["label", "b"], ["in"], ["label", "c"], ["eof"]],
  ],
  [
    `a notin"bar"&&!has(foo)||b in"c"`,
    [["label", "a"], ["notIn"], ["string", "bar"], ["and"], ["not"], ["has", "foo"], ["or"], ["label", "b"], ["in"], ["string", "c"], ["eof"]],
  ],
  [`a not in {}`, [["label", "a"], ["notIn"], ["lbrace"], ["rbrace"], ["eof"]]],
  [`a not in {"a","B"}`, [["label", "a"], ["notIn"], ["lbrace"], ["string", "a"], ["comma"], ["string", "B"], ["rbrace"], ["eof"]]],
  [`global()`, [["global"], ["eof"]]],
  [`global( )`, [["global"], ["eof"]]],
  [`all()`, [["all"], ["eof"]]],
  [`all(\t)`, [["all"], ["eof"]]],
  // Keywords are positional: they are labels where a label is expected.
  [`in in {"in"}`, [["label", "in"], ["in"], ["lbrace"], ["string", "in"], ["rbrace"], ["eof"]]],
  [`not in {"a"}`, [["label", "not"], ["in"], ["lbrace"], ["string", "a"], ["rbrace"], ["eof"]]],
  [`has == "x"`, [["label", "has"], ["eq"], ["string", "x"], ["eof"]]],
  [`all != 'x'`, [["label", "all"], ["ne"], ["string", "x"], ["eof"]]],
  [`global contains 'x'`, [["label", "global"], ["contains"], ["string", "x"], ["eof"]]],
  // Function tokens need the paren glued on.
  [`has (x)`, [["label", "has"], ["lparen"], ["label", "x"], ["rparen"], ["eof"]]],
  // Labels: any run of [A-Za-z0-9_./-], even ones Kubernetes would reject.
  [`-a == "1"`, [["label", "-a"], ["eq"], ["string", "1"], ["eof"]]],
  [`/ == ""`, [["label", "/"], ["eq"], ["string", ""], ["eof"]]],
  // Literals: no escapes, the other quote is ordinary, any UTF-8.
  [`a == "it's"`, [["label", "a"], ["eq"], ["string", "it's"], ["eof"]]],
  [`a == 'say "hi"'`, [["label", "a"], ["eq"], ["string", 'say "hi"'], ["eof"]]],
  [`a == "back\\slash"`, [["label", "a"], ["eq"], ["string", "back\\slash"], ["eof"]]],
  [`a == "ünï\n😀"`, [["label", "a"], ["eq"], ["string", "ünï\n😀"], ["eof"]]],
  // Word boundary after a single-word operator: `in{` is fine, `!` stops an identifier.
  [`a in{}`, [["label", "a"], ["in"], ["lbrace"], ["rbrace"], ["eof"]]],
  [`!a=="b"`, [["not"], ["label", "a"], ["eq"], ["string", "b"], ["eof"]]],
  [``, [["eof"]]],
  [` \t `, [["eof"]]],
];

const bad: Array<[string, string, number]> = [
  ["a".repeat(513) + ` == "value"`, "label too long: " + "a".repeat(513), 0],
  [`label == "value`, "unterminated string", 9],
  [`label == 'value`, "unterminated string", 9],
  [`label == 'value"`, "unterminated string", 9],
  [`label = "value"`, "expected ==", 6],
  [`all(`, "no closing ')' after all(", 4],
  [`global(`, "no closing ')' after global(", 7],
  [`has()`, "expected identifier", 4],
  [`has(foo`, "no closing ')' after has(", 7],
  [`has( foo `, "no closing ')' after has(", 9],
  [`has(${"x".repeat(513)})`, "label too long: " + "x".repeat(513), 4],
  [`a == "b" & has(foo)`, "expected &&", 9],
  [`a == "b" | has(foo)`, "expected ||", 9],
  [`label starts foo "value"`, `expected operator after label "label"`, 6],
  [`label inf "value"`, `expected operator after label "label"`, 6],
  [`label ends foo "value"`, `expected operator after label "label"`, 6],
  [`label ends withs "value"`, `expected operator after label "label"`, 6],
  [`label squiggles "value"`, `expected operator after label "label"`, 6],
  [`label containsx "v"`, `expected operator after label "label"`, 6],
  [`label IN {"v"}`, `expected operator after label "label"`, 6],
  [`label notinx {"v"}`, `expected operator after label "label"`, 6],
  // Two-word operators check the boundary after skipping whitespace following the last word.
  [`a starts with x`, `expected operator after label "a"`, 2],
  [`a has(b)`, `expected operator after label "a"`, 2],
  [`a == "b"\n`, "expected identifier", 8],
  [`a == "b"\r`, "expected identifier", 8],
  [`\u00a0a == "b"`, "expected identifier", 0],
  [`%`, "expected identifier", 0],
  [`a == "b" && %`, "expected identifier", 12],
];

describe("tokenize", () => {
  it.each(good)("tokenizes %j", (input, expected) => {
    const got = tokenize(input).map((t) => (t.value === "" ? [t.kind] : [t.kind, t.value]));
    expect(got).toEqual(expected.map((t) => (t[1] === undefined || t[1] === "" ? [t[0]] : t)));
  });

  it.each(bad)("rejects %j", (input, reason, position) => {
    let err: unknown;
    try {
      tokenize(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SelectorParseError);
    expect((err as SelectorParseError).reason).toBe(reason);
    expect((err as SelectorParseError).position).toBe(position);
  });

  it("records token start offsets", () => {
    expect(tokenize(`a  starts with "x" && has( b )`).map((t) => t.pos)).toEqual([0, 3, 15, 19, 22, 30]);
  });
});
