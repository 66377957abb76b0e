/**
 * The agent's loop in-process: a real embedded (LMDB) or etcd datastore, the fake kernel (same
 * atomicity as nft, with fault injection). Checks that the kernel always converges to the
 * from-scratch model, that failures and outages leave the kernel as it was (fail-static), and the
 * health / metrics endpoints.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { FakeKernel, nftBackend } from "../apply/index.js";
import { kernelView } from "../dataplane/index.js";
import { etcdAvailable, openStore, startEtcd, type Store } from "../datastore/index.js";
import type { Resource } from "../model/index.js";
import { nft } from "../render/index.js";
import type { NflogRecord } from "../flowlog/index.js";
import { Agent, FlowLogWriter, modelFromScratch, podInterfaceName, readFlowLog, startHealthServer } from "./index.js";

const NODE = "node1";
const silent = pino({ level: "silent" });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tortie-agent-test-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const pod = (name: string, ip: string, labels: Record<string, string>, node = NODE): Resource =>
  ({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace: "default", labels }, spec: { nodeName: node, containers: [{ name: "c" }] }, status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } }) as Resource;
const allowFrom = (sel: string): Resource =>
  ({ apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "web", namespace: "default" }, spec: { selector: "role == 'web'", ingress: [{ action: "Allow", source: { selector: sel } }] } }) as Resource;

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Differences between the fake kernel's table and the model computed from scratch from the store. */
async function kernelVsStore(kernel: FakeKernel, store: Store): Promise<string[]> {
  const want = modelFromScratch((await store.snapshot()).items, NODE);
  const listing = kernel.listTable("inet", "tortie");
  if (!listing) return ["no table"];
  return nft.diffDigest(nft.expectedDigest(kernelView(want, nftBackend().kernelView)), nft.parseListing(listing)!);
}

function newAgent(kernel: FakeKernel, open: () => Promise<Store>, extra: Partial<ConstructorParameters<typeof Agent>[0]> = {}): Agent {
  const agent = new Agent({ node: NODE, openStore: open, kernel, logger: silent, driftCheckIntervalMs: 0, applyRetryMs: 20, ...extra });
  cleanups.push(() => agent.stop());
  return agent;
}

