/**
 * Translation of one IR rule into kernel rule conditions, and of the IR's sets into kernel sets.
 * Structure only: the family split is rule/'s `ruleForFamily`, and every IR field maps onto one
 * condition kind. Where one kernel rule cannot say "A or B" the rule is expanded into several
 * kernel rules with the same action (alternatives); where Calico's semantics are "all of", the
 * conditions go into one rule.
 *
 * Expansions (each alternative is a complete kernel rule; they are OR-ed by sitting in sequence
 * with identical actions — valid because a matching rule's action is the same whichever
 * alternative matched):
 *  - a positive selector set is two kernel sets (addresses in a hash set, CIDRs in an interval
 *    set, see naming.ts SetPart): "in S" = "in S-addrs" or "in S-nets". The CIDR alternative is
 *    only rendered while the selector holds CIDRs (network sets): an empty interval set would cost
 *    a rule per packet for nothing. A pod joining or leaving stays one hash-set element; a network
 *    set's CIDRs appearing or vanishing replaces the chains that use the selector;
 *  - positive ports OR named ports: one alternative for the numeric ranges and one per named-port
 *    set;
 *  - negative ports on a rule without a port-carrying protocol (validation forbids it, but the IR
 *    can say it): "protocol carries no port" or "protocol carries ports and port not in …",
 *    mirroring rule/match.ts where a portless packet passes every negative port match.
 */
import { BugError, CHUNK, ChunkedList, sortedListHas, type List } from "../model/index.js";
import {
  carriesPorts,
  formatAddr,
  formatCidr,
  isHostCidr,
  memberDeltaFrom,
  parseAddr,
  parseCidr,
  ruleForFamily,
  type Cidr,
  type ClusterIR,
  type EntityMatch,
  type PortMember,
  type PortRange,
  type RuleIR,
  type RuleOrigin,
  type SetDef,
  type SetId,
} from "../rule/index.js";
import type { DpMatch, DpRule, DpSet, Family, KeyField, Side } from "./model.js";
import { diffLists, patchSortedStrings } from "./set-patch.js";
import { compiledSetName, setName } from "./naming.js";

/** Protocols whose packets carry ports (rule/protocol.ts carriesPorts), as a list for proto matches. */
export const PORT_PROTOCOLS = [6, 17, 132, 136].filter((p) => carriesPorts(p));

// ------------------------------------------------------------------------------------ CIDRs

/** Removes CIDRs contained in another one of the list (same family); the union is unchanged and
 *  the result has no overlaps, which kernel interval sets require. Sorted canonical text. */
export function collapseCidrs(cidrs: Cidr[]): Cidr[] {
  const sorted = [...cidrs].sort((a, b) => a.prefix - b.prefix || (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  const kept: Cidr[] = [];
  for (const c of sorted) {
    if (kept.some((k) => k.family === c.family && contains(k, c))) continue;
    kept.push(c);
  }
  return kept.sort(compareCidr);
}

function contains(outer: Cidr, inner: Cidr): boolean {
  if (outer.prefix > inner.prefix) return false;
  const bits = outer.family === 4 ? 32 : 128;
  const shift = BigInt(bits - outer.prefix);
  return inner.base >> shift === outer.base >> shift;
}

function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.base !== b.base) return a.base < b.base ? -1 : 1;
  return a.prefix - b.prefix;
}

function parseCidrOrBug(s: string, where: string): Cidr {
  const c = parseCidr(s);
  if (!c) throw new BugError(`${where}: invalid CIDR ${s}`);
  return c;
}

/** Canonical kernel text of CIDRs of one family: bare address for host CIDRs, else a/len. */
export function cidrTexts(cidrs: string[], family: Family, where: string): string[] {
  const parsed = cidrs.map((c) => parseCidrOrBug(c, where)).filter((c) => c.family === family);
  return collapseCidrs(parsed).map((c) => (isHostCidr(c) ? formatAddr({ family: c.family, value: c.base }) : formatCidr(c)));
}

// ------------------------------------------------------------------------------------ sets

/**
 * What a kernel set is made of. A set's name is a function of its spec (naming.ts), and its
 * elements are a function of the spec and the IR's set definitions — nothing else — so a set can
 * be rebuilt on its own when one IR set changes, and runs with the same content share one
 * compiled set.
 */
export type SetSpec = IrSetSpec | CompiledSetSpec;
export type IrSetSpec =
  /** One part of a selector set: single addresses (hash set) or CIDRs (interval set). */
  | { kind: "selector"; id: SetId; family: Family; part: "addrs" | "nets" }
  /** Addresses of a service set used as a source. */
  | { kind: "address"; id: SetId; family: Family }
  /** (address . protocol . port) of a named-port set or a service set with ports. */
  | { kind: "port"; id: SetId; family: Family };
/**
 * Concatenated (address . protocol . port) set compiled from a run of exact rules. Without `keep`:
 * the union over parts of (address set × protocol × ports) — the rules of the run have one action.
 * With `keep` (a run mixing actions): the parts are in rule order, each with its action, and the
 * set holds the keys whose *first* part (first match) has action `keep`; the run renders as one
 * set per action present (`keep: "allow"`, `"deny"`, `"pass"`), which are disjoint.
 */
export interface CompiledSetSpec {
  kind: "compiled";
  family: Family;
  parts: Array<{ set: IrSetSpec; protocol: number; ports: number[]; action?: RunAction }>;
  keep?: RunAction;
}

/** The action of a rule that may join a compiled run: plain Allow, plain Deny (no effects) or
 *  Pass (set the pass bit and return) — each ends the policy's evaluation for the packets it
 *  matches, which is what lets first match be decided per key. */
export type RunAction = "allow" | "deny" | "pass";

/** Names by spec object: a compiled spec's name prints its parts as JSON and hashes them, and the
 *  registry asks for the name of every set a change touches (a pod add at 100k: ~3 ms unmemoised).
 *  Specs are plain immutable data once made. */
const specNames = new WeakMap<SetSpec, string>();

export function setSpecName(spec: SetSpec): string {
  let name = specNames.get(spec);
  if (name === undefined) specNames.set(spec, (name = specNameOf(spec)));
  return name;
}

