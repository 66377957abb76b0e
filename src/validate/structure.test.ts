import { describe, expect, it } from "vitest";
import { checkStructure } from "./structure.js";

const gnp = (spec: object) => ({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name: "a" }, spec });

describe("checkStructure", () => {
  it.each([
    [{ Selector: "all()" }, 'unknown field "Selector" (did you mean "selector"? field names are case-sensitive)'],
    [{ namespaceSelecter: "all()" }, 'unknown field "namespaceSelecter" (did you mean "namespaceSelector"?)'],
    [{ ingress: [{ action: "Allow", ports: [80] }] }, 'unknown field "ports" (ports belong under source or destination)'],
    [{ ingress: [{ action: "Allow", source: { protocol: "TCP" } }] }, 'unknown field "protocol" (protocol belongs on the rule, next to action)'],
    [{ zzz: 1 }, 'unknown field "zzz"'],
  ])("unknown fields with hints: %j", (spec, message) => {
    expect(checkStructure("GlobalNetworkPolicy", gnp(spec)).map((i) => [i.code, i.message])).toEqual([["unknown-field", message]]);
  });

  it("required fields and types", () => {
    const issues = checkStructure("GlobalNetworkPolicy", gnp({ order: "1", ingress: [{}], egress: {}, preDNAT: "yes" }));
    expect(issues.map((i) => [i.code, i.path.join("."), i.message])).toEqual([
      ["invalid-type", "spec.order", "expected number, got string"],
      ["required", "spec.ingress.0.action", 'missing required field "action"'],
      ["invalid-type", "spec.egress", "expected list, got mapping"],
      ["invalid-type", "spec.preDNAT", "expected boolean, got string"],
    ]);
  });

  it("hints at YAML quoting for booleans and numbers where strings are expected", () => {
    const issues = checkStructure("Namespace", { apiVersion: "v1", kind: "Namespace", metadata: { name: "a", labels: { on: true, v: 1 } } });
    expect(issues.map((i) => i.message)).toEqual([
      "expected string, got boolean; YAML reads unquoted true/false/yes/no/on/off/y/n as booleans, so quote the value",
      "expected string, got integer; quote the value to make it a string",
    ]);
  });

  it("core Kubernetes kinds pass unknown spec/status fields through", () => {
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "a" }, spec: { containers: [{ name: "c", resources: {} }], tolerations: [] }, status: { conditions: [] } };
    expect(checkStructure("Pod", pod)).toEqual([]);
  });
});
