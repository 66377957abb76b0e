import { describe, expect, it } from "vitest";
import type { ClusterIR, DirectionProgram, Packet, PolicyIR, RuleAction, RuleIR, RuleMatch, SetDef } from "./ir.js";
import { evaluateDirection, indexSets, matchRule, ruleForFamily, stagedAffects, stagedView, type EvaluateOptions } from "./match.js";
import { ChunkedMap } from "../model/index.js";

const SETS: Record<string, SetDef> = {
  "s:web": { kind: "selector", id: "s:web", selector: "app == 'web'", members: ["10.0.0.1/32", "fd00::1/128"] },
  "s:db": { kind: "selector", id: "s:db", selector: "app == 'db'", members: ["10.0.0.2/32"] },
  "s:net": { kind: "selector", id: "s:net", selector: "role == 'external'", members: ["192.0.2.0/24"] },
  "n:http": {
    kind: "named-port",
    id: "n:http",
    portName: "http",
    protocol: 6,
    selector: "all()",
    members: [
      { addr: "10.0.0.1", protocol: 6, port: 8080 },
      { addr: "10.0.0.2", protocol: 6, port: 9090 },
    ],
  },
  "svc:web": {
    kind: "service",
    id: "svc:web",
    service: { namespace: "prod", name: "web" },
    withPorts: true,
    members: [{ addr: "10.0.0.1", protocol: 6, port: 8080 }],
  },
  "svcnoport:web": {
    kind: "service",
    id: "svcnoport:web",
    service: { namespace: "prod", name: "web" },
    withPorts: false,
    members: [{ addr: "10.0.0.1", protocol: 0, port: 0 }],
  },
};
const sets = indexSets(ChunkedMap.fromRecord(SETS));

const tcp = (src: string, dst: string, dstPort = 80, srcPort = 40000): Packet => ({
  family: src.includes(":") ? 6 : 4,
  protocol: 6,
  srcIP: src,
  dstIP: dst,
  srcPort,
  dstPort,
});
const icmp = (src: string, dst: string, type: number, code = 0): Packet => ({
  family: src.includes(":") ? 6 : 4,
  protocol: src.includes(":") ? 58 : 1,
  srcIP: src,
  dstIP: dst,
  icmpType: type,
  icmpCode: code,
});

const m = (partial: Partial<RuleMatch>): RuleMatch => ({ src: {}, dst: {}, ...partial });

