/**
 * State-sequence tests (Felix calc_graph_fv_test.go): a test is a list of whole datastore states;
 * the graph is driven from state to state by the put/delete updates between them, and after every
 * flush the dataplane model built from its output must equal the model computed from scratch from
 * the datastore contents at that point. Each sequence is replayed through expanders that perturb
 * the order (reverse KV order within a state, reverse state order, empty states in between, states
 * split into single-KV steps, several states squashed into one flush) and under three flush
 * strategies (after every update, after every state, once at the end).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildDataplane, DataplaneBuilder, diffModels, type DataplaneModel } from "../../dataplane/index.js";
import { Cluster } from "../../engine/index.js";
import { kindOf, listArray, type Resource } from "../../model/index.js";
import { irChangesFrom, type ClusterIR } from "../../rule/index.js";
import { CalcGraph } from "./calc-graph.js";
import { modelFromScratch } from "./oracle.js";
import { LOCAL, stateResources, VOCABULARY, type StateChoice } from "./testdata/vocabulary.js";

type State = Resource[];

function rid(r: Resource): string {
  const k = kindOf(r.apiVersion, r.kind)!;
  return `${k.id}|${k.namespaced ? r.metadata.namespace || "default" : ""}|${r.metadata.name}`;
}

// ------------------------------------------------------------------------------------ expanders

const reverseKVOrder = (states: State[]): State[] => states.map((s) => [...s].reverse());
const reverseStateOrder = (states: State[]): State[] => [...states].reverse();
const insertEmpties = (states: State[]): State[] => states.flatMap((s) => [[], s]);
/** Each state becomes the chain of states that adds (or changes) one KV at a time, starting from
 *  the previous state with the KVs that disappear removed. */
function splitStates(states: State[]): State[] {
  const out: State[] = [];
  let prev = new Map<string, Resource>();
  for (const s of states) {
    const next = new Map(s.map((r) => [rid(r), r]));
    const cur = new Map([...prev].filter(([k]) => next.has(k)));
    out.push([...cur.values()]);
    for (const [k, r] of next) {
      cur.set(k, r);
      out.push([...cur.values()]);
    }
    prev = next;
  }
  return out;
}

const EXPANDERS: Record<string, (s: State[]) => State[]> = {
  identity: (s) => s,
  reverseKVOrder,
  reverseStateOrder,
  insertEmpties,
  splitStates,
  "reverseKVOrder+splitStates": (s) => splitStates(reverseKVOrder(s)),
};

// ------------------------------------------------------------------------------------ driver

type FlushStrategy = "per-update" | "per-state" | "at-end";

function updatesBetween(from: Map<string, Resource>, to: State): Array<{ type: "put" | "delete"; resource: Resource }> {
  const next = new Map(to.map((r) => [rid(r), r]));
  const ups: Array<{ type: "put" | "delete"; resource: Resource }> = [];
  for (const [k, r] of from) if (!next.has(k)) ups.push({ type: "delete", resource: r });
  for (const [k, r] of next) if (from.get(k) !== r) ups.push({ type: "put", resource: r });
  return ups;
}

/** After a flush, the model built from the local IR must equal the from-scratch model — both
 *  built whole and built incrementally by the builder that followed every earlier flush (as the
 *  agent does). */
function check(calc: CalcGraph, dp: DataplaneBuilder, store: Map<string, Resource>, where: string): DataplaneModel {
  const before = calc.localIR;
  const ir = calc.flush().ir;
  expectRecordedChanges(before, ir, where);
  expectSetsFromScratch(ir, [...store.values()], where);
  const want = modelFromScratch([...store.values()], LOCAL, { config: CONFIG });
  const got = buildDataplane(ir, LOCAL, { config: CONFIG });
  expect(got, where).toEqual(want);
  expect(dp.build(ir), `${where} (incremental model)`).toEqual(want);
  return got;
}

/** The keys the graph records as changed (rule/ir-changes.ts) cover every entry that differs, and
 *  the output maps keep their keys in sorted order (the key lists are patched, not re-sorted). */
