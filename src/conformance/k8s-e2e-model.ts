/**
 * The Kubernetes upstream network-policy e2e model (test/e2e/network/netpol/model.go), as plain
 * resources: namespaces x, y, z labelled like the e2e framework does, pods a, b, c in each, one
 * container per (port, protocol) with the e2e port names ("serve-80-tcp"), all on node "node1".
 *
 * Addresses are fixed so scenarios can name them: namespace index i (x=1, y=2, z=3), pod index j
 * (a=1, b=2, c=3) → 198.18.i.j and fd00:198::i:j. Both families are assigned (dual stack) so IPv6
 * scenarios can reuse the model; IPv4 is the primary podIP, as in a v4-first dual-stack cluster.
 */
import type { ScenarioResource } from "./types.js";

export const K8S_E2E_NAMESPACES = ["x", "y", "z"] as const;
export const K8S_E2E_PODS = ["a", "b", "c"] as const;
export const K8S_E2E_PORTS = [80, 81] as const;
export const K8S_E2E_PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
export const K8S_E2E_NODE = "node1";

export function k8sE2eIPv4(ns: string, pod: string): string {
  return `198.18.${K8S_E2E_NAMESPACES.indexOf(ns as never) + 1}.${K8S_E2E_PODS.indexOf(pod as never) + 1}`;
}

export function k8sE2eIPv6(ns: string, pod: string): string {
  return `fd00:198::${K8S_E2E_NAMESPACES.indexOf(ns as never) + 1}:${K8S_E2E_PODS.indexOf(pod as never) + 1}`;
}

/** "x/a", "x/b", … "z/c": the order of rows and columns in every e2e truth table. */
export function k8sE2ePodNames(): string[] {
  return K8S_E2E_NAMESPACES.flatMap((ns) => K8S_E2E_PODS.map((p) => `${ns}/${p}`));
}

export function k8sE2eResources(): ScenarioResource[] {
  const out: ScenarioResource[] = [];
  for (const ns of K8S_E2E_NAMESPACES) {
    out.push({
      apiVersion: "v1",
      kind: "Namespace",
      // The API server adds kubernetes.io/metadata.name to every namespace; the e2e adds ns=<name>.
      metadata: { name: ns, labels: { ns, "kubernetes.io/metadata.name": ns } },
    });
  }
  for (const ns of K8S_E2E_NAMESPACES) {
    for (const pod of K8S_E2E_PODS) {
      const containers = K8S_E2E_PORTS.flatMap((port) =>
        K8S_E2E_PROTOCOLS.map((protocol) => ({
          name: `cont-${port}-${protocol.toLowerCase()}`,
          image: "registry.k8s.io/e2e-test-images/agnhost",
          ports: [{ containerPort: port, name: `serve-${port}-${protocol.toLowerCase()}`, protocol }],
        })),
      );
      const v4 = k8sE2eIPv4(ns, pod);
      const v6 = k8sE2eIPv6(ns, pod);
      out.push({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: pod, namespace: ns, labels: { pod } },
        spec: { nodeName: K8S_E2E_NODE, serviceAccountName: "default", containers },
        status: { phase: "Running", podIP: v4, podIPs: [{ ip: v4 }, { ip: v6 }] },
      });
    }
  }
  return out;
}
