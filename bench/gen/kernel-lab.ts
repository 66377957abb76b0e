/**
 * The two-pod lab for kernel benches: one node namespace with pod-a (client) and pod-b (server),
 * built by src/netns Topology in fresh uniquely named namespaces; traffic never leaves them.
 *
 * Peers named in the policies are pods on another node ("remote") that exist only in the
 * datastore (addresses 198.18.16.0 + i, never configured on an interface), so every rule is a real
 * selector over real pods for the engine, and a distinct address for the kernel.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Resource } from "../../src/model/index.js";
import { exec, nftApplyText } from "../../src/kernel/index.js";
import { Topology } from "../../src/netns/index.js";

export const NS = "bench";
export const NODE = "bn";
export const A_IP = "198.18.1.10";
export const B_IP = "198.18.1.11";
export const SOCKPERF_PORT = 11111;
export const IPERF_PORT = 5201;

export function peerIP(i: number): string {
  const n = (198 << 24) + (18 << 16) + 16 * 256 + i;
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
export const peerPort = (i: number) => 20000 + (i % 40000);

const pod = (name: string, node: string, ip: string, labels: Record<string, string>): Resource =>
  ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, labels },
    spec: { nodeName: node, containers: [{ name: "c" }] },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  }) as unknown as Resource;

export function labPods(): Resource[] {
  return [pod("pod-a", NODE, A_IP, { app: "client" }), pod("pod-b", NODE, B_IP, { app: "server" })];
}

/**
 * The cluster whose policies select pod-b with `n` peer rules before the real allow:
 *  shape "rules": one policy with n rules (peer i on its port) + the allow rule;
 *  shape "policies": n policies of one rule each (ordered), then one policy with the allow rule.
 */
export function labCluster(n: number, shape: "rules" | "policies"): Resource[] {
  const out: Resource[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } } as unknown as Resource, ...labPods()];
  for (let i = 0; i < n; i++) out.push(pod(`peer-${i}`, "remote", peerIP(i), { peer: `p${i}` }));
  const peerRule = (i: number) => ({ action: "Allow", protocol: "TCP", source: { selector: `peer == 'p${i}'` }, destination: { ports: [peerPort(i)] } });
  const allow = { action: "Allow", protocol: "TCP", source: { selector: "app == 'client'" }, destination: { ports: [SOCKPERF_PORT, IPERF_PORT] } };
  const policy = (name: string, order: number, ingress: unknown[]) =>
    ({
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkPolicy",
      metadata: { name, namespace: NS },
      spec: { order, selector: "app == 'server'", types: ["Ingress"], ingress },
    }) as unknown as Resource;
  if (shape === "rules") out.push(policy("server", 100, [...Array.from({ length: n }, (_, i) => peerRule(i)), allow]));
  else {
    for (let i = 0; i < n; i++) out.push(policy(`peer-${i}`, i, [peerRule(i)]));
    out.push(policy("server", n + 1, [allow]));
  }
  return out;
}

/** What a naive / Calico-iptables-style renderer emits: pod-b's ingress chain with one rule per
 *  (peer, port), walked linearly, then the real allow and a drop. */
export function linearNft(n: number, iface: string, table: string): string {
  const lines = [`table inet ${table} {`, "  chain to-b {"];
  for (let i = 0; i < n; i++) lines.push(`    ip saddr ${peerIP(i)} ip daddr ${B_IP} tcp dport ${peerPort(i)} accept`);
  lines.push(`    ip saddr ${A_IP} ip daddr ${B_IP} tcp dport { ${SOCKPERF_PORT}, ${IPERF_PORT} } accept`, "    drop", "  }");
  lines.push("  chain forward {", "    type filter hook forward priority filter; policy accept;", `    oifname "${iface}" jump to-b`, "  }", "}");
  return lines.join("\n") + "\n";
}

export interface Lab {
  topo: Topology;
  nodeNs: string;
  aNs: string;
  bNs: string;
  bIface: string;
  stop(): Promise<void>;
}

