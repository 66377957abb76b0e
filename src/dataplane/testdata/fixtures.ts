/**
 * Hand-written ClusterIR fixtures for the dataplane builder and the renderers' golden tests. They
 * exercise every structural feature: tiers with Deny and Pass defaults, Pass/Log/Deny/Allow, both
 * families, CIDR and selector sets (hash + interval parts), named ports, services, ICMP type/code,
 * notICMP, SCTP, negated ports, a compiled Allow run, profiles, a host endpoint with forward,
 * preDNAT and untracked programs, and a remote endpoint that must not be programmed.
 */
import type { ClusterIR, DirectionProgram, EndpointIR, PolicyIR, RuleIR, RuleMatch, SetDef } from "../../rule/index.js";
import { ChunkedMap } from "../../model/index.js";

export const NODE = "node1";

function rule(policy: string, tier: string, direction: "ingress" | "egress", index: number, action: RuleIR["action"], match: Partial<RuleMatch>): RuleIR {
  return { action, match: { src: {}, dst: {}, ...match }, origin: { tier, policy, direction, index } };
}

function policy(p: Partial<PolicyIR> & Pick<PolicyIR, "key" | "tier" | "name">): PolicyIR {
  return {
    kind: "GlobalNetworkPolicy",
    order: null,
    staged: false,
    selector: "all()",
    governs: { ingress: p.ingress !== undefined && p.ingress.length >= 0, egress: p.egress !== undefined },
    ingress: [],
    egress: [],
    applyOnForward: false,
    preDNAT: false,
    doNotTrack: false,
    ...p,
  };
}

const prog = (tiers: DirectionProgram["tiers"], profiles: string[], direction?: "ingress" | "egress"): DirectionProgram => ({
  ...(direction ? { direction } : {}),
  tiers,
  stagedTiers: [],
  profiles,
});

export const SET_CLIENT = "s:client000000000000000000000000000000";
export const SET_DNS = "s:dns000000000000000000000000000000000";
export const SET_BAD = "s:bad000000000000000000000000000000000";
export const SET_PG = "n:postgres00000000000000000000000000000";
export const SET_SVC = "svc:prod-api";

const webIngress: RuleIR[] = [
  rule("np/prod/web", "default", "ingress", 0, "Log", { protocol: 6, dst: { ports: [{ first: 22, last: 22 }] } }),
  rule("np/prod/web", "default", "ingress", 1, "Allow", { protocol: 6, src: { sets: [SET_CLIENT] }, dst: { ports: [{ first: 80, last: 80 }, { first: 443, last: 443 }] } }),
  rule("np/prod/web", "default", "ingress", 2, "Allow", { protocol: 17, src: { sets: [SET_DNS] }, dst: { ports: [{ first: 53, last: 53 }] } }),
  rule("np/prod/web", "default", "ingress", 3, "Allow", { protocol: 1, icmp: { type: 8, code: 0 } }),
  rule("np/prod/web", "default", "ingress", 4, "Allow", { protocol: 58, icmp: { type: 128 } }),
  rule("np/prod/web", "default", "ingress", 5, "Deny", { protocol: 132, dst: { notPorts: [{ first: 1000, last: 2000 }] } }),
  rule("np/prod/web", "default", "ingress", 6, "Allow", { protocol: 132, src: { nets: ["198.18.0.0/16", "fd00:198::/48", "198.18.1.0/24"] } }),
  rule("np/prod/web", "default", "ingress", 7, "Allow", { ipVersion: 4, protocol: 1, notIcmp: { type: 8 } }),
];

