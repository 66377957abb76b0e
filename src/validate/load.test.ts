import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadManifests } from "./load.js";

const NP = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-tcp-6379
  namespace: production
spec:
  selector: role == 'database'
  ingress:
    - action: Allow
      protocol: TCP
      destination:
        ports: [6379]
`;

const GNS = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: external
  labels: {role: external}
spec:
  nets: [198.51.100.0/24]
`;

describe("loadManifests: inputs", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `tortie-load-${process.pid}-`));
    mkdirSync(join(dir, "sub"));
    mkdirSync(join(dir, ".hidden"));
    writeFileSync(join(dir, "b.yaml"), NP);
    writeFileSync(join(dir, "sub", "a.yml"), GNS);
    writeFileSync(join(dir, "c.json"), JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "production" } }));
    writeFileSync(join(dir, "notes.txt"), "not a manifest");
    writeFileSync(join(dir, ".hidden", "x.yaml"), "garbage: [");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a directory recursively, sorted, only .yaml/.yml/.json, skipping dot-directories", () => {
    const r = loadManifests(dir);
    expect(r.issues).toEqual([]);
    expect(r.resources.map((x) => x.resource.kind)).toEqual(["NetworkPolicy", "Namespace", "GlobalNetworkSet"]);
    expect(r.resources[0]!.source).toEqual({ file: join(dir, "b.yaml"), line: 1, col: 1, docIndex: 0 });
    expect([...r.sources.keys()]).toEqual([join(dir, "b.yaml"), join(dir, "c.json"), join(dir, "sub", "a.yml")]);
  });

  it("reads a single file and a list of inputs", () => {
    const r = loadManifests([{ path: join(dir, "b.yaml") }, { text: GNS, file: "mem.yaml" }]);
    expect(r.issues).toEqual([]);
    expect(r.resources.map((x) => x.source?.file)).toEqual([join(dir, "b.yaml"), "mem.yaml"]);
  });

  it("treats a string that is not a path as YAML text", () => {
    const r = loadManifests(NP);
    expect(r.issues).toEqual([]);
    expect(r.resources[0]!.source).toEqual({ line: 1, col: 1, docIndex: 0 });
  });

  it("reports a missing file instead of parsing its name as YAML", () => {
    const r = loadManifests(join(dir, "nope.yaml"));
    expect(r.issues.map((i) => i.code)).toEqual(["file-not-found"]);
    expect(r.resources).toEqual([]);
  });

  it("reports an empty directory", () => {
    const empty = join(dir, "sub2");
    mkdirSync(empty);
    expect(loadManifests(empty).issues.map((i) => i.code)).toEqual(["no-resources"]);
  });
});

