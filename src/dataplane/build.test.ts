import { describe, expect, it } from "vitest";
import type { ClusterIR, PolicyIR, RuleIR, RuleMatch, SetDef } from "../rule/index.js";
import { buildDataplane, checkReferences, DataplaneBuilder, diffModels, type DataplaneModel, type DpRule } from "./index.js";
import { fixtureIR, NODE, SET_CLIENT, SET_DNS } from "./testdata/fixtures.js";
import { collapseCidrs } from "./compile.js";
import { parseCidr } from "../rule/index.js";

const chain = (m: DataplaneModel, name: string) => {
  const c = m.chains.get(name);
  if (!c) throw new Error(`no chain ${name}; have ${m.chains.keyList().join(", ")}`);
  return c;
};

describe("buildDataplane: layout", () => {
  const m = buildDataplane(fixtureIR(), NODE);

  it("programs only the node's endpoints, dispatching by interface", () => {
    expect(m.endpoints.map((e) => e.key)).toEqual(["hep/node1-eth0", "wep/prod/client", "wep/prod/db", "wep/prod/web"]);
    expect(Object.keys(m.maps["cali-to-wl-dispatch"]!.elements).sort()).toEqual(["cali2f5353dd8c5", "cali3754a2f57f6", "cali5e1c4d6c68c"]);
    expect(m.maps["cali-to-wl-dispatch"]!.elements["cali5e1c4d6c68c"]).toEqual({ verdict: "goto", chain: "cali-tw-cali5e1c4d6c68c" });
    expect(m.maps["cali-from-wl-dispatch"]!.elements["cali5e1c4d6c68c"]).toEqual({ verdict: "goto", chain: "cali-fw-cali5e1c4d6c68c" });
    expect(m.chains.keyList().some((c) => c.includes("calid6b219bf875"))).toBe(false);
  });

  it("every referenced chain, set and map exists", () => {
    expect(() => checkReferences(m)).not.toThrow();
  });

  it("jumps only to policies in the endpoint's program, in tier order, with end-of-tier drop only for Deny tiers", () => {
    const tw = chain(m, "cali-tw-cali5e1c4d6c68c").rules;
    const jumps = tw.filter((r) => r.verdict?.kind === "jump").map((r) => (r.verdict as { chain: string }).chain);
    expect(jumps).toEqual(["cali-pi-gnp/sec.block-bad", "cali-pi-np/prod/web", "cali-pri-kns.prod"]);
    const ends = tw.filter((r) => r.label?.startsWith("end of tier")).map((r) => r.label);
    expect(ends).toEqual(["end of tier default"]); // security's default is Pass
    expect(tw.at(-1)!.verdict).toEqual({ kind: "drop" });
    // The client has no default-tier policy: no jump to np/prod/web from its chain.
    const client = chain(m, "cali-tw-cali3754a2f57f6").rules.filter((r) => r.verdict?.kind === "jump");
    expect(client.map((r) => (r.verdict as { chain: string }).chain)).toEqual(["cali-pi-gnp/sec.block-bad", "cali-pri-kns.prod"]);
  });

  it("maps actions: Allow/Pass set a mark bit and return, Deny drops, Log is an NFLOG effect", () => {
    const web = chain(m, "cali-pi-np/prod/web").rules;
    const log = web.find((r) => r.origin?.index === 0)!;
    expect(log.verdict).toBeUndefined();
    expect(log.effects).toEqual([{ kind: "log", prefix: "calico-packet: LPI0|np/prod/web", group: 1 }]);
    expect(m.logIndex["calico-packet: LPI0|np/prod/web"]).toEqual({ kind: "rule", action: "Log", origin: log.origin });
    const deny = web.find((r) => r.origin?.index === 5)!;
    expect(deny.verdict).toEqual({ kind: "drop" });
    const pass = chain(m, "cali-pi-gnp/sec.block-bad").rules.find((r) => r.origin?.index === 1)!;
    expect(pass.effects).toEqual([{ kind: "mark-set", bits: 0x20000 }]);
    expect(pass.verdict).toEqual({ kind: "return" });
  });

  it("does not render staged policies", () => {
    expect(m.chains.keyList().some((c) => c.includes("staged"))).toBe(false);
  });

  it("splits selector sets into a hash set of addresses and an interval set of collapsed CIDRs", () => {
    const addrs = m.sets.get("cali40s-client00000000000000000");
    const nets = m.sets.get("cali4ns-client00000000000000000")!;
    // The addresses part of `client` is only used through the compiled Allow run, so it is not a kernel set.
    expect(addrs).toBeUndefined();
    expect(nets).toMatchObject({ interval: true, elements: ["10.0.0.0/8"] }); // 10.1.0.0/16 is inside 10.0.0.0/8
    const bad6 = m.sets.get("cali6ns-bad00000000000000000000")!;
    expect(bad6.elements).toEqual(["2001:db8::/32"]);
    expect(m.sets.get("cali40s-bad00000000000000000000")!.interval).toBe(false);
  });

  it("compiles a run of Allow rules into one (address . protocol . port) set per family", () => {
    const web = chain(m, "cali-pi-np/prod/web").rules;
    const compiled = web.filter((r) => r.match.some((x) => x.kind === "concat-set" && x.set.startsWith("cali4x")));
    expect(compiled).toHaveLength(1);
    const set = m.sets.get((compiled[0]!.match[0] as { set: string }).set)!;
    expect(set.elements).toEqual([
      "198.18.1.12 . 6 . 443",
      "198.18.1.12 . 6 . 80",
      "198.18.2.10 . 6 . 443",
      "198.18.2.10 . 6 . 80",
      "198.18.2.53 . 17 . 53",
    ]);
    expect(compiled[0]!.origins!.map((o) => o.index)).toEqual([1, 2]);
    const plain = buildDataplane(fixtureIR(), NODE, { config: { compileAllowRuns: false } });
    expect(plain.sets.keyList().some((s) => s.startsWith("cali4x"))).toBe(false);
    expect(plain.sets.get("cali40s-client00000000000000000")!.elements).toEqual(["198.18.1.12", "198.18.2.10"]);
  });

  it("splits rules per family with rule/'s ruleForFamily (v4-only CIDRs and ICMP stay in v4)", () => {
    const web = chain(m, "cali-pi-np/prod/web").rules;
    const byIndex = (i: number) => web.filter((r) => r.origin?.index === i).map((r) => r.match.find((x) => x.kind === "family") ?? r.match[0]);
    expect(byIndex(3).length).toBe(1); // ICMPv4 echo: no IPv6 variant (it could never match)
    expect(byIndex(7).length).toBe(1); // ipVersion 4
    const sctp = web.filter((r) => r.origin?.index === 6);
    expect(sctp.map((r) => r.match.find((x) => x.kind === "addr"))).toEqual([
      { kind: "addr", side: "src", family: 4, cidrs: ["198.18.0.0/16"] },
      { kind: "addr", side: "src", family: 6, cidrs: ["fd00:198::/48"] },
    ]);
  });

  it("host endpoints get normal, forward, preDNAT and untracked chains and failsafe jumps", () => {
    expect(chain(m, "cali-fh-wire0").rules.some((r) => r.verdict?.kind === "jump" && r.verdict.chain === "cali-failsafe-in")).toBe(true);
    const fwdOut = chain(m, "cali-thfw-wire0").rules;
    expect(fwdOut.at(-1)).toMatchObject({ label: "allow forwarded traffic by default", verdict: { kind: "return" } });
    const raw = chain(m, "cali-rfh-wire0").rules;
    expect(raw.some((r) => r.effects?.some((e) => e.kind === "notrack"))).toBe(true);
    expect(raw.some((r) => r.match.some((x) => x.kind === "ct"))).toBe(false); // no conntrack before tracking
    const pre = chain(m, "cali-mfh-wire0").rules;
    expect(pre.some((r) => r.label?.startsWith("end of tier"))).toBe(false);
    expect(m.chains.get("mangle-PREROUTING")!.base).toEqual({ hook: "prerouting", priority: -150, policy: "accept" });
  });

  it("logs denies with Felix's flow-log prefixes when asked", () => {
    const m2 = buildDataplane(fixtureIR(), NODE, { config: { logDenied: true } });
    expect(Object.keys(m2.logIndex)).toEqual(expect.arrayContaining(["DPI|default", "DRI", "DRE", "DPI5|np/prod/web"]));
    expect(m2.logIndex["DPI|default"]).toEqual({ kind: "end-of-tier", direction: "ingress", tier: "default" });
  });

  it("uses reject as the deny verdict when configured", () => {
    const m2 = buildDataplane(fixtureIR(), NODE, { config: { denyAction: "reject" } });
    expect(chain(m2, "cali-tw-cali5e1c4d6c68c").rules.at(-1)!.verdict).toEqual({ kind: "reject" });
    // conntrack-invalid packets are always dropped silently
    expect(chain(m2, "cali-tw-cali5e1c4d6c68c").rules[1]!.verdict).toEqual({ kind: "drop" });
  });
});

