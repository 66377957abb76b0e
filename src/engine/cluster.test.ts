import { describe, expect, it } from "vitest";
import type { Resource } from "../model/index.js";
import { Cluster, type ClusterOptions } from "./cluster.js";
import { FlowInputError } from "./errors.js";
import { formatExplanation, type ExplainQuery } from "./explain.js";
import { namespace, pod, yamlResources } from "./testing.js";

const BASE: Resource[] = [
  namespace("x", { team: "x" }),
  namespace("y", { team: "y" }),
  { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "web", namespace: "y", labels: { role: "frontend" } } } as Resource,
  pod({ ns: "x", name: "a", ip: ["10.0.1.1", "fd00:1::1"], labels: { app: "a" }, node: "n1", ports: [{ name: "http", containerPort: 8080 }] }),
  pod({ ns: "x", name: "b", ip: "10.0.1.2", labels: { app: "b" }, node: "n1" }),
  pod({ ns: "y", name: "a", ip: "10.0.2.1", labels: { app: "a" }, node: "n2" }),
  pod({ ns: "y", name: "b", ip: ["10.0.2.2", "fd00:2::2"], labels: { app: "b" }, node: "n2", sa: "web" }),
];

function cluster(yaml: string, extra: Resource[] = [], opts?: ClusterOptions): Cluster {
  const c = Cluster.fromResources([...BASE, ...extra, ...yamlResources(yaml)], opts);
  const errors = c.issues.filter((i) => i.severity === "error");
  expect(errors, JSON.stringify(errors)).toEqual([]);
  return c;
}

type Probe = [from: string, to: string, want: "allow" | "deny", q?: Partial<ExplainQuery>];

function check(c: Cluster, probes: Probe[]) {
  for (const [from, to, want, q] of probes) {
    const e = c.explain({ from, to, protocol: "TCP", port: 80, ...q });
    expect(e.verdict, `${from} → ${to} ${JSON.stringify(q ?? {})}\n${formatExplanation(e)}`).toBe(want);
  }
}

describe("no policy: pods are allowed by their namespace profile", () => {
  it("allows both ways and says the profile decided", () => {
    const c = cluster("");
    const e = c.explain({ from: "x/a", to: "y/b", protocol: "TCP", port: 80 });
    expect(e.verdict).toBe("allow");
    expect(e.egress?.decidedBy).toMatchObject({ kind: "rule", origin: { tier: "", policy: "pro/kns.x" } });
    expect(e.ingress?.decidedBy).toMatchObject({ kind: "rule", origin: { tier: "", policy: "pro/kns.y" } });
  });

  it("builds Calico's labels and profiles for pods", () => {
    const c = cluster("");
    const ep = c.endpointByRef("y/b")!;
    expect(ep.key).toBe("wep/y/n2-k8s-b-eth0");
    expect(c.endpointByRef("n2-k8s-b-eth0")).toBe(ep);
    expect(ep.labels).toMatchObject({
      app: "b",
      "projectcalico.org/namespace": "y",
      "projectcalico.org/orchestrator": "k8s",
      "projectcalico.org/serviceaccount": "web",
      "pcns.team": "y",
      "pcns.projectcalico.org/name": "y",
      "pcns.kubernetes.io/metadata.name": "y",
      "pcsa.role": "frontend",
      "pcsa.projectcalico.org/name": "web",
    });
    expect(ep.ingress.profiles).toEqual(["pro/kns.y", "pro/ksa.y.web"]);
    expect(ep.ips).toEqual(["10.0.2.2", "fd00:2::2"]);
    // Pods without serviceAccountName get "default", as the admission controller would set.
    expect(c.endpointByRef("x/b")!.labels["projectcalico.org/serviceaccount"]).toBe("default");
  });
});

