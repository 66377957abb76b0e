import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAddr } from "./cidr.js";
import type { ClusterIR, DirectionProgram, EntityMatch, Packet, PolicyIR, ProfileIR, RuleIR, RuleMatch, SetDef, TierIR } from "./ir.js";
import { AddressSpace, bitsTest, ClassEvaluator, type ClassPacket } from "./match-classes.js";
import { evaluateDirection, indexSets, type ChainFlavour } from "./match.js";
import { ChunkedMap } from "../model/index.js";

// Address pools per family. Members use some non-canonical spellings ("fd00:0::1/128") and CIDRs
// around several addresses, so both the canonical fast path and the parsing path are exercised.
const POOL = {
  4: {
    addrs: ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.1", "10.1.0.1", "192.168.0.1"],
    members: ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.0/30", "10.0.1.0/24", "10.1.0.1/32", "10.9.9.9/32", "10.0.0.2"],
    nets: ["10.0.0.0/8", "10.0.0.0/30", "10.0.0.1/32", "10.0.1.0/24", "192.168.0.0/16", "0.0.0.0/0", "fd00::/16"],
    bare: ["10.0.0.1", "10.0.0.3", "10.1.0.1", "10.9.9.9"],
  },
  6: {
    addrs: ["fd00::1", "fd00::2", "fd00::1:1", "fd01::1", "fd00::3"],
    members: ["fd00::1/128", "fd00:0::2/128", "fd00::/126", "fd01::/64", "fd09::9/128", "fd00::1:1"],
    nets: ["fd00::/16", "fd00::/126", "fd00::1/128", "fd01::/64", "::/0", "10.0.0.0/8"],
    bare: ["fd00::1", "fd00::3", "fd01::1", "fd00:0::2"],
  },
} as const;

const SELECTOR_SETS = ["s:a", "s:b", "s:c"];
const PORTS = [80, 443, 8080];

