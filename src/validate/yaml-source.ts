/**
 * YAML/JSON text → JS values, keeping the parsed Document of each so that an issue's path can
 * be mapped back to a line and column. JSON goes through the same parser (JSON is YAML).
 *
 * Scalars are resolved like Kubernetes' sigs.k8s.io/yaml (go-yaml v2, i.e. YAML 1.1): `on`,
 * `yes`, `y` are booleans and `0777` is octal, so `version: on` in a label is a type error here
 * just as it is for kubectl. Base-60 numbers and timestamps are left as strings, as go-yaml v2
 * does (so `80:81` stays a port-range string).
 *
 * Hostile input is bounded before it reaches the recursive composer: a source larger than
 * `maxBytes`, a document larger than `maxDocBytes`, nesting deeper than `maxDepth` (measured on
 * the CST without recursion) or more than `maxAliasCount` alias expansions becomes an issue.
 */
import { Composer, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, Parser } from "yaml";
import type { Document, Node, ParsedNode } from "yaml";
import type { Issue, IssuePath, SourcePos } from "../model/index.js";

export interface ParseLimits {
  /** Largest accepted source text, in bytes (UTF-8). */
  maxBytes: number;
  /** Largest accepted single document, in bytes. */
  maxDocBytes: number;
  /** Deepest accepted nesting of collections. */
  maxDepth: number;
  /** Most alias expansions per document (alias-bomb guard). */
  maxAliasCount: number;
}

export const DEFAULT_LIMITS: ParseLimits = {
  maxBytes: 16 * 1024 * 1024,
  // etcd's default request limit; a larger object could not be stored anyway.
  maxDocBytes: 1536 * 1024,
  maxDepth: 100,
  maxAliasCount: 50,
};

export interface ParsedDocument {
  /** 0-based index of the document in its source. */
  index: number;
  /** The JS value, or undefined when the document could not be used (see issues). */
  value: unknown;
  /** True for a document with no content (`---` alone, comments only). */
  empty: boolean;
  doc?: Document.Parsed;
}

export interface ParsedSource {
  file?: string;
  text: string;
  lineCounter: LineCounter;
  docs: ParsedDocument[];
  /** YAML-level problems (syntax, duplicate keys, limits), already positioned. */
  issues: Issue[];
}

const YAML_CODES: Record<string, string> = {
  DUPLICATE_KEY: "duplicate-key",
};

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** Iterative depth of a CST token (the composer and toJS recurse, so we must not). */
function cstDepth(root: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length > 0) {
    const [t, d] = stack.pop()!;
    if (d > max) {
      max = d;
      if (max > limit) return max;
    }
    if (!t || typeof t !== "object") continue;
    const tok = t as { items?: Array<{ key?: unknown; value?: unknown }>; value?: unknown };
    if (Array.isArray(tok.items)) {
      for (const it of tok.items) {
        if (it && typeof it === "object") {
          if (it.key && typeof it.key === "object") stack.push([it.key, d + 1]);
          if (it.value && typeof it.value === "object") stack.push([it.value, d + 1]);
        }
      }
    }
    if (tok.value && typeof tok.value === "object") stack.push([tok.value, d + 1]);
  }
  return max;
}

function posAt(text: string, lc: LineCounter, file: string | undefined, offset: number, endOffset?: number): SourcePos {
  const o = Math.max(0, Math.min(offset, text.length));
  const { line, col } = lc.linePos(o);
  const pos: SourcePos = { line, col, offset: o };
  if (file !== undefined) pos.file = file;
  if (endOffset !== undefined && endOffset > o) pos.endOffset = Math.min(endOffset, text.length);
  return pos;
}

/** go-yaml v2's float syntax (resolve.go yamlStyleFloat): a digit is required before any exponent. */
const GO_YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

const goYamlFloat = {
  identify: (v: unknown) => typeof v === "number",
  default: true,
  tag: "tag:yaml.org,2002:float",
  test: GO_YAML_FLOAT,
  resolve: (s: string) => parseFloat(s),
};

/**
 * The YAML 1.1 tags, adjusted to read scalars as go-yaml v2 does: no base-60 numbers, no
 * timestamps, and floats only in go-yaml's syntax (yaml's 1.1 float would read "e0" as NaN).
 */
function tagFilter(tags: unknown[]): unknown[] {
  const kept = tags.filter((t) => {
    const tag = t as { tag?: string; format?: string; test?: RegExp };
    if (tag.tag?.endsWith(":timestamp") || tag.format === "TIME") return false;
    // Keep only the .inf/.nan float; the others are replaced by goYamlFloat.
    if (tag.tag?.endsWith(":float") && !(tag.test && /inf/.test(tag.test.source))) return false;
    return true;
  });
  return [...kept, goYamlFloat];
}

