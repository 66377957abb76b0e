/**
 * Resource types as users write them (projectcalico.org/v3, networking.k8s.io/v1, v1 core,
 * discovery.k8s.io/v1). Field names and optionality follow the upstream APIs. These are the
 * shapes *after* loading and defaulting (see `applyDefaults` in validate/).
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  generation?: number;
  [extra: string]: unknown; // ownerReferences, finalizers, managedFields… pass through
}

export const CALICO_API = "projectcalico.org/v3";
export const K8S_NETWORKING_API = "networking.k8s.io/v1";
export const K8S_CORE_API = "v1";
export const K8S_DISCOVERY_API = "discovery.k8s.io/v1";

// ---------------------------------------------------------------- Calico rule model

export type Action = "Allow" | "Deny" | "Log" | "Pass";
export type PolicyType = "Ingress" | "Egress";
/** Protocol as written: a name (exact case) or a number 1–255 (a numeric string is accepted on input). */
export type ProtocolSpec = string | number;
/** A port as written: number, "min:max" range, or a named port. */
export type PortSpec = number | string;

export interface ICMPFields {
  type?: number;
  code?: number;
}

export interface ServiceAccountMatch {
  names?: string[];
  selector?: string;
}

export interface ServiceMatch {
  name: string;
  namespace?: string;
}

export interface EntityRule {
  nets?: string[];
  notNets?: string[];
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  ports?: PortSpec[];
  notPorts?: PortSpec[];
  serviceAccounts?: ServiceAccountMatch;
  services?: ServiceMatch;
}

export interface HTTPMatch {
  methods?: string[];
  paths?: Array<{ exact?: string; prefix?: string }>;
}

export interface Rule {
  action: Action;
  ipVersion?: 4 | 6;
  protocol?: ProtocolSpec;
  notProtocol?: ProtocolSpec;
  icmp?: ICMPFields;
  notICMP?: ICMPFields;
  source?: EntityRule;
  destination?: EntityRule;
  http?: HTTPMatch;
  metadata?: { annotations?: Record<string, string> };
}

export interface PolicySpecCommon {
  tier?: string;
  order?: number;
  selector?: string;
  serviceAccountSelector?: string;
  types?: PolicyType[];
  ingress?: Rule[];
  egress?: Rule[];
  performanceHints?: string[];
}

export interface NetworkPolicySpec extends PolicySpecCommon {}

export interface GlobalNetworkPolicySpec extends PolicySpecCommon {
  namespaceSelector?: string;
  doNotTrack?: boolean;
  preDNAT?: boolean;
  applyOnForward?: boolean;
}

export type StagedAction = "Set" | "Delete" | "Learn" | "Ignore";

export interface NetworkPolicy {
  apiVersion: typeof CALICO_API;
  kind: "NetworkPolicy";
  metadata: ObjectMeta;
  spec: NetworkPolicySpec;
}
export interface GlobalNetworkPolicy {
  apiVersion: typeof CALICO_API;
  kind: "GlobalNetworkPolicy";
  metadata: ObjectMeta;
  spec: GlobalNetworkPolicySpec;
}
export interface StagedNetworkPolicy {
  apiVersion: typeof CALICO_API;
  kind: "StagedNetworkPolicy";
  metadata: ObjectMeta;
  spec: NetworkPolicySpec & { stagedAction?: StagedAction };
}
export interface StagedGlobalNetworkPolicy {
  apiVersion: typeof CALICO_API;
  kind: "StagedGlobalNetworkPolicy";
  metadata: ObjectMeta;
  spec: GlobalNetworkPolicySpec & { stagedAction?: StagedAction };
}
export interface StagedKubernetesNetworkPolicy {
  apiVersion: typeof CALICO_API;
  kind: "StagedKubernetesNetworkPolicy";
  metadata: ObjectMeta;
  spec: K8sNetworkPolicySpec & { stagedAction?: StagedAction };
}

export interface Tier {
  apiVersion: typeof CALICO_API;
  kind: "Tier";
  metadata: ObjectMeta;
  spec: { order?: number; defaultAction?: "Deny" | "Pass" };
}

export interface NetworkSet {
  apiVersion: typeof CALICO_API;
  kind: "NetworkSet";
  metadata: ObjectMeta;
  spec: { nets?: string[] };
}
export interface GlobalNetworkSet {
  apiVersion: typeof CALICO_API;
  kind: "GlobalNetworkSet";
  metadata: ObjectMeta;
  spec: { nets?: string[] };
}

export interface Profile {
  apiVersion: typeof CALICO_API;
  kind: "Profile";
  metadata: ObjectMeta;
  spec: { ingress?: Rule[]; egress?: Rule[]; labelsToApply?: Record<string, string> };
}

