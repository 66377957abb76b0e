/**
 * Flow logs from real packets: Log rules and (with logDenied) denies write NFLOG records in the
 * node namespace, ulogd reads them, and the lines name the endpoint, direction, tier, policy, rule,
 * 5-tuple and verdict. Plus table tests of the parsing with no kernel involved.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Applier, NftKernel } from "../apply/index.js";
import { buildDataplane, flowLogResolver, type DataplaneModel } from "../dataplane/index.js";
import { Cluster } from "../engine/index.js";
import type { Resource } from "../model/index.js";
import { canUseNetns, Topology } from "../netns/index.js";
import { applyDefaults } from "../validate/index.js";
import { parseUlogdJson, toFlowLogLine, UlogdReader, type FlowLogLine, type NflogRecord } from "./index.js";
import { existsSync } from "node:fs";

describe("parsing", () => {
  it("reads ulogd's JSON for TCP over IPv4 and ICMPv6", () => {
    expect(
      parseUlogdJson({ "oob.prefix": "DPI|default", "oob.in": "calia", "oob.out": "calib", src_ip: "198.18.1.10", dest_ip: "198.18.1.12", "ip.protocol": 6, src_port: 40000, dest_port: 8080, "oob.family": 2, "oob.time.sec": 1, "oob.time.usec": 5000 }),
    ).toEqual({ time: "1970-01-01T00:00:01.005Z", prefix: "DPI|default", inIface: "calia", outIface: "calib", family: 4, protocol: 6, src: "198.18.1.10", dst: "198.18.1.12", srcPort: 40000, dstPort: 8080 });
    const r = parseUlogdJson({ "oob.prefix": "x", src_ip: "fd00::1", dest_ip: "fd00::2", "ip6.nexthdr": 58, "icmpv6.type": 128, "icmpv6.code": 0, "oob.family": 10 })!;
    expect(r).toMatchObject({ family: 6, protocol: 58, icmpType: 128, icmpCode: 0, inIface: "", outIface: "" });
    expect(parseUlogdJson({ "oob.family": 7 })).toBeUndefined();
  });

  it("resolves prefixes and endpoints through the model", () => {
    const model = {
      endpoints: [
        { key: "wep/x/a", kind: "workload", iface: "calia", ips: [] },
        { key: "hep/h", kind: "host", iface: "eth0", ips: [] },
      ],
      logIndex: {
        "calico-packet: LPI0|np/x/p": { kind: "rule", action: "Log", origin: { tier: "default", policy: "np/x/p", direction: "ingress", index: 0 } },
        "DPE|t1": { kind: "end-of-tier", direction: "egress", tier: "t1" },
      },
    } as unknown as DataplaneModel;
    const res = flowLogResolver(model);
    const rec = (prefix: string, inIface: string, outIface: string): NflogRecord => ({ time: "t", prefix, inIface, outIface, family: 4, protocol: 6, src: "1.1.1.1", dst: "2.2.2.2", dstPort: 80 });
    expect(toFlowLogLine(rec("calico-packet: LPI0|np/x/p", "eth0", "calia"), res)).toMatchObject({ endpoint: "wep/x/a", direction: "ingress", tier: "default", policy: "np/x/p", rule: 0, verdict: "log" });
    expect(toFlowLogLine(rec("DPE|t1", "calia", "eth0"), res)).toMatchObject({ endpoint: "wep/x/a", direction: "egress", tier: "t1", policy: "", rule: -1, verdict: "deny" });
    expect(toFlowLogLine(rec("DPE|t1", "eth1", "eth0"), res)).toMatchObject({ endpoint: "hep/h", direction: "egress" });
    expect(toFlowLogLine(rec("unknown", "a", "b"), res)).toMatchObject({ endpoint: "", verdict: "log", prefix: "unknown" });
  });
});

const root = canUseNetns();
const haveUlogd = existsSync("/usr/sbin/ulogd") && existsSync("/usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_JSON.so");

describe.skipIf(!root || !haveUlogd)("flow logs from real packets (ulogd2 in the node namespace)", () => {
  const ns = { apiVersion: "v1", kind: "Namespace", metadata: { name: "x", labels: { ns: "x" } } };
  const pod = (name: string, v4: string, v6: string) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "x", labels: { pod: name } },
    spec: { nodeName: "node1", containers: [{ name: "c", image: "agnhost" }] },
    status: { podIPs: [{ ip: v4 }, { ip: v6 }] },
  });
  const pods = [pod("a", "198.18.1.1", "fd00:198::1:1"), pod("b", "198.18.1.2", "fd00:198::1:2")];
  const logPolicy = {
    apiVersion: "projectcalico.org/v3",
    kind: "GlobalNetworkPolicy",
    metadata: { name: "log-81" },
    spec: { order: 1, selector: "all()", types: ["Ingress"], ingress: [{ action: "Log", protocol: "TCP", destination: { ports: [81] } }] },
  };
  const knp = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "b-from-a", namespace: "x" },
    spec: { podSelector: { matchLabels: { pod: "b" } }, policyTypes: ["Ingress"], ingress: [{ from: [{ podSelector: { matchLabels: { pod: "a" } } }], ports: [{ protocol: "TCP", port: 80 }] }] },
  };
  let topo: Topology;
  let reader: UlogdReader;
  let model: DataplaneModel;
  const lines: FlowLogLine[] = [];

  beforeAll(async () => {
    topo = await Topology.create({ resources: pods });
    await topo.serve({ tcp: [80, 81], udp: [] });
    const cluster = Cluster.fromResources([ns, ...pods, logPolicy, knp].map((r) => applyDefaults(r as unknown as Resource)));
    model = buildDataplane(cluster.ir, "node1", { config: { denyAction: "reject", logDenied: true, nflogGroup: 7 } });
    await new Applier(new NftKernel({ netns: topo.node("node1").netns })).apply(model);
    const resolver = flowLogResolver(model);
    reader = new UlogdReader({ netns: topo.node("node1").netns, group: 7, onRecord: (r) => lines.push(toFlowLogLine(r, resolver)) });
    await reader.start();
  }, 120_000);
  afterAll(async () => {
    await reader?.stop();
    await topo?.destroy();
  });

  const waitFor = async (pred: (l: FlowLogLine) => boolean, ms = 3000) => {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      reader.poll();
      const hit = lines.filter(pred);
      if (hit.length > 0) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    return [];
  };

  it("a Log rule and the end-of-tier deny of a Kubernetes policy each write one line", async () => {
    const a = topo.target("x/a", 4);
    const b = topo.target("x/b", 4);
    expect((await topo.probe({ from: a, to: b, protocol: 6, port: 81, family: 4 })).allowed).toBe(false);
    const web = cluster_ep(model, "b");
    const log = await waitFor((l) => l.verdict === "log" && l.dstPort === 81);
    expect(log[0]).toMatchObject({ endpoint: web, direction: "ingress", tier: "default", policy: "gnp/log-81", rule: 0, verdict: "log", family: 4, protocol: 6, src: "198.18.1.1", dst: "198.18.1.2", dstPort: 81 });
    expect(log[0]!.srcPort).toBeGreaterThan(0);
    const deny = await waitFor((l) => l.verdict === "deny" && l.dstPort === 81);
    expect(deny[0]).toMatchObject({ endpoint: web, direction: "ingress", tier: "default", policy: "", rule: -1, verdict: "deny", prefix: "DPI|default" });
  });

  it("allowed flows write nothing unless asked; IPv6 denies are logged too", async () => {
    const before = lines.length;
    expect((await topo.probe({ from: topo.target("x/a", 4), to: topo.target("x/b", 4), protocol: 6, port: 80, family: 4 })).allowed).toBe(true);
    expect((await topo.probe({ from: topo.target("x/a", 6), to: topo.target("x/b", 6), protocol: 6, port: 80, family: 6 })).allowed).toBe(true);
    expect((await topo.probe({ from: topo.target("x/a", 6), to: topo.target("x/b", 6), protocol: 17, port: 80, family: 6 })).allowed).toBe(false);
    const v6 = await waitFor((l) => l.family === 6 && l.verdict === "deny" && l.protocol === 17);
    expect(v6[0]).toMatchObject({ src: "fd00:198::1:1", dst: "fd00:198::1:2", dstPort: 80, tier: "default" });
    expect(lines.slice(before).filter((l) => l.verdict === "allow")).toEqual([]);
  });
});

function cluster_ep(model: DataplaneModel, pod: string): string {
  return model.endpoints.find((e) => e.key.startsWith("wep/x/") && e.key.includes(`-${pod}-`))!.key;
}
