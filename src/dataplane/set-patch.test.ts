import v8 from "node:v8";
import vm from "node:vm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { recordMemberDelta, type ClusterIR, type PortMember, type SetDef } from "../rule/index.js";
import { SetRegistry, sortUnique, type IrSetSpec } from "./compile.js";
import { diffLists, elementDeltaFrom, patchSortedStrings } from "./set-patch.js";
import { diffModels, recordChanges } from "./diff.js";
import { DEFAULT_CONFIG, type DataplaneModel } from "./model.js";
import { ChunkedMap, listArray, type List } from "../model/index.js";

/** A model holding one IPv4 address set "s" with these elements. */
const oneSetModel = (elements: List<string>): DataplaneModel => ({
  node: "n",
  config: DEFAULT_CONFIG,
  sets: ChunkedMap.fromRecord({ s: { name: "s", family: 4, fields: ["addr"], interval: false, elements, about: "" } }),
  maps: {},
  chains: ChunkedMap.empty(),
  endpoints: [],
  logIndex: {},
  notes: [],
});

/** `after` from `before`: a few edits of a copy (shared objects, as the IR's producers make it)
 *  or, sometimes, an unrelated list. */
const editedPair = <T>(item: fc.Arbitrary<T>) =>
  fc.tuple(fc.array(item, { maxLength: 30 }), fc.array(fc.tuple(fc.nat(40), fc.boolean(), item), { maxLength: 6 }), fc.array(item, { maxLength: 30 }), fc.nat(9)).map(([before, edits, other, coin]) => {
    if (coin === 0) return { before, after: other };
    const after = [...before];
    for (const [at, ins, x] of edits) {
      if (ins) after.splice(at % (after.length + 1), 0, x);
      else if (after.length > 0) after.splice(at % after.length, 1);
    }
    return { before, after };
  });