describe("namespaced vs global selectors", () => {
  const rule = `
  ingress:
    - action: Allow
      source: {selector: app == 'b'}`;
  it("a NetworkPolicy's rule selector only sees its own namespace", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  selector: app == 'a'${rule}`);
    check(c, [
      ["x/b", "x/a", "allow"],
      ["y/b", "x/a", "deny"],
      ["y/b", "y/a", "allow"], // not selected
    ]);
    const e = c.explain({ from: "y/b", to: "x/a", protocol: "TCP", port: 80 });
    expect(e.ingress!.steps[0]).toMatchObject({ kind: "rule", policy: "np/x/web", index: 0, matched: false, field: "source.selector" });
    expect(e.decidedBy).toMatchObject({ direction: "ingress", decidedBy: { kind: "end-of-tier", tier: "default" } });
  });

  it("a GlobalNetworkPolicy's rule selector sees every namespace", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: web}
spec:
  selector: app == 'a'${rule}`);
    check(c, [
      ["x/b", "x/a", "allow"],
      ["y/b", "x/a", "allow"],
      ["x/a", "y/a", "deny"],
      ["10.9.9.9", "y/a", "deny"],
    ]);
  });

  it("a lone notSelector: namespaced policies match only their namespace, global ones match outside addresses", () => {
    const np = cluster(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  selector: app == 'a'
  ingress: [{action: Allow, source: {notSelector: app == 'b'}}]`);
    check(np, [
      ["10.9.9.9", "x/a", "deny"],
      ["x/b", "x/a", "deny"],
      ["y/a", "x/a", "deny"],
    ]);
    const gnp = cluster(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: app == 'a' && projectcalico.org/namespace == 'x'
  ingress: [{action: Allow, source: {notSelector: app == 'b'}}]`);
    check(gnp, [
      ["10.9.9.9", "x/a", "allow"],
      ["x/b", "x/a", "deny"],
      ["y/a", "x/a", "allow"],
    ]);
  });

  it("a rule with no selector fields matches any address, even in a namespaced policy", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  selector: app == 'a'
  ingress: [{action: Allow, protocol: TCP}]`);
    check(c, [["y/b", "x/a", "allow"], ["203.0.113.1", "x/a", "allow"], ["y/b", "x/a", "deny", { protocol: "UDP", port: 53 }]]);
  });

  it("namespaceSelector picks namespaces by their labels", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  selector: app == 'a'
  ingress: [{action: Allow, source: {namespaceSelector: team == 'y', selector: app == 'b'}}]`);
    check(c, [["y/b", "x/a", "allow"], ["x/b", "x/a", "deny"], ["y/a", "x/a", "deny"]]);
  });

  it("policy serviceAccountSelector and GNP namespaceSelector narrow the selected endpoints", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-frontend}
spec:
  namespaceSelector: team == 'y'
  serviceAccountSelector: role == 'frontend'
  ingress: [{action: Deny}]`);
    check(c, [["x/a", "y/b", "deny"], ["x/a", "y/a", "allow"], ["y/b", "x/b", "allow"]]);
  });
});

describe("tiers, order, actions", () => {
  const tiers = `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: platform}
spec: {order: 200, defaultAction: Pass}
`;
  it("Pass skips to the next tier; Deny in an earlier tier wins over Allow in a later one", () => {
    const c = cluster(`${tiers}---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: sec}
spec:
  tier: security
  order: 1
  selector: app == 'a'
  ingress:
    - {action: Pass, source: {selector: app == 'b'}}
    - {action: Deny}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-all}
spec:
  selector: app == 'a'
  ingress: [{action: Allow}]`);
    check(c, [["x/b", "x/a", "allow"], ["y/a", "x/a", "deny"]]);
    const e = c.explain({ from: "y/a", to: "x/a", protocol: "TCP", port: 80 });
    expect(e.decidedBy).toMatchObject({ decidedBy: { kind: "rule", origin: { tier: "security", policy: "gnp/sec", index: 1 }, action: "Deny" } });
  });

  it("a tier with defaultAction Pass continues when nothing matched; Deny tiers drop", () => {
    const c = cluster(`${tiers}---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: plat}
spec:
  tier: platform
  selector: app == 'a'
  ingress: [{action: Deny, protocol: UDP}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: sec}
spec:
  tier: security
  selector: app == 'b'
  ingress: [{action: Deny, protocol: UDP}]`);
    check(c, [["x/b", "x/a", "allow"], ["x/a", "x/b", "deny"]]);
  });

  it("end of tier only applies when a policy of the tier selected the endpoint", () => {
    const c = cluster(`${tiers}---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: sec}
