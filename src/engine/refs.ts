import type { EndpointIR } from "../rule/index.js";

/** How a flow end names an endpoint, as explain/matrix print it: "ns/pod", "hep:name", or the
 *  WorkloadEndpoint name. */
export function endpointRef(ep: Pick<EndpointIR, "kind" | "name" | "pod">): string {
  if (ep.kind === "host") return `hep:${ep.name}`;
  if (ep.pod) return ep.pod;
  return ep.name;
}
