import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { EmbeddedStore } from "../../datastore/index.js";
import type { Resource } from "../../model/index.js";
import { runConvert } from "./convert-run.js";
import { runDiff } from "./diff-run.js";
import { runExplain, type EngineIO } from "./explain-run.js";
import { runMatrix } from "./matrix-run.js";

const dir = mkdtempSync(join(tmpdir(), `tortie-engine-cli-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = `
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Namespace
metadata: {name: "z"}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: "z", labels: {app: b}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.2.1}
`;
const POLICY = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: c}}}]
      ports: [{port: http}]
`;

function write(name: string, files: Record<string, string>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
  return d;
}
const OLD = write("old", { "base.yaml": BASE });
const NEW = write("new", { "base.yaml": BASE, "policy.yaml": POLICY });
const BAD = write("bad", { "base.yaml": BASE, "bad.yaml": "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: broken}\nspec: {selector: \"app = 'a'\"}\n" });

function capture(stdin = ""): EngineIO & { stdout: () => string; stderr: () => string } {
  let out = "";
  let err = "";
  return { out: (s) => void (out += s), err: (s) => void (err += s), readStdin: async () => stdin, color: false, stdout: () => out, stderr: () => err };
}

const explainOpts = { protocol: "TCP", output: "text" };

describe("tortie explain", () => {
  it("prints the verdict and the trace; exit 0 either way", async () => {
    const io = capture();
    expect(await runExplain({ ...explainOpts, filename: [NEW], from: "z/b", to: "x/a", port: "8080" }, io)).toBe(0);
    expect(io.stdout()).toMatch(/^DENY {2}TCP 10\.0\.2\.1 → 10\.0\.1\.1:8080 {2}\(z\/b → x\/a, IPv4\)/);
    expect(io.stdout()).toContain("knp/x/web rule 0 (Allow): no match — source.selector");
    expect(io.stdout()).toContain("verdict: deny — decided by ingress of x/a: end of tier default");
  });

  it("--exit-code makes a deny exit 2; json output carries the steps", async () => {
    const io = capture();
    expect(await runExplain({ ...explainOpts, output: "json", exitCode: true, filename: [NEW], from: "z/b", to: "x/a", port: "8080" }, io)).toBe(2);
    const j = JSON.parse(io.stdout());
    expect(j.verdict).toBe("deny");
    expect(j.ingress.steps[0]).toMatchObject({ kind: "rule", tier: "default", policy: "knp/x/web", index: 0, action: "Allow", matched: false, field: "source.selector" });
  });

  it("reads stdin with -f -", async () => {
    const io = capture(BASE);
    expect(await runExplain({ ...explainOpts, filename: ["-"], from: "z/b", to: "x/a", port: "80" }, io)).toBe(0);
    expect(io.stdout()).toMatch(/^ALLOW/);
  });

  it.each([
    [{ from: "z/nope", to: "x/a", port: "80" }, /unknown endpoint "z\/nope"/],
    [{ from: "z/b", to: "x/a", port: "0" }, /port 0 must be an integer 1–65535/],
    [{ from: "z/b", to: "x/a", port: "eighty" }, /--port must be a number/],
    [{ from: "z/b", to: "x/a" }, /needs a destination port/],
    [{ from: "z/b", to: "x/a", port: "80", output: "yaml" }, /unknown output format/],
    [{ from: "z/b", to: "x/a", port: "80", failsafeInbound: "tcp22" }, /--failsafe-inbound/],
  ])("bad query %j → exit 1", async (q, msg) => {
    const io = capture();
    expect(await runExplain({ ...explainOpts, filename: [NEW], ...q }, io)).toBe(1);
    expect(io.stderr()).toMatch(msg);
    expect(io.stdout()).toBe("");
  });

  it("an invalid resource in the input: clear message, exit 1", async () => {
    const io = capture();
    expect(await runExplain({ ...explainOpts, filename: [BAD], from: "z/b", to: "x/a", port: "80" }, io)).toBe(1);
    expect(io.stderr()).toMatch(/bad\.yaml:4:\d+: error\[[a-z-]+\]/);
    expect(io.stderr()).toContain("nothing was evaluated");
  });
});

describe("without -f: the datastore", () => {
  it("explains against the embedded store", async () => {
    const dataDir = join(dir, "store");
    const store = await EmbeddedStore.open({ dataDir });
    try {
      for (const d of parseAllDocuments(BASE + "---" + POLICY)) {
        const r = d.toJS() as Resource | null;
        if (r) await store.apply(r);
      }
    } finally {
      await store.close();
    }
    const io = capture();
    expect(await runExplain({ ...explainOpts, datastoreType: "embedded", dataDir, from: "z/b", to: "x/a", port: "8080" }, io)).toBe(0);
    expect(io.stdout()).toMatch(/^DENY/);
    expect(io.stdout()).toContain("knp/x/web");
  });
});

describe("tortie matrix", () => {
  it("prints the table", async () => {
    const io = capture();
    expect(await runMatrix({ protocol: "TCP", port: "8080", output: "text", filename: [NEW] }, io)).toBe(0);
    expect(io.stdout()).toContain("TCP/8080, IPv4: 1 allowed, 1 denied (2 endpoints, 2 classes)");
  });
  it("json", async () => {
    const io = capture();
    expect(await runMatrix({ protocol: "TCP", port: "8080", output: "json", filename: [NEW] }, io)).toBe(0);
    expect(JSON.parse(io.stdout())).toMatchObject({ endpoints: ["x/a", "z/b"], verdicts: [[null, "allow"], ["deny", null]] });
  });
  it("bad port → exit 1", async () => {
    const io = capture();
    expect(await runMatrix({ protocol: "TCP", output: "text", filename: [NEW] }, io)).toBe(1);
    expect(io.stderr()).toMatch(/needs a destination port/);
  });
});

describe("tortie diff", () => {
  it("lists pairs that become denied, on the ports the policies mention", async () => {
    const io = capture();
    expect(await runDiff({ protocol: "TCP", output: "text", filename: [OLD, NEW], exitCode: true }, io)).toBe(2);
    expect(io.stdout()).toBe("- deny   z/b → x/a  TCP/8080  (was allow)\n0 pair(s) newly allowed, 1 newly denied (TCP port 8080, IPv4)\n");
  });
  it("explicit ports; no change", async () => {
    const io = capture();
    expect(await runDiff({ protocol: "TCP", port: ["443"], output: "text", filename: [OLD, NEW] }, io)).toBe(0);
    expect(io.stdout()).toContain("- deny   z/b → x/a  TCP/443");
    const same = capture();
    expect(await runDiff({ protocol: "TCP", port: ["443"], output: "text", filename: [OLD, OLD] }, same)).toBe(0);
    expect(same.stdout()).toBe("no change for TCP port 443 (IPv4)\n");
  });
  it("needs one or two -f", async () => {
    const io = capture();
    expect(await runDiff({ protocol: "TCP", output: "text", filename: [OLD, NEW, OLD] }, io)).toBe(1);
  });
});

describe("tortie convert", () => {
  it("prints the Calico form of a Kubernetes NetworkPolicy", async () => {
    const io = capture();
    expect(await runConvert({ filename: [join(NEW, "policy.yaml")], output: "yaml" }, io)).toBe(0);
    expect(io.stdout()).toContain("kind: KubernetesNetworkPolicy");
    expect(io.stdout()).toContain("selector: projectcalico.org/orchestrator == 'k8s' && app == 'a'");
  });
  it("converts a legacy statement", async () => {
    const io = capture();
    expect(await runConvert({ filename: [], legacy: "allow tcp from label role=frontend to ports 80", namespace: "x", selector: "app == 'a'", output: "yaml" }, io)).toBe(0);
    expect(io.stdout()).toContain("role == 'frontend'");
  });
  it("rejects an invalid legacy statement and a missing input", async () => {
    const io = capture();
    expect(await runConvert({ filename: [], legacy: "allow bogus", output: "yaml" }, io)).toBe(1);
    expect(io.stderr()).toContain("legacy-policy-invalid");
    expect(await runConvert({ filename: [], output: "yaml" }, capture())).toBe(1);
  });
});