describe("Agent on the embedded store and the fake kernel", () => {
  it("programs the first snapshot, then follows changes with deltas; the kernel always equals the from-scratch model", async () => {
    const dir = tempDir();
    const writer = await openStore({ type: "embedded", dataDir: dir });
    cleanups.push(() => writer.close());
    await writer.apply(pod("a", "198.18.1.10", { role: "web" }));
    await writer.apply(pod("b", "198.18.1.11", { role: "client" }));
    await writer.apply(allowFrom("role == 'client'"));

    const kernel = new FakeKernel();
    const agent = newAgent(kernel, () => openStore({ type: "embedded", dataDir: dir }));
    expect(agent.ready).toBe(false);
    await agent.start();
    await agent.whenReady();
    expect(await kernelVsStore(kernel, writer)).toEqual([]);
    expect(kernel.batches).toHaveLength(1);
    // Idle: the agent makes the sets' patching indexes in the background (nothing left to do).
    await until(() => agent.dataplane.unpreparedSets === 0, "patching indexes prepared while idle");

    // A remote pod joining the client selector: one element added, nothing else.
    await writer.apply(pod("r", "198.18.2.10", { role: "client" }, "node2"));
    await until(async () => (await kernelVsStore(kernel, writer)).length === 0, "remote client programmed");
    const last = JSON.stringify(kernel.batches[kernel.batches.length - 1]);
    expect(last).toContain("198.18.2.10");
    expect(last).not.toContain('"chain"');

    // A remote pod outside every local selector: no kernel batch at all.
    const n = kernel.batches.length;
    await writer.apply(pod("z", "198.18.2.20", { role: "nobody" }, "node2"));
    await until(() => agent.status().datastore.revision >= 5, "change received");
    await agent.settled();
    expect(kernel.batches).toHaveLength(n);

    await writer.delete("NetworkPolicy", "default", "web");
    await until(async () => (await kernelVsStore(kernel, writer)).length === 0, "policy removal programmed");

    const metrics = await agent.metrics.text();
    expect(metrics).toMatch(/tortie_agent_change_to_programmed_seconds_count\{node="node1"\} [1-9]/);
    expect(metrics).toMatch(/tortie_agent_endpoints\{kind="workload",node="node1"\} 2/);
    expect(metrics).toMatch(/tortie_agent_applies_total\{mode="full",node="node1"\} 1/);
  });

  it("recomputes from a resync snapshot when it fell behind the store's history, and converges", async () => {
    const dir = tempDir();
    // The writer keeps a 2-entry change log, so a watcher that misses a burst must resync.
    const writer = await openStore({ type: "embedded", dataDir: dir }, { historyLimit: 2 });
    cleanups.push(() => writer.close());
    await writer.apply(pod("a", "198.18.1.10", { role: "web" }));
    await writer.apply(allowFrom("role == 'client'"));
    const kernel = new FakeKernel();
    // The agent looks for changes only every 500 ms, so the burst below outruns the change log.
    const agent = newAgent(kernel, () => openStore({ type: "embedded", dataDir: dir }), { watchOptions: { pollIntervalMs: 500 } });
    await agent.start();
    await agent.whenReady();
    for (let i = 0; i < 10; i++) await writer.apply(pod(`c${i}`, `198.18.2.${10 + i}`, { role: i % 2 ? "client" : "other" }, "node2"));
    await writer.delete("Pod", "default", "c3");
    await until(async () => (await kernelVsStore(kernel, writer)).length === 0 && (await agent.metrics.datastoreSnapshots.get()).values.some((v) => v.labels.reason === "resync"), "resync and convergence");
    const last = JSON.stringify(kernel.batches[kernel.batches.length - 1]);
    expect(last).not.toMatch(/"delete":\{"table"/); // a delta, not a full replace
  });

  it("keeps the kernel as it is when programming fails, and converges once the kernel accepts batches again", async () => {
    const dir = tempDir();
    const writer = await openStore({ type: "embedded", dataDir: dir });
    cleanups.push(() => writer.close());
    await writer.apply(pod("a", "198.18.1.10", { role: "web" }));
    await writer.apply(allowFrom("role == 'client'"));
    const kernel = new FakeKernel();
    const agent = newAgent(kernel, () => openStore({ type: "embedded", dataDir: dir }), { applyRetryMs: 50 });
    await agent.start();
    await agent.whenReady();
    const before = kernel.dump();

    kernel.failApplyWhen(() => "FAILED");
    await writer.apply(pod("b", "198.18.1.11", { role: "client" }));
    await until(async () => (await agent.metrics.applyErrors.get()).values[0]!.value >= 1, "an apply error");
    expect(kernel.dump()).toBe(before);
    expect(agent.ready).toBe(true);
    expect(agent.status().lastError).toMatch(/failed/);

    kernel.failApplyWhen(undefined);
    await until(async () => (await kernelVsStore(kernel, writer)).length === 0, "convergence after the kernel recovers");
  });

  it("retries opening the datastore with backoff and never touches the kernel before the first snapshot", async () => {
    const dir = tempDir();
    const kernel = new FakeKernel();
    let attempts = 0;
    const agent = newAgent(
      kernel,
      async () => {
        if (++attempts < 4) throw new Error("datastore not there yet");
        return openStore({ type: "embedded", dataDir: dir });
      },
      { openBackoff: { initialMs: 5, maxMs: 20 } },
    );
    void agent.start();
    await until(() => attempts >= 2, "second attempt");
    expect(kernel.batches).toHaveLength(0);
    expect(agent.status().datastore.error).toMatch(/not there yet/);
    await agent.whenReady();
    expect(attempts).toBe(4);
    expect(kernel.listTable("inet", "tortie")).not.toBeNull();
  });

  it("stop() leaves the kernel programmed; cleanup() removes it", async () => {
    const dir = tempDir();
    const writer = await openStore({ type: "embedded", dataDir: dir });
    cleanups.push(() => writer.close());
    await writer.apply(pod("a", "198.18.1.10", { role: "web" }));
    const kernel = new FakeKernel();
    const agent = newAgent(kernel, () => openStore({ type: "embedded", dataDir: dir }));
    await agent.start();
    await agent.whenReady();
    await agent.stop();
    expect(kernel.listTable("inet", "tortie")).not.toBeNull();
    expect(await agent.cleanup()).toBe(true);
    expect(kernel.listTable("inet", "tortie")).toBeNull();
  });

  it("serves /healthz, /readyz (503 until ready), /metrics and /status", async () => {
    const dir = tempDir();
    const kernel = new FakeKernel();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const agent = newAgent(kernel, async () => {
      await gate;
      return openStore({ type: "embedded", dataDir: dir });
    });
    const srv = await startHealthServer(agent, { host: "127.0.0.1", port: 0 });
    cleanups.push(() => srv.close());
    const base = `http://127.0.0.1:${srv.address.port}`;
    void agent.start();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    release();
    await agent.whenReady();
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toContain("tortie_agent_ready");
    expect(m).toContain("tortie_agent_apply_errors_total");
    expect(((await (await fetch(`${base}/status`)).json()) as { ready: boolean }).ready).toBe(true);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

describe("Agent flow log", () => {
  it("names logged packets after the rule behind their NFLOG prefix, writes them and counts them per policy", async () => {
    const dir = tempDir();
    const writer = await openStore({ type: "embedded", dataDir: dir });
    cleanups.push(() => writer.close());
    await writer.apply(pod("a", "198.18.1.10", { role: "web" }));
    await writer.apply({
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkPolicy",
      metadata: { name: "deny-ssh", namespace: "default" },
      spec: { selector: "role == 'web'", order: 10, ingress: [{ action: "Deny", protocol: "TCP", destination: { ports: [22] } }, { action: "Allow" }] },
    } as Resource);
    let deliver: ((p: NflogRecord) => void) | undefined;
    let stopped = false;
    const source = {
      start: async (on: (p: NflogRecord) => void) => void (deliver = on),
      stop: async () => void (stopped = true),
    };
    const logFile = join(dir, "flows-node1.log");
    const agent = newAgent(new FakeKernel(), () => openStore({ type: "embedded", dataDir: dir }), {
      dataplane: { logDenied: true },
      flowSource: source,
      flowLog: new FlowLogWriter(logFile),
    });
    await agent.start();
    await agent.whenReady();
    const prefixes = Object.entries(agent.desiredModel!.logIndex);
    const [denyPrefix] = prefixes.find(([, e]) => e.kind === "rule" && e.action === "Deny")!;
    expect(denyPrefix).toBe("DPI0|np/default/deny-ssh");
    const iface = podInterfaceName("default", "a");
    const base = { time: "1970-01-01T00:00:00.000Z", family: 4 as const, src: "198.18.2.1", dst: "198.18.1.10", inIface: "eth0", outIface: iface };
    deliver!({ ...base, prefix: denyPrefix, protocol: 6, srcPort: 40000, dstPort: 22 });
    deliver!({ ...base, prefix: "DRI", protocol: 17 });
    deliver!({ ...base, prefix: "something else", protocol: 1, icmpType: 8, icmpCode: 0 });
    await agent.stop();
    expect(stopped).toBe(true);
    const ep = "wep/default/node1-k8s-a-eth0";
    expect(readFlowLog(logFile)).toEqual([
      { node: NODE, time: base.time, endpoint: ep, direction: "ingress", tier: "default", policy: "np/default/deny-ssh", rule: 0, verdict: "deny", family: 4, protocol: 6, src: base.src, dst: base.dst, srcPort: 40000, dstPort: 22, prefix: denyPrefix },
      { node: NODE, time: base.time, endpoint: ep, direction: "ingress", tier: "", policy: "", rule: -1, verdict: "deny", family: 4, protocol: 17, src: base.src, dst: base.dst, prefix: "DRI" },
      { node: NODE, time: base.time, endpoint: "", direction: "", tier: "", policy: "", rule: -1, verdict: "log", family: 4, protocol: 1, src: base.src, dst: base.dst, icmpType: 8, icmpCode: 0, prefix: "something else" },
    ]);
    const m = await agent.metrics.text();
    expect(m).toContain('tortie_agent_flow_log_packets_total{policy="np/default/deny-ssh",action="deny",direction="ingress",node="node1"} 1');
    expect(m).toContain('tortie_agent_flow_log_packets_total{policy="(no profile)",action="deny",direction="ingress",node="node1"} 1');
  });
});

describe.skipIf(!etcdAvailable())("Agent on etcd", () => {
  it("keeps enforcing while etcd is down, then catches up from the last revision", async () => {
    const cluster = await startEtcd();
    cleanups.push(() => cluster.stop());
    const cfg = { type: "etcdv3" as const, endpoints: cluster.endpoints };
    const writer = await openStore(cfg);
    cleanups.push(() => writer.close());
    await writer.apply(pod("a", "198.18.1.10", { role: "web" }));
    await writer.apply(allowFrom("role == 'client'"));
    const kernel = new FakeKernel();
    const agent = newAgent(kernel, () => openStore(cfg));
    await agent.start();
    await agent.whenReady();
    const programmed = kernel.dump();

    await cluster.kill(0);
    // The etcd client may notice the outage only at its next request; what matters is that the
    // kernel is left alone meanwhile.
    await new Promise((r) => setTimeout(r, 1500));
    expect(kernel.dump()).toBe(programmed);
    expect(agent.ready).toBe(true);

    await cluster.restart(0);
    await writer.apply(pod("b", "198.18.1.11", { role: "client" }));
    await until(async () => (await kernelVsStore(kernel, writer)).length === 0, "catch-up after etcd is back", 30_000);
    expect(agent.status().datastore.connected).toBe(true);
    const snaps = await agent.metrics.datastoreSnapshots.get();
    // Caught up by resuming the watch after its last revision, not by a new snapshot.
    expect(snaps.values.find((v) => v.labels.reason === "initial")?.value).toBe(1);
    expect(snaps.values.find((v) => v.labels.reason === "resync")?.value ?? 0).toBe(0);
  }, 90_000);
});
