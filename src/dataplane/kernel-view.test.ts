import { describe, expect, it } from "vitest";
import { buildDataplane, checkReferences, kernelView, KernelViewer, maskedSetName, type DataplaneModel, type DpChain, type DpMatch, type DpRule, type DpSet } from "./index.js";
import { fixtureIR, NODE } from "./testdata/fixtures.js";
import { ChunkedMap } from "../model/index.js";

const set = (name: string, elements: string[]): DpSet => ({ name, family: 4, fields: ["addr"], interval: false, elements, about: name });
const inSet = (name: string, negate = false): DpMatch => ({ kind: "addr-set", side: "src", family: 4, set: name, negate });
const accept = (...match: DpMatch[]): DpRule => ({ match, verdict: { kind: "accept" } });

function model(sets: DpSet[], chains: DpChain[]): DataplaneModel {
  const base = buildDataplane(fixtureIR(), NODE);
  return { ...base, sets: ChunkedMap.fromEntries(sets.map((s) => [s.name, s])), chains: ChunkedMap.fromEntries(chains.map((c) => [c.name, c])), maps: {} };
}

const tcp: DpMatch = { kind: "proto", protocols: [6] };
const udp: DpMatch = { kind: "proto", protocols: [17] };

describe("kernelView", () => {
  const full = set("s-full", ["198.18.1.1"]);
  const empty = set("s-empty", []);
  const cases: Array<{ name: string; rules: DpRule[]; want: DpRule[] }> = [
    { name: "no empty set: rules kept as they are", rules: [accept(inSet("s-full"))], want: [accept(inSet("s-full"))] },
    { name: "in an empty set: the rule never matches and goes", rules: [accept(inSet("s-empty")), accept(tcp)], want: [accept(tcp)] },
    { name: "not in an empty set: always true, the match goes", rules: [accept(tcp, inSet("s-empty", true))], want: [accept(tcp)] },
    { name: "only 'not in ∅': the rule matches everything", rules: [accept(inSet("s-empty", true))], want: [accept()] },
    { name: "positive and negated on empty sets: never matches", rules: [accept(inSet("s-empty", true), inSet("s-empty"))], want: [] },
    {
      name: "effects without a verdict go with their rule",
      rules: [{ match: [inSet("s-empty")], effects: [{ kind: "mark-set", bits: 1 }] }, accept(inSet("s-full"))],
      want: [accept(inSet("s-full"))],
    },
    {
      name: "concatenated lookups behave the same",
      rules: [{ match: [{ kind: "concat-set", family: 4, key: ["saddr", "l4proto", "dport"], set: "s-empty" }], verdict: { kind: "drop" } }],
      want: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const m = model([full, empty], [{ name: "c", rules: c.rules }]);
      const v = kernelView(m);
      expect(v.chains.get("c")!.rules).toEqual(c.want);
      expect(v.sets.keyList()).toEqual(["s-full"]);
      checkReferences(v);
    });
  }

  it("leaves chains that name no empty set as the same objects, and the model untouched", () => {
    const keep: DpChain = { name: "keep", rules: [accept(inSet("s-full"))] };
    const m = model([full, empty], [keep, { name: "prune", rules: [accept(inSet("s-empty"))] }]);
    const before = JSON.stringify(m);
    const v = kernelView(m);
    expect(v.chains.get("keep")!).toBe(keep);
    expect(JSON.stringify(m)).toBe(before);
  });

  it("the fixture's view names only sets it keeps, and keeps no empty set", () => {
    const v = kernelView(buildDataplane(fixtureIR(), NODE));
    checkReferences(v);
    expect(v.sets.valueList().filter((s) => s.elements.length === 0)).toEqual([]);
  });
});

describe("KernelViewer", () => {
  it("re-prunes a chain whose set gains or loses its last element, and reuses the others", () => {
    const keep: DpChain = { name: "keep", rules: [accept(inSet("a"))] };
    const uses: DpChain = { name: "uses", rules: [accept(inSet("b")), accept(udp)] };
    const m1 = model([set("a", ["198.18.1.1"]), set("b", [])], [keep, uses]);
    const viewer = new KernelViewer();
    const v1 = viewer.view(m1);
    expect(v1.chains.get("uses")!.rules).toHaveLength(1);
    const m2 = { ...m1, sets: m1.sets.set("b", set("b", ["198.18.1.2"])) };
    const v2 = viewer.view(m2);
    expect(v2.chains.get("uses")!).toBe(uses);
    expect(v2.chains.get("keep")!).toBe(v1.chains.get("keep")!);
    expect(v2.sets.keyList()).toEqual(["a", "b"]);
    const m3 = { ...m2, sets: m2.sets.set("a", set("a", ["198.18.1.3"])) }; // members change, still non-empty
    const v3 = viewer.view(m3);
    expect(v3.chains).toBe(v2.chains);
    const m4 = { ...m3, sets: m3.sets.set("b", set("b", [])) };
    expect(viewer.view(m4)).toEqual(kernelView(m4));
    expect(viewer.view(m4).chains.get("uses")!.rules).toHaveLength(1);
  });
});

