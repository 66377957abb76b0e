/**
 * The parsed, compiled selector value. Immutable: the AST is deep-frozen plain data, the matchers
 * are compiled lazily once, the canonical text and unique id are computed once.
 */
import { type SelectorNode, compareUtf8, deepFreeze, walk } from "./ast.js";
import { type GetterMatcher, type LabelGetter, type LabelMap, type MapMatcher, compileGetter, compileMap } from "./compile.js";
import { SelectorParseError } from "./errors.js";
import { parseAst } from "./parser.js";
import { makeUniqueId, printSelector } from "./printer.js";

export interface LabelRestriction {
  /** The label must be present for the selector to match (e.g. `has(k)`, `k == "v"`). */
  mustBePresent: boolean;
  /** The label must be absent (e.g. `!has(k)`). */
  mustBeAbsent: boolean;
  /** If set, the label's value must be one of these; an empty array means "cannot match". */
  mustHaveOneOfValues?: string[];
}

/** Only `Selector.group` holds this: with it the constructor takes a canonical text the caller
 *  made, which nothing outside this module can pass. */
const GROUPED: unique symbol = Symbol("grouped");

export class Selector {
  readonly ast: SelectorNode;
  private readonly canonical: string;
  private id: string | undefined;
  private mapMatcher: MapMatcher | undefined;
  private getterMatcher: GetterMatcher | undefined;
  private restrictionList: ReadonlyArray<readonly [string, Readonly<LabelRestriction>]> | undefined;

  /** Wraps an AST (use parseSelector for text). The AST is frozen in place. */
  constructor(ast: SelectorNode, grouped?: typeof GROUPED, canonical?: string) {
    this.ast = deepFreeze(ast);
    this.canonical = grouped === GROUPED && canonical !== undefined ? canonical : printSelector(this.ast);
  }

  /**
   * The `&&` (or `||`) group of `sels`' roots, unflattened. Its canonical text is the printer's
   * for a group: "(", the operands' texts joined by " && " (" || "), ")". Each operand's text is
   * its selector's own canonical text, so the group's is made from those without printing the
   * operand trees again (policy and rule selectors glue a namespace term onto ~50k selectors).
   */
  static group(type: "and" | "or", sels: readonly Selector[]): Selector {
    const texts = new Array<string>(sels.length);
    const operands = new Array<SelectorNode>(sels.length);
    for (let i = 0; i < sels.length; i++) {
      texts[i] = sels[i]!.canonical;
      operands[i] = sels[i]!.ast;
    }
    const canonical = ["(", texts.join(type === "and" ? " && " : " || "), ")"].join("");
    return new Selector({ type, operands }, GROUPED, canonical);
  }

  /** Evaluates against a plain label map (own string-valued properties count as present). */
  matches(labels: LabelMap): boolean {
    const m = this.mapMatcher ?? (this.mapMatcher = compileMap(this.ast));
    return m(labels);
  }

  /** Evaluates against a lookup function (undefined = absent), e.g. own labels over profile labels. */
  matchesGetter(get: LabelGetter): boolean {
    const m = this.getterMatcher ?? (this.getterMatcher = compileGetter(this.ast));
    return m(get);
  }

  /** Calico's canonical form (SEMANTICS §1.5). */
  toString(): string {
    return this.canonical;
  }

  toJSON(): string {
    return this.canonical;
  }

  /** "s:" + base64url-nopad(SHA-224("s:" + canonical)); names the selector's IP set. */
  uniqueId(): string {
    return this.id ?? (this.id = makeUniqueId("s", this.canonical));
  }

  equals(other: Selector): boolean {
    return this.canonical === other.canonical;
  }

  /** Every label name the selector mentions, sorted (byte order) and de-duplicated. */
  labelKeys(): string[] {
    const keys = new Set<string>();
    walk(this.ast, (n) => {
      if ("label" in n) keys.add(n.label);
    });
    return [...keys].sort(compareUtf8);
  }

  /**
   * Calico's LabelRestrictions (ast.go): per label, what any matching label map must satisfy.
   * Used to index selectors by label; a label absent from the map is unconstrained.
   */
  labelRestrictions(): Map<string, LabelRestriction> {
    return restrictions(this.ast) ?? new Map();
  }

  /** labelRestrictions() as a list computed once per Selector and frozen (restriction objects and
   *  value lists included): for indexes that only read it — no fresh Map per call. */
  labelRestrictionList(): ReadonlyArray<readonly [string, Readonly<LabelRestriction>]> {
    if (this.restrictionList) return this.restrictionList;
    const out: Array<readonly [string, Readonly<LabelRestriction>]> = [];
    for (const [k, r] of this.labelRestrictions()) {
      if (r.mustHaveOneOfValues) Object.freeze(r.mustHaveOneOfValues);
      out.push(Object.freeze([k, Object.freeze(r)] as const));
    }
    return (this.restrictionList = Object.freeze(out));
  }

  /** Cheap structural check: true if the selector is `all()` (or empty). */
  isAll(): boolean {
    return this.ast.type === "all";
  }
}

/**
 * Selectors are immutable, so identical texts can share one parsed, compiled instance; the engine
 * re-reads the same policy texts on every recompute. Bounded: cleared when it grows past the cap.
 */