function irArb(family: 4 | 6) {
  const pool = POOL[family];
  const portMember = fc.record({ addr: fc.constantFrom(...pool.bare), protocol: fc.constantFrom(6, 17), port: fc.constantFrom(...PORTS) });
  const sets = fc.record({
    a: fc.subarray([...pool.members]),
    b: fc.subarray([...pool.members]),
    c: fc.subarray([...pool.members]),
    np: fc.array(portMember, { maxLength: 4 }),
    svc: fc.array(portMember, { maxLength: 3 }),
    svcAddrs: fc.subarray([...pool.bare]),
  });
  const range: fc.Arbitrary<{ first: number; last: number }> = fc.constantFrom({ first: 80, last: 80 }, { first: 400, last: 500 }, { first: 8000, last: 9000 });
  const f = {
    nets: fc.subarray<string>([...pool.nets], { minLength: 1, maxLength: 2 }),
    notNets: fc.subarray<string>([...pool.nets], { minLength: 1, maxLength: 2 }),
    sets: fc.subarray(SELECTOR_SETS, { minLength: 1, maxLength: 2 }),
    notSets: fc.subarray(SELECTOR_SETS, { minLength: 1, maxLength: 2 }),
    ports: fc.array(range, { minLength: 1, maxLength: 2 }),
    namedPortSets: fc.constant<string[]>(["n:np"]),
    notPorts: fc.array(range, { minLength: 1, maxLength: 1 }),
    notNamedPortSets: fc.constant<string[]>(["n:np"]),
    serviceSet: fc.constantFrom<string>("svc:ports", "svc:addrs", "n:np"),
  };
  // Mostly zero or one field per side, so that rules match often enough for decisions to
  // interleave (a rule with many random fields almost never matches anything).
  const weighted: Array<fc.WeightedArbitrary<EntityMatch>> = [
    { weight: 4, arbitrary: fc.constant<EntityMatch>({}) },
    ...Object.entries(f).map(([k, v]) => ({ weight: 1, arbitrary: fc.record({ [k]: v }) as fc.Arbitrary<EntityMatch> })),
    { weight: 1, arbitrary: fc.record<EntityMatch>({ sets: f.sets, ports: f.ports }) },
    { weight: 1, arbitrary: fc.record<EntityMatch>({ nets: f.nets, notSets: f.notSets }) },
    { weight: 1, arbitrary: fc.record<EntityMatch>({ ports: f.ports, namedPortSets: f.namedPortSets, notNets: f.notNets }) },
  ];
  const entity: fc.Arbitrary<EntityMatch> = fc.oneof(...weighted);
  const common = fc.oneof(
    { weight: 6, arbitrary: fc.constant({}) },
    { weight: 2, arbitrary: fc.record({ protocol: fc.constantFrom(1, 6, 17, 58) }) },
    { weight: 1, arbitrary: fc.record({ notProtocol: fc.constantFrom(6, 17) }) },
    { weight: 1, arbitrary: fc.record({ icmp: fc.record({ type: fc.constantFrom(8, 128, 0), code: fc.constantFrom(0, 1) }, { requiredKeys: ["type"] }) }) },
    { weight: 1, arbitrary: fc.record({ notIcmp: fc.record({ type: fc.constantFrom(8, 128), code: fc.constantFrom(0) }, { requiredKeys: ["type"] }) }) },
    { weight: 1, arbitrary: fc.record({ ipVersion: fc.constantFrom(4 as const, 6 as const) }) },
  );
  const match: fc.Arbitrary<RuleMatch> = fc.tuple(common, entity, entity).map(([c, src, dst]) => ({ ...c, src, dst }) as RuleMatch);
  const rule = fc.record({
    action: fc.constantFrom("Allow", "Deny", "Pass", "Log", "Allow", "Deny") as fc.Arbitrary<RuleIR["action"]>,
    match,
    never: fc.constantFrom(false, false, false, false, false, true),
  });
  const rules = fc.array(rule, { maxLength: 3 });
  const policy = fc.record({
    tier: fc.constantFrom("t1", "t2", "default"),
    order: fc.option(fc.constantFrom(1, 2, 5), { nil: null }),
    ingress: rules,
    egress: rules,
    staged: fc.boolean(),
    stagedAction: fc.constantFrom("Set", "Delete", "Learn", "Ignore") as fc.Arbitrary<"Set" | "Delete" | "Learn" | "Ignore">,
    target: fc.nat(4),
  });
  return fc.record({
    sets,
    policies: fc.array(policy, { minLength: 1, maxLength: 5 }),
    profiles: fc.array(fc.record({ ingress: rules, egress: rules }), { maxLength: 2 }),
    tierDefaults: fc.tuple(fc.constantFrom("Deny", "Pass"), fc.constantFrom("Deny", "Pass")) as fc.Arbitrary<["Deny" | "Pass", "Deny" | "Pass"]>,
    failsafe: fc.array(rule, { maxLength: 2 }),
  });
}

type IRInput = ReturnType<typeof irArb> extends fc.Arbitrary<infer T> ? T : never;

