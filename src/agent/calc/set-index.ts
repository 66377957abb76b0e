/**
 * Membership of the sets the local node needs (Felix labelindex + named_port_index, restricted to
 * active sets). Each active selector or named-port set keeps the ids of the labelled items (every
 * endpoint of the cluster and every network set) its selector matches; a label change re-tests
 * that one item against the active sets only, so it dirties exactly the sets whose membership
 * changed.
 *
 * Members (addresses, ports) of a dirty set are then patched: the set's previous member list minus
 * what the items that left or changed contributed, plus what the items that entered or changed
 * contribute now (engine/set-delta.ts keeps the engine's canonical order). A member another item
 * of the set still contributes (two endpoints with one address, a network set holding a pod's
 * /32) stays. Work per set is O(changed items × log members) plus one copy of the list.
 *
 * Recomputed whole with the engine's set calculator (the reference definition of "member"):
 *   - a set activated in this flush;
 *   - a set with more changed items than `deltaLimit` (default: 64 or 1/8 of its members,
 *     whichever is more) — a bulk change or a snapshot;
 *   - service sets (they follow EndpointSlices, which change as a whole);
 *   - a set whose order two different members with equal sort keys would decide (not produced
 *     by canonical records; kept as a safety net).
 */
import { CHUNK, ChunkedList, listArray, MultiMap, type EndpointSlice, type List } from "../../model/index.js";
import {
  addrMemberText,
  calculateSets,
  MemberKeys,
  namedPortItemMembers,
  patchSorted,
  portMemberId,
  selectorItemMembers,
  SetRegistry,
  type EndpointRecord,
  type NetworkSetRecord,
} from "../../engine/index.js";
import type { PortMember, SetDef, SetId } from "../../rule/index.js";
import type { Selector } from "../../selector/index.js";
import { PolicySelectorIndex } from "./policy-index.js";

/** A set request as the engine's registry records it (selector, named port or service). */
export type SetRequest = SetRegistry["requests"] extends Map<SetId, infer R> ? R : never;

type ItemRecord = EndpointRecord | NetworkSetRecord;

interface ActiveSet {
  req: SetRequest;
  /** Labelled item ids matched by the selector (selector and named-port sets). */
  members: Set<string>;
  def: SetDef | undefined;
  /** Items whose membership or content changed since the last flush → member at the last flush. */
  pending: Map<string, boolean>;
}

/** How many sets the last flushes patched and recomputed whole (tests, bench, metrics). */
export interface SetUpdateCounts {
  patched: number;
  recomputed: number;
}

/** Same definition: the fields besides `members` (a few short values) and then the members one by
 *  one — cheaper than printing both, which dominated a flush that recomputes big sets. */
function sameDef(a: SetDef | undefined, b: SetDef): boolean {
  if (!a || a.kind !== b.kind || a.members.length !== b.members.length) return false;
  const { members: am, ...ar } = a;
  const { members: bm, ...br } = b;
  if (JSON.stringify(ar) !== JSON.stringify(br)) return false;
  // Both lists are walked together: a patched list is a ChunkedList (no indexing by number).
  const ia = (am as List<string | PortMember>)[Symbol.iterator]();
  const ib = (bm as List<string | PortMember>)[Symbol.iterator]();
  for (let i = 0; i < am.length; i++) {
    const x = ia.next().value!;
    const y = ib.next().value!;
    if (x === y) continue;
    if (typeof x === "string" || typeof y === "string") return false;
    if (x.addr !== y.addr || x.protocol !== y.protocol || x.port !== y.port) return false;
  }
  return true;
}

export interface SetSources {
  endpoints: ReadonlyMap<string, EndpointRecord>;
  netsets: ReadonlyMap<string, NetworkSetRecord>;
  /** EndpointSlices of one service ("ns/name"). */
  slicesOf(service: string): EndpointSlice[];
  /** Labelled items grouped by identical effective labels (replicas share them), so activating a
   *  set evaluates its selector once per group rather than once per item: every group that can
   *  match `sel` (a superset; the caller confirms with the selector). */
  labelClasses(sel: Selector): Iterable<{ labels: Readonly<Record<string, string>>; ids: Iterable<string> }>;
}

function serviceOf(req: SetRequest): string | undefined {
  return req.kind === "service" ? `${req.namespace}/${req.name}` : undefined;
}

export interface SetIndexOptions {
  /** A dirty set with more changed items than this is recomputed whole (default: 64 or 1/8 of
   *  its members, whichever is more). 0: always recompute (the pre-delta behaviour). */
  deltaLimit?: number;
}

