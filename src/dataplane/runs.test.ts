/**
 * Compiled Allow/Deny runs (compile.ts compileRuns): a golden of one run, and a property that the
 * compiled chains decide every packet as walking the IR rules in order (first match) does.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cidrContains, indexSets, matchRule, parseAddr, parseCidr, ruleForFamily, type ClusterIR, type EndpointIR, type EntityMatch, type PortRange, type Packet, type PolicyIR, type RuleIR, type RuleMatch, type SetDef } from "../rule/index.js";
import { ingressPolicy } from "./testdata/fixtures.js";
import { buildDataplane, DataplaneBuilder, type DataplaneConfig, type DataplaneModel, type DpMatch } from "./index.js";
import { ChunkedMap, listArray } from "../model/index.js";

const N = "node1";
const TW = "cali-tw-calib0000000000";

const sel = (id: string, members: string[]): SetDef => ({ kind: "selector", id, selector: `x == '${id}'`, members });
const rule = (policy: string, index: number, action: RuleIR["action"], match: Partial<RuleMatch>): RuleIR => ({
  action,
  match: { src: {}, dst: {}, ...match },
  origin: { tier: "default", policy, direction: "ingress", index },
});
const policy = ingressPolicy;
const endpoint = (policies: string[]): EndpointIR => ({
  key: "wep/default/b",
  kind: "workload",
  name: "b",
  namespace: "default",
  pod: "default/b",
  node: N,
  interfaceName: "calib0000000000",
  ips: ["198.18.1.10"],
  labels: {},
  namedPorts: [],
  ingress: { tiers: [{ tier: "default", defaultAction: "Deny", policies }], stagedTiers: [], profiles: [] },
  egress: { tiers: [], stagedTiers: [], profiles: [] },
});
const clusterIR = (sets: SetDef[], policies: PolicyIR[]): ClusterIR => ({
  tiers: [{ name: "default", order: 1, defaultAction: "Deny" }],
  policies: ChunkedMap.fromEntries(policies.map((p) => [p.key, p])),
  profiles: {},
  sets: ChunkedMap.fromEntries(sets.map((s) => [s.id, s])),
  endpoints: [endpoint(policies.map((p) => p.key))],
});
const port = (p: number) => ({ first: p, last: p });

// ------------------------------------------------------------------------------------ golden

describe("a run of Allow and Deny rules across policies", () => {
  // 198.18.3.3 is in both sets: its keys show first match.
  const sets = [sel("s:x", ["198.18.3.1/32", "198.18.3.3/32"]), sel("s:y", ["198.18.3.2/32", "198.18.3.3/32"])];
  const policies = [
    policy("gnp/p1", [rule("gnp/p1", 0, "Deny", { protocol: 17, src: { sets: ["s:x"] }, dst: { ports: [port(7)] } }), rule("gnp/p1", 1, "Allow", { protocol: 6, src: { sets: ["s:y"] }, dst: { ports: [port(80)] } })]),
    policy("gnp/p2", [rule("gnp/p2", 0, "Deny", { protocol: 6, src: { sets: ["s:x"] }, dst: { ports: [port(80)] } }), rule("gnp/p2", 1, "Allow", { protocol: 17, src: { sets: ["s:x", "s:y"] }, dst: {} })]),
    policy("gnp/p3", [rule("gnp/p3", 0, "Allow", { protocol: 17, src: { sets: ["s:y"] }, dst: { ports: [port(7)] } })]),
  ];
  const ir = clusterIR(sets, policies);

  it("groups the policies and compiles the exact rules into a disjoint drop and accept lookup", () => {
    const m = buildDataplane(ir, N);
    const jumps = m.chains.get(TW)!.rules.filter((r) => r.verdict?.kind === "jump").map((r) => (r.verdict as { chain: string }).chain);
    expect(jumps).toHaveLength(1);
    expect(jumps[0]).toMatch(/^cali-gi-/);
    const rules = m.chains.get(jumps[0]!)!.rules.filter((r) => !r.match.some((x) => "family" in x && x.family === 6));
    const setOf = (i: number) => (rules[i]!.match[0] as { set: string }).set;
    expect(rules).toEqual([
      // p1/0, p1/1, p2/0 and p3/0 are exact; p2/1 (two selectors) is not, and p3/0 (Allow) moves
      // past it because they have the same action.
      {
        match: [{ kind: "concat-set", family: 4, key: ["saddr", "l4proto", "dport"], set: setOf(0) }],
        verdict: { kind: "drop" },
        label: "default/gnp/p1 ingress rules 0 +1 policies (compiled)",
        origin: policies[0]!.ingress[0]!.origin,
        origins: [policies[0]!.ingress[0]!.origin, policies[1]!.ingress[0]!.origin],
      },
      {
        match: [{ kind: "concat-set", family: 4, key: ["saddr", "l4proto", "dport"], set: setOf(1) }],
        effects: [{ kind: "mark-set", bits: 0x10000 }],
        verdict: { kind: "return" },
        label: "default/gnp/p1 ingress rules 1 +1 policies (compiled)",
        origin: policies[0]!.ingress[1]!.origin,
        origins: [policies[0]!.ingress[1]!.origin, policies[2]!.ingress[0]!.origin],
      },
      {
        match: [{ kind: "family", family: 4 }, { kind: "proto", protocols: [17] }, { kind: "addr-set", side: "src", family: 4, set: "cali40s-x" }, { kind: "addr-set", side: "src", family: 4, set: "cali40s-y" }],
        effects: [{ kind: "mark-set", bits: 0x10000 }],
        verdict: { kind: "return" },
        origin: policies[1]!.ingress[1]!.origin,
        label: "default/gnp/p2 ingress rule 1",
      },
    ]);
    expect(m.sets.get(setOf(0))!.elements).toEqual(["198.18.3.1 . 17 . 7", "198.18.3.1 . 6 . 80", "198.18.3.3 . 17 . 7"]);
    // 198.18.3.3 . 17 . 7 is denied by p1/0 before p3/0 allows it; 198.18.3.3 . 6 . 80 allowed by
    // p1/1 before p2/0 denies it.
    expect(m.sets.get(setOf(1))!.elements).toEqual(["198.18.3.2 . 17 . 7", "198.18.3.2 . 6 . 80", "198.18.3.3 . 6 . 80"]);
    expect(m.sets.get(setOf(0))!.about).toMatch(/^compiled deny \(first match\)/);
  });

  it("reject is the drop lookup's verdict; logDenied or compileAllowRuns=false keep the rules", () => {
    const rj = buildDataplane(ir, N, { config: { denyAction: "reject" } });
    const group = rj.chains.keyList().find((c) => c.startsWith("cali-gi-"))!;
    expect(rj.chains.get(group)!.rules[0]!.verdict).toEqual({ kind: "reject" });
    for (const config of [{ logDenied: true }, { compileAllowRuns: false }] as Array<Partial<DataplaneConfig>>) {
      const m = buildDataplane(ir, N, { config });
      const g = m.chains.keyList().find((c) => c.startsWith("cali-gi-"))!;
      expect(m.chains.get(g)!.rules.some((r) => r.verdict?.kind === "drop" && r.match.some((x) => x.kind === "concat-set"))).toBe(false);
    }
  });

  it("a Pass rule joins the run as a third disjoint lookup; a Log rule joins the group but ends the run", () => {
    const withPass = [policies[0]!, policy("gnp/p2", [rule("gnp/p2", 0, "Pass", { protocol: 6, src: { sets: ["s:y"] }, dst: { ports: [port(443)] } }), ...policies[1]!.ingress]), policies[2]!];
    const m = buildDataplane(clusterIR(sets, withPass), N);
    const jumps = m.chains.get(TW)!.rules.filter((r) => r.verdict?.kind === "jump").map((r) => (r.verdict as { chain: string }).chain);
    expect(jumps).toHaveLength(1);
    const v4 = m.chains.get(jumps[0]!)!.rules.filter((r) => r.match[0]!.kind === "concat-set" && r.match[0]!.family === 4);
    // Deny (p1/0, p2/1), Allow (p1/1, p3/0) and Pass (p2/0) lookups, in order of first appearance.
    expect(v4.map((r) => r.verdict?.kind === "drop" ? "drop" : (r.effects?.[0] as { bits: number }).bits)).toEqual(["drop", 0x10000, 0x20000]);
    expect(m.sets.get((v4[2]!.match[0] as { set: string }).set)!.elements).toEqual(["198.18.3.2 . 6 . 443", "198.18.3.3 . 6 . 443"]);

    const withLog = [policies[0]!, policy("gnp/p2", [rule("gnp/p2", 0, "Log", {}), ...policies[1]!.ingress]), policies[2]!];
    const l = buildDataplane(clusterIR(sets, withLog), N);
    const lj = l.chains.get(TW)!.rules.filter((r) => r.verdict?.kind === "jump").map((r) => (r.verdict as { chain: string }).chain);
    expect(lj).toHaveLength(1);
    const lr = l.chains.get(lj[0]!)!.rules.filter((r) => !r.match.some((x) => "family" in x && x.family === 6));
    // p1's two exact rules still compile (two lookups); the Log rule follows them, in place.
    expect(lr.slice(0, 2).every((r) => r.match[0]!.kind === "concat-set")).toBe(true);
    expect(lr[2]!.effects?.[0]?.kind).toBe("log");
  });

  it("the incremental builder follows membership changes of the run's sets", () => {
    const b = new DataplaneBuilder(N);
    b.build(ir);
    const ir2 = { ...ir, sets: ir.sets.set("s:y", sel("s:y", ["198.18.3.2/32"])) };
    expect(b.build(ir2)).toEqual(buildDataplane(ir2, N));
    const ir3 = { ...ir2, policies: ir2.policies.set("gnp/p2", policy("gnp/p2", [rule("gnp/p2", 0, "Pass", {})])) };
    expect(b.build(ir3)).toEqual(buildDataplane(ir3, N));
    expect(b.build(ir)).toEqual(buildDataplane(ir, N));
  });
});

// ------------------------------------------------------------------------------------ property

type Outcome = "allow" | "deny" | "none" | "pass";

const inCidr = (addr: string, cidr: string) => {
  const a = parseAddr(addr);
  const c = parseCidr(cidr);
  return !!a && !!c && cidrContains(c, a);
};

function matches(x: DpMatch, p: Packet, mark: number, m: DataplaneModel): boolean {
  const neg = (b: boolean) => ("negate" in x && x.negate ? !b : b);
  switch (x.kind) {
    case "family":
      return p.family === x.family;
    case "ct":
      return neg(x.states.includes("new"));
    case "mark":
      return neg(((mark & x.mask) >>> 0) === x.value >>> 0);
    case "proto":
      return neg(x.protocols.includes(p.protocol));
    case "addr":
      return p.family === x.family && neg(x.cidrs.some((c) => inCidr(x.side === "src" ? p.srcIP : p.dstIP, c)));
    case "addr-set":
      return p.family === x.family && neg(listArray(m.sets.get(x.set)!.elements).some((c) => inCidr(x.side === "src" ? p.srcIP : p.dstIP, c)));
    case "port": {
      const v = x.side === "src" ? p.srcPort : p.dstPort;
      return v !== undefined && neg(x.ranges.some((r) => v >= r.first && v <= r.last));
    }
    case "concat-set": {
      if (p.family !== x.family) return false;
      const vals = x.key.map((k) => (k === "saddr" ? p.srcIP : k === "daddr" ? p.dstIP : k === "l4proto" ? p.protocol : k === "sport" ? p.srcPort : p.dstPort));
      const hit = listArray(m.sets.get(x.set)!.elements).some((e) => e.split(" . ").every((f, i) => (i === 0 ? inCidr(String(vals[0]), f) : Number(f) === vals[i])));
      return neg(hit);
    }
    default:
      throw new Error(`unexpected condition ${x.kind}`);
  }
}

/** Runs a workload ingress chain on a new packet. Drops in the endpoint chain itself are "no
 *  rule matched" (end of tier: none; no profile accepted after a Pass: pass). */
