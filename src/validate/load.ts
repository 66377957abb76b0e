/**
 * loadManifests: files, directories, stdin or strings → typed, defaulted resources plus every
 * issue, each positioned at file:line:col. Multi-document YAML, JSON, `kind: List` and typed
 * `*List` documents are all read.
 *
 * Contract: `resources` holds only the resources without errors (warnings allowed), defaulted
 * by applyDefaults; `issues` holds all problems in input order. Nothing is thrown for bad input.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Issue, IssuePath, Resource } from "../model/index.js";
import { CALICO_API, describeResource, kindInfo } from "../model/index.js";
import { isObj, obj, str, valueOffsets, type Obj } from "./check-util.js";
import { applyDefaults, stripNulls } from "./defaults.js";
import { locate, parseSource, DEFAULT_LIMITS, type ParseLimits, type ParsedDocument, type ParsedSource } from "./yaml-source.js";
import { findDuplicates, resolveKind, validateResource } from "./validate.js";

export interface ManifestText {
  text: string;
  /** Shown in positions; omit for anonymous strings. Use "<stdin>" for standard input. */
  file?: string;
}

export interface ManifestPath {
  path: string;
}

export type ManifestInput = string | ManifestText | ManifestPath;

export interface LoadOptions {
  /** Namespace for namespaced resources that have none; null leaves it unset. Default "default". */
  defaultNamespace?: string | null;
  limits?: Partial<ParseLimits>;
}

export interface ResourceSource {
  /** Absent for anonymous strings. */
  file?: string;
  line: number;
  col: number;
  /** 0-based document index in the file. */
  docIndex: number;
  /** 0-based index inside a List document. */
  itemIndex?: number;
}

export interface LoadedResource {
  resource: Resource;
  source?: ResourceSource;
}

