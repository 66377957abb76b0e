import { resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generateCluster } from "../../bench/gen/cluster.js";
import { expectedProbes, loadScenarioDir, stepStates } from "../conformance/index.js";
import type { Resource } from "../model/index.js";
import { applyDefaults, validateResources } from "../validate/index.js";
import { Cluster } from "./cluster.js";
import { formatMatrix, tryMatrix, type Matrix, type MatrixQuery } from "./matrix.js";
import { namespace, pod, yamlResources } from "./testing.js";

/** The class-bitset matrix (default) equals the per-pair reference in everything it reports. */
function expectSameAsPairs(c: Cluster, q: MatrixQuery, what: string): Matrix | undefined {
  const fast = tryMatrix(c, q);
  const ref = tryMatrix(c, { ...q, method: "pairs" });
  expect(fast.ok, what).toBe(ref.ok);
  if (!fast.ok || !ref.ok) return undefined;
  const a = fast.value;
  const b = ref.value;
  expect({ ...a, verdicts: undefined }, what).toEqual({ ...b, verdicts: undefined });
  // Compare cell by cell through the compact tables (the 2k-pod tables have 4M cells).
  const n = a.endpoints.length;
  let diff = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (a.verdict(i, j) !== b.verdict(i, j)) diff++;
  expect(diff, `${what}: cells that differ`).toBe(0);
  return a;
}

const APPS = ["a", "b", "c"];
const selectorArb = fc.constantFrom("app == 'a'", "app == 'b'", "app != 'c'", "has(tier)", "all()", "tier == 'db'", "app in {'a', 'c'}");
const netArb = fc.constantFrom("10.1.0.0/16", "10.1.1.0/24", "10.2.0.0/16", "10.1.1.1/32", "0.0.0.0/0");
const portsArb = fc.array(fc.constantFrom(80, 443, "http", "8000:9000", "metrics"), { minLength: 1, maxLength: 2 });
// Zero to two fields per side: enough for rules that actually match sometimes.
const entityArb = fc.oneof(
  fc.constant({}),
  fc.record({ selector: selectorArb }),
  fc.record({ notSelector: selectorArb }),
  fc.record({ nets: fc.array(netArb, { minLength: 1, maxLength: 2 }) }),
  fc.record({ notNets: fc.array(netArb.filter((n) => n !== "0.0.0.0/0"), { minLength: 1, maxLength: 1 }) }),
  fc.record({ ports: portsArb }),
  fc.record({ notPorts: portsArb }),
  fc.record({ selector: selectorArb, ports: portsArb }),
  fc.record({ namespaceSelector: fc.constantFrom("team == 'x'", "all()", "global()"), selector: selectorArb }),
);
const ruleArb = fc.record(
  {
    action: fc.constantFrom("Allow", "Deny", "Pass", "Log", "Allow", "Deny"),
    protocol: fc.constantFrom("TCP", "UDP"),
    source: entityArb,
    destination: entityArb,
  },
  { requiredKeys: ["action"] },
).map((r) => {
  // Ports need a protocol (validation); keep generated rules valid.
  const out: Record<string, unknown> = { ...r };
  for (const side of ["source", "destination"] as const) {
    const e = r[side] as Record<string, unknown> | undefined;
    if ((e?.ports || e?.notPorts) && !r.protocol) out.protocol = "TCP";
  }
  return out;
});
const policyArb = fc.record({
  kind: fc.constantFrom("NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy"),
  tier: fc.constantFrom("default", "t1"),
  order: fc.option(fc.constantFrom(1, 2, 10), { nil: undefined }),
  selector: selectorArb,
  ingress: fc.array(ruleArb, { maxLength: 3 }),
  egress: fc.array(ruleArb, { maxLength: 3 }),
});
// Few label combinations and addresses spread over the rule CIDRs, so that classes have several
// members whose addresses differ in what matters.
const podArb = fc.record({
  app: fc.constantFrom(...APPS),
  tier: fc.option(fc.constantFrom("db"), { nil: undefined, freq: 3 }),
  ns: fc.constantFrom("x", "y"),
  http: fc.boolean(),
  subnet: fc.constantFrom("10.1.1", "10.1.2", "10.2.0", "10.3.0"),
});