function walk(m: DataplaneModel, p: Packet): Outcome {
  let mark = 0;
  const run = (name: string, top: boolean): Outcome | "return" | undefined => {
    for (const r of m.chains.get(name)!.rules) {
      if (!r.match.every((x) => matches(x, p, mark, m))) continue;
      for (const e of r.effects ?? []) {
        if (e.kind === "mark-set") mark = (mark | e.bits) >>> 0;
        else if (e.kind === "mark-clear") mark = (mark & ~e.bits) >>> 0;
      }
      const v = r.verdict;
      if (!v) continue;
      if (v.kind === "jump") {
        const sub = run(v.chain, false);
        if (sub !== "return" && sub !== undefined) return sub;
        continue;
      }
      if (v.kind === "return") return top ? (mark & 0x10000 ? "allow" : "none") : "return";
      if (v.kind === "accept") return "allow";
      if (v.kind === "drop" || v.kind === "reject") {
        if (!top) return "deny";
        return r.label?.startsWith("end of tier") ? "none" : "pass";
      }
      throw new Error(`unexpected verdict ${v.kind}`);
    }
    return top ? "none" : undefined;
  };
  return run(TW, true) as Outcome;
}

/** Reference: the first IR rule (in policy order, then rule order) that matches decides. */
function reference(ir: ClusterIR, keys: string[], p: Packet): Outcome {
  const lookup = indexSets(ir.sets);
  for (const k of keys) {
    for (const r of ir.policies.get(k)!.ingress) {
      const fm = ruleForFamily(r.match, p.family);
      if (!fm || !matchRule({ match: fm, ...(r.neverMatches ? { neverMatches: r.neverMatches } : {}) }, p, lookup, false).matched) continue;
      if (r.action === "Log") continue;
      return r.action === "Allow" ? "allow" : r.action === "Deny" ? "deny" : "pass";
    }
  }
  return "none";
}

