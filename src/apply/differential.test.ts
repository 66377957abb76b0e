/**
 * Differential test: the kernel against explain. Every conformance scenario (test/scenarios) is
 * built as real namespaces (netns/ Topology), each step's resources go through the engine, the
 * dataplane builder and the Applier into each node's kernel (steps after the first are deltas), and
 * every probe of the step is sent as a real packet. The verdict measured with packets must equal
 * the verdict `explain` computes for the same flow — whatever the scenario itself expects (that is
 * the engine's conformance test's business).
 *
 * Denies are rendered as rejects (TCP reset / ICMP admin-prohibited) so a denied TCP/UDP/ping
 * probe fails at once; the verdict is the same as with drop. Conntrack is flushed between steps:
 * explain judges the first packet of a new connection, and so must every probe.
 *
 * Every scenario runs once per backend (nftables, iptables+ipset; TORTIE_DIFF_BACKENDS=nftables
 * picks one) on the same namespaces; switching backend first removes what the other programmed.
 *
 * KERNEL_MISMATCHES lists probes where the kernel and explain are known to disagree, each with its
 * reason; any other disagreement fails, and so does a listed probe that now agrees.
 */
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expandProbes, loadScenarioDir, probeId, type Probe, type Scenario, type ScenarioResource } from "../conformance/index.js";
import { buildDataplane } from "../dataplane/index.js";
import { Cluster, formatExplanation, tryExplain, type ExplainQuery } from "../engine/index.js";
import { exec } from "../kernel/index.js";
import type { Resource } from "../model/index.js";
import { canUseNetns, Topology, UnsupportedProbe } from "../netns/index.js";
import { applyDefaults, validateResources } from "../validate/index.js";
import { Applier, DATAPLANE_KINDS, makeDataplane, type DataplaneKind } from "./index.js";

const root = canUseNetns();
const repo = resolve(import.meta.dirname, "../..");
const loaded = loadScenarioDir(resolve(repo, "test/scenarios"));

interface KnownMismatch {
  scenario: string;
  probes: string[];
  reason: string;
}
const KERNEL_MISMATCHES: KnownMismatch[] = [];

const CONCURRENCY = 12;
const BACKENDS = (process.env.TORTIE_DIFF_BACKENDS?.split(",") ?? [...DATAPLANE_KINDS]) as DataplaneKind[];

function engineRef(ref: string): string {
  return ref.startsWith("wep:") ? ref.slice(4) : ref;
}

