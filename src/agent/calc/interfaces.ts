/**
 * How the agent finds a workload's host-side interface.
 *
 *   1. A WorkloadEndpoint's `spec.interfaceName` (what the CNI plugin recorded) always wins.
 *   2. Otherwise, for endpoints that belong to a Kubernetes pod (Pods, and WorkloadEndpoints with
 *      orchestrator k8s and a `pod`), Calico's CNI naming of the host veth:
 *      "cali" + the first 11 hex digits of sha1("<namespace>.<pod>") — 15 characters, IFNAMSIZ.
 *
 * Host endpoints use their own `interfaceName` ("*" = all host interfaces) and are never renamed.
 */
import { caliInterfaceName } from "../../dataplane/index.js";
import type { ClusterIR, EndpointIR } from "../../rule/index.js";

export const WORKLOAD_IFACE_PREFIX = "cali";

/** Calico CNI's VethNameForWorkload(namespace, pod); the one implementation lives with the
 *  CNI-like wiring in src/netns and is re-exported by the dataplane, which derives it too. */
export function podInterfaceName(namespace: string, pod: string, prefix = WORKLOAD_IFACE_PREFIX): string {
  return caliInterfaceName(namespace, pod, prefix);
}

/** The endpoint with its interface filled in when rule 2 applies; the same object otherwise. */
export function withWorkloadInterface(ep: EndpointIR, prefix = WORKLOAD_IFACE_PREFIX): EndpointIR {
  if (ep.kind !== "workload" || ep.interfaceName || !ep.pod) return ep;
  const slash = ep.pod.indexOf("/");
  if (slash < 0) return ep;
  return { ...ep, interfaceName: podInterfaceName(ep.pod.slice(0, slash), ep.pod.slice(slash + 1), prefix) };
}

/** The IR with every pod endpoint's interface filled in (used by the from-scratch computation). */
export function withWorkloadInterfaces(ir: ClusterIR, prefix = WORKLOAD_IFACE_PREFIX): ClusterIR {
  return { ...ir, endpoints: ir.endpoints.map((e) => withWorkloadInterface(e, prefix)) };
}