const V4 = ["198.18.3.1", "198.18.3.2", "198.18.3.3"];
const V6 = ["fd00:198::1", "fd00:198::2"];
const PORTS = [7, 80, 443];
const SET_IDS = ["s:a", "s:b", "s:c", "s:big", "s:net"];

const arbSets = fc
  .tuple(fc.subarray([...V4, ...V6]), fc.subarray([...V4, ...V6]), fc.subarray(V4), fc.boolean())
  .map(([a, b, c, big]): SetDef[] => [
    sel("s:a", a.map((x) => (x.includes(":") ? `${x}/128` : `${x}/32`))),
    sel("s:b", b.map((x) => (x.includes(":") ? `${x}/128` : `${x}/32`))),
    sel("s:c", c.map((x) => `${x}/32`)),
    // Over the compile limit (70 × ports > 64) or not.
    sel("s:big", big ? [...Array.from({ length: 70 }, (_, i) => `198.18.9.${i}/32`), "198.18.3.1/32"] : ["198.18.3.1/32"]),
    // Holds a CIDR: its rules need the interval part and are not exact.
    sel("s:net", ["198.18.3.0/30", "198.18.3.3/32"]),
  ]);

const arbMatch: fc.Arbitrary<Partial<RuleMatch>> = fc
  .record({
    protocol: fc.option(fc.constantFrom(6, 17), { freq: 8, nil: undefined }),
    src: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...SET_IDS).map((s): EntityMatch => ({ sets: [s] })) }, { weight: 1, arbitrary: fc.constant(null).map((): EntityMatch => ({ nets: ["198.18.3.2/31"] })) }, { weight: 1, arbitrary: fc.constant(null).map((): EntityMatch => ({})) }),
    // Mostly no destination selector: exact rules have one address set.
    dstSet: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom("s:a", "s:b") }),
    ports: fc.oneof({ weight: 5, arbitrary: fc.subarray(PORTS, { minLength: 1 }).map((ps) => ps.map(port)) }, { weight: 1, arbitrary: fc.constant(null).map((): PortRange[] => [{ first: 80, last: 443 }]) }, { weight: 1, arbitrary: fc.constant(null).map((): PortRange[] => []) }),
  })
  .map(({ protocol, src, dstSet, ports }) => {
    const m: Partial<RuleMatch> = { src, dst: { ...(dstSet ? { sets: [dstSet] } : {}), ...(ports.length > 0 ? { ports } : {}) } };
    if (protocol !== undefined) m.protocol = protocol;
    return m;
  });