function specNameOf(spec: SetSpec): string {
  switch (spec.kind) {
    case "selector":
      return setName(spec.family, spec.part, spec.id);
    case "address":
    case "port":
      return setName(spec.family, "main", spec.id);
    case "compiled":
      // Union specs keep the key they had before first-match specs existed (same set names).
      if (spec.keep === undefined) return compiledSetName(spec.family, JSON.stringify(spec.parts.map((p) => [setSpecName(p.set), p.protocol, p.ports])));
      return compiledSetName(spec.family, JSON.stringify([spec.keep, spec.parts.map((p) => [setSpecName(p.set), p.protocol, p.ports, p.action])]));
  }
}

/** IR sets whose definitions a set's elements depend on. */
export function setSpecIds(spec: SetSpec): SetId[] {
  return spec.kind === "compiled" ? [...new Set(spec.parts.map((p) => p.set.id))] : [spec.id];
}

/**
 * Something a piece of the model consulted while it was built and that may change without the
 * piece's own inputs changing: "does selector set S hold CIDRs", "is set S small enough to
 * compile", "are policy P's rules all Allow or Deny". The incremental builder re-evaluates a piece's facts when
 * their dependency changed and rebuilds the piece only if one of them now has another value.
 */
export interface Fact {
  value: unknown;
  compute: () => unknown;
  /** "s:<set id>" or "p:<policy key>". */
  dep: string;
}
export type FactRecorder = Map<string, Fact>;

/**
 * Kernel sets derived from the IR's sets, created on first use and kept between builds by the
 * incremental builder (`update` drops what a changed IR set invalidates). Element lists are
 * computed once per set and shared by every rule that names it.
 */
export class SetRegistry {
  private readonly cache = new Map<string, { spec: SetSpec; set: DpSet }>();
  /** Compiled sets made since the last prune (see prune). */
  private readonly madeSincePrune = new Set<string>();
  private readonly byId = new Map<SetId, Set<string>>();
  /** Selector members split per family, kept to patch with the next change of the set. */
  private readonly splits = new Map<string, SplitState | { members: List<string>; out: SplitOut }>();
  /** Port and address sets' members and elements per "kind|family|id", kept to patch likewise. */
  private readonly portLists = new Map<string, PortListState | { members: List<PortMember>; elements: List<string> }>();
  /** Splits / port lists stored without their patching index, each with what makes it
   *  (prepareForChanges); keyed "s:" + split key or "p:" + port-list key. */
  private readonly unindexed = new Map<string, () => void>();
  /** Facts consulted while a piece is built are recorded here (set by the builder). */
  recorder: FactRecorder | undefined;

  constructor(private ir: ClusterIR) {}

  /** Switches to a new IR; sets built from the changed IR sets are dropped. */
  /** Takes the new IR; forgets the kernel sets made of the changed IR sets and returns their names. */
  update(ir: ClusterIR, changed: Iterable<SetId>): string[] {
    this.ir = ir;
    const dropped: string[] = [];
    for (const id of changed) {
      for (const name of this.byId.get(id) ?? []) {
        if (this.cache.delete(name)) dropped.push(name);
      }
      this.byId.delete(id);
      if (!ir.sets.has(id)) {
        for (const f of [4, 6]) {
          this.splits.delete(`${f}|${id}`);
          this.portLists.delete(`port|${f}|${id}`);
          this.portLists.delete(`address|${f}|${id}`);
          this.unindexed.delete(`s:${f}|${id}`);
          this.unindexed.delete(`p:port|${f}|${id}`);
          this.unindexed.delete(`p:address|${f}|${id}`);
        }
      }
    }
    return dropped;
  }

  /** The cached set of that name, else the set of `spec` (named `name`) built now. */
  ensureNamed(name: string, spec: SetSpec): DpSet {
    return this.cache.get(name)?.set ?? this.ensure(spec);
  }

  /** IR sets some cached kernel set is made of. */
  ids(): SetId[] {
    return [...this.byId.keys()];
  }

  /**
   * Forgets compiled sets no longer used (their names depend on content, so they accumulate).
   * With `went` (the names no longer used since the last prune), only those and the compiled sets
   * made since then are looked at: any other cached set was in use at the last prune and still is.
   * Walking the whole cache (~10k sets at 100k pods) was ~1 ms of every policy add.
   */
  prune(used: (name: string) => boolean, went?: Iterable<string>): void {
    const names: Iterable<string> = went ? new Set([...went, ...this.madeSincePrune]) : this.cache.keys();
    for (const name of names) {
      const e = this.cache.get(name);
      if (!e || e.spec.kind !== "compiled" || used(name)) continue;
      this.cache.delete(name);
      for (const id of setSpecIds(e.spec)) this.byId.get(id)?.delete(name);
    }
    this.madeSincePrune.clear();
  }

  private def(id: SetId): SetDef {
    const d = this.ir.sets.get(id);
    if (!d) throw new BugError(`rule references set ${id} which is not in the IR`);
    return d;
  }

  private about(d: SetDef): string {
    if (d.kind === "selector") return `selector ${d.selector}`;
    if (d.kind === "named-port") return `named port ${d.portName}${d.selector ? ` of ${d.selector}` : ""}`;
    return `service ${d.service.namespace}/${d.service.name}${d.withPorts ? " (ports)" : ""}`;
  }

  private fact<T>(key: string, dep: string, compute: () => T): T {
    const value = compute();
    this.recorder?.set(key, { value, compute, dep });
    return value;
  }

  /** The set of a spec: from the cache, or built now (the one way every kernel set is made). */
  ensure(spec: SetSpec): DpSet {
    const name = setSpecName(spec);
    const hit = this.cache.get(name);
    if (hit) return hit.set;
    const set = this.make(spec, name);
    this.cache.set(name, { spec, set });
    if (spec.kind === "compiled") this.madeSincePrune.add(name);
    for (const id of setSpecIds(spec)) {
      let s = this.byId.get(id);
      if (!s) this.byId.set(id, (s = new Set()));
      s.add(name);
    }
    return set;
  }

  /** The spec of a set built by this registry (every set a rule names). */
  specOf(name: string): SetSpec {
    const e = this.cache.get(name);
    if (!e) throw new BugError(`set ${name} is named by a rule but was not built`);
    return e.spec;
  }

