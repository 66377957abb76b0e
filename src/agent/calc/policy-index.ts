/**
 * Policies by one label value their selector requires, so that finding the policies that select
 * a local endpoint looks in the buckets of its labels instead of testing every policy's selector.
 * At 100k pods / 75k policies a policy add dirtied each local endpoint of its app, and each of
 * those tested all 75k selectors (~7 ms per endpoint). The engine's policy resolver also keeps
 * label buckets (engine/policy-resolver.ts), chosen by the number of allowed values alone: it
 * fills them once per build, not policy by policy as a watch does.
 *
 * A policy goes into the buckets of one label restriction (`app == "x"` → bucket app=x;
 * `tier in {a, b}` → two buckets): the one whose buckets hold the fewest policies when it is
 * added, then the one with the fewest allowed values, preferring a pod label to the namespace and
 * the namespace to the orchestrator label on a tie. A selector that matches
 * requires that label to hold one of those values, so every policy that selects an item is a
 * candidate for it: candidates() is a superset, to be confirmed with the selector. A selector
 * without such a restriction (`has(app)`, `all()`, negations) is a candidate for every item.
 */
import type { Selector } from "../../selector/index.js";

export class PolicySelectorIndex<K> {
  private readonly byValue = new Map<string, Set<K>>();
  private readonly unrestricted = new Set<K>();
  /** Buckets each key is in; null when unrestricted. */
  private readonly placed = new Map<K, string[] | null>();

  add(key: K, selector: Selector): void {
    this.remove(key);
    // The restriction whose buckets hold the fewest policies now: `tier == "db" && team == "t3"`
    // goes to team=t3 once tier=db holds more, so an item's candidates stay few (at 100k pods,
    // choosing by label alone gave each local endpoint ~1,000 candidates, most failing on the
    // second term). Any restriction is correct; this only chooses the cheapest.
    let best: { label: string; values: readonly string[]; load: number } | undefined;
    for (const [label, r] of selector.labelRestrictionList()) {
      const values = r.mustHaveOneOfValues;
      if (values === undefined) continue;
      let load = 0;
      for (const v of values) load += this.byValue.get(bucketKey(label, v))?.size ?? 0;
      if (
        !best ||
        load < best.load ||
        (load === best.load && (values.length < best.values.length || (values.length === best.values.length && breadth(label) < breadth(best.label))))
      )
        best = { label, values, load };
    }
    if (!best) {
      this.unrestricted.add(key);
      this.placed.set(key, null);
      return;
    }
    // No allowed value (a selector that cannot match): in no bucket, never a candidate.
    const buckets = best.values.map((v) => bucketKey(best.label, v));
    for (const b of buckets) {
      let s = this.byValue.get(b);
      if (!s) this.byValue.set(b, (s = new Set()));
      s.add(key);
    }
    this.placed.set(key, buckets);
  }

  remove(key: K): void {
    const buckets = this.placed.get(key);
    if (buckets === undefined) return;
    this.placed.delete(key);
    if (buckets === null) {
      this.unrestricted.delete(key);
      return;
    }
    for (const b of buckets) {
      const s = this.byValue.get(b);
      s?.delete(key);
      if (s && s.size === 0) this.byValue.delete(b);
    }
  }

  /** Keys of the policies that may select an item with these labels (confirm with the selector). */
  candidates(labels: Readonly<Record<string, string>>): Set<K> {
    const out = new Set(this.unrestricted);
    for (const label in labels) {
      const s = this.byValue.get(bucketKey(label, labels[label]!));
      if (s) for (const k of s) out.add(k);
    }
    return out;
  }
}

/** How many policies a label's value buckets tend to hold, as a tie-break between restrictions
 *  with equally few values. Every converted Kubernetes policy requires
 *  projectcalico.org/orchestrator == "k8s" (one bucket with half the policies of the generated
 *  30k cluster) and its namespace; a pod selector's own label narrows most. */
function breadth(label: string): number {
  if (label === "projectcalico.org/orchestrator") return 2;
  if (label === "projectcalico.org/namespace") return 1;
  return 0;
}

function bucketKey(label: string, value: string): string {
  return `${label}\u0000${value}`;
}
