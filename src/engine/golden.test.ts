/**
 * Equality guard for the engine's full computation: the ClusterIR (and issues, skipped pods) of
 * a few generated clusters must hash to the values recorded in testdata/golden-ir.json, which
 * were taken from the engine BEFORE the performance work of issue #7. Any optimisation that
 * changes one bit of the IR fails here; the per-section hashes say which part moved.
 *
 * The generator (bench/gen/cluster.ts) is deterministic; `withHosts` adds host endpoints,
 * forward / preDNAT / untracked policies, a WorkloadEndpoint, a Profile and a Service with its
 * EndpointSlice so the host-program and service-set paths are covered too.
 *
 * Regenerate only when a change of meaning is intended:
 *   TORTIE_UPDATE_GOLDEN=1 npx vitest run src/engine/golden.test.ts
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateCluster } from "../../bench/gen/cluster.js";
import type { Resource } from "../model/index.js";
import { Cluster } from "./cluster.js";

const FILE = join(import.meta.dirname, "testdata", "golden-ir.json");

/** JSON with object keys sorted (arrays keep their order: order is meaning in the IR). */
export function canonicalJSON(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : canonicalJSON(x))).join(",")}]`;
  // What JSON.stringify prints for it (the IR's ChunkedMaps print as records).
  if (typeof (v as { toJSON?: unknown }).toJSON === "function") return canonicalJSON((v as { toJSON(): unknown }).toJSON());
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJSON(o[k])}`).join(",")}}`;
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

function withHosts(rs: Resource[], nodes: string[]): Resource[] {
  const out = [...rs];
  nodes.forEach((n, i) => {
    out.push({
      apiVersion: "projectcalico.org/v3",
      kind: "HostEndpoint",
      metadata: { name: `${n}-eth0`, labels: { host: "true", node: n, rack: `r${i % 2}` } },
      spec: { node: n, interfaceName: "eth0", expectedIPs: [`198.19.200.${i + 1}`], ports: [{ name: "ssh", port: 22, protocol: "TCP" }] },
    } as unknown as Resource);
    if (i === 0) {
      out.push({
        apiVersion: "projectcalico.org/v3",
        kind: "HostEndpoint",
        metadata: { name: `${n}-any`, labels: { host: "true", node: n } },
        spec: { node: n, interfaceName: "*", expectedIPs: [`198.19.201.${i + 1}`], profiles: ["projectcalico-default-allow"] },
      } as unknown as Resource);
    }
  });
  const gnp = (name: string, spec: Record<string, unknown>) =>
    out.push({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name }, spec } as unknown as Resource);
  gnp("host-fwd", { selector: "host == 'true'", applyOnForward: true, types: ["Ingress", "Egress"], ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: [22, "ssh"] } }], egress: [{ action: "Deny", destination: { selector: "feed == 'threat'" } }] });
  gnp("security.host-prednat", { tier: "security", selector: "rack == 'r0'", preDNAT: true, applyOnForward: true, types: ["Ingress"], ingress: [{ action: "Deny", source: { nets: ["10.9.0.0/16"] } }] });
  gnp("platform.host-untracked", { tier: "platform", order: 5, selector: "has(host)", doNotTrack: true, applyOnForward: true, types: ["Ingress", "Egress"], ingress: [{ action: "Allow", protocol: "UDP", destination: { ports: [53] } }], egress: [{ action: "Allow", protocol: "UDP", destination: { ports: [53] } }] });
  gnp("svc-allow", { selector: "all()", types: ["Egress"], egress: [{ action: "Allow", protocol: "TCP", destination: { services: { name: "api", namespace: "ns-0" } } }, { action: "Allow", source: { services: { name: "api", namespace: "ns-0" } } }] });
  out.push({ apiVersion: "projectcalico.org/v3", kind: "Profile", metadata: { name: "vm-profile" }, spec: { labelsToApply: { vm: "yes" }, ingress: [{ action: "Allow", source: { selector: "vm == 'yes'" } }], egress: [{ action: "Allow" }] } } as unknown as Resource);
  out.push({
    apiVersion: "projectcalico.org/v3",
    kind: "WorkloadEndpoint",
    metadata: { name: "vm1", namespace: "ns-0", labels: { app: "vm" } },
    spec: { node: nodes[0], orchestrator: "libvirt", interfaceName: "tap1", ipNetworks: ["198.19.202.1/32", "fd00:198::1/128"], profiles: ["vm-profile"], ports: [{ name: "http", port: 80, protocol: "TCP" }] },
  } as unknown as Resource);
  out.push({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "api-x1", namespace: "ns-0", labels: { "kubernetes.io/service-name": "api" } },
    addressType: "IPv4",
    endpoints: [{ addresses: ["198.18.1.4", "198.18.1.2"] }, { addresses: ["198.18.1.3"] }],
    ports: [{ port: 8080, protocol: "TCP" }, { port: 53, protocol: "UDP" }],
  } as unknown as Resource);
  return out;
}

export interface GoldenCase {
  name: string;
  resources: () => Resource[];
}

export const GOLDEN_CASES: GoldenCase[] = [
  { name: "1k/500 seed 1", resources: () => generateCluster({ pods: 1000, policies: 500, seed: 1 }).resources },
  { name: "2k/1k seed 1", resources: () => generateCluster({ pods: 2000, policies: 1000, seed: 1 }).resources },
  { name: "1k/2k seed 7 (many policies per pod)", resources: () => generateCluster({ pods: 1000, policies: 2000, seed: 7 }).resources },
  {
    name: "1.5k/800 seed 3 + hosts",
    resources: () => {
      const g = generateCluster({ pods: 1500, policies: 800, seed: 3 });
      return withHosts(g.resources, g.nodes);
    },
  },
];

export function goldenDigest(c: Cluster): Record<string, string> {
  const ir = c.ir;
  const parts: Record<string, unknown> = {
    tiers: ir.tiers,
    policies: ir.policies,
    profiles: ir.profiles,
    sets: ir.sets,
    endpoints: ir.endpoints,
    rest: { failsafe: ir.failsafe, defaultEndpointToHostAction: ir.defaultEndpointToHostAction },
    issues: c.issues,
    skippedPods: [...c.skippedPods],
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parts)) out[k] = sha(canonicalJSON(v));
  // Key order too: the IR is printed as JSON (explain -o json, lab), so it must not move either.
  out.rawJSON = sha(JSON.stringify(parts));
  return out;
}

describe("golden ClusterIR of generated clusters (unchanged by optimisations)", () => {
  const update = process.env.TORTIE_UPDATE_GOLDEN === "1";
  const golden: Record<string, Record<string, string>> = update ? {} : JSON.parse(readFileSync(FILE, "utf8"));
  for (const gc of GOLDEN_CASES) {
    it(gc.name, () => {
      const c = Cluster.fromResources(gc.resources());
      // The cases must exercise what they are meant to (not an empty cluster).
      expect(c.ir.endpoints.length).toBeGreaterThan(900);
      expect(c.ir.endpoints.filter((e) => e.ingress.tiers.length > 0).length).toBeGreaterThan(100);
      if (gc.name.includes("hosts")) {
        const heps = c.ir.endpoints.filter((e) => e.kind === "host");
        expect(heps.length).toBeGreaterThan(1);
        expect(heps.some((e) => e.forward!.ingress.tiers.length > 0 && e.preDNAT!.tiers.length > 0 && e.untracked!.egress.tiers.length > 0)).toBe(true);
        expect(c.ir.sets.valueList().some((s) => s.kind === "service" && s.members.length > 0)).toBe(true);
      }
      const d = goldenDigest(c);
      if (update) golden[gc.name] = d;
      else expect(d).toEqual(golden[gc.name]);
    }, 120_000);
  }
  if (update) it("writes the golden file", () => writeFileSync(FILE, JSON.stringify(golden, null, 2) + "\n"));
});