describe("matchRule: one field at a time", () => {
  const A = "10.0.0.1"; // web, named port http=8080
  const B = "10.0.0.2"; // db
  const X = "192.0.2.7"; // in the network set
  const cases: Array<[string, RuleMatch, Packet, boolean, string?]> = [
    ["empty rule matches everything", m({}), tcp(X, B), true],
    ["protocol equal", m({ protocol: 6 }), tcp(A, B), true],
    ["protocol differs", m({ protocol: 17 }), tcp(A, B), false, "protocol"],
    ["notProtocol excludes", m({ notProtocol: 6 }), tcp(A, B), false, "notProtocol"],
    ["notProtocol other", m({ notProtocol: 17 }), tcp(A, B), true],
    ["ipVersion 6 on v4 packet", m({ ipVersion: 6 }), tcp(A, B), false, "ipVersion"],
    ["src nets OR: second entry", m({ src: { nets: ["172.16.0.0/12", "10.0.0.0/8"] } }), tcp(A, B), true],
    ["src nets none", m({ src: { nets: ["172.16.0.0/12"] } }), tcp(A, B), false, "source.nets"],
    ["src notNets hit", m({ src: { notNets: ["10.0.0.0/30"] } }), tcp(A, B), false, "source.notNets"],
    ["src notNets miss", m({ src: { notNets: ["10.1.0.0/16"] } }), tcp(A, B), true],
    ["dst nets", m({ dst: { nets: ["10.0.0.2/32"] } }), tcp(A, B), true],
    ["src selector set member", m({ src: { sets: ["s:web"] } }), tcp(A, B), true],
    ["src selector set non-member", m({ src: { sets: ["s:web"] } }), tcp(B, A), false, "source.selector"],
    ["sets are AND-ed", m({ src: { sets: ["s:web", "s:db"] } }), tcp(A, B), false, "source.selector"],
    ["network-set CIDR member", m({ src: { sets: ["s:net"] } }), tcp(X, B), true],
    ["notSets", m({ dst: { notSets: ["s:db"] } }), tcp(A, B), false, "destination.notSelector"],
    ["notSets miss", m({ dst: { notSets: ["s:web"] } }), tcp(A, B), true],
    ["dst port single", m({ protocol: 6, dst: { ports: [{ first: 80, last: 80 }] } }), tcp(A, B, 80), true],
    ["dst port range inclusive", m({ protocol: 6, dst: { ports: [{ first: 70, last: 80 }] } }), tcp(A, B, 80), true],
    ["dst port outside", m({ protocol: 6, dst: { ports: [{ first: 81, last: 90 }] } }), tcp(A, B, 80), false, "destination.ports"],
    ["src port", m({ protocol: 6, src: { ports: [{ first: 40000, last: 40000 }] } }), tcp(A, B), true],
    ["notPorts hit", m({ protocol: 6, dst: { notPorts: [{ first: 80, last: 80 }] } }), tcp(A, B, 80), false, "destination.notPorts"],
    ["notPorts miss", m({ protocol: 6, dst: { notPorts: [{ first: 22, last: 22 }] } }), tcp(A, B, 80), true],
    ["named port: member (ip, proto, port)", m({ protocol: 6, dst: { namedPortSets: ["n:http"] } }), tcp(B, A, 8080), true],
    ["named port: port of another endpoint", m({ protocol: 6, dst: { namedPortSets: ["n:http"] } }), tcp(B, A, 9090), false, "destination.ports"],
    ["named port OR numeric", m({ protocol: 6, dst: { ports: [{ first: 443, last: 443 }], namedPortSets: ["n:http"] } }), tcp(B, A, 443), true],
    ["named port: protocol must match member", m({ dst: { namedPortSets: ["n:http"] } }), { ...tcp(B, A, 8080), protocol: 17 }, false, "destination.ports"],
    ["notNamedPortSets hit", m({ protocol: 6, dst: { notNamedPortSets: ["n:http"] } }), tcp(B, A, 8080), false, "destination.notPorts"],
    ["portless packet fails positive ports", m({ dst: { ports: [{ first: 1, last: 65535 }] } }), icmp(A, B, 8), false, "destination.ports"],
    ["portless packet passes notPorts", m({ dst: { notPorts: [{ first: 1, last: 65535 }] } }), icmp(A, B, 8), true],
    ["dst service with ports", m({ dst: { serviceSet: "svc:web" } }), tcp(B, A, 8080), true],
    ["dst service wrong port", m({ dst: { serviceSet: "svc:web" } }), tcp(B, A, 80), false, "destination.services"],
    ["src service (addresses only)", m({ src: { serviceSet: "svcnoport:web" } }), tcp(A, B, 1), true],
    ["src service non-member", m({ src: { serviceSet: "svcnoport:web" } }), tcp(B, A, 1), false, "source.services"],
    ["icmp type", m({ protocol: 1, icmp: { type: 8 } }), icmp(A, B, 8, 3), true],
    ["icmp type+code", m({ protocol: 1, icmp: { type: 8, code: 0 } }), icmp(A, B, 8, 3), false, "icmp"],
    ["icmp other type", m({ protocol: 1, icmp: { type: 0 } }), icmp(A, B, 8), false, "icmp"],
    ["icmp on a TCP packet", m({ icmp: { type: 8 } }), tcp(A, B), false, "icmp"],
    ["notICMP excludes type", m({ protocol: 1, notIcmp: { type: 8 } }), icmp(A, B, 8), false, "notICMP"],
    ["notICMP other type", m({ protocol: 1, notIcmp: { type: 8 } }), icmp(A, B, 0), true],
    ["notICMP needs an ICMP packet", m({ notIcmp: { type: 8 } }), tcp(A, B), false, "notICMP"],
    ["ICMPv6 type", m({ protocol: 58, icmp: { type: 128 } }), icmp("fd00::1", "fd00::2", 128), true],
    ["ICMP (v4) rule vs ICMPv6 packet", m({ protocol: 1, icmp: { type: 8 } }), icmp("fd00::1", "fd00::2", 8), false, "protocol"],
    ["IPv6 selector member", m({ src: { sets: ["s:web"] } }), tcp("fd00::1", "fd00::2"), true],
    ["IPv6 non-canonical spelling", m({ src: { sets: ["s:web"] } }), tcp("FD00:0::0001", "fd00::2"), true],
  ];
  it.each(cases)("%s", (_name, match, packet, want, field) => {
    const r = matchRule({ match }, packet, sets);
    expect(r.matched).toBe(want);
    if (!want) {
      expect(r.field).toBe(field);
      expect(r.reason).toBeTruthy();
    }
    // The fast path (no explanation) must agree.
    expect(matchRule({ match }, packet, sets, false).matched).toBe(want);
  });

  it("neverMatches", () => {
    const r = matchRule({ match: m({}), neverMatches: "negated catch-all" }, tcp(A, B), sets);
    expect(r).toMatchObject({ matched: false, field: "neverMatches" });
  });

  it("reports the fields that held", () => {
    const r = matchRule({ match: m({ protocol: 6, src: { sets: ["s:web"] }, dst: { ports: [{ first: 80, last: 80 }] } }) }, tcp(A, B), sets);
    expect(r.fields).toEqual(["protocol", "source.selector", "destination.ports"]);
  });

  it("unknown set id is a bug, not a silent miss", () => {
    expect(() => matchRule({ match: m({ src: { sets: ["s:nope"] } }) }, tcp(A, B), sets)).toThrow(/Probably bug/);
  });
});

