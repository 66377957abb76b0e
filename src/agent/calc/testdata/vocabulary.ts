/**
 * A small vocabulary of resources for state-sequence tests: each entry is one datastore key with a
 * few alternative values. A state picks, per entry, "absent" or one of its variants. The entries
 * are chosen so that states exercise every dependency the calculation graph tracks: pod labels vs
 * policy and rule selectors, namespace and service-account labels (profiles), synthesised
 * profiles, pods moving between nodes, WorkloadEndpoint overriding a pod's endpoint, host
 * endpoints with forward / preDNAT / untracked policy, network sets, named ports, services,
 * tiers appearing and disappearing, K8s and staged policies.
 */
import type { Resource } from "../../../model/index.js";

export const LOCAL = "node1";

type Variant = Resource;
export interface Entry {
  name: string;
  variants: Variant[];
}

const r = (x: unknown) => x as Resource;

function pod(ns: string, name: string, ip: string, variants: Array<{ labels?: Record<string, string>; node?: string; sa?: string; noIP?: boolean; ports?: boolean; ip6?: string }>): Entry {
  return {
    name: `pod ${ns}/${name}`,
    variants: variants.map((v) =>
      r({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: ns, labels: v.labels ?? {} },
        spec: {
          nodeName: v.node ?? LOCAL,
          ...(v.sa ? { serviceAccountName: v.sa } : {}),
          containers: [{ name: "c", ports: v.ports ? [{ name: "http", containerPort: 8080, protocol: "TCP" }, { name: "dns", containerPort: 53, protocol: "UDP" }] : [] }],
        },
        status: v.noIP ? { phase: "Pending" } : { phase: "Running", podIP: ip, podIPs: [{ ip }, ...(v.ip6 ? [{ ip: v.ip6 }] : [])] },
      }),
    ),
  };
}

function gnp(name: string, specs: unknown[]): Entry {
  return { name: `gnp ${name}`, variants: specs.map((spec) => r({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name }, spec })) };
}

function np(ns: string, name: string, specs: unknown[]): Entry {
  return { name: `np ${ns}/${name}`, variants: specs.map((spec) => r({ apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name, namespace: ns }, spec })) };
}

