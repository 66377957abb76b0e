/**
 * Selector tokenizer, reproducing Calico's libcalico-go/lib/selector/tokenizer (SEMANTICS §1.1).
 *
 * Calico tokenizes the whole input before parsing, so a lexical error anywhere wins over a
 * grammatical error earlier in the string; we keep that order (parser.ts calls tokenize first).
 *
 * Things that look odd but are deliberate (they are Calico's behaviour):
 *  - only ASCII space and tab are whitespace; "\n" is an "expected identifier" error;
 *  - operator words (`contains`, `starts with`, `in`, …) are recognised only right after a label,
 *    and function tokens (`has(`, `all(`, `global(`) only when the previous token is not a label,
 *    so those words can themselves be label names;
 *  - for two-word operators only the end of the *last* word is checked for a word boundary, after
 *    trailing whitespace has been skipped.
 */
import { SelectorParseError } from "./errors.js";

export type TokenKind =
  | "label"
  | "string"
  | "lbrace"
  | "rbrace"
  | "comma"
  | "eq"
  | "ne"
  | "in"
  | "not"
  | "notIn"
  | "contains"
  | "startsWith"
  | "endsWith"
  | "all"
  | "has"
  | "lparen"
  | "rparen"
  | "and"
  | "or"
  | "global"
  | "eof";

export interface Token {
  kind: TokenKind;
  /** Label name, string literal contents, or the label inside `has(…)`; "" otherwise. */
  value: string;
  /** 0-based offset of the token's first character. */
  pos: number;
}

export const MAX_LABEL_LENGTH = 512;

/** Go's stringer names, used to reproduce Calico's error texts such as "unexpected token: TokEOF()". */
const GO_KIND_NAMES: Record<TokenKind, string> = {
  label: "TokLabel",
  string: "TokStringLiteral",
  lbrace: "TokLBrace",
  rbrace: "TokRBrace",
  comma: "TokComma",
  eq: "TokEq",
  ne: "TokNe",
  in: "TokIn",
  not: "TokNot",
  notIn: "TokNotIn",
  contains: "TokContains",
  startsWith: "TokStartsWith",
  endsWith: "TokEndsWith",
  all: "TokAll",
  has: "TokHas",
  lparen: "TokLParen",
  rparen: "TokRParen",
  and: "TokAnd",
  or: "TokOr",
  global: "TokGlobal",
  eof: "TokEOF",
};

export function formatToken(t: Token): string {
  return `${GO_KIND_NAMES[t.kind]}(${t.value})`;
}

export function isIdentifierCharCode(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || // a-z
    (c >= 65 && c <= 90) || // A-Z
    (c >= 48 && c <= 57) || // 0-9
    c === 95 || // _
    c === 46 || // .
    c === 47 || // /
    c === 45 // -
  );
}

/** True if `label` is a whole, valid selector label (Calico tokenizer.ValidLabel). */
export function isValidSelectorLabel(label: string): boolean {
  if (label.length === 0 || label.length > MAX_LABEL_LENGTH) return false;
  for (let i = 0; i < label.length; i++) if (!isIdentifierCharCode(label.charCodeAt(i))) return false;
  return true;
}

function skipWs(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9) break;
    i++;
  }
  return i;
}

function isWordBoundary(s: string, i: number): boolean {
  return i >= s.length || !isIdentifierCharCode(s.charCodeAt(i));
}

/** Returns the index after `word` + boundary, or -1. */
function cutWord(s: string, i: number, word: string): number {
  if (!s.startsWith(word, i)) return -1;
  const end = i + word.length;
  return isWordBoundary(s, end) ? end : -1;
}

/** "starts with", "startswith", "starts \t with": whitespace is skipped after every word. */
function cutWords(s: string, i: number, first: string, second: string): number {
  if (!s.startsWith(first, i)) return -1;
  let j = skipWs(s, i + first.length);
  if (!s.startsWith(second, j)) return -1;
  j = skipWs(s, j + second.length);
  return isWordBoundary(s, j) ? j : -1;
}