const arbAction: fc.Arbitrary<RuleIR["action"]> = fc.oneof({ weight: 10, arbitrary: fc.constantFrom("Allow" as const, "Deny" as const) }, { weight: 3, arbitrary: fc.constant("Pass" as const) }, { weight: 1, arbitrary: fc.constant("Log" as const) });

const arbPolicies = fc.array(fc.array(fc.tuple(arbAction, arbMatch), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 }).map((ps) =>
  ps.map((rules, i) => policy(`gnp/p${i}`, rules.map(([action, match], j) => rule(`gnp/p${i}`, j, action, match)))),
);

const arbPacket: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({ family: fc.constant(4 as const), protocol: fc.constantFrom(6, 17), srcIP: fc.constantFrom(...V4, "198.18.9.5"), dstIP: fc.constantFrom(...V4), srcPort: fc.constant(40000), dstPort: fc.constantFrom(...PORTS, 444) }),
  fc.record({ family: fc.constant(6 as const), protocol: fc.constantFrom(6, 17), srcIP: fc.constantFrom(...V6), dstIP: fc.constantFrom(...V6), srcPort: fc.constant(40000), dstPort: fc.constantFrom(...PORTS) }),
);

// groupChunkRules 1 and 2 cut every group of more than 2 or 4 kernel rules into pieces (pieces of
// 1–4 and 1–8 rules), so the random groups here run through pieces too.
const CONFIGS: Array<Partial<DataplaneConfig>> = [
  {},
  { denyAction: "reject" },
  { logDenied: true },
  { groupAllowPolicies: false },
  { compileAllowRuns: false },
  { groupChunkRules: 1 },
  { groupChunkRules: 2, logDenied: true },
  { groupChunkRules: 2, compileAllowRuns: false },
];