describe("ruleForFamily", () => {
  const cases: Array<[string, RuleMatch, 4 | 6, RuleMatch | null]> = [
    ["no CIDRs: both families", m({ protocol: 6 }), 6, m({ protocol: 6 })],
    ["ipVersion 4 on v6", m({ ipVersion: 4 }), 6, null],
    ["ipVersion 6 on v6", m({ ipVersion: 6 }), 6, m({ ipVersion: 6 })],
    ["mixed nets filtered", m({ src: { nets: ["10.0.0.0/8", "fd00::/8"] } }), 6, m({ src: { nets: ["fd00::/8"] } })],
    ["v4-only nets skipped on v6", m({ src: { nets: ["10.0.0.0/8"] } }), 6, null],
    ["v4-only notNets skipped on v6 (Calico)", m({ dst: { notNets: ["10.0.0.0/8"] } }), 6, null],
    ["negated catch-all skipped", m({ src: { notNets: ["0.0.0.0/0"] } }), 4, null],
    ["negated catch-all among others", m({ src: { notNets: ["10.0.0.0/8", "0.0.0.0/0"] } }), 4, null],
    ["negated v6 catch-all only affects v6… and v4 has no entries", m({ src: { notNets: ["::/0"] } }), 4, null],
    ["positive catch-all is fine", m({ src: { nets: ["0.0.0.0/0"] } }), 4, m({ src: { nets: ["0.0.0.0/0"] } })],
  ];
  it.each(cases)("%s", (_n, match, fam, want) => {
    expect(ruleForFamily(match, fam)).toEqual(want);
  });
});

// ---------------------------------------------------------------- evaluateDirection

let seq = 0;
function rule(action: RuleAction, match: Partial<RuleMatch> = {}, policy = "p", index = 0, tier = "default"): RuleIR {
  return { action, match: m(match), origin: { tier, policy, direction: "ingress", index } };
}

function policy(key: string, tier: string, ingress: RuleIR[], extra: Partial<PolicyIR> = {}): PolicyIR {
  const name = key.split("/").pop()!;
  const fixed = ingress.map((r, i) => ({ ...r, origin: { ...r.origin, tier, policy: key, index: i } }));
  return {
    key,
    kind: "GlobalNetworkPolicy",
    name,
    tier,
    order: extra.order ?? ++seq,
    staged: false,
    selector: "all()",
    governs: { ingress: true, egress: false },
    ingress: fixed,
    egress: [],
    applyOnForward: false,
    preDNAT: false,
    doNotTrack: false,
    ...extra,
  };
}

function cluster(policies: PolicyIR[], profiles: Record<string, RuleIR[]> = {}): ClusterIR {
  return {
    tiers: [
      { name: "security", order: 100, defaultAction: "Deny" },
      { name: "platform", order: 200, defaultAction: "Pass" },
      { name: "default", order: 1_000_000, defaultAction: "Deny" },
    ],
    policies: ChunkedMap.fromEntries(policies.map((p) => [p.key, p])),
    profiles: Object.fromEntries(
      Object.entries(profiles).map(([k, rules]) => [
        k,
        { key: k, name: k.slice(4), ingress: rules.map((r, i) => ({ ...r, origin: { ...r.origin, tier: "", policy: k, index: i } })), egress: [] },
      ]),
    ),
    sets: ChunkedMap.fromRecord(SETS),
    endpoints: [],
  };
}