function compile(resources: ScenarioResource[]): Cluster {
  const issues = validateResources(resources).filter((i) => i.severity === "error");
  if (issues.length > 0) throw new Error(`invalid input: ${issues.map((i) => `${i.resource ?? ""} ${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return Cluster.fromResources(resources.map((r) => applyDefaults(r as unknown as Resource)));
}

function explainVerdict(cluster: Cluster, p: Probe): { verdict: "allow" | "deny"; text: string } {
  const q: ExplainQuery = { from: engineRef(p.from), to: engineRef(p.to), protocol: p.protocol, family: p.family };
  if (p.port !== undefined) q.port = p.port;
  if (p.icmp !== undefined) q.icmp = p.icmp;
  const r = tryExplain(cluster, q);
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join("; "));
  return { verdict: r.value.verdict, text: formatExplanation(r.value) };
}

const PROTOCOLS: Record<string, number> = { TCP: 6, UDP: 17, SCTP: 132, ICMP: 1, ICMPv6: 58 };

async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Resources that shape the topology, and the outside addresses probes use. */
function topologyOf(s: Scenario): { resources: ScenarioResource[]; externals: string[]; key: string } {
  const { probes, states } = expandProbes(s);
  const byId = new Map<string, ScenarioResource>();
  for (const st of states) {
    for (const r of st) if (r.kind === "Pod" || r.kind === "WorkloadEndpoint" || r.kind === "HostEndpoint") byId.set(`${r.kind}/${r.metadata.namespace ?? ""}/${r.metadata.name}`, r);
  }
  const externals = new Set<string>();
  for (const p of probes) for (const e of [p.src, p.dst]) if (e.kind === "ip") externals.add(e.ip);
  const resources = [...byId.values()];
  const key = JSON.stringify(resources.map((r) => [r.kind, r.metadata.namespace, r.metadata.name, (r as { status?: unknown }).status, (r as { spec?: { node?: string; nodeName?: string; interfaceName?: string; expectedIPs?: string[] } }).spec?.expectedIPs, (r as { spec?: { interfaceName?: string } }).spec?.interfaceName]).sort());
  return { resources, externals: [...externals].sort(), key };
}

// Group scenarios that need the same namespaces, so each group builds its topology once.
const groups = new Map<string, { scenarios: Scenario[]; resources: ScenarioResource[]; externals: Set<string> }>();
for (const s of loaded.scenarios) {
  const t = topologyOf(s);
  const g = groups.get(t.key) ?? { scenarios: [], resources: t.resources, externals: new Set<string>() };
  g.scenarios.push(s);
  t.externals.forEach((e) => g.externals.add(e));
  groups.set(t.key, g);
}

describe.skipIf(!root)("kernel verdicts equal explain verdicts on every conformance scenario", () => {
  it("scenarios loaded", () => {
    expect(loaded.issues).toEqual([]);
    expect(loaded.scenarios.length).toBeGreaterThan(0);
  });

  let gi = 0;
  for (const [, group] of groups) {
    gi++;
    describe(`topology ${gi} (${group.scenarios.length} scenarios)`, () => {
      let topo: Topology;
      const appliersOf = new Map<DataplaneKind, Map<string, Applier>>();
      let active: DataplaneKind | undefined;
      /** The node appliers of `kind`; what another backend programmed is removed first. */
      const use = async (kind: DataplaneKind): Promise<Map<string, Applier>> => {
        if (active !== undefined && active !== kind) for (const a of appliersOf.get(active)!.values()) await a.remove();
        active = kind;
        let m = appliersOf.get(kind);
        if (!m) {
          m = new Map();
          for (const n of topo.nodes.values()) {
            const { kernel, backend } = makeDataplane({ kind, netns: n.netns });
            m.set(n.name, new Applier(kernel, { backend, retry: { maxAttempts: 2 } }));
          }
          appliersOf.set(kind, m);
        }
        return m;
      };

      beforeAll(async () => {
        topo = await Topology.create({ resources: group.resources, externalIPs: [...group.externals] });
        const tcp = new Set<number>();
        const udp = new Set<number>();
        for (const s of group.scenarios) {
          for (const p of expandProbes(s).probes) {
            if (p.port === undefined) continue;
            const proto = typeof p.protocol === "number" ? p.protocol : PROTOCOLS[p.protocol];
            if (proto === 6) tcp.add(p.port);
            if (proto === 17) udp.add(p.port);
          }
        }
        await topo.serve({ tcp: [...tcp], udp: [...udp] });
      }, 180_000);

      afterAll(async () => {
        await topo?.destroy();
      }, 60_000);

      for (const kind of BACKENDS) for (const scenario of group.scenarios) {
        it(`${scenario.name} [${kind}]`, async () => {
          const appliers = await use(kind);
          const { probes, states } = expandProbes(scenario);
          const mismatches: string[] = [];
          const unsupported: string[] = [];
          let compared = 0;
          for (let step = 0; step < states.length; step++) {
            const stepProbes = probes.filter((p) => p.step === step);
            const cluster = compile(states[step]!);
            for (const [node, applier] of appliers) {
              await applier.apply(buildDataplane(cluster.ir, node, { config: { denyAction: "reject" } }));
              await exec("conntrack", ["-F"], { netns: topo.node(node).netns }).catch(() => undefined);
            }
            const results = await pool(stepProbes, CONCURRENCY, async (p) => {
              const proto = typeof p.protocol === "number" ? p.protocol : PROTOCOLS[p.protocol]!;
              try {
                const r = await topo.probe({
                  from: topo.target(p.from, p.family),
                  to: topo.target(p.to, p.family),
                  protocol: proto,
                  family: p.family,
                  ...(p.port !== undefined ? { port: p.port } : {}),
                  ...(p.icmp ? { icmp: p.icmp } : {}),
                  timeoutMs: 600,
                });
                return { p, kernel: r.allowed ? "allow" : "deny", detail: `${r.outcome} ${r.ms}ms ${r.detail ?? ""}` };
              } catch (e) {
                if (e instanceof UnsupportedProbe) return { p, kernel: "unsupported", detail: e.message };
                throw e;
              }
            });
            for (const r of results) {
              if (r.kernel === "unsupported") {
                unsupported.push(`${probeId(r.p)}: ${r.detail}`);
                continue;
              }
              compared++;
              const ex = explainVerdict(cluster, r.p);
              if (ex.verdict !== r.kernel) mismatches.push(`${probeId(r.p)}: kernel ${r.kernel} (${r.detail.trim()}), explain ${ex.verdict}\n      ${ex.text.replace(/\n/g, "\n      ")}`);
            }
          }
          const known = new Map(KERNEL_MISMATCHES.filter((k) => k.scenario === scenario.name).flatMap((k) => k.probes.map((p) => [p, k.reason] as const)));
          const unexpected = mismatches.filter((m) => !known.has(m.slice(0, m.indexOf(": kernel"))));
          const seen = new Set(mismatches.map((m) => m.slice(0, m.indexOf(": kernel"))));
          const stale = [...known.keys()].filter((p) => !seen.has(p));
          if (unsupported.length > 0) console.log(`${scenario.name}: ${unsupported.length} probes the harness cannot send:\n  ${unsupported.join("\n  ")}`);
          expect(compared, "no probe was compared").toBeGreaterThan(0);
          expect(unexpected, `${scenario.name} (${scenario.file}): kernel ≠ explain`).toEqual([]);
          expect(stale, "known mismatches that now agree: remove them from KERNEL_MISMATCHES").toEqual([]);
        }, 240_000);
      }
    });
  }
});