/** Scans an identifier at i; returns its end or throws Calico's identifier errors. */
function cutIdentifier(s: string, i: number, input: string): number {
  let j = i;
  while (j < s.length && isIdentifierCharCode(s.charCodeAt(j))) j++;
  if (j === i) throw new SelectorParseError("expected identifier", i, input);
  if (j - i > MAX_LABEL_LENGTH) {
    throw new SelectorParseError(`label too long: ${s.slice(i, j)}`, i, input);
  }
  return j;
}

// A module-level helper, not a closure per call: tokenize runs once per distinct selector text.
function tok(kind: TokenKind, pos: number, value = ""): Token {
  return { kind, value, pos };
}

export function tokenize(input: string): Token[] {
  const s = input;
  const tokens: Token[] = [];
  let i = 0;
  for (;;) {
    i = skipWs(s, i);
    if (i >= s.length) {
      tokens.push(tok("eof", s.length));
      return tokens;
    }
    const start = i;
    const lastKind = tokens.length > 0 ? tokens[tokens.length - 1].kind : undefined;
    const c = s[i];
    switch (c) {
      case "(":
        tokens.push(tok("lparen", start));
        i++;
        break;
      case ")":
        tokens.push(tok("rparen", start));
        i++;
        break;
      case '"':
      case "'": {
        const close = s.indexOf(c, i + 1);
        if (close === -1) throw new SelectorParseError("unterminated string", start, input);
        tokens.push(tok("string", start, s.slice(i + 1, close)));
        i = close + 1;
        break;
      }
      case "{":
        tokens.push(tok("lbrace", start));
        i++;
        break;
      case "}":
        tokens.push(tok("rbrace", start));
        i++;
        break;
      case ",":
        tokens.push(tok("comma", start));
        i++;
        break;
      case "=":
        if (s[i + 1] !== "=") throw new SelectorParseError("expected ==", start, input);
        tokens.push(tok("eq", start));
        i += 2;
        break;
      case "!":
        if (s[i + 1] === "=") {
          tokens.push(tok("ne", start));
          i += 2;
        } else {
          tokens.push(tok("not", start));
          i++;
        }
        break;
      case "&":
        if (s[i + 1] !== "&") throw new SelectorParseError("expected &&", start, input);
        tokens.push(tok("and", start));
        i += 2;
        break;
      case "|":
        if (s[i + 1] !== "|") throw new SelectorParseError("expected ||", start, input);
        tokens.push(tok("or", start));
        i += 2;
        break;
      default: {
        let j: number;
        if (lastKind === "label") {
          if ((j = cutWord(s, i, "contains")) >= 0) tokens.push(tok("contains", start));
          else if ((j = cutWords(s, i, "starts", "with")) >= 0) tokens.push(tok("startsWith", start));
          else if ((j = cutWords(s, i, "ends", "with")) >= 0) tokens.push(tok("endsWith", start));
          else if ((j = cutWords(s, i, "not", "in")) >= 0) tokens.push(tok("notIn", start));
          else if ((j = cutWord(s, i, "in")) >= 0) tokens.push(tok("in", start));
          else {
            const label = tokens[tokens.length - 1].value;
            throw new SelectorParseError(`expected operator after label ${goQuote(label)}`, start, input);
          }
          i = j;
        } else if (s.startsWith("has(", i)) {
          const identStart = skipWs(s, i + 4);
          const identEnd = cutIdentifier(s, identStart, input);
          j = skipWs(s, identEnd);
          if (s[j] !== ")") throw new SelectorParseError("no closing ')' after has(", j, input);
          tokens.push(tok("has", start, s.slice(identStart, identEnd)));
          i = j + 1;
        } else if (s.startsWith("all(", i)) {
          j = skipWs(s, i + 4);
          if (s[j] !== ")") throw new SelectorParseError("no closing ')' after all(", j, input);
          tokens.push(tok("all", start));
          i = j + 1;
        } else if (s.startsWith("global(", i)) {
          j = skipWs(s, i + 7);
          if (s[j] !== ")") throw new SelectorParseError("no closing ')' after global(", j, input);
          tokens.push(tok("global", start));
          i = j + 1;
        } else {
          j = cutIdentifier(s, i, input);
          tokens.push(tok("label", start, s.slice(i, j)));
          i = j;
        }
      }
    }
  }
}

/** Go's %q for the ASCII identifier strings we quote (labels are [A-Za-z0-9_./-] only). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}
