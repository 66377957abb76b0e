import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type {
  EntityRule,
  K8sNetworkPolicy,
  K8sNetworkPolicyPeer,
  K8sNetworkPolicySpec,
  LabelSelector,
  Rule,
  StagedKubernetesNetworkPolicy,
} from "../model/index.js";
import { parseSelector } from "../selector/index.js";
import { convertUid, goNormaliseCidr, parseUuid } from "./go-net.js";
import { convertKubernetesNetworkPolicy, k8sSelectorToCalico } from "./k8s-network-policy.js";
import { type CalicoPort, portFromString, portToSpec, simplifyPorts } from "./ports.js";

const UID = "30316465-6365-4463-ad63-3564622d3638";
const ORCH = "projectcalico.org/orchestrator == 'k8s'";
const KV = `${ORCH} && k == 'v' && k2 == 'v2'`;

function np(spec: Partial<K8sNetworkPolicySpec>, name = "test.policy"): K8sNetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace: "default", uid: UID },
    spec: { podSelector: {}, ...spec },
  };
}
const podKV: LabelSelector = { matchLabels: { k: "v", k2: "v2" } };
const labels2: LabelSelector = { matchLabels: { label2: "value2", label: "value" } };

function convert(p: K8sNetworkPolicy | StagedKubernetesNetworkPolicy) {
  const r = convertKubernetesNetworkPolicy(p);
  if (!r.policy) throw new Error(`no policy: ${JSON.stringify(r.issues)}`);
  return { ...r, policy: r.policy };
}

describe("k8sSelectorToCalico (Calico selector conversion table)", () => {
  it.each([
    ["empty pod selector", {}, "pod", ORCH],
    ["empty namespace selector", {}, "namespace", "all()"],
    ["DoesNotExist (ns)", { matchExpressions: [{ key: "toast", operator: "DoesNotExist" }] }, "namespace", "! has(toast)"],
    ["Exists (ns)", { matchExpressions: [{ key: "toast", operator: "Exists" }] }, "namespace", "has(toast)"],
    ["In (ns)", { matchExpressions: [{ key: "toast", operator: "In", values: ["butter", "jam"] }] }, "namespace", "toast in { 'butter', 'jam' }"],
    ["NotIn (ns)", { matchExpressions: [{ key: "toast", operator: "NotIn", values: ["marmite", "milk"] }] }, "namespace", "toast not in { 'marmite', 'milk' }"],
    ["DoesNotExist (pod)", { matchExpressions: [{ key: "toast", operator: "DoesNotExist" }] }, "pod", `${ORCH} && ! has(toast)`],
    ["nil pod selector", undefined, "pod", ORCH],
    ["nil namespace selector", undefined, "namespace", ""],
    ["matchLabels sorted by key, then expressions in order", { matchLabels: { b: "2", a: "1" }, matchExpressions: [{ key: "z", operator: "Exists" }, { key: "y", operator: "In", values: [] }] }, "pod", `${ORCH} && a == '1' && b == '2' && has(z) && y in { '' }`],
  ] as Array<[string, LabelSelector | undefined, "pod" | "namespace", string]>)("%s", (_n, sel, kind, want) => {
    expect(k8sSelectorToCalico(sel, kind)).toBe(want);
    if (want !== "") expect(() => parseSelector(want)).not.toThrow();
  });
});