function buildIR(family: 4 | 6, x: IRInput): ClusterIR {
  const toRule = (dir: "ingress" | "egress", policy: string, tier: string) => (r: IRInput["failsafe"][number], index: number): RuleIR => {
    const out: RuleIR = { action: r.action, match: r.match, origin: { tier, policy, direction: dir, index } };
    if (r.never) out.neverMatches = "test: never";
    return out;
  };
  const sets: Record<string, SetDef> = {
    "s:a": { kind: "selector", id: "s:a", selector: "a", members: x.sets.a },
    "s:b": { kind: "selector", id: "s:b", selector: "b", members: x.sets.b },
    "s:c": { kind: "selector", id: "s:c", selector: "c", members: x.sets.c },
    "n:np": { kind: "named-port", id: "n:np", portName: "http", protocol: 6, selector: "all()", members: x.sets.np },
    "svc:ports": { kind: "service", id: "svc:ports", service: { namespace: "x", name: "p" }, withPorts: true, members: x.sets.svc },
    "svc:addrs": { kind: "service", id: "svc:addrs", service: { namespace: "x", name: "a" }, withPorts: false, members: x.sets.svcAddrs.map((addr) => ({ addr, protocol: 0, port: 0 })) },
  };
  const tiers: TierIR[] = [
    { name: "t1", order: 1, defaultAction: x.tierDefaults[0] },
    { name: "t2", order: 2, defaultAction: x.tierDefaults[1] },
    { name: "default", order: null, defaultAction: "Deny" },
  ];
  const policies: Record<string, PolicyIR> = {};
  x.policies.forEach((p, i) => {
    const key = p.staged ? `snp/x/pol${i}` : `np/x/pol${i}`;
    const pol: PolicyIR = {
      key,
      kind: p.staged ? "StagedNetworkPolicy" : "NetworkPolicy",
      name: `pol${i}`,
      namespace: "x",
      tier: p.tier,
      order: p.order,
      staged: p.staged,
      selector: "all()",
      governs: { ingress: true, egress: true },
      ingress: p.ingress.map(toRule("ingress", key, p.tier)),
      egress: p.egress.map(toRule("egress", key, p.tier)),
      applyOnForward: false,
      preDNAT: false,
      doNotTrack: false,
    };
    if (p.staged) {
      pol.stagedAction = p.stagedAction;
      pol.stagedTarget = `np/x/pol${p.target}`;
    }
    policies[key] = pol;
  });
  const profiles: Record<string, ProfileIR> = {};
  x.profiles.forEach((p, i) => {
    const key = `pro/p${i}`;
    profiles[key] = { key, name: `p${i}`, ingress: p.ingress.map(toRule("ingress", key, "")), egress: p.egress.map(toRule("egress", key, "")) };
  });
  const ir: ClusterIR = { tiers, policies: ChunkedMap.fromRecord(policies), profiles, sets: ChunkedMap.fromRecord(sets), endpoints: [] };
  ir.failsafe = { inbound: x.failsafe.map(toRule("ingress", "failsafe/in", "")), outbound: x.failsafe.map(toRule("egress", "failsafe/out", "")) };
  void family;
  return ir;
}

/** A program over the IR's policies, tiers in IR order (the engine's invariant), with staged
 *  policies in stagedTiers, and profiles (one possibly missing from the IR). */
function programOf(ir: ClusterIR, pick: boolean[], profiles: number[]): DirectionProgram {
  const keys = ir.policies.keyList().filter((_, i) => pick[i % pick.length]);
  const tierOf = (staged: boolean) =>
    ir.tiers
      .map((t) => ({ tier: t.name, defaultAction: t.defaultAction, policies: keys.filter((k) => ir.policies.get(k)!.tier === t.name && ir.policies.get(k)!.staged === staged) }))
      .filter((t) => t.policies.length > 0);
  return { tiers: tierOf(false), stagedTiers: tierOf(true), profiles: profiles.map((i) => `pro/p${i}`) };
}

const packetArb = fc.record({
  protocol: fc.constantFrom(6, 17, 1, 58),
  dstPort: fc.option(fc.constantFrom(...PORTS, 450), { nil: undefined }),
  srcPort: fc.option(fc.constantFrom(80, 1234), { nil: undefined }),
  icmpType: fc.constantFrom(8, 128, 0),
  icmpCode: fc.constantFrom(0, 1),
});

const optsArb = fc.record({
  direction: fc.constantFrom("ingress" as const, "egress" as const),
  chain: fc.constantFrom<ChainFlavour>("normal", "normal", "forward", "preDNAT", "untracked"),
  staged: fc.boolean(),
  failsafe: fc.boolean(),
  ownSide: fc.option(fc.constantFrom("src" as const, "dst" as const), { nil: undefined }),
});

