/**
 * Live traffic under policy churn, and conntrack behaviour.
 *
 * Conntrack (decision, docs/dataplane.md): like Calico, tortie accepts established and related
 * packets before any policy, so a policy change never cuts a connection that was allowed when it
 * started; it applies to new connections only.
 *
 * Churn: 1,000 policy and label changes are applied one by one (each an engine compile and one
 * delta transaction) while probes run without pause. Flows whose verdict no change touches are
 * counted: an allowed connection that fails, and a denied one that gets through, are both errors.
 * Flows whose verdict the churn does change are checked right after each apply against explain.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDataplane } from "../dataplane/index.js";
import { Cluster, tryExplain } from "../engine/index.js";
import { exec } from "../kernel/index.js";
import type { Resource } from "../model/index.js";
import { canUseNetns, Topology } from "../netns/index.js";
import { applyDefaults, validateResources } from "../validate/index.js";
import { Applier, NftKernel } from "./index.js";

const root = canUseNetns();
type R = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

const ns: R = { apiVersion: "v1", kind: "Namespace", metadata: { name: "app", labels: { name: "app" } } };
const pod = (name: string, ip4: string, ip6: string, labels: Record<string, string>): R => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "app", labels },
  spec: { nodeName: "node1", containers: [{ name: "c", image: "agnhost" }] },
  status: { podIPs: [{ ip: ip4 }, { ip: ip6 }] },
});
const POD_IPS: Record<string, [string, string]> = {
  client: ["198.18.1.10", "fd00:198:0:1::10"],
  server: ["198.18.1.11", "fd00:198:0:1::11"],
  other: ["198.18.1.12", "fd00:198:0:1::12"],
  intruder: ["198.18.1.13", "fd00:198:0:1::13"],
};

/** The policy no change touches: the server admits TCP 80 from role=client, and nothing else
 *  outside the churn ports. */
const stable: R = {
  apiVersion: "projectcalico.org/v3",
  kind: "NetworkPolicy",
  metadata: { name: "server-stable", namespace: "app" },
  spec: { selector: "app == 'server'", order: 10, types: ["Ingress"], ingress: [{ action: "Allow", protocol: "TCP", source: { selector: "role == 'client'" }, destination: { ports: [80] } }] },
};

function compile(resources: R[]): Cluster {
  const issues = validateResources(resources).filter((i) => i.severity === "error");
  if (issues.length > 0) throw new Error(issues.map((i) => i.message).join("; "));
  return Cluster.fromResources(resources.map((r) => applyDefaults(r as unknown as Resource)));
}

