import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Rule } from "../model/index.js";
import { parseSelector } from "../selector/index.js";
import { legacyToNetworkPolicy, parseLegacyPolicy } from "./legacy.js";

const NS = { namespace: "testNamespace" };
const ORCH = "projectcalico.org/orchestrator == 'k8s'";
const lbl = (k: string, v: string) => `${ORCH} && ${k} == '${v}'`;

function one(statement: string): Rule {
  const r = parseLegacyPolicy(statement, NS);
  expect(r.issues).toEqual([]);
  expect(r.rules).toHaveLength(1);
  return r.rules[0];
}

/** The cases of calico_cni/tests/unit/test_policy_parser.py, with the v3 rule each becomes. */
describe("parseLegacyPolicy: valid statements", () => {
  it.each([
    ["allow from cidr 172.24.114.0/24 to cidr 1.2.3.4", { action: "Allow", source: { nets: ["172.24.114.0/24"] }, destination: { nets: ["1.2.3.4/32"] } }],
    ["allow from label A=B", { action: "Allow", source: { selector: lbl("A", "B") } }],
    ["allow", { action: "Allow" }],
    [
      "allow udp from ports 443 cidr 1.2.3.4/32 to ports 80,90,100",
      { action: "Allow", protocol: "UDP", source: { nets: ["1.2.3.4/32"], ports: [443] }, destination: { ports: [80, 90, 100] } },
    ],
    ["allow udp to cidr 1.2.0.0/16", { action: "Allow", protocol: "UDP", destination: { nets: ["1.2.0.0/16"] } }],
    ["allow tcp from label test=label to ports 80,90,100", { action: "Allow", protocol: "TCP", source: { selector: lbl("test", "label") }, destination: { ports: [80, 90, 100] } }],
    ["allow tcp to ports 80,90,100 label test=label", { action: "Allow", protocol: "TCP", destination: { selector: lbl("test", "label"), ports: [80, 90, 100] } }],
    [
      "allow icmp type 8 code 2 from label A=B to cidr 1.2.0.0/16",
      { action: "Allow", protocol: "ICMP", icmp: { type: 8, code: 2 }, source: { selector: lbl("A", "B") }, destination: { nets: ["1.2.0.0/16"] } },
    ],
    ["allow icmp type 8 from cidr 1.2.0.0/16", { action: "Allow", protocol: "ICMP", icmp: { type: 8 }, source: { nets: ["1.2.0.0/16"] } }],
    // From the user documentation.
    ["allow tcp from label role=backend", { action: "Allow", protocol: "TCP", source: { selector: lbl("role", "backend") } }],
    ["allow tcp from label access=true to ports 80", { action: "Allow", protocol: "TCP", source: { selector: lbl("access", "true") }, destination: { ports: [80] } }],
    ["allow tcp to ports 4001,443", { action: "Allow", protocol: "TCP", destination: { ports: [4001, 443] } }],
    // Grammar corners that docopt accepts.
    ["allow from", { action: "Allow" }],
    ["allow tcp from to", { action: "Allow", protocol: "TCP" }],
    ["allow icmp", { action: "Allow", protocol: "ICMP" }],
    ["  allow\ttcp  to\u00a0ports 8080:8090 ", { action: "Allow", protocol: "TCP", destination: { ports: ["8080:8090"] } }],
    ["allow tcp to ports +080,0", { action: "Allow", protocol: "TCP", destination: { ports: [80, 0] } }],
    ["allow from cidr 10.1.2.3/16", { action: "Allow", source: { nets: ["10.1.0.0/16"] } }],
    ["allow from cidr 10/8", { action: "Allow", source: { nets: ["10.0.0.0/8"] } }],
    ["allow from cidr 10.0.0.0/255.255.0.0", { action: "Allow", source: { nets: ["10.0.0.0/16"] } }],
    ["allow from cidr 2001:DB8::1/64", { action: "Allow", source: { nets: ["2001:db8::/64"] } }],
    ["allow from label a.b/c-d_e=v.1-x_y", { action: "Allow", source: { selector: lbl("a.b/c-d_e", "v.1-x_y") } }],
    ["allow icmp type 254 code 0", { action: "Allow", protocol: "ICMP", icmp: { type: 254, code: 0 } }],
  ] as Array<[string, Rule]>)("%j", (statement, want) => {
    const got = one(statement);
    expect(got).toEqual(want);
    for (const side of [got.source, got.destination]) if (side?.selector) expect(() => parseSelector(side.selector!)).not.toThrow();
  });

  it("several statements separated by ';' give rules in order", () => {
    const r = parseLegacyPolicy("allow from label role=backend; allow tcp to ports 2379,443", NS);
    expect(r.issues).toEqual([]);
    expect(r.rules).toEqual([
      { action: "Allow", source: { selector: lbl("role", "backend") } },
      { action: "Allow", protocol: "TCP", destination: { ports: [2379, 443] } },
    ]);
  });

  it("'deny' parses but, as in the original, produces an Allow rule (with a warning)", () => {
    const r = parseLegacyPolicy("deny tcp from label a=b", NS);
    expect(r.rules).toEqual([{ action: "Allow", protocol: "TCP", source: { selector: lbl("a", "b") } }]);
    expect(r.issues.map((i) => [i.code, i.severity])).toEqual([["legacy-deny-is-allow", "warning"]]);
  });
});