const CACHE_CAP = 20_000;
const cache = new Map<string, Selector>();
/** Open withSelectorParseScope calls: while > 0 the cache is not capped (see there). */
let scopes = 0;

/**
 * Runs `f` with the parse cache uncapped, so that every distinct text is parsed once inside it
 * (a 100k-pod full computation has ~50k distinct texts and would otherwise clear the cache and
 * re-parse over and over — in the engine and in src/convert's validity checks alike). On leaving
 * the outermost scope the cache is cut back to its cap. Nests; results are the same as without.
 */
export function withSelectorParseScope<T>(f: () => T): T {
  scopes++;
  try {
    return f();
  } finally {
    if (--scopes === 0 && cache.size > CACHE_CAP) cache.clear();
  }
}

/** Parses a selector. Throws SelectorParseError (and only that) on invalid input. */
export function parseSelector(text: string): Selector {
  if (typeof text !== "string") {
    throw new SelectorParseError(`selector must be a string, not ${text === null ? "null" : typeof text}`, 0, String(text));
  }
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  const sel = new Selector(parseAst(text));
  if (cache.size >= CACHE_CAP && scopes === 0) cache.clear();
  cache.set(text, sel);
  return sel;
}

export function tryParseSelector(text: string): { ok: true; selector: Selector } | { ok: false; error: SelectorParseError } {
  try {
    return { ok: true, selector: parseSelector(text) };
  } catch (e) {
    if (e instanceof SelectorParseError) return { ok: false, error: e };
    throw e;
  }
}

/** Calico selector.Validate: undefined if valid, else the error. Does not trim (a trailing "\n" is invalid). */
export function validateSelector(text: string): SelectorParseError | undefined {
  const r = tryParseSelector(text);
  return r.ok ? undefined : r.error;
}

/** Go strings.TrimSpace's set (unicode.IsSpace): differs from String.prototype.trim on U+0085 and U+FEFF. */
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** Calico selector.Normalise: trim, parse, print canonical; returns the trimmed input if invalid. */
export function normaliseSelector(text: string): string {
  const trimmed = text.replace(GO_SPACE, "");
  const r = tryParseSelector(trimmed);
  return r.ok ? r.selector.toString() : trimmed;
}

export const ALL_SELECTOR: Selector = new Selector({ type: "all" });

// ---------------------------------------------------------------- label restrictions (ast.go)

type LR = Map<string, LabelRestriction>;

function restrictions(n: SelectorNode): LR | undefined {
  switch (n.type) {
    case "eq":
      return new Map([[n.label, { mustBePresent: true, mustBeAbsent: false, mustHaveOneOfValues: [n.value] }]]);
    case "in":
      return new Map([[n.label, { mustBePresent: true, mustBeAbsent: false, mustHaveOneOfValues: [...n.values] }]]);
    case "has":
    case "contains":
    case "startsWith":
    case "endsWith":
      return new Map([[n.label, { mustBePresent: true, mustBeAbsent: false }]]);
    case "ne":
    case "notIn":
    case "all":
    case "global":
      return undefined;
    case "not":
      // Only !has(k) inverts usefully: !(k == "v") does not require k to be absent.
      if (n.operand.type === "has") return new Map([[n.operand.label, { mustBePresent: false, mustBeAbsent: true }]]);
      return undefined;
    case "and": {
      const lr: LR = new Map();
      for (const op of n.operands) {
        const o = restrictions(op);
        if (!o) continue;
        for (const [k, r] of o) {
          const base = lr.get(k) ?? { mustBePresent: false, mustBeAbsent: false };
          const merged: LabelRestriction = {
            mustBePresent: base.mustBePresent || r.mustBePresent,
            mustBeAbsent: base.mustBeAbsent || r.mustBeAbsent,
          };
          const vals =
            base.mustHaveOneOfValues === undefined
              ? r.mustHaveOneOfValues
              : r.mustHaveOneOfValues === undefined
                ? base.mustHaveOneOfValues
                : base.mustHaveOneOfValues.filter((v) => r.mustHaveOneOfValues!.includes(v));
          if (vals !== undefined) merged.mustHaveOneOfValues = vals;
          lr.set(k, merged);
        }
      }
      return lr.size === 0 ? undefined : lr;
    }
    case "or": {
      const lr: LR = new Map(restrictions(n.operands[0]) ?? []);
      for (const op of n.operands.slice(1)) {
        const o = restrictions(op) ?? new Map<string, LabelRestriction>();
        for (const [k, r] of [...lr]) {
          const opr = o.get(k) ?? { mustBePresent: false, mustBeAbsent: false };
          const merged: LabelRestriction = {
            mustBePresent: r.mustBePresent && opr.mustBePresent,
            mustBeAbsent: r.mustBeAbsent && opr.mustBeAbsent,
          };
          if (merged.mustBePresent && r.mustHaveOneOfValues !== undefined && opr.mustHaveOneOfValues !== undefined) {
            const union = [...r.mustHaveOneOfValues];
            for (const v of opr.mustHaveOneOfValues) if (!union.includes(v)) union.push(v);
            merged.mustHaveOneOfValues = union;
          }
          if (merged.mustBePresent || merged.mustBeAbsent) lr.set(k, merged);
          else lr.delete(k);
        }
      }
      return lr.size === 0 ? undefined : lr;
    }
  }
}