/** Parses every document of a YAML/JSON text. Never throws on user input. */
export function parseSource(text: string, file?: string, limits: ParseLimits = DEFAULT_LIMITS): ParsedSource {
  const lineCounter = new LineCounter();
  const out: ParsedSource = { file, text, lineCounter, docs: [], issues: [] };
  const at = (offset: number, end?: number) => posAt(text, lineCounter, file, offset, end);
  const size = byteLength(text);
  if (size > limits.maxBytes) {
    lineCounter.addNewLine(0);
    out.issues.push({
      code: "input-too-large",
      path: [],
      severity: "error",
      message: `input is ${size} bytes; the limit is ${limits.maxBytes} bytes`,
      pos: file !== undefined ? { file, line: 1, col: 1 } : { line: 1, col: 1 },
    });
    return out;
  }

  const parser = new Parser(lineCounter.addNewLine);
  const tokens = Array.from(parser.parse(text));
  let docIdx = 0;
  for (const tok of tokens) {
    if (tok.type !== "document") continue;
    const depth = cstDepth(tok, limits.maxDepth);
    if (depth > limits.maxDepth) {
      out.issues.push({
        code: "yaml-too-deep",
        path: [],
        severity: "error",
        message: `document ${docIdx + 1} nests deeper than ${limits.maxDepth} levels; it was not read`,
        pos: at(tok.offset),
      });
      // One hostile document spoils the whole source: later documents would be re-indexed.
      return out;
    }
    docIdx++;
  }

  const composer = new Composer({
    version: "1.1",
    customTags: tagFilter as never,
    merge: true,
    uniqueKeys: true,
    prettyErrors: false,
    keepSourceTokens: false,
  });
  const docs = Array.from(composer.compose(tokens, false, text.length));
  docs.forEach((doc, index) => {
    const pd: ParsedDocument = { index, value: undefined, empty: doc.contents === null, doc };
    out.docs.push(pd);
    const [start, , end] = doc.range;
    const seenLines = new Set<number>();
    for (const e of doc.errors) {
      const pos = at(e.pos[0], e.pos[1]);
      // The parser's recovery often reports several errors on one broken line; keep the first.
      if (seenLines.has(pos.line)) continue;
      seenLines.add(pos.line);
      out.issues.push({
        code: YAML_CODES[e.code] ?? "yaml-syntax",
        path: [],
        severity: "error",
        message: yamlMessage(e.code, e.message),
        pos,
      });
    }
    if (doc.errors.length > 0) return;
    if (byteLength(text.slice(start, end)) > limits.maxDocBytes) {
      out.issues.push({
        code: "input-too-large",
        path: [],
        severity: "error",
        message: `document ${index + 1} is larger than ${limits.maxDocBytes} bytes`,
        pos: at(start),
      });
      return;
    }
    try {
      pd.value = doc.toJS({ maxAliasCount: limits.maxAliasCount });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const alias = /alias/i.test(msg);
      out.issues.push({
        code: alias ? "yaml-alias-limit" : "yaml-syntax",
        path: [],
        severity: "error",
        message: alias
          ? `document ${index + 1} expands more than ${limits.maxAliasCount} aliases; it was not read`
          : `document ${index + 1} could not be read: ${msg}`,
        pos: at(start),
      });
      pd.value = undefined;
    }
  });
  return out;
}

function yamlMessage(code: string, message: string): string {
  if (code === "DUPLICATE_KEY") return "duplicate key: a mapping may hold each key only once";
  // yaml's messages start with a capital and may end with position text; keep the first sentence.
  const first = message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
  return first.charAt(0).toLowerCase() + first.slice(1);
}

/** Whether an issue with this code is about a mapping key rather than its value. */
function pointsAtKey(code: string): boolean {
  return code === "unknown-field" || code.endsWith("-key") || code === "reserved-label";
}

/**
 * Position of the node at `path` inside a document. When the path does not exist (a missing
 * required field), the position of the deepest existing ancestor is returned.
 */
export function locate(src: ParsedSource, pd: ParsedDocument, path: IssuePath, code = ""): SourcePos | undefined {
  const doc = pd.doc;
  if (!doc) return undefined;
  let node: unknown = doc.contents;
  let keyNode: Node | undefined;
  let found = true;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (!pair) {
        found = false;
        break;
      }
      keyNode = pair.key as Node;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof seg === "number" && seg < node.items.length) {
      keyNode = undefined;
      node = node.items[seg];
    } else {
      found = false;
      break;
    }
  }
  const target = (found && pointsAtKey(code) && keyNode ? keyNode : node) as ParsedNode | null | undefined;
  const range = target?.range ?? doc.range;
  return posAt(src.text, src.lineCounter, src.file, range[0], range[1]);
}

function keyText(k: unknown): string | undefined {
  if (isScalar(k)) return String(k.value);
  return undefined;
}