/** Deterministic pseudo-random numbers (the test must be reproducible). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe.skipIf(!root)("live traffic", () => {
  let topo: Topology;
  let applier: Applier;
  let nodeNs: string;
  const labels = { client: { role: "client" }, server: { app: "server" }, other: { role: "x" }, intruder: { role: "intruder" } };
  const pods = () => Object.entries(POD_IPS).map(([n, [a, b]]) => pod(n, a, b, { ...labels[n as keyof typeof labels] }));
  const program = async (resources: R[]) => {
    const cluster = compile(resources);
    await applier.apply(buildDataplane(cluster.ir, "node1", { config: { denyAction: "reject" } }));
    return cluster;
  };
  const t = (p: string, f: 4 | 6 = 4) => topo.target(`app/${p}`, f);

  beforeAll(async () => {
    topo = await Topology.create({ resources: pods() });
    await topo.serve({ tcp: [80, 81, 9000, 9001, 9002, 9003], udp: [] });
    nodeNs = topo.node("node1").netns;
    applier = new Applier(new NftKernel({ netns: nodeNs }), { retry: { maxAttempts: 3 } });
  }, 120_000);
  afterAll(async () => {
    await topo?.destroy();
  }, 60_000);

  it("established connections survive a policy that denies them; new ones are denied", async () => {
    await program([ns, ...pods()]); // no policy: the namespace profile allows everything
    await exec("conntrack", ["-F"], { netns: nodeNs }).catch(() => undefined);
    for (const f of [4, 6] as const) expect(await topo.hold(`est${f}`, t("client", f), t("server", f), 81)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const denyAll: R = { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "deny-all", namespace: "app" }, spec: { selector: "app == 'server'", types: ["Ingress"], ingress: [{ action: "Deny" }] } };
    await program([ns, ...pods(), denyAll]);
    const before = await topo.holdStats("est4", t("client"));
    await new Promise((r) => setTimeout(r, 400));
    for (const f of [4, 6] as const) {
      const after = await topo.holdStats(`est${f}`, t("client", f), true);
      expect(after.failed, `IPv${f} established connection`).toBe(0);
      expect(after.closed, `IPv${f} established connection`).toBeNull();
      expect(after.ok).toBeGreaterThan(f === 4 ? before.ok : 0);
      // New connections on the same port are denied.
      expect((await topo.probe({ from: t("client", f), to: t("server", f), protocol: 6, port: 81, family: f })).allowed, `new IPv${f} connection`).toBe(false);
    }
    // And allowed again once the policy goes.
    await program([ns, ...pods()]);
    expect((await topo.probe({ from: t("client"), to: t("server"), protocol: 6, port: 81, family: 4 })).allowed).toBe(true);
  }, 60_000);

  it("1,000 policy and label changes under live traffic: no allowed connection cut, no denied packet through", async () => {
    const random = rng(42);
    let resources: R[] = [ns, ...pods(), stable];
    let cluster = await program(resources);
    await exec("conntrack", ["-F"], { netns: nodeNs }).catch(() => undefined);

    // Long-lived connections that are allowed throughout (client → server:80 under `stable`).
    const holds = ["h4", "h6"] as const;
    expect(await topo.hold("h4", t("client"), t("server"), 80)).toBe(true);
    expect(await topo.hold("h6", t("client", 6), t("server", 6), 80)).toBe(true);

    // Probe loops on flows no change touches.
    const counts = { allowedOk: 0, allowedCut: 0, deniedOk: 0, deniedLeaked: 0 };
    const failures: string[] = [];
    let running = true;
    const loop = async (from: string, to: string, port: number, want: boolean, family: 4 | 6) => {
      while (running) {
        const r = await topo.probe({ from: t(from, family), to: t(to, family), protocol: 6, port, family, timeoutMs: 1000 });
        if (want) {
          if (r.allowed) counts.allowedOk++;
          else {
            counts.allowedCut++;
            failures.push(`${from}→${to}:${port} v${family} failed: ${r.outcome} ${r.detail ?? ""}`);
          }
        } else if (r.allowed) {
          counts.deniedLeaked++;
          failures.push(`${from}→${to}:${port} v${family} got through`);
        } else counts.deniedOk++;
      }
    };
    const loops = [
      loop("client", "server", 80, true, 4),
      loop("client", "server", 80, true, 6),
      loop("intruder", "server", 80, false, 4), // intruder is never role=client
      loop("intruder", "server", 81, false, 6), // port 81 is never opened by the churn
      loop("other", "server", 81, false, 4),
    ];

    // The churn: policies on ports 9000–9003 from random selectors, and label flips of `other`
    // and `intruder` between roles the churn policies name (never role=client).
    const roles = ["x", "y", "z"];
    let dynamicChecked = 0;
    const dynamicWrong: string[] = [];
    const applyMs: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const r = random();
      const churnPolicies = resources.filter((x) => x.metadata.name.startsWith("churn-"));
      if (r < 0.4 || churnPolicies.length === 0) {
        const port = 9000 + Math.floor(random() * 4);
        const role = roles[Math.floor(random() * roles.length)]!;
        const name = `churn-${i}`;
        resources = [
          ...resources,
          {
            apiVersion: "projectcalico.org/v3",
            kind: "NetworkPolicy",
            metadata: { name, namespace: "app" },
            spec: { selector: "app == 'server'", order: 100 + (i % 50), types: ["Ingress"], ingress: [{ action: random() < 0.8 ? "Allow" : "Deny", protocol: "TCP", source: { selector: `role == '${role}'` }, destination: { ports: [port] } }] },
          },
        ];
      } else if (r < 0.7) {
        const victim = churnPolicies[Math.floor(random() * churnPolicies.length)]!;
        resources = resources.filter((x) => x !== victim);
      } else {
        const who = random() < 0.5 ? "other" : "intruder";
        labels[who] = { role: roles[Math.floor(random() * roles.length)]! };
        resources = [...resources.filter((x) => x.kind !== "Pod"), ...pods()];
      }
      const t0 = Date.now();
      cluster = await program(resources);
      applyMs.push(Date.now() - t0);
      // A flow the churn decides, checked right after the change: new connections see the new policy.
      if (i % 10 === 9) {
        const from = random() < 0.5 ? "other" : "intruder";
        const port = 9000 + Math.floor(random() * 4);
        const ex = tryExplain(cluster, { from: `app/${from}`, to: "app/server", protocol: "TCP", port, family: 4 });
        if (!ex.ok) throw new Error(ex.issues.map((x) => x.message).join("; "));
        const k = await topo.probe({ from: t(from), to: t("server"), protocol: 6, port, family: 4, timeoutMs: 1000 });
        dynamicChecked++;
        if (k.allowed !== (ex.value.verdict === "allow")) dynamicWrong.push(`change ${i}: ${from}→server:${port} kernel ${k.allowed ? "allow" : "deny"}, explain ${ex.value.verdict}`);
      }
    }
    running = false;
    await Promise.all(loops);
    const held = await Promise.all(holds.map((h) => topo.holdStats(h, t("client", h === "h6" ? 6 : 4), true)));
    applyMs.sort((a, b) => a - b);
    console.log(
      `churn: ${applyMs.length} changes, apply p50 ${applyMs[applyMs.length >> 1]} ms, p99 ${applyMs[Math.floor(applyMs.length * 0.99)]} ms; ` +
        `probes: ${counts.allowedOk} allowed ok, ${counts.allowedCut} allowed cut, ${counts.deniedOk} denied ok, ${counts.deniedLeaked} denied leaked; ` +
        `held: ${held.map((h) => `${h.ok} echoes, ${h.failed} failed, max gap ${h.maxGapMs} ms`).join("; ")}; dynamic checks ${dynamicChecked}`,
    );
    expect(failures).toEqual([]);
    expect(counts.allowedCut).toBe(0);
    expect(counts.deniedLeaked).toBe(0);
    expect(counts.allowedOk).toBeGreaterThan(100);
    expect(counts.deniedOk).toBeGreaterThan(100);
    for (const h of held) {
      expect(h.failed).toBe(0);
      expect(h.closed).toBeNull();
    }
    expect(dynamicWrong).toEqual([]);
  }, 600_000);
});