describe("buildDataplane: incremental changes are small", () => {
  it("a new pod in a selector changes set elements only", () => {
    const ir = fixtureIR();
    const before = buildDataplane(ir, NODE, { config: { compileAllowRuns: false } });
    const ir2 = fixtureIR();
    (ir2.sets.get(SET_DNS) as unknown as { members: string[] }).members.push("198.18.2.54/32");
    const after = buildDataplane(ir2, NODE, { config: { compileAllowRuns: false } });
    expect(diffModels(before, after)).toEqual([{ op: "add-elements", set: "cali40s-dns00000000000000000000", elements: ["198.18.2.54"] }]);
  });

  it("with compiled runs, a new pod adds one element per (protocol, port) of the run", () => {
    const before = buildDataplane(fixtureIR(), NODE);
    const ir2 = fixtureIR();
    (ir2.sets.get(SET_CLIENT) as unknown as { members: string[] }).members.push("198.18.1.99/32");
    const ops = diffModels(before, buildDataplane(ir2, NODE));
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ op: "add-elements", elements: ["198.18.1.99 . 6 . 443", "198.18.1.99 . 6 . 80"] });
  });

  it("editing one policy replaces only that policy's chain", () => {
    const before = buildDataplane(fixtureIR(), NODE);
    const ir2 = fixtureIR();
    ir2.policies.get("knp/prod/db")!.ingress[0]!.action = "Deny";
    const ops = diffModels(before, buildDataplane(ir2, NODE));
    expect(ops.map((o) => o.op + " " + ("chain" in o ? o.chain.name : ""))).toEqual(["replace-chain cali-pi-knp/prod/db"]);
  });

  it("removing an endpoint deletes its chains and map elements", () => {
    const before = buildDataplane(fixtureIR(), NODE);
    const ir2 = fixtureIR();
    ir2.endpoints = ir2.endpoints.filter((e) => e.key !== "wep/prod/client");
    const ops = diffModels(before, buildDataplane(ir2, NODE));
    expect(ops).toEqual(
      expect.arrayContaining([
        { op: "delete-chain", name: "cali-tw-cali3754a2f57f6" },
        { op: "delete-chain", name: "cali-fw-cali3754a2f57f6" },
        { op: "delete-map-elements", map: "cali-to-wl-dispatch", keys: ["cali3754a2f57f6"] },
      ]),
    );
    expect(ops.some((o) => o.op === "replace-chain")).toBe(false);
  });
});

