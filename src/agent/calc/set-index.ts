/**
 * Membership of the sets the local node needs (Felix labelindex + named_port_index, restricted to
 * active sets). Each active selector or named-port set keeps the ids of the labelled items (every
 * endpoint of the cluster and every network set) its selector matches; a label change re-tests
 * that one item against the active sets only, so it dirties exactly the sets whose membership
 * changed. Members (addresses, ports) are then recomputed per dirty set with the engine's own
 * set calculator, so the definition of "member" stays in one place (engine/set-calculator.ts).
 */
import type { EndpointSlice } from "../../model/index.js";
import { calculateSets, SetRegistry, type EndpointRecord, type NetworkSetRecord } from "../../engine/index.js";
import type { SetDef, SetId } from "../../rule/index.js";

/** A set request as the engine's registry records it (selector, named port or service). */
export type SetRequest = SetRegistry["requests"] extends Map<SetId, infer R> ? R : never;

interface ActiveSet {
  req: SetRequest;
  /** Labelled item ids matched by the selector (selector and named-port sets). */
  members: Set<string>;
  def: SetDef | undefined;
}

/** Same definition: the fields besides `members` (a few short values) and then the members one by
 *  one — cheaper than printing both, which dominated a flush that recomputes big sets. */
function sameDef(a: SetDef | undefined, b: SetDef): boolean {
  if (!a || a.kind !== b.kind || a.members.length !== b.members.length) return false;
  const { members: am, ...ar } = a;
  const { members: bm, ...br } = b;
  if (JSON.stringify(ar) !== JSON.stringify(br)) return false;
  for (let i = 0; i < am.length; i++) {
    const x = am[i]!;
    const y = bm[i]!;
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
   *  set evaluates its selector once per group rather than once per item. */
  labelClasses(): Iterable<{ labels: Readonly<Record<string, string>>; ids: Iterable<string> }>;
}

function serviceOf(req: SetRequest): string | undefined {
  return req.kind === "service" ? `${req.namespace}/${req.name}` : undefined;
}

export class SetIndex {
  private readonly active = new Map<SetId, ActiveSet>();
  /** Sets whose definition must be recomputed at the next flush. */
  private readonly dirty = new Set<SetId>();
  private readonly byService = new Map<string, Set<SetId>>();

  constructor(private readonly src: SetSources) {}

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
      for (const c of this.src.labelClasses()) if (req.selector.matches(c.labels)) for (const id of c.ids) members.add(id);
    } else {
      const svc = serviceOf(req)!;
      let s = this.byService.get(svc);
      if (!s) this.byService.set(svc, (s = new Set()));
      s.add(id);
    }
    this.active.set(id, { req, members, def: undefined });
    this.dirty.add(id);
  }

  deactivate(id: SetId): void {
    const a = this.active.get(id);
    if (!a) return;
    this.active.delete(id);
    this.dirty.delete(id);
    const svc = serviceOf(a.req);
    if (svc) {
      const s = this.byService.get(svc)!;
      s.delete(id);
      if (s.size === 0) this.byService.delete(svc);
    }
  }

  /** An item's effective labels changed (undefined: the item is gone). */
  onItemLabels(item: string, labels: Readonly<Record<string, string>> | undefined): void {
    for (const [id, a] of this.active) {
      if (a.req.kind === "service") continue;
      const now = labels !== undefined && a.req.selector.matches(labels);
      const was = a.members.has(item);
      if (now === was) continue;
      if (now) a.members.add(item);
      else a.members.delete(item);
      this.dirty.add(id);
    }
  }

  /** An item's addresses, nets or named ports changed (labels unchanged). */
  onItemContent(item: string): void {
    for (const [id, a] of this.active) if (a.members.has(item)) this.dirty.add(id);
  }

  onServiceChanged(service: string): void {
    for (const id of this.byService.get(service) ?? []) this.dirty.add(id);
  }

  /** Recomputes dirty sets; returns the ids whose definition changed. All dirty sets go through
   *  one calculateSets call, so the calculator's per-call cache converts each member item once
   *  per flush rather than once per set containing it (a pod add dirties dozens of sets). */
  flush(): SetId[] {
    const changed: SetId[] = [];
    const reg = new SetRegistry();
    const bySelector = new Map<unknown, string[]>();
    const services = new Set<string>();
    for (const id of this.dirty) {
      const a = this.active.get(id);
      if (!a) continue;
      reg.requests.set(id, a.req);
      if (a.req.kind === "service") services.add(serviceOf(a.req)!);
      else bySelector.set(a.req.selector, [...a.members]);
    }
    this.dirty.clear();
    if (reg.requests.size === 0) return changed;
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
        a.def = def;
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