function check(family: 4 | 6, numRuns: number) {
  const pool = POOL[family];
  fc.assert(
    fc.property(
      irArb(family),
      fc.array(fc.constantFrom(...pool.addrs), { minLength: 1, maxLength: 6 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
      fc.subarray([0, 1, 2]),
      packetArb,
      optsArb,
      (input, addrTexts, pick, profiles, pk, o) => {
        const ir = buildIR(family, input);
        const program = programOf(ir, pick, profiles);
        const packet: ClassPacket = { family, protocol: pk.protocol };
        if (pk.protocol === 6 || pk.protocol === 17) {
          if (pk.dstPort !== undefined) packet.dstPort = pk.dstPort;
          if (pk.srcPort !== undefined) packet.srcPort = pk.srcPort;
        } else {
          packet.icmpType = pk.icmpType;
          packet.icmpCode = pk.icmpCode;
        }
        const addrs = addrTexts.map((t) => parseAddr(t)!);
        // Half the time through restrict(), as the matrix uses it.
        const whole = new AddressSpace([...addrs, ...addrs.slice().reverse()], ir.sets);
        const space = addrTexts.length % 2 === 0 ? whole.restrict(addrs.map((_, i) => i)) : new AddressSpace(addrs, ir.sets);
        const ev = new ClassEvaluator(ir, space, packet);
        const failsafe = o.failsafe ? (o.direction === "ingress" ? ir.failsafe!.inbound : ir.failsafe!.outbound) : undefined;
        const ownSide = o.ownSide ?? (o.direction === "ingress" ? "dst" : "src");
        const sets = indexSets(ir.sets);
        for (let own = 0; own < addrs.length; own++) {
          const r = ev.evaluate(program, own, { direction: o.direction, chain: o.chain, staged: o.staged, failsafe, ownSide: o.ownSide });
          for (let peer = 0; peer < addrs.length; peer++) {
            const p: Packet = { ...packet, srcIP: ownSide === "src" ? addrTexts[own]! : addrTexts[peer]!, dstIP: ownSide === "src" ? addrTexts[peer]! : addrTexts[own]! };
            const want = evaluateDirection(program, ir, p, sets, { direction: o.direction, chain: o.chain, staged: o.staged, failsafe, trace: false }).verdict;
            const got = bitsTest(r.allow, peer) ? (bitsTest(r.deny, peer) ? "both" : "allow") : bitsTest(r.deny, peer) ? "deny" : "none";
            expect(got, `own ${addrTexts[own]} peer ${addrTexts[peer]}`).toBe(want);
          }
          // Bits past the last address stay clear (callers test whole words).
          for (let i = addrs.length; i < space.words * 32; i++) expect(bitsTest(r.allow, i) || bitsTest(r.deny, i)).toBe(false);
        }
      },
    ),
    { numRuns },
  );
}

describe("ClassEvaluator (set-valued evaluateDirection)", () => {
  it("equals evaluateDirection for every own/peer pair, IPv4 (random IR, programs, packets, chains, staged)", () => {
    check(4, 600);
  });

  it("equals evaluateDirection for every own/peer pair, IPv6", () => {
    check(6, 300);
  });

  it("side sets equal matchSidePart through set membership, CIDRs and named ports", () => {
    const ir: ClusterIR = {
      tiers: [],
      policies: ChunkedMap.empty(),
      profiles: {},
      endpoints: [],
      sets: ChunkedMap.fromRecord<SetDef>({
        "s:a": { kind: "selector", id: "s:a", selector: "a", members: ["10.0.0.1/32", "10.0.1.0/24"] },
        "n:np": { kind: "named-port", id: "n:np", portName: "http", protocol: 6, selector: "all()", members: [{ addr: "10.0.0.2", protocol: 6, port: 8080 }] },
      }),
    };
    const addrs = ["10.0.0.1", "10.0.0.2", "10.0.1.7", "10.2.0.1"].map((a) => parseAddr(a)!);
    const ev = new ClassEvaluator(ir, new AddressSpace(addrs, ir.sets), { family: 4, protocol: 6, dstPort: 8080 });
    const bits = (side: "src" | "dst", e: EntityMatch) => addrs.map((_, i) => bitsTest(ev.sideBits(side, e), i));
    expect(bits("src", { sets: ["s:a"] })).toEqual([true, false, true, false]);
    expect(bits("src", { notSets: ["s:a"], nets: ["10.0.0.0/16"] })).toEqual([false, true, false, false]);
    expect(bits("dst", { namedPortSets: ["n:np"] })).toEqual([false, true, false, false]);
    expect(bits("dst", { ports: [{ first: 8000, last: 9000 }], namedPortSets: ["n:np"] })).toEqual([true, true, true, true]);
    // No source port: positive port matches fail, negative ones pass.
    expect(bits("src", { ports: [{ first: 1, last: 65535 }] })).toEqual([false, false, false, false]);
    expect(bits("src", { notPorts: [{ first: 1, last: 65535 }] })).toEqual([true, true, true, true]);
    expect(() => ev.sideBits("src", { sets: ["s:missing"] })).toThrow(/not in the IR/);
  });
});