  private make(spec: SetSpec, name: string): DpSet {
    const family = spec.family;
    if (spec.kind === "compiled") {
      const abouts: string[] = [];
      if (spec.keep === undefined) {
        const elements: string[] = [];
        for (const p of spec.parts) {
          const s = this.ensure(p.set);
          abouts.push(s.about);
          for (const a of s.elements) for (const port of p.ports) elements.push(`${a} . ${p.protocol} . ${port}`);
        }
        const about = `compiled union: ${abouts.join(" | ")}`.slice(0, 200);
        return { name, family, fields: ["addr", "l4proto", "port"], interval: false, elements: sortUnique(elements), about };
      }
      // First match: every key is decided by the first part that holds it.
      const first = new Map<string, boolean>();
      for (const p of spec.parts) {
        const s = this.ensure(p.set);
        abouts.push(`${p.action} ${s.about}`);
        const mine = p.action === spec.keep;
        for (const a of s.elements) {
          for (const port of p.ports) {
            const k = `${a} . ${p.protocol} . ${port}`;
            if (!first.has(k)) first.set(k, mine);
          }
        }
      }
      const elements: string[] = [];
      for (const [k, mine] of first) if (mine) elements.push(k);
      const about = `compiled ${spec.keep} (first match): ${abouts.join(" | ")}`.slice(0, 200);
      return { name, family, fields: ["addr", "l4proto", "port"], interval: false, elements: elements.sort(), about };
    }
    const d = this.def(spec.id);
    if (spec.kind === "selector") {
      if (d.kind !== "selector") throw new BugError(`set ${spec.id} is used as a selector set but is ${d.kind}`);
      const split = this.split(spec.id, d.members, family);
      return spec.part === "addrs"
        ? { name, family, fields: ["addr"], interval: false, elements: split.hosts, about: this.about(d) }
        : { name, family, fields: ["addr"], interval: true, elements: split.nets, about: `${this.about(d)} (CIDRs)` };
    }
    if (d.kind === "selector") throw new BugError(`set ${spec.id} is a selector set, not a${spec.kind === "port" ? " port" : "n address"} set`);
    const elements = this.portElements(spec.kind, spec.id, d.members, family);
    return spec.kind === "port"
      ? { name, family, fields: ["addr", "l4proto", "port"], interval: false, elements, about: this.about(d) }
      : { name, family, fields: ["addr"], interval: false, elements, about: this.about(d) };
  }

  /**
   * Sorted elements of a port or address set. After a change of the IR set, the previous elements
   * are patched with the members that came and went (like selector splits), so a pod joining a
   * named-port set of 100k members costs what changed, not converting and sorting 100k members.
   */
  private portElements(kind: "port" | "address", id: SetId, members: List<PortMember>, family: Family): List<string> {
    const key = `${kind}|${family}|${id}`;
    const where = `set ${id}`;
    const st = this.portLists.get(key);
    if (st && st.members === members) return st.elements;
    if (st) {
      const full = "count" in st ? st : newPortListState(kind, st.members, st.elements, family, where);
      if (full && patchPortList(full, kind, members, family, where)) {
        this.portLists.set(key, full);
        this.unindexed.delete(`p:${key}`);
        return full.elements;
      }
    }
    const els: string[] = [];
    for (const m of members) {
      const e = portElement(kind, m, family, where);
      if (e !== undefined) els.push(e);
    }
    const elements = longCut(sortUnique(els));
    this.portLists.set(key, { members, elements });
    this.unindexed.set(`p:${key}`, () => {
      const st = this.portLists.get(key);
      if (!st || "count" in st) return;
      const full = newPortListState(kind, st.members, st.elements, family, where);
      if (full) this.portLists.set(key, full);
    });
    return elements;
  }

  /**
   * A selector's members of one family as [hosts, nets]. After a change of the set, the previous
   * split is patched with the members that came and went, so a pod joining a 100k-member set
   * costs a hash lookup per member and an array copy, not parsing 100k addresses again. When a
   * CIDR of the family comes or goes, the split is recomputed (CIDRs are collapsed together).
   */
  private split(id: SetId, members: List<string>, family: Family): SplitOut {
    const key = `${family}|${id}`;
    const st = this.splits.get(key);
    if (st && st.members === members) return st.out;
    if (st) {
      // The patching index is made on a set's first change (or by prepareForChanges when the
      // agent is idle), not when it is first built: the first build must stay cheap.
      const full = "hostCount" in st ? st : newSplitState(st.members, st.out, family);
      const patched = patchSplit(full, members, family, `set ${id}`);
      if (patched) {
        this.splits.set(key, patched);
        this.unindexed.delete(`s:${key}`);
        return patched.out;
      }
    }
    const out = splitSelectorMembers(members, family, `set ${id}`);
    this.splits.set(key, { members, out });
    this.unindexed.set(`s:${key}`, () => {
      const st = this.splits.get(key);
      if (st && !("hostCount" in st)) this.splits.set(key, newSplitState(st.members, st.out, family));
    });
    return out;
  }

  /**
   * Makes the patching index of sets that have none yet, until `deadline` (performance.now()
   * time); true when none is left. Without it a set's first change pays for its index: ~10–20 ms
   * for a 100k-member set, which showed as the p90 of pod adds. The agent calls it when idle.
   */
  /** Sets whose patching index is not made yet. */
  get unprepared(): number {
    return this.unindexed.size;
  }

  /** Names of the compiled sets held (for tests of pruning). */
  compiledNames(): string[] {
    return [...this.cache].filter(([, e]) => e.spec.kind === "compiled").map(([name]) => name);
  }

  prepareForChanges(deadline: number): boolean {
    for (const [k, makeIndex] of this.unindexed) {
      if (performance.now() > deadline) return false;
      this.unindexed.delete(k);
      makeIndex();
    }
    return true;
  }

  /** Both kernel sets of a selector set: [addresses (hash), CIDRs (interval)]. */
  selectorParts(id: SetId, family: Family): [DpSet, DpSet] {
    return [this.ensure({ kind: "selector", id, family, part: "addrs" }), this.ensure({ kind: "selector", id, family, part: "nets" })];
  }

  /** Whether a selector set holds CIDRs of the family (then rules need its interval part too). */
  hasNets(id: SetId, family: Family): boolean {
    // Re-evaluated after the IR changed, a fact may name a set that is gone: then it is undefined
    // (another value), and the piece that consulted it is rebuilt or dropped.
    return this.fact(`nets|${family}|${id}`, `s:${id}`, () => (this.ir.sets.has(id) ? this.ensure({ kind: "selector", id, family, part: "nets" }).elements.length > 0 : undefined)) === true;
  }

