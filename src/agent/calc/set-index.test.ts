/**
 * Patched sets versus the engine: random sequences of pod and network-set changes (labels,
 * addresses, dual-stack, named ports, node moves, deletes), with addresses drawn from a small pool
 * so that several items contribute the same member (two pods with one address, a network set
 * holding a pod's /32). After every flush each set of the local IR must equal, member for member
 * and in order, the set of the same id that Cluster.fromResources computes from scratch.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Cluster, patchSorted } from "../../engine/index.js";
import type { Resource } from "../../model/index.js";
import { CalcGraph } from "./calc-graph.js";

const LOCAL = "node1";
const r = (x: unknown) => x as Resource;

/** Keeps the rules' sets active: a local pod selected by the policy below. */
const ANCHOR = r({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "anchor", namespace: "ns1", labels: { local: "yes" } },
  spec: { nodeName: LOCAL, containers: [] },
  status: { phase: "Running", podIP: "198.18.9.9", podIPs: [{ ip: "198.18.9.9" }] },
});

const POLICY = r({
  apiVersion: "projectcalico.org/v3",
  kind: "GlobalNetworkPolicy",
  metadata: { name: "sets" },
  spec: {
    selector: "local == 'yes'",
    types: ["Ingress", "Egress"],
    ingress: [
      { action: "Allow", source: { selector: "has(app)" } },
      { action: "Allow", source: { selector: "app == 'a'" } },
      { action: "Allow", source: { selector: "app in {'a', 'b'} && !has(role)" } },
      { action: "Deny", source: { selector: "role == 'db'" } },
      { action: "Allow", source: { selector: "all()" } },
    ],
    egress: [
      { action: "Allow", protocol: "TCP", destination: { selector: "has(app)", ports: ["http"] } },
      { action: "Allow", protocol: "UDP", destination: { selector: "app == 'b'", ports: ["dns", "http"] } },
      { action: "Allow", protocol: "TCP", destination: { selector: "role == 'db'", ports: ["http", 443] } },
    ],
  },
});

const V4 = ["198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.2.1", "198.18.200.7", "10.0.0.1"];
const V6 = ["fd00:198::1", "fd00:198::2", "fd00:198:1::a"];
const NETS = ["198.18.1.1/32", "198.18.1.0/24", "198.18.0.0/16", "10.0.0.0/8", "10.0.0.1/32", "fd00:198::1/128", "fd00:198::/48", "0.0.0.0/0"];
const PORTS = [
  { name: "http", containerPort: 8080, protocol: "TCP" },
  { name: "http", containerPort: 80, protocol: "TCP" },
  { name: "http", containerPort: 8080, protocol: "UDP" },
  { name: "dns", containerPort: 53, protocol: "UDP" },
];

const labelsArb = fc.record({ app: fc.constantFrom("a", "b", "c"), role: fc.constantFrom("db", "web") }, { requiredKeys: [] });

const podArb = fc.record({
  i: fc.integer({ min: 0, max: 9 }),
  labels: labelsArb,
  node: fc.constantFrom(LOCAL, "node2", "node3"),
  v4: fc.option(fc.constantFrom(...V4), { nil: undefined }),
  v6: fc.option(fc.constantFrom(...V6), { nil: undefined }),
  ports: fc.subarray(PORTS),
});

const netsetArb = fc.record({ i: fc.integer({ min: 0, max: 2 }), labels: labelsArb, nets: fc.subarray(NETS, { minLength: 1 }), namespaced: fc.boolean() });

type Op = { put: "pod"; v: PodV } | { put: "netset"; v: NetsetV } | { del: "pod" | "netset"; i: number };
type PodV = typeof podArb extends fc.Arbitrary<infer T> ? T : never;
type NetsetV = typeof netsetArb extends fc.Arbitrary<infer T> ? T : never;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: podArb.map((v) => ({ put: "pod" as const, v })) },
  { weight: 2, arbitrary: netsetArb.map((v) => ({ put: "netset" as const, v })) },
  { weight: 2, arbitrary: fc.record({ del: fc.constantFrom("pod" as const, "netset" as const), i: fc.integer({ min: 0, max: 9 }) }) },
);

function podResource(v: PodV): Resource {
  const ips = [v.v4, v.v6].filter((x): x is string => x !== undefined);
  return r({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `p${v.i}`, namespace: v.i % 2 ? "ns1" : "ns2", labels: v.labels },
    spec: { nodeName: v.node, containers: [{ name: "c", ports: v.ports }] },
    status: ips.length ? { phase: "Running", podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : { phase: "Pending" },
  });
}