/** Builds the lab, disables conntrack for lab traffic (see kernel.bench.ts), starts servers. */
export async function startLab(opts: { notrack: boolean }): Promise<Lab> {
  const topo = await Topology.create({ resources: labPods(), prefix: undefined });
  const procs: ChildProcess[] = [];
  try {
    const nodeNs = topo.node(NODE).netns;
    const a = topo.pod(`${NS}/pod-a`);
    const b = topo.pod(`${NS}/pod-b`);
    if (opts.notrack) {
      const t = [
        "table inet tortie-bench-raw {",
        "  chain pre { type filter hook prerouting priority raw; policy accept;",
        `    ip saddr { ${A_IP}, ${B_IP} } ip daddr { ${A_IP}, ${B_IP} } notrack`,
        "  }",
        "}",
      ].join("\n");
      await nftApplyText(t + "\n", { netns: nodeNs });
    }
    const server = (args: string[]) => {
      const p = spawn("ip", ["netns", "exec", b.netns, ...args], { stdio: "ignore" });
      procs.push(p);
    };
    server(["sockperf", "server", "--tcp", "-i", B_IP, "-p", String(SOCKPERF_PORT)]);
    server(["iperf3", "-s", "-B", B_IP, "-p", String(IPERF_PORT)]);
    await new Promise((r) => setTimeout(r, 500));
    const stop = async () => {
      for (const p of procs) if (p.pid && p.exitCode === null) p.kill("SIGKILL");
      await topo.destroy();
    };
    return { topo, nodeNs, aNs: a.netns, bNs: b.netns, bIface: b.iface, stop };
  } catch (e) {
    for (const p of procs) if (p.pid && p.exitCode === null) p.kill("SIGKILL");
    await topo.destroy();
    throw e;
  }
}

export interface Latency {
  p50: number;
  avg: number;
  p99: number;
}

/** sockperf ping-pong over TCP from pod-a; microseconds (sockperf reports RTT/2). */
export async function sockperf(lab: Lab, seconds: number): Promise<Latency> {
  return retry(() => sockperfOnce(lab, seconds));
}

/** sockperf and iperf3 clients now and then die of a signal (exit without status) right at the
 *  start, e.g. when the server is still closing the previous test's connection: retry twice. */
async function retry<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= 2) throw e;
      await new Promise((r) => setTimeout(r, 500 * (i + 1)));
    }
  }
}

async function sockperfOnce(lab: Lab, seconds: number): Promise<Latency> {
  const r = await exec("sockperf", ["ping-pong", "--tcp", "-i", B_IP, "-p", String(SOCKPERF_PORT), "-t", String(seconds)], { netns: lab.aNs, timeoutMs: (seconds + 30) * 1000 });
  const text = r.stdout + r.stderr;
  const num = (re: RegExp) => {
    const m = re.exec(text);
    if (!m) throw new Error(`sockperf output not understood: ${text.slice(-800)}`);
    return Number(m[1]);
  };
  return { avg: num(/avg-latency=([\d.]+)/), p50: num(/percentile 50\.000 =\s*([\d.]+)/), p99: num(/percentile 99\.000 =\s*([\d.]+)/) };
}

/** iperf3 TCP throughput from pod-a, Gbit/s (receiver side). */
export async function iperf(lab: Lab, seconds: number): Promise<number> {
  return retry(() => iperfOnce(lab, seconds));
}

async function iperfOnce(lab: Lab, seconds: number): Promise<number> {
  const r = await exec("iperf3", ["-c", B_IP, "-p", String(IPERF_PORT), "-t", String(seconds), "-O", "1", "-J"], { netns: lab.aNs, timeoutMs: (seconds + 30) * 1000 });
  const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
  const bps = j.end?.sum_received?.bits_per_second;
  if (typeof bps !== "number") throw new Error(`iperf3 output not understood: ${r.stdout.slice(-500)}`);
  return bps / 1e9;
}
