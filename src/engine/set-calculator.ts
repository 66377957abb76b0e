/**
 * Set registry and set calculator: the rule compiler asks for sets (selector, named port, service)
 * and gets their ids (Felix IPSetData.UniqueID); the calculator then fills in members from the
 * label index, the endpoints' named ports and the EndpointSlices (felix labelindex/
 * named_port_index.go, serviceindex/serviceindex.go).
 */
import type { EndpointSlice } from "../model/index.js";
import {
  canonicalAddr,
  parseAddr,
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

function sortCidrs(cidrs: Iterable<string>): string[] {
  const parsed = [...new Set(cidrs)].map((c) => ({ c, p: parseCidr(c)! }));
  parsed.sort((a, b) => a.p.family - b.p.family || (a.p.base < b.p.base ? -1 : a.p.base > b.p.base ? 1 : a.p.prefix - b.p.prefix));
  return parsed.map((x) => x.c);
}

function sortMembers(ms: PortMember[]): PortMember[] {
  const seen = new Map<string, PortMember>();
  for (const m of ms) seen.set(`${m.addr}|${m.protocol}|${m.port}`, m);
  // Parse each address once, not once per comparison (large named-port sets).
  const keyed = [...seen.values()].map((m) => ({ m, k: parseAddr(m.addr)! }));
  keyed.sort(({ m: a, k: ka }, { m: b, k: kb }) => {
    if (ka.family !== kb.family) return ka.family - kb.family;
    if (ka.value !== kb.value) return ka.value < kb.value ? -1 : 1;
    return a.protocol - b.protocol || a.port - b.port;
  });
  return keyed.map((x) => x.m);
}

/** Computes every registered set's members. */
export function calculateSets(reg: SetRegistry, inp: SetInputs): Record<SetId, SetDef> {
  const out: Record<SetId, SetDef> = {};
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
      const members: string[] = [];
      for (const itemId of inp.index.select(r.selector)) {
        const ep = inp.endpoints.get(itemId);
        if (ep) {
          for (const ip of ep.ips) members.push(ip.includes(":") ? `${ip}/128` : `${ip}/32`);
          continue;
        }
        const ns = inp.netsets.get(itemId);
        if (ns) members.push(...ns.nets);
      }
      const def: SelectorSetDef = { kind: "selector", id, selector: r.selector.toString(), members: sortCidrs(members) };
      out[id] = def;
    } else if (r.kind === "named-port") {
      const members: PortMember[] = [];
      for (const itemId of inp.index.select(r.selector)) {
        const ep = inp.endpoints.get(itemId);
        if (!ep) continue; // network sets have no ports
        for (const np of ep.namedPorts) {
          if (np.name !== r.portName) continue;
          if (r.protocol !== PROTO_ANY && np.protocol !== r.protocol) continue;
          for (const ip of ep.ips) members.push({ addr: ip, protocol: np.protocol, port: np.port });
        }
      }
      const def: NamedPortSetDef = { kind: "named-port", id, portName: r.portName, protocol: r.protocol, selector: r.selector.toString(), members: sortMembers(members) };
      out[id] = def;
    } else {
      const members: PortMember[] = [];
      for (const s of slicesBySvc.get(`${r.namespace}/${r.name}`) ?? []) {
        if (s.addressType === "FQDN") continue;
        for (const ep of s.endpoints ?? []) {
          for (const a of ep.addresses ?? []) {
            const addr = canonicalAddr(a);
            if (!addr) continue; // endpoints may hold names
            if (!r.withPorts) {
              members.push({ addr, protocol: 0, port: 0 });
              continue;
            }
            for (const p of s.ports ?? []) {
              // A slice port without a number means "all ports" in Kubernetes; Felix gives it no
              // membership.
              if (p.port === undefined || p.port === null) continue;
              const proto = p.protocol === "UDP" ? 17 : p.protocol === "SCTP" ? 132 : 6;
              members.push({ addr, protocol: proto, port: p.port });
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