function build(pods: Array<{ app: string; tier?: string; ns: string; http: boolean; subnet: string }>, policies: Array<Record<string, unknown>>): Resource[] {
  const res: Resource[] = [namespace("x", { team: "x" }), namespace("y", { team: "y" })];
  res.push(...yamlResources("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t1}\nspec: {order: 100, defaultAction: Pass}"));
  res.push(...yamlResources("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: ext, labels: {app: c}}\nspec: {nets: [10.1.1.0/24]}"));
  pods.forEach((p, i) => {
    res.push(
      pod({
        ns: p.ns,
        name: `p${i}`,
        ip: `${p.subnet}.${i + 1}`,
        labels: { app: p.app, ...(p.tier ? { tier: p.tier } : {}) },
        node: `n${i % 2}`,
        ports: p.http ? [{ name: "http", containerPort: 8080 }, { name: "metrics", containerPort: 443 }] : [],
      }),
    );
  });
  policies.forEach((p, i) => {
    const { kind, ...spec } = p;
    const namespaced = kind !== "GlobalNetworkPolicy";
    res.push({
      apiVersion: "projectcalico.org/v3",
      kind,
      metadata: { name: `pol${i}`, ...(namespaced ? { namespace: i % 2 ? "x" : "y" } : {}) },
      spec: JSON.parse(JSON.stringify(spec)),
    } as Resource);
  });
  return res;
}