spec:
  tier: security
  selector: app == 'nothing'
  ingress: [{action: Allow}]`);
    check(c, [["x/b", "x/a", "allow"]]);
  });

  it("Log does not stop processing", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: log}
spec:
  selector: app == 'a'
  ingress: [{action: Log}, {action: Deny, source: {selector: app == 'b'}}, {action: Allow}]`);
    check(c, [["x/b", "x/a", "deny"], ["y/a", "x/a", "allow"]]);
  });

  it("order: ascending; ties by name; missing order last", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: b-allow}
spec: {order: 10, selector: app == 'a', ingress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: a-deny}
spec: {order: 10, selector: app == 'a', ingress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: 0-no-order}
spec: {selector: app == 'b', ingress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: z-ordered}
spec: {order: 999999, selector: app == 'b', ingress: [{action: Allow}]}`);
    check(c, [["x/b", "x/a", "deny"], ["x/a", "x/b", "allow"]]);
    expect(c.endpointByRef("x/a")!.ingress.tiers[0]!.policies).toEqual(["gnp/a-deny", "gnp/b-allow"]);
    expect(c.endpointByRef("x/b")!.ingress.tiers[0]!.policies).toEqual(["gnp/z-ordered", "gnp/0-no-order"]);
  });

  it("a policy naming a missing tier sorts after all tiers and warns", () => {
    const c = Cluster.fromResources([
      ...BASE,
      ...yamlResources(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec: {tier: ghost, selector: app == 'a', ingress: [{action: Pass}]}`),
    ]);
    expect(c.issues.map((i) => i.code)).toContain("missing-tier");
    expect(c.ir.tiers.at(-1)).toMatchObject({ name: "ghost", missing: true });
  });
});

