/**
 * The kernel's share of a dataplane model: sets with no elements are left out, and so is every
 * rule that can only match through one of them. A match "address in ∅" never holds, so its rule
 * never runs (its effects included); a match "address not in ∅" always holds, so it is dropped
 * from its rule. The packet verdicts of the view and of the model are the same for every packet.
 *
 * Why: before each transaction nft 1.0.x re-reads the ruleset's objects from the kernel, and on a
 * real node most sets are empty (the IPv6 half of every selector set in an IPv4-only cluster,
 * selectors that match nothing yet). Measured on the 30k-pod node (4,441 sets, 2,564 empty): one
 * `add element` through the nft session cost ~10 ms less with the empty sets gone. The model stays
 * the description of the policy (explain, goldens, `tortie dataplane` read it); the applier
 * programs and checks the view.
 *
 * A set that gains its first element therefore costs one more operation than an element add:
 * the set is created and the chains that reference it are replaced, in the same transaction.
 *
 * With `splitIntervalSets` (the nftables backend), interval sets go too. nft also re-reads the
 * elements of every interval set before each transaction (named or anonymous): 85 interval sets
 * (network-set CIDRs) cost ~8 ms per `add element` on the 30k node, 300 cost ~7 ms on a bare table.
 * Each interval set becomes one hash set per prefix length present, looked up with the address cut
 * to that length (`ip saddr & 255.255.255.248 @set`); a CIDR list of several lengths in a rule
 * becomes one list per length. "In one of them" is an OR, so the rule is repeated once per length;
 * that is exact because the model's CIDRs never overlap (collapsed), so at most one copy matches
 * a packet and effects such as Log still run once. "In none of them" is an AND, one rule.
 */
import type { DataplaneModel, DpChain, DpMatch, DpRule, DpSet } from "./model.js";
import { ChunkedMap } from "../model/index.js";
import { changesSince, recordChanges } from "./diff.js";
import { maskedSetName } from "./naming.js";

export interface KernelViewOptions {
  /** Replace interval sets and CIDR lists of mixed lengths by per-prefix-length lookups. */
  splitIntervalSets?: boolean;
}

/** An interval set as per-prefix-length hash sets, shortest prefix first. */
interface SplitSet {
  parts: Array<{ prefix: number; set: DpSet }>;
}

const splitMemo = new WeakMap<DpSet, SplitSet>();
function splitSet(s: DpSet): SplitSet {
  let split = splitMemo.get(s);
  if (split) return split;
  const full = s.family === 4 ? 32 : 128;
  const byLength = new Map<number, string[]>();
  for (const e of s.elements) {
    const slash = e.indexOf("/");
    const prefix = slash < 0 ? full : Number(e.slice(slash + 1));
    let bases = byLength.get(prefix);
    if (!bases) byLength.set(prefix, (bases = []));
    bases.push(slash < 0 ? e : e.slice(0, slash)); // canonical CIDRs: the base has no host bits
  }
  const parts = [...byLength.keys()]
    .sort((a, b) => a - b)
    .map((prefix) => ({
      prefix,
      set: { name: maskedSetName(s.name, s.family, prefix), family: s.family, fields: ["addr" as const], interval: false, elements: [...new Set(byLength.get(prefix)!)].sort(), about: `${s.about} /${prefix}` },
    }));
  split = { parts };
  splitMemo.set(s, split);
  return split;
}

/** Address-only interval sets (the model's concatenated sets are hash sets; a concatenated
 *  interval set would keep its interval flag, since its lookups are not rewritten). */
function splittable(s: DpSet): boolean {
  return s.interval && s.elements.length > 0 && s.fields.length === 1 && s.fields[0] === "addr";
}

/** What a rule's view depends on in an interval set besides emptiness: its prefix lengths. */
function lengthsOf(s: DpSet): string {
  return splittable(s) ? splitSet(s).parts.map((p) => p.prefix).join(",") : "";
}

function cidrLength(c: string, full: number): number {
  const slash = c.indexOf("/");
  return slash < 0 ? full : Number(c.slice(slash + 1));
}

function mixedLengths(x: DpMatch): boolean {
  if (x.kind !== "addr" || x.cidrs.length < 2) return false;
  const full = x.family === 4 ? 32 : 128;
  const first = cidrLength(x.cidrs[0]!, full);
  return x.cidrs.some((c) => cidrLength(c, full) !== first);
}

const mixedMemo = new WeakMap<DpChain, boolean>();
function hasMixedCidrs(c: DpChain): boolean {
  let v = mixedMemo.get(c);
  if (v === undefined) mixedMemo.set(c, (v = c.rules.some((r) => r.match.some(mixedLengths))));
  return v;
}

function isSetMatch(x: DpMatch): x is Extract<DpMatch, { set: string }> {
  return x.kind === "addr-set" || x.kind === "concat-set";
}