function program(tiers: Array<[string, "Deny" | "Pass", string[]]>, profiles: string[] = [], staged: Array<[string, "Deny" | "Pass", string[]]> = []): DirectionProgram {
  return {
    direction: "ingress",
    tiers: tiers.map(([tier, defaultAction, policies]) => ({ tier, defaultAction, policies })),
    stagedTiers: staged.map(([tier, defaultAction, policies]) => ({ tier, defaultAction, policies })),
    profiles,
  };
}

const PKT = tcp("10.0.0.1", "10.0.0.2", 80);

function run(ir: ClusterIR, prog: DirectionProgram, opts?: EvaluateOptions, pkt = PKT) {
  const r = evaluateDirection(prog, ir, pkt, indexSets(ir.sets), opts);
  // The untraced run must always agree with the traced one.
  const fast = evaluateDirection(prog, ir, pkt, indexSets(ir.sets), { ...opts, trace: false });
  expect(fast.verdict).toBe(r.verdict);
  expect(fast.decidedBy).toEqual(r.decidedBy);
  expect(fast.steps).toEqual([]);
  return r;
}

describe("evaluateDirection: tiers, actions, profiles", () => {
  it("Allow in the first tier ends everything (later Deny never reached)", () => {
    const ir = cluster([policy("gnp/a", "security", [rule("Allow")]), policy("gnp/b", "default", [rule("Deny")])]);
    const r = run(ir, program([["security", "Deny", ["gnp/a"]], ["default", "Deny", ["gnp/b"]]]));
    expect(r.verdict).toBe("allow");
    expect(r.decidedBy).toEqual({ kind: "rule", origin: { tier: "security", policy: "gnp/a", direction: "ingress", index: 0 }, action: "Allow" });
  });

  it("Deny wins over a later Allow in the same policy", () => {
    const ir = cluster([policy("gnp/a", "default", [rule("Deny", { protocol: 6 }), rule("Allow")])]);
    expect(run(ir, program([["default", "Deny", ["gnp/a"]]])).verdict).toBe("deny");
  });

  it("Log does not end processing", () => {
    const ir = cluster([policy("gnp/a", "default", [rule("Log"), rule("Allow")])]);
    const r = run(ir, program([["default", "Deny", ["gnp/a"]]]));
    expect(r.verdict).toBe("allow");
    expect(r.steps.filter((s) => s.kind === "rule").map((s) => (s as { effect: string }).effect)).toEqual(["log", "allow"]);
  });

  it("Pass skips the rest of the tier (also later policies of the tier)", () => {
    const ir = cluster([
      policy("gnp/pass", "security", [rule("Pass"), rule("Deny")], { order: 1 }),
      policy("gnp/deny", "security", [rule("Deny")], { order: 2 }),
      policy("gnp/allow", "default", [rule("Allow")]),
    ]);
    const r = run(ir, program([["security", "Deny", ["gnp/pass", "gnp/deny"]], ["default", "Deny", ["gnp/allow"]]]));
    expect(r.verdict).toBe("allow");
    expect(r.decidedBy).toMatchObject({ origin: { policy: "gnp/allow" } });
  });

  it("Pass out of the last tier goes to the profiles", () => {
    const ir = cluster([policy("gnp/pass", "default", [rule("Pass")])], { "pro/kns.prod": [rule("Allow")] });
    const r = run(ir, program([["default", "Deny", ["gnp/pass"]]], ["pro/kns.prod"]));
    expect(r.verdict).toBe("allow");
    expect(r.decidedBy).toMatchObject({ origin: { tier: "", policy: "pro/kns.prod" } });
  });

  it("end of tier with defaultAction Deny drops (profiles not consulted)", () => {
    const ir = cluster([policy("gnp/a", "default", [rule("Allow", { protocol: 17 })])], { "pro/kns.prod": [rule("Allow")] });
    const r = run(ir, program([["default", "Deny", ["gnp/a"]]], ["pro/kns.prod"]));
    expect(r).toMatchObject({ verdict: "deny", decidedBy: { kind: "end-of-tier", tier: "default" } });
  });

  it("end of tier with defaultAction Pass continues to the next tier", () => {
    const ir = cluster([policy("gnp/a", "platform", [rule("Deny", { protocol: 17 })]), policy("gnp/b", "default", [rule("Allow")])]);
    const r = run(ir, program([["platform", "Pass", ["gnp/a"]], ["default", "Deny", ["gnp/b"]]]));
    expect(r.verdict).toBe("allow");
    expect(r.steps.some((s) => s.kind === "end-of-tier" && s.effect === "pass")).toBe(true);
  });

  it("a governing policy with zero rules denies at end of tier", () => {
    const ir = cluster([policy("gnp/a", "default", [])]);
    expect(run(ir, program([["default", "Deny", ["gnp/a"]]])).decidedBy).toEqual({ kind: "end-of-tier", tier: "default" });
  });

  it("no tiers: profiles decide; kns allows", () => {
    const ir = cluster([], { "pro/kns.prod": [rule("Allow")], "pro/ksa.prod.sa": [] });
    expect(run(ir, program([], ["pro/kns.prod", "pro/ksa.prod.sa"])).verdict).toBe("allow");
  });

  it("no tiers and no profiles: drop", () => {
    const r = run(cluster([]), program([]));
    expect(r).toMatchObject({ verdict: "deny", decidedBy: { kind: "no-profile-accepted" } });
  });

  it("profile Deny decides; profile Pass skips the rest of that profile only", () => {
    const ir = cluster([], { "pro/a": [rule("Pass"), rule("Deny")], "pro/b": [rule("Allow")], "pro/c": [rule("Deny")] });
    expect(run(ir, program([], ["pro/a", "pro/b"])).verdict).toBe("allow");
    expect(run(ir, program([], ["pro/c", "pro/b"])).verdict).toBe("deny");
  });

  it("a profile missing from the IR contributes nothing", () => {
    const ir = cluster([], { "pro/b": [rule("Allow")] });
    expect(run(ir, program([], ["pro/missing", "pro/b"])).verdict).toBe("allow");
  });

  it("rules skipped for the family are reported, and the next rule runs", () => {
    const ir = cluster([policy("gnp/a", "default", [rule("Deny", { src: { nets: ["fd00::/8"] } }), rule("Allow")])]);
    const r = run(ir, program([["default", "Deny", ["gnp/a"]]]));
    expect(r.verdict).toBe("allow");
    expect(r.steps[0]).toMatchObject({ kind: "rule-skipped", index: 0 });
  });

  it("egress programs run the egress rule lists", () => {
    const p = policy("gnp/e", "default", []);
    p.egress = [{ action: "Deny", match: m({}), origin: { tier: "default", policy: "gnp/e", direction: "egress", index: 0 } }];
    p.governs = { ingress: false, egress: true };
    const ir = cluster([p]);
    const prog = { ...program([["default", "Deny", ["gnp/e"]]]), direction: "egress" as const };
    expect(run(ir, prog).decidedBy).toMatchObject({ kind: "rule", action: "Deny" });
  });

  it("a program without direction is a bug", () => {
    const prog = { ...program([]), direction: undefined };
    expect(() => evaluateDirection(prog, cluster([]), PKT, sets)).toThrow(/direction/);
  });
});