describe("parseLegacyPolicy: invalid statements (test_parse_errors and validation)", () => {
  it.each([
    ["allow icmp type code 4", /unexpected "4"/],
    ["allow icmp type ten code 4", /invalid ICMP type "ten"/],
    ["allow tcp from label test_label to ports 80,90,100", /invalid label "test_label"/],
    ["allow tcp from udp ports 80,90,100", /unexpected "udp"/],
    ["reject tcp from ports 1", /expected allow or deny, found "reject"/],
    ["allow udp to ports 80 from label A=B", /unexpected "from"/],
    ["allow udp to ports 80,Y,100", /invalid port "Y"/],
    ["", /empty statement/],
    ["allow lldp from label A=B", /unexpected "lldp"/],
    ["allow from label", /unexpected "label"/],
    ["allow from cidr", /unexpected "cidr"/],
    ["allow from tag testtag", /unexpected "tag"/],
    ["allow from cidr 172.24.500.1", /invalid cidr/],
    ["allow from label some=invalid=label", /invalid label/],
    ["allow from label invalid=char!", /invalid label/],
    ["allow from label =another", /invalid label/],
    ["allow from label missing=", /invalid label/],
    ["allow icmp from ports 80", /unexpected "ports"/],
    ["allow tcp to ports 80:80", /invalid port range "80:80"/],
    ["allow tcp to ports 90:80", /invalid port range/],
    ["allow tcp to ports 65536", /invalid port "65536"/],
    ["allow tcp to ports 80,,81", /invalid port ""/],
    ["allow tcp to ports 1:2:3", /invalid port range/],
    ["allow icmp type 255", /invalid ICMP type "255"/],
    ["allow icmp type 8 code 255", /invalid ICMP code "255"/],
    ["allow tcp to ports -1", /may not start with "-"/],
    ["allow --help", /may not start with "-"/],
    ["allow from cidr 10.0.0.0/33", /invalid cidr/],
    ["allow from cidr 10.0.0.0/255.0.255.0", /invalid netmask/],
    ["allow tcp from label a=b from label c=d", /unexpected "from"/],
    ["ALLOW", /expected allow or deny/],
  ])("%j", (statement, message) => {
    const r = parseLegacyPolicy(statement, NS);
    expect(r.rules).toEqual([]);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0].code).toBe("legacy-policy-invalid");
    expect(r.issues[0].severity).toBe("error");
    expect(r.issues[0].path).toEqual(["metadata", "annotations", "projectcalico.org/policy"]);
    expect(r.issues[0].message).toMatch(message);
  });

  it("a trailing ';' is an empty statement, which the original rejected", () => {
    const r = parseLegacyPolicy("allow tcp;", NS);
    expect(r.rules).toHaveLength(1);
    expect(r.issues.map((i) => i.message)).toEqual([expect.stringMatching(/^statement 2 \(""\): empty statement/)]);
  });

  it("never throws", () => {
    const words = ["allow", "deny", "tcp", "udp", "icmp", "from", "to", "ports", "label", "cidr", "type", "code", "80", "a=b", "1.2.3.4", ";", "-x", "80:90", "x"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...words), { maxLength: 12 }), fc.string(), (ws, junk) => {
        for (const s of [ws.join(" "), junk]) {
          const r = parseLegacyPolicy(s, NS);
          expect(r.rules.length + r.issues.filter((i) => i.severity === "error").length).toBe(s.split(";").length);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe("legacyToNetworkPolicy", () => {
  const base = { namespace: "prod", podName: "web-1", podLabels: { app: "web", tier: "fe" } };

  it("annotation → ingress rules per statement, egress allow all, selector from pod labels", () => {
    const r = legacyToNetworkPolicy("allow tcp from label role=frontend to ports 80; allow icmp", base);
    expect(r.issues).toEqual([]);
    expect(r.policy).toEqual({
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkPolicy",
      metadata: { name: "legacy-web-1", namespace: "prod" },
      spec: {
        selector: `${ORCH} && app == 'web' && tier == 'fe'`,
        types: ["Ingress", "Egress"],
        ingress: [
          { action: "Allow", protocol: "TCP", source: { selector: lbl("role", "frontend") }, destination: { ports: [80] } },
          { action: "Allow", protocol: "ICMP" },
        ],
        egress: [{ action: "Allow" }],
      },
    });
    expect(() => parseSelector(r.policy!.spec.selector!)).not.toThrow();
  });

  it("no annotation: namespace isolation (pods of the same namespace only)", () => {
    const r = legacyToNetworkPolicy(undefined, base);
    expect(r.policy?.spec.ingress).toEqual([{ action: "Allow", source: { selector: ORCH } }]);
  });

  it("kube-system: everything allowed in, annotation ignored with a warning", () => {
    const r = legacyToNetworkPolicy("allow tcp", { ...base, namespace: "kube-system" });
    expect(r.policy?.spec.ingress).toEqual([{ action: "Allow" }]);
    expect(r.issues.map((i) => i.code)).toEqual(["legacy-kube-system"]);
  });

  it("an invalid statement means the pod was never set up: no policy", () => {
    const r = legacyToNetworkPolicy("allow tcp; allow bogus", base);
    expect(r.policy).toBeNull();
    expect(r.issues.map((i) => i.code)).toEqual(["legacy-policy-invalid"]);
  });

  it("explicit selector and name; warning when the selector cannot be narrowed to the pod", () => {
    expect(legacyToNetworkPolicy("allow", { ...base, selector: "app == 'x'", name: "p" }).policy?.metadata.name).toBe("p");
    expect(legacyToNetworkPolicy("allow", { ...base, selector: "app == 'x'" }).policy?.spec.selector).toBe("app == 'x'");
    const r = legacyToNetworkPolicy("allow", { namespace: "prod", podName: "x" });
    expect(r.policy?.spec.selector).toBe(ORCH);
    expect(r.issues.map((i) => i.code)).toEqual(["legacy-broad-selector"]);
  });
});