  /** A service set with ports (or a named-port set in that position) is looked up with the port;
   *  an address-only service set (source side) by address — the choice rule/match.ts makes. */
  portSetOrAddress(id: SetId, family: Family): DpSet {
    const withPorts = this.fact(`shape|${id}`, `s:${id}`, () => {
      const d = this.ir.sets.get(id);
      return d === undefined ? undefined : d.kind === "service" ? d.withPorts : d.kind === "named-port";
    });
    return this.ensure({ kind: withPorts ? "port" : "address", id, family });
  }

  /** (address . protocol . port) of a named-port set or a service set with ports. */
  portSet(id: SetId, family: Family): DpSet {
    return this.ensure({ kind: "port", id, family });
  }

  /** Whether a rule "address in `name` and port in `ports`" may join a compiled lookup: its
   *  share of the concatenated set (addresses × ports) stays within MAX_COMPILED_PRODUCT. */
  compilable(name: string, ports: number): boolean {
    const spec = this.specOf(name);
    if (spec.kind === "compiled") return false;
    return this.fact(`small|${name}|${ports}`, `s:${spec.id}`, () => (this.ir.sets.has(spec.id) ? this.ensure(spec).elements.length * ports <= MAX_COMPILED_PRODUCT : undefined)) === true;
  }

  get(name: string): DpSet | undefined {
    return this.cache.get(name)?.set;
  }
}

/**
 * A selector set's members of one family, split into sorted host addresses and collapsed CIDRs.
 * Cached per members array: the engine and the agent keep unchanged sets' arrays between builds,
 * so rebuilding the model after a small change does not re-parse 100k addresses.
 */
const splitCache = new WeakMap<List<string>, { text: string; byFamily: Map<Family, SplitOut> }>();

function splitSelectorMembers(members: List<string>, family: Family, where: string): SplitOut {
  // The joined text guards against callers that change an array in place between builds: joining
  // is far cheaper than parsing every address again. (A ChunkedList cannot change.)
  const text = members instanceof ChunkedList ? "" : members.join(",");
  let entry = splitCache.get(members);
  if (!entry || entry.text !== text) splitCache.set(members, (entry = { text, byFamily: new Map() }));
  const hit = entry.byFamily.get(family);
  if (hit) return hit;
  const hosts: string[] = [];
  const nets: Cidr[] = [];
  for (const m of members) {
    const c = parseCidrOrBug(m, where);
    if (c.family !== family) continue;
    if (isHostCidr(c)) hosts.push(formatAddr({ family, value: c.base }));
    else nets.push(c);
  }
  const out = { hosts: longCut(sortUnique(hosts)), nets: collapseCidrs(nets).map(formatCidr) };
  entry.byFamily.set(family, out);
  return out;
}

/**
 * Canonical kernel text of member addresses, remembered: a port or service set is rebuilt whole
 * when one member changes, and parsing every address again dominated that. Bounded: forgotten
 * wholesale when it grows past MAX_ADDR_MEMO (a cluster's addresses fit many times over).
 */
const addrMemo = new Map<string, { family: Family; text: string }>();
const MAX_ADDR_MEMO = 1 << 20;

function canonicalAddr(addr: string, where: string): { family: Family; text: string } {
  let hit = addrMemo.get(addr);
  if (hit) return hit;
  const a = parseAddr(addr);
  if (!a) throw new BugError(`${where} has invalid member ${addr}`);
  if (addrMemo.size >= MAX_ADDR_MEMO) addrMemo.clear();
  hit = { family: a.family, text: formatAddr(a) };
  addrMemo.set(addr, hit);
  return hit;
}

/** A selector set's members of one family: host addresses (hash set) and CIDRs (interval set). */
interface SplitOut {
  hosts: List<string>;
  nets: string[];
}

interface SplitState {
  members: List<string>;
  /** Distinct members (the whole selector, both families); undefined when canonical. */
  present: Set<string> | undefined;
  /** `members` lists each member once (patching needs it; otherwise the split is recomputed). */
  unique: boolean;
  /** Host text of the family → number of distinct members that give it (spellings may differ);
   *  undefined for a canonical state (see canonicalSplit), with `present` undefined too. */
  hostCount: Map<string, number> | undefined;
  out: SplitOut;
}

function hostOf(m: string, family: Family, where: string): string | undefined | null {
  const c = parseCidrOrBug(m, where);
  if (c.family !== family) return undefined;
  return isHostCidr(c) ? formatAddr({ family, value: c.base }) : null;
}

/**
 * Whether the split of `members` is canonical: members distinct, and each member of the family
 * either a CIDR (a net) or exactly the text of one host of `out.hosts` plus "/32" or "/128", one
 * member per host. The engine and the agent produce such lists (canonical CIDR texts, sorted,
 * unique), and then a patch needs no index: a host comes or goes exactly when its member does,
 * which binary searches in the hosts confirm. The index it saves (a Set of every member and a
 * Map of every host, per selector set and family) was ~170 MB of the agent's heap at 100k pods.
 */
function canonicalSplit(members: List<string>, out: SplitOut, family: Family): boolean {
  const suffix = family === 4 ? "/32" : "/128";
  const seen = new Set<string>();
  let hostMembers = 0;
  const hosts = out.hosts;
  for (const m of members) {
    if (seen.has(m)) return false;
    seen.add(m);
    if (m.includes(":") !== (family === 6)) continue;
    if (m.endsWith(suffix) && sortedListHas(hosts, m.slice(0, -suffix.length))) hostMembers++;
    else if (hostOf(m, family, "selector member") !== null) return false; // a host in another spelling
  }
  return hostMembers === hosts.length;
}

function newSplitState(members: List<string>, out: SplitOut, family: Family): SplitState {
  if (canonicalSplit(members, out, family)) return { members, present: undefined, unique: true, hostCount: undefined, out };
  const present = new Set(members);
  const hostCount = new Map<string, number>();
  // Count by parsing only where the spelling is not already the host text + "/32" or "/128".
  const suffix = family === 4 ? "/32" : "/128";
  const hosts = new Set(out.hosts);
  for (const m of present) {
    // IPv6 text always holds a colon and IPv4 text never does.
    if (m.includes(":") !== (family === 6)) continue;
    let h: string | undefined | null = m.endsWith(suffix) ? m.slice(0, -suffix.length) : undefined;
    if (h === undefined || !hosts.has(h)) h = hostOf(m, family, "selector member");
    if (typeof h === "string") hostCount.set(h, (hostCount.get(h) ?? 0) + 1);
  }
  return { members, present, unique: present.size === members.length, hostCount, out };
}

