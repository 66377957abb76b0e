import { describe, expect, it } from "vitest";
import { KINDS } from "../model/index.js";
import { validateResource, validateResources } from "./validate.js";
import { loadManifests } from "./load.js";

/** One valid example of every kind tortie knows. */
const EXAMPLES: Record<string, object> = {
  NetworkPolicy: { spec: { selector: "app == 'db'", ingress: [{ action: "Allow" }] } },
  GlobalNetworkPolicy: { spec: { selector: "all()", egress: [{ action: "Deny" }] } },
  StagedNetworkPolicy: { spec: { stagedAction: "Set" } },
  StagedGlobalNetworkPolicy: { spec: { order: 1 } },
  StagedKubernetesNetworkPolicy: { spec: { podSelector: {} } },
  Tier: { spec: { order: 100 } },
  NetworkSet: { spec: { nets: ["10.0.0.0/8"] } },
  GlobalNetworkSet: { spec: { nets: ["10.0.0.0/8"] } },
  Profile: { spec: { ingress: [{ action: "Allow" }] } },
  HostEndpoint: { spec: { node: "n", interfaceName: "eth0" } },
  WorkloadEndpoint: { spec: { interfaceName: "cali0", ipNetworks: ["198.18.0.1/32"] } },
  KubernetesNetworkPolicy: { spec: { podSelector: {} } },
  Namespace: {},
  Pod: { spec: { containers: [{ name: "c" }] } },
  ServiceAccount: {},
  Service: { spec: { ports: [{ port: 80 }] } },
  EndpointSlice: { addressType: "IPv4", endpoints: [{ addresses: ["198.18.0.1"] }] },
};

describe("validateResource", () => {
  for (const k of KINDS) {
    it(`accepts a valid ${k.id}`, () => {
      const obj = { apiVersion: k.apiVersion, kind: k.kind, metadata: { name: "x", ...(k.namespaced ? { namespace: "ns" } : {}) }, ...EXAMPLES[k.id] };
      expect(validateResource(obj)).toEqual([]);
      // and the same through YAML text, with defaults applied
      const r = loadManifests({ text: JSON.stringify(obj) });
      expect(r.issues).toEqual([]);
      expect(r.resources[0]!.resource.kind).toBe(k.kind);
    });
  }

  it("returns issues with code, path, message, severity and the resource name", () => {
    const issues = validateResource({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkPolicy",
      metadata: { name: "x" },
      spec: { ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: [0] } }], egress: [{ action: "Nope" }] },
    });
    expect(issues).toEqual([
      {
        code: "invalid-port",
        path: ["spec", "ingress", 0, "destination", "ports", 0],
        message: "port 0 is invalid; ports must be between 1 and 65535",
        severity: "error",
        resource: "GlobalNetworkPolicy(x)",
      },
      {
        code: "invalid-action",
        path: ["spec", "egress", 0, "action"],
        message: 'invalid action "Nope"; use one of Allow, Deny, Log, Pass',
        severity: "error",
        resource: "GlobalNetworkPolicy(x)",
      },
    ]);
  });

  it("rejects non-objects and unknown kinds without throwing", () => {
    expect(validateResource(null).map((i) => i.code)).toEqual(["not-an-object"]);
    expect(validateResource([]).map((i) => i.code)).toEqual(["not-an-object"]);
    expect(validateResource({ kind: "Pod" }).map((i) => i.code)).toEqual(["required"]);
    expect(validateResource({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" } }).map((i) => i.code)).toEqual(["unknown-kind"]);
    expect(validateResource({ apiVersion: "projectcalico.org/v3", kind: "Pod", metadata: { name: "a" } })[0]!.message).toContain('use "v1"');
  });

  it("does not modify its input", () => {
    const obj = { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "x" }, spec: { selector: null } };
    const copy = JSON.parse(JSON.stringify(obj));
    validateResource(obj);
    expect(obj).toEqual(copy);
  });
});

describe("validateResources", () => {
  it("reports a resource given twice (same kind, namespace, name), not different kinds", () => {
    const np = { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "a" }, spec: {} };
    const knp = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "a" }, spec: {} };
    const other = { ...np, metadata: { name: "a", namespace: "other" } };
    const issues = validateResources([np, knp, other, { ...np, metadata: { name: "a", namespace: "default" } }]);
    expect(issues.map((i) => i.code)).toEqual(["duplicate-resource"]);
    expect(issues[0]!.message).toContain("resources 1 and 4");
  });
});