export function fixtureIR(): ClusterIR {
  const policies: Record<string, PolicyIR> = {
    "gnp/sec.block-bad": policy({
      key: "gnp/sec.block-bad",
      name: "sec.block-bad",
      tier: "security",
      order: 10,
      governs: { ingress: true, egress: true },
      ingress: [
        rule("gnp/sec.block-bad", "security", "ingress", 0, "Deny", { src: { sets: [SET_BAD] } }),
        rule("gnp/sec.block-bad", "security", "ingress", 1, "Pass", {}),
      ],
      egress: [
        rule("gnp/sec.block-bad", "security", "egress", 0, "Deny", { dst: { nets: ["203.0.113.0/24"], notNets: ["203.0.113.128/25"] } }),
        rule("gnp/sec.block-bad", "security", "egress", 1, "Pass", { dst: { notSets: [SET_BAD] } }),
      ],
    }),
    "np/prod/web": policy({
      key: "np/prod/web",
      kind: "NetworkPolicy",
      name: "web",
      namespace: "prod",
      tier: "default",
      order: 100,
      governs: { ingress: true, egress: false },
      ingress: webIngress,
    }),
    "knp/prod/db": policy({
      key: "knp/prod/db",
      kind: "KubernetesNetworkPolicy",
      name: "db",
      namespace: "prod",
      tier: "default",
      order: 1000,
      governs: { ingress: true, egress: true },
      ingress: [rule("knp/prod/db", "default", "ingress", 0, "Allow", { dst: { namedPortSets: [SET_PG] } })],
      egress: [rule("knp/prod/db", "default", "egress", 0, "Allow", { protocol: 6, dst: { serviceSet: SET_SVC } })],
    }),
    "gnp/host-ssh": policy({
      key: "gnp/host-ssh",
      name: "host-ssh",
      tier: "default",
      order: 5,
      governs: { ingress: true, egress: false },
      ingress: [rule("gnp/host-ssh", "default", "ingress", 0, "Allow", { protocol: 6, dst: { ports: [{ first: 22, last: 22 }] } })],
    }),
    "gnp/fwd": policy({
      key: "gnp/fwd",
      name: "fwd",
      tier: "default",
      order: 6,
      applyOnForward: true,
      governs: { ingress: true, egress: false },
      ingress: [rule("gnp/fwd", "default", "ingress", 0, "Deny", { src: { nets: ["192.0.2.0/24"] } })],
    }),
    "gnp/prednat": policy({
      key: "gnp/prednat",
      name: "prednat",
      tier: "default",
      order: 7,
      applyOnForward: true,
      preDNAT: true,
      governs: { ingress: true, egress: false },
      ingress: [rule("gnp/prednat", "default", "ingress", 0, "Deny", { protocol: 6, dst: { ports: [{ first: 30000, last: 32767 }] }, src: { notNets: ["198.18.0.0/15"] } })],
    }),
    "gnp/untracked": policy({
      key: "gnp/untracked",
      name: "untracked",
      tier: "default",
      order: 8,
      applyOnForward: true,
      doNotTrack: true,
      governs: { ingress: true, egress: true },
      ingress: [rule("gnp/untracked", "default", "ingress", 0, "Allow", { protocol: 17, src: { ports: [{ first: 123, last: 123 }] } })],
      egress: [rule("gnp/untracked", "default", "egress", 0, "Allow", { protocol: 17, dst: { ports: [{ first: 123, last: 123 }] } })],
    }),
    "snp/prod/staged": { ...policy({ key: "snp/prod/staged", name: "staged", namespace: "prod", tier: "default", governs: { ingress: true, egress: false } }), staged: true },
  };

  const kns = (ns: string) => `pro/kns.${ns}`;
  const wep = (name: string, node: string, iface: string, v4: string, v6: string, ingress: DirectionProgram, egress: DirectionProgram, labels: Record<string, string>): EndpointIR => ({
    key: `wep/prod/${name}`,
    kind: "workload",
    name,
    namespace: "prod",
    pod: `prod/${name}`,
    node,
    interfaceName: iface,
    ips: [v4, v6],
    labels,
    namedPorts: name === "db" ? [{ name: "postgres", protocol: 6, port: 5432 }] : [],
    ingress,
    egress,
  });

  const secIn = { tier: "security", defaultAction: "Pass" as const, policies: ["gnp/sec.block-bad"] };
  const secOut = { tier: "security", defaultAction: "Pass" as const, policies: ["gnp/sec.block-bad"] };

  const endpoints: EndpointIR[] = [
    wep(
      "client",
      NODE,
      "cali3754a2f57f6",
      "198.18.1.12",
      "fd00:198:0:1::12",
      prog([secIn], [kns("prod")], "ingress"),
      prog([secOut], [kns("prod")], "egress"),
      { role: "client" },
    ),
    wep(
      "db",
      NODE,
      "cali2f5353dd8c5",
      "198.18.1.11",
      "fd00:198:0:1::11",
      prog([secIn, { tier: "default", defaultAction: "Deny", policies: ["knp/prod/db"] }], [kns("prod")], "ingress"),
      prog([secOut, { tier: "default", defaultAction: "Deny", policies: ["knp/prod/db"] }], [kns("prod")], "egress"),
      { app: "db" },
    ),
    wep(
      "remote",
      "node2",
      "calid6b219bf875",
      "198.18.2.10",
      "fd00:198:0:2::10",
      prog([secIn], [kns("prod")], "ingress"),
      prog([secOut], [kns("prod")], "egress"),
      { role: "client" },
    ),
    wep(
      "web",
      NODE,
      "cali5e1c4d6c68c",
      "198.18.1.10",
      "fd00:198:0:1::10",
      prog([secIn, { tier: "default", defaultAction: "Deny", policies: ["np/prod/web"] }], [kns("prod")], "ingress"),
      prog([secOut], [kns("prod")], "egress"),
      { app: "web" },
    ),
    {
      key: "hep/node1-eth0",
      kind: "host",
      name: "node1-eth0",
      node: NODE,
      interfaceName: "wire0",
      ips: ["198.19.255.1"],
      labels: { host: "node1" },
      namedPorts: [],
      ingress: prog([{ tier: "default", defaultAction: "Deny", policies: ["gnp/host-ssh"] }], [], "ingress"),
      egress: prog([], [], "egress"),
      forward: {
        ingress: prog([{ tier: "default", defaultAction: "Deny", policies: ["gnp/fwd"] }], [], "ingress"),
        egress: prog([], [], "egress"),
      },
      preDNAT: prog([{ tier: "default", defaultAction: "Deny", policies: ["gnp/prednat"] }], [], "ingress"),
      untracked: {
        ingress: prog([{ tier: "default", defaultAction: "Deny", policies: ["gnp/untracked"] }], [], "ingress"),
        egress: prog([{ tier: "default", defaultAction: "Deny", policies: ["gnp/untracked"] }], [], "egress"),
      },
    },
  ];

  return {
    tiers: [
      { name: "security", order: 100, defaultAction: "Pass" },
      { name: "default", order: 1_000_000, defaultAction: "Deny" },
    ],
    policies: ChunkedMap.fromRecord(policies),
    profiles: {
      "pro/kns.prod": {
        key: "pro/kns.prod",
        name: "kns.prod",
        ingress: [rule("pro/kns.prod", "", "ingress", 0, "Allow", {})],
        egress: [rule("pro/kns.prod", "", "egress", 0, "Allow", {})],
      },
    },
    sets: ChunkedMap.fromRecord<SetDef>({
      [SET_CLIENT]: { kind: "selector", id: SET_CLIENT, selector: "role == 'client'", members: ["10.0.0.0/8", "10.1.0.0/16", "198.18.1.12/32", "198.18.2.10/32", "fd00:198:0:1::12/128", "fd00:198:0:2::10/128"] },
      [SET_DNS]: { kind: "selector", id: SET_DNS, selector: "role == 'dns'", members: ["198.18.2.53/32"] },
      [SET_BAD]: { kind: "selector", id: SET_BAD, selector: "bad == 'true'", members: ["192.0.2.0/24", "2001:db8::/32"] },
      [SET_PG]: {
        kind: "named-port",
        id: SET_PG,
        portName: "postgres",
        protocol: 255,
        selector: "",
        members: [
          { addr: "198.18.1.11", protocol: 6, port: 5432 },
          { addr: "fd00:198:0:1::11", protocol: 6, port: 5432 },
        ],
      },
      [SET_SVC]: {
        kind: "service",
        id: SET_SVC,
        service: { namespace: "prod", name: "api" },
        withPorts: true,
        members: [{ addr: "198.18.2.20", protocol: 6, port: 8443 }],
      },
    }),
    endpoints,
    failsafe: {
      inbound: [rule("failsafe/in", "", "ingress", 0, "Allow", { protocol: 6, dst: { ports: [{ first: 22, last: 22 }] } })],
      outbound: [rule("failsafe/out", "", "egress", 0, "Allow", { protocol: 17, dst: { ports: [{ first: 53, last: 53 }] } })],
    },
  };
}