describe("loadManifests: documents", () => {
  it("reads multi-document YAML and skips empty documents", () => {
    const r = loadManifests({ text: `---\n# only a comment\n---\n${NP}---\n---\n${GNS}` });
    expect(r.issues).toEqual([]);
    expect(r.resources.map((x) => [x.resource.kind, x.source?.docIndex, x.source?.line])).toEqual([
      ["NetworkPolicy", 1, 4],
      ["GlobalNetworkSet", 3, 18],
    ]);
  });

  it("reads JSON with positions", () => {
    const text = JSON.stringify(
      { apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "security" }, spec: { order: 100, defaultAction: "Allow" } },
      null,
      2,
    );
    const r = loadManifests({ text, file: "t.json" });
    expect(r.issues.map((i) => [i.code, i.pos?.line, i.pos?.col])).toEqual([["invalid-default-action", 9, 22]]);
  });

  it("expands kind: List and typed lists (items may omit apiVersion/kind)", () => {
    const list = `apiVersion: v1
kind: List
items:
- ${NP.trim().split("\n").join("\n  ")}
- ${GNS.trim().split("\n").join("\n  ")}
`;
    const typed = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSetList
items:
- metadata: {name: a}
  spec: {nets: [10.0.0.0/8]}
- metadata: {name: b}
  spec: {nets: [bad]}
`;
    const r = loadManifests({ text: `${list}---\n${typed}` });
    expect(r.resources.map((x) => `${x.resource.kind}/${x.resource.metadata.name}@${x.source?.itemIndex}`)).toEqual([
      "NetworkPolicy/allow-tcp-6379@0",
      "GlobalNetworkSet/external@1",
      "GlobalNetworkSet/a@0",
    ]);
    expect(r.issues.map((i) => [i.code, i.path.join("."), i.pos?.line])).toEqual([["invalid-cidr", "spec.nets.0", 30]]);
  });

  it("rejects items of the wrong kind in a typed list, and nested lists", () => {
    const r = loadManifests({
      text: `apiVersion: projectcalico.org/v3\nkind: TierList\nitems:\n- kind: NetworkSet\n  metadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n`,
    });
    expect(r.issues.map((i) => i.code)).toEqual(["unknown-kind", "unknown-kind"]);
  });

  it("keeps only valid resources, applies defaults, and reports every issue at once", () => {
    const r = loadManifests({ text: `${NP}---\n${NP.replace("allow-tcp-6379", "Bad").replace("[6379]", "[0]")}` });
    expect(r.resources).toHaveLength(1);
    const spec = (r.resources[0]!.resource as unknown as { spec: { types: string[]; tier: string } }).spec;
    expect(spec.types).toEqual(["Ingress"]);
    expect(spec.tier).toBe("default");
    expect(r.issues.map((i) => i.code)).toEqual(["invalid-name", "invalid-port"]);
    expect(r.issues.every((i) => i.resource === "NetworkPolicy(production/Bad)")).toBe(true);
  });

  it("reports the same resource twice", () => {
    const r = loadManifests({ text: `${GNS}---\n${GNS}` });
    expect(r.issues.map((i) => [i.code, i.pos?.line])).toEqual([["duplicate-resource", 12]]);
    expect(r.issues[0]!.message).toContain("input:4:9");
    expect(r.resources).toHaveLength(1);
  });

  it("gives namespaced resources the default namespace (configurable)", () => {
    const text = NP.replace("  namespace: production\n", "");
    expect(loadManifests({ text }).resources[0]!.resource.metadata.namespace).toBe("default");
    expect(loadManifests({ text }, { defaultNamespace: "lab" }).resources[0]!.resource.metadata.namespace).toBe("lab");
    expect(loadManifests({ text }, { defaultNamespace: null }).resources[0]!.resource.metadata.namespace).toBeUndefined();
  });

  it("reads crd.projectcalico.org/v1 as projectcalico.org/v3 with a warning", () => {
    const r = loadManifests({ text: GNS.replace("projectcalico.org/v3", "crd.projectcalico.org/v1") });
    expect(r.issues.map((i) => [i.code, i.severity])).toEqual([["deprecated-api-version", "warning"]]);
    expect(r.resources[0]!.resource.apiVersion).toBe("projectcalico.org/v3");
  });

  it("treats null fields as absent, like Go's decoder", () => {
    const r = loadManifests({ text: `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: x\n  labels:\nspec:\n  selector:\n  ingress:\n` });
    expect(r.issues).toEqual([]);
    expect((r.resources[0]!.resource as unknown as { spec: unknown }).spec).toEqual({ tier: "default", types: ["Ingress"] });
  });
});

describe("loadManifests: YAML problems are issues", () => {
  const codes = (text: string) => loadManifests({ text, file: "f.yaml" }).issues.map((i) => [i.code, i.pos?.line, i.pos?.col]);

  it("syntax errors, with position; other documents still load", () => {
    const r = loadManifests({ text: `${GNS}---\nkind: [unclosed\n` });
    expect(r.resources).toHaveLength(1);
    expect(r.issues.map((i) => [i.code, i.pos?.line])).toEqual([["yaml-syntax", 10]]);
  });

  it("duplicate keys", () => {
    expect(codes("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n")).toEqual([["duplicate-key", 5, 3]]);
  });

  it("YAML 1.1 scalars as Kubernetes reads them", () => {
    const r = loadManifests({
      text: `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    enabled: yes\n    num: 0777\n`,
    });
    expect(r.issues.map((i) => [i.code, i.path.join(".")])).toEqual([
      ["invalid-type", "metadata.labels.enabled"],
      ["invalid-type", "metadata.labels.num"],
    ]);
    // floats only in go-yaml's syntax: "e0" is a string (yaml's own 1.1 schema reads NaN)
    const e0 = loadManifests({ text: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: e0\n" });
    expect(e0.issues).toEqual([]);
    // base-60 and timestamps stay strings, so an unquoted port range works
    const ok = loadManifests({ text: `${NP.replace("[6379]", "[6379:6380]")}` });
    expect(ok.issues).toEqual([]);
  });

  it("not a mapping", () => {
    expect(codes("- a\n- b\n")).toEqual([["not-an-object", 1, 1]]);
    expect(codes("just text\n")).toEqual([["not-an-object", 1, 1]]);
  });

  it("unknown kinds", () => {
    const r = loadManifests({ text: "apiVersion: projectcalico.org/v3\nkind: networkpolicy\nmetadata: {name: a}\n" });
    expect(r.issues.map((i) => i.code)).toEqual(["unknown-kind"]);
    expect(r.issues[0]!.message).toContain('did you mean "NetworkPolicy"');
    const r2 = loadManifests({ text: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n" });
    expect(r2.issues.map((i) => [i.code, i.pos?.line])).toEqual([["unknown-kind", 1]]);
  });

  it("alias bombs are bounded", () => {
    const bomb = `a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]
`;
    expect(codes(bomb).map((c) => c[0])).toEqual(["yaml-alias-limit"]);
  });

  it("deep nesting is bounded before the recursive composer sees it", () => {
    for (const text of ["[".repeat(5000) + "]".repeat(5000), "- ".repeat(5000) + "x\n", "{a: ".repeat(3000) + "1" + "}".repeat(3000)]) {
      expect(codes(text).map((c) => c[0])).toEqual(["yaml-too-deep"]);
    }
  });

  it("size limits", () => {
    const r = loadManifests({ text: GNS + "#".repeat(2000) }, { limits: { maxBytes: 1000 } });
    expect(r.issues.map((i) => i.code)).toEqual(["input-too-large"]);
    const r2 = loadManifests({ text: `${GNS}---\n${GNS.replace("external", "other")}#${"x".repeat(500)}\n` }, { limits: { maxDocBytes: 400 } });
    expect(r2.issues.map((i) => i.code)).toEqual(["input-too-large"]);
    expect(r2.resources).toHaveLength(1);
  });

  it("puts the caret of a selector error on the offending character", () => {
    const r = loadManifests({ text: NP.replace("role == 'database'", "role == 'database' &&& x") });
    const i = r.issues[0]!;
    expect(i.code).toBe("invalid-selector");
    expect(i.pos?.line).toBe(7);
    expect(i.pos?.col).toBe(13 + "role == 'database' &&".length);
  });

  it("points unknown-field issues at the key", () => {
    const r = loadManifests({ text: NP.replace("      protocol: TCP", "      protocol: TCP\n      porotcol: UDP") });
    expect(r.issues.map((i) => [i.code, i.pos?.line, i.pos?.col, i.message])).toEqual([
      ["unknown-field", 11, 7, 'unknown field "porotcol" (did you mean "protocol"?)'],
    ]);
  });
});

describe("loadManifests never throws", () => {
  it("on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = loadManifests({ text: s });
        for (const i of r.issues) expect(typeof i.code).toBe("string");
      }),
      { numRuns: 400 },
    );
  });

  it("on arbitrary JSON-ish documents with a known kind", () => {
    const kinds = fc.constantFrom(
      ["projectcalico.org/v3", "NetworkPolicy"],
      ["projectcalico.org/v3", "GlobalNetworkPolicy"],
      ["projectcalico.org/v3", "Tier"],
      ["projectcalico.org/v3", "HostEndpoint"],
      ["projectcalico.org/v3", "WorkloadEndpoint"],
      ["networking.k8s.io/v1", "NetworkPolicy"],
      ["v1", "Pod"],
      ["v1", "Service"],
      ["discovery.k8s.io/v1", "EndpointSlice"],
    );
    fc.assert(
      fc.property(kinds, fc.jsonValue({ maxDepth: 5 }), fc.jsonValue({ maxDepth: 3 }), ([api, kind], spec, meta) => {
        const text = JSON.stringify({ apiVersion: api, kind, metadata: meta, spec, status: spec });
        loadManifests({ text });
      }),
      { numRuns: 400 },
    );
  });
});