describe("compiled runs decide as the rules in order (first match)", () => {
  it("random sets × rule lists × packets × configs", () => {
    let compiledDeny = 0;
    let compiledPass = 0;
    let pieces = 0;
    fc.assert(
      fc.property(arbSets, arbPolicies, fc.array(arbPacket, { minLength: 1, maxLength: 12 }), fc.constantFrom(...CONFIGS), (sets, policies, packets, config) => {
        const ir = clusterIR(sets, policies);
        const m = buildDataplane(ir, N, { config });
        for (const c of m.chains.valueList()) {
          if (/^cali-gc[io]-/.test(c.name)) pieces++;
          for (const r of c.rules) {
            // Every NFLOG prefix a rule writes (in a group's piece too) names its rule in the index.
            for (const e of r.effects ?? []) if (e.kind === "log") expect(m.logIndex[e.prefix], e.prefix).toBeDefined();
            if (r.match[0]?.kind !== "concat-set") continue;
            if (r.verdict?.kind === "drop") compiledDeny++;
            if (r.effects?.some((e) => e.kind === "mark-set" && e.bits === 0x20000)) compiledPass++;
          }
        }
        for (const p of packets) expect([p, walk(m, p)]).toEqual([p, reference(ir, policies.map((x) => x.key), p)]);
      }),
      { numRuns: 600 },
    );
    // The incremental builder after the run's sets changed (members, crossing the compile limit,
    // shadowing moving between keys) equals a build from scratch.
    fc.assert(
      fc.property(arbSets, arbSets, arbPolicies, fc.constantFrom(...CONFIGS), (sets1, sets2, policies, config) => {
        const b = new DataplaneBuilder(N, { config });
        const ir1 = clusterIR(sets1, policies);
        b.build(ir1);
        const ir2 = { ...ir1, sets: ir1.sets.with(sets2.filter((d) => JSON.stringify(d) !== JSON.stringify(ir1.sets.get(d.id))).map((d) => [d.id, d])) };
        expect(b.build(ir2)).toEqual(buildDataplane(ir2, N, { config }));
      }),
      { numRuns: 150 },
    );
    // The property must exercise what it is about.
    expect(compiledDeny).toBeGreaterThan(100); // typically 200–300
    expect(compiledPass).toBeGreaterThan(50);
    expect(pieces).toBeGreaterThan(100); // groups cut into pieces (groupChunkRules 1 and 2)
  });
});
