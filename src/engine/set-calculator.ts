/**
 * Set registry and set calculator: the rule compiler asks for sets (selector, named port, service)
 * and gets their ids (Felix IPSetData.UniqueID); the calculator then fills in members from the
 * label index, the endpoints' named ports and the EndpointSlices (felix labelindex/
 * named_port_index.go, serviceindex/serviceindex.go).
 */
import type { EndpointSlice } from "../model/index.js";
import {
  canonicalAddr,
  parseCidr,
  PROTO_ANY,
  type NamedPortSetDef,
  type PortMember,
  type SelectorSetDef,
  type ServiceSetDef,
  type SetDef,
  type SetId,
} from "../rule/index.js";
import { makeUniqueId, type Selector } from "../selector/index.js";
import type { EndpointRecord, NetworkSetRecord } from "./endpoint-builder.js";
import type { LabelIndex } from "./label-index.js";

type Request =
  | { kind: "selector"; selector: Selector }
  | { kind: "named-port"; selector: Selector; portName: string; protocol: number }
  | { kind: "service"; namespace: string; name: string; withPorts: boolean };

const PROTO_TEXT: Record<number, string> = { 6: "tcp", 17: "udp", 132: "sctp", [PROTO_ANY]: "any" };

export class SetRegistry {
  readonly requests = new Map<SetId, Request>();

  selector(sel: Selector): SetId {
    const id = sel.uniqueId();
    if (!this.requests.has(id)) this.requests.set(id, { kind: "selector", selector: sel });
    return id;
  }

  /** `protocol`: 6, 17, 132 or PROTO_ANY (rule without protocol). */
  namedPort(sel: Selector, portName: string, protocol: number): SetId {
    const id = makeUniqueId("n", `${sel.uniqueId()},${PROTO_TEXT[protocol] ?? "tcp"},${portName}`);
    if (!this.requests.has(id)) this.requests.set(id, { kind: "named-port", selector: sel, portName, protocol });
    return id;
  }

  service(namespace: string, name: string, withPorts: boolean): SetId {
    const id = makeUniqueId(withPorts ? "svc" : "svcnoport", `${namespace}/${name}`);
    if (!this.requests.has(id)) this.requests.set(id, { kind: "service", namespace, name, withPorts });
    return id;
  }
}

export interface SetInputs {
  /** Only `select` is used: the agent's incremental calculator passes its own membership index. */
  index: Pick<LabelIndex, "select">;
  endpoints: Map<string, EndpointRecord>;
  netsets: Map<string, NetworkSetRecord>;
  slices: EndpointSlice[];
}

/** A member CIDR with its sort key parsed once per calculation (not once per comparison or per
 *  set: a popular endpoint is a member of hundreds of sets). `v`: number for IPv4 (exact below
 *  2^53), bigint for IPv6; never compared across families. */
interface KeyedCidr {
  c: string;
  family: number;
  v: number | bigint;
  prefix: number;
}

function compareKeyed(a: KeyedCidr, b: KeyedCidr): number {
  return a.family - b.family || (a.v < b.v ? -1 : a.v > b.v ? 1 : a.prefix - b.prefix);
}

interface PortEntry {
  m: PortMember;
  a: KeyedCidr;
}

function comparePort(x: PortEntry, y: PortEntry): number {
  return compareKeyed(x.a, y.a) || x.m.protocol - y.m.protocol || x.m.port - y.m.port;
}

/** Per-calculation memo of parsed member texts and per-item member lists. */
class MemberCache {
  private readonly cidrs = new Map<string, KeyedCidr>();
  private readonly itemCidrs = new Map<string, KeyedCidr[]>();

  cidr(c: string): KeyedCidr {
    let k = this.cidrs.get(c);
    if (!k) {
      const p = parseCidr(c)!;
      k = { c, family: p.family, v: p.family === 4 ? Number(p.base) : p.base, prefix: p.prefix };
      this.cidrs.set(c, k);
    }
    return k;
  }

  /** An address, keyed like its host CIDR (same order as parseAddr's value). */
  addr(a: string): KeyedCidr {
    return this.cidr(a.includes(":") ? `${a}/128` : `${a}/32`);
  }