export const VOCABULARY: Entry[] = [
  pod("ns1", "pod-a", "198.18.1.10", [{ labels: { role: "web" } }, { labels: { role: "db" } }, { labels: { role: "web", env: "prod" }, ports: true, ip6: "fd00:198:0:1::10" }, { labels: { role: "web" }, node: "node2" }]),
  pod("ns1", "pod-b", "198.18.1.11", [{ labels: { role: "db" }, sa: "sa1" }, { labels: { role: "db" }, noIP: true }, { labels: { role: "cache" }, ports: true }]),
  pod("ns2", "pod-c", "198.18.2.10", [{ labels: { role: "web" }, node: "node2" }, { labels: { role: "db" }, node: "node2", ports: true }, { labels: { role: "db" } }]),
  pod("ns2", "pod-d", "198.18.2.11", [{ labels: { env: "prod" } }, { labels: { env: "dev", role: "web" }, node: "node2" }]),
  {
    name: "namespace ns1",
    variants: [r({ apiVersion: "v1", kind: "Namespace", metadata: { name: "ns1", labels: { team: "a" } } }), r({ apiVersion: "v1", kind: "Namespace", metadata: { name: "ns1", labels: { team: "b" } } })],
  },
  { name: "namespace ns2", variants: [r({ apiVersion: "v1", kind: "Namespace", metadata: { name: "ns2", labels: { team: "b" } } })] },
  {
    name: "sa ns1/sa1",
    variants: [r({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "sa1", namespace: "ns1", labels: { tier: "gold" } } }), r({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "sa1", namespace: "ns1" } })],
  },
  {
    name: "profile p1",
    variants: [
      r({ apiVersion: "projectcalico.org/v3", kind: "Profile", metadata: { name: "p1" }, spec: { labelsToApply: { role: "web" }, ingress: [{ action: "Allow", source: { selector: "role == 'db'" } }], egress: [{ action: "Allow" }] } }),
      r({ apiVersion: "projectcalico.org/v3", kind: "Profile", metadata: { name: "p1" }, spec: { labelsToApply: { role: "db" }, ingress: [{ action: "Deny" }] } }),
    ],
  },
  {
    name: "wep ns1/wep1",
    variants: [
      r({ apiVersion: "projectcalico.org/v3", kind: "WorkloadEndpoint", metadata: { name: "node1-k8s-vm1-eth0", namespace: "ns1", labels: { role: "db" } }, spec: { node: LOCAL, orchestrator: "libvirt", workload: "vm1", endpoint: "eth0", interfaceName: "tap1", ipNetworks: ["198.18.1.50/32"], profiles: ["p1"] } }),
      r({ apiVersion: "projectcalico.org/v3", kind: "WorkloadEndpoint", metadata: { name: "node1-k8s-vm1-eth0", namespace: "ns1", labels: { role: "web" } }, spec: { node: "node2", orchestrator: "libvirt", workload: "vm1", endpoint: "eth0", interfaceName: "tap1", ipNetworks: ["198.18.1.50/32"], profiles: ["kns.ns1"] } }),
    ],
  },
  {
    // Same endpoint key as pod ns1/pod-a on node1: the WorkloadEndpoint wins.
    name: "wep overriding pod-a",
    variants: [
      r({ apiVersion: "projectcalico.org/v3", kind: "WorkloadEndpoint", metadata: { name: "node1-k8s-pod--a-eth0", namespace: "ns1", labels: { role: "cache" } }, spec: { node: LOCAL, orchestrator: "k8s", pod: "pod-a", endpoint: "eth0", ipNetworks: ["198.18.1.10/32"], profiles: ["kns.ns1"] } }),
    ],
  },
  {
    name: "hep hep1",
    variants: [
      r({ apiVersion: "projectcalico.org/v3", kind: "HostEndpoint", metadata: { name: "hep1", labels: { host: "yes" } }, spec: { node: LOCAL, interfaceName: "eth9", expectedIPs: ["198.19.255.1"] } }),
      r({ apiVersion: "projectcalico.org/v3", kind: "HostEndpoint", metadata: { name: "hep1", labels: { host: "yes", role: "db" } }, spec: { node: LOCAL, interfaceName: "*", expectedIPs: ["198.19.255.1"], profiles: ["p1"] } }),
      r({ apiVersion: "projectcalico.org/v3", kind: "HostEndpoint", metadata: { name: "hep1", labels: { host: "yes" } }, spec: { node: "node2", interfaceName: "eth9" } }),
    ],
  },
  {
    name: "gnetset gns1",
    variants: [
      r({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "gns1", labels: { role: "db" } }, spec: { nets: ["198.19.0.0/16", "10.1.0.0/16"] } }),
      r({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "gns1", labels: { role: "web" } }, spec: { nets: ["198.19.0.0/16"] } }),
    ],
  },
  {
    name: "netset ns2/ns-set",
    variants: [r({ apiVersion: "projectcalico.org/v3", kind: "NetworkSet", metadata: { name: "ns-set", namespace: "ns2", labels: { role: "db" } }, spec: { nets: ["203.0.113.0/24"] } })],
  },
  {
    name: "tier security",
    variants: [
      r({ apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "security" }, spec: { order: 100 } }),
      r({ apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "security" }, spec: { order: 2_000_000, defaultAction: "Pass" } }),
    ],
  },
  np("ns1", "allow-web", [
    { selector: "role == 'web'", ingress: [{ action: "Allow", protocol: "TCP", source: { selector: "role == 'db'" }, destination: { ports: [80, "http"] } }] },
    { selector: "role == 'web'", order: 10, ingress: [{ action: "Allow", source: { selector: "role in {'db', 'cache'}" } }], egress: [{ action: "Deny", destination: { notSelector: "role == 'db'" } }] },
    { selector: "has(role)", types: ["Ingress"], ingress: [{ action: "Allow", protocol: "UDP", destination: { ports: ["dns"] } }] },
    // A valid selector over a rule that does not compile: the policy is dropped, and the graph
    // finds that out only when it compiles the rules, once the policy selects a local endpoint.
    { selector: "role == 'web'", ingress: [{ action: "Allow", source: { selector: "role ==" } }] },
  ]),
  gnp("deny-db", [
    { selector: "role == 'db'", order: 100, ingress: [{ action: "Deny", source: { namespaceSelector: "team == 'a'" } }, { action: "Allow" }] },
    { selector: "all()", order: 5, egress: [{ action: "Allow", destination: { nets: ["198.19.0.0/16"] } }, { action: "Pass", destination: { selector: "role == 'db'" } }] },
  ]),
  gnp("security.block", [
    { tier: "security", selector: "has(role)", order: 1, ingress: [{ action: "Deny", source: { selector: "role == 'cache'" } }, { action: "Pass" }] },
    { tier: "security", selector: "env == 'prod'", ingress: [{ action: "Allow", source: { serviceAccounts: { selector: "tier == 'gold'" } } }] },
    // Broken rules in a tier that does not exist.
    { tier: "ghost", selector: "has(role)", order: 2, ingress: [{ action: "Dance" }] },
  ]),
  gnp("host-pol", [
    { selector: "has(host)", order: 10, applyOnForward: true, ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: [22] } }], egress: [{ action: "Allow" }] },
    { selector: "has(host)", preDNAT: true, applyOnForward: true, ingress: [{ action: "Deny", source: { nets: ["203.0.113.0/24"] } }] },
    { selector: "has(host)", doNotTrack: true, applyOnForward: true, ingress: [{ action: "Allow", source: { selector: "role == 'db'" } }], egress: [{ action: "Allow" }] },
  ]),
  gnp("svc-pol", [{ selector: "role == 'web'", egress: [{ action: "Allow", destination: { services: { name: "svc1", namespace: "ns1" } } }] }]),
  np("ns2", "staged-like", [{ selector: "all()", ingress: [{ action: "Allow", source: { selector: "role == 'web'", namespaceSelector: "all()" } }] }]),
  {
    name: "snp ns1/staged",
    variants: [r({ apiVersion: "projectcalico.org/v3", kind: "StagedNetworkPolicy", metadata: { name: "staged", namespace: "ns1" }, spec: { selector: "all()", ingress: [{ action: "Deny" }] } })],
  },
  {
    name: "knp ns2/knp",
    variants: [
      r({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "knp", namespace: "ns2" }, spec: { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: "web" } } }], ports: [{ protocol: "TCP", port: 5432 }] }] } }),
      r({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "knp", namespace: "ns2" }, spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } }),
    ],
  },
  {
    name: "slice ns1/svc1-a",
    variants: [
      r({ apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: "svc1-a", namespace: "ns1", labels: { "kubernetes.io/service-name": "svc1" } }, addressType: "IPv4", endpoints: [{ addresses: ["198.18.1.11"] }], ports: [{ name: "http", port: 8080, protocol: "TCP" }] }),
      r({ apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: "svc1-a", namespace: "ns1", labels: { "kubernetes.io/service-name": "svc1" } }, addressType: "IPv4", endpoints: [{ addresses: ["198.18.1.11", "198.18.2.10"] }], ports: [{ name: "http", port: 8080, protocol: "TCP" }] }),
    ],
  },
];

/** A state: per entry, -1 (absent) or a variant index. */
export type StateChoice = number[];

export function stateResources(choice: StateChoice): Resource[] {
  const out: Resource[] = [];
  choice.forEach((v, i) => {
    if (v >= 0) out.push(VOCABULARY[i]!.variants[v % VOCABULARY[i]!.variants.length]!);
  });
  return out;
}
