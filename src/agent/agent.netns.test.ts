/**
 * End to end on the real kernel: a node namespace with two pod namespaces wired the way Calico's
 * CNI does it (host veth "cali" + sha1("<ns>.<pod>")[:11], proxy ARP, /32 routes), the agent run
 * as `tortie agent` inside the node namespace against a temporary embedded datastore, policies
 * written through the store. Checks the kernel table against the from-scratch model and real TCP
 * probes; SIGKILL leaves the rules enforced (fail-static); a restart resyncs to a changed store
 * without breaking an established connection; SIGTERM exits cleanly; --cleanup removes the table.
 *
 * Only namespaces and addresses this test creates are touched; only our own children are killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../datastore/index.js";
import { makeDataplane, type DataplaneKind } from "../apply/index.js";
import { kernelView } from "../dataplane/index.js";
import { exec } from "../kernel/index.js";
import type { Resource } from "../model/index.js";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../netns/index.js";
import { modelFromScratch, podInterfaceName, readFlowLog } from "./index.js";

const NODE = "node1";
const REPO = resolve(import.meta.dirname, "../..");
const CLI = join(REPO, "src/cli/main.ts");
const A_IP = "198.18.1.10";
const B_IP = "198.18.1.11";

const haveTools = async () => {
  try {
    await exec("nft", ["--version"]);
    await exec("socat", ["-V"]);
    return true;
  } catch {
    return false;
  }
};
const enabled = canUseNetns() && (await haveTools());

const pod = (name: string, ip: string, labels: Record<string, string>): Resource =>
  ({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace: "default", labels }, spec: { nodeName: NODE, containers: [{ name: "c" }] }, status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } }) as Resource;
const policy = (ports: number[]): Resource =>
  ({
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkPolicy",
    metadata: { name: "web", namespace: "default" },
    spec: { selector: "role == 'web'", ingress: [{ action: "Allow", protocol: "TCP", source: { selector: "role == 'client'" }, destination: { ports } }] },
  }) as Resource;

/** The environment without datastore settings, so that only our flags choose the store. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(TORTIE_|DATASTORE_TYPE$|ETCD_|NODENAME$)/.test(k)) delete env[k];
  return env;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!enabled).each(["nftables", "iptables"] as DataplaneKind[])("tortie agent --dataplane %s in a node namespace (real kernel)", (dataplane) => {
  const nodeNs = uniqueName("tan");
  const podNs = { a: uniqueName("taa"), b: uniqueName("tab") };
  let dataDir: string;
  let store: Store;
  const children = new Set<ChildProcess>();

  async function wirePod(ns: string, name: string, ip: string): Promise<void> {
    const iface = podInterfaceName("default", name);
    await exec("ip", ["-n", nodeNs, "link", "add", iface, "address", "ee:ee:ee:ee:ee:ee", "type", "veth", "peer", "name", "eth0", "netns", ns]);
    await exec("ip", ["-n", ns, "addr", "add", `${ip}/32`, "dev", "eth0"]);
    await exec("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    await exec("ip", ["-n", ns, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link"]);
    await exec("ip", ["-n", ns, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"]);
    for (const s of [`net.ipv4.conf.${iface}.proxy_arp=1`, `net.ipv4.neigh.${iface}.proxy_delay=0`, `net.ipv4.conf.${iface}.forwarding=1`]) {
      await exec("sysctl", ["-qw", s], { netns: nodeNs });
    }
    await exec("ip", ["-n", nodeNs, "link", "set", iface, "up"]);
    await exec("ip", ["-n", nodeNs, "route", "add", `${ip}/32`, "dev", iface, "scope", "link"]);
  }

  beforeAll(async () => {
    for (const ns of [nodeNs, podNs.a, podNs.b]) await createNamespace(ns);
    await exec("sysctl", ["-qw", "net.ipv4.ip_forward=1"], { netns: nodeNs });
    // Proxy ARP answers only with a unicast route to 169.254.1.1: give the node a default route
    // into a sink device (NETNS.md §7; no dummy driver on this kernel).
    await exec("ip", ["-n", nodeNs, "link", "add", "uplink0", "type", "ifb"]);
    await exec("ip", ["-n", nodeNs, "link", "set", "uplink0", "up"]);
    await exec("ip", ["-n", nodeNs, "route", "add", "default", "dev", "uplink0"]);
    await wirePod(podNs.a, "pod-a", A_IP);
    await wirePod(podNs.b, "pod-b", B_IP);
    // Echo servers in pod b on 8080 and 9090.
    for (const port of [8080, 9090]) {
      const c = spawn("ip", ["netns", "exec", podNs.b, "socat", `TCP-LISTEN:${port},fork,reuseaddr`, "EXEC:cat"], { stdio: "ignore" });
      children.add(c);
    }
    dataDir = mkdtempSync(join(tmpdir(), "tortie-agent-e2e-"));
    store = await openStore({ type: "embedded", dataDir });
    await store.apply(pod("pod-a", A_IP, { role: "client" }));
    await store.apply(pod("pod-b", B_IP, { role: "web" }));
    await store.apply(policy([8080]));
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await store?.close();
    for (const ns of [podNs.a, podNs.b, nodeNs]) await deleteNamespace(ns);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  function startAgent(extra: string[] = []): ChildProcess {
    // `ip netns exec` execs the command, so the child's PID is the agent's own.
    const c = spawn(
      "ip",
      ["netns", "exec", nodeNs, process.execPath, "--import", "tsx", CLI, "agent", "--node", NODE, "--data-dir", dataDir, "--deny-action", "reject", "--drift-check-interval", "0", "--log-level", "info", "--dataplane", dataplane, "--log-denied", "--flow-log", join(dataDir, "flows.log"), ...extra],
      { cwd: REPO, stdio: ["ignore", "pipe", "pipe"], env: cleanEnv() },
    );
    children.add(c);
    let out = "";
    c.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    c.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    (c as ChildProcess & { output: () => string }).output = () => out;
    return c;
  }

  /** GET on the agent's loopback listener, from inside the node namespace (Node's fetch: no curl
   *  needed on the machine). */
  async function httpGet(path: string): Promise<{ code: number; body: string }> {
    const script = `fetch("http://127.0.0.1:9099${path}", { signal: AbortSignal.timeout(1000) }).then(async (r) => console.log(JSON.stringify({ code: r.status, body: await r.text() }))).catch(() => console.log(JSON.stringify({ code: 0, body: "" })))`;
    const r = await exec(process.execPath, ["-e", script], { netns: nodeNs });
    return JSON.parse(r.stdout) as { code: number; body: string };
  }

  async function httpCode(path: string): Promise<number> {
    return (await httpGet(path)).code;
  }

  async function waitReady(c: ChildProcess): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (c.exitCode !== null) throw new Error(`agent exited early:\n${(c as ChildProcess & { output: () => string }).output()}`);
      if ((await httpCode("/readyz")) === 200) return;
      await sleep(100);
    }
    throw new Error(`agent not ready:\n${(c as ChildProcess & { output: () => string }).output()}`);
  }

  /** What the backend's own drift check reports: kernel vs the model computed from scratch. */
  async function kernelDiff(): Promise<string[]> {
    const want = modelFromScratch((await store.snapshot()).items, NODE, { config: { denyAction: "reject", logDenied: true } });
    const { kernel, backend } = makeDataplane({ kind: dataplane, netns: nodeNs });
    return backend.compare(backend.expected(kernelView(want, backend.kernelView)), backend.parse(await kernel.list()));
  }

  async function nothingOfOurs(): Promise<boolean> {
    const { kernel, backend } = makeDataplane({ kind: dataplane, netns: nodeNs });
    return backend.parse(await kernel.list()) === null;
  }

  async function until(cond: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  /** TCP connect from pod a to pod b: true = connected, false = refused/reset (reject). */
  async function canConnect(port: number): Promise<boolean> {
    const r = await exec("nc", ["-z", "-w", "1", B_IP, String(port)], { netns: podNs.a, okCodes: [0, 1] });
    return r.code === 0;
  }

  /** A long-lived connection a → b:8080 echoing a line every 20 ms for `ms`; resolves with counts. */
  function holdConnection(ms: number): Promise<{ sent: number; received: number; maxGapMs: number; error?: string }> {
    const script = `
      const net = require("node:net");
      const s = net.connect(8080, ${JSON.stringify(B_IP)});
      let sent = 0, received = 0, last = Date.now(), maxGap = 0, err;
      s.on("data", (d) => { const n = d.toString().split("\\n").length - 1; received += n; const now = Date.now(); maxGap = Math.max(maxGap, now - last); last = now; });
      s.on("error", (e) => { err = e.code || e.message; });
      s.on("connect", () => {
        const t = setInterval(() => { s.write("x\\n"); sent++; }, 20);
        setTimeout(() => { clearInterval(t); setTimeout(() => { console.log(JSON.stringify({ sent, received, maxGapMs: maxGap, error: err })); s.destroy(); process.exit(0); }, 300); }, ${ms});
      });`;
    const c = spawn("ip", ["netns", "exec", podNs.a, process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    children.add(c);
    let out = "";
    c.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    return new Promise((resolvePromise, reject) => {
      c.on("exit", () => {
        try {
          resolvePromise(JSON.parse(out.trim().split("\n").pop()!));
        } catch (e) {
          reject(new Error(`hold client printed ${JSON.stringify(out)}: ${(e as Error).message}`));
        }
      });
    });
  }

  it("programs the node, survives SIGKILL, resyncs on restart without cutting flows, stops cleanly, cleans up", async () => {
    // No rules yet: everything flows.
    expect(await canConnect(9090)).toBe(true);

    const agent1 = startAgent();
    await waitReady(agent1);
    expect(await httpCode("/healthz")).toBe(200);
    expect(await kernelDiff()).toEqual([]);
    expect(await canConnect(8080)).toBe(true);
    expect(await canConnect(9090)).toBe(false);

    // The denied connection is in the flow log, named after the tier that denied it and pod b.
    const flows = join(dataDir, "flows.log");
    await until(async () => readFlowLog(flows).some((r) => r.dstPort === 9090), "a flow-log record of the denied probe");
    expect(readFlowLog(flows).find((r) => r.dstPort === 9090)).toMatchObject({
      node: NODE,
      verdict: "deny",
      direction: "ingress",
      tier: "default",
      endpoint: "wep/default/node1-k8s-pod--b-eth0",
      src: A_IP,
      dst: B_IP,
      protocol: 6,
    });
    const logs = await exec(process.execPath, ["--import", "tsx", CLI, "logs", "--file", flows]);
    expect(logs.stdout).toMatch(/deny\s+ingress\s+wep\/default\/node1-k8s-pod--b-eth0\s+end of tier default\s+tcp\s+198\.18\.1\.10:\d+ -> 198\.18\.1\.11:9090/);

    // A change through the store reaches the kernel.
    await store.apply(pod("pod-a", A_IP, { role: "stranger" }));
    await until(async () => (await kernelDiff()).length === 0 && !(await canConnect(8080)), "pod-a dropped from the client set");
    await store.apply(pod("pod-a", A_IP, { role: "client" }));
    await until(async () => (await kernelDiff()).length === 0 && (await canConnect(8080)), "pod-a back in the client set");

    // Metrics are served from inside the namespace.
    const metrics = await httpGet("/metrics");
    expect(metrics.body).toMatch(/tortie_agent_change_to_programmed_seconds_count\{node="node1"\} [1-9]/);
    expect(metrics.body).toMatch(/tortie_agent_kernel_netlink_batches\{node="node1"\} \d+/);

    // An established connection carries on through SIGKILL, a store change, restart and resync.
    const held = holdConnection(5000);
    await sleep(500);
    agent1.kill("SIGKILL");
    await new Promise((r) => agent1.once("exit", r));
    expect(await kernelDiff()).toEqual([]); // fail-static: the rules are still there
    expect(await canConnect(9090)).toBe(false);

    await store.apply(policy([8080, 9090])); // changed while no agent runs
    const agent2 = startAgent();
    await waitReady(agent2);
    await until(async () => (await kernelDiff()).length === 0, "resync to the changed store");
    expect(await canConnect(9090)).toBe(true);
    const stats = await held;
    expect(stats.error).toBeUndefined();
    expect(stats.sent).toBeGreaterThan(100);
    expect(stats.received).toBe(stats.sent);

    // SIGTERM: clean exit, rules stay.
    agent2.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => agent2.once("exit", (c) => r(c)));
    expect(code).toBe(0);
    expect(await kernelDiff()).toEqual([]);

    // --cleanup removes tortie's table / chains and sets: nothing is filtered any more.
    const cleanup = await exec(process.execPath, ["--import", "tsx", CLI, "agent", "--cleanup", "--node", NODE, "--log-level", "warn"], { netns: nodeNs });
    expect(cleanup.code).toBe(0);
    expect(await nothingOfOurs()).toBe(true);
    await store.apply(policy([8080])); // would deny 9090 again, but no agent programs it
    expect(await canConnect(9090)).toBe(true);
  }, 120_000);
});
