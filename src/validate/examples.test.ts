/**
 * The shipped examples must stay valid, and the demo cluster must keep the shape the lab relies
 * on (addresses in the lab ranges, node1, named ports, one policy per tier of the app).
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Pod } from "../model/index.js";
import { cidrContains, parseAddr, parseCidr } from "../rule/index.js";
import { loadManifests } from "./load.js";

const root = fileURLToPath(new URL("../../examples/", import.meta.url));

describe("examples/", () => {
  it("every manifest is valid", () => {
    const r = loadManifests(root);
    expect(r.issues).toEqual([]);
    const kinds = new Set(r.resources.map((x) => `${x.resource.apiVersion} ${x.resource.kind}`));
    for (const k of [
      "projectcalico.org/v3 NetworkPolicy",
      "projectcalico.org/v3 GlobalNetworkPolicy",
      "projectcalico.org/v3 GlobalNetworkSet",
      "projectcalico.org/v3 Tier",
      "networking.k8s.io/v1 NetworkPolicy",
      "v1 Namespace",
      "v1 Pod",
    ]) {
      expect(kinds.has(k), k).toBe(true);
    }
  });

  it("the demo cluster uses the lab address ranges, node1 and named ports", () => {
    const r = loadManifests(`${root}demo`);
    expect(r.issues).toEqual([]);
    const v4 = parseCidr("198.18.0.0/15")!;
    const v6 = parseCidr("fd00:198::/48")!;
    const pods = r.resources.map((x) => x.resource).filter((x): x is Pod => x.kind === "Pod");
    expect(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual([
      "web/frontend-1",
      "web/frontend-2",
      "api/backend-1",
      "api/backend-2",
      "db/database-1",
      "default/debug",
    ]);
    const seen = new Set<string>();
    for (const p of pods) {
      expect(p.spec.nodeName).toBe("node1");
      expect(p.spec.containers.flatMap((c) => c.ports ?? []).every((port) => typeof port.name === "string")).toBe(true);
      const ips = (p.status?.podIPs ?? []).map((x) => parseAddr(x.ip)!);
      expect(ips.map((a) => a.family)).toEqual([4, 6]);
      expect(cidrContains(v4, ips[0]!)).toBe(true);
      expect(cidrContains(v6, ips[1]!)).toBe(true);
      expect(p.status?.podIP).toBe(p.status?.podIPs?.[0]?.ip);
      for (const ip of p.status?.podIPs ?? []) {
        expect(seen.has(ip.ip), `${ip.ip} used twice`).toBe(false);
        seen.add(ip.ip);
      }
    }
    const policies = r.resources.filter((x) => x.resource.kind.endsWith("Policy")).map((x) => x.resource.metadata.name);
    expect(policies.sort()).toEqual(["backend", "database-allow-backend", "default-deny", "frontend"]);
  });
});