/** Patches `st` in place to `members`; undefined when a CIDR of the family changed or a list
 *  holds a member twice (recompute). Cost follows the change, not the set's size: the lists are
 *  compared with diffLists (pointer comparisons over the shared runs) and the hosts patched by
 *  binary search (set-patch.ts). */
/** The last diff from each member list: both families' splits of a set patch from the same two
 *  lists (their `present` sets are equal: both hold the whole selector's members), so the second
 *  reuses the first's diff. Keyed weakly by the previous list, which is dropped with it. */
const lastDiff = new WeakMap<List<string>, { after: List<string>; removed: string[]; added: string[]; unique: boolean }>();

/**
 * patchSplit for a canonical state: from the producer's record of the edit only (none: the split is
 * recomputed). Every changed member of the family must be a host in its canonical spelling whose
 * host is in the hosts (removed) or not (added); anything else recomputes the split.
 */
function patchCanonicalSplit(st: SplitState, members: List<string>, family: Family, where: string): SplitState | undefined {
  const d = memberDeltaFrom(members, st.members);
  if (!d) return undefined;
  const suffix = family === 4 ? "/32" : "/128";
  const removed = new Set(d.removed);
  const added = new Set(d.added);
  const hostOfMember = (m: string): string | undefined | null => {
    if (m.includes(":") !== (family === 6)) return undefined;
    const h = hostOf(m, family, where);
    return typeof h === "string" && h + suffix === m ? h : null; // a net, or another spelling
  };
  const gone: string[] = [];
  const come: string[] = [];
  for (const m of removed) {
    if (added.has(m)) continue;
    const h = hostOfMember(m);
    if (h === null || (h !== undefined && !sortedListHas(st.out.hosts, h))) return undefined;
    if (h !== undefined) gone.push(h);
  }
  for (const m of added) {
    if (removed.has(m)) continue;
    const h = hostOfMember(m);
    if (h === null || (h !== undefined && sortedListHas(st.out.hosts, h))) return undefined;
    if (h !== undefined) come.push(h);
  }
  if (new Set(come).size !== come.length) return undefined;
  st.members = members;
  st.out = { hosts: patchSortedStrings(st.out.hosts, gone, come), nets: st.out.nets };
  return st;
}

function patchSplit(st: SplitState, members: List<string>, family: Family, where: string): SplitState | undefined {
  if (!st.unique) return undefined;
  if (!st.hostCount || !st.present) return patchCanonicalSplit(st, members, family, where);
  let d = lastDiff.get(st.members);
  if (!d || d.after !== members) lastDiff.set(st.members, (d = { after: members, ...diffLists(st.members, members, st.present, String) }));
  const { removed, added, unique } = d;
  if (!unique) return undefined;
  // Classify first: a CIDR change means recompute, and nothing may have been modified by then.
  const rem = removed.map((m) => hostOf(m, family, where));
  const add = added.map((m) => hostOf(m, family, where));
  if (rem.includes(null) || add.includes(null)) return undefined;
  const hostCount = st.hostCount;
  const gone: string[] = [];
  const come: string[] = [];
  for (const h of rem) {
    if (typeof h !== "string") continue;
    const n = hostCount.get(h) ?? 0;
    if (n <= 1) {
      hostCount.delete(h);
      gone.push(h);
    } else hostCount.set(h, n - 1);
  }
  for (const h of add) {
    if (typeof h !== "string") continue;
    const n = hostCount.get(h) ?? 0;
    hostCount.set(h, n + 1);
    if (n === 0) come.push(h);
  }
  for (const m of removed) st.present.delete(m);
  for (const m of added) st.present.add(m);
  // A host that went (one spelling) and came (another) stays.
  const goneOnly = gone.filter((h) => !come.includes(h));
  const comeOnly = [...new Set(come.filter((h) => !gone.includes(h)))];
  st.members = members;
  // The previous result object belongs to sets already handed out: a new one.
  st.out = { hosts: patchSortedStrings(st.out.hosts, goneOnly, comeOnly), nets: st.out.nets };
  return st;
}

interface PortListState {
  members: List<PortMember>;
  /** portMemberKey of every member (each listed once, else the state is not made); undefined for
   *  a canonical state (see newPortListState), with `count` undefined too. */
  present: Set<string> | undefined;
  /** Element of the family → number of members giving it (ports of one address, spellings). */
  count: Map<string, number> | undefined;
  elements: List<string>;
}

const portMemberKey = (m: PortMember): string => `${m.addr}|${m.protocol}|${m.port}`;

function portElement(kind: "port" | "address", m: PortMember, family: Family, where: string): string | undefined {
  const a = canonicalAddr(m.addr, where);
  if (a.family !== family) return undefined;
  return kind === "port" ? `${a.text} . ${m.protocol} . ${m.port}` : a.text;
}

/**
 * The patching index of a port/address set; undefined when a member is listed twice. Canonical
 * (no index kept) when every member of the family gives its own element: then an element comes
 * or goes exactly when its member does (see canonicalSplit for why that matters).
 */
function newPortListState(kind: "port" | "address", members: List<PortMember>, elements: List<string>, family: Family, where: string): PortListState | undefined {
  const present = new Set<string>();
  const count = new Map<string, number>();
  let shared = false;
  for (const m of members) {
    const k = portMemberKey(m);
    if (present.has(k)) return undefined;
    present.add(k);
    const e = portElement(kind, m, family, where);
    if (e === undefined) continue;
    const n = count.get(e) ?? 0;
    if (n > 0) shared = true;
    count.set(e, n + 1);
  }
  if (!shared && count.size === elements.length) return { members, present: undefined, count: undefined, elements };
  return { members, present, count, elements };
}

/** patchPortList for a canonical state: from the producer's record of the edit only; an element
 *  already there (added) or missing (removed) recomputes the list. */
