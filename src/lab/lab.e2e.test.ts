/**
 * The lab end to end, as a user drives it: `tortie lab up` (two nodes), real probes (same node,
 * cross-node, an outside address), `tortie apply` changing enforcement, `tortie lab matrix`
 * agreeing with the engine, and `tortie lab down` leaving no namespace or process behind — once per
 * agent dataplane (nftables, iptables). Root only (skipped with a message otherwise).
 *
 * Each run uses its own data dir and lab name (pid + random), so its namespaces (tl-<name>-…) are
 * unique; all addresses are in 198.18.0.0/15 and fd00:198::/48 and live only inside them.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canUseNetns, deleteNamespace } from "../netns/index.js";
import { labDown, labRequest, labState, processRunning as alive } from "./index.js";

const MAIN = resolve(import.meta.dirname, "..", "cli", "main.ts");
const root = canUseNetns();
if (!root) console.warn("lab e2e tests skipped: they create network namespaces and need root");

const MANIFESTS = `
apiVersion: v1
kind: Namespace
metadata: {name: red, labels: {kubernetes.io/metadata.name: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: blue, labels: {kubernetes.io/metadata.name: blue}}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: a, namespace: red, labels: {app: a}}
    spec: {nodeName: node1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
    status: {podIP: 198.18.10.1, podIPs: [{ip: 198.18.10.1}, {ip: "fd00:198::10:1"}]}
  - apiVersion: v1
    kind: Pod
    metadata: {name: b, namespace: red, labels: {app: b}}
    spec: {nodeName: node2, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
    status: {podIP: 198.18.20.1, podIPs: [{ip: 198.18.20.1}, {ip: "fd00:198::20:1"}]}
  - apiVersion: v1
    kind: Pod
    metadata: {name: c, namespace: blue, labels: {app: c}}
    spec: {nodeName: node1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: c-from-a, namespace: blue}
spec:
  selector: app == 'c'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      source: {namespaceSelector: projectcalico.org/name == 'red', selector: app == 'a'}
      destination: {ports: [80]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node1-eth0, labels: {role: host}}
spec: {node: node1, interfaceName: eth0, expectedIPs: [198.19.255.1]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: host-ingress}
spec:
  selector: role == 'host'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      source: {nets: [198.18.77.0/24]}
      destination: {ports: [80]}
`;

const OPEN_B = `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: c-from-b, namespace: blue}
spec:
  selector: app == 'c'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      source: {namespaceSelector: projectcalico.org/name == 'red', selector: app == 'b'}
`;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The daemon's and agents' logs, for a failure message (the temp dir is gone afterwards). */
function logs(data: string): string {
  const d = join(data, "labs");
  if (!existsSync(d)) return "(no logs)";
  return readdirSync(d)
    .filter((f) => f.endsWith(".log") && !f.includes("-flows-"))
    .map((f) => `--- ${f}\n${readFileSync(join(d, f), "utf8").split("\n").slice(-15).join("\n")}`)
    .join("\n");
}