export const SET_RUN_CLIENT = "s:runclient";
export const SET_RUN_DB = "s:rundb";

/**
 * The fixture with web's ingress replaced by one default tier of three policies whose rules are
 * all exact Allow/Deny rules, so they group into one chain and compile into a drop and an accept
 * lookup per family (compile.ts compileRuns). First match decides, across policies:
 *   client → web:80   denied  (run.p1 Deny before run.p2 Allow)
 *   client → web:443  allowed (run.p1 Allow before run.p2 Deny)
 *   client → web:5432, 8080 allowed (run.p2 Allow before run.p3 Deny of 8080)
 *   db → web:5432 allowed by run.p2 before run.p3 denies it (db's own egress policy denies it
 *   before it reaches web, so real-packet tests probe from the client only)
 *   anything else to web: end of tier (denied).
 */
export function runFixtureIR(): ClusterIR {
  const ir = fixtureIR();
  const p = (n: number, rules: Array<[RuleIR["action"], string, number[]]>): PolicyIR =>
    policy({
      key: `gnp/run.p${n}`,
      name: `run.p${n}`,
      tier: "default",
      order: n,
      ingress: rules.map(([action, set, ports], i) => rule(`gnp/run.p${n}`, "default", "ingress", i, action, { protocol: 6, src: { sets: [set] }, dst: { ports: ports.map((x) => ({ first: x, last: x })) } })),
    });
  const pols = [
    p(1, [["Deny", SET_RUN_CLIENT, [80]], ["Allow", SET_RUN_CLIENT, [443]]]),
    p(2, [["Allow", SET_RUN_CLIENT, [80]], ["Deny", SET_RUN_CLIENT, [443]], ["Allow", SET_RUN_CLIENT, [5432, 8080]], ["Allow", SET_RUN_DB, [5432]]]),
    p(3, [["Deny", SET_RUN_CLIENT, [8080]], ["Deny", SET_RUN_DB, [5432]]]),
  ];
  ir.policies = ir.policies.with(pols.map((x) => [x.key, x]));
  ir.sets = ir.sets.with([
    [SET_RUN_CLIENT, { kind: "selector", id: SET_RUN_CLIENT, selector: "role == 'client'", members: ["198.18.1.12/32", "fd00:198:0:1::12/128"] }],
    [SET_RUN_DB, { kind: "selector", id: SET_RUN_DB, selector: "role == 'db'", members: ["198.18.1.11/32", "fd00:198:0:1::11/128"] }],
  ]);
  const web = ir.endpoints.find((e) => e.key === "wep/prod/web")!;
  web.ingress = { tiers: [{ tier: "default", defaultAction: "Deny", policies: pols.map((x) => x.key) }], stagedTiers: [], profiles: [] };
  return ir;
}