function patchCanonicalPortList(st: PortListState, kind: "port" | "address", members: List<PortMember>, family: Family, where: string): boolean {
  const d = memberDeltaFrom(members, st.members);
  if (!d) return false;
  const removed = new Map(d.removed.map((m) => [portMemberKey(m), m] as const));
  const added = new Map(d.added.map((m) => [portMemberKey(m), m] as const));
  const gone: string[] = [];
  const come: string[] = [];
  for (const [k, m] of removed) {
    if (added.has(k)) continue;
    const e = portElement(kind, m, family, where);
    if (e === undefined) continue;
    if (!sortedListHas(st.elements, e)) return false;
    gone.push(e);
  }
  for (const [k, m] of added) {
    if (removed.has(k)) continue;
    const e = portElement(kind, m, family, where);
    if (e === undefined) continue;
    if (sortedListHas(st.elements, e)) return false; // another member gives it: no longer one each
    come.push(e);
  }
  if (new Set(come).size !== come.length) return false;
  st.members = members;
  st.elements = patchSortedStrings(st.elements, gone, come);
  return true;
}

/** Patches `st` in place to `members`; false when `members` lists a member twice (recompute). */
function patchPortList(st: PortListState, kind: "port" | "address", members: List<PortMember>, family: Family, where: string): boolean {
  if (!st.present || !st.count) return patchCanonicalPortList(st, kind, members, family, where);
  const { removed, added, unique } = diffLists(st.members, members, st.present, portMemberKey);
  if (!unique) return false;
  const rem = removed.map((m) => portElement(kind, m, family, where));
  const add = added.map((m) => portElement(kind, m, family, where));
  const gone = new Set<string>();
  const come = new Set<string>();
  for (const e of rem) {
    if (e === undefined) continue;
    const n = st.count.get(e) ?? 0;
    if (n <= 1) {
      st.count.delete(e);
      gone.add(e);
    } else st.count.set(e, n - 1);
  }
  for (const e of add) {
    if (e === undefined) continue;
    const n = st.count.get(e) ?? 0;
    st.count.set(e, n + 1);
    if (n === 0) come.add(e);
  }
  for (const m of removed) st.present.delete(portMemberKey(m));
  for (const m of added) st.present.add(portMemberKey(m));
  const goneOnly = [...gone].filter((e) => !come.has(e));
  const comeOnly = [...come].filter((e) => !gone.has(e));
  st.members = members;
  // The previous array belongs to sets already handed out: patchSortedStrings makes a new one.
  st.elements = patchSortedStrings(st.elements, goneOnly, comeOnly);
  return true;
}

/** Long element lists cut into chunks when made, so that their first patch (a pod add) copies one
 *  chunk; short ones stay arrays. */
function longCut(xs: string[]): List<string> {
  return xs.length > 2 * CHUNK ? ChunkedList.cut(xs) : xs;
}

export function sortUnique(xs: string[]): string[] {
  return [...new Set(xs)].sort();
}

// ------------------------------------------------------------------------------------ one rule

/** Cross product: every combination of one alternative from each group. */
function product(groups: DpMatch[][][]): DpMatch[][] {
  let acc: DpMatch[][] = [[]];
  for (const g of groups) {
    const next: DpMatch[][] = [];
    for (const a of acc) for (const alt of g) next.push([...a, ...alt]);
    acc = next;
  }
  return acc;
}

const portKey = (side: Side): KeyField => (side === "src" ? "sport" : "dport");
const addrKey = (side: Side): KeyField => (side === "src" ? "saddr" : "daddr");

/**
 * The kernel conditions of one IR rule in one family, as alternatives (each a conjunction).
 * Empty array: the rule does not exist in this family (or never matches).
 */
export function compileMatch(rule: RuleIR, family: Family, sets: SetRegistry): DpMatch[][] {
  if (rule.neverMatches) return [];
  const m = ruleForFamily(rule.match, family);
  if (!m) return [];
  const where = `rule ${rule.origin.policy} ${rule.origin.direction} ${rule.origin.index}`;
  const common: DpMatch[] = [{ kind: "family", family }];
  if (m.protocol !== undefined) common.push({ kind: "proto", protocols: [m.protocol] });
  if (m.notProtocol !== undefined) common.push({ kind: "proto", protocols: [m.notProtocol], negate: true });
  if (m.icmp) common.push(icmpMatch(family, m.icmp.type, m.icmp.code, false));
  if (m.notIcmp) common.push(icmpMatch(family, m.notIcmp.type, m.notIcmp.code, true));
  const protoCarriesPorts = m.protocol !== undefined && carriesPorts(m.protocol);

  const groups: DpMatch[][][] = [[common]];
  for (const side of ["src", "dst"] as const) {
    const e: EntityMatch = side === "src" ? m.src : m.dst;
    const conj: DpMatch[] = [];
    if (e.nets && e.nets.length > 0) conj.push({ kind: "addr", side, family, cidrs: cidrTexts(e.nets, family, where) });
    if (e.notNets && e.notNets.length > 0) conj.push({ kind: "addr", side, family, cidrs: cidrTexts(e.notNets, family, where), negate: true });
    for (const id of e.notSets ?? []) {
      const [a, n] = sets.selectorParts(id, family);
      conj.push({ kind: "addr-set", side, family, set: a.name, negate: true });
      if (sets.hasNets(id, family)) conj.push({ kind: "addr-set", side, family, set: n.name, negate: true });
    }
    if (e.serviceSet) conj.push(serviceMatch(e.serviceSet, side, family, sets));
    groups.push([conj]);
    // Positive sets: each is "addrs or nets".
    for (const id of e.sets ?? []) {
      const [a, n] = sets.selectorParts(id, family);
      const alts: DpMatch[][] = [[{ kind: "addr-set", side, family, set: a.name }]];
      if (sets.hasNets(id, family)) alts.push([{ kind: "addr-set", side, family, set: n.name }]);
      groups.push(alts);
    }
    // Positive ports: numeric ranges or any named-port set.
    const ranges = e.ports ?? [];
    const named = e.namedPortSets ?? [];
    if (ranges.length > 0 || named.length > 0) {
      const alts: DpMatch[][] = [];
      if (ranges.length > 0) {
        const alt: DpMatch[] = [];
        if (!protoCarriesPorts) alt.push({ kind: "proto", protocols: PORT_PROTOCOLS });
        alt.push({ kind: "port", side, ranges: normRanges(ranges) });
        alts.push(alt);
      }
      for (const id of named) {
        alts.push([{ kind: "concat-set", family, key: [addrKey(side), "l4proto", portKey(side)], set: sets.portSet(id, family).name }]);
      }
      groups.push(alts);
    }
    // Negative ports: all must miss; a portless packet passes.
    const notRanges = e.notPorts ?? [];
    const notNamed = e.notNamedPortSets ?? [];
    if (notRanges.length > 0 || notNamed.length > 0) {
      const misses: DpMatch[] = [];
      if (notRanges.length > 0) misses.push({ kind: "port", side, ranges: normRanges(notRanges), negate: true });
      for (const id of notNamed) {
        misses.push({ kind: "concat-set", family, key: [addrKey(side), "l4proto", portKey(side)], set: sets.portSet(id, family).name, negate: true });
      }
      if (protoCarriesPorts) groups.push([misses]);
      else if (notRanges.length === 0) groups.push([misses]); // concat lookups carry l4proto: exact as is
      else groups.push([[{ kind: "proto", protocols: PORT_PROTOCOLS, negate: true }], [{ kind: "proto", protocols: PORT_PROTOCOLS }, ...misses]]);
    }
  }
  return product(groups).map(dedupe).filter(satisfiable);
}