describe.skipIf(!root).each(["nftables", "iptables"])("lab end to end (%s agent)", (dataplane) => {
  const dir = mkdtempSync(join(tmpdir(), `tortie-lab-${process.pid}-`));
  dirs.push(dir);
  const data = join(dir, "data");
  const files = join(dir, "manifests");
  mkdirSync(files);
  writeFileSync(join(files, "cluster.yaml"), MANIFESTS);
  writeFileSync(join(dir, "open-b.yaml"), OPEN_B);
  const name = `t${process.pid.toString(36)}${randomBytes(2).toString("hex")}`;

  function tortie(args: string[]) {
    const env = { ...process.env };
    for (const k of ["DATASTORE_TYPE", "ETCD_ENDPOINTS", "TORTIE_DATA_DIR", "TORTIE_CONFIG"]) delete env[k];
    const r = spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args, "--data-dir", data], { encoding: "utf8", env, timeout: 170_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  /** The CLI's probe path (one process per probe) … */
  function cliProbe(from: string, to: string, port = 80, extra: string[] = []): Record<string, unknown> {
    const r = tortie(["lab", "probe", "--name", name, "--from", from, "--to", to, "--protocol", "TCP", "--port", String(port), "-o", "json", ...extra]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }
  /** … and the same request straight to the lab daemon (what the CLI sends), to keep the test short. */
  function probe(from: string, to: string, port = 80, extra: string[] = []): Promise<Record<string, unknown>> {
    return labRequest(data, name, { op: "probe", from, to, protocol: "TCP", port, ...(extra.includes("-6") ? { family: 6 } : {}) });
  }

  afterAll(async () => {
    // Whatever happened, leave nothing behind (lab down is idempotent).
    const st = labState(data, name);
    await labDown(data, name).catch(() => undefined);
    for (const ns of st?.namespaces ?? []) await deleteNamespace(ns);
  });

  it("comes up on two nodes, probes agree with explain, apply changes enforcement, matrix agrees, down cleans up", { timeout: 240_000 }, async () => {
    const up = tortie(["lab", "up", "-f", files, "--name", name, "--nodes", "2", "--agent", "tortie", "--dataplane", dataplane]);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`lab ${name}: 2 node(s), 3 pod(s), agent: tortie agent`);
    const st = labState(data, name)!;
    expect(st.status).toBe("ready");
    expect(st.pods.find((p) => p.ref === "red/b")!.node).toBe("node2");
    // blue/c had no address: the lab generated one and stored it, so explain knows it too.
    const c = st.pods.find((p) => p.ref === "blue/c")!;
    expect(c.ips.length).toBeGreaterThan(0);
    expect(st.pods.find((p) => p.ref === "red/a")!.ips).toEqual(["198.18.10.1", "fd00:198::10:1"]);

    // Same node, allowed and denied; cross node; IPv6; outside addresses (no NAT: the policy sees them).
    const cases: Array<[string, string, "allow" | "deny", string[]]> = [
      ["red/a", "blue/c", "allow", []],
      ["red/b", "blue/c", "deny", []],
      ["red/a", "red/b", "allow", []],
      ["red/b", "red/a", "allow", []],
      ["red/a", "blue/c", "allow", ["-6"]],
      ["198.18.200.7", "blue/c", "deny", []],
      ["198.18.200.7", "red/a", "allow", []],
      ["blue/c", "198.18.200.8", "allow", []],
    ];
    expect(cliProbe("red/a", "blue/c").verdict).toBe("allow");
    // A host endpoint of the lab node, reached from outside; other protocols.
    for (const [q, want] of [
      [{ from: "198.18.77.5", to: "hep:node1-eth0", protocol: "TCP", port: 80 }, "allow"],
      [{ from: "198.18.78.5", to: "hep:node1-eth0", protocol: "TCP", port: 80 }, "deny"],
      [{ from: "red/b", to: "red/a", protocol: "UDP", port: 53 }, "allow"],
      [{ from: "red/b", to: "blue/c", protocol: "UDP", port: 53 }, "deny"],
      [{ from: "red/a", to: "red/b", protocol: "ICMP" }, "allow"],
      [{ from: "red/b", to: "red/a", protocol: "SCTP", port: 9 }, "allow"],
    ] as const) {
      const r = await labRequest(data, name, { op: "probe", ...q });
      expect({ ...q, verdict: r.verdict, explain: r.explain }).toEqual({ ...q, verdict: want, explain: want });
    }
    for (const [from, to, want, extra] of cases) {
      const r = await probe(from, to, 80, extra);
      expect({ from, to, extra, verdict: r.verdict, explain: r.explain }).toEqual({ from, to, extra, verdict: want, explain: want });
    }
    // A denied probe is answered by a reject, not by waiting for a time-out.
    expect((await probe("red/b", "blue/c")).outcome).toBe("refused");

    const applied = tortie(["apply", "-f", join(dir, "open-b.yaml")]);
    expect(applied.code).toBe(0);
    let after: Record<string, unknown> = {};
    // Generous: the agent takes well under a second, but CI machines can be very busy.
    for (let i = 0; i < 60; i++) {
      after = await probe("red/b", "blue/c");
      if (after.verdict === "allow") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(after.verdict, logs(data)).toBe("allow");
    expect(after.explain).toBe("allow");
    const status = JSON.parse(tortie(["lab", "status", "--name", name, "-o", "json"]).stdout) as { changes: Array<{ resource: string; ms: number | null }> };
    const change = status.changes.find((ch) => ch.resource.includes("c-from-b"));
    expect(change?.ms).toBeTypeOf("number");

    const m = tortie(["lab", "matrix", "--name", name, "-o", "json"]);
    expect(m.stderr).toBe("");
    expect(m.code).toBe(0);
    const mx = JSON.parse(m.stdout) as { disagreements: unknown[]; probes: number; tables: Array<{ endpoints: string[] }> };
    expect(mx.disagreements).toEqual([]);
    expect(mx.probes).toBe(6);
    expect(mx.tables[0]!.endpoints.sort()).toEqual(["blue/c", "red/a", "red/b"]);

    const down = tortie(["lab", "down", "--name", name]);
    expect(down.code).toBe(0);
    expect(down.stdout).toBe(`lab ${name} is down\n`);
    const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.startsWith(`${st.prefix}-`));
    expect(left).toEqual([]);
    const running = labState(data, name) ? ["state file"] : [];
    // PIDs recorded at start-up plus the agents: all gone.
    const final = st.pids.filter(alive);
    expect([...running, ...final]).toEqual([]);
    expect(existsSync(join(data, "labs", `${name}.sock`))).toBe(false);
    // What the lab stored is gone from the datastore; what the user applied stays.
    const pods = tortie(["get", "pods", "-A"]);
    expect(pods.stdout).not.toContain("red");
    const nps = tortie(["get", "networkpolicy", "-A"]);
    expect(nps.stdout).toContain("c-from-b");
    expect(nps.stdout).not.toContain("c-from-a");
  });
});

describe.skipIf(!root)("tortie demo (the README's first command)", () => {
  const dir = mkdtempSync(join(tmpdir(), `tortie-demo-${process.pid}-`));
  dirs.push(dir);
  const data = join(dir, "data");
  const examples = resolve(import.meta.dirname, "..", "..", "examples");
  const name = `d${process.pid.toString(36)}${randomBytes(2).toString("hex")}`;

  function tortie(args: string[]) {
    const env = { ...process.env };
    for (const k of ["DATASTORE_TYPE", "ETCD_ENDPOINTS", "TORTIE_DATA_DIR", "TORTIE_CONFIG", "SUDO_USER", "npm_command"]) delete env[k];
    const r = spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args, "--data-dir", data], { encoding: "utf8", env, timeout: 170_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  afterAll(async () => {
    const st = labState(data, name);
    await labDown(data, name).catch(() => undefined);
    for (const ns of st?.namespaces ?? []) await deleteNamespace(ns);
  });

  it("brings up the demo lab twice (idempotent), the tour's commands work, the kernel agrees with matrix", { timeout: 240_000 }, async () => {
    // The hidden --name keeps this run's namespaces apart from a user's own demo lab.
    const first = tortie(["demo", "--name", name]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const st1 = labState(data, name)!;
    const second = tortie(["demo", "--name", name]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`lab ${name}: 1 node(s), 6 pod(s)`);
    expect(second.stdout).toContain("tortie lab probe --from default/debug --to api/backend-1 --protocol TCP --port 8080");
    expect(st1.pids.filter(alive)).toEqual([]);

    const deny = await labRequest(data, name, { op: "probe", from: "default/debug", to: "api/backend-1", protocol: "TCP", port: 8080 });
    expect([deny.verdict, deny.explain]).toEqual(["deny", "deny"]);
    const allow = await labRequest(data, name, { op: "probe", from: "web/frontend-1", to: "api/backend-1", protocol: "TCP", port: 8080 });
    expect([allow.verdict, allow.explain]).toEqual(["allow", "allow"]);

    const m = JSON.parse(tortie(["lab", "matrix", "-o", "json"]).stdout) as { disagreements: unknown[]; probes: number };
    expect(m.disagreements).toEqual([]);
    expect(m.probes).toBe(90); // 6 pods → 30 ordered pairs × TCP 80, 5432, 8080

    expect(tortie(["apply", "-f", join(examples, "lab", "allow-debug-to-backend.yaml")]).code).toBe(0);
    let after: Record<string, unknown> = {};
    for (let i = 0; i < 60 && after.verdict !== "allow"; i++) {
      after = await labRequest(data, name, { op: "probe", from: "default/debug", to: "api/backend-1", protocol: "TCP", port: 8080 });
      if (after.verdict !== "allow") await new Promise((r) => setTimeout(r, 250));
    }
    expect([after.verdict, after.explain], logs(data)).toEqual(["allow", "allow"]);

    const st = labState(data, name)!;
    expect(tortie(["lab", "down"]).stdout).toBe(`lab ${name} is down\n`);
    const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.startsWith(`${st.prefix}-`));
    expect(left).toEqual([]);
    expect(st.pids.filter(alive)).toEqual([]);
  });
});