export interface LoadResult {
  resources: LoadedResource[];
  issues: Issue[];
  /** Text of every source read, keyed by file name ("" for anonymous text), for excerpts. */
  sources: Map<string, string>;
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/** Files of a directory tree that hold manifests, sorted; dot-directories are skipped. */
function listManifestFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith(".")) continue;
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && MANIFEST_EXT.test(name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

function looksLikePath(s: string): boolean {
  return !s.includes("\n") && !/^\s*[{[]/.test(s) && !/:\s/.test(s) && (MANIFEST_EXT.test(s) || s.includes("/") || s === ".");
}

function readStdin(): string {
  // readFileSync(0) can fail with EAGAIN on a non-blocking pipe; retry until data or EOF.
  for (let tries = 0; ; tries++) {
    try {
      return readFileSync(0, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN" || tries > 1000) throw e;
    }
  }
}

interface TextUnit {
  text: string;
  file?: string;
}

function fileIssue(code: string, file: string, message: string): Issue {
  return { code, path: [], severity: "error", message, pos: { file, line: 1, col: 1 } };
}

/** Expands one input into texts to parse, or issues. */
function readInput(input: ManifestInput, maxBytes: number, issues: Issue[]): TextUnit[] {
  if (typeof input === "object" && "text" in input) return [{ text: input.text, file: input.file }];
  let path: string;
  if (typeof input === "object") path = input.path;
  else if (input === "-") path = "-";
  else {
    let isPath = false;
    try {
      isPath = !input.includes("\n") && input.length < 4096 && statSync(input, { throwIfNoEntry: false }) !== undefined;
    } catch {
      isPath = false;
    }
    if (!isPath && !looksLikePath(input)) return [{ text: input }];
    path = input;
  }
  if (path === "-") {
    try {
      return [{ text: readStdin(), file: "<stdin>" }];
    } catch (e) {
      issues.push(fileIssue("read-error", "<stdin>", `cannot read standard input: ${(e as Error).message}`));
      return [];
    }
  }
  let st;
  try {
    st = statSync(path);
  } catch {
    issues.push(fileIssue("file-not-found", path, `${path}: no such file or directory`));
    return [];
  }
  const files = st.isDirectory() ? listManifestFiles(path) : [path];
  if (st.isDirectory() && files.length === 0) {
    issues.push(fileIssue("no-resources", path, `${path}: no .yaml, .yml or .json files in this directory`));
  }
  const out: TextUnit[] = [];
  for (const f of files) {
    try {
      const size = statSync(f).size;
      if (size > maxBytes) {
        issues.push(fileIssue("input-too-large", f, `${f} is ${size} bytes; the limit is ${maxBytes} bytes`));
        continue;
      }
      out.push({ text: readFileSync(f, "utf8"), file: f });
    } catch (e) {
      issues.push(fileIssue("read-error", f, `cannot read ${f}: ${(e as Error).message}`));
    }
  }
  return out;
}

interface Candidate {
  raw: Obj;
  src: ParsedSource;
  doc: ParsedDocument;
  base: IssuePath;
  itemIndex?: number;
}

/** Splits a document into resources (List documents into their items) or reports why not. */
function expandDocument(src: ParsedSource, doc: ParsedDocument, issues: Issue[]): Candidate[] {
  const v = doc.value;
  const here = (path: IssuePath, code: string, message: string, severity: Issue["severity"] = "error"): Issue => {
    const i: Issue = { code, path, message, severity };
    const pos = locate(src, doc, path, code);
    if (pos) i.pos = pos;
    return i;
  };
  if (!isObj(v)) {
    issues.push(
      here(
        [],
        "not-an-object",
        `a document must be a mapping with apiVersion, kind and metadata, not ${Array.isArray(v) ? "a list" : typeof v === "string" ? "a string" : String(v === null ? "null" : typeof v)}`,
      ),
    );
    return [];
  }
  const kind = v.kind;
  if (typeof kind === "string" && kind.endsWith("List") && (kind === "List" || Array.isArray(v.items) || v.items === undefined || v.items === null)) {
    const itemKind = kind === "List" ? undefined : kind.slice(0, -4);
    const apiVersion = str(v.apiVersion);
    if (itemKind !== undefined) {
      const r = resolveKind(apiVersion, itemKind);
      if (!r.ok) {
        const i = { ...r.issue, message: r.issue.message.replace(`"${itemKind}"`, `"${kind}"`) };
        const pos = locate(src, doc, i.path, i.code);
        if (pos) i.pos = pos;
        issues.push(i);
        return [];
      }
    }
    const items = Array.isArray(v.items) ? v.items : [];
    const out: Candidate[] = [];
    items.forEach((item, idx) => {
      const base: IssuePath = ["items", idx];
      if (!isObj(item)) {
        issues.push(here(base, "not-an-object", "a List item must be a mapping"));
        return;
      }
      let raw = item;
      if (itemKind !== undefined) {
        // Typed lists (NetworkPolicyList) may leave apiVersion/kind off their items.
        raw = { ...item, apiVersion: item.apiVersion ?? apiVersion, kind: item.kind ?? itemKind };
        if (raw.kind !== itemKind) {
          issues.push(here([...base, "kind"], "unknown-kind", `a ${kind} may only hold ${itemKind} items, not ${String(raw.kind)}`));
          return;
        }
      } else if (typeof item.kind === "string" && item.kind.endsWith("List")) {
        issues.push(here([...base, "kind"], "unknown-kind", "Lists inside Lists are not supported"));
        return;
      }
      out.push({ raw, src, doc, base, itemIndex: idx });
    });
    return out;
  }
  return [{ raw: v, src, doc, base: [] }];
}

function positionIssue(c: Candidate, i: Issue): Issue {
  const out: Issue = { ...i };
  const pos = locate(c.src, c.doc, [...c.base, ...i.path], i.code);
  if (pos) {
    const off = valueOffsets.get(i);
    if (off !== undefined && pos.offset !== undefined) adjustToValueOffset(c.src.text, pos, off, c.src);
    out.pos = pos;
  }
  return out;
}

/**
 * Moves a position from the start of a scalar to a character inside it, when the scalar is
 * written on one line without escapes (so source offsets equal value offsets).
 */
function adjustToValueOffset(text: string, pos: NonNullable<Issue["pos"]>, off: number, src: ParsedSource): void {
  const start = pos.offset!;
  const end = pos.endOffset ?? start;
  let raw = text.slice(start, end);
  let shift = 0;
  if (raw.startsWith('"') || raw.startsWith("'")) {
    if (raw.includes("\\") || raw.includes("''")) return;
    raw = raw.slice(1, -1);
    shift = 1;
  }
  if (raw.includes("\n") || off > raw.length) return;
  const o = start + shift + off;
  const lp = src.lineCounter.linePos(o);
  pos.line = lp.line;
  pos.col = lp.col;
  pos.offset = o;
  pos.endOffset = Math.min(o + 1, end);
}

/**
 * Reads manifests from a path (file or directory, recursively), "-" (stdin), text, or a list of
 * those, and returns the valid resources (defaulted) and every issue.
 *
 * A string argument is a path when it names an existing file or directory, or looks like one (one
 * line ending in .yaml/.yml/.json or containing "/"): then a missing file is a `file-not-found`
 * issue rather than YAML text.
 */
export function loadManifests(input: ManifestInput | ManifestInput[], opts: LoadOptions = {}): LoadResult {
  const limits: ParseLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const defaultNamespace = opts.defaultNamespace === undefined ? "default" : opts.defaultNamespace;
  const issues: Issue[] = [];
  const sources = new Map<string, string>();
  const candidates: Candidate[] = [];
  const inputs = Array.isArray(input) ? input : [input];
  for (const one of inputs) {
    for (const unit of readInput(one, limits.maxBytes, issues)) {
      sources.set(unit.file ?? "", unit.text);
      const src = parseSource(unit.text, unit.file, limits);
      issues.push(...src.issues);
      for (const doc of src.docs) {
        // Empty and `null` documents are skipped, as kubectl does.
        if (doc.empty || doc.value === undefined || doc.value === null) continue;
        candidates.push(...expandDocument(src, doc, issues));
      }
    }
  }

  const resources: LoadedResource[] = [];
  const ok: boolean[] = [];
  for (const c of candidates) {
    const found = validateResource(c.raw).map((i) => positionIssue(c, i));
    issues.push(...found);
    ok.push(!found.some((i) => i.severity === "error"));
  }
  for (const [i, f] of findDuplicates(candidates.map((c) => c.raw), defaultNamespace)) {
    const c = candidates[i]!;
    const first = candidates[f]!;
    const fp = locate(first.src, first.doc, [...first.base, "metadata", "name"]);
    const where = fp ? `${fp.file ?? "input"}:${fp.line}:${fp.col}` : `resource ${f + 1}`;
    issues.push(
      positionIssue(c, {
        code: "duplicate-resource",
        path: ["metadata", "name"],
        severity: "error",
        message: `${describe(c.raw)} is given twice; the first is at ${where}`,
        resource: describe(c.raw),
      }),
    );
    ok[i] = false;
  }
  candidates.forEach((c, i) => {
    if (!ok[i]) return;
    const raw = stripNulls(c.raw);
    if (raw.apiVersion !== CALICO_API && resolveKind(raw.apiVersion, raw.kind).ok) {
      const k = resolveKind(raw.apiVersion, raw.kind);
      if (k.ok && k.aliased) raw.apiVersion = CALICO_API;
    }
    const resource = applyDefaults(raw as unknown as Resource, { defaultNamespace });
    const pos = locate(c.src, c.doc, c.base);
    const source: ResourceSource | undefined = pos
      ? { line: pos.line, col: pos.col, docIndex: c.doc.index, ...(c.src.file !== undefined ? { file: c.src.file } : {}), ...(c.itemIndex !== undefined ? { itemIndex: c.itemIndex } : {}) }
      : undefined;
    resources.push(source ? { resource, source } : { resource });
  });
  return { resources, issues: sortIssues(issues, [...sources.keys()]), sources };
}

/** Stable order: by source (input order), then by position; unpositioned issues keep their place. */
function sortIssues(issues: Issue[], files: string[]): Issue[] {
  const idx = new Map(files.map((f, i) => [f, i]));
  const key = (i: Issue): [number, number, number] =>
    i.pos ? [idx.get(i.pos.file ?? "") ?? files.length, i.pos.line, i.pos.col] : [files.length, 0, 0];
  return issues
    .map((i, n) => ({ i, n, k: key(i) }))
    .sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.k[2] - b.k[2] || a.n - b.n)
    .map((x) => x.i);
}

function describe(raw: Obj): string {
  const k = resolveKind(raw.apiVersion, raw.kind);
  const meta = obj(raw.metadata);
  return describeResource({
    kind: k.ok ? kindInfo(k.kind).kind : String(raw.kind),
    metadata: { name: str(meta?.name), namespace: str(meta?.namespace) },
  });
}