// ------------------------------------------------------------------------------------ one rule, all shapes

function oneRuleIR(match: Partial<RuleMatch>, action: RuleIR["action"] = "Allow", sets: Record<string, SetDef> = {}): ClusterIR {
  const ir = fixtureIR();
  ir.sets = ir.sets.with(Object.entries(sets));
  ir.policies.get("np/prod/web")!.ingress = [{ action, match: { src: {}, dst: {}, ...match }, origin: { tier: "default", policy: "np/prod/web", direction: "ingress", index: 0 } }];
  return ir;
}

function webRules(ir: ClusterIR): DpRule[] {
  return buildDataplane(ir, NODE, { config: { compileAllowRuns: false } }).chains.get("cali-pi-np/prod/web")!.rules;
}

describe("compileMatch: IR shapes → kernel conditions", () => {
  const cases: Array<{ name: string; match: Partial<RuleMatch>; rules: number; has?: unknown[] }> = [
    { name: "empty rule: one rule per family", match: {}, rules: 2 },
    { name: "ipVersion 6 only", match: { ipVersion: 6 }, rules: 1, has: [{ kind: "family", family: 6 }] },
    { name: "nets of one family drop the other", match: { src: { nets: ["10.0.0.0/8"] } }, rules: 1 },
    { name: "negated catch-all (and no IPv6 entries): not rendered at all", match: { src: { notNets: ["0.0.0.0/0"] } }, rules: 0 },
    { name: "selector set: addresses, or CIDRs where it has some (v4 only here)", match: { src: { sets: [SET_CLIENT] } }, rules: 3 },
    { name: "two selector sets (AND): product of their alternatives", match: { src: { sets: [SET_CLIENT, SET_DNS] } }, rules: 3 },
    { name: "notSelector: one rule, both parts negated", match: { src: { notSets: [SET_CLIENT] } }, rules: 2 },
    {
      name: "ports OR named port: one alternative each",
      match: { protocol: 6, dst: { ports: [{ first: 80, last: 80 }], namedPortSets: ["n:postgres00000000000000000000000000000"] } },
      rules: 4,
    },
    { name: "notPorts with protocol: one rule", match: { protocol: 17, dst: { notPorts: [{ first: 53, last: 53 }] } }, rules: 2 },
    {
      name: "notPorts without protocol: portless or port-not-in",
      match: { dst: { notPorts: [{ first: 53, last: 53 }] } },
      rules: 4,
      has: [{ kind: "proto", protocols: [6, 17, 132, 136], negate: true }],
    },
    {
      name: "ports without protocol require a port-carrying protocol",
      match: { dst: { ports: [{ first: 1, last: 5 }] } },
      rules: 2,
      has: [{ kind: "proto", protocols: [6, 17, 132, 136] }],
    },
    { name: "ICMP type+code", match: { protocol: 1, icmp: { type: 3, code: 4 } }, rules: 1, has: [{ kind: "icmp", family: 4, type: 3, code: 4 }] },
    { name: "ICMPv6 notICMP", match: { protocol: 58, notIcmp: { type: 128, code: 0 } }, rules: 1, has: [{ kind: "icmp", family: 6, type: 128, code: 0, negate: true }] },
    { name: "notProtocol", match: { notProtocol: 6 }, rules: 2, has: [{ kind: "proto", protocols: [6], negate: true }] },
    { name: "service with ports: concat lookup", match: { protocol: 6, dst: { serviceSet: "svc:prod-api" } }, rules: 2 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const rules = webRules(oneRuleIR(c.match));
      expect(rules).toHaveLength(c.rules);
      for (const h of c.has ?? []) expect(rules.flatMap((r) => r.match)).toContainEqual(h);
    });
  }

  it("neverMatches rules are not rendered", () => {
    const ir = oneRuleIR({});
    ir.policies.get("np/prod/web")!.ingress[0]!.neverMatches = "notNets covers everything";
    expect(webRules(ir)).toEqual([]);
  });
});

