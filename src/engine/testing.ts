/**
 * Test helpers for the engine (used by *.test.ts here; not exported from index.ts).
 */
import { parseAllDocuments } from "yaml";
import type { Resource } from "../model/index.js";

/** Multi-document YAML → resources (no validation: the engine must cope on its own). */
export function yamlResources(text: string): Resource[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Resource | null)
    .filter((r): r is Resource => r !== null && r !== undefined);
}

export interface PodSpec {
  ns: string;
  name: string;
  ip: string | string[];
  labels?: Record<string, string>;
  node?: string;
  sa?: string;
  ports?: Array<{ name: string; containerPort: number; protocol?: "TCP" | "UDP" | "SCTP" }>;
}

export function pod(p: PodSpec): Resource {
  const ips = Array.isArray(p.ip) ? p.ip : [p.ip];
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: p.name, namespace: p.ns, labels: p.labels ?? {} },
    spec: {
      nodeName: p.node ?? "node1",
      ...(p.sa ? { serviceAccountName: p.sa } : {}),
      containers: [{ name: "c", ports: p.ports ?? [] }],
    },
    status: { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })), phase: "Running" },
  } as Resource;
}

export function namespace(name: string, labels: Record<string, string> = {}): Resource {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } } as Resource;
}