/** Cases from Calico's conversion_test.go "Test NetworkPolicy conversion". */
describe("convertKubernetesNetworkPolicy", () => {
  it("basic policy: name kept, kind KubernetesNetworkPolicy, tier default, order 1000, sorted matchLabels", () => {
    const { policy, issues } = convert(
      np({ podSelector: labels2, ingress: [{ ports: [{ port: 80 }, { port: "foo" }], from: [{ podSelector: podKV }] }], policyTypes: ["Ingress"] }),
    );
    expect(issues).toEqual([]);
    expect(policy).toEqual({
      apiVersion: "projectcalico.org/v3",
      kind: "KubernetesNetworkPolicy",
      metadata: { name: "test.policy", namespace: "default", uid: "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c" },
      spec: {
        tier: "default",
        order: 1000,
        selector: `${ORCH} && label == 'value' && label2 == 'value2'`,
        types: ["Ingress"],
        ingress: [{ action: "Allow", protocol: "TCP", source: { selector: KV }, destination: { ports: [80, "foo"] } }],
        egress: [],
      },
    });
  });

  it("no ports: no protocol, empty destination", () => {
    const { policy } = convert(np({ podSelector: labels2, ingress: [{ from: [{ podSelector: podKV }] }], policyTypes: ["Ingress"] }));
    expect(policy.spec.ingress).toEqual([{ action: "Allow", source: { selector: KV }, destination: {} }]);
  });

  it("blank port entry: all TCP ports override the numeric ones", () => {
    const { policy } = convert(np({ ingress: [{ ports: [{ port: 80 }, {}], from: [{ podSelector: podKV }] }], policyTypes: ["Ingress"] }));
    expect(policy.spec.ingress).toEqual([{ action: "Allow", protocol: "TCP", source: { selector: KV }, destination: {} }]);
  });

  it("egress with blank ports, and a UDP rule with no peers", () => {
    const { policy } = convert(
      np({
        egress: [{ ports: [{}, { port: 80 }], to: [{ podSelector: podKV }] }, { ports: [{ port: 53, protocol: "UDP" }] }],
        policyTypes: ["Egress"],
      }),
    );
    expect(policy.spec.egress).toEqual([
      { action: "Allow", protocol: "TCP", source: {}, destination: { selector: KV } },
      { action: "Allow", protocol: "UDP", source: {}, destination: { ports: [53] } },
    ]);
    expect(policy.spec.types).toEqual(["Egress"]);
  });

  it("drops rules with invalid ports and reports Calico's reason", () => {
    const { policy, issues } = convert(
      np({
        ingress: [
          { ports: [{ port: 80 }, { port: "foo" }], from: [{ podSelector: podKV }] },
          { ports: [{ port: 80 }, { port: "-50:-1" }], from: [{ podSelector: podKV }] },
        ],
        egress: [
          { ports: [{ port: 80 }, { port: "-22:-3" }], to: [{ podSelector: podKV }] },
          { ports: [{ port: 70000 }] },
          { ports: [{ port: 90, endPort: 80 }] },
          { ports: [{ port: "http", endPort: 90 }] },
        ],
        policyTypes: ["Ingress", "Egress"],
      }),
    );
    expect(policy.spec.ingress).toEqual([{ action: "Allow", protocol: "TCP", source: { selector: KV }, destination: { ports: [80, "foo"] } }]);
    expect(policy.spec.egress).toEqual([]);
    expect(issues.map((i) => [i.code, i.path.join("."), i.message])).toEqual([
      ["k8s-rule-dropped", "spec.ingress.1", "k8s rule couldn't be converted: failed to parse k8s port: invalid port -50:-1: invalid name for named port (-50:-1); Calico drops this rule"],
      ["k8s-rule-dropped", "spec.egress.0", "k8s rule couldn't be converted: failed to parse k8s port: invalid port -22:-3: invalid name for named port (-22:-3); Calico drops this rule"],
      ["k8s-rule-dropped", "spec.egress.1", "k8s rule couldn't be converted: failed to parse k8s port: invalid port 70000: invalid port format (70000); Calico drops this rule"],
      [
        "k8s-rule-dropped",
        "spec.egress.2",
        "k8s rule couldn't be converted: failed to parse k8s port: invalid port 90:80: minimum port number (90) is greater than maximum port number (80) in port range; Calico drops this rule",
      ],
      ["k8s-rule-dropped", "spec.egress.3", "k8s rule couldn't be converted: failed to parse k8s port: invalid port http:90: invalid name for named port (http:90); Calico drops this rule"],
    ]);
    expect(issues.every((i) => i.severity === "warning")).toBe(true);
  });

  it("no rules; default-deny egress", () => {
    const a = convert(np({ podSelector: { matchLabels: { label: "value" } }, policyTypes: ["Ingress"] }));
    expect(a.policy.spec).toMatchObject({ selector: `${ORCH} && label == 'value'`, ingress: [], egress: [], types: ["Ingress"] });
    const b = convert(np({ policyTypes: ["Egress"] }, "testPolicy"));
    expect(b.policy.metadata.name).toBe("testPolicy");
    expect(b.policy.spec).toMatchObject({ selector: ORCH, ingress: [], egress: [], types: ["Egress"] });
  });

  it("multiple peers and ports: one rule per protocol (sorted) × peer (in order)", () => {
    const { policy } = convert(
      np({
        podSelector: { matchLabels: { label: "value" } },
        ingress: [
          {
            ports: [{ port: 90, protocol: "UDP" }, { port: 80, protocol: "TCP" }],
            from: [{ podSelector: { matchLabels: { k: "v" } } }, { podSelector: { matchLabels: { k2: "v2" } } }],
          },
        ],
        policyTypes: ["Ingress"],
      }),
    );
    expect(policy.spec.ingress.map((r) => [r.protocol, r.source?.selector, r.destination?.ports])).toEqual([
      ["TCP", `${ORCH} && k == 'v'`, [80]],
      ["TCP", `${ORCH} && k2 == 'v2'`, [80]],
      ["UDP", `${ORCH} && k == 'v'`, [90]],
      ["UDP", `${ORCH} && k2 == 'v2'`, [90]],
    ]);
  });

  it("DoesNotExist expression in a peer", () => {
    const { policy } = convert(
      np({
        podSelector: labels2,
        ingress: [{ ports: [{ port: 80 }, { port: "foo" }], from: [{ podSelector: { matchExpressions: [{ key: "toast", operator: "DoesNotExist" }] } }] }],
        policyTypes: ["Ingress"],
      }),
    );
    expect(policy.spec.ingress[0].source).toEqual({ selector: `${ORCH} && ! has(toast)` });
  });

  it.each([
    ["namespaceSelector only", { namespaceSelector: { matchLabels: { namespaceRole: "dev" } } }, { selector: ORCH, namespaceSelector: "namespaceRole == 'dev'" }],
    ["nil namespaceSelector", { podSelector: { matchLabels: { k: "v" } } }, { selector: `${ORCH} && k == 'v'` }],
    ["empty namespaceSelector", { namespaceSelector: {} }, { selector: ORCH, namespaceSelector: "all()" }],
    [
      "pod and namespace selectors",
      { namespaceSelector: { matchLabels: { namespaceRole: "dev", namespaceFoo: "bar" } }, podSelector: { matchLabels: { podA: "B", podC: "D" } } },
      { selector: `${ORCH} && podA == 'B' && podC == 'D'`, namespaceSelector: "namespaceFoo == 'bar' && namespaceRole == 'dev'" },
    ],
    ["ipBlock", { ipBlock: { cidr: "192.168.0.0/16" } }, { nets: ["192.168.0.0/16"] }],
    ["ipBlock normalised", { ipBlock: { cidr: "10.1.2.3/16", except: ["10.1.2.3/24", "2001:DB8::1/32"] } }, { nets: ["10.1.0.0/16"], notNets: ["10.1.2.0/24", "2001:db8::/32"] }],
    ["ipBlock wins over selectors", { ipBlock: { cidr: "10.0.0.0/8" }, podSelector: {} }, { nets: ["10.0.0.0/8"] }],
    ["empty peer", {}, { selector: ORCH }],
  ] as Array<[string, K8sNetworkPolicyPeer, EntityRule]>)("peer: %s", (_n, peer, want) => {
    const { policy } = convert(np({ ingress: [{ from: [peer] }], egress: [{ to: [peer] }], policyTypes: ["Ingress", "Egress"] }));
    expect(policy.spec.ingress).toEqual([{ action: "Allow", source: want, destination: {} }]);
    expect(policy.spec.egress).toEqual([{ action: "Allow", source: {}, destination: want }]);
  });

  it("podSelector matchExpressions", () => {
    const { policy } = convert(np({ podSelector: { matchExpressions: [{ key: "k", operator: "In", values: ["v1", "v2"] }] }, policyTypes: ["Ingress"] }));
    expect(policy.spec.selector).toBe(`${ORCH} && k in { 'v1', 'v2' }`);
  });

  it("ports only, and port ranges (endPort)", () => {
    const { policy } = convert(
      np({
        ingress: [{ ports: [{ protocol: "TCP", port: 80 }] }, { ports: [{ protocol: "TCP", port: 32000, endPort: 32768 }] }],
        egress: [{ ports: [{ protocol: "TCP", port: 32000, endPort: 32768 }] }],
        policyTypes: ["Ingress", "Egress"],
      }),
    );
    expect(policy.spec.ingress).toEqual([
      { action: "Allow", protocol: "TCP", source: {}, destination: { ports: [80] } },
      { action: "Allow", protocol: "TCP", source: {}, destination: { ports: ["32000:32768"] } },
    ]);
    expect(policy.spec.egress).toEqual([{ action: "Allow", protocol: "TCP", source: {}, destination: { ports: ["32000:32768"] } }]);
  });

  it("egress ipBlock with ports", () => {
    const { policy } = convert(
      np({
        egress: [
          {
            ports: [{ port: 90, protocol: "UDP" }, { port: 80, protocol: "TCP" }],
            to: [{ ipBlock: { cidr: "192.168.0.0/16", except: ["192.168.3.0/24", "192.168.4.0/24", "192.168.5.0/24"] } }],
          },
        ],
        policyTypes: ["Egress"],
      }),
    );
    const dest = { nets: ["192.168.0.0/16"], notNets: ["192.168.3.0/24", "192.168.4.0/24", "192.168.5.0/24"] };
    expect(policy.spec.egress).toEqual([
      { action: "Allow", protocol: "TCP", source: {}, destination: { ...dest, ports: [80] } },
      { action: "Allow", protocol: "UDP", source: {}, destination: { ...dest, ports: [90] } },
    ]);
  });

  it("invalid ipBlock: Calico's peer becomes empty (matches anything), with a warning", () => {
    const { policy, issues } = convert(
      np({ ingress: [{ from: [{ ipBlock: { cidr: "192.168.0.0/55" } }, { ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16", "bogus", "10.2.0.0/16"] } }] }], policyTypes: ["Ingress"] }),
    );
    expect(policy.spec.ingress).toEqual([
      { action: "Allow", source: {}, destination: {} },
      { action: "Allow", source: { nets: ["10.0.0.0/8"], notNets: ["10.1.0.0/16"] }, destination: {} },
    ]);
    expect(issues.map((i) => [i.code, i.path.join(".")])).toEqual([
      ["k8s-ipblock-invalid", "spec.ingress.0.from.0.ipBlock.cidr"],
      ["k8s-ipblock-invalid", "spec.ingress.0.from.1.ipBlock.except.1"],
    ]);
  });

  it("ingress: [{}] allows everything; ingress: [] has no rules", () => {
    expect(convert(np({ ingress: [{}], policyTypes: ["Ingress"] })).policy.spec.ingress).toEqual([{ action: "Allow", source: {}, destination: {} }]);
    expect(convert(np({ ingress: [], policyTypes: ["Ingress"] })).policy.spec.ingress).toEqual([]);
  });

  it("types: ordered [Ingress, Egress]; no policyTypes → [Ingress] even with egress rules (warned)", () => {
    expect(convert(np({ policyTypes: ["Egress", "Ingress"] })).policy.spec.types).toEqual(["Ingress", "Egress"]);
    const r = convert(np({ egress: [{ ports: [{ port: 53, protocol: "UDP" }] }] }));
    expect(r.policy.spec.types).toEqual(["Ingress"]);
    expect(r.policy.spec.egress).toHaveLength(1);
    expect(r.issues.map((i) => i.code)).toEqual(["k8s-egress-rules-not-enforced"]);
  });

  it("protocols: grouped and sorted (SCTP < TCP < UDP), lower-case names mapped like ProtocolFromString", () => {
    const { policy } = convert(
      np({
        ingress: [
          {
            ports: [
              { protocol: "UDP", port: 53 },
              { protocol: "tcp" as "TCP", port: 443 },
              { protocol: "SCTP" },
              { port: 80 },
              { port: 81 },
              { port: "http" },
              { port: 80 },
              { protocol: "UDP" },
              { protocol: "UDP", port: 54 },
            ],
          },
        ],
        policyTypes: ["Ingress"],
      }),
    );
    expect(policy.spec.ingress.map((r: Rule) => [r.protocol, r.destination?.ports])).toEqual([
      ["SCTP", undefined],
      ["TCP", ["http", "80:81", 443]],
      ["UDP", undefined],
    ]);
  });

  it("metadata: uid converted, resourceVersion and creationTimestamp kept; invalid uid → no policy", () => {
    const p = np({});
    p.metadata = { ...p.metadata, resourceVersion: "42", creationTimestamp: "2024-01-01T00:00:00Z", labels: { a: "b" } };
    expect(convert(p).policy.metadata).toEqual({
      name: "test.policy",
      namespace: "default",
      uid: "0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c",
      resourceVersion: "42",
      creationTimestamp: "2024-01-01T00:00:00Z",
    });
    const bad = np({});
    bad.metadata.uid = "not-a-uid";
    const r = convertKubernetesNetworkPolicy(bad);
    expect(r.policy).toBeNull();
    expect(r.issues.map((i) => [i.code, i.severity])).toEqual([["k8s-uid-invalid", "error"]]);
    const noUid = np({});
    delete noUid.metadata.uid;
    expect(convert(noUid).policy.metadata.uid).toBeUndefined();
  });

  it("warns when a converted selector would not parse", () => {
    const r = convert(np({ podSelector: { matchLabels: { app: "it's" } } }));
    expect(r.issues.map((i) => i.code)).toEqual(["k8s-selector-unparseable"]);
  });

  it("never throws on malformed input", () => {
    const junk = fc.anything({ maxDepth: 3 });
    fc.assert(
      fc.property(junk, junk, junk, (ingress, egress, podSelector) => {
        const p = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "x" }, spec: { ingress, egress, podSelector } };
        try {
          convertKubernetesNetworkPolicy(p as unknown as K8sNetworkPolicy);
        } catch (e) {
          // Only TypeErrors from non-iterable garbage would be a bug here.
          throw new Error(`threw ${String(e)} for ${JSON.stringify(p)}`);
        }
      }),
      { numRuns: 300 },
    );
    const any = fc.anything({ maxDepth: 2 });
    const peer = fc.record({ podSelector: fc.oneof(any, fc.record({ matchLabels: any, matchExpressions: fc.array(fc.record({ key: any, operator: any, values: any })) })), namespaceSelector: any, ipBlock: fc.oneof(any, fc.record({ cidr: any, except: any })) }, { requiredKeys: [] });
    const port = fc.record({ protocol: any, port: any, endPort: any }, { requiredKeys: [] });
    const rule = fc.record({ from: fc.oneof(any, fc.array(peer)), to: fc.oneof(any, fc.array(peer)), ports: fc.oneof(any, fc.array(port)) }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 3 }), fc.array(rule, { maxLength: 3 }), any, any, (ingress, egress, policyTypes, metadata) => {
        for (const kind of ["NetworkPolicy", "StagedKubernetesNetworkPolicy"]) {
          const p = { kind, metadata, spec: { ingress, egress, policyTypes, podSelector: {} } };
          const r = convertKubernetesNetworkPolicy(p as unknown as K8sNetworkPolicy);
          expect(Array.isArray(r.issues)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("StagedKubernetesNetworkPolicy", () => {
  const staged = (spec: Partial<StagedKubernetesNetworkPolicy["spec"]>): StagedKubernetesNetworkPolicy => ({
    apiVersion: "projectcalico.org/v3",
    kind: "StagedKubernetesNetworkPolicy",
    metadata: { name: "s", namespace: "ns", uid: "not-a-uid-is-fine-here", resourceVersion: "7" },
    spec: { podSelector: {}, ...spec },
  });

  it("converts like the enforced policy; uid and resourceVersion cleared", () => {
    const { policy, issues } = convert(staged({ stagedAction: "Set", ingress: [{ ports: [{ port: 80 }] }], policyTypes: ["Ingress"] }));
    expect(issues).toEqual([]);
    expect(policy).toEqual({
      apiVersion: "projectcalico.org/v3",
      kind: "StagedKubernetesNetworkPolicy",
      metadata: { name: "s", namespace: "ns" },
      spec: {
        tier: "default",
        order: 1000,
        selector: ORCH,
        types: ["Ingress"],
        ingress: [{ action: "Allow", protocol: "TCP", source: {}, destination: { ports: [80] } }],
        egress: [],
        stagedAction: "Set",
      },
    });
  });

  it("stagedAction Delete → nothing", () => {
    expect(convertKubernetesNetworkPolicy(staged({ stagedAction: "Delete" }))).toEqual({ policy: null, issues: [] });
  });

  it("a bad rule drops the whole staged policy", () => {
    const r = convertKubernetesNetworkPolicy(staged({ ingress: [{ ports: [{ port: 80 }] }, { ports: [{ port: 99999 }] }] }));
    expect(r.policy).toBeNull();
    expect(r.issues.map((i) => i.code)).toEqual(["k8s-rule-dropped", "k8s-staged-policy-dropped"]);
  });
});

describe("SimplifyPorts (Calico table)", () => {
  const parse = (s: string): CalicoPort[] =>
    s === ""
      ? []
      : s.split(",").map((p) => {
          const r = portFromString(p);
          if (!r.ok) throw new Error(r.error);
          return r.port;
        });
  const show = (ps: CalicoPort[]) => ps.map((p) => String(portToSpec(p))).join(",");
  it.each([
    ["", ""],
    ["0", "0"],
    ["1", "1"],
    ["65535", "65535"],
    ["0:65535", "0:65535"],
    ["1,2", "1:2"],
    ["2,1", "1:2"],
    ["1,2,4", "1:2,4"],
    ["1,2,3,4,80:81,81:90,9090", "1:4,80:90,9090"],
    ["81:90,4,2,80:81,3,1,9090", "1:4,80:90,9090"],
    ["81:90,4,2,foo,80:81,3,1,9090,http", "foo,http,1:4,80:90,9090"],
    ["foo", "foo"],
    // At most one numeric port: the input order is kept.
    ["80,foo", "80,foo"],
    ["foo,80,foo", "foo,80,foo"],
    ["80,80", "80"],
    ["0:65535,1:2", "0:65535"],
  ])("%j → %j", (input, out) => {
    expect(show(simplifyPorts(parse(input)))).toBe(out);
  });

  it("equals Calico's expand-and-coalesce on random input", () => {
    const port = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map((n): CalicoPort => ({ min: n, max: n })),
      fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 20 })).map(([a, d]): CalicoPort => ({ min: a, max: a + d })),
      fc.constantFrom("http", "dns").map((name): CalicoPort => ({ name })),
    );
    fc.assert(
      fc.property(fc.array(port, { maxLength: 8 }), (ports) => {
        const nums = ports.flatMap((p) => (p.name === undefined ? Array.from({ length: p.max - p.min + 1 }, (_, i) => p.min + i) : []));
        const got = simplifyPorts(ports);
        if (ports.length <= 1 || nums.length <= 1) {
          expect(got).toEqual(ports);
          return;
        }
        const sorted = [...new Set(nums)].sort((a, b) => a - b);
        const ranges: CalicoPort[] = [];
        for (const n of sorted) {
          const last = ranges[ranges.length - 1];
          if (last && last.name === undefined && n === last.max + 1) last.max = n;
          else ranges.push({ min: n, max: n });
        }
        expect(got).toEqual([...ports.filter((p) => p.name !== undefined), ...ranges]);
      }),
    );
  });
});

describe("numorstring.PortFromString", () => {
  it.each([
    ["80", 80],
    ["080", 80],
    ["0", 0],
    ["65535", 65535],
    ["1:2", "1:2"],
    ["5:5", 5],
    ["http", "http"],
    ["-1", "-1"],
    ["a.b_c-d", "a.b_c-d"],
  ])("%j → %j", (s, want) => {
    const r = portFromString(s);
    expect(r.ok && portToSpec(r.port)).toBe(want);
  });
  it.each([
    ["65536", "invalid port format (65536)"],
    ["99999999999999999999", "invalid port format (99999999999999999999)"],
    ["1:65536", "invalid maximum port number in range (1:65536)"],
    ["70000:1", "invalid minimum port number in range (70000:1)"],
    ["3:2", "minimum port number (3) is greater than maximum port number (2) in port range"],
    ["", "invalid name for named port ()"],
    ["a:b", "invalid name for named port (a:b)"],
    ["x".repeat(129), `invalid name for named port (${"x".repeat(129)})`],
  ])("%j rejected", (s, err) => {
    expect(portFromString(s)).toEqual({ ok: false, error: err });
  });
});

describe("Go helpers", () => {
  it("ConvertUID (Calico test vector) and its inverse", () => {
    expect(convertUid(UID)).toBe("0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c");
    expect(convertUid("0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c")).toBe(UID);
    expect(convertUid("not-a-uid")).toBeUndefined();
    expect(convertUid(`{${UID}}`)).toBe("0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c");
    expect(convertUid(`urn:uuid:${UID.toUpperCase()}`)).toBe("0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c");
    expect(convertUid(UID.replace(/-/g, ""))).toBe("0c8c26a6-c6a6-44c6-adc6-ac2646b46c1c");
    fc.assert(
      fc.property(fc.uuid(), (u) => {
        const c = convertUid(u)!;
        expect(parseUuid(c)![6] >> 4).toBe(parseUuid(u)![6] >> 4);
        expect(convertUid(c)).toBe(u.toLowerCase());
      }),
    );
  });

  it.each([
    ["192.168.0.0/16", "192.168.0.0/16"],
    ["10.1.2.3/16", "10.1.0.0/16"],
    ["10.1.2.3/32", "10.1.2.3/32"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["10.0.0.0/08", "10.0.0.0/8"],
    ["2001:DB8::1/32", "2001:db8::/32"],
    ["::/0", "::/0"],
    ["::ffff:10.1.2.3/120", "10.1.2.0/24"],
    ["::1.2.3.4/128", "::102:304/128"],
    ["192.168.0.0/55", undefined],
    ["10.0.0.1", undefined],
    ["010.0.0.0/8", undefined],
    ["fe80::1%eth0/64", undefined],
    ["10.0.0.0/-1", undefined],
    ["10.0.0.0/", undefined],
  ])("net.ParseCIDR %j → %j", (s, want) => {
    expect(goNormaliseCidr(s)).toBe(want);
  });
});

describe("k8s port numbers", () => {
  it("a number converts as its text does (intstr.String), protocols in any case as Calico names them", () => {
    const portNumber = fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.constantFrom(0, -0, 1, 65535, 65536, 1.5, Number.NaN, Infinity));
    const protocol = fc.constantFrom(undefined, "TCP", "tcp", "Udp", "SCTP", "sctp", "ICMPv6", "icmpv6", "udplite", "weird");
    fc.assert(
      fc.property(portNumber, protocol, fc.option(fc.integer({ min: 0, max: 70_000 }), { nil: undefined }), (n, proto, endPort) => {
        const ports = (port: number | string) => [{ port, ...(proto !== undefined ? { protocol: proto } : {}), ...(endPort !== undefined ? { endPort } : {}) }];
        const asNumber = convertKubernetesNetworkPolicy(np({ ingress: [{ ports: ports(n) as never }] }));
        const asText = convertKubernetesNetworkPolicy(np({ ingress: [{ ports: ports(String(n)) as never }] }));
        expect(JSON.stringify(asNumber)).toBe(JSON.stringify(asText));
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ["TCP", "TCP"],
    ["tcp", "TCP"],
    ["Udp", "UDP"],
    ["sctp", "SCTP"],
    ["icmpv6", "ICMPv6"],
    ["ICMP", "ICMP"],
    ["udplite", "UDPLite"],
    ["weird", "weird"],
  ])("protocol %s converts to %s", (given, want) => {
    const r = convertKubernetesNetworkPolicy(np({ ingress: [{ ports: [{ protocol: given, port: 80 }] as never }] }));
    expect(r.policy!.spec.ingress[0]!.protocol).toBe(want);
  });
});