export class SetIndex {
  private readonly active = new Map<SetId, ActiveSet>();
  /** Sets whose definition must be recomputed at the next flush. */
  private readonly dirty = new Set<SetId>();
  private readonly byService = new Map<string, Set<SetId>>();
  /** Every item's record as of the last flush: what the current member lists were made from. */
  private readonly applied = new Map<string, ItemRecord>();
  /** Items changed since the last flush (labels, content, or gone). */
  private readonly pendingItems = new Set<string>();
  /** Selector-set member text → items of the cluster contributing it (current records; almost
   *  always one, kept without a Set). */
  private readonly owners = new MultiMap<string, string>();
  private readonly keys = new MemberKeys();
  private readonly cmpCidr = (a: string, b: string) => this.keys.compareCidr(a, b);
  private readonly cmpPort = (a: PortMember, b: PortMember) => this.keys.comparePort(a, b);
  readonly counts: SetUpdateCounts = { patched: 0, recomputed: 0 };
  /** Active selector and named-port sets by a label value their selector requires, so that an
   *  item's label change tests the candidates of its old and new labels, not every active set
   *  (~7k at 100k pods, ~3 ms per pod add). */
  private readonly bySelector = new PolicySelectorIndex<SetId>();
  /** Each item's labels as of its last onItemLabels: every set it is a member of matches them. */
  private readonly itemLabels = new Map<string, Readonly<Record<string, string>>>();

  constructor(
    private readonly src: SetSources,
    private readonly opts: SetIndexOptions = {},
  ) {}

  has(id: SetId): boolean {
    return this.active.has(id);
  }

  get size(): number {
    return this.active.size;
  }

  activate(id: SetId, req: SetRequest): void {
    if (this.active.has(id)) return;
    const members = new Set<string>();
    if (req.kind !== "service") {
      this.bySelector.add(id, req.selector);
      for (const c of this.src.labelClasses(req.selector)) if (req.selector.matches(c.labels)) for (const id of c.ids) members.add(id);
    } else {
      const svc = serviceOf(req)!;
      let s = this.byService.get(svc);
      if (!s) this.byService.set(svc, (s = new Set()));
      s.add(id);
    }
    this.active.set(id, { req, members, def: undefined, pending: new Map() });
    this.dirty.add(id);
  }

  deactivate(id: SetId): void {
    const a = this.active.get(id);
    if (!a) return;
    this.active.delete(id);
    this.dirty.delete(id);
    this.bySelector.remove(id);
    const svc = serviceOf(a.req);
    if (svc) {
      const s = this.byService.get(svc)!;
      s.delete(id);
      if (s.size === 0) this.byService.delete(svc);
    }
  }

  /**
   * An item's effective labels changed (undefined: the item is gone). Every item a set was made
   * with (sources.labelClasses) came through here first with the labels it has there, so the
   * sets it is a member of are among the candidates of its previous labels.
   */
  onItemLabels(item: string, labels: Readonly<Record<string, string>> | undefined): void {
    this.pendingItems.add(item);
    const before = this.itemLabels.get(item);
    if (labels) this.itemLabels.set(item, labels);
    else this.itemLabels.delete(item);
    const ids = labels ? this.bySelector.candidates(labels) : new Set<SetId>();
    if (before) for (const id of this.bySelector.candidates(before)) ids.add(id);
    for (const id of ids) {
      const a = this.active.get(id)!;
      if (a.req.kind === "service") continue; // never indexed
      const now = labels !== undefined && a.req.selector.matches(labels);
      const was = a.members.has(item);
      if (now === was) continue;
      if (!a.pending.has(item)) a.pending.set(item, was);
      if (now) a.members.add(item);
      else a.members.delete(item);
      this.dirty.add(id);
    }
  }

  /** An item's addresses, nets or named ports changed (labels unchanged), or it appeared / went. */
  onItemContent(item: string): void {
    this.pendingItems.add(item);
    const labels = this.itemLabels.get(item);
    if (!labels) return; // in no selector set (service sets follow their slices, onServiceChanged)
    for (const id of this.bySelector.candidates(labels)) {
      const a = this.active.get(id)!;
      if (!a.members.has(item)) continue;
      if (!a.pending.has(item)) a.pending.set(item, true);
      this.dirty.add(id);
    }
  }

  onServiceChanged(service: string): void {
    for (const id of this.byService.get(service) ?? []) this.dirty.add(id);
  }

  private current(item: string): ItemRecord | undefined {
    return this.src.endpoints.get(item) ?? this.src.netsets.get(item);
  }

  /** Brings `owners` from the applied records of changed items to their current ones. */
  private updateOwners(): void {
    for (const item of this.pendingItems) {
      const before = selectorItemMembers(this.applied.get(item));
      const after = selectorItemMembers(this.current(item));
      for (const t of before) if (!after.includes(t)) this.owners.delete(t, item);
      for (const t of after) this.owners.add(t, item);
    }
  }

  private limitOf(a: ActiveSet): number {
    return this.opts.deltaLimit ?? Math.max(64, a.members.size >>> 3);
  }