export interface EndpointPort {
  name: string;
  protocol: ProtocolSpec;
  port: number;
}

export interface HostEndpoint {
  apiVersion: typeof CALICO_API;
  kind: "HostEndpoint";
  metadata: ObjectMeta;
  spec: {
    node: string;
    interfaceName?: string;
    expectedIPs?: string[];
    profiles?: string[];
    ports?: EndpointPort[];
  };
}

export interface WorkloadEndpoint {
  apiVersion: typeof CALICO_API;
  kind: "WorkloadEndpoint";
  metadata: ObjectMeta;
  spec: {
    orchestrator?: string;
    workload?: string;
    node?: string;
    containerID?: string;
    pod?: string;
    endpoint?: string;
    serviceAccountName?: string;
    ipNetworks?: string[];
    ipNATs?: Array<{ internalIP: string; externalIP: string }>;
    ipv4Gateway?: string;
    ipv6Gateway?: string;
    profiles?: string[];
    interfaceName?: string;
    mac?: string;
    ports?: Array<EndpointPort & { hostPort?: number; hostIP?: string }>;
    allowSpoofedSourcePrefixes?: string[];
  };
}

// ---------------------------------------------------------------- Kubernetes

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }>;
}

export interface K8sNetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface K8sNetworkPolicyPort {
  protocol?: "TCP" | "UDP" | "SCTP";
  port?: number | string;
  endPort?: number;
}

export interface K8sNetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes?: Array<"Ingress" | "Egress">;
  ingress?: Array<{ from?: K8sNetworkPolicyPeer[]; ports?: K8sNetworkPolicyPort[] }>;
  egress?: Array<{ to?: K8sNetworkPolicyPeer[]; ports?: K8sNetworkPolicyPort[] }>;
}

export interface K8sNetworkPolicy {
  apiVersion: typeof K8S_NETWORKING_API;
  kind: "NetworkPolicy";
  metadata: ObjectMeta;
  spec: K8sNetworkPolicySpec;
}

export interface Namespace {
  apiVersion: typeof K8S_CORE_API;
  kind: "Namespace";
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: "TCP" | "UDP" | "SCTP";
  hostPort?: number;
  hostIP?: string;
}

export interface Pod {
  apiVersion: typeof K8S_CORE_API;
  kind: "Pod";
  metadata: ObjectMeta;
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    hostNetwork?: boolean;
    containers: Array<{ name: string; image?: string; ports?: ContainerPort[]; [extra: string]: unknown }>;
    [extra: string]: unknown;
  };
  status?: {
    podIP?: string;
    podIPs?: Array<{ ip: string }>;
    phase?: string;
    [extra: string]: unknown;
  };
}

export interface ServiceAccount {
  apiVersion: typeof K8S_CORE_API;
  kind: "ServiceAccount";
  metadata: ObjectMeta;
  [extra: string]: unknown;
}

export interface Service {
  apiVersion: typeof K8S_CORE_API;
  kind: "Service";
  metadata: ObjectMeta;
  spec: {
    selector?: Record<string, string>;
    ports?: Array<{ name?: string; protocol?: "TCP" | "UDP" | "SCTP"; port: number; targetPort?: number | string }>;
    clusterIP?: string;
    clusterIPs?: string[];
    type?: string;
    [extra: string]: unknown;
  };
}

export interface EndpointSlice {
  apiVersion: typeof K8S_DISCOVERY_API;
  kind: "EndpointSlice";
  metadata: ObjectMeta; // labels["kubernetes.io/service-name"] names the Service
  addressType: "IPv4" | "IPv6" | "FQDN";
  endpoints: Array<{ addresses: string[]; conditions?: { ready?: boolean }; nodeName?: string; targetRef?: unknown; [extra: string]: unknown }>;
  ports?: Array<{ name?: string; protocol?: "TCP" | "UDP" | "SCTP"; port?: number }>;
}

export type CalicoPolicyResource =
  | NetworkPolicy
  | GlobalNetworkPolicy
  | StagedNetworkPolicy
  | StagedGlobalNetworkPolicy
  | StagedKubernetesNetworkPolicy;

export type Resource =
  | NetworkPolicy
  | GlobalNetworkPolicy
  | StagedNetworkPolicy
  | StagedGlobalNetworkPolicy
  | StagedKubernetesNetworkPolicy
  | Tier
  | NetworkSet
  | GlobalNetworkSet
  | Profile
  | HostEndpoint
  | WorkloadEndpoint
  | K8sNetworkPolicy
  | Namespace
  | Pod
  | ServiceAccount
  | Service
  | EndpointSlice;
