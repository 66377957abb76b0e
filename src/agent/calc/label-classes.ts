/**
 * The calc graph's labelled items grouped by identical effective labels (replicas share them),
 * with posting lists from each label and each (label, value) to the classes carrying it.
 *
 * Activating a set evaluates its selector on label classes. With every class as a candidate that
 * was O(active sets × classes): at 100k pods / 75k policies, ~3.3k sets × ~18k classes, a third of
 * the agent's initial load. `candidates(selector)` narrows the classes to those that can match, by
 * the selector's label restrictions (Selector.labelRestrictionList: a value the label must hold,
 * or a label that must be present), the way the engine's LabelIndex does for the full build.
 */
import type { Selector } from "../../selector/index.js";

export interface LabelClass {
  readonly labels: Readonly<Record<string, string>>;
  readonly ids: Set<string>;
}

export class LabelClasses {
  private readonly bySig = new Map<string, LabelClass>();
  /** label → classes having it. */
  private readonly byLabel = new Map<string, Set<LabelClass>>();
  /** label → value → classes with that value. */
  private readonly byValue = new Map<string, Map<string, Set<LabelClass>>>();

  /** Puts `item` into the class of `labels` (signature `sig`, engine labelSignature). */
  add(item: string, sig: string, labels: Readonly<Record<string, string>>): void {
    let c = this.bySig.get(sig);
    if (!c) {
      c = { labels, ids: new Set() };
      this.bySig.set(sig, c);
      for (const k of Object.keys(labels)) {
        const v = labels[k];
        if (typeof v !== "string") continue;
        let ls = this.byLabel.get(k);
        if (!ls) this.byLabel.set(k, (ls = new Set()));
        ls.add(c);
        let vs = this.byValue.get(k);
        if (!vs) this.byValue.set(k, (vs = new Map()));
        let s = vs.get(v);
        if (!s) vs.set(v, (s = new Set()));
        s.add(c);
      }
    }
    c.ids.add(item);
  }

  /** Takes `item` out of the class with signature `sig`; an emptied class leaves the index. */
  remove(item: string, sig: string): void {
    const c = this.bySig.get(sig);
    if (!c) return;
    c.ids.delete(item);
    if (c.ids.size > 0) return;
    this.bySig.delete(sig);
    for (const k of Object.keys(c.labels)) {
      const v = c.labels[k];
      if (typeof v !== "string") continue;
      const ls = this.byLabel.get(k);
      ls?.delete(c);
      if (ls && ls.size === 0) this.byLabel.delete(k);
      const vs = this.byValue.get(k);
      const s = vs?.get(v);
      s?.delete(c);
      if (s && s.size === 0) {
        vs!.delete(v);
        if (vs!.size === 0) this.byValue.delete(k);
      }
    }
  }

  get size(): number {
    return this.bySig.size;
  }

  all(): Iterable<LabelClass> {
    return this.bySig.values();
  }

  /**
   * Classes that can match `sel`: a superset of those it matches, to be confirmed with
   * `sel.matches`. The fewest of: the classes holding one of the values a restricted label must
   * hold, or the classes having a label that must be present; every class when the selector
   * restricts no label (`all()`, negations, `!has(x)`).
   */
  candidates(sel: Selector): Iterable<LabelClass> {
    let best: Iterable<LabelClass> | undefined;
    let bestCount = Infinity;
    for (const [label, r] of sel.labelRestrictionList()) {
      if (r.mustHaveOneOfValues !== undefined) {
        const vs = this.byValue.get(label);
        const lists: Set<LabelClass>[] = [];
        let n = 0;
        const values = r.mustHaveOneOfValues.length > 1 ? new Set(r.mustHaveOneOfValues) : r.mustHaveOneOfValues;
        for (const v of values) {
          const s = vs?.get(v);
          if (s) {
            lists.push(s);
            n += s.size;
          }
        }
        if (n < bestCount) {
          bestCount = n;
          // Distinct values of one label: each class is in at most one of these lists.
          best = lists.length === 1 ? lists[0]! : concat(lists);
        }
      } else if (r.mustBePresent) {
        const s = this.byLabel.get(label);
        const n = s?.size ?? 0;
        if (n < bestCount) {
          bestCount = n;
          best = s ?? [];
        }
      }
      if (bestCount === 0) break;
    }
    return best ?? this.bySig.values();
  }
}

function* concat<T>(lists: readonly Iterable<T>[]): Iterable<T> {
  for (const l of lists) yield* l;
}