function netsetResource(v: NetsetV): Resource {
  return v.namespaced
    ? r({ apiVersion: "projectcalico.org/v3", kind: "NetworkSet", metadata: { name: `n${v.i}`, namespace: "ns1", labels: v.labels }, spec: { nets: v.nets } })
    : r({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: `n${v.i}`, labels: v.labels }, spec: { nets: v.nets } });
}

/** Replays batches of ops (one flush per batch); returns the graph's set update counts. */
function replay(batches: Op[][], setDeltaLimit?: number): { patched: number; recomputed: number } {
  const calc = new CalcGraph({ node: LOCAL, setDeltaLimit });
  const store = new Map<string, Resource>();
  const put = (k: string, res: Resource) => {
    store.set(k, res);
    calc.onUpdate({ type: "put", resource: res });
  };
  put("anchor", ANCHOR);
  put("policy", POLICY);
  calc.flush();
  batches.forEach((ops, b) => {
    for (const op of ops) {
      if ("put" in op) {
        const res = op.put === "pod" ? podResource(op.v as PodV) : netsetResource(op.v as NetsetV);
        const k = `${op.put}${(op.v as { i: number }).i}`;
        // A netset switching between namespaced and global is a delete of the other kind.
        const prev = store.get(k);
        if (prev && prev.kind !== res.kind) calc.onUpdate({ type: "delete", resource: prev });
        put(k, res);
      } else {
        const k = `${op.del}${op.i}`;
        const prev = store.get(k);
        if (!prev) continue;
        store.delete(k);
        calc.onUpdate({ type: "delete", resource: prev });
      }
    }
    const ir = calc.flush().ir;
    const scratch = Cluster.fromResources([...store.values()]).ir.sets;
    expect(ir.sets.size, `batch ${b}: active sets`).toBeGreaterThan(0);
    for (const [id, def] of ir.sets) expect(def, `batch ${b}: set ${id}`).toEqual(scratch.get(id));
  });
  return calc.stats().setUpdates;
}

describe("SetIndex member deltas", () => {
  it("patchSorted equals sorting the edited member set", () => {
    const cmp = (a: number, b: number) => a - b;
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 10 }), (members, add, removeAt) => {
        const old = [...members].sort(cmp);
        const remove = [...new Set(removeAt.filter(() => old.length > 0).map((n) => old[n % old.length]!))].filter((x) => !add.includes(x));
        const got = patchSorted(old, remove, add, cmp, String);
        const want = [...new Set([...old.filter((x) => !remove.includes(x)), ...add])].sort(cmp);
        expect(got).toEqual(want);
        expect(old).toEqual([...members].sort(cmp)); // the previous list is left intact
      }),
      { numRuns: 500 },
    );
  });

  it("random pod and network-set changes: every set equals the engine's, patched or recomputed", () => {
    fc.assert(
      fc.property(fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 25 }), fc.constantFrom(undefined, 0, 1, 2), (batches, limit) => {
        replay(batches, limit);
      }),
      { numRuns: 150 },
    );
  }, 300_000);

  it("single changes are patched, not recomputed (and limit 0 recomputes them)", () => {
    const ops: Op[][] = [
      [{ put: "pod", v: { i: 1, labels: { app: "a" }, node: "node2", v4: "198.18.1.1", v6: "fd00:198::1", ports: [PORTS[0]!] } }],
      [{ put: "pod", v: { i: 2, labels: { app: "a" }, node: "node3", v4: "198.18.1.1", v6: undefined, ports: [PORTS[0]!] } }],
      [{ del: "pod", i: 1 }],
      [{ put: "netset", v: { i: 0, labels: { app: "a" }, nets: ["198.18.1.1/32", "10.0.0.0/8"], namespaced: false } }],
      [{ del: "pod", i: 2 }],
    ];
    const setsAfterSetup = replay([]);
    const patchedRun = replay(ops);
    expect(patchedRun.patched).toBeGreaterThanOrEqual(ops.length);
    expect(patchedRun.recomputed).toBe(setsAfterSetup.recomputed);
    const fullRun = replay(ops, 0);
    expect(fullRun.patched).toBe(0);
    expect(fullRun.recomputed).toBeGreaterThan(setsAfterSetup.recomputed);
  });
});