describe("matrix", () => {
  it("equals explain on every pair, for random clusters (equivalence classes are exact)", () => {
    fc.assert(
      fc.property(fc.array(podArb, { minLength: 2, maxLength: 12 }), fc.array(policyArb, { maxLength: 6 }), fc.constantFrom(80, 443, 8080, 8500), (pods, policies, port) => {
        const c = Cluster.fromResources(build(pods, policies as Array<Record<string, unknown>>));
        // namespaceSelector: global() is only valid alone; the engine accepts it anyway.
        const m = tryMatrix(c, { protocol: "TCP", port });
        expect(m.ok).toBe(true);
        if (!m.ok) return;
        const { endpoints, verdicts } = m.value;
        for (let i = 0; i < endpoints.length; i++) {
          for (let j = 0; j < endpoints.length; j++) {
            if (i === j) {
              expect(verdicts[i]![j]).toBeNull();
              continue;
            }
            const e = c.explain({ from: endpoints[i]!, to: endpoints[j]!, protocol: "TCP", port });
            expect(verdicts[i]![j], `${endpoints[i]} → ${endpoints[j]}`).toBe(e.verdict);
            const changed = m.value.stagedChanges.find((s) => s.from === endpoints[i] && s.to === endpoints[j]);
            if (e.staged?.changed) expect(changed?.staged).toBe(e.staged.verdict);
            else expect(changed).toBeUndefined();
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it("the class-bitset evaluation equals the per-pair one, for random clusters", () => {
    fc.assert(
      fc.property(
        fc.array(podArb, { minLength: 2, maxLength: 12 }),
        fc.array(policyArb, { maxLength: 6 }),
        fc.constantFrom<MatrixQuery>({ protocol: "TCP", port: 80 }, { protocol: "TCP", port: 8080 }, { protocol: "TCP", port: 8500 }, { protocol: "UDP", port: 443 }, { protocol: "ICMP" }),
        (pods, policies, q) => {
          const c = Cluster.fromResources(build(pods, policies as Array<Record<string, unknown>>));
          expectSameAsPairs(c, q, JSON.stringify(q));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("the class-bitset evaluation equals the per-pair one with host endpoints (failsafe, preDNAT, untracked, endpoint-to-host)", () => {
    const hepArb = fc.record({
      node: fc.constantFrom("n0", "n1"),
      iface: fc.constantFrom("*", "eth0"),
      role: fc.constantFrom("edge", "core"),
      subnet: fc.constantFrom("10.1.1", "10.9.0"),
    });
    const hostPolicyArb = fc.record({
      selector: fc.constantFrom("role == 'edge'", "has(role)", "role == 'core'"),
      flavour: fc.constantFrom("normal", "preDNAT", "doNotTrack", "applyOnForward"),
      order: fc.constantFrom(1, 5),
      ingress: fc.array(ruleArb, { maxLength: 2 }),
      egress: fc.array(ruleArb, { maxLength: 2 }),
    });
    fc.assert(
      fc.property(
        fc.array(podArb, { minLength: 1, maxLength: 8 }),
        fc.array(hepArb, { minLength: 1, maxLength: 4 }),
        fc.array(policyArb, { maxLength: 3 }),
        fc.array(hostPolicyArb, { maxLength: 3 }),
        fc.constantFrom<"Drop" | "Return" | "Accept">("Drop", "Return", "Accept"),
        fc.constantFrom(22, 80, 443, 8080),
        (pods, heps, policies, hostPolicies, toHost, port) => {
          const res = build(pods, policies as Array<Record<string, unknown>>);
          heps.forEach((h, i) => {
            const name = `${h.node}-h${i}`;
            res.push({
              apiVersion: "projectcalico.org/v3",
              kind: "HostEndpoint",
              metadata: { name, labels: { role: h.role } },
              spec: { node: h.node, ...(h.iface === "*" ? { interfaceName: "*" } : { interfaceName: `eth${i}` }), expectedIPs: [`${h.subnet}.${200 + i}`] },
            } as Resource);
          });
          hostPolicies.forEach((p, i) => {
            const spec: Record<string, unknown> = { selector: p.selector, order: p.order, ingress: p.ingress, egress: p.egress };
            if (p.flavour === "preDNAT") Object.assign(spec, { preDNAT: true, applyOnForward: true, egress: [], types: ["Ingress"] });
            if (p.flavour === "doNotTrack") Object.assign(spec, { doNotTrack: true, applyOnForward: true });
            if (p.flavour === "applyOnForward") spec.applyOnForward = true;
            res.push({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name: `host${i}` }, spec: JSON.parse(JSON.stringify(spec)) } as Resource);
          });
          const c = Cluster.fromResources(res, { defaultEndpointToHostAction: toHost });
          expectSameAsPairs(c, { protocol: "TCP", port }, `toHost ${toHost} port ${port}`);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("the class-bitset evaluation equals the per-pair one on every conformance scenario state", () => {
    const loaded = loadScenarioDir(resolve(import.meta.dirname, "../../test/scenarios"));
    expect(loaded.scenarios.length).toBeGreaterThan(60);
    let compared = 0;
    let withHosts = 0;
    let withStaged = 0;
    for (const s of loaded.scenarios) {
      const probes = expectedProbes(s);
      const states = stepStates(s);
      states.forEach((resources, step) => {
        if (validateResources(resources).some((i) => i.severity === "error")) return;
        const c = Cluster.fromResources(resources.map((r) => applyDefaults(r as unknown as Resource)));
        const queries = new Map<string, MatrixQuery>();
        // The scenario's own probe shapes, plus a port no rule names.
        for (const p of probes.filter((x) => x.step === step)) {
          const q: MatrixQuery = { protocol: p.protocol, family: p.family };
          if (p.port !== undefined) q.port = p.port;
          if (p.icmp !== undefined) q.icmp = p.icmp;
          queries.set(JSON.stringify(q), q);
        }
        queries.set("tcp/1", { protocol: "TCP", port: 1 });
        for (const q of queries.values()) {
          const m = expectSameAsPairs(c, q, `${s.name} step ${step} ${JSON.stringify(q)}`);
          if (!m) continue;
          compared++;
          if (c.ir.endpoints.some((e) => e.kind === "host")) withHosts++;
          if (m.stagedChanges.length > 0) withStaged++;
        }
      });
    }
    // The scenarios must exercise the non-trivial paths, or this test proves little.
    expect(compared).toBeGreaterThan(100);
    expect(withHosts).toBeGreaterThan(0);
    expect(withStaged).toBeGreaterThan(0);
  });

  for (const seed of [1, 2]) {
    it(`the class-bitset evaluation equals the per-pair one on a generated 2k-pod cluster (seed ${seed})`, () => {
      const g = generateCluster({ pods: 2000, policies: 1000, seed });
      const c = Cluster.fromResources(g.resources);
      const m = expectSameAsPairs(c, { protocol: "TCP", port: seed === 1 ? 8080 : 9090 }, `seed ${seed}`);
      expect(m!.classes).toBeGreaterThan(100);
      expect(m!.allowed).toBeGreaterThan(0);
    }, 120_000);
  }

  it("keeps the JSON form: verdicts as arrays, compact tables left out", () => {
    const res: Resource[] = [namespace("x")];
    for (let i = 0; i < 3; i++) res.push(pod({ ns: "x", name: `p${i}`, ip: `10.0.0.${i + 1}`, labels: { app: i < 1 ? "a" : "b" } }));
    const m = Cluster.fromResources(res).matrix({ protocol: "TCP", port: 80 });
    expect(Object.keys(JSON.parse(JSON.stringify(m)))).toEqual(["family", "protocol", "endpoints", "verdicts", "allowed", "denied", "classes", "stagedChanges", "skipped", "port"]);
    expect(JSON.parse(JSON.stringify(m)).verdicts).toEqual([[null, "allow", "allow"], ["allow", null, "allow"], ["allow", "allow", null]]);
    expect(m.verdicts).toBe(m.verdicts);
  });

  it("groups identical endpoints into classes and prints a table", () => {
    const res: Resource[] = [namespace("x")];
    for (let i = 0; i < 6; i++) res.push(pod({ ns: "x", name: `p${i}`, ip: `10.0.0.${i + 1}`, labels: { app: i < 3 ? "a" : "b" } }));
    res.push(
      ...yamlResources(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: only-a, namespace: x}
spec: {selector: app == 'b', ingress: [{action: Allow, source: {selector: app == 'a'}}]}`),
    );
    const m = Cluster.fromResources(res).matrix({ protocol: "TCP", port: 80 });
    expect(m.classes).toBe(2);
    expect(m.allowed).toBe(6 * 5 - 6); // b → b denied (3 × 2 pairs)
    expect(m.denied).toBe(6);
    const text = formatMatrix(m);
    expect(text).toContain("TCP/80, IPv4: 24 allowed, 6 denied (6 endpoints, 2 classes)");
    expect(text.split("\n")[2]).toMatch(/^1 x\/p0\s+- ✓ ✓ ✓ ✓ ✓$/);
    expect(text.split("\n")[5]).toMatch(/^4 x\/p3\s+✓ ✓ ✓ - ✗ ✗$/);
  });

  it("rejects bad queries with issues", () => {
    const c = Cluster.fromResources([namespace("x")]);
    expect(tryMatrix(c, { protocol: "TCP" })).toMatchObject({ ok: false, issues: [{ code: "missing-port" }] });
    expect(tryMatrix(c, { protocol: "XTP", port: 1 })).toMatchObject({ ok: false, issues: [{ code: "invalid-protocol" }] });
    expect(tryMatrix(c, { protocol: "TCP", port: 65536 })).toMatchObject({ ok: false, issues: [{ code: "invalid-port" }] });
  });
});
