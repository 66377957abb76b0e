/**
 * Property: for random small policy sets and random flows, the verdict measured with real packets
 * equals the verdict of rule/match.ts — the functions explain runs for a workload → workload flow
 * (source egress, then destination ingress; SEMANTICS §2.4). Clusters come from
 * dataplane/testdata/arbitrary.ts (tiers with Deny/Pass defaults, every action, nets/notNets,
 * selector sets with and without CIDR members, ports, ICMP type/code, notProtocol…).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDataplane } from "../dataplane/index.js";
import { arbCluster, PORTS, type ArbSpec } from "../dataplane/testdata/arbitrary.js";
import { exec } from "../kernel/index.js";
import { canUseNetns, Topology } from "../netns/index.js";
import { evaluateDirection, indexSets, type ClusterIR, type Packet } from "../rule/index.js";
import { Applier, NftKernel } from "./index.js";

const root = canUseNetns();

const spec: ArbSpec = {
  pods: [
    { name: "a", iface: "", v4: "198.18.1.10", v6: "fd00:198:0:1::10", node: "n1" },
    { name: "b", iface: "", v4: "198.18.1.11", v6: "fd00:198:0:1::11", node: "n1" },
    { name: "c", iface: "", v4: "198.18.1.12", v6: "fd00:198:0:1::12", node: "n1" },
    { name: "d", iface: "", v4: "198.18.2.10", v6: "fd00:198:0:2::10", node: "n2" },
  ],
  // Two CIDRs of one length per family: a list of them is a masked lookup in nft (render/nft/expr.ts).
  externalNets: ["198.18.1.0/24", "198.18.2.0/24", "198.19.0.0/16", "fd00:198:0:1::/64", "fd00:198:0:2::/64"],
};

const manifests = spec.pods.map((p) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: p.name, namespace: "default" },
  spec: { nodeName: p.node, containers: [] },
  status: { podIPs: [{ ip: p.v4 }, { ip: p.v6 }] },
}));

interface Flow {
  from: number;
  to: number;
  family: 4 | 6;
  protocol: number;
  port?: number;
  icmp?: { type: number; code: number };
}

const arbFlow: fc.Arbitrary<Flow> = fc
  .record({
    from: fc.nat(spec.pods.length - 1),
    to: fc.nat(spec.pods.length - 1),
    family: fc.constantFrom<4 | 6>(4, 6),
    kind: fc.constantFrom("tcp", "udp", "sctp", "icmp", "icmp-other"),
    port: fc.constantFrom(...PORTS),
    code: fc.constantFrom(0, 1),
  })
  .filter((f) => f.from !== f.to)
  .map((f) => {
    const icmpProto = f.family === 4 ? 1 : 58;
    if (f.kind === "tcp") return { from: f.from, to: f.to, family: f.family, protocol: 6, port: f.port };
    if (f.kind === "udp") return { from: f.from, to: f.to, family: f.family, protocol: 17, port: f.port };
    if (f.kind === "sctp") return { from: f.from, to: f.to, family: f.family, protocol: 132, port: f.port };
    if (f.kind === "icmp") return { from: f.from, to: f.to, family: f.family, protocol: icmpProto, icmp: { type: f.family === 4 ? 8 : 128, code: 0 } };
    return { from: f.from, to: f.to, family: f.family, protocol: icmpProto, icmp: { type: f.family === 4 ? 13 : 128, code: f.code } };
  });

/** What explain decides for a workload → workload flow: source egress, then destination ingress. */
function expected(ir: ClusterIR, f: Flow): "allow" | "deny" {
  const src = ir.endpoints.find((e) => e.name === spec.pods[f.from]!.name)!;
  const dst = ir.endpoints.find((e) => e.name === spec.pods[f.to]!.name)!;
  const ip = (i: number) => (f.family === 4 ? spec.pods[i]!.v4 : spec.pods[i]!.v6);
  const packet: Packet = { family: f.family, protocol: f.protocol, srcIP: ip(f.from), dstIP: ip(f.to) };
  if (f.port !== undefined) {
    packet.dstPort = f.port;
    packet.srcPort = 40000;
  }
  if (f.icmp) {
    packet.icmpType = f.icmp.type;
    packet.icmpCode = f.icmp.code;
  }
  const sets = indexSets(ir.sets);
  if (evaluateDirection(src.egress, ir, packet, sets, { direction: "egress", trace: false }).verdict === "deny") return "deny";
  return evaluateDirection(dst.ingress, ir, packet, sets, { direction: "ingress", trace: false }).verdict === "deny" ? "deny" : "allow";
}

describe.skipIf(!root)("kernel verdict == rule/match.ts verdict on random clusters and flows", () => {
  let topo: Topology;
  const appliers = new Map<string, Applier>();

  beforeAll(async () => {
    topo = await Topology.create({ resources: manifests });
    await topo.serve({ tcp: [...PORTS], udp: [...PORTS] });
    for (const n of topo.nodes.values()) appliers.set(n.name, new Applier(new NftKernel({ netns: n.netns }), { retry: { maxAttempts: 1 } }));
  }, 120_000);
  afterAll(async () => {
    await topo?.destroy();
  }, 60_000);

  it("agrees on every flow", async () => {
    await fc.assert(
      fc.asyncProperty(arbCluster(spec), fc.array(arbFlow, { minLength: 8, maxLength: 16 }), fc.boolean(), async (ir, flows, compile) => {
        for (const [node, applier] of appliers) {
          await applier.apply(buildDataplane(ir, node, { config: { denyAction: "reject", compileAllowRuns: compile } }));
          await exec("conntrack", ["-F"], { netns: topo.node(node).netns }).catch(() => undefined);
        }
        const results = await Promise.all(
          flows.map(async (f) => {
            const ref = (i: number) => `default/${spec.pods[i]!.name}`;
            const r = await topo.probe({
              from: topo.target(ref(f.from), f.family),
              to: topo.target(ref(f.to), f.family),
              protocol: f.protocol,
              family: f.family,
              ...(f.port !== undefined ? { port: f.port } : {}),
              ...(f.icmp ? { icmp: f.icmp } : {}),
              timeoutMs: 600,
            });
            return { f, kernel: r.allowed ? "allow" : "deny", want: expected(ir, f), detail: `${r.outcome} ${r.ms}ms` };
          }),
        );
        const wrong = results.filter((r) => r.kernel !== r.want).map((r) => `${JSON.stringify(r.f)}: kernel ${r.kernel} (${r.detail}), rule/match.ts ${r.want}`);
        expect(wrong).toEqual([]);
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 15), endOnFailure: true },
    );
  }, 600_000);
});
