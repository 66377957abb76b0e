import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectedProbes, formatTable, k8sE2ePodNames, loadScenarioDir, loadScenarios, parseScenarios, ScenarioLoadError, stepStates } from "./index.js";

const POLICY = `
  apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: deny, namespace: x}
  spec: {podSelector: {}, policyTypes: [Ingress]}`;

function one(text: string) {
  const r = parseScenarios(text, "t.yaml");
  expect(r.issues).toEqual([]);
  expect(r.scenarios).toHaveLength(1);
  return r.scenarios[0]!;
}

describe("k8s-e2e model", () => {
  it("expands to 3 labelled namespaces and 9 dual-stack pods with the e2e ports", () => {
    const s = one(`name: m\nsource: t\nmodel: k8s-e2e\nexpect: []\n`);
    const [state] = stepStates(s);
    const nss = state!.filter((r) => r.kind === "Namespace");
    expect(nss.map((n) => n.metadata.labels)).toEqual([
      { ns: "x", "kubernetes.io/metadata.name": "x" },
      { ns: "y", "kubernetes.io/metadata.name": "y" },
      { ns: "z", "kubernetes.io/metadata.name": "z" },
    ]);
    const pods = state!.filter((r) => r.kind === "Pod");
    expect(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual(k8sE2ePodNames());
    const yb = pods.find((p) => p.metadata.namespace === "y" && p.metadata.name === "b")!;
    expect(yb.metadata.labels).toEqual({ pod: "b" });
    expect(yb.status).toMatchObject({ podIP: "198.18.2.2", podIPs: [{ ip: "198.18.2.2" }, { ip: "fd00:198::2:2" }] });
    const spec = yb.spec as { nodeName: string; containers: Array<{ ports: Array<{ name: string; containerPort: number; protocol: string }> }> };
    expect(spec.nodeName).toBe("node1");
    expect(spec.containers.flatMap((c) => c.ports.map((p) => `${p.name}=${p.protocol}/${p.containerPort}`))).toEqual([
      "serve-80-tcp=TCP/80",
      "serve-80-udp=UDP/80",
      "serve-80-sctp=SCTP/80",
      "serve-81-tcp=TCP/81",
      "serve-81-udp=UDP/81",
      "serve-81-sctp=SCTP/81",
    ]);
  });
});

describe("expectations → probes", () => {
  it("default + ordered overrides, self pairs skipped, patterns", () => {
    const s = one(`
name: d
source: t
model: k8s-e2e
resources: |${POLICY}
expect:
  - protocol: TCP
    port: [80, 81]
    default: allow
    overrides:
      - {from: "*", to: x/a, verdict: deny}
      - {from: "*/b", to: x/a, verdict: allow}
`);
    const probes = expectedProbes(s);
    expect(probes).toHaveLength(2 * 72);
    const denied = probes.filter((p) => p.verdict === "deny" && p.port === 80).map((p) => `${p.from}>${p.to}`);
    expect(denied.sort()).toEqual(["x/c>x/a", "y/a>x/a", "y/c>x/a", "z/a>x/a", "z/c>x/a"]);
    expect(probes.some((p) => p.from === p.to)).toBe(false);
  });

  it("probe lists inherit protocol/port, infer family from literals, default ICMP to echo", () => {
    const s = one(`
name: p
source: t
model: k8s-e2e
expect:
  - protocol: UDP
    port: 53
    probes:
      - {from: x/a, to: 198.19.0.53, verdict: allow}
      - {from: x/a, to: "fd00:198:ffff::53", verdict: allow}
      - {from: x/a, to: y/a, protocol: ICMPv6, verdict: deny, reason: "no v6 ping"}
      - {from: x/a, to: y/a, protocol: ICMP, icmp: {type: 3, code: 4}, verdict: deny}
`);
    const [a, b, c, d] = expectedProbes(s);
    expect(a).toMatchObject({ protocol: "UDP", port: 53, family: 4, src: { ip: "198.18.1.1" }, dst: { kind: "ip", ip: "198.19.0.53" } });
    expect(b).toMatchObject({ family: 6, src: { ip: "fd00:198::1:1" } });
    expect(c).toMatchObject({ protocol: "ICMPv6", family: 6, icmp: { type: 128, code: 0 }, dst: { ip: "fd00:198::2:1" }, reason: "no v6 ping" });
    expect(c!.port).toBeUndefined();
    expect(d).toMatchObject({ protocol: "ICMP", family: 4, icmp: { type: 3, code: 4 } });
  });

  it("steps are cumulative: apply replaces by identity, delete removes, setLabels merges", () => {
    const s = one(`
name: s
source: t
model: k8s-e2e
resources: |${POLICY}
steps:
  - name: relabel
    setLabels: [{kind: Pod, namespace: x, name: b, labels: {pod2: updated, pod: null}}]
    apply:
      - apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny, namespace: x}
        spec: {podSelector: {}, policyTypes: [Egress]}
  - name: delete
    delete: [{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, namespace: x, name: deny}]
    expect:
      - probes: [{from: x/a, to: x/b, protocol: TCP, port: 80, verdict: allow}]
`);
    const states = stepStates(s);
    expect(states).toHaveLength(3);
    const pol = (i: number) => states[i]!.filter((r) => r.kind === "NetworkPolicy");
    expect(pol(0).map((p) => (p.spec as { policyTypes: string[] }).policyTypes)).toEqual([["Ingress"]]);
    expect(pol(1).map((p) => (p.spec as { policyTypes: string[] }).policyTypes)).toEqual([["Egress"]]);
    expect(pol(2)).toEqual([]);
    const xb = (i: number) => states[i]!.find((r) => r.kind === "Pod" && r.metadata.namespace === "x" && r.metadata.name === "b")!.metadata.labels;
    expect(xb(0)).toEqual({ pod: "b" });
    expect(xb(1)).toEqual({ pod2: "updated" });
    expect(states[0]).not.toBe(states[1]);
    expect(expectedProbes(s).map((p) => p.step)).toEqual([2]);
  });
});

describe("format validation", () => {
  const base = (expect: string, extra = "") => `name: bad\nsource: t\nmodel: k8s-e2e\n${extra}expect:\n${expect}`;
  it.each([
    ["yaml-syntax", "name: [unclosed\n"],
    ["scenario-shape", "name: Bad_Name\nsource: t\nexpect: []\n"],
    ["scenario-shape", "name: a\nexpect: []\n"],
    ["scenario-shape", "name: a\nsource: t\nmodle: k8s-e2e\nexpect: []\n"],
    ["scenario-shape", "name: a\nsource: t\nmodel: other\nexpect: []\n"],
    ["no-expectations", "name: a\nsource: t\n"],
    ["expect-form", base("  - {protocol: TCP, port: 80}\n")],
    ["expect-form", base("  - {protocol: TCP, port: 80, default: allow, table: 'x/a\\nx/a -'}\n")],
    ["missing-protocol", base("  - {default: deny}\n")],
    ["missing-port", base("  - {protocol: TCP, default: deny}\n")],
    ["bad-port", base("  - {protocol: TCP, port: 70000, default: deny}\n")],
    ["bad-port", base("  - {protocol: ICMP, port: 80, default: deny}\n")],
    ["bad-protocol", base("  - {protocol: tcp, port: 80, default: deny}\n")],
    ["bad-protocol", base("  - {protocol: 256, default: deny}\n")],
    ["bad-icmp", base("  - {protocol: TCP, port: 80, icmp: {type: 8}, default: deny}\n")],
    ["bad-icmp", base("  - {protocol: ICMP, family: 6, default: deny}\n")],
    ["bad-table", base("  - protocol: TCP\n    port: 80\n    table: |\n      x/a x/b\n      x/a - o\n")],
    ["bad-table", base("  - protocol: TCP\n    port: 80\n    table: |\n      x/a nowhere\n      x/a - .\n")],
    ["bad-probe", base("  - protocol: TCP\n    port: 80\n    table: |\n      x/a q/q\n      x/a - .\n")],
    ["bad-probe", base("  - {protocol: TCP, port: 80, default: allow, overrides: [{from: w/*, to: x/a, verdict: deny}]}\n")],
    ["bad-probe", base("  - {probes: [{from: x/a, to: hep:nope, protocol: TCP, port: 22, verdict: allow}]}\n")],
    ["mixed-family", base("  - {probes: [{from: 198.19.0.1, to: 'fd00::1', protocol: TCP, port: 22, verdict: allow}]}\n")],
    ["mixed-family", base("  - {probes: [{from: 198.19.0.1, to: x/a, protocol: TCP, port: 22, family: 6, verdict: allow}]}\n")],
    ["bad-pattern", base("  - {protocol: TCP, port: 80, default: allow, overrides: [{from: 'x/**', to: x/a, verdict: deny}]}\n")],
    ["bad-resource", base("  - {probes: []}\n", "resources: [{kind: Pod}]\n")],
    ["bad-resource", base("  - {probes: []}\n", "resources: |\n  apiVersion: v1\n  kind: Pod\n  metadata: {}\n")],
    ["scenario-shape", base("  - {probes: [{from: x/a, to: x/b, protocol: TCP, port: 80, verdict: maybe}]}\n")],
  ])("%s: %j", (code, text) => {
    const r = parseScenarios(text, "bad.yaml");
    expect(r.scenarios).toEqual([]);
    expect(r.issues.map((i) => i.code)).toContain(code);
    for (const i of r.issues) {
      expect(i.severity).toBe("error");
      expect(i.pos?.file).toBe("bad.yaml");
      expect(i.pos?.line).toBeGreaterThanOrEqual(1);
    }
  });

  it("points at the line of the offending node", () => {
    const r = parseScenarios(base("  - protocol: TCP\n    port: 80\n    default: allow\n    overrides:\n      - {from: nope/*, to: x/a, verdict: deny}\n"), "f.yaml");
    const i = r.issues.find((x) => x.code === "bad-probe")!;
    expect(i.path).toEqual(["expect", 0, "overrides", 0, "from"]);
    expect(i.pos).toMatchObject({ file: "f.yaml", line: 9 });
  });

  it("loads a directory, rejects duplicate names, and loadScenarios throws with every issue", () => {
    const dir = mkdtempSync(join(tmpdir(), "tortie-scen-"));
    mkdirSync(join(dir, "sub"));
    const ok = "name: same\nsource: t\nmodel: k8s-e2e\nexpect: []\n";
    writeFileSync(join(dir, "a.yaml"), ok);
    writeFileSync(join(dir, "sub", "b.yml"), ok + "---\nname: other\nsource: t\nexpect: [{protocol: TCP}]\n");
    writeFileSync(join(dir, "notes.txt"), "ignored");
    const r = loadScenarioDir(dir);
    expect(r.scenarios.map((s) => s.name)).toEqual(["same"]);
    expect(r.issues.map((i) => i.code).sort()).toEqual(["duplicate-scenario", "expect-form"]);
    expect(() => loadScenarios(dir)).toThrow(ScenarioLoadError);
  });
});

describe("the table and default+overrides forms agree", () => {
  const pods = k8sE2ePodNames();
  const verdict = fc.constantFrom("allow" as const, "deny" as const);
  const pattern = fc.constantFrom("*", ...pods, "x/*", "y/*", "z/*", "*/a", "*/b", "*/c");
  it("a default with overrides expands to the same probes as its table written out", () => {
    fc.assert(
      fc.property(verdict, fc.array(fc.record({ from: pattern, to: pattern, verdict }), { maxLength: 8 }), (def, overrides) => {
        // Write the table by hand-evaluating the overrides (later wins), as a person would.
        const match = (p: string, e: string) => p === "*" || p === e || (p.endsWith("/*") && e.startsWith(p.slice(0, -1))) || (p.startsWith("*/") && e.endsWith(p.slice(1)));
        const cells = pods.map((f) =>
          pods.map((t) => {
            if (f === t) return null;
            let v: "allow" | "deny" = def;
            for (const o of overrides) if (match(o.from, f) && match(o.to, t)) v = o.verdict;
            return v;
          }),
        );
        const table = formatTable({ rows: pods, columns: pods, cells }).replace(/\n/g, "\n      ");
        const ov = overrides.map((o) => `      - {from: "${o.from}", to: "${o.to}", verdict: ${o.verdict}}\n`).join("");
        const head = "name: eq\nsource: t\nmodel: k8s-e2e\nexpect:\n";
        const a = parseScenarios(`${head}  - protocol: TCP\n    port: 80\n    table: |\n      ${table}\n`, "a.yaml");
        const b = parseScenarios(`${head}  - protocol: TCP\n    port: 80\n    default: ${def}\n    overrides:${ov ? "\n" + ov : " []\n"}`, "b.yaml");
        expect(a.issues).toEqual([]);
        expect(b.issues).toEqual([]);
        const key = (s: typeof a.scenarios[0]) => expectedProbes(s).map((p) => `${p.from}>${p.to}=${p.verdict}`).sort();
        expect(key(b.scenarios[0]!)).toEqual(key(a.scenarios[0]!));
      }),
      { numRuns: 60 },
    );
  });
});