describe("diffLists", () => {
  it("finds exactly the distinct members that went and came, and whether `after` repeats one", () => {
    fc.assert(
      fc.property(editedPair(fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h")), ({ before, after }) => {
        const b = [...new Set(before)]; // diffLists requires a duplicate-free `before`
        const r = diffLists(b, after, new Set(b), String);
        expect(r.unique).toBe(new Set(after).size === after.length);
        expect(sortUnique(r.removed)).toEqual(b.filter((x) => !after.includes(x)).sort());
        expect(sortUnique(r.added)).toEqual(sortUnique(after.filter((x) => !b.includes(x))));
        expect(r.removed.length).toBe(new Set(r.removed).size);
        expect(r.added.length).toBe(new Set(r.added).size);
      }),
      { numRuns: 2000 },
    );
  });

  it("compares objects by key, shared objects by identity", () => {
    const pool = Array.from({ length: 6 }, (_, i) => ({ addr: `198.18.0.${i % 3}`, protocol: 6, port: i }));
    fc.assert(
      fc.property(editedPair(fc.constantFrom(...pool).chain((m) => fc.constantFrom(m, { ...m }))), ({ before, after }) => {
        const key = (m: PortMember) => `${m.addr}|${m.protocol}|${m.port}`;
        const seen = new Set<string>();
        const b = before.filter((m) => !seen.has(key(m)) && seen.add(key(m)));
        const r = diffLists(b, after, new Set(b.map(key)), key);
        const ak = after.map(key);
        expect(r.unique).toBe(new Set(ak).size === ak.length);
        expect(r.removed.map(key).sort()).toEqual(b.map(key).filter((k) => !ak.includes(k)).sort());
        expect(r.added.map(key).sort()).toEqual(sortUnique(ak.filter((k) => !seen.has(k))));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("diffLists with the producer's record of the edit (rule/member-delta.ts)", () => {
  it("gives the same members and uniqueness as comparing the lists", () => {
    // Members are objects keyed by `k`: another object with the same key is another spelling.
    type M = { k: string; v: number };
    const member = fc.record({ k: fc.constantFrom("a", "b", "c", "d", "e", "f", "g"), v: fc.nat(2) });
    fc.assert(
      fc.property(fc.array(member, { maxLength: 12 }), fc.array(fc.boolean(), { maxLength: 12 }), fc.array(member, { maxLength: 5 }), (b0, drop, added) => {
        const seen = new Set<string>();
        const before = b0.filter((m) => !seen.has(m.k) && (seen.add(m.k), true));
        const removed = before.filter((_, i) => drop[i]);
        const after = [...before.filter((m) => !removed.includes(m)), ...added];
        recordMemberDelta(after, before, { removed, added });
        const key = (m: M) => m.k;
        const hinted = diffLists(before, after, new Set(before.map(key)), key);
        const plain = diffLists(before, [...after], new Set(before.map(key)), key);
        expect(hinted.unique).toBe(plain.unique);
        if (!plain.unique) return; // callers recompute the set
        const keys = (xs: M[]) => xs.map(key).sort();
        expect(keys(hinted.removed)).toEqual(keys(plain.removed));
        expect(keys(hinted.added)).toEqual(keys(plain.added));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("patchSortedStrings", () => {
  it("equals sorting the edited set, and leaves the input intact", () => {
    const word = fc.string({ maxLength: 3 });
    fc.assert(
      fc.property(fc.array(word, { maxLength: 40 }), fc.array(word, { maxLength: 10 }), fc.array(word, { maxLength: 10 }), (b0, r0, a0) => {
        const base = sortUnique(b0);
        const remove = sortUnique(r0).filter((x) => base.includes(x));
        const add = sortUnique(a0).filter((x) => !base.includes(x));
        const copy = [...base];
        const out = patchSortedStrings(base, remove, add);
        expect(out).toEqual(sortUnique([...base.filter((x) => !remove.includes(x)), ...add]));
        expect(base).toEqual(copy);
      }),
      { numRuns: 2000 },
    );
  });

  it("remembers its edit, and diffModels reads it with the same result as comparing the lists", () => {
    const word = fc.string({ maxLength: 3 });
    fc.assert(
      fc.property(fc.array(word, { maxLength: 40 }), fc.array(word, { maxLength: 10 }), fc.array(word, { maxLength: 10 }), (b0, r0, a0) => {
        const base = sortUnique(b0);
        const remove = sortUnique(r0).filter((x) => base.includes(x)).reverse(); // any order
        const add = sortUnique(a0).filter((x) => !base.includes(x));
        const out = patchSortedStrings(base, remove, add);
        if (remove.length + add.length > 0) expect(elementDeltaFrom(out, base)).toEqual({ removed: remove, added: add });
        const hinted = diffModels(oneSetModel(base), oneSetModel(out));
        expect(hinted).toEqual(diffModels(oneSetModel(base), oneSetModel([...out]))); // a copy carries no edit
        // An edit made from another array is not used.
        expect(diffModels(oneSetModel([...base, "zz"].sort()), oneSetModel(out))).toEqual(diffModels(oneSetModel([...base, "zz"].sort()), oneSetModel([...out])));
      }),
      { numRuns: 1000 },
    );
  });
});

/** An IR of three sets: selector "s", named port "p" and service "a". */
function irOf(sel: readonly string[], ports: readonly PortMember[], svc: readonly PortMember[] = []): ClusterIR {
  return {
    tiers: [],
    policies: ChunkedMap.empty(),
    profiles: {},
    endpoints: [],
    sets: ChunkedMap.fromRecord({
      s: { kind: "selector", id: "s", selector: "x == 's'", members: sel } as SetDef,
      p: { kind: "named-port", id: "p", selector: "x == 'p'", portName: "web", protocol: 255, members: ports } as unknown as SetDef,
      a: { kind: "service", id: "a", service: { namespace: "n", name: "a" }, withPorts: false, members: svc } as unknown as SetDef,
    }),
  };
}

describe("SetRegistry: patched kernel sets equal sets built from scratch", () => {
  // Addresses in several spellings of one host (the kernel text is canonical) and both families.
  const addrs = ["198.18.0.1", "198.18.0.2", "198.18.0.10", "198.18.1.9", "fd00:198::1", "fd00:198:0::1", "fd00:198::a"];
  const cidrs = [...addrs.map((a) => (a.includes(":") ? `${a}/128` : `${a}/32`)), "198.18.4.0/24", "198.18.4.0/25", "fd00:198:1::/64"];
  const portPool: PortMember[] = addrs.flatMap((addr) => [6, 17].flatMap((protocol) => [80, 443].map((port) => ({ addr, protocol, port }))));
  const specs: IrSetSpec[] = [4, 6].flatMap((f) => {
    const family = f as 4 | 6;
    return [
      { kind: "selector", id: "s", family, part: "addrs" },
      { kind: "selector", id: "s", family, part: "nets" },
      { kind: "port", id: "p", family },
      { kind: "address", id: "a", family },
    ] as IrSetSpec[];
  });

  const step = <T>(item: fc.Arbitrary<T>) => fc.tuple(fc.array(fc.tuple(fc.nat(40), fc.boolean(), item), { maxLength: 5 }), fc.array(item, { maxLength: 30 }), fc.nat(5));
  /** The next list: edits of a copy of `prev` (shared objects, as the IR's producers make it),
   *  sometimes an unrelated one. */
  const apply = <T>(prev: T[], [edits, other, coin]: [Array<[number, boolean, T]>, T[], number]): T[] => {
    if (coin === 0) return other;
    if (coin === 1) return prev;
    const next = [...prev];
    for (const [at, ins, x] of edits) {
      if (ins) next.splice(at % (next.length + 1), 0, x);
      else if (next.length > 0) next.splice(at % next.length, 1);
    }
    return next;
  };

  it("after every step of edited member lists (shared objects, duplicates, spellings, CIDRs coming and going)", () => {
    const port = fc.constantFrom(...portPool).chain((m) => fc.constantFrom(m, { ...m }));
    fc.assert(
      fc.property(fc.array(fc.tuple(step(fc.constantFrom(...cidrs)), step(port), step(port)), { minLength: 1, maxLength: 8 }), (steps) => {
        let sel: string[] = [];
        let ports: PortMember[] = [];
        let svc: PortMember[] = [];
        const reg = new SetRegistry(irOf(sel, ports, svc));
        for (const [s, p, a] of steps) {
          sel = apply(sel, s);
          ports = apply(ports, p);
          svc = apply(svc, a);
          const ir = irOf(sel, ports, svc);
          reg.update(ir, ["s", "p", "a"]);
          const fresh = new SetRegistry(ir);
          for (const spec of specs) expect(reg.ensure(spec).elements, JSON.stringify(spec)).toEqual(fresh.ensure(spec).elements);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe("SetRegistry: canonical member lists patched from recorded edits (no index kept)", () => {
  // Canonical spellings, as the engine and the agent produce them; a step may also bring another
  // spelling of a host or a CIDR (the split is then recomputed, or indexed), and some recorded
  // edits are wrong on purpose (an "added" member already there), which must not be trusted.
  const hosts4 = Array.from({ length: 30 }, (_, i) => `198.18.${i >> 3}.${i}`);
  const hosts6 = ["fd00:198::1", "fd00:198::2", "fd00:198::a"];
  const canonical = [...hosts4.map((h) => `${h}/32`), ...hosts6.map((h) => `${h}/128`)];
  const odd = ["fd00:198:0::1/128", "198.18.4.0/24", "198.18.0.1/32"];
  const pool = [...canonical, ...odd];
  const ports: PortMember[] = hosts4.slice(0, 10).flatMap((addr) => [80, 443].map((port) => ({ addr, protocol: 6, port })));
  const specs: IrSetSpec[] = [4, 6].flatMap((f) => [
    { kind: "selector", id: "s", family: f, part: "addrs" } as IrSetSpec,
    { kind: "selector", id: "s", family: f, part: "nets" } as IrSetSpec,
    { kind: "port", id: "p", family: f } as IrSetSpec,
  ]);
  it("equal the sets built from scratch after every step", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.subarray(pool, { maxLength: 4 }), fc.subarray(canonical, { maxLength: 4 }), fc.subarray(ports, { maxLength: 3 }), fc.subarray(ports, { maxLength: 3 }), fc.nat(9)), { minLength: 1, maxLength: 10 }),
        (steps) => {
          let sel: readonly string[] = canonical.slice(0, 20);
          let ps: readonly PortMember[] = ports.slice(0, 8);
          const reg = new SetRegistry(irOf(sel, ps));
          for (const spec of specs) reg.ensure(spec);
          for (const [addSel, removeSel, addPorts, removePorts, lie] of steps) {
            const nextSel = [...new Set([...sel.filter((m) => !removeSel.includes(m)), ...addSel])].sort();
            const nextPorts = [...ps.filter((m) => !removePorts.includes(m)), ...addPorts.filter((m) => !ps.includes(m))];
            // What a producer records: the members it removed and added (lie: claims an added one
            // that was already there).
            const added = nextSel.filter((m) => !sel.includes(m));
            const kept = nextSel.find((m) => sel.includes(m));
            recordMemberDelta(nextSel, sel, { removed: sel.filter((m) => !nextSel.includes(m)), added: lie === 0 && kept !== undefined ? [...added, kept] : added });
            recordMemberDelta(nextPorts, ps, { removed: ps.filter((m) => !nextPorts.includes(m)), added: nextPorts.filter((m) => !ps.includes(m)) });
            sel = nextSel;
            ps = nextPorts;
            const ir = irOf(sel, ps);
            reg.update(ir, ["s", "p"]);
            const fresh = new SetRegistry(ir);
            for (const spec of specs) expect([...reg.ensure(spec).elements], JSON.stringify(spec)).toEqual([...fresh.ensure(spec).elements]);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("recorded edits do not keep what they were made from alive", () => {
  it("the base list, the base element array and the previous model can be collected", async () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const collected = new Set<string>();
    const registry = new FinalizationRegistry<string>((what) => collected.add(what));
    // Kept: the newest of each; made from older ones that nothing else references.
    const kept = (() => {
      const members = ["198.18.0.1", "198.18.0.2"];
      const patchedMembers = [...members, "198.18.0.3"];
      recordMemberDelta(patchedMembers, members, { removed: [], added: ["198.18.0.3"] });
      const elements = ["198.18.0.1", "198.18.0.2"];
      const patchedElements = patchSortedStrings(elements, [], ["198.18.0.3"]);
      const first = oneSetModel(elements);
      const second = oneSetModel(patchedElements);
      recordChanges(second, first, "sets", ["s"]);
      registry.register(members, "members");
      registry.register(elements, "elements");
      registry.register(first, "model");
      return { patchedMembers, patchedElements, second };
    })();
    for (let i = 0; i < 10 && collected.size < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect([...collected].sort()).toEqual(["elements", "members", "model"]);
    expect(kept.second.sets.get("s")!.elements).toBe(kept.patchedElements);
  });
});