/** Names of the sets a chain's rules look up (computed once per chain object). */
const refsMemo = new WeakMap<DpChain, string[]>();
function setRefs(c: DpChain): string[] {
  let refs = refsMemo.get(c);
  if (refs) return refs;
  const names = new Set<string>();
  for (const r of c.rules) for (const x of r.match) if (isSetMatch(x)) names.add(x.set);
  refs = [...names];
  refsMemo.set(c, refs);
  return refs;
}

/** What a view consults about the model's sets. */
interface SetFacts {
  isEmpty(set: string): boolean;
  /** The split of an interval set (only with splitIntervalSets). */
  split(set: string): SplitSet | undefined;
  splitting: boolean;
}

function facts(sets: ChunkedMap<DpSet>, opts: KernelViewOptions): SetFacts {
  const splitting = opts.splitIntervalSets === true;
  return {
    // A rule naming a set the model lacks breaks the model's invariant; keep such a rule as it is
    // so the renderer or the kernel reports it instead of the view hiding it.
    isEmpty: (name) => sets.get(name)?.elements.length === 0,
    split: (name) => {
      const s = sets.get(name);
      return splitting && s !== undefined && splittable(s) ? splitSet(s) : undefined;
    },
    splitting,
  };
}

/** One rule's kernel rules: none (never matches), itself, or one per prefix-length alternative. */
function viewRule(r: DpRule, f: SetFacts): DpRule[] {
  let changed = false;
  // Each condition as alternatives, each alternative a conjunction.
  const groups: DpMatch[][][] = [];
  for (const x of r.match) {
    if (isSetMatch(x) && f.isEmpty(x.set)) {
      if (!x.negate) return []; // "in ∅" never holds
      changed = true; // "not in ∅" always holds
      continue;
    }
    const split = x.kind === "addr-set" ? f.split(x.set) : undefined;
    if (x.kind === "addr-set" && split) {
      const full = x.family === 4 ? 32 : 128;
      const lookups = split.parts.map(({ prefix, set }): DpMatch => (prefix === full ? { ...x, set: set.name } : { ...x, set: set.name, prefix }));
      groups.push(x.negate ? [lookups] : lookups.map((l) => [l]));
      changed = true;
      continue;
    }
    if (f.splitting && mixedLengths(x) && x.kind === "addr") {
      const full = x.family === 4 ? 32 : 128;
      const byLength = new Map<number, string[]>();
      for (const c of x.cidrs) {
        const l = cidrLength(c, full);
        byLength.set(l, [...(byLength.get(l) ?? []), c]);
      }
      const lists = [...byLength.keys()].sort((a, b) => a - b).map((l): DpMatch => ({ ...x, cidrs: byLength.get(l)! }));
      groups.push(x.negate ? [lists] : lists.map((l) => [l]));
      changed = true;
      continue;
    }
    groups.push([[x]]);
  }
  if (!changed) return [r];
  let conjunctions: DpMatch[][] = [[]];
  for (const g of groups) conjunctions = conjunctions.flatMap((c) => g.map((alt) => [...c, ...alt]));
  return conjunctions.map((match) => ({ ...r, match }));
}

/** `c` as the kernel gets it; `c` itself when nothing changes. */
function viewChain(c: DpChain, f: SetFacts): DpChain {
  if (!setRefs(c).some((n) => f.isEmpty(n) || f.split(n) !== undefined) && !(f.splitting && hasMixedCidrs(c))) return c;
  return { ...c, rules: c.rules.flatMap((r) => viewRule(r, f)) };
}

/** The view's entries for model set `name` (none when empty, its parts when split). */
function addViewSet(out: Array<[string, DpSet | undefined]>, name: string, s: DpSet, f: SetFacts): void {
  if (s.elements.length === 0) return;
  const split = f.split(name);
  if (split) for (const p of split.parts) out.push([p.set.name, p.set]);
  else out.push([name, s]);
}

/** The names a model set has in the view (none when empty, its parts when split). */
function viewSetNames(name: string, s: DpSet, f: SetFacts): string[] {
  if (s.elements.length === 0) return [];
  return f.splitting && splittable(s) ? splitSet(s).parts.map((p) => p.set.name) : [name];
}

function viewSets(sets: ChunkedMap<DpSet>, f: SetFacts): ChunkedMap<DpSet> {
  const out: Array<[string, DpSet | undefined]> = [];
  sets.forEach((s, name) => addViewSet(out, name, s, f));
  return ChunkedMap.fromEntries(out as Array<[string, DpSet]>);
}

/** The kernel view of one model, computed from scratch. */
export function kernelView(model: DataplaneModel, opts: KernelViewOptions = {}): DataplaneModel {
  const f = facts(model.sets, opts);
  const names = model.chains.keyList();
  const chains = ChunkedMap.fromSorted(names, model.chains.valueList().map((c) => viewChain(c, f)));
  return { ...model, sets: viewSets(model.sets, f), chains };
}

/**
 * kernelView for a sequence of models from the incremental builder, which hands back the previous
 * model's objects for everything it did not rebuild. A chain is viewed again only when it is a new
 * object or one of its sets became empty or non-empty (or, when splitting, an interval set of it
 * changed); otherwise the previous view's chain object is reused, so diffModels keeps skipping
 * unchanged chains by identity.
 */
