/**
 * The one table of resource kinds tortie knows: API group, scoping, and the names the CLI accepts
 * (calicoctl's plurals and short names, SEMANTICS.md §7). Everything that needs to tell kinds apart
 * (loader, validator, store keys, CLI) reads this table.
 */
import type { Resource } from "./resources.js";

export interface KindInfo {
  /** Stable identifier used in store keys and code: unique across API groups. */
  id: KindId;
  apiVersion: string;
  kind: string;
  namespaced: boolean;
  /** Lower-case names accepted on the command line (singular, plural, short). */
  names: string[];
}

export type KindId =
  | "NetworkPolicy"
  | "GlobalNetworkPolicy"
  | "StagedNetworkPolicy"
  | "StagedGlobalNetworkPolicy"
  | "StagedKubernetesNetworkPolicy"
  | "Tier"
  | "NetworkSet"
  | "GlobalNetworkSet"
  | "Profile"
  | "HostEndpoint"
  | "WorkloadEndpoint"
  | "KubernetesNetworkPolicy"
  | "Namespace"
  | "Pod"
  | "ServiceAccount"
  | "Service"
  | "EndpointSlice";

const C = "projectcalico.org/v3";

export const KINDS: readonly KindInfo[] = [
  { id: "NetworkPolicy", apiVersion: C, kind: "NetworkPolicy", namespaced: true, names: ["networkpolicy", "networkpolicies", "policy", "policies", "np", "pol", "pols", "cnp"] },
  { id: "GlobalNetworkPolicy", apiVersion: C, kind: "GlobalNetworkPolicy", namespaced: false, names: ["globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps", "globalpolicy", "globalpolicies"] },
  { id: "StagedNetworkPolicy", apiVersion: C, kind: "StagedNetworkPolicy", namespaced: true, names: ["stagednetworkpolicy", "stagednetworkpolicies", "snp", "snps"] },
  { id: "StagedGlobalNetworkPolicy", apiVersion: C, kind: "StagedGlobalNetworkPolicy", namespaced: false, names: ["stagedglobalnetworkpolicy", "stagedglobalnetworkpolicies", "sgnp", "sgnps"] },
  { id: "StagedKubernetesNetworkPolicy", apiVersion: C, kind: "StagedKubernetesNetworkPolicy", namespaced: true, names: ["stagedkubernetesnetworkpolicy", "stagedkubernetesnetworkpolicies", "sknp", "sknps"] },
  { id: "Tier", apiVersion: C, kind: "Tier", namespaced: false, names: ["tier", "tiers"] },
  { id: "NetworkSet", apiVersion: C, kind: "NetworkSet", namespaced: true, names: ["networkset", "networksets", "netset", "netsets"] },
  { id: "GlobalNetworkSet", apiVersion: C, kind: "GlobalNetworkSet", namespaced: false, names: ["globalnetworkset", "globalnetworksets", "gnetset", "gnetsets"] },
  { id: "Profile", apiVersion: C, kind: "Profile", namespaced: false, names: ["profile", "profiles", "pro", "pros"] },
  { id: "HostEndpoint", apiVersion: C, kind: "HostEndpoint", namespaced: false, names: ["hostendpoint", "hostendpoints", "hep", "heps"] },
  { id: "WorkloadEndpoint", apiVersion: C, kind: "WorkloadEndpoint", namespaced: true, names: ["workloadendpoint", "workloadendpoints", "wep", "weps"] },
  { id: "KubernetesNetworkPolicy", apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", namespaced: true, names: ["kubernetesnetworkpolicy", "kubernetesnetworkpolicies", "knp", "knps", "networkpolicies.networking.k8s.io"] },
  { id: "Namespace", apiVersion: "v1", kind: "Namespace", namespaced: false, names: ["namespace", "namespaces", "ns"] },
  { id: "Pod", apiVersion: "v1", kind: "Pod", namespaced: true, names: ["pod", "pods", "po"] },
  { id: "ServiceAccount", apiVersion: "v1", kind: "ServiceAccount", namespaced: true, names: ["serviceaccount", "serviceaccounts", "sa"] },
  { id: "Service", apiVersion: "v1", kind: "Service", namespaced: true, names: ["service", "services", "svc"] },
  { id: "EndpointSlice", apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", namespaced: true, names: ["endpointslice", "endpointslices"] },
];

/** apiVersion → kind → info: two lookups of the document's own texts, no joined key per document
 *  (a full computation reads 175k documents at 100k pods). */
const byApiKind = new Map<string, Map<string, KindInfo>>();
for (const k of KINDS) {
  let byKind = byApiKind.get(k.apiVersion);
  if (!byKind) byApiKind.set(k.apiVersion, (byKind = new Map()));
  byKind.set(k.kind, k);
}
const byId = new Map(KINDS.map((k) => [k.id, k]));
const byName = new Map<string, KindInfo>();
for (const k of KINDS) for (const n of k.names) byName.set(n, k);

/** The kind of a document from its apiVersion and kind, or undefined for kinds tortie does not know. */
export function kindOf(apiVersion: unknown, kind: unknown): KindInfo | undefined {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return undefined;
  return byApiKind.get(apiVersion)?.get(kind);
}

export function kindInfo(id: KindId): KindInfo {
  const k = byId.get(id);
  if (!k) throw new Error(`unknown kind id ${id}`);
  return k;
}

/** Resolves a CLI kind name (case-insensitive, plural and short names, calicoctl style). */
export function kindFromCliName(name: string): KindInfo | undefined {
  const lower = name.toLowerCase();
  return byName.get(lower) ?? byId.get(name as KindId) ?? KINDS.find((k) => k.kind.toLowerCase() === lower && k.apiVersion === C);
}

export function kindIdOf(r: Resource): KindId {
  const k = kindOf(r.apiVersion, r.kind);
  if (!k) throw new Error(`unknown kind ${r.apiVersion}/${r.kind}`);
  return k.id;
}

/** "NetworkPolicy(ns/name)" / "Tier(name)": how messages name a resource, like calicoctl. */
export function describeResource(r: { kind: string; metadata?: { name?: string; namespace?: string } }): string {
  const ns = r.metadata?.namespace;
  const name = r.metadata?.name ?? "<no name>";
  return `${r.kind}(${ns ? `${ns}/` : ""}${name})`;
}