describe("evaluateDirection: chain flavours and failsafe", () => {
  it("forward: no tiers → allowed by default", () => {
    expect(run(cluster([]), program([]), { chain: "forward" })).toMatchObject({ verdict: "allow", decidedBy: { kind: "forward-default" } });
  });
  it("forward: tiers apply with end-of-tier drop and no profiles", () => {
    const ir = cluster([policy("gnp/f", "default", [rule("Allow", { protocol: 17 })])], { "pro/x": [rule("Allow")] });
    expect(run(ir, program([["default", "Deny", ["gnp/f"]]], ["pro/x"]), { chain: "forward" }).verdict).toBe("deny");
  });
  it("forward: Pass past the last tier returns undecided", () => {
    const ir = cluster([policy("gnp/f", "default", [rule("Pass")])]);
    expect(run(ir, program([["default", "Deny", ["gnp/f"]]]), { chain: "forward" }).verdict).toBe("none");
  });
  it.each(["preDNAT", "untracked"] as const)("%s: no end-of-tier drop; undecided falls through", (chain) => {
    const ir = cluster([policy("gnp/u", "default", [rule("Allow", { protocol: 17 })])]);
    const r = run(ir, program([["default", "Deny", ["gnp/u"]]]), { chain });
    expect(r.verdict).toBe("none");
    const ir2 = cluster([policy("gnp/u", "default", [rule("Deny")])]);
    expect(run(ir2, program([["default", "Deny", ["gnp/u"]]]), { chain }).verdict).toBe("deny");
  });
  it("failsafe accepts before any policy; non-matching failsafe falls to policy", () => {
    const ir = cluster([policy("gnp/d", "default", [rule("Deny")])]);
    const fs: RuleIR[] = [
      { action: "Allow", match: m({ protocol: 6, dst: { ports: [{ first: 22, last: 22 }] } }), origin: { tier: "", policy: "failsafe/in", direction: "ingress", index: 0 } },
      { action: "Allow", match: m({ protocol: 6, src: { nets: ["fd00::/8"] }, dst: { ports: [{ first: 80, last: 80 }] } }), origin: { tier: "", policy: "failsafe/in", direction: "ingress", index: 1 } },
    ];
    const prog = program([["default", "Deny", ["gnp/d"]]]);
    expect(run(ir, prog, { failsafe: fs }, tcp("10.0.0.1", "10.0.0.2", 22))).toMatchObject({ verdict: "allow", decidedBy: { kind: "failsafe" } });
    // The second failsafe is IPv6-only: not rendered for the v4 packet.
    expect(run(ir, prog, { failsafe: fs }, tcp("10.0.0.1", "10.0.0.2", 80)).verdict).toBe("deny");
  });
});