export class KernelViewer {
  private lastIn: DataplaneModel | null = null;
  private lastOut: DataplaneModel | null = null;
  /** Per chain name: the model's chain object and its view. */
  private chainViews = new Map<string, { src: DpChain; view: DpChain }>();
  /** Model set name → chains of the last model whose rules name it (the chains whose view may
   *  change when that set is emptied, filled or gains a prefix length). */
  private chainsBySet = new Map<string, Set<string>>();

  private indexChain(name: string, c: DpChain | undefined, add: boolean): void {
    if (!c) return;
    for (const s of setRefs(c)) {
      let names = this.chainsBySet.get(s);
      if (add) {
        if (!names) this.chainsBySet.set(s, (names = new Set()));
        names.add(name);
      } else if (names) {
        names.delete(name);
        if (names.size === 0) this.chainsBySet.delete(s);
      }
    }
  }

  constructor(private readonly opts: KernelViewOptions = {}) {}

  view(model: DataplaneModel): DataplaneModel {
    const prev = this.lastIn;
    const prevOut = this.lastOut;
    const f = facts(model.sets, this.opts);
    // The view's sets, and the sets whose role in rules may differ from the previous model's
    // (new, removed, emptied, filled, or new prefix lengths when splitting): from the previous
    // view and the names that changed, or from scratch for the first model.
    let flipped: Set<string> | null = null;
    let sets: ChunkedMap<DpSet>;
    // The builder's record of changed names, or the names in the chunks the two maps do not share.
    const changedNames = prev && prevOut ? (changesSince(model, prev, "sets") ?? model.sets.changedKeys(prev.sets)) : undefined;
    let viewChanged: string[] | undefined;
    if (prev && prevOut && model.sets === prev.sets) {
      flipped = new Set();
      sets = prevOut.sets;
      viewChanged = [];
    } else if (prev && prevOut && changedNames) {
      // The previous view with the changed names patched.
      flipped = new Set();
      viewChanged = [];
      // Removals first: a later edit of the same name (the new set) wins in ChunkedMap.with.
      const removals: Array<[string, undefined]> = [];
      const edits: Array<[string, DpSet | undefined]> = [];
      for (const name of changedNames) {
        const s = model.sets.get(name);
        const old = prev.sets.get(name);
        if (old === s) continue;
        if (!old || !s || (old.elements.length === 0) !== (s.elements.length === 0) || (f.splitting && lengthsOf(old) !== lengthsOf(s))) flipped.add(name);
        if (old) for (const n of viewSetNames(name, old, f)) {
          removals.push([n, undefined]);
          viewChanged.push(n);
        }
        if (s) {
          addViewSet(edits, name, s, f);
          viewChanged.push(...viewSetNames(name, s, f));
        }
      }
      sets = prevOut.sets.with([...removals, ...edits]);
    } else {
      sets = viewSets(model.sets, f);
    }
    let chains: ChunkedMap<DpChain>;
    let chainsChanged: string[] | undefined;
    const touched = prev && prevOut ? (model.chains === prev.chains ? [] : (changesSince(model, prev, "chains") ?? model.chains.changedKeys(prev.chains))) : undefined;
    if (prev && prevOut && model.chains === prev.chains && flipped!.size === 0) {
      chains = prevOut.chains;
      chainsChanged = [];
    } else if (prev && prevOut && touched) {
      // The chains that changed, and the chains naming a set whose role changed, get a new view;
      // every other chain's view is the previous one.
      const redo = new Set(touched);
      for (const set of flipped!) for (const name of this.chainsBySet.get(set) ?? []) redo.add(name);
      for (const name of touched) {
        this.indexChain(name, prev.chains.get(name), false);
        this.indexChain(name, model.chains.get(name), true);
      }
      const edits: Array<[string, DpChain | undefined]> = [];
      for (const name of redo) {
        const c = model.chains.get(name);
        if (!c) {
          this.chainViews.delete(name);
          edits.push([name, undefined]);
          continue;
        }
        const view = viewChain(c, f);
        edits.push([name, view]);
        this.chainViews.set(name, { src: c, view });
      }
      chains = prevOut.chains.with(edits);
      const next = chains;
      chainsChanged = [...redo].filter((n) => next.get(n) !== prevOut.chains.get(n));
    } else {
      // The first model: every chain viewed, and the indexes made.
      const views: DpChain[] = [];
      this.chainViews = new Map();
      this.chainsBySet = new Map();
      model.chains.forEach((c, name) => {
        const view = viewChain(c, f);
        views.push(view);
        this.chainViews.set(name, { src: c, view });
        this.indexChain(name, c, true);
      });
      chains = ChunkedMap.fromSorted(model.chains.keyList(), views);
    }
    const out: DataplaneModel = { ...model, sets, chains };
    if (prevOut && viewChanged) recordChanges(out, prevOut, "sets", [...new Set(viewChanged)]);
    if (prevOut && chainsChanged) recordChanges(out, prevOut, "chains", chainsChanged);
    this.lastIn = model;
    this.lastOut = out;
    return out;
  }
}
