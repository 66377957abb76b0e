/**
 * Calico's CNI naming of the host side of a pod's veth (cni-plugin k8s.go, also NETNS.md §1):
 * "cali" + the first 11 hex characters of sha1("<namespace>.<pod>"), 15 characters (IFNAMSIZ − 1).
 * The harness plays the CNI plugin, so the one definition lives here; dataplane/naming.ts
 * re-exports it for workload endpoints whose interface name the IR leaves out.
 */
import { createHash } from "node:crypto";

export function caliInterfaceName(namespace: string, pod: string, prefix = "cali"): string {
  return `${prefix}${createHash("sha1").update(`${namespace}.${pod}`).digest("hex").slice(0, 15 - prefix.length)}`;
}