/** A default-tier, ingress-only GlobalNetworkPolicy "gnp/<name>" with the given rules (tests of runs and groups). */
export const ingressPolicy = (key: string, ingress: RuleIR[]): PolicyIR => ({
  key,
  kind: "GlobalNetworkPolicy",
  name: key.slice(4),
  tier: "default",
  order: 1,
  staged: false,
  selector: "all()",
  governs: { ingress: true, egress: false },
  ingress,
  egress: [],
  applyOnForward: false,
  preDNAT: false,
  doNotTrack: false,
});

/**
 * fixtureIR with `n` Allow-only ingress policies "knp/prod/k1".."knp/prod/k<n>" (three rules each)
 * as the default tier of both web and db, so that both endpoints share one group chain; with
 * n = 0 that tier is gone. Tests of rule edits grow and shrink the group.
 */
export function groupedFixtureIR(n: number): ClusterIR {
  const ir = fixtureIR();
  const keys: string[] = [];
  for (let i = 1; i <= n; i++) {
    const key = `knp/prod/k${i}`;
    keys.push(key);
    ir.policies = ir.policies.set(key, {
      ...policy({ key, kind: "KubernetesNetworkPolicy", name: `k${i}`, namespace: "prod", tier: "default", order: 1000 + i, governs: { ingress: true, egress: false } }),
      ingress: [
        rule(key, "default", "ingress", 0, "Allow", { protocol: 6, src: { sets: [SET_DNS] }, dst: { ports: [{ first: 8000 + i, last: 8000 + i }] } }),
        rule(key, "default", "ingress", 1, "Allow", { protocol: 17, dst: { ports: [{ first: 9000 + i, last: 9000 + i }] } }),
        rule(key, "default", "ingress", 2, "Allow", { protocol: 6, src: { sets: [SET_CLIENT] }, dst: { ports: [{ first: 7000 + i, last: 7000 + i }] } }),
      ],
    });
  }
  for (const ep of ir.endpoints) {
    if (ep.key !== "wep/prod/web" && ep.key !== "wep/prod/db") continue;
    ep.ingress.tiers = ep.ingress.tiers.flatMap((t) => (t.tier !== "default" ? [t] : keys.length > 0 ? [{ ...t, policies: keys }] : []));
  }
  return ir;
}