describe("staged what-if view", () => {
  it("a staged policy is not enforced but changes the staged verdict", () => {
    const staged = policy("sgnp/deny-all", "default", [rule("Deny")], { staged: true, kind: "StagedGlobalNetworkPolicy", stagedAction: "Set", stagedTarget: "gnp/deny-all" });
    const ir = cluster([staged], { "pro/kns.prod": [rule("Allow")] });
    const prog = program([], ["pro/kns.prod"], [["default", "Deny", ["sgnp/deny-all"]]]);
    expect(run(ir, prog).verdict).toBe("allow");
    expect(run(ir, prog, { staged: true }).verdict).toBe("deny");
    expect(stagedAffects(prog, ir)).toBe(true);
  });

  it("staged Set replaces the enforced policy of the same name", () => {
    const enforced = policy("gnp/web", "default", [rule("Deny")], { order: 10 });
    const staged = policy("sgnp/web", "default", [rule("Allow")], { order: 10, staged: true, kind: "StagedGlobalNetworkPolicy", stagedAction: "Set", stagedTarget: "gnp/web" });
    const ir = cluster([enforced, staged]);
    const prog = program([["default", "Deny", ["gnp/web"]]], [], [["default", "Deny", ["sgnp/web"]]]);
    expect(run(ir, prog).verdict).toBe("deny");
    expect(stagedView(prog, ir, "ingress").tiers).toEqual([{ tier: "default", defaultAction: "Deny", policies: ["sgnp/web"] }]);
    expect(run(ir, prog, { staged: true }).verdict).toBe("allow");
  });

  it("staged Delete removes the enforced policy; a tier left empty no longer applies", () => {
    const enforced = policy("gnp/web", "default", [rule("Deny")]);
    const del = policy("sgnp/web", "default", [], { staged: true, kind: "StagedGlobalNetworkPolicy", stagedAction: "Delete", stagedTarget: "gnp/web", governs: { ingress: false, egress: false } });
    const ir = cluster([enforced, del], { "pro/kns.prod": [rule("Allow")] });
    const prog = program([["default", "Deny", ["gnp/web"]]], ["pro/kns.prod"]);
    expect(run(ir, prog).verdict).toBe("deny");
    expect(stagedAffects(prog, ir)).toBe(true);
    expect(run(ir, prog, { staged: true }).verdict).toBe("allow");
  });

  it("staged policies merge into tier order", () => {
    const a = policy("gnp/a", "default", [rule("Allow")], { order: 20 });
    const s = policy("sgnp/s", "default", [rule("Deny")], { order: 10, staged: true, kind: "StagedGlobalNetworkPolicy", stagedAction: "Set", stagedTarget: "gnp/s" });
    const t = policy("sgnp/t", "security", [rule("Pass")], { order: 1, staged: true, kind: "StagedGlobalNetworkPolicy", stagedAction: "Ignore", stagedTarget: "gnp/t" });
    const ir = cluster([a, s, t]);
    const prog = program([["default", "Deny", ["gnp/a"]]], [], [["security", "Deny", ["sgnp/t"]], ["default", "Deny", ["sgnp/s"]]]);
    expect(stagedView(prog, ir, "ingress").tiers).toEqual([{ tier: "default", defaultAction: "Deny", policies: ["sgnp/s", "gnp/a"] }]);
    expect(run(ir, prog, { staged: true }).verdict).toBe("deny");
  });

  it("without staged policies nothing is affected", () => {
    const ir = cluster([policy("gnp/a", "default", [rule("Allow")])]);
    expect(stagedAffects(program([["default", "Deny", ["gnp/a"]]]), ir)).toBe(false);
  });
});