  /** The set's new members from its pending items, or undefined to recompute it whole. */
  private patch(a: ActiveSet): SetDef | undefined {
    const def = a.def;
    if (!def || def.kind === "service" || a.req.kind === "service" || a.pending.size > this.limitOf(a)) return undefined;
    if (def.kind === "selector") {
      const gone = new Set<string>();
      const came = new Set<string>();
      for (const [item, was] of a.pending) {
        const before = was ? selectorItemMembers(this.applied.get(item)) : [];
        const after = a.members.has(item) ? selectorItemMembers(this.current(item)) : [];
        for (const t of before) if (!after.includes(t)) gone.add(t);
        for (const t of after) if (!before.includes(t)) came.add(t);
      }
      // A member stays while another item of the set still contributes it.
      const remove = [...gone].filter((t) => !came.has(t) && ![...this.owners.get(t)].some((y) => a.members.has(y)));
      const members = patchSorted(def.members, remove, [...came], this.cmpCidr, String);
      if (!members) return undefined;
      return members === def.members ? def : { ...def, members };
    }
    if (a.req.kind !== "named-port") return undefined;
    const { portName, protocol } = a.req;
    const gone = new Map<string, PortMember>();
    const came = new Map<string, PortMember>();
    for (const [item, was] of a.pending) {
      const before = was ? namedPortItemMembers(this.applied.get(item), portName, protocol) : [];
      const after = a.members.has(item) ? namedPortItemMembers(this.current(item), portName, protocol) : [];
      const afterIds = new Set(after.map(portMemberId));
      const beforeIds = new Set(before.map(portMemberId));
      for (const m of before) if (!afterIds.has(portMemberId(m))) gone.set(portMemberId(m), m);
      for (const m of after) if (!beforeIds.has(portMemberId(m))) came.set(portMemberId(m), m);
    }
    const stillThere = (m: PortMember, id: string): boolean => {
      for (const y of this.owners.get(addrMemberText(m.addr))) {
        if (!a.members.has(y)) continue;
        if (namedPortItemMembers(this.current(y), portName, protocol).some((x) => portMemberId(x) === id)) return true;
      }
      return false;
    };
    const remove = [...gone].filter(([id, m]) => !came.has(id) && !stillThere(m, id)).map(([, m]) => m);
    const members = patchSorted(def.members, remove, [...came.values()], this.cmpPort, portMemberId);
    if (!members) return undefined;
    return members === def.members ? def : { ...def, members };
  }

  /** Brings dirty sets up to date; returns the ids whose definition changed. Sets that cannot be
   *  patched go through one calculateSets call, so the calculator's per-call cache converts each
   *  member item once per flush rather than once per set containing it. */
  flush(): SetId[] {
    const changed: SetId[] = [];
    this.updateOwners();
    const reg = new SetRegistry();
    const bySelector = new Map<unknown, string[]>();
    const services = new Set<string>();
    for (const id of this.dirty) {
      const a = this.active.get(id);
      if (!a) continue;
      const patched = this.patch(a);
      a.pending.clear();
      if (patched) {
        this.counts.patched++;
        if (patched !== a.def) {
          a.def = patched;
          changed.push(id);
        }
        continue;
      }
      reg.requests.set(id, a.req);
      if (a.req.kind === "service") services.add(serviceOf(a.req)!);
      else bySelector.set(a.req.selector, [...a.members]);
    }
    this.dirty.clear();
    for (const item of this.pendingItems) {
      const rec = this.current(item);
      if (rec) this.applied.set(item, rec);
      else this.applied.delete(item);
    }
    this.pendingItems.clear();
    if (reg.requests.size === 0) return changed;
    this.counts.recomputed += reg.requests.size;
    const defs = calculateSets(reg, {
      index: {
        select: (sel) => {
          const m = bySelector.get(sel);
          if (!m) throw new Error("set index: selector of a dirty set not found");
          return m;
        },
      },
      endpoints: this.src.endpoints as Map<string, EndpointRecord>,
      netsets: this.src.netsets as Map<string, NetworkSetRecord>,
      slices: [...services].flatMap((svc) => this.src.slicesOf(svc)),
    });
    for (const id of reg.requests.keys()) {
      const a = this.active.get(id)!;
      const def = defs[id]!;
      if (!sameDef(a.def, def)) {
        // Cut long member lists now: their first patch then copies a chunk, not 100k members, in
        // the path of the change that causes it.
        a.def = def.members.length > 2 * CHUNK ? ({ ...def, members: ChunkedList.cut(listArray<string | PortMember>(def.members)) } as SetDef) : def;
        changed.push(id);
      }
    }
    return changed;
  }

  def(id: SetId): SetDef | undefined {
    return this.active.get(id)?.def;
  }

  /** Total members over active sets (for metrics). */
  memberCount(): number {
    let n = 0;
    for (const a of this.active.values()) n += a.def ? a.def.members.length : 0;
    return n;
  }
}
