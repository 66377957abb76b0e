/**
 * The full computation's fast paths against the plain ones they replace (issue #7): set members
 * by global rank and label class (MemberOrder) vs per-set parsing and sorting; labels shared per
 * class without changing any endpoint's key order. testdata/golden-ir.json pins whole clusters.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generateCluster } from "../../bench/gen/cluster.js";
import { listArray, type EndpointSlice, type Issue, type Namespace, type NetworkSet, type GlobalNetworkSet, type Pod, type Resource } from "../model/index.js";
import { canonicalAddr, parseCidr } from "../rule/index.js";
import { parseSelector } from "../selector/index.js";
import { Cluster } from "./cluster.js";
import { endpointRef } from "./refs.js";
import { effectiveLabels, namespaceProfile, networkSetRecord, podToEndpoint, type EndpointRecord, type NetworkSetRecord, type ProfileRecord } from "./endpoint-builder.js";
import { LabelIndex } from "./label-index.js";
import { addrMemberText } from "./set-delta.js";
import { calculateSets, MemberOrder, SetRegistry, type SetItem } from "./set-calculator.js";
import { namespace, pod } from "./testing.js";

function extras(): Resource[] {
  return [
    // dual stack, IPv6 ordering, an IPv4-mapped spelling, addresses shared by two pods
    pod({ ns: "ns-0", name: "v6-a", ip: ["198.18.255.1", "fd00:198::10"], labels: { app: "ns-0-app-0", tier: "frontend" }, ports: [{ name: "http", containerPort: 80 }, { name: "dns", containerPort: 53, protocol: "UDP" }] }),
    pod({ ns: "ns-0", name: "v6-b", ip: ["fd00:198::2", "198.18.255.2"], labels: { tier: "frontend", app: "ns-0-app-0" }, ports: [{ name: "http", containerPort: 81 }, { name: "http", containerPort: 80, protocol: "SCTP" }] }),
    pod({ ns: "ns-1", name: "dup", ip: "198.18.255.1", labels: { app: "ns-0-app-0" } }),
    { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "wide", labels: { feed: "threat", "ext-role": "role-1" } }, spec: { nets: ["0.0.0.0/0", "::/0", "fd00::/8", "10.0.0.0/8", "10.0.0.0/16"] } } as unknown as Resource,
    { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name: "wide" }, spec: { selector: "all()", types: ["Ingress"], ingress: [{ action: "Allow", source: { selector: "has(feed) || tier == 'frontend'" } }, { action: "Allow", protocol: "UDP", destination: { ports: ["dns", "http"] } }, { action: "Allow", destination: { ports: ["http"], selector: "tier == 'frontend'" } }] } } as unknown as Resource,
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "s1", namespace: "ns-0", labels: { "kubernetes.io/service-name": "api" } },
      addressType: "IPv6",
      endpoints: [{ addresses: ["fd00:198::2", "fd00:198::1"] }],
      ports: [{ port: 80, protocol: "TCP" }],
    } as unknown as Resource,
    { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name: "svc" }, spec: { selector: "all()", types: ["Egress"], egress: [{ action: "Allow", destination: { services: { name: "api", namespace: "ns-0" } } }] } } as unknown as Resource,
  ];
}

describe("set members: MemberOrder (class-level, by rank) equals per-set parsing and sorting", () => {
  for (const [pods, policies, seed] of [
    [600, 400, 1],
    [1200, 900, 5],
  ] as const) {
    it(`${pods} pods / ${policies} policies, seed ${seed}, plus IPv6 and wide network sets`, () => {
      const rs = [...generateCluster({ pods, policies, seed }).resources, ...extras()];
      const c = Cluster.fromResources(rs);
      expect(c.issues.filter((i) => i.severity === "error")).toEqual([]);
      const reg = new SetRegistry();
      for (const d of c.ir.sets.valueList()) {
        const id =
          d.kind === "selector" ? reg.selector(parseSelector(d.selector)) : d.kind === "named-port" ? reg.namedPort(parseSelector(d.selector), d.portName, d.protocol) : reg.service(d.service.namespace, d.service.name, d.withPorts);
        expect(id).toBe(d.id);
      }
      // Inputs rebuilt from the IR: endpoint labels in the IR are the effective labels.
      const endpoints = new Map(c.ir.endpoints.map((e) => [e.key, e as unknown as EndpointRecord]));
      const profiles = new Map<string, ProfileRecord>();
      for (const r of rs) if (r.kind === "Namespace") profiles.set(`kns.${r.metadata.name}`, namespaceProfile(r as Namespace));
      const netsets = new Map<string, NetworkSetRecord>();
      for (const r of rs) if (r.kind === "NetworkSet" || r.kind === "GlobalNetworkSet") netsets.set(networkSetRecord(r as NetworkSet | GlobalNetworkSet, []).key, networkSetRecord(r as NetworkSet | GlobalNetworkSet, []));
      const idx = new LabelIndex();
      const items: SetItem[] = [];
      for (const e of c.ir.endpoints) items[idx.add(e.key, e.labels)] = endpoints.get(e.key)!;
      for (const n of netsets.values()) items[idx.add(n.key, effectiveLabels(n.ownLabels, n.profiles, profiles))] = n;
      const slices = rs.filter((r) => r.kind === "EndpointSlice") as EndpointSlice[];
      const plain = calculateSets(reg, { index: { select: (s) => idx.select(s) }, endpoints, netsets, slices, rankMembers: false });
      // The agent's path for a flush of many sets: members ranked once per call, not per set.
      const ranked = calculateSets(reg, { index: { select: (s) => idx.select(s) }, endpoints, netsets, slices, rankMembers: true });
      expect(JSON.stringify(ranked)).toBe(JSON.stringify(plain));
      const fast = calculateSets(reg, { index: idx, endpoints, netsets, slices, order: new MemberOrder(items) });
      expect(JSON.stringify(fast)).toBe(JSON.stringify(plain));
      expect(JSON.stringify(c.ir.sets)).toBe(JSON.stringify(plain));
      // The cases reach what they are meant to.
      const defs = Object.values(plain);
      expect(defs.some((d) => d.kind === "selector" && listArray(d.members).some((m) => m.includes(":")) && listArray(d.members).some((m) => !m.includes(":")))).toBe(true);
      expect(defs.some((d) => d.kind === "named-port" && d.members.length > 50)).toBe(true);
      expect(defs.some((d) => d.kind === "service" && d.members.length === 2)).toBe(true);
    }, 60_000);
  }
});

describe("set members: the ranked path of calculateSets", () => {
  it("keeps the per-set order when two member texts sort equal (records that are not canonical)", () => {
    // Not canonical: 10.0.0.1/8 and 10.0.0.0/8 have one sort key. Ranking cannot order them, so
    // calculateSets must take the per-set path, whose stable sort keeps the order items give.
    const netsets = new Map<string, NetworkSetRecord>([
      ["gnetset/a", { key: "gnetset/a", name: "a", ownLabels: { k: "v" }, profiles: [], nets: ["10.0.0.1/8", "192.0.2.0/24"] }],
      ["gnetset/b", { key: "gnetset/b", name: "b", ownLabels: { k: "v" }, profiles: [], nets: ["10.0.0.0/8"] }],
    ]);
    const reg = new SetRegistry();
    for (let i = 0; i < 10; i++) reg.selector(parseSelector(i === 0 ? "k == 'v'" : `k == 'v' || n == '${i}'`));
    // The first set reads a then b, the others b then a: one global ranking cannot give both.
    const select = (sel: { toString(): string }) => (sel.toString().includes("||") ? ["gnetset/b", "gnetset/a"] : ["gnetset/a", "gnetset/b"]);
    const inputs = { index: { select }, endpoints: new Map<string, EndpointRecord>(), netsets, slices: [] };
    const plain = calculateSets(reg, { ...inputs, rankMembers: false });
    const ranked = calculateSets(reg, { ...inputs, rankMembers: true });
    expect(JSON.stringify(ranked)).toBe(JSON.stringify(plain));
    const orders = new Set(Object.values(plain).map((d) => JSON.stringify(d.members)));
    expect(orders).toEqual(new Set([JSON.stringify(["10.0.0.1/8", "10.0.0.0/8", "192.0.2.0/24"]), JSON.stringify(["10.0.0.0/8", "10.0.0.1/8", "192.0.2.0/24"])]));
  });
});

describe("labels in the IR", () => {
  it("keep each endpoint's key order even when classes share a labels object", () => {
    const c = Cluster.fromResources([
      namespace("n"),
      pod({ ns: "n", name: "a", ip: "10.0.0.1", labels: { x: "1", y: "2" } }),
      pod({ ns: "n", name: "b", ip: "10.0.0.2", labels: { y: "2", x: "1" } }),
      pod({ ns: "n", name: "c", ip: "10.0.0.3", labels: { x: "1", y: "2" } }),
      pod({ ns: "n", name: "d", ip: "10.0.0.4", labels: { y: "2", x: "1" } }),
      pod({ ns: "n", name: "e", ip: "10.0.0.5", labels: { x: "1", y: "2\u0001" } }),
    ]);
    const keys = (n: string) => Object.keys(c.endpointByRef(`n/${n}`)!.labels).slice(0, 2);
    expect(keys("a")).toEqual(["x", "y"]);
    expect(keys("b")).toEqual(["y", "x"]);
    expect(keys("c")).toEqual(["x", "y"]);
    expect(keys("d")).toEqual(["y", "x"]);
    expect(c.endpointByRef("n/e")!.labels.y).toBe("2\u0001");
    expect(c.endpointByRef("n/a")!.labels).toEqual(c.endpointByRef("n/b")!.labels);
  });
});

describe("lazySets", () => {
  it("has the same keys in the same order and the same values as calculateSets, computed on first read", () => {
    const rs = [...generateCluster({ pods: 300, policies: 200, seed: 2 }).resources, ...extras()];
    const c = Cluster.fromResources(rs);
    const sets = c.ir.sets;
    const ids = sets.keyList();
    expect(ids).toEqual([...ids].sort());
    expect(ids.length).toBeGreaterThan(50);
    // Not computed yet.
    expect(sets.pending).toBe(ids.length);
    const one = sets.get(ids[3]!)!;
    expect(sets.get(ids[3]!)).toBe(one);
    expect(sets.pending).toBe(ids.length - 1);
    // Explain reads only what it needs.
    expect(c.explain({ from: endpointRef(c.endpoints[0]!), to: endpointRef(c.endpoints[1]!), protocol: "TCP", port: 8080 }).verdict).toMatch(/allow|deny/);
    expect(sets.pending).toBeGreaterThan(0);
    // A version with one set replaced reads the others from the build.
    const copy = Cluster.fromResources(rs).ir.sets;
    const replaced = { ...one, members: [] } as typeof one;
    const edited = copy.set(ids[0]!, replaced);
    expect(edited.get(ids[0]!)).toBe(replaced);
    expect(edited.get(ids[3]!)).toEqual(one);
    // Reading everything gives the eager result, key order included.
    expect(JSON.stringify(sets)).toBe(JSON.stringify(Cluster.fromResources(rs).ir.sets));
    expect(sets.pending).toBe(0);
  });
});

describe("pod IPs: the dotted-quad shortcut agrees with canonicalAddr", () => {
  it("for dotted quads with and without leading zeros, out-of-range octets and junk", () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom("00", "01", "007", "-1", "", "1a"));
    const quad = fc.oneof(fc.tuple(octet, octet, octet, octet).map((o) => o.join(".")), fc.string({ maxLength: 16 }), fc.constantFrom("::ffff:1.2.3.4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4.5"));
    fc.assert(
      fc.property(quad, (ip) => {
        const issues: Issue[] = [];
        const r = podToEndpoint({ apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "n" }, spec: { containers: [] }, status: { podIP: ip } } as unknown as Pod, issues);
        const want = canonicalAddr(ip);
        if (want === undefined) expect("reason" in r).toBe(true);
        else expect((r as EndpointRecord).ips).toEqual([want]);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("MemberOrder ranks", () => {
  // Endpoint addresses as records hold them (canonical), and network-set CIDRs canonical or not
  // (10.0.0.1/8 has 10.0.0.0/8's sort key): the ranking must be the one by text.
  const ips = ["10.0.0.1", "10.0.0.2", "10.0.0.10", "192.0.2.1", "0.0.0.0", "255.255.255.255", "fd00::1", "fd00::2", "::1"];
  const nets = ["10.0.0.1/32", "10.0.0.0/8", "10.0.0.1/8", "10.0.0.0/16", "0.0.0.0/1", "128.0.0.0/1", "192.0.2.0/24", "fd00::/8", "::/1", "10.0.0.2/32"];
  const item: fc.Arbitrary<SetItem> = fc.oneof(
    fc.uniqueArray(fc.constantFrom(...ips), { minLength: 1, maxLength: 2 }).map((l) => ({ key: "wep/x/e", ips: l, namedPorts: [] }) as unknown as SetItem),
    fc.uniqueArray(fc.constantFrom(...nets), { maxLength: 3 }).map((l) => ({ key: "netset", nets: l }) as unknown as SetItem),
  );

  /** Distinct texts in first-occurrence order, sorted stably by (family, base, prefix). */
  function reference(items: readonly SetItem[]) {
    const texts: string[] = [];
    const addrOf = new Map<string, string>();
    const occurrences: string[] = [];
    for (const it of items) {
      const list = "ips" in it ? it.ips.map((ip) => [addrMemberText(ip), ip] as const) : it.nets.map((n) => [n, undefined] as const);
      for (const [t, ip] of list) {
        if (!texts.includes(t)) texts.push(t);
        if (ip !== undefined) addrOf.set(t, ip);
        occurrences.push(t);
      }
    }
    const key = (t: string) => parseCidr(t)!;
    texts.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      return x.family - y.family || (x.base < y.base ? -1 : x.base > y.base ? 1 : x.prefix - y.prefix);
    });
    return { texts, addrs: texts.map((t) => addrOf.get(t)), flat: occurrences.map((t) => texts.indexOf(t)) };
  }

  it("equal the ranking by text (IPv4 by number, IPv6 after, texts that share a sort key apart)", () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 8 }), (items) => {
        const order = new MemberOrder(items);
        const want = reference(items);
        expect(order.texts).toEqual(want.texts);
        expect([...order.addrs]).toEqual(want.addrs);
        expect([...order.flat]).toEqual(want.flat);
      }),
      { numRuns: 3000 },
    );
  });
});
