/**
 * The flow-log resolver of a dataplane model: which rule an NFLOG prefix stands for (the model's
 * log index) and which endpoint a record belongs to (by interface: a workload's ingress record
 * leaves through its veth, its egress record arrives through it; a host endpoint's the reverse).
 */
import type { FlowLogResolver, PrefixMeaning } from "../flowlog/index.js";
import type { DataplaneModel } from "./model.js";

export function flowLogResolver(model: DataplaneModel): FlowLogResolver {
  const byIface = new Map<string, { key: string; kind: "workload" | "host" }>();
  for (const e of model.endpoints) byIface.set(e.iface, { key: e.key, kind: e.kind });
  return {
    prefix(prefix: string): PrefixMeaning | undefined {
      const e = model.logIndex[prefix];
      if (!e) return undefined;
      if (e.kind === "rule") return { kind: "rule", action: e.action, tier: e.origin.tier, policy: e.origin.policy, direction: e.origin.direction, index: e.origin.index };
      return e;
    },
    endpoint(direction, inIface, outIface) {
      const wl = byIface.get(direction === "ingress" ? outIface : inIface);
      if (wl?.kind === "workload") return wl;
      const host = byIface.get(direction === "ingress" ? inIface : outIface);
      if (host?.kind === "host") return host;
      return undefined;
    },
  };
}