function expectRecordedChanges(before: ClusterIR, ir: ClusterIR, where: string): void {
  for (const map of ["policies", "profiles", "sets"] as const) {
    const keys = Object.keys(ir[map]);
    expect(keys, `${where}: ${map} in key order`).toEqual([...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  if (ir === before) return;
  const rec = irChangesFrom(ir, before);
  if (!rec) return;
  for (const map of ["policies", "profiles", "sets"] as const) {
    const a = before[map] as Record<string, unknown>;
    const b = ir[map] as Record<string, unknown>;
    const differ = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]);
    for (const k of differ) expect(rec[map], `${where}: recorded ${map} changes`).toContain(k);
  }
}

/** Every set of the local IR (patched or recomputed) equals, member for member and in order, the
 *  engine's from-scratch set of the same id: the dataplane model alone would not show an order
 *  difference, since kernel sets are built from the members whatever their order. */
function expectSetsFromScratch(ir: ClusterIR, resources: Resource[], where: string): void {
  const scratch = Cluster.fromResources(resources).ir.sets;
  for (const [id, def] of ir.sets) expect(def, `${where}: set ${id}`).toEqual(scratch.get(id));
}

/** Log both ways so that log-index entries are part of the comparison. */
const CONFIG = { logDenied: true, logAllowed: false };

/** Set delta limits: the default (small sets are always patched), and 1 (sets with two or more
 *  changed items are recomputed whole, so both paths meet in one sequence). */
function run(states: State[], strategy: FlushStrategy, setDeltaLimit?: number): void {
  const calc = new CalcGraph({ node: LOCAL, setDeltaLimit });
  const dp = new DataplaneBuilder(LOCAL, { config: CONFIG });
  const store = new Map<string, Resource>();
  states.forEach((s, i) => {
    for (const u of updatesBetween(store, s)) {
      calc.onUpdate(u);
      if (u.type === "put") store.set(rid(u.resource), u.resource);
      else store.delete(rid(u.resource));
      if (strategy === "per-update") check(calc, dp, store, `state ${i} after ${u.type} ${rid(u.resource)}`);
    }
    if (strategy === "per-state") check(calc, dp, store, `after state ${i}`);
  });
  check(calc, dp, store, "at end");
}

const stateArb: fc.Arbitrary<StateChoice> = fc.tuple(...VOCABULARY.map((e) => fc.integer({ min: -1, max: e.variants.length - 1 })));

describe("CalcGraph state sequences", () => {
  const everything: StateChoice = VOCABULARY.map(() => 0);
  const variantsLast: StateChoice = VOCABULARY.map((e) => e.variants.length - 1);
  const fixed: Record<string, State[]> = {
    "all first variants, then none": [stateResources(everything), []],
    "first variants → last variants → first": [stateResources(everything), stateResources(variantsLast), stateResources(everything)],
    "each entry alone": VOCABULARY.map((_, i) => stateResources(VOCABULARY.map((__, j) => (j === i ? 0 : -1)))),
  };
  for (const [name, states] of Object.entries(fixed)) {
    for (const [ename, expand] of Object.entries(EXPANDERS)) {
      for (const strategy of ["per-update", "per-state", "at-end"] as const) {
        it(`${name} / ${ename} / flush ${strategy}`, () => run(expand(states), strategy));
      }
    }
  }

  it("random state sequences under every expander and flush strategy equal the from-scratch model", () => {
    fc.assert(
      fc.property(fc.array(stateArb, { minLength: 1, maxLength: 4 }), fc.constantFrom(...Object.keys(EXPANDERS)), fc.constantFrom<FlushStrategy>("per-state", "per-update", "at-end"), fc.constantFrom(undefined, 1), (choices, ename, strategy, limit) => {
        run(EXPANDERS[ename]!(choices.map(stateResources)), strategy, limit);
      }),
      { numRuns: 100 },
    );
  }, 300_000);
});

// For the retention check below: a gc() function without --expose-gc on the command line.
setFlagsFromString("--expose-gc");

describe("CalcGraph locality and minimal change", () => {
  const base = (podALabels: Record<string, string>, remoteLabels: Record<string, string>, remoteIP = "198.18.2.10"): Resource[] => [
    { apiVersion: "v1", kind: "Pod", metadata: { name: "a", namespace: "ns1", labels: podALabels }, spec: { nodeName: LOCAL, containers: [] }, status: { phase: "Running", podIP: "198.18.1.10" } } as Resource,
    { apiVersion: "v1", kind: "Pod", metadata: { name: "b", namespace: "ns1", labels: { role: "web" } }, spec: { nodeName: LOCAL, containers: [] }, status: { phase: "Running", podIP: "198.18.1.11" } } as Resource,
    { apiVersion: "v1", kind: "Pod", metadata: { name: "r", namespace: "ns1", labels: remoteLabels }, spec: { nodeName: "node2", containers: [] }, status: { phase: "Running", podIP: remoteIP } } as Resource,
    {
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkPolicy",
      metadata: { name: "web", namespace: "ns1" },
      spec: { selector: "role == 'web'", ingress: [{ action: "Allow", source: { selector: "role == 'client'" } }] },
    } as Resource,
  ];

  function start(resources: Resource[]): { calc: CalcGraph; model: DataplaneModel } {
    const calc = new CalcGraph({ node: LOCAL });
    calc.replaceAll(resources);
    return { calc, model: buildDataplane(calc.flush().ir, LOCAL) };
  }

  it("programs only local endpoints", () => {
    const { calc } = start(base({ role: "web" }, { role: "web" }));
    expect(calc.localIR.endpoints.map((e) => e.key).sort()).toEqual(["wep/ns1/node1-k8s-a-eth0", "wep/ns1/node1-k8s-b-eth0"]);
    expect(calc.localIR.endpoints[0]!.interfaceName).toBe("cali" + "" + calc.localIR.endpoints[0]!.interfaceName!.slice(4));
  });

  it("a remote label change that no local selector cares about changes nothing", () => {
    const { calc } = start(base({ role: "web" }, { role: "x" }));
    const before = calc.localIR;
    calc.onUpdate({ type: "put", resource: base({ role: "web" }, { role: "y" })[2]! });
    const r = calc.flush();
    expect(r.changed).toBe(false);
    expect(r.ir).toBe(before);
  });

  it("an identical resource put again changes nothing; the same object changed in place and put again is applied", () => {
    const resources = base({ role: "web" }, { role: "x" });
    const { calc } = start(resources);
    const before = calc.localIR;
    calc.onUpdate({ type: "put", resource: structuredClone(resources[2]!) });
    expect(calc.flush().ir).toBe(before);
    // The held object itself, changed and handed over again (a caller that edits in place).
    const remote = resources[2]! as Resource & { metadata: { labels: Record<string, string> } };
    remote.metadata.labels = { role: "client" };
    calc.onUpdate({ type: "put", resource: remote });
    const r = calc.flush();
    expect(r.delta.sets).toHaveLength(1);
    expect(r.ir.sets.valueList().some((d) => d.kind === "selector" && listArray(d.members).includes("198.18.2.10/32"))).toBe(true);
  });

  it("a pod update that changes nothing podToEndpoint reads is a no-op, and the graph does not keep the pod", async () => {
    const resources = base({ role: "web" }, { role: "x" });
    const { calc } = start(resources);
    const before = calc.localIR;
    type PodLike = Resource & { metadata: { labels: Record<string, string> }; spec: { containers: unknown[] }; status: Record<string, unknown> };
    const podA = (edit: (p: PodLike) => void) => {
      const p = structuredClone(resources[0]!) as PodLike;
      edit(p);
      return p;
    };
    // Kilobytes of spec and status no calculation reads (a container image, conditions).
    calc.onUpdate({ type: "put", resource: podA((p) => ((p.spec.containers = [{ name: "app", image: "registry/app:2", env: [{ name: "X", value: "y".repeat(2000) }] }]), (p.status.conditions = [{ type: "Ready", status: "True" }]))) });
    let r = calc.flush();
    expect([r.changed, r.ir]).toEqual([false, before]);
    expect(r.delta.endpoints).toEqual([]);
    // A named port is read: the same pod with one is applied.
    calc.onUpdate({ type: "put", resource: podA((p) => (p.spec.containers = [{ name: "app", ports: [{ name: "http", containerPort: 8080 }] }])) });
    r = calc.flush();
    expect(r.delta.endpoints).toEqual(["wep/ns1/node1-k8s-a-eth0"]);
    // Deleting works from what the graph kept (no resource needed), and so does replaceAll.
    calc.onUpdate({ type: "delete", resource: resources[0]! });
    expect(calc.flush().ir.endpoints.map((e) => e.key)).toEqual(["wep/ns1/node1-k8s-b-eth0"]);
    calc.replaceAll(resources.slice(1, 3));
    expect(calc.flush().ir.endpoints.map((e) => e.key)).toEqual(["wep/ns1/node1-k8s-b-eth0"]);
    expect(calc.stats().resources).toBe(2);

    // The pod object itself is not retained once the caller drops it.
    const gc = runInNewContext("gc") as (() => void) | undefined;
    const ref = ((): WeakRef<object> => {
      const p = podA((q) => (q.metadata.labels = { role: "web", big: "yes" }));
      calc.onUpdate({ type: "put", resource: p });
      return new WeakRef(p);
    })();
    calc.flush();
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc?.();
    expect(gc, "gc exposed through v8.setFlagsFromString").toBeTypeOf("function");
    expect(ref.deref()).toBeUndefined();
  });

  it("a remote pod entering a rule's selector changes one set's elements and nothing else", () => {
    const { calc, model } = start(base({ role: "web" }, { role: "x" }));
    calc.onUpdate({ type: "put", resource: base({ role: "web" }, { role: "client" })[2]! });
    const r = calc.flush();
    expect(r.delta).toMatchObject({ endpoints: [], policies: [], profiles: [], tiers: false });
    expect(r.delta.sets).toHaveLength(1);
    const ops = diffModels(model, buildDataplane(r.ir, LOCAL));
    expect(ops).toEqual([{ op: "add-elements", set: expect.stringMatching(/^cali40s-/), elements: ["198.18.2.10"] }]);
  });

  it("compiles a policy's rules only once it selects a local endpoint, and reports their issues then", () => {
    const broken = (selector: string): Resource =>
      ({ apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "broken", namespace: "ns1" }, spec: { selector, ingress: [{ action: "Allow", source: { selector: "role ==" } }] } }) as Resource;
    const { calc } = start([...base({ role: "web" }, { role: "x" }), broken("role == 'remote-only'")]);
    expect(calc.issues()).toEqual([]);
    expect(calc.stats().policies).toBe(1);
    // Now it selects pod a: compiled, dropped for its rule, and its issue is reported.
    calc.onUpdate({ type: "put", resource: broken("role == 'web'") });
    const r = calc.flush();
    expect(calc.issues()).toEqual([expect.objectContaining({ code: "invalid-selector", path: ["spec", "ingress", 0, "source", "selector"], resource: "NetworkPolicy ns1/broken" })]);
    expect(r.ir.policies.keyList()).toEqual(["np/ns1/web"]);
    expect(r.ir.endpoints.every((e) => e.ingress.tiers.every((t) => !t.policies.includes("np/ns1/broken")))).toBe(true);
  });

  it("a local label change that moves a pod out of a policy touches only that pod's chains", () => {
    const { calc, model } = start(base({ role: "web" }, { role: "client" }));
    calc.onUpdate({ type: "put", resource: base({ role: "other" }, { role: "client" })[0]! });
    const r = calc.flush();
    expect(r.delta.endpoints).toEqual(["wep/ns1/node1-k8s-a-eth0"]);
    const ops = diffModels(model, buildDataplane(r.ir, LOCAL));
    const iface = r.ir.endpoints.find((e) => e.key === "wep/ns1/node1-k8s-a-eth0")!.interfaceName!;
    expect(ops.map((o) => `${o.op} ${"chain" in o ? o.chain.name : ""}`).sort()).toEqual([`replace-chain cali-tw-${iface}`]);
  });
});