/**
 * False for conjunctions no packet can meet, which nft refuses to load ("conflicting protocols"):
 * two protocol requirements with nothing in common, or an ICMP match whose family protocol is
 * excluded by the rule's protocol. Such a rule matches nothing in rule/match.ts either (e.g. an
 * ICMPv4 rule without ipVersion, split into the IPv6 family), so omitting it changes no verdict.
 */
export function satisfiable(conj: DpMatch[]): boolean {
  let allowed: Set<number> | undefined;
  const excluded = new Set<number>();
  for (const m of conj) {
    if (m.kind === "proto") {
      if (m.negate) m.protocols.forEach((p) => excluded.add(p));
      else allowed = new Set(m.protocols.filter((p) => !allowed || allowed.has(p)));
    } else if (m.kind === "icmp") {
      const p = m.family === 4 ? 1 : 58;
      allowed = new Set([p].filter((x) => !allowed || allowed.has(x)));
    }
  }
  if (!allowed) return true;
  return [...allowed].some((p) => !excluded.has(p));
}

function serviceMatch(id: SetId, side: Side, family: Family, sets: SetRegistry): DpMatch {
  const s = sets.portSetOrAddress(id, family);
  return s.fields.length === 1
    ? { kind: "addr-set", side, family, set: s.name }
    : { kind: "concat-set", family, key: [addrKey(side), "l4proto", portKey(side)], set: s.name };
}

function icmpMatch(family: Family, type: number, code: number | undefined, negate: boolean): DpMatch {
  const m: DpMatch = { kind: "icmp", family, type };
  if (code !== undefined) m.code = code;
  if (negate) m.negate = true;
  return m;
}

/** Sorted, merged ranges (overlapping or adjacent ranges join; the union is unchanged). */
export function normRanges(ranges: PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first || a.last - b.last);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.first <= last.last + 1) last.last = Math.max(last.last, r.last);
    else out.push({ first: r.first, last: r.last });
  }
  return out;
}

function dedupe(ms: DpMatch[]): DpMatch[] {
  const seen = new Set<string>();
  const out: DpMatch[] = [];
  for (const m of ms) {
    const k = JSON.stringify(m);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(m);
  }
  return out;
}

// ------------------------------------------------------------------------------------ Allow/Deny runs

interface RunCandidate {
  family: Family;
  side: Side;
  set: DpSet;
  protocol: number;
  ports: number[];
}

const MAX_COMPILED_PORTS = 64;

/**
 * **Decision — compile only small products.** A rule joins a compiled lookup only while its share
 * of the concatenated set (addresses × ports) is at most this many elements: the lookup then
 * replaces one kernel rule per ≤ 64 elements. A rule over a popular selector (hundreds of pods)
 * stays a rule of its own, `saddr @selector-set dport {ports}` — one lookup in the shared selector
 * set, which costs per packet what one more concatenated lookup would, and keeps every address in
 * one kernel set instead of copying it into every policy that allows it (at 10k pods those copies
 * were 91 % of the node's set elements). Crossing the limit (a set growing past 64 / ports members)
 * changes the chains of the runs that use the set.
 */
export const MAX_COMPILED_PRODUCT = 64;

/** A rule that can join a compiled lookup: exactly family + one protocol carrying ports + one hash
 *  address set (either side) + destination single ports (its action is checked by the caller). */
function runCandidate(r: DpRule, sets: SetRegistry): RunCandidate | undefined {
  if (r.match.length !== 4) return undefined;
  let family: Family | undefined;
  let protocol: number | undefined;
  let addr: { side: Side; set: DpSet } | undefined;
  let ports: number[] | undefined;
  for (const m of r.match) {
    if (m.kind === "family") family = m.family;
    else if (m.kind === "proto" && !m.negate && m.protocols.length === 1 && carriesPorts(m.protocols[0]!)) protocol = m.protocols[0];
    else if (m.kind === "addr-set" && !m.negate) {
      const s = sets.get(m.set);
      if (!s || s.interval) return undefined;
      addr = { side: m.side, set: s };
    } else if (m.kind === "port" && !m.negate && m.side === "dst" && m.ranges.every((x) => x.first === x.last)) {
      ports = m.ranges.map((x) => x.first);
    } else return undefined;
  }
  if (family === undefined || protocol === undefined || !addr || !ports || ports.length > MAX_COMPILED_PORTS) return undefined;
  if (!sets.compilable(addr.set.name, ports.length)) return undefined;
  return { family, side: addr.side, set: addr.set, protocol, ports };
}

/** The family a kernel rule is restricted to (every policy rule starts with one). */
function familyOf(r: DpRule): Family | undefined {
  for (const m of r.match) if (m.kind === "family") return m.family;
  return undefined;
}

/**
 * Compiles runs of exact rules into set lookups. A run is a maximal sequence of consecutive rules
 * whose action is plain Allow, plain Deny or Pass (`classify`; any other rule — Log, a logged
 * Allow or Deny — ends it: it does not end the evaluation, or it names its own rule). Within a
 * run, rules that look up exactly (one hash address set, one
 * port-carrying protocol, destination single ports, each at most MAX_COMPILED_PRODUCT elements:
 * "candidates") are gathered into segments, one (family, address side) each, and a segment of at
 * least two rules is replaced, at the place of its first rule, by
 *   - one lookup of a concatenated set (address . protocol . port) when its rules have one action:
 *     the set is the union of what they match (the pure-Allow case; same sets as before Deny
 *     runs were compiled);
 *   - one lookup per action when they mix actions: first match is decided per key at compile time
 *     (each key takes the action of the first rule holding it), so the accept, drop and pass sets
 *     are disjoint and their order does not matter.
 *
 * Why this is exact: a rule may move next to the earlier rules of its segment only past rules it
 * commutes with — rules of another family (no packet matches both) or rules with the same action
 * (whichever of the two matches first, the verdict is the same). A candidate that would have to
 * pass a rule of the same family with another action stays where it is (and blocks later ones
 * in turn). Moving rules only that way keeps "the first matching rule decides" for every packet,
 * and a segment whose rules are adjacent is exactly its lookups. A packet that matches no
 * rule of the segment misses every lookup and continues as before.
 *
 * Sets are named after their content (sets, protocols, ports, actions, in order), so runs with the
 * same content — the same policies grouped for several endpoints — share kernel sets.
 */
