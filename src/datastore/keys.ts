/**
 * Key layout shared by both backends (documented in docs/datastore.md):
 *
 *   /tortie/v1/<plural>/<namespace>/<name>   namespaced kinds
 *   /tortie/v1/<plural>/<name>               cluster-scoped kinds
 *
 * The plural segment is fixed per kind (not derived from the CLI name table) so that renaming CLI
 * aliases can never move stored data.
 */
import { kindInfo, type KindId, type KindInfo } from "../model/index.js";

export const KEY_PREFIX = "/tortie/v1/";

const SEGMENTS: Record<KindId, string> = {
  NetworkPolicy: "networkpolicies",
  GlobalNetworkPolicy: "globalnetworkpolicies",
  StagedNetworkPolicy: "stagednetworkpolicies",
  StagedGlobalNetworkPolicy: "stagedglobalnetworkpolicies",
  StagedKubernetesNetworkPolicy: "stagedkubernetesnetworkpolicies",
  Tier: "tiers",
  NetworkSet: "networksets",
  GlobalNetworkSet: "globalnetworksets",
  Profile: "profiles",
  HostEndpoint: "hostendpoints",
  WorkloadEndpoint: "workloadendpoints",
  KubernetesNetworkPolicy: "kubernetesnetworkpolicies",
  Namespace: "namespaces",
  Pod: "pods",
  ServiceAccount: "serviceaccounts",
  Service: "services",
  EndpointSlice: "endpointslices",
};
const BY_SEGMENT = new Map(Object.entries(SEGMENTS).map(([id, seg]) => [seg, id as KindId]));

export function kindSegment(kind: KindId): string {
  return SEGMENTS[kind];
}

/** Prefix of every key of one kind, or of one namespace of a namespaced kind. */
export function kindPrefix(kind: KindId, namespace?: string): string {
  const base = `${KEY_PREFIX}${SEGMENTS[kind]}/`;
  return namespace !== undefined && kindInfo(kind).namespaced ? `${base}${namespace}/` : base;
}

export function resourceKey(kind: KindId, namespace: string | undefined, name: string): string {
  const info = kindInfo(kind);
  return info.namespaced ? `${KEY_PREFIX}${SEGMENTS[kind]}/${namespace ?? ""}/${name}` : `${KEY_PREFIX}${SEGMENTS[kind]}/${name}`;
}

export interface ParsedKey {
  kind: KindInfo;
  namespace: string | undefined;
  name: string;
}

/** Inverse of resourceKey; undefined for keys outside the layout (other tools' keys are ignored). */
export function parseKey(key: string): ParsedKey | undefined {
  if (!key.startsWith(KEY_PREFIX)) return undefined;
  const parts = key.slice(KEY_PREFIX.length).split("/");
  const id = BY_SEGMENT.get(parts[0] ?? "");
  if (!id) return undefined;
  const kind = kindInfo(id);
  if (kind.namespaced) {
    if (parts.length !== 3 || !parts[1] || !parts[2]) return undefined;
    return { kind, namespace: parts[1], name: parts[2] };
  }
  if (parts.length !== 2 || !parts[1]) return undefined;
  return { kind, namespace: undefined, name: parts[1] };
}
