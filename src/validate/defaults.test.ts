import { describe, expect, it } from "vitest";
import type { Resource } from "../model/index.js";
import { applyDefaults, defaultPolicyTypes } from "./defaults.js";

const res = (o: object) => o as unknown as Resource;
const specOf = (r: Resource) => (r as unknown as { spec: Record<string, unknown> }).spec;

describe("defaultPolicyTypes (SEMANTICS §2.3)", () => {
  it.each([
    [[], [], ["Ingress"]],
    [[{}], [], ["Ingress"]],
    [[], [{}], ["Egress"]],
    [[{}], [{}], ["Ingress", "Egress"]],
    [undefined, undefined, ["Ingress"]],
  ])("ingress %j egress %j → %j", (i, e, want) => {
    expect(defaultPolicyTypes(i, e)).toEqual(want);
  });
});

describe("applyDefaults", () => {
  it("Calico policy: tier, types, tier label, numeric strings, namespace; input untouched", () => {
    const input = {
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkPolicy",
      metadata: { name: "p", labels: { a: "b" } },
      spec: {
        egress: [{ action: "Allow", protocol: "17", notProtocol: "UDP", destination: { ports: ["53", "80:80", "90:99", "dns"] } }],
      },
    };
    const copy = JSON.parse(JSON.stringify(input));
    const out = applyDefaults(res(input)) as unknown as typeof input & { spec: Record<string, unknown> };
    expect(input).toEqual(copy);
    expect(out.metadata).toEqual({ name: "p", namespace: "default", labels: { a: "b", "projectcalico.org/tier": "default" } });
    expect(out.spec.tier).toBe("default");
    expect(out.spec.types).toEqual(["Egress"]);
    expect(out.spec.egress).toEqual([{ action: "Allow", protocol: 17, notProtocol: "UDP", destination: { ports: [53, 80, "90:99", "dns"] } }]);
  });

  it("keeps explicit types, and an explicit namespace", () => {
    const out = applyDefaults(
      res({ apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "p", namespace: "x" }, spec: { tier: "t", types: ["Egress"], ingress: [{ action: "Allow" }] } }),
    );
    expect(out.metadata.namespace).toBe("x");
    expect(specOf(out).types).toEqual(["Egress"]);
    expect(out.metadata.labels).toEqual({ "projectcalico.org/tier": "t" });
  });

  it("staged: stagedAction Set; Delete clears types", () => {
    const set = applyDefaults(res({ apiVersion: "projectcalico.org/v3", kind: "StagedGlobalNetworkPolicy", metadata: { name: "p" }, spec: {} }));
    expect(specOf(set)).toEqual({ tier: "default", stagedAction: "Set", types: ["Ingress"] });
    const del = applyDefaults(res({ apiVersion: "projectcalico.org/v3", kind: "StagedNetworkPolicy", metadata: { name: "p" }, spec: { stagedAction: "Delete", types: ["Ingress"] } }));
    expect(specOf(del)).toEqual({ tier: "default", stagedAction: "Delete" });
  });

  it("Tier: defaultAction Deny; no namespace for cluster-scoped kinds", () => {
    const t = applyDefaults(res({ apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "t" } }));
    expect(t).toEqual({ apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "t" }, spec: { defaultAction: "Deny" } });
  });

  it("Kubernetes NetworkPolicy: podSelector, policyTypes and port protocol as the API server defaults them", () => {
    const k = applyDefaults(
      res({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "k" }, spec: { egress: [{ ports: [{ port: 53 }] }] } }),
    );
    expect(specOf(k)).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"], egress: [{ ports: [{ port: 53, protocol: "TCP" }] }] });
    const only = applyDefaults(res({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "k" }, spec: { podSelector: {} } }));
    expect(specOf(only).policyTypes).toEqual(["Ingress"]);
  });

  it("core kinds: TCP default for ports; defaultNamespace option", () => {
    const pod = applyDefaults(
      res({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [{ name: "c", ports: [{ containerPort: 80 }] }] } }),
      { defaultNamespace: "lab" },
    );
    expect(pod.metadata.namespace).toBe("lab");
    expect((specOf(pod).containers as Array<{ ports: unknown[] }>)[0]!.ports).toEqual([{ containerPort: 80, protocol: "TCP" }]);
  });

  it("removes nulls", () => {
    const out = applyDefaults(res({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "s", labels: null }, spec: { nets: null } }));
    expect(out).toEqual({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "s" }, spec: {} });
  });
});