describe("types defaulting", () => {
  const cases: Array<[string, string, Probe[]]> = [
    ["no rules → Ingress only (deny all ingress)", "{selector: app == 'a'}", [["x/b", "x/a", "deny"], ["x/a", "x/b", "allow"]]],
    ["egress rules only → Egress only", "{selector: app == 'a', egress: [{action: Deny, protocol: UDP}]}", [["x/b", "x/a", "allow"], ["x/a", "x/b", "deny"]]],
    ["ingress rules only → Ingress", "{selector: app == 'a', ingress: [{action: Allow, protocol: UDP}]}", [["x/b", "x/a", "deny"], ["x/a", "x/b", "allow"]]],
    ["explicit types without egress rules → egress denied", "{selector: app == 'a', types: [Ingress, Egress], ingress: [{action: Allow}]}", [["x/b", "x/a", "allow"], ["x/a", "x/b", "deny"]]],
    ["explicit Egress type: ingress rules are inert", "{selector: app == 'a', types: [Egress], ingress: [{action: Deny}], egress: [{action: Allow}]}", [["x/b", "x/a", "allow"], ["x/a", "x/b", "allow"]]],
  ];
  it.each(cases)("%s", (_n, spec, probes) => {
    check(
      cluster(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec: ${spec}`),
      probes,
    );
  });
});

describe("match fields through the whole engine", () => {
  const gnp = (ingress: string, extra = "") =>
    cluster(`${extra}
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: app == 'a'
  ingress: ${ingress}`);

  it("nets / notNets", () => {
    check(gnp("[{action: Allow, source: {nets: [10.0.2.0/24], notNets: [10.0.2.1/32]}}]"), [
      ["y/b", "x/a", "allow"],
      ["y/a", "y/a", "deny"],
      ["x/b", "x/a", "deny"],
      ["10.0.2.77", "x/a", "allow"],
    ]);
  });

  it("named ports resolve per endpoint", () => {
    const c = gnp("[{action: Allow, protocol: TCP, destination: {ports: [http]}}]");
    check(c, [
      ["x/b", "x/a", "allow", { port: 8080 }],
      ["x/b", "x/a", "deny", { port: 80 }],
      ["x/b", "y/a", "deny", { port: 8080 }], // y/a declares no port named http
    ]);
    const setId = c.endpointByRef("x/a")!.ingress.tiers[0]!.policies[0]!;
    const rule = c.ir.policies.get(setId)!.ingress[0]!;
    expect(rule.match.dst.sets).toBeUndefined(); // folded into the named-port set, as Felix does
    expect(c.ir.sets.get(rule.match.dst.namedPortSets![0]!)).toMatchObject({ kind: "named-port", portName: "http", protocol: 6, members: [{ addr: "10.0.1.1", protocol: 6, port: 8080 }, { addr: "fd00:1::1", protocol: 6, port: 8080 }] });
  });

  it("port ranges and protocol numbers", () => {
    check(gnp("[{action: Allow, protocol: 6, destination: {ports: ['70:90', 443]}}]"), [
      ["x/b", "x/a", "allow", { port: 90 }],
      ["x/b", "x/a", "allow", { port: 443 }],
      ["x/b", "x/a", "deny", { port: 91 }],
      ["x/b", "x/a", "deny", { protocol: "UDP", port: 80 }],
    ]);
  });

  it("notProtocol and notPorts", () => {
    check(gnp("[{action: Allow, notProtocol: UDP, destination: {notPorts: [22]}}]"), [
      ["x/b", "x/a", "allow", { port: 80 }],
      ["x/b", "x/a", "deny", { port: 22 }],
      ["x/b", "x/a", "deny", { protocol: "UDP", port: 80 }],
    ]);
  });

  it("ICMP type/code", () => {
    const c = gnp("[{action: Allow, protocol: ICMP, icmp: {type: 8}}, {action: Allow, protocol: ICMPv6, icmp: {type: 128, code: 0}}]");
    check(c, [
      ["x/b", "x/a", "allow", { protocol: "ICMP", port: undefined }],
      ["x/b", "x/a", "deny", { protocol: "ICMP", port: undefined, icmp: { type: 0 } }],
      ["y/b", "x/a", "allow", { protocol: "ICMPv6", port: undefined, family: 6 }],
      ["y/b", "x/a", "deny", { protocol: "ICMPv6", port: undefined, family: 6, icmp: { type: 128, code: 1 } }],
    ]);
  });

  it("IPv6: rules with only IPv4 CIDRs do not exist in IPv6", () => {
    const c = gnp("[{action: Deny, source: {nets: [10.0.0.0/8]}}, {action: Allow}]");
    check(c, [
      ["y/b", "x/a", "deny"],
      ["y/b", "x/a", "allow", { family: 6 }],
      ["fd00:2::2", "x/a", "allow"],
    ]);
    const e = c.explain({ from: "y/b", to: "x/a", protocol: "TCP", port: 80, family: 6 });
    expect(e.ingress!.steps[0]).toMatchObject({ kind: "rule-skipped", index: 0 });
  });

  it("negated catch-all never matches", () => {
    check(gnp("[{action: Deny, source: {notNets: [0.0.0.0/0]}}, {action: Allow}]"), [["203.0.113.9", "x/a", "allow"]]);
  });

  it("service accounts by name and by selector", () => {
    check(gnp("[{action: Allow, source: {serviceAccounts: {names: [web]}}}]"), [["y/b", "x/a", "allow"], ["y/a", "x/a", "deny"]]);
    check(gnp("[{action: Allow, source: {serviceAccounts: {selector: role == 'frontend'}}}]"), [["y/b", "x/a", "allow"], ["x/b", "x/a", "deny"]]);
  });

  it("network sets: GlobalNetworkSets via plain selectors in GNPs and global() in NPs; NetworkSets in their namespace", () => {
    const sets = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: partners, labels: {role: partner}}
spec: {nets: [198.51.100.0/24]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: office, namespace: x, labels: {role: office}}
spec: {nets: [192.0.2.0/28]}
---
`;
    check(gnp("[{action: Allow, source: {selector: role == 'partner'}}]", sets), [["198.51.100.7", "x/a", "allow"], ["203.0.113.1", "x/a", "deny"]]);
    const np = (src: string) =>
      cluster(`${sets}
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec: {selector: app == 'a', ingress: [{action: Allow, source: ${src}}]}`);
    check(np("{selector: role == 'partner'}"), [["198.51.100.7", "x/a", "deny"]]);
    check(np("{selector: role == 'partner', namespaceSelector: global()}"), [["198.51.100.7", "x/a", "allow"]]);
    check(np("{selector: role == 'office'}"), [["192.0.2.3", "x/a", "allow"], ["192.0.2.30", "x/a", "deny"]]);
  });

  it("services: destination uses EndpointSlice addresses and ports", () => {
    const c = cluster(`
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, namespace: y, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.2.1]}]
ports: [{port: 8080, protocol: TCP}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: app == 'b'
  types: [Egress]
  egress: [{action: Allow, destination: {services: {name: web, namespace: y}}}]`);
    check(c, [
      ["x/b", "y/a", "allow", { port: 8080 }],
      ["x/b", "y/a", "deny", { port: 80 }],
      ["x/b", "x/a", "deny", { port: 8080 }],
    ]);
  });
});

describe("Kubernetes NetworkPolicy", () => {
  it("is converted and enforced like Calico (default deny + allow from a namespace)", () => {
    const c = cluster(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-y, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]
      ports: [{port: 80}]`);
    check(c, [
      ["y/a", "x/a", "allow"],
      ["y/a", "x/a", "deny", { port: 81 }],
      ["x/b", "x/a", "deny"],
      ["x/a", "x/b", "allow"],
    ]);
    const e = c.explain({ from: "x/b", to: "x/a", protocol: "TCP", port: 80 });
    expect(e.ingress!.steps[0]).toMatchObject({ policy: "knp/x/allow-y" });
    expect(c.ir.policies.get("knp/x/allow-y")).toMatchObject({ kind: "KubernetesNetworkPolicy", order: 1000, tier: "default" });
  });
});

describe("staged policies", () => {
  it("are reported but never enforced", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: lock, namespace: x}
spec: {selector: app == 'a', ingress: [{action: Allow, source: {selector: app == 'b'}}]}`);
    const e = c.explain({ from: "y/a", to: "x/a", protocol: "TCP", port: 80 });
    expect(e.verdict).toBe("allow");
    expect(e.staged).toMatchObject({ verdict: "deny", changed: true });
    expect(formatExplanation(e)).toContain("staged policies would change this to DENY");
    const ok = c.explain({ from: "x/b", to: "x/a", protocol: "TCP", port: 80 });
    expect(ok.staged).toMatchObject({ verdict: "allow", changed: false });
  });

  it("a staged Delete previews removing the enforced policy", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: lock, namespace: x}
spec: {selector: app == 'a', ingress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: lock, namespace: x}
spec: {stagedAction: Delete}`);
    const e = c.explain({ from: "x/b", to: "x/a", protocol: "TCP", port: 80 });
    expect(e.verdict).toBe("deny");
    expect(e.staged).toMatchObject({ verdict: "allow", changed: true });
  });
});

describe("host endpoints", () => {
  const hep = `
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: n1-eth0, labels: {role: node}}
spec: {node: n1, interfaceName: eth0, expectedIPs: [10.0.0.11]}
---
`;
  it("default deny except failsafe ports, inbound and outbound", () => {
    const c = cluster(hep);
    check(c, [
      ["10.9.9.9", "hep:n1-eth0", "deny"],
      ["10.9.9.9", "hep:n1-eth0", "allow", { port: 22 }],
      ["10.9.9.9", "10.0.0.11", "allow", { port: 6443 }],
      ["hep:n1-eth0", "10.9.9.9", "deny", { port: 443 }],
      ["hep:n1-eth0", "10.9.9.9", "allow", { protocol: "UDP", port: 53 }],
    ]);
    const e = c.explain({ from: "10.9.9.9", to: "hep:n1-eth0", protocol: "TCP", port: 22 });
    expect(e.decidedBy).toMatchObject({ decidedBy: { kind: "failsafe" } });
  });

  it("failsafe ports are configurable", () => {
    const c = cluster(hep, [], { failsafe: { inbound: [{ protocol: "tcp", port: 2222 }], outbound: [] } });
    check(c, [["10.9.9.9", "hep:n1-eth0", "deny", { port: 22 }], ["10.9.9.9", "hep:n1-eth0", "allow", { port: 2222 }]]);
  });

  it("GNPs select host endpoints; preDNAT and doNotTrack run first", () => {
    const c = cluster(`${hep}
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: host-web}
spec: {selector: role == 'node', ingress: [{action: Allow, protocol: TCP, destination: {ports: [80, 443]}}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: block-bad}
spec: {selector: role == 'node', preDNAT: true, applyOnForward: true, ingress: [{action: Deny, source: {nets: [10.6.6.0/24]}}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: fast-path}
spec: {selector: role == 'node', doNotTrack: true, applyOnForward: true, ingress: [{action: Allow, protocol: UDP}]}`);
    check(c, [
      ["10.9.9.9", "hep:n1-eth0", "allow", { port: 443 }],
      ["10.9.9.9", "hep:n1-eth0", "deny", { port: 8443 }],
      ["10.6.6.6", "hep:n1-eth0", "deny", { port: 443 }],
      ["10.9.9.9", "hep:n1-eth0", "allow", { protocol: "UDP", port: 9999 }],
      // preDNAT/doNotTrack policies never apply to a workload itself (y/a's node has no HEP)…
      ["10.6.6.6", "y/a", "allow"],
      // …but traffic from outside to x/a is forwarded through node n1's host endpoint, where
      // preDNAT policy sees it.
      ["10.6.6.6", "x/a", "deny"],
      ["10.9.9.9", "x/a", "allow"],
    ]);
    expect(c.endpointByRef("y/a")!.ingress.tiers).toEqual([]);
    const ep = c.endpointByRef("hep:n1-eth0")!;
    expect(ep.preDNAT!.tiers[0]).toMatchObject({ defaultAction: "Pass", policies: ["gnp/block-bad"] });
    expect(ep.untracked!.ingress.tiers[0]!.policies).toEqual(["gnp/fast-path"]);
    expect(ep.forward!.ingress.tiers).toEqual([]);
  });

  it("applyOnForward policy of the uplink host endpoint governs forwarded traffic", () => {
    const fwd = `${hep}
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: fwd}
spec:
  selector: role == 'node'
  applyOnForward: true
  types: [Ingress, Egress]
  ingress: [{action: Deny, source: {nets: [10.6.6.0/24]}}, {action: Allow}]
  egress: [{action: Deny, destination: {nets: [10.7.7.0/24]}}, {action: Allow}]`;
    const c = cluster(fwd);
    check(c, [
      ["10.6.6.6", "x/a", "deny"],
      ["10.9.9.9", "x/a", "allow"],
      ["x/a", "10.7.7.7", "deny"],
      ["x/a", "10.9.9.9", "allow"],
      ["y/a", "10.7.7.7", "allow"], // node n2 has no host endpoint
      ["10.9.9.9", "hep:n1-eth0", "allow"],
      ["10.6.6.6", "hep:n1-eth0", "deny"],
      ["10.6.6.6", "hep:n1-eth0", "allow", { port: 22 }], // failsafe for host-bound traffic
      ["10.6.6.6", "x/a", "deny", { port: 22 }], // …but not for forwarded traffic
    ]);
    const e = c.explain({ from: "10.6.6.6", to: "x/a", protocol: "TCP", port: 80 });
    expect(e.decidedBy).toMatchObject({ kind: "policy", endpoint: "hep:n1-eth0", chain: "forward", decidedBy: { kind: "rule", origin: { policy: "gnp/fwd", index: 0 } } });
    // Two interface HEPs on one node: the uplink is unknown; explain says so.
    const two = cluster(`${fwd}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: n1-eth1, labels: {role: node}}
spec: {node: n1, interfaceName: eth1}`);
    const e2 = two.explain({ from: "10.6.6.6", to: "x/a", protocol: "TCP", port: 80 });
    expect(e2.verdict).toBe("allow");
    expect(e2.notes.join("\n")).toMatch(/several host endpoints/);
  });

  it("workload → its own host: DefaultEndpointToHostAction", () => {
    const probes: Probe[] = [["x/a", "hep:n1-eth0", "deny", { port: 443 }], ["y/a", "hep:n1-eth0", "deny", { port: 443 }]];
    check(cluster(hep), probes);
    check(cluster(hep, [], { defaultEndpointToHostAction: "Accept" }), [["x/a", "hep:n1-eth0", "allow", { port: 443 }], ["y/a", "hep:n1-eth0", "deny", { port: 443 }]]);
    const e = cluster(hep).explain({ from: "x/a", to: "hep:n1-eth0", protocol: "TCP", port: 443 });
    expect(e.stages.at(-1)).toMatchObject({ kind: "endpoint-to-host", action: "Drop", verdict: "deny" });
  });

  it("host → local workload skips the host endpoint's egress", () => {
    check(cluster(hep), [
      ["hep:n1-eth0", "x/a", "allow"],
      ["hep:n1-eth0", "y/a", "deny"],
    ]);
  });
});

describe("directly given WorkloadEndpoints", () => {
  it("carry only the profiles they list; no profile means default deny", () => {
    const c = cluster(`
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: vm1, namespace: x, labels: {app: vm}}
spec: {orchestrator: libvirt, node: n3, ipNetworks: [10.0.3.1/32], ports: [{name: ssh, protocol: TCP, port: 22}]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: vm2, namespace: x}
spec: {orchestrator: libvirt, node: n3, ipNetworks: [10.0.3.2/32], profiles: [kns.x]}`);
    check(c, [
      ["x/a", "vm1", "deny"],
      ["x/a", "vm2", "allow"],
      ["x/a", "x/vm2", "allow"],
      ["x/a", "10.0.3.2", "allow"],
    ]);
    expect(c.endpointByRef("vm1")!.labels).toMatchObject({ app: "vm", "projectcalico.org/namespace": "x", "projectcalico.org/orchestrator": "libvirt" });
    expect(c.endpointByRef("vm2")!.labels["pcns.team"]).toBe("x");
  });
});

describe("a resource given twice", () => {
  it("warns once per repeat, per kind and namespace, and the last one is used", () => {
    const c = Cluster.fromResources([
      namespace("x"),
      namespace("y"),
      pod({ name: "a", ns: "x", ip: "10.0.0.1" }),
      pod({ name: "a", ns: "y", ip: "10.0.0.2" }), // same name, other namespace: not a repeat
      pod({ name: "a", ns: "x", ip: "10.0.0.3" }),
      namespace("x"),
    ]);
    const dup = c.issues.filter((i) => i.code === "duplicate-resource");
    expect(dup.map((i) => i.resource)).toEqual(["Pod x/a", "Namespace x"]);
    expect(c.endpointByRef("x/a")!.ips).toEqual(["10.0.0.3"]);
  });
});

describe("two resources with one endpoint key", () => {
  it("warn once, and the last one is the endpoint", () => {
    const c = Cluster.fromResources([
      namespace("x"),
      pod({ name: "a", ns: "x", ip: "10.0.0.1", node: "n1" }),
      pod({ name: "b", ns: "x", ip: "10.0.0.2", node: "n1" }),
      ...yamlResources(`
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: n1-k8s-a-eth0, namespace: x}
spec: {orchestrator: k8s, node: n1, pod: a, endpoint: eth0, ipNetworks: [10.0.0.9/32]}`),
    ]);
    const dup = c.issues.filter((i) => i.code === "duplicate-endpoint");
    expect(dup).toHaveLength(1);
    expect(dup[0]!.message).toContain("wep/x/n1-k8s-a-eth0");
    const keys = c.ir.endpoints.map((e) => e.key);
    expect(keys.filter((k) => k === "wep/x/n1-k8s-a-eth0")).toHaveLength(1);
    expect(c.ir.endpoints.find((e) => e.key === "wep/x/n1-k8s-a-eth0")!.ips).toEqual(["10.0.0.9"]);
  });

  it("three records of one key among others: one warning per later record in input order, the last record kept, endpoints by key", () => {
    const wep = (ip: string) => `
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: n1-k8s-m-eth0, namespace: x}
spec: {orchestrator: k8s, node: n1, pod: m, endpoint: eth0, ipNetworks: [${ip}/32]}`;
    const c = Cluster.fromResources([
      namespace("x"),
      pod({ name: "z", ns: "x", ip: "10.0.1.1", node: "n1" }),
      pod({ name: "m", ns: "x", ip: "10.0.1.2", node: "n1" }),
      pod({ name: "a", ns: "x", ip: "10.0.1.3", node: "n1" }),
      ...yamlResources(wep("10.0.1.4")),
      ...yamlResources(wep("10.0.1.5").replace("n1-k8s-m-eth0", "n1-k8s-m-eth0, labels: {v: '2'}")),
    ]);
    const dup = c.issues.filter((i) => i.code === "duplicate-endpoint");
    expect(dup.map((i) => i.resource)).toEqual(["WorkloadEndpoint x/n1-k8s-m-eth0", "WorkloadEndpoint x/n1-k8s-m-eth0"]);
    expect(c.ir.endpoints.map((e) => e.key)).toEqual(["wep/x/n1-k8s-a-eth0", "wep/x/n1-k8s-m-eth0", "wep/x/n1-k8s-z-eth0"]);
    const m = c.ir.endpoints[1]!;
    expect(m.ips).toEqual(["10.0.1.5"]);
    expect(m.labels.v).toBe("2");
    // The replaced records are gone from every lookup.
    expect(c.endpointsByIP("10.0.1.2")).toEqual([]);
    expect(c.endpointsByIP("10.0.1.4")).toEqual([]);
    expect(c.endpointsByIP("10.0.1.5").map((e) => e.key)).toEqual(["wep/x/n1-k8s-m-eth0"]);
  });
});

describe("input errors are issues", () => {
  const c = cluster("");
  it.each([
    [{ from: "x/nope", to: "x/a" }, "unknown-endpoint"],
    [{ from: "hep:none", to: "x/a" }, "unknown-endpoint"],
    [{ from: "x/a", to: "300.1.1.1" }, "invalid-address"],
    [{ from: "x/a", to: "x/b", port: 0 }, "invalid-port"],
    [{ from: "x/a", to: "x/b", port: 70000 }, "invalid-port"],
    [{ from: "x/a", to: "x/b", port: undefined }, "missing-port"],
    [{ from: "x/a", to: "x/b", protocol: "tcp" }, "invalid-protocol"],
    [{ from: "x/a", to: "x/b", family: 6 as const }, "no-address"],
    [{ from: "x/a", to: "fd00::9", family: 4 as const }, "mixed-family"],
  ])("%j → %s", (q, code) => {
    const r = c.tryExplain({ protocol: "TCP", port: 80, ...q } as ExplainQuery);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.code)).toContain(code);
    expect(() => c.explain({ protocol: "TCP", port: 80, ...q } as ExplainQuery)).toThrow(FlowInputError);
  });

  it("pods without an endpoint say why", () => {
    const c2 = Cluster.fromResources([
      ...BASE,
      { apiVersion: "v1", kind: "Pod", metadata: { name: "pending", namespace: "x" }, spec: { containers: [] } } as Resource,
      { apiVersion: "v1", kind: "Pod", metadata: { name: "hostnet", namespace: "x" }, spec: { hostNetwork: true, containers: [] }, status: { podIP: "10.0.0.11" } } as Resource,
    ]);
    const r = c2.tryExplain({ from: "x/pending", to: "x/a", protocol: "TCP", port: 80 });
    expect(!r.ok && r.issues[0]!.message).toMatch(/no IP address/);
    const h = c2.tryExplain({ from: "x/hostnet", to: "x/a", protocol: "TCP", port: 80 });
    expect(!h.ok && h.issues[0]!.message).toMatch(/host network/);
  });

  it("invalid resources are dropped with an error issue", () => {
    const c3 = Cluster.fromResources([
      ...BASE,
      ...yamlResources(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: broken}
spec: {selector: "app = 'a'", ingress: [{action: Deny}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: bad-cidr}
spec: {selector: all(), ingress: [{action: Deny, source: {nets: [10.0.0.0/33]}}]}`),
    ]);
    const errs = c3.issues.filter((i) => i.severity === "error");
    expect(errs.map((i) => [i.code, i.resource])).toEqual([
      ["invalid-selector", "GlobalNetworkPolicy broken"],
      ["invalid-cidr", "GlobalNetworkPolicy bad-cidr"],
    ]);
    expect(c3.ir.policies.keyList()).toEqual([]);
    expect(c3.explain({ from: "x/b", to: "x/a", protocol: "TCP", port: 80 }).verdict).toBe("allow");
  });
});

describe("the IR is plain, sorted data", () => {
  it("round-trips through JSON and is deterministic", () => {
    const text = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec: {selector: app == 'a', ingress: [{action: Allow, source: {selector: app == 'b'}}]}`;
    const a = cluster(text).ir;
    const b = Cluster.fromResources([...yamlResources(text), ...[...BASE].reverse()]).ir;
    expect(JSON.parse(JSON.stringify(a))).toEqual({ ...a, policies: a.policies.toRecord(), sets: a.sets.toRecord() }); // plain data apart from the persistent maps
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    const set = a.sets.valueList().find((s) => s.kind === "selector")!;
    expect(set).toMatchObject({ selector: 'app == "b"', members: ["10.0.1.2/32", "10.0.2.2/32", "fd00:2::2/128"] });
    expect(set.id).toMatch(/^s:[A-Za-z0-9_-]{38}$/);
  });
});
