/**
 * Label index: which labelled items (endpoints, network sets) a selector matches. Items with
 * identical effective labels form one class and each selector is evaluated once per class (the
 * way Cilium evaluates selectors per identity, not per pod); results are cached per canonical
 * selector, so a selector shared by many rules is evaluated once.
 */
import { exactArray } from "../model/index.js";
import type { LabelNode, LabelRestriction, Selector, SelectorNode } from "../selector/index.js";

export interface LabelClass {
  labels: Readonly<Record<string, string>>;
  ids: string[];
  /** Item numbers of `ids`, same order (what `add` and `addLike` return). */
  items: number[];
  /** Position in insertion order (what selectClasses returns). */
  ordinal: number;
}

function sortedHas(l: readonly number[], x: number): boolean {
  let lo = 0;
  let hi = l.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = l[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Injective text of a label map whatever its key order: sorted keys and values joined by
 *  \u0001 / \u0002, or, when some key or value holds one of those (or a value is not a string),
 *  JSON pairs, which contain neither raw character, so the two forms never collide. The
 *  separator form costs two concatenations per label instead of two JSON.stringify calls. */
export function labelSignature(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  // Joined, not concatenated: a signature is kept as a map key per label class, and a
  // concatenation of 2 × 13 labels would be kept as a tree of 26 parts (see model/retained.ts).
  const parts: string[] = [];
  for (const k of keys) {
    const v = labels[k];
    if (typeof v !== "string" || hasSeparator(k) || hasSeparator(v)) return jsonSignature(labels, keys);
    parts.push(k, "\u0001", v, "\u0002");
  }
  return parts.join("");
}

function jsonSignature(labels: Readonly<Record<string, string>>, sortedKeys: readonly string[]): string {
  let s = "";
  for (const k of sortedKeys) s += `${JSON.stringify(k)}:${JSON.stringify(labels[k])},`;
  return s;
}

/** True if `s` holds one of the two separator characters the engine's key texts join parts
 *  with (label signatures here; endpoint label-set, port-list and profile-list keys): a key
 *  made of parts that hold none is injective. */
export function hasSeparator(s: string): boolean {
  return s.includes("\u0001") || s.includes("\u0002");
}

const NONE: number[] = [];

/** Adds the terms of a conjunction of `==`, `in` and `has` terms (nested `and`s included) to
 *  `terms`; false if the selector has any other kind of term. */
function collectConjunction(n: SelectorNode, terms: LabelNode[]): boolean {
  if (n.type === "and") {
    for (let i = 0; i < n.operands.length; i++) if (!collectConjunction(n.operands[i]!, terms)) return false;
    return true;
  }
  if (n.type === "eq" || n.type === "in" || n.type === "has") {
    terms.push(n);
    return true;
  }
  return false;
}

/** `values` without repeats, in their order (the list itself when it has none, as the parser
 *  makes it: sorted and de-duplicated). */
function distinct(values: readonly string[]): readonly string[] {
  if (values.length > 8) {
    const set = new Set(values);
    return set.size === values.length ? values : [...set];
  }
  for (let i = 1; i < values.length; i++) if (values.indexOf(values[i]!) < i) return [...new Set(values)];
  return values;
}

/**
 * Items are numbered 0, 1, 2… in the order they are added, and everything per item is kept in
 * arrays by that number: at 100k endpoints, maps keyed by endpoint key (a hash of a fresh key
 * text and a cache miss per operation) were most of the cost of indexing. Ids must be unique;
 * the full build's callers guarantee it (they come from maps keyed by id).
 */
export class LabelIndex {
  private readonly classes = new Map<string, LabelClass>();
  /** Item number → class ordinal. */
  private readonly classOfItems: number[] = [];
  /** Id → item number, built on the first lookup by id (the full build looks up by number). */
  private itemById: Map<string, number> | undefined;
  private readonly cache = new Map<string, string[]>();
  private readonly classCache = new Map<string, number[]>();
  /** Classes in insertion order, and per label key / (key, value) the ordinals of the classes
   *  carrying it: select() only evaluates a selector on the classes its label restrictions allow
   *  (Selector.labelRestrictions), instead of on every class. */
  private readonly order: LabelClass[] = [];
  private readonly byKey = new Map<string, number[]>();
  private readonly byKeyValue = new Map<string, Map<string, number[]>>();

  /** Adds a labelled item; returns its item number (0, 1, 2… in the order of `add` and `addLike`
   *  calls), which callers use to keep per-item data in arrays rather than maps keyed by id. */
  add(id: string, labels: Readonly<Record<string, string>>): number {
    const sig = labelSignature(labels);
    let c = this.classes.get(sig);
    if (!c) {
      const ord = this.order.length;
      this.classes.set(sig, (c = { labels, ids: [], items: [], ordinal: ord }));
      this.order.push(c);
      for (const k of Object.keys(labels)) {
        const v = labels[k];
        if (typeof v !== "string") continue;
        let ks = this.byKey.get(k);
        if (!ks) this.byKey.set(k, (ks = []));
        ks.push(ord);
        let vs = this.byKeyValue.get(k);
        if (!vs) this.byKeyValue.set(k, (vs = new Map()));
        const l = vs.get(v);
        if (l) l.push(ord);
        else vs.set(v, [ord]);
      }
    }
    return this.join(id, c);
  }

  /** Adds `id` with the same labels as the already added item number `like` (same class, no
   *  signature); returns its item number. */
  addLike(id: string, like: number): number {
    const o = this.classOfItems[like];
    if (o === undefined) throw new Error(`unknown labelled item number ${like}`);
    return this.join(id, this.order[o]!);
  }

  private join(id: string, c: LabelClass): number {
    const item = this.classOfItems.length;
    this.classOfItems.push(c.ordinal);
    c.ids.push(id);
    c.items.push(item);
    this.itemById?.set(id, item);
    // Only when there is something to forget: clearing a Map that lives in the old generation
    // allocates its new empty table there (~46 bytes), and a full build joins 100k items.
    if (this.cache.size > 0) this.cache.clear();
    if (this.classCache.size > 0) this.classCache.clear();
    return item;
  }

  /** Ordinals of the classes that can match `sel` (ascending), or undefined for "all classes".
   *  Counts every restriction's candidates first and materialises only the smallest list. */
  private candidates(sel: Selector): number[] | undefined {
    let bestKey: string | undefined;
    let bestValues: string[] | undefined;
    let bestCount = Infinity;
    for (const [k, r] of this.restrictionsOf(sel)) {
      let n: number;
      if (r.mustHaveOneOfValues !== undefined) {
        const vs = this.byKeyValue.get(k);
        n = 0;
        if (vs) for (const v of r.mustHaveOneOfValues) n += vs.get(v)?.length ?? 0;
      } else if (r.mustBePresent) n = this.byKey.get(k)?.length ?? 0;
      else continue;
      if (n < bestCount) {
        bestCount = n;
        bestKey = k;
        bestValues = r.mustHaveOneOfValues;
      }
    }
    if (bestKey === undefined) return undefined;
    if (bestValues === undefined) return this.byKey.get(bestKey) ?? [];
    const vs = this.byKeyValue.get(bestKey);
    if (!vs) return [];
    if (bestValues.length === 1) return vs.get(bestValues[0]!) ?? [];
    const c: number[] = [];
    for (const v of new Set(bestValues)) for (const o of vs.get(v) ?? []) c.push(o);
    return c.sort((a, b) => a - b);
  }

  /**
   * Selectors that are a conjunction of `k == v`, `k in {…}` and `has(k)` terms (most policy and
   * rule selectors after Calico's namespace rewrite) are answered from the posting lists alone:
   * walk the shortest term's list and test the others by binary search. Exact — the lists hold
   * exactly the classes with a string value under k — and it neither compiles the selector's
   * matcher nor reads label maps of many shapes (megamorphic property loads).
   * Undefined when the selector has any other kind of term.
   */
  private conjunctionClasses(sel: Selector): number[] | undefined {
    const terms: LabelNode[] = [];
    if (!collectConjunction(sel.ast, terms) || terms.length === 0) return undefined;
    // Per term, the posting lists of its alternatives: one for `==` and `has`, one per value for
    // `in`. The driver is the term with the fewest classes in total.
    const lists = new Array<number[][]>(terms.length);
    let best = 0;
    let bestSize = Infinity;
    for (let i = 0; i < terms.length; i++) {
      const t = terms[i]!;
      let alts: number[][];
      if (t.type === "has") alts = [this.byKey.get(t.label) ?? NONE];
      else {
        const vs = this.byKeyValue.get(t.label);
        if (t.type === "eq") alts = [vs?.get(t.value) ?? NONE];
        else {
          // Calico's parser de-duplicates `in` values; a hand-built AST might not, and a repeated
          // value would list its classes twice.
          const values = t.type === "in" ? distinct(t.values) : [];
          alts = values.map((v) => vs?.get(v) ?? NONE);
        }
      }
      lists[i] = alts;
      let size = 0;
      for (let a = 0; a < alts.length; a++) size += alts[a]!.length;
      if (size < bestSize) {
        bestSize = size;
        best = i;
      }
    }
    const bl = lists[best]!;
    let driver: number[];
    if (bl.length === 1) driver = bl[0]!;
    else {
      driver = [];
      for (let a = 0; a < bl.length; a++) for (const o of bl[a]!) driver.push(o);
      driver.sort((a, b) => a - b);
    }
    // Indexed loops here and above: selections run ~100k times in a build, many before the
    // function is optimized, where for-of allocates an iterator result per element.
    const out: number[] = [];
    for (let d = 0; d < driver.length; d++) {
      const o = driver[d]!;
      let ok = true;
      for (let i = 0; i < lists.length && ok; i++) {
        if (i === best) continue;
        const alts = lists[i]!;
        ok = false;
        for (let a = 0; a < alts.length; a++) {
          if (sortedHas(alts[a]!, o)) {
            ok = true;
            break;
          }
        }
      }
      if (ok) out.push(o);
    }
    return out;
  }

  private restrictionsOf(sel: Selector): ReadonlyArray<readonly [string, Readonly<LabelRestriction>]> {
    // Computed once per Selector (the parse cache makes equal texts one Selector in a build).
    return sel.labelRestrictionList();
  }

  /** Ids of every item the selector matches, in insertion order of their classes. */
  select(sel: Selector): string[] {
    const key = sel.toString();
    let hit = this.cache.get(key);
    if (hit) return hit;
    hit = [];
    for (const o of this.selectClasses(sel)) for (const id of this.order[o]!.ids) hit.push(id);
    this.cache.set(key, hit);
    return hit;
  }

  /** Ordinals (ascending) of the classes the selector matches. */
  selectClasses(sel: Selector): number[] {
    const key = sel.toString();
    let hit = this.classCache.get(key);
    if (hit) return hit;
    // Cached results are kept until the index goes (a full build: ~100k of them, mostly one to
    // four classes), so at their exact size rather than with push's spare capacity.
    const exact = this.conjunctionClasses(sel);
    if (exact) {
      const kept = exactArray(exact);
      this.classCache.set(key, kept);
      return kept;
    }
    hit = [];
    const cand = this.candidates(sel);
    if (cand === undefined) {
      for (const c of this.order) if (sel.matches(c.labels)) hit.push(c.ordinal);
    } else {
      for (const o of cand) if (sel.matches(this.order[o]!.labels)) hit.push(o);
    }
    hit = exactArray(hit);
    this.classCache.set(key, hit);
    return hit;
  }

  /** The class of a labelled item, by id. */
  classOf(id: string): LabelClass | undefined {
    if (!this.itemById) {
      this.itemById = new Map();
      for (const c of this.order) for (let i = 0; i < c.ids.length; i++) this.itemById.set(c.ids[i]!, c.items[i]!);
    }
    const item = this.itemById.get(id);
    return item === undefined ? undefined : this.classOfItem(item);
  }

  /** The class of item number `item`. */
  classOfItem(item: number): LabelClass {
    return this.order[this.classOfItems[item]!]!;
  }

  /** Every class, in insertion order (index = ordinal). */
  get classList(): readonly LabelClass[] {
    return this.order;
  }

  get classCount(): number {
    return this.classes.size;
  }
}