describe("allow-only policies of a tier share one group chain", () => {
  const allowPolicy = (name: string, port: number): PolicyIR => ({
    key: `knp/prod/${name}`,
    kind: "KubernetesNetworkPolicy",
    name,
    namespace: "prod",
    tier: "default",
    order: 1000,
    staged: false,
    selector: "all()",
    governs: { ingress: true, egress: false },
    ingress: [{ action: "Allow", match: { protocol: 6, src: { sets: [SET_DNS] }, dst: { ports: [{ first: port, last: port }] } }, origin: { tier: "default", policy: `knp/prod/${name}`, direction: "ingress", index: 0 } }],
    egress: [],
    applyOnForward: false,
    preDNAT: false,
    doNotTrack: false,
  });
  const irWith = (keys: string[]) => {
    const ir = fixtureIR();
    for (const k of ["k1", "k2", "k3"]) ir.policies = ir.policies.set(`knp/prod/${k}`, allowPolicy(k, 8000 + Number(k[1])));
    const web = ir.endpoints.find((e) => e.key === "wep/prod/web")!;
    web.ingress.tiers[1]!.policies = keys;
    return ir;
  };

  it("three allow-only policies → one jump to one chain with one compiled lookup per family", () => {
    const m = buildDataplane(irWith(["knp/prod/k1", "knp/prod/k2", "knp/prod/k3"]), NODE);
    const jumps = m.chains.get("cali-tw-cali5e1c4d6c68c")!.rules.filter((r) => r.verdict?.kind === "jump").map((r) => (r.verdict as { chain: string }).chain);
    expect(jumps).toHaveLength(3); // security tier, the group, the profile
    const group = jumps[1]!;
    expect(group).toMatch(/^cali-gi-/);
    const rules = m.chains.get(group)!.rules;
    expect(rules.map((r) => r.match.map((x) => x.kind))).toEqual([["concat-set"], ["concat-set"]]); // one per family
    expect(m.sets.get((rules[0]!.match[0] as { set: string }).set)!.elements).toEqual(["198.18.2.53 . 6 . 8001", "198.18.2.53 . 6 . 8002", "198.18.2.53 . 6 . 8003"]);
  });

  it("a policy with Deny, Pass or Log rules joins the group too, its rules in place; groupAllowPolicies=false keeps a chain each", () => {
    const keys = ["knp/prod/k1", "np/prod/web", "knp/prod/k2", "knp/prod/k3"];
    const ir = irWith(keys);
    const web = ir.policies.get("np/prod/web")!;
    expect(new Set(web.ingress.map((r) => r.action)).size).toBeGreaterThan(1); // not allow-only
    const m = buildDataplane(ir, NODE);
    const jumps = m.chains.get("cali-tw-cali5e1c4d6c68c")!.rules.filter((r) => r.verdict?.kind === "jump").map((r) => (r.verdict as { chain: string }).chain);
    expect(jumps).toHaveLength(3); // security tier, the group, the profile
    const rules = m.chains.get(jumps[1]!)!.rules;
    // Every policy's rules are in the group, and the first rule naming each policy comes in
    // policy order.
    const firstAt = keys.map((k) => rules.findIndex((r) => (r.origins ?? (r.origin ? [r.origin] : [])).some((o) => o.policy === k)));
    expect(firstAt.every((i) => i >= 0)).toBe(true);
    expect([...firstAt].sort((a, b) => a - b)).toEqual(firstAt);
    const off = buildDataplane(irWith(["knp/prod/k1", "knp/prod/k2"]), NODE, { config: { groupAllowPolicies: false } });
    expect(off.chains.keyList().some((c) => c.startsWith("cali-gi-"))).toBe(false);
  });

  it("a long group chain is cut into pieces by content: a policy inserted in the middle changes the pieces around it only", () => {
    const config = { compileAllowRuns: false, groupChunkRules: 8 };
    const manyIR = (names: string[]) => {
      const ir = fixtureIR();
      for (const n of names) ir.policies = ir.policies.set(`knp/prod/${n}`, allowPolicy(n, n === "new" ? 8999 : 9000 + Number(n.slice(1))));
      ir.endpoints.find((e) => e.key === "wep/prod/web")!.ingress.tiers[1]!.policies = names.map((n) => `knp/prod/${n}`);
      return ir;
    };
    const names = Array.from({ length: 80 }, (_, i) => `p${String(i).padStart(2, "0")}`);
    const pieces = (m: DataplaneModel) => m.chains.keyList().filter((c) => c.startsWith("cali-gci-"));
    const b = new DataplaneBuilder(NODE, { config });
    const before = b.build(manyIR(names));
    const ruleCount = before.chains.valueList().filter((c) => c.name.startsWith("cali-gci-")).reduce((n, c) => n + c.rules.length, 0);
    expect(ruleCount).toBeGreaterThan(100); // every policy's rules, now in pieces
    expect(pieces(before).length).toBeGreaterThan(5);
    const group = before.chains.valueList().find((c) => c.name.startsWith("cali-gi-"))!;
    expect(group.rules.length).toBe(2 * pieces(before).length - 1); // jump, then return if decided
    // One policy more, in the middle of the list (its port is new, so its rules are new content).
    const after = b.build(manyIR([...names.slice(0, 40), "new", ...names.slice(40)]));
    const gone = pieces(before).filter((c) => !after.chains.has(c));
    const added = pieces(after).filter((c) => !before.chains.has(c));
    expect(gone.length).toBeLessThanOrEqual(2);
    expect(added.length).toBeLessThanOrEqual(3);
    expect(after).toEqual(buildDataplane(manyIR([...names.slice(0, 40), "new", ...names.slice(40)]), NODE, { config }));
    // The delta adds the new pieces and rewrites only the group chain (renamed: its policies
    // changed) and the endpoint chain that jumps to it.
    const ops = diffModels(before, after).filter((o) => o.op === "add-chain" || o.op === "replace-chain");
    expect(ops.length).toBeLessThanOrEqual(added.length + 1 /* the group */ + 1 /* web's endpoint chain */);
  });
});

describe("collapseCidrs", () => {
  const c = (xs: string[]) => collapseCidrs(xs.map((x) => parseCidr(x)!)).map((x) => `${x.base.toString(16)}/${x.prefix}`);
  it("drops contained CIDRs and keeps disjoint ones", () => {
    expect(c(["10.1.0.0/16", "10.0.0.0/8", "10.2.3.0/24", "11.0.0.0/8"])).toEqual(["a000000/8", "b000000/8"]);
    expect(c(["10.0.0.0/25", "10.0.0.128/25"])).toEqual(["a000000/25", "a000080/25"]);
  });
});