  /** Selector-set members of one labelled item (endpoint IPs as host CIDRs, network set nets). */
  item(id: string, inp: SetInputs): KeyedCidr[] {
    let l = this.itemCidrs.get(id);
    if (l) return l;
    l = [];
    const ep = inp.endpoints.get(id);
    if (ep) for (const ip of ep.ips) l.push(this.addr(ip));
    else {
      const ns = inp.netsets.get(id);
      if (ns) for (const n of ns.nets) l.push(this.cidr(n));
    }
    this.itemCidrs.set(id, l);
    return l;
  }
}

function sortCidrs(keyed: Iterable<KeyedCidr>): string[] {
  // Entries are interned per text, so a Set of entries removes duplicate texts.
  const uniq = [...new Set(keyed)];
  uniq.sort(compareKeyed);
  return uniq.map((x) => x.c);
}

function sortMembers(entries: PortEntry[]): PortMember[] {
  // Last duplicate wins, as before (the objects are equal anyway).
  const seen = new Map<string, PortEntry>();
  for (const e of entries) seen.set(`${e.m.addr}|${e.m.protocol}|${e.m.port}`, e);
  const uniq = [...seen.values()];
  uniq.sort(comparePort);
  return uniq.map((x) => x.m);
}

/** Computes every registered set's members. */
export function calculateSets(reg: SetRegistry, inp: SetInputs): Record<SetId, SetDef> {
  const out: Record<SetId, SetDef> = {};
  const memo = new MemberCache();
  // EndpointSlices by service (kubernetes.io/service-name label).
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of inp.slices) {
    const svc = s.metadata.labels?.["kubernetes.io/service-name"];
    if (!svc) continue;
    const k = `${s.metadata.namespace || "default"}/${svc}`;
    let l = slicesBySvc.get(k);
    if (!l) slicesBySvc.set(k, (l = []));
    l.push(s);
  }
  const ids = [...reg.requests.keys()].sort();
  for (const id of ids) {
    const r = reg.requests.get(id)!;
    if (r.kind === "selector") {
      const members: KeyedCidr[] = [];
      for (const itemId of inp.index.select(r.selector)) for (const k of memo.item(itemId, inp)) members.push(k);
      const def: SelectorSetDef = { kind: "selector", id, selector: r.selector.toString(), members: sortCidrs(members) };
      out[id] = def;
    } else if (r.kind === "named-port") {
      const members: PortEntry[] = [];
      for (const itemId of inp.index.select(r.selector)) {
        const ep = inp.endpoints.get(itemId);
        if (!ep) continue; // network sets have no ports
        for (const np of ep.namedPorts) {
          if (np.name !== r.portName) continue;
          if (r.protocol !== PROTO_ANY && np.protocol !== r.protocol) continue;
          for (const ip of ep.ips) members.push({ m: { addr: ip, protocol: np.protocol, port: np.port }, a: memo.addr(ip) });
        }
      }
      const def: NamedPortSetDef = { kind: "named-port", id, portName: r.portName, protocol: r.protocol, selector: r.selector.toString(), members: sortMembers(members) };
      out[id] = def;
    } else {
      const members: PortEntry[] = [];
      for (const s of slicesBySvc.get(`${r.namespace}/${r.name}`) ?? []) {
        if (s.addressType === "FQDN") continue;
        for (const ep of s.endpoints ?? []) {
          for (const a of ep.addresses ?? []) {
            const addr = canonicalAddr(a);
            if (!addr) continue; // endpoints may hold names
            if (!r.withPorts) {
              members.push({ m: { addr, protocol: 0, port: 0 }, a: memo.addr(addr) });
              continue;
            }
            for (const p of s.ports ?? []) {
              // A slice port without a number means "all ports" in Kubernetes; Felix gives it no
              // membership.
              if (p.port === undefined || p.port === null) continue;
              const proto = p.protocol === "UDP" ? 17 : p.protocol === "SCTP" ? 132 : 6;
              members.push({ m: { addr, protocol: proto, port: p.port }, a: memo.addr(addr) });
            }
          }
        }
      }
      const def: ServiceSetDef = { kind: "service", id, service: { namespace: r.namespace, name: r.name }, withPorts: r.withPorts, members: sortMembers(members) };
      out[id] = def;
    }
  }
  return out;
}
