import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildDataplane, DataplaneBuilder, diffModels, type DataplaneModel, type DpMap, type DpMatch, type DpRule, type DpSet, type DpEffect, type DpVerdict, type Family } from "../../dataplane/index.js";
import { recordChanges } from "../../dataplane/diff.js";
import { fixtureIR, NODE, runFixtureIR, SET_DNS } from "../../dataplane/testdata/fixtures.js";
import type { ClusterIR, EndpointIR, SetDef } from "../../rule/index.js";
import { chunkPorts, EMPTY_STATE, expectedDigest, ipsetDef, MULTIPORT_SLOTS, parseState, planDelta, planFull, planRemove, planText, render, renderCached, renderRule, stateDigest, type IptState, type RuleContext } from "./index.js";
import { runIptRule, runIptRules, runModelRule, type Outcome, type Pkt } from "./testdata/interp.js";
import { ChunkedMap, listArray } from "../../model/index.js";

const here = dirname(fileURLToPath(import.meta.url));

/** Compares with testdata/<name>; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, actual: string): void {
  const p = join(here, "testdata", name);
  if (process.env.UPDATE_GOLDEN === "1" || !existsSync(p)) {
    writeFileSync(p, actual);
    if (process.env.UPDATE_GOLDEN !== "1") throw new Error(`golden ${name} was missing and has been written; re-run`);
    return;
  }
  expect(actual).toBe(readFileSync(p, "utf8"));
}

const fresh = (m: DataplaneModel) => planText(planFull(render(m), EMPTY_STATE));

describe("golden rulesets (same fixtures as the nft renderer)", () => {
  it("fixture, default config", () => {
    golden("fixture.ipt", fresh(buildDataplane(fixtureIR(), NODE)));
  });
  it("compiled Allow/Deny run across policies: a drop and an accept lookup per family", () => {
    golden("run-allow-deny.ipt", fresh(buildDataplane(runFixtureIR(), NODE)));
  });
  it("fixture, reject + logDenied + no compiled runs", () => {
    golden("fixture-reject-log.ipt", fresh(buildDataplane(fixtureIR(), NODE, { config: { denyAction: "reject", logDenied: true, compileAllowRuns: false } })));
  });
});

// ------------------------------------------------------------------------------------ one rule

const SCRATCH = [0x40000, 0x80000] as const;
const MAPS: Record<string, DpMap> = {
  m: { name: "m", key: "ifname", elements: { cali1: { verdict: "goto", chain: "cali-fw-cali1" }, cali2: { verdict: "jump", chain: "cali-fw-cali2" } } },
};
const ctx = (family: Family, table: RuleContext["table"] = "filter"): RuleContext => ({ family, table, scratch: SCRATCH, maps: MAPS, chainName: (n) => n });
const lines = (r: DpRule, family: Family = 4, table: RuleContext["table"] = "filter") => renderRule(r, ctx(family, table)).map((k) => k.args.join(" "));

describe("rule translation", () => {
  const cases: Array<[string, DpRule, string[], Family?, RuleContext["table"]?]> = [
    ["plain accept", { match: [], verdict: { kind: "accept" } }, ["-j ACCEPT"]],
    ["rule of the other family is absent", { match: [{ kind: "family", family: 6 }], verdict: { kind: "accept" } }, []],
    ["ct state", { match: [{ kind: "ct", states: ["established", "related"] }], verdict: { kind: "accept" } }, ["-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"]],
    ["negated mark", { match: [{ kind: "mark", mask: 0x20000, value: 0, negate: true }], verdict: { kind: "return" } }, ["-m mark ! --mark 0x0/0x20000 -j RETURN"]],
    ["interface prefix", { match: [{ kind: "iface", dir: "in", name: "cali", prefix: true }], verdict: { kind: "jump", chain: "x" } }, ["-i cali+ -j x"]],
    ["negated exact interface", { match: [{ kind: "iface", dir: "out", name: "eth0", negate: true }], verdict: { kind: "goto", chain: "x" } }, ["! -o eth0 -g x"]],
    [
      "protocol list → one rule per protocol",
      { match: [{ kind: "proto", protocols: [6, 17] }, { kind: "port", side: "dst", ranges: [{ first: 80, last: 80 }] }], verdict: { kind: "drop" } },
      ["-p tcp -m multiport --dports 80 -j DROP", "-p udp -m multiport --dports 80 -j DROP"],
    ],
    ["positive and negated protocols intersect", { match: [{ kind: "proto", protocols: [6, 17, 132] }, { kind: "proto", protocols: [17], negate: true }], verdict: { kind: "drop" } }, ["-p tcp -j DROP", "-p sctp -j DROP"]],
    ["a single negated protocol", { match: [{ kind: "proto", protocols: [6], negate: true }], verdict: { kind: "drop" } }, ["! -p tcp -j DROP"]],
    [
      "several negated protocols → match block on scratch bit 0",
      { match: [{ kind: "proto", protocols: [6, 17], negate: true }], verdict: { kind: "drop" } },
      ["-j MARK --set-xmark 0x0/0x40000", "-p tcp -j MARK --set-xmark 0x40000/0x40000", "-p udp -j MARK --set-xmark 0x40000/0x40000", "-m mark --mark 0x0/0x40000 -j DROP"],
    ],
    ["ICMP type/code implies the protocol", { match: [{ kind: "icmp", family: 4, type: 8, code: 0 }], verdict: { kind: "accept" } }, ["-p icmp -m icmp --icmp-type 8/0 -j ACCEPT"]],
    ["negated ICMPv6 type", { match: [{ kind: "family", family: 6 }, { kind: "icmp", family: 6, type: 128, negate: true }], verdict: { kind: "accept" } }, ["-p ipv6-icmp -m icmp6 ! --icmpv6-type 128 -j ACCEPT"], 6],
    ["ICMP with a contradicting protocol never matches", { match: [{ kind: "proto", protocols: [6] }, { kind: "icmp", family: 4, type: 8 }], verdict: { kind: "accept" } }, []],
    [
      "positive CIDR list → one rule per CIDR",
      { match: [{ kind: "addr", side: "src", family: 4, cidrs: ["10.0.0.0/8", "198.18.1.10"] }], verdict: { kind: "accept" } },
      ["-s 10.0.0.0/8 -j ACCEPT", "-s 198.18.1.10 -j ACCEPT"],
    ],
    [
      "negated CIDR list → iprange per CIDR in one rule",
      { match: [{ kind: "addr", side: "dst", family: 4, cidrs: ["10.0.0.0/8", "192.0.2.0/24"], negate: true }], verdict: { kind: "accept" } },
      ["-m iprange ! --dst-range 10.0.0.0-10.255.255.255 -m iprange ! --dst-range 192.0.2.0-192.0.2.255 -j ACCEPT"],
    ],
    [
      "nets and notNets on one side: one -d, then iprange",
      {
        match: [
          { kind: "addr", side: "dst", family: 4, cidrs: ["203.0.113.0/24"] },
          { kind: "addr", side: "dst", family: 4, cidrs: ["203.0.113.128/25"], negate: true },
        ],
        verdict: { kind: "drop" },
      },
      ["-d 203.0.113.0/24 -m iprange ! --dst-range 203.0.113.128-203.0.113.255 -j DROP"],
    ],
    ["IPv6 iprange", { match: [{ kind: "addr", side: "src", family: 6, cidrs: ["2001:db8::/32", "fd00::/8"], negate: true }], verdict: { kind: "drop" } }, ["-m iprange ! --src-range 2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff -m iprange ! --src-range fd00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff -j DROP"], 6],
    ["set lookups", { match: [{ kind: "addr-set", side: "src", family: 4, set: "s" }, { kind: "concat-set", family: 4, key: ["daddr", "l4proto", "dport"], set: "p", negate: true }], verdict: { kind: "accept" } }, ["-m set --match-set s src -m set ! --match-set p dst,dst -j ACCEPT"]],
    ["compiled lookup keyed on the source address", { match: [{ kind: "concat-set", family: 4, key: ["saddr", "l4proto", "dport"], set: "x" }], verdict: { kind: "accept" } }, ["-m set --match-set x src,dst -j ACCEPT"]],
    [
      "Allow: mark then return, conditions repeated",
      { match: [{ kind: "proto", protocols: [6] }], effects: [{ kind: "mark-set", bits: 0x10000 }], verdict: { kind: "return" } },
      ["-p tcp -j MARK --set-xmark 0x10000/0x10000", "-p tcp -j RETURN"],
    ],
    [
      "an effect that changes what the conditions read → match block on scratch bit 1",
      { match: [{ kind: "mark", mask: 0x10000, value: 0 }], effects: [{ kind: "mark-set", bits: 0x10000 }], verdict: { kind: "return" } },
      ["-j MARK --set-xmark 0x0/0x80000", "-m mark --mark 0x0/0x10000 -j MARK --set-xmark 0x80000/0x80000", "-m mark --mark 0x80000/0x80000 -j MARK --set-xmark 0x10000/0x10000", "-m mark --mark 0x80000/0x80000 -j RETURN"],
    ],
    [
      "log then reject: NFLOG once, then TCP reset for TCP and ICMP for the rest",
      { match: [], effects: [{ kind: "log", prefix: "DPI|default", group: 1 }], verdict: { kind: "reject" } },
      ["-j NFLOG --nflog-group 1 --nflog-prefix DPI|default", "-p tcp -j REJECT --reject-with tcp-reset", "-j REJECT --reject-with icmp-admin-prohibited"],
    ],
    ["reject of UDP only needs ICMP (IPv6)", { match: [{ kind: "proto", protocols: [17] }], verdict: { kind: "reject" } }, ["-p udp -j REJECT --reject-with icmp6-adm-prohibited"], 6],
    ["reject when TCP is excluded needs only ICMP", { match: [{ kind: "proto", protocols: [6], negate: true }], verdict: { kind: "reject" } }, ["! -p tcp -j REJECT --reject-with icmp-admin-prohibited"]],
    ["reject outside the filter table is a drop (REJECT is INPUT/FORWARD/OUTPUT only)", { match: [], verdict: { kind: "reject" } }, ["-j DROP"], 4, "mangle"],
    ["notrack", { match: [{ kind: "mark", mask: 0x10000, value: 0x10000 }], effects: [{ kind: "notrack" }] }, ["-m mark --mark 0x10000/0x10000 -j CT --notrack"], 4, "raw"],
    ["dispatch → one goto/jump per interface", { match: [], verdict: { kind: "dispatch", iface: "in", map: "m" } }, ["-i cali1 -g cali-fw-cali1", "-i cali2 -j cali-fw-cali2"]],
    ["conditions only (counter)", { match: [{ kind: "proto", protocols: [17] }] }, ["-p udp"]],
  ];
  for (const [name, rule, want, family, table] of cases) {
    it(name, () => {
      expect(lines(rule, family ?? 4, table ?? "filter")).toEqual(want);
    });
  }

  it("ports split at 15 multiport slots; negated lists stay in one rule", () => {
    const ranges = Array.from({ length: 10 }, (_, i) => ({ first: 1000 + i * 10, last: 1000 + i * 10 + (i % 2) }));
    const pos = lines({ match: [{ kind: "proto", protocols: [6] }, { kind: "port", side: "dst", ranges }], verdict: { kind: "accept" } });
    expect(pos).toEqual(["-p tcp -m multiport --dports 1000,1010:1011,1020,1030:1031,1040,1050:1051,1060,1070:1071,1080,1090:1091 -j ACCEPT"]);
    const more = [...ranges, { first: 2000, last: 2000 }, { first: 3000, last: 3005 }];
    expect(lines({ match: [{ kind: "proto", protocols: [6] }, { kind: "port", side: "dst", ranges: more }], verdict: { kind: "accept" } })).toEqual([
      "-p tcp -m multiport --dports 1000,1010:1011,1020,1030:1031,1040,1050:1051,1060,1070:1071,1080,1090:1091 -j ACCEPT",
      "-p tcp -m multiport --dports 2000,3000:3005 -j ACCEPT",
    ]);
    expect(lines({ match: [{ kind: "proto", protocols: [6] }, { kind: "port", side: "src", ranges: more, negate: true }], verdict: { kind: "accept" } })).toEqual([
      "-p tcp -m multiport ! --sports 1000,1010:1011,1020,1030:1031,1040,1050:1051,1060,1070:1071,1080,1090:1091 -m multiport ! --sports 2000,3000:3005 -j ACCEPT",
    ]);
  });

  it("refuses what iptables cannot say in one rule instead of guessing", () => {
    expect(() => lines({ match: [{ kind: "port", side: "dst", ranges: [{ first: 1, last: 1 }] }], verdict: { kind: "accept" } })).toThrow(/port-carrying protocol/);
    expect(() => lines({ match: [{ kind: "iface", dir: "in", name: "a" }, { kind: "iface", dir: "in", name: "b" }], verdict: { kind: "accept" } })).toThrow(/two in-interface/);
  });
});

// ------------------------------------------------------------------------------------ multiport table

describe("chunkPorts (multiport ≤ 15 slots, a range takes 2)", () => {
  const table: Array<[string, Array<[number, number]>, string[][]]> = [
    ["empty", [], []],
    ["one port", [[80, 80]], [["80"]]],
    ["15 single ports fit", Array.from({ length: 15 }, (_, i) => [i * 2, i * 2] as [number, number]), [Array.from({ length: 15 }, (_, i) => String(i * 2))]],
    ["16 single ports split 15 + 1", Array.from({ length: 16 }, (_, i) => [i * 2, i * 2] as [number, number]), [Array.from({ length: 15 }, (_, i) => String(i * 2)), ["30"]]],
    ["7 ranges + 1 port = 15 slots", [...Array.from({ length: 7 }, (_, i) => [i * 10, i * 10 + 1] as [number, number]), [100, 100]], [[...Array.from({ length: 7 }, (_, i) => `${i * 10}:${i * 10 + 1}`), "100"]]],
    ["8 ranges = 16 slots split 7 + 1", Array.from({ length: 8 }, (_, i) => [i * 10, i * 10 + 1] as [number, number]), [Array.from({ length: 7 }, (_, i) => `${i * 10}:${i * 10 + 1}`), ["70:71"]]],
    ["a range never straddles chunks", [...Array.from({ length: 14 }, (_, i) => [i * 3, i * 3] as [number, number]), [100, 200]], [Array.from({ length: 14 }, (_, i) => String(i * 3)), ["100:200"]]],
    ["overlapping and adjacent ranges merge first", [[10, 20], [15, 30], [31, 31], [5, 5]], [["5", "10:31"]]],
  ];
  for (const [name, input, want] of table) {
    it(name, () => {
      expect(chunkPorts(input.map(([first, last]) => ({ first, last })))).toEqual(want);
    });
  }

  it("property: chunks are within the limit, disjoint, and cover exactly the input's ports", () => {
    const range = fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 20 })).map(([a, n]) => ({ first: a, last: a + n }));
    fc.assert(
      fc.property(fc.array(range, { maxLength: 40 }), (ranges) => {
        const chunks = chunkPorts(ranges);
        const seen = new Map<number, number>();
        chunks.forEach((ch, ci) => {
          const slots = ch.reduce((s, x) => s + (x.includes(":") ? 2 : 1), 0);
          expect(slots).toBeLessThanOrEqual(MULTIPORT_SLOTS);
          expect(ch.length).toBeGreaterThan(0);
          for (const x of ch) {
            const [a, b] = x.split(":").map(Number);
            for (let p = a!; p <= (b ?? a!); p++) {
              expect(seen.has(p), `port ${p} in two chunks`).toBe(false);
              seen.set(p, ci);
            }
          }
        });
        for (let p = 0; p <= 321; p++) expect(seen.has(p)).toBe(ranges.some((r) => p >= r.first && p <= r.last));
      }),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------------------------------------ equivalence

const V4 = ["10.0.0.0/8", "198.18.1.10", "198.18.1.11", "198.18.2.0/24", "192.0.2.0/25", "192.0.2.128/25"];
const V6 = ["fd00:198:0:1::10", "fd00:198:0:1::11", "fd00:198:0:2::/64", "2001:db8::/32"];
const ADDR4 = ["10.1.2.3", "198.18.1.10", "198.18.1.11", "198.18.2.5", "192.0.2.1", "192.0.2.200", "203.0.113.1"];
const ADDR6 = ["fd00:198:0:1::10", "fd00:198:0:1::11", "fd00:198:0:2::5", "2001:db8::1", "fd00:198:0:3::1"];

const SETS: Record<string, DpSet> = Object.fromEntries(
  (
    [
      { name: "h4", family: 4, fields: ["addr"], interval: false, elements: ["198.18.1.10", "198.18.2.5"], about: "" },
      { name: "n4", family: 4, fields: ["addr"], interval: true, elements: ["10.0.0.0/8", "192.0.2.0/24"], about: "" },
      { name: "all4", family: 4, fields: ["addr"], interval: true, elements: ["0.0.0.0/0"], about: "" },
      { name: "p4", family: 4, fields: ["addr", "l4proto", "port"], interval: false, elements: ["198.18.1.10 . 17 . 53", "198.18.1.11 . 6 . 5432"], about: "" },
      { name: "h6", family: 6, fields: ["addr"], interval: false, elements: ["fd00:198:0:1::10"], about: "" },
      { name: "n6", family: 6, fields: ["addr"], interval: true, elements: ["2001:db8::/32"], about: "" },
      { name: "all6", family: 6, fields: ["addr"], interval: true, elements: ["::/0"], about: "" },
      { name: "p6", family: 6, fields: ["addr", "l4proto", "port"], interval: false, elements: ["fd00:198:0:1::11 . 6 . 5432"], about: "" },
    ] as DpSet[]
  ).map((s) => [s.name, s]),
);
const SET_MAP = ChunkedMap.fromRecord(SETS);
const IPSETS = Object.fromEntries(Object.values(SETS).map((s) => [s.name, ipsetDef(s)]));
const ACCEPT = 0x10000;
const PASS = 0x20000;

function arbMatches(): fc.Arbitrary<DpMatch[]> {
  const fam = fc.constantFrom<Family>(4, 6);
  const neg = fc.boolean();
  const pick = <T,>(xs: readonly T[]) => fc.subarray([...xs], { minLength: 1 });
  const one = fc.oneof(
    fam.map((family): DpMatch => ({ kind: "family", family })),
    fc.record({ kind: fc.constant("iface" as const), dir: fc.constantFrom("in" as const, "out" as const), name: fc.constantFrom("cali", "cali1", "eth0"), prefix: fc.boolean(), negate: neg }),
    fc.record({ kind: fc.constant("ct" as const), states: pick(["established", "related", "invalid", "new"] as const), negate: neg }),
    fc.record({ kind: fc.constant("mark" as const), mask: fc.constantFrom(ACCEPT, PASS, ACCEPT | PASS), value: fc.constantFrom(0, ACCEPT, PASS), negate: neg }).map((m) => ({ ...m, value: m.value & m.mask })),
    fc.record({ kind: fc.constant("proto" as const), protocols: pick([1, 6, 17, 58, 132]), negate: neg }),
    fam.chain((family) => fc.record({ kind: fc.constant("addr" as const), side: fc.constantFrom("src" as const, "dst" as const), family: fc.constant(family), cidrs: pick(family === 4 ? V4 : V6), negate: neg })),
    fam.chain((family) =>
      fc.record({ kind: fc.constant("addr-set" as const), side: fc.constantFrom("src" as const, "dst" as const), family: fc.constant(family), set: fc.constantFrom(...(family === 4 ? ["h4", "n4", "all4"] : ["h6", "n6", "all6"])), negate: neg }),
    ),
    fam.chain((family) =>
      fc.record({ kind: fc.constant("concat-set" as const), family: fc.constant(family), key: fc.constantFrom(["daddr", "l4proto", "dport"], ["saddr", "l4proto", "sport"], ["saddr", "l4proto", "dport"]) as fc.Arbitrary<Array<"saddr" | "daddr" | "l4proto" | "sport" | "dport">>, set: fc.constant(family === 4 ? "p4" : "p6"), negate: neg }),
    ),
    fam.chain((family) => fc.record({ kind: fc.constant("icmp" as const), family: fc.constant(family), type: fc.constantFrom(0, 8, 128, 3), code: fc.option(fc.constantFrom(0, 1), { nil: undefined }), negate: neg })).map((m) => {
      const o: DpMatch = { kind: "icmp", family: m.family, type: m.type, negate: m.negate };
      if (m.code !== undefined) o.code = m.code;
      return o;
    }),
    // Ports always come with port-carrying protocols, as model rules do.
    fc
      .record({
        protocols: pick([6, 17, 132, 136]),
        side: fc.constantFrom("src" as const, "dst" as const),
        ranges: fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 3 })).map(([a, n]) => ({ first: a, last: a + n })), { minLength: 1, maxLength: 20 }),
        negate: neg,
      })
      .map((r): DpMatch[] => [{ kind: "proto", protocols: r.protocols }, { kind: "port", side: r.side, ranges: r.ranges, negate: r.negate }]) as unknown as fc.Arbitrary<DpMatch>,
  );
  return fc.array(one, { maxLength: 5 }).map((ms) => {
    const flat = (ms as unknown as Array<DpMatch | DpMatch[]>).flat();
    // At most one interface condition per direction (the model never builds two).
    const seen = new Set<string>();
    return flat.filter((m) => {
      if (m.kind !== "iface") return true;
      if (seen.has(m.dir)) return false;
      seen.add(m.dir);
      return true;
    });
  });
}

const arbEffects: fc.Arbitrary<DpEffect[]> = fc.array(
  fc.constantFrom<DpEffect>({ kind: "mark-set", bits: ACCEPT }, { kind: "mark-set", bits: PASS }, { kind: "mark-clear", bits: ACCEPT | PASS }, { kind: "log", prefix: "calico-packet: LPI0|np/x", group: 1 }),
  { maxLength: 2 },
);
const arbVerdict: fc.Arbitrary<DpVerdict | undefined> = fc.constantFrom<DpVerdict | undefined>(
  undefined,
  { kind: "accept" },
  { kind: "drop" },
  { kind: "reject" },
  { kind: "return" },
  { kind: "jump", chain: "x" },
  { kind: "goto", chain: "y" },
  { kind: "dispatch", iface: "out", map: "m" },
);

const arbPkt: fc.Arbitrary<Pkt> = fc.constantFrom<Family>(4, 6).chain((family) =>
  fc.record({
    family: fc.constant(family),
    proto: fc.constantFrom(1, 6, 17, 58, 132, 136, 47),
    src: fc.constantFrom(...(family === 4 ? ADDR4 : ADDR6)),
    dst: fc.constantFrom(...(family === 4 ? ADDR4 : ADDR6)),
    sport: fc.integer({ min: 0, max: 70 }),
    dport: fc.constantFrom(0, 1, 15, 30, 53, 60, 63, 5432),
    icmpType: fc.constantFrom(0, 8, 128, 3),
    icmpCode: fc.constantFrom(0, 1),
    iif: fc.constantFrom("cali1", "cali2", "eth0", "calix"),
    oif: fc.constantFrom("cali1", "cali2", "eth0"),
    ct: fc.constantFrom("established", "related", "invalid", "new"),
    mark: fc.constantFrom(0, ACCEPT, PASS, ACCEPT | PASS, 0x40000, 0x80000 | ACCEPT),
  }),
);

describe("rendered rules behave like the model rule (interpreters on random rules and packets)", () => {
  it("property: same verdicts, log records, notrack and mark", () => {
    fc.assert(
      fc.property(arbMatches(), arbEffects, arbVerdict, fc.array(arbPkt, { minLength: 8, maxLength: 8 }), (match, effects, verdict, pkts) => {
        const rule: DpRule = { match, ...(effects.length ? { effects } : {}), ...(verdict ? { verdict } : {}) };
        // Dispatch on a rule that already matches the out-interface is not something the model builds.
        if (verdict?.kind === "dispatch" && match.some((m) => m.kind === "iface" && m.dir === "out")) return;
        for (const p of pkts) {
          const want: Outcome = runModelRule(rule, p, SET_MAP, MAPS);
          const got = runIptRules(renderRule(rule, ctx(p.family)).map((k) => k.args), { ...p }, IPSETS, SCRATCH[0] | SCRATCH[1]);
          const scrub = (o: Outcome) => ({ ...o, mark: (o.mark & ~(SCRATCH[0] | SCRATCH[1])) >>> 0 });
          expect(scrub(got), JSON.stringify({ rule, p })).toEqual(scrub(want));
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 2000) },
    );
  });

  it("the interpreter itself sees what the renderer means (sanity: a drop does drop)", () => {
    const p: Pkt = { family: 4, proto: 6, src: "10.1.2.3", dst: "198.18.1.10", sport: 1, dport: 80, iif: "cali1", oif: "eth0", ct: "new", mark: 0 };
    const out = { verdicts: [], logs: [], notrack: false, mark: 0 };
    expect(runIptRule(["-p", "tcp", "-s", "10.0.0.0/8", "-j", "DROP"], p, {}, out)).toEqual({ stop: true, verdict: "drop" });
    expect(runIptRule(["-p", "udp", "-j", "DROP"], p, {}, out)).toEqual({ stop: false });
  });
});

// ------------------------------------------------------------------------------------ chains

function workloads(n: number): ClusterIR {
  const ir = fixtureIR();
  const base = ir.endpoints.find((e) => e.key === "wep/prod/web")!;
  const extra: EndpointIR[] = [];
  for (let i = 0; i < n; i++) {
    const hex = (i * 2654435761).toString(16).padStart(11, "0").slice(-11);
    extra.push({ ...base, key: `wep/prod/w${i}`, name: `w${i}`, interfaceName: `cali${hex}`, ips: [`198.18.3.${i + 1}`] });
  }
  ir.endpoints = [...ir.endpoints.filter((e) => e.kind === "workload"), ...extra];
  return ir;
}

/** Follows one packet from `chain` through gotos/jumps of a rendered table; returns where it ends. */
function walk(chains: Record<string, Array<{ spec: string }>>, chain: string, p: Pkt, stopAt: RegExp): string {
  const tokens = (spec: string) => (spec.match(/"[^"]*"|\S+/g) ?? []).map((t) => t.replace(/^"|"$/g, ""));
  let cur = chain;
  for (let hops = 0; hops < 20; hops++) {
    let next: string | undefined;
    for (const r of chains[cur] ?? []) {
      const s = runIptRule(tokens(r.spec), p, {}, { verdicts: [], logs: [], notrack: false, mark: 0 });
      if (!s.verdict) continue;
      const [kind, target] = s.verdict.split(":");
      if ((kind === "goto" || kind === "jump") && stopAt.test(target!)) return target!;
      if (kind === "goto") {
        next = target;
        break;
      }
      if (s.stop) return s.verdict;
    }
    if (!next) return "fell off";
    cur = next;
  }
  return "loop";
}

describe("dispatch", () => {
  it("a prefix trie reaches every endpoint chain, and an unknown interface is dropped, like the linear form", () => {
    const m = buildDataplane(workloads(40), NODE);
    for (const trieMin of [4, 1000]) {
      const r = render(m, { dispatchTrieMin: trieMin });
      const filter = r.tables.find((t) => t.family === 4 && t.table === "filter")!;
      const subs = Object.keys(filter.chains).filter((c) => c.startsWith("cali-from-wl-dispatch-"));
      if (trieMin === 4) expect(subs.length).toBeGreaterThan(3);
      else expect(subs).toEqual([]);
      expect(filter.chains["cali-from-wl-dispatch"]!.length).toBeLessThan(trieMin === 4 ? 20 : 1000);
      for (const e of m.endpoints) {
        const p: Pkt = { family: 4, proto: 6, src: "198.18.3.1", dst: "198.18.1.10", sport: 1, dport: 80, iif: e.iface, oif: "eth0", ct: "new", mark: 0 };
        expect(walk(filter.chains, "cali-from-wl-dispatch", p, /^cali-fw-/)).toBe(`cali-fw-${e.iface}`);
      }
      const unknown: Pkt = { family: 4, proto: 6, src: "198.18.3.1", dst: "198.18.1.10", sport: 1, dport: 80, iif: "cali0000000000", oif: "eth0", ct: "new", mark: 0 };
      expect(walk(filter.chains, "cali-from-wl-dispatch", unknown, /^cali-fw-/)).toBe("drop");
      for (const name of Object.keys(filter.chains)) expect(name.length).toBeLessThanOrEqual(28);
    }
  });
});

describe("layout", () => {
  const m = buildDataplane(fixtureIR(), NODE);
  const r = render(m);
  const t = (family: Family, table: string) => r.tables.find((x) => x.family === family && x.table === table)!;

  it("base chains become cali-<BUILTIN> in the table their priority names, with one jump each", () => {
    expect(t(4, "filter").jumps.map((j) => `${j.builtin}→${j.chain}`)).toEqual(["FORWARD→cali-FORWARD", "INPUT→cali-INPUT", "OUTPUT→cali-OUTPUT"]);
    expect(t(4, "mangle").jumps.map((j) => `${j.builtin}→${j.chain}`)).toEqual(["PREROUTING→cali-PREROUTING"]);
    expect(t(6, "raw").jumps.map((j) => `${j.builtin}→${j.chain}`)).toEqual(["OUTPUT→cali-OUTPUT", "PREROUTING→cali-PREROUTING"]);
  });

  it("chains live in every table that reaches them, in both families", () => {
    expect(Object.keys(t(4, "filter").chains)).toContain("cali-pi-np/prod/web");
    expect(Object.keys(t(4, "mangle").chains)).not.toContain("cali-pi-np/prod/web");
    expect(Object.keys(t(4, "mangle").chains)).toContain("cali-failsafe-in");
    expect(Object.keys(t(4, "raw").chains)).toContain("cali-failsafe-in");
    expect(Object.keys(t(6, "filter").chains).sort()).toEqual(Object.keys(t(4, "filter").chains).sort());
  });

  it("a rule of one family lands only in that family's table", () => {
    const web4 = t(4, "filter").chains["cali-pi-np/prod/web"]!.map((x) => x.spec).join("\n");
    const web6 = t(6, "filter").chains["cali-pi-np/prod/web"]!.map((x) => x.spec).join("\n");
    expect(web4).toContain("--icmp-type 8/0");
    expect(web6).not.toContain("--icmp-type");
    expect(web6).toContain("--icmpv6-type 128");
  });

  it("every rule has a comment that starts with its content hash", () => {
    for (const x of r.tables) for (const rules of Object.values(x.chains)) for (const rule of rules) expect(rule.spec).toMatch(new RegExp(`^-m comment --comment "?${rule.hash.replace(/[-]/g, "\\-")}`));
  });

  it("sets keep their model names and get their ipset types", () => {
    expect(Object.fromEntries(Object.values(r.sets).map((s) => [s.name, s.type]))).toMatchObject({
      "cali40s-bad00000000000000000000": "hash:ip",
      "cali4ns-bad00000000000000000000": "hash:net",
      "cali40n-postgres000000000000000": "hash:ip,port",
    });
    expect(r.sets["cali40n-postgres000000000000000"]!.elements).toEqual(["198.18.1.11,tcp:5432"]);
  });
});

// ------------------------------------------------------------------------------------ plans

/** The kernel state a plan would leave, computed from the fresh-load text (for plan tests). */
function stateOf(m: DataplaneModel): IptState {
  // Written the way iptables-save and ipset save print (built-in jumps listed with -A).
  const r = render(m);
  const save: Record<number, string> = {};
  for (const f of [4, 6] as const) {
    save[f] = r.tables
      .filter((t) => t.family === f)
      .map((t) => [`*${t.table}`, ...Object.keys(t.chains).map((c) => `:${c} - [0:0]`), ...t.jumps.map((j) => `-A ${j.builtin} ${j.rule.spec}`), ...Object.entries(t.chains).flatMap(([c, rs]) => rs.map((x) => `-A ${c} ${x.spec}`)), "COMMIT"].join("\n"))
      .join("\n");
  }
  const ipset = Object.values(r.sets)
    .flatMap((s) => [`create ${s.name} ${s.type} family ${s.family === 4 ? "inet" : "inet6"} hashsize 1024 maxelem 1048576`, ...listArray(s.elements).map((e) => `add ${s.name} ${e}`)])
    .join("\n");
  return parseState({ save, ipset });
}

describe("plans", () => {
  const model = (mut?: (ir: ClusterIR) => void) => {
    const ir = fixtureIR();
    mut?.(ir);
    return buildDataplane(ir, NODE, { config: { compileAllowRuns: false } });
  };

  it("a new pod in a selector is one ipset add and no iptables-restore", () => {
    const a = model();
    const b = model((ir) => (ir.sets.get(SET_DNS) as unknown as { members: string[] }).members.push("198.18.2.99/32"));
    expect(diffModels(a, b)).toHaveLength(1);
    expect(planDelta(render(a), render(b))).toEqual([{ tool: "ipset", input: "add cali40s-dns00000000000000000000 198.18.2.99\n" }]);
  });

  it("a policy edit rewrites that policy's chain only, per family", () => {
    const a = model();
    const b = model((ir) => (ir.policies.get("knp/prod/db")!.ingress[0]!.action = "Deny"));
    const steps = planDelta(render(a), render(b));
    expect(steps.map((s) => s.tool)).toEqual(["restore", "restore"]);
    const v4 = steps[0]!.input;
    expect(v4.split("\n").filter((l) => l.startsWith(":"))).toEqual([":cali-pi-knp/prod/db - [0:0]"]);
    expect(v4).toMatch(/^\*filter\n/);
    expect(steps[1]!.input.split("\n").filter((l) => l.startsWith(":"))).toEqual([":cali-pi-knp/prod/db - [0:0]"]);
  });

  it("removing the host endpoint deletes its chains, jumps and tables' content in one block each", () => {
    const a = model();
    const b = model((ir) => (ir.endpoints = ir.endpoints.filter((e) => e.kind !== "host")));
    const v4 = planDelta(render(a), render(b)).find((s) => s.tool === "restore" && s.family === 4)!.input;
    expect(v4).toContain("-D PREROUTING -m comment");
    expect(v4).toContain("-X cali-rfh-wire0");
    const block = v4.slice(v4.indexOf("*raw"), v4.indexOf("COMMIT"));
    expect(block.indexOf("-D OUTPUT")).toBeLessThan(block.indexOf("-X cali-OUTPUT"));
  });

  it("delta from a to b leaves the same digest as a full load of b (planned against a's state)", () => {
    const a = model();
    const b = model((ir) => {
      ir.endpoints.pop();
      ir.policies.get("np/prod/web")!.ingress = ir.policies.get("np/prod/web")!.ingress.slice(2);
    });
    expect(stateDigest(stateOf(b))).toEqual(expectedDigest(render(b)));
    const full = planFull(render(b), stateOf(a));
    const text = full.map((s) => s.input).join("");
    expect(text).toContain("swap cali4t0");
    expect(text).toMatch(/-D FORWARD 1\n/);
    expect(text).toContain("-X cali-rfh-wire0");
  });

  it("full replace over a set of another type removes everything first", () => {
    const st = stateOf(model());
    st.sets["cali40s-dns00000000000000000000"]!.type = "hash:net";
    const steps = planFull(render(model()), st);
    expect(steps[0]!.tool).toBe("restore");
    expect(steps.filter((s) => s.tool === "ipset").map((s) => s.input).join("")).toContain("destroy cali40s-dns00000000000000000000");
  });

  it("remove deletes jumps by position, all cali-* chains and our sets, and leaves foreign rules", () => {
    const st = stateOf(model());
    st.tables["4 filter"]!["FORWARD"]!.unshift("-j ACCEPT", "-m comment --comment admin -j DROP");
    st.tables["4 filter"]!["foreign"] = ["-j ACCEPT"];
    st.sets["other"] = { type: "hash:ip", family: "inet", elements: [] };
    // cali-* chains in a table we do not program (a former Felix's nat chains) are not ours to judge.
    st.tables["4 nat"] = { PREROUTING: ["-j cali-nat-x"], "cali-nat-x": ["-j RETURN"] };
    expect(Object.keys(stateDigest(st)!.chains).filter((k) => k.startsWith("4 nat"))).toEqual([]);
    const steps = planRemove(st);
    expect(steps.map((s) => s.input).join("")).not.toContain("cali-nat-x");
    const v4 = steps.find((s) => s.tool === "restore" && s.family === 4)!.input;
    expect(v4).toContain("-D FORWARD 3\n");
    expect(v4).not.toMatch(/-D FORWARD [12]\n/);
    expect(v4).not.toContain("foreign");
    const ipset = steps.find((s) => s.tool === "ipset")!.input;
    expect(ipset).not.toContain("other");
    expect(ipset).toContain("destroy cali40s-dns00000000000000000000");
  });
});

describe("chains rendered once and reused", () => {
  it("a sequence of incrementally built models renders the same as deep copies that share nothing", () => {
    const steps: Array<(ir: ClusterIR) => void> = [
      () => {},
      (ir) => (ir.endpoints = ir.endpoints.filter((e) => e.key !== "wep/prod/db")),
      (ir) => ((ir.sets.get(SET_DNS) as unknown as { members: string[] }).members = []),
      (ir) => (ir.endpoints = ir.endpoints.slice(1)),
      () => {},
    ];
    for (const options of [{}, { families: [4] as Family[] }, { scratchMarks: [0x100000, 0x200000] as [number, number], dispatchTrieMin: 1 }]) {
      const b = new DataplaneBuilder(NODE);
      let prev: DataplaneModel | undefined;
      for (const [i, step] of steps.entries()) {
        const ir = fixtureIR();
        step(ir);
        const m = b.build(ir);
        const reused = render(m, options);
        expect(reused, `step ${i} ${JSON.stringify(options)}`).toEqual(render(copyModel(m), options));
        // From the previous model's cached render (tables reused when no chain changed).
        if (prev) {
          renderCached(prev, options);
          expect(renderCached(m, options, prev), `step ${i} from previous ${JSON.stringify(options)}`).toEqual(render(copyModel(m), options));
        }
        if (prev) expect(planDelta(render(prev, options), reused)).toEqual(planDelta(render(copyModel(prev), options), render(copyModel(m), options)));
        prev = m;
      }
    }
  });

  it("renderCached from the previous model reuses its tables only when no chain, map or config changed", () => {
    for (const options of [{}, { families: [4] as Family[], dispatchTrieMin: 1 }]) {
      const b = new DataplaneBuilder(NODE);
      const ir0 = fixtureIR();
      const m0 = b.build(ir0);
      const r0 = renderCached(m0, options);
      // Incremental IR steps (shared objects), so the builder records what it changed.
      const ir1: ClusterIR = { ...ir0, sets: ir0.sets.set(SET_DNS, { ...ir0.sets.get(SET_DNS)!, members: [] } as SetDef) };
      const m1 = b.build(ir1);
      const r1 = renderCached(m1, options, m0);
      expect(r1.tables).toBe(r0.tables); // only a set changed
      expect(r1).toEqual(render(copyModel(m1), options));
      expect(r1.sets).not.toEqual(r0.sets);
      // The set's patch is recorded: planDelta takes its element changes from it, and they must be
      // exactly what comparing the element lists gives.
      expect(planDelta(r0, r1)).toEqual(planDelta(render(copyModel(m0), options), render(copyModel(m1), options)));
      const pol = ir1.policies.get("gnp/sec.block-bad")!;
      const egress0 = pol.egress[0]!;
      const ir2: ClusterIR = { ...ir1, policies: ir1.policies.set(pol.key, { ...pol, egress: [{ ...egress0, match: { ...egress0.match, dst: { nets: ["198.51.100.0/24"] } } }, ...pol.egress.slice(1)] }) };
      const m2 = b.build(ir2);
      expect(m2.maps).toBe(m1.maps); // a policy chain changed, the maps did not
      const r2 = renderCached(m2, options, m1);
      expect(r2.tables).not.toBe(r1.tables);
      expect(r2).toEqual(render(copyModel(m2), options));
      // Maps changed with every chain object the same (and recorded so): rendered again.
      const [name, map] = Object.entries(m2.maps).find(([, mp]) => Object.keys(mp.elements).length > 0)!;
      const [iface, target] = Object.entries(map.elements)[0]!;
      const m3: DataplaneModel = { ...m2, maps: { ...m2.maps, [name]: { ...map, elements: { ...map.elements, [`${iface}x`]: target } } } };
      recordChanges(m3, m2, "chains", []);
      const r3 = renderCached(m3, options, m2);
      expect(r3).toEqual(render(copyModel(m3), options));
      expect(r3.tables).not.toEqual(r2.tables);
    }
  });

  it("a dispatch chain is rendered again when only a map it dispatches through changed", () => {
    for (const options of [{}, { dispatchTrieMin: 1 }]) {
      const m = new DataplaneBuilder(NODE).build(fixtureIR());
      const first = render(m, options);
      // Same chain objects (the dispatch chains' rules included), one map with one more interface.
      const [name, map] = Object.entries(m.maps).find(([, mp]) => Object.keys(mp.elements).length > 0)!;
      const [iface, target] = Object.entries(map.elements)[0]!;
      const changed: DataplaneModel = { ...m, maps: { ...m.maps, [name]: { ...map, elements: { ...map.elements, [`${iface}x`]: target } } } };
      const again = render(changed, options);
      expect(again, JSON.stringify(options)).toEqual(render(copyModel(changed), options));
      expect(again).not.toEqual(first);
      // And back: the render for the original maps is found again, not the changed one.
      expect(render(m, options)).toEqual(first);
    }
  });
});

/** A deep copy of a model that shares no object with it (structuredClone drops a ChunkedMap's private fields). */
function copyModel(m: DataplaneModel): DataplaneModel {
  const { sets, chains, ...rest } = m;
  return { ...structuredClone(rest), sets: ChunkedMap.fromEntries(structuredClone([...sets])), chains: ChunkedMap.fromEntries(structuredClone([...chains])) };
}