export function compileRuns(
  rules: DpRule[],
  classify: (r: DpRule) => RunAction | undefined,
  sets: SetRegistry,
  actions: Record<RunAction, Pick<DpRule, "effects" | "verdict">>,
): DpRule[] {
  const out: DpRule[] = [];
  let i = 0;
  while (i < rules.length) {
    if (classify(rules[i]!) === undefined) {
      out.push(rules[i]!);
      i++;
      continue;
    }
    let j = i;
    while (j < rules.length && classify(rules[j]!) !== undefined) j++;
    compileRun(rules.slice(i, j), classify, sets, actions, out);
    i = j;
  }
  return out;
}

interface RunItem {
  rule: DpRule;
  act: RunAction;
  family: Family | undefined;
  c: RunCandidate | undefined;
  /** Segment it was moved into (index into `segments`), or -1. */
  seg: number;
}

function compileRun(
  run: DpRule[],
  classify: (r: DpRule) => RunAction | undefined,
  sets: SetRegistry,
  actions: Record<RunAction, Pick<DpRule, "effects" | "verdict">>,
  out: DpRule[],
): void {
  const items: RunItem[] = run.map((rule) => ({ rule, act: classify(rule)!, family: familyOf(rule), c: runCandidate(rule, sets), seg: -1 }));
  const segments: number[][] = [];
  for (let s = 0; s < items.length; s++) {
    const head = items[s]!;
    if (!head.c || head.seg >= 0) continue;
    const members = [s];
    // Actions of the rules of this family the next member would have to move past.
    const passed = new Set<RunAction>();
    for (let t = s + 1; t < items.length; t++) {
      const it = items[t]!;
      if (it.seg >= 0) continue; // moved into an earlier segment (placed before s)
      if (it.family !== undefined && head.c.family !== undefined && it.family !== head.c.family) continue;
      // Blocked by any passed rule with another action.
      const blocked = passed.size > 1 || (passed.size === 1 && !passed.has(it.act));
      if (it.c && it.c.family === head.c.family && it.c.side === head.c.side && !blocked) {
        members.push(t);
        continue;
      }
      passed.add(it.act);
      if (passed.size > 1) break; // two actions passed block every later rule: keeps a run linear
    }
    if (members.length < 2) continue;
    for (const m of members) items[m]!.seg = segments.length;
    segments.push(members);
  }
  for (let k = 0; k < items.length; k++) {
    const it = items[k]!;
    if (it.seg < 0) out.push(it.rule);
    else if (segments[it.seg]![0] === k) out.push(...compileSegment(segments[it.seg]!.map((m) => items[m]!), sets, actions));
  }
}

type Part = CompiledSetSpec["parts"][number];

function partOf(c: RunCandidate, sets: SetRegistry): Part {
  return { set: sets.specOf(c.set.name) as IrSetSpec, protocol: c.protocol, ports: [...new Set(c.ports)].sort((a, b) => a - b) };
}

const partKey = (p: Part) => JSON.stringify([setSpecName(p.set), p.protocol, p.ports]);

/** Sorted and deduplicated by content (an unordered union). */
function canonicalParts(parts: Part[]): Part[] {
  const m = new Map<string, Part>();
  for (const p of parts) m.set(partKey(p), p);
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
}

function compileSegment(members: RunItem[], sets: SetRegistry, actions: Record<RunAction, Pick<DpRule, "effects" | "verdict">>): DpRule[] {
  const { family, side } = members[0]!.c!;
  const key: KeyField[] = [side === "src" ? "saddr" : "daddr", "l4proto", "dport"];
  const acts = new Set(members.map((m) => m.act));
  const lookup = (spec: CompiledSetSpec, act: RunAction): DpRule => {
    const set = sets.ensure(spec);
    const origins = members.filter((m) => m.act === act).flatMap(({ rule }) => rule.origins ?? (rule.origin ? [rule.origin] : []));
    const r: DpRule = { match: [{ kind: "concat-set", family, key, set: set.name }], ...actions[act], label: `${labelOfOrigins(origins)} (compiled)` };
    if (origins[0]) r.origin = origins[0];
    r.origins = origins;
    return r;
  };
  if (acts.size === 1) {
    const act = members[0]!.act;
    return [lookup({ kind: "compiled", family, parts: canonicalParts(members.map((m) => partOf(m.c!, sets))) }, act)];
  }
  // Parts in rule order; consecutive parts with one action commute, so each such block is
  // canonicalised (sorted, deduplicated) for sharing.
  const parts: Part[] = [];
  let block: Part[] = [];
  let blockAct: RunAction | undefined;
  const flush = () => {
    for (const p of canonicalParts(block)) parts.push({ ...p, action: blockAct! });
    block = [];
  };
  for (const m of members) {
    if (m.act !== blockAct) flush();
    blockAct = m.act;
    block.push(partOf(m.c!, sets));
  }
  flush();
  // One lookup per action, in order of first appearance (the sets are disjoint: any order is exact).
  const order = [...new Set(members.map((m) => m.act))];
  return order.map((act) => lookup({ kind: "compiled", family, parts, keep: act }, act));
}

function labelOfOrigins(origins: RuleOrigin[]): string {
  if (origins.length === 0) return "";
  const o = origins[0]!;
  const idx = [...new Set(origins.filter((x) => x.policy === o.policy).map((x) => x.index))].join(",");
  const where = o.tier ? `${o.tier}/${o.policy}` : o.policy;
  const others = new Set(origins.map((x) => x.policy)).size - 1;
  return `${where} ${o.direction} rules ${idx}${others > 0 ? ` +${others} policies` : ""}`;
}