describe("kernelView with splitIntervalSets", () => {
  const split = { splitIntervalSets: true };
  const nets: DpSet = { name: "cali4n-nets", family: 4, fields: ["addr"], interval: true, elements: ["192.0.2.64/29", "198.51.100.0/26", "203.0.113.0/26"], about: "nets" };
  const hosts: DpSet = { name: "cali40-hosts", family: 4, fields: ["addr"], interval: false, elements: ["198.18.1.1"], about: "hosts" };
  const m26 = maskedSetName("cali4n-nets", 4, 26);
  const m29 = maskedSetName("cali4n-nets", 4, 29);
  const cidrs = (negate: boolean, ...list: string[]): DpMatch => ({ kind: "addr", side: "dst", family: 4, cidrs: list, negate });

  it("an interval set becomes one hash set per prefix length, holding the CIDRs' bases", () => {
    const v = kernelView(model([nets, hosts], [{ name: "c", rules: [accept(inSet("cali4n-nets"))] }]), split);
    expect(v.sets.valueList().map((s) => [s.name, s.interval, s.elements])).toEqual([
      ["cali40-hosts", false, ["198.18.1.1"]],
      [m26, false, ["198.51.100.0", "203.0.113.0"]],
      [m29, false, ["192.0.2.64"]],
    ]);
    checkReferences(v);
  });

  const cases: Array<{ name: string; rules: DpRule[]; want: DpRule[] }> = [
    {
      name: "in the set: one rule per prefix length (the CIDRs do not overlap, so at most one matches)",
      rules: [accept(tcp, inSet("cali4n-nets"))],
      want: [
        accept(tcp, { kind: "addr-set", side: "src", family: 4, set: m26, negate: false, prefix: 26 }),
        accept(tcp, { kind: "addr-set", side: "src", family: 4, set: m29, negate: false, prefix: 29 }),
      ],
    },
    {
      name: "not in the set: one rule, not in any part",
      rules: [accept(inSet("cali4n-nets", true), tcp)],
      want: [
        accept({ kind: "addr-set", side: "src", family: 4, set: m26, negate: true, prefix: 26 }, { kind: "addr-set", side: "src", family: 4, set: m29, negate: true, prefix: 29 }, tcp),
      ],
    },
    {
      name: "CIDR lists of mixed lengths split the same way",
      rules: [accept(cidrs(false, "10.0.0.0/8", "192.0.2.0/24", "198.51.100.0/24")), accept(cidrs(true, "10.0.0.0/8", "192.0.2.0/24"))],
      want: [accept(cidrs(false, "10.0.0.0/8")), accept(cidrs(false, "192.0.2.0/24", "198.51.100.0/24")), accept(cidrs(true, "10.0.0.0/8"), cidrs(true, "192.0.2.0/24"))],
    },
    {
      name: "two split conditions: every combination, in order",
      rules: [accept(inSet("cali4n-nets"), cidrs(false, "10.0.0.0/8", "192.0.2.0/24"))],
      want: [
        accept({ kind: "addr-set", side: "src", family: 4, set: m26, negate: false, prefix: 26 }, cidrs(false, "10.0.0.0/8")),
        accept({ kind: "addr-set", side: "src", family: 4, set: m26, negate: false, prefix: 26 }, cidrs(false, "192.0.2.0/24")),
        accept({ kind: "addr-set", side: "src", family: 4, set: m29, negate: false, prefix: 29 }, cidrs(false, "10.0.0.0/8")),
        accept({ kind: "addr-set", side: "src", family: 4, set: m29, negate: false, prefix: 29 }, cidrs(false, "192.0.2.0/24")),
      ],
    },
    { name: "one length: unchanged", rules: [accept(cidrs(false, "192.0.2.0/24", "198.51.100.0/24"))], want: [accept(cidrs(false, "192.0.2.0/24", "198.51.100.0/24"))] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const m = model([nets, hosts], [{ name: "c", rules: c.rules }]);
      const v = kernelView(m, split);
      expect(v.chains.get("c")!.rules).toEqual(c.want);
      checkReferences(v);
      // Without the option the view keeps interval sets and CIDR lists as they are.
      expect(kernelView(m).chains.get("c")!.rules).toEqual(c.rules);
    });
  }

  it("a concatenated interval set is kept as it is (its lookups are not rewritten)", () => {
    const concat: DpSet = { name: "cali4n-concat", family: 4, fields: ["addr", "l4proto", "port"], interval: true, elements: ["192.0.2.0/24 . 6 . 80"], about: "" };
    const rule: DpRule = { match: [{ kind: "concat-set", family: 4, key: ["saddr", "l4proto", "dport"], set: "cali4n-concat" }], verdict: { kind: "accept" } };
    const v = kernelView(model([concat], [{ name: "c", rules: [rule] }]), split);
    expect(v.sets.get("cali4n-concat")).toBe(concat);
    expect(v.chains.get("c")!.rules).toEqual([rule]);
    checkReferences(v);
  });

  it("full-length members are looked up without a mask", () => {
    const mixed: DpSet = { ...nets, elements: ["192.0.2.64/29", "198.18.1.7"] };
    const v = kernelView(model([mixed], [{ name: "c", rules: [accept(inSet("cali4n-nets"))] }]), split);
    expect(v.chains.get("c")!.rules.map((r) => r.match[0])).toEqual([
      { kind: "addr-set", side: "src", family: 4, set: m29, negate: false, prefix: 29 },
      { kind: "addr-set", side: "src", family: 4, set: maskedSetName("cali4n-nets", 4, 32), negate: false },
    ]);
  });

  it("KernelViewer follows an interval set gaining a prefix length, and losing its members", () => {
    const viewer = new KernelViewer(split);
    const chain: DpChain = { name: "c", rules: [accept(inSet("cali4n-nets"))] };
    const one = { ...nets, elements: ["192.0.2.64/29"] };
    const steps = [one, nets, { ...nets, elements: [] }, one];
    for (const s of steps) {
      const m = model([s, hosts], [chain]);
      expect(viewer.view(m)).toEqual(kernelView(m, split));
    }
  });
});
