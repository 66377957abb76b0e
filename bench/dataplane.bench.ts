/**
 * The dataplane layer against the real kernel (src/dataplane → src/render/nft → src/apply), in
 * namespaces built by src/netns:
 *
 *   1. one change at 100k set members: the Applier adds / removes one pod address in a selector
 *      set that holds 100k addresses (one delta batch) — and, for comparison, the same one-element
 *      update in an interval set, which is what tortie avoids by splitting selector sets;
 *   2. cold load of 10k policies: build the model from the IR, render, and load it in one batch —
 *      allow-only policies and policies with a Deny rule before their Allow (both grouped into one
 *      chain and compiled into set lookups);
 *   3. per-packet latency (sockperf TCP ping-pong, RTT/2) pod a → pod b with 0 / 1k / 10k policies
 *      that select another pod on the same node (dispatch by interface map keeps the cost flat),
 *      and with the same numbers of policies all selecting pod b — allow-only, Deny+Allow and
 *      Pass+Allow (grouped and compiled: a few lookups), plus 1k Deny+Allow with grouping and
 *      compilation off (a jump per policy, Felix's layout: the cost grows; until the sixth #7
 *      session every policy with a Pass rule had that layout). Conntrack is bypassed for the measured flow
 *      (notrack) so every packet walks the policy, as the first packet of every flow does.
 *
 * --quick: 10k members / 1k policies / 0 and 1k; default: the sizes above. Skipped (with a note)
 * when not root or when nft / sockperf are missing.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { Applier, NftKernel } from "../src/apply/index.js";
import { buildDataplane, ruleCount } from "../src/dataplane/index.js";
import { exec, nftApplyText } from "../src/kernel/index.js";
import { ChunkedMap, listArray } from "../src/model/index.js";
import { canUseNetns, Topology } from "../src/netns/index.js";
import { nft } from "../src/render/index.js";
import type { ClusterIR, DirectionProgram, EndpointIR, PolicyIR, RuleIR, SetDef } from "../src/rule/index.js";
import type { BenchOptions, BenchReport, BenchResult } from "./types.js";

const NODE = "node1";
const POD_IPS = { a: "198.19.250.10", b: "198.19.250.11", c: "198.19.250.12" } as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** 198.18.0.0 + i (i < 131,072): set members that are never configured on any interface. */
function member(i: number): string {
  return `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

const prog = (dir: "ingress" | "egress", policies: string[]): DirectionProgram => ({
  direction: dir,
  tiers: policies.length > 0 ? [{ tier: "default", defaultAction: "Deny", policies }] : [],
  stagedTiers: [],
  profiles: ["pro/kns.bench"],
});

/**
 * A synthetic IR: pods a, b, c on one node; `policies` GNPs with one Allow rule each (TCP, port
 * 1000 + i % 50000, from one of 100 shared selector sets), selecting pod `target`; plus a selector
 * set "s:big" with `members` addresses used by pod b's ingress.
 */
function syntheticIR(opts: { policies: number; target: "b" | "c"; members: number; first?: "Deny" | "Pass" }): ClusterIR {
  const sets: Record<string, SetDef> = {};
  for (let s = 0; s < 100; s++) sets[`s:peer${s}`] = { kind: "selector", id: `s:peer${s}`, selector: `peer == '${s}'`, members: [`${member(120_000 + s)}/32`] };
  const big: string[] = [];
  for (let i = 0; i < opts.members; i++) big.push(`${member(i)}/32`);
  sets["s:big"] = { kind: "selector", id: "s:big", selector: "big == 'true'", members: big };
  const policies: Record<string, PolicyIR> = {};
  const keys: string[] = [];
  for (let i = 0; i < opts.policies; i++) {
    const key = `gnp/p${i}`;
    keys.push(key);
    const rule: RuleIR = { action: "Allow", match: { protocol: 6, src: { sets: [`s:peer${i % 100}`] }, dst: { ports: [{ first: 1000 + (i % 50000), last: 1000 + (i % 50000) }] } }, origin: { tier: "default", policy: key, direction: "ingress", index: 0 } };
    // first: a Deny (or Pass) rule before the Allow. Grouped and compiled into a drop (or pass)
    // and an accept lookup (first match per key); with grouping and compilation off, one chain
    // and one jump per policy.
    const before: RuleIR | undefined = opts.first && { action: opts.first, match: { protocol: 17, src: { sets: [`s:peer${(i + 1) % 100}`] }, dst: { ports: [{ first: 7, last: 7 }] } }, origin: { tier: "default", policy: key, direction: "ingress", index: 0 } };
    const ingress = before ? [before, { ...rule, origin: { ...rule.origin, index: 1 } }] : [rule];
    policies[key] = { key, kind: "GlobalNetworkPolicy", name: `p${i}`, tier: "default", order: i, staged: false, selector: `app == '${opts.target}'`, governs: { ingress: true, egress: false }, ingress, egress: [], applyOnForward: false, preDNAT: false, doNotTrack: false };
  }
  // Pod b always admits the client (and the big set) on the sockperf port, in its own policy.
  const admit: RuleIR[] = [
    { action: "Allow", match: { protocol: 6, src: { nets: [`${POD_IPS.a}/32`] }, dst: {} }, origin: { tier: "default", policy: "gnp/admit", direction: "ingress", index: 0 } },
    { action: "Allow", match: { protocol: 6, src: { sets: ["s:big"] }, dst: { ports: [{ first: 5432, last: 5432 }] } }, origin: { tier: "default", policy: "gnp/admit", direction: "ingress", index: 1 } },
  ];
  policies["gnp/admit"] = { key: "gnp/admit", kind: "GlobalNetworkPolicy", name: "admit", tier: "default", order: 1e9, staged: false, selector: "app == 'b'", governs: { ingress: true, egress: false }, ingress: admit, egress: [], applyOnForward: false, preDNAT: false, doNotTrack: false };
  const ep = (name: "a" | "b" | "c"): EndpointIR => ({
    key: `wep/bench/${name}`,
    kind: "workload",
    name,
    namespace: "bench",
    pod: `bench/${name}`,
    node: NODE,
    ips: [POD_IPS[name]],
    labels: { app: name },
    namedPorts: [],
    ingress: prog("ingress", [...(opts.target === name ? keys : []), ...(name === "b" ? ["gnp/admit"] : [])]),
    egress: prog("egress", []),
  });
  const allow = (dir: "ingress" | "egress"): RuleIR[] => [{ action: "Allow", match: { src: {}, dst: {} }, origin: { tier: "", policy: "pro/kns.bench", direction: dir, index: 0 } }];
  return {
    tiers: [{ name: "default", order: 1_000_000, defaultAction: "Deny" }],
    policies: ChunkedMap.fromRecord(policies),
    profiles: { "pro/kns.bench": { key: "pro/kns.bench", name: "kns.bench", ingress: allow("ingress"), egress: allow("egress") } },
    sets: ChunkedMap.fromRecord(sets),
    endpoints: [ep("a"), ep("b"), ep("c")],
  };
}

const pods = (["a", "b", "c"] as const).map((n) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: n, namespace: "bench" },
  spec: { nodeName: NODE, containers: [] },
  status: { podIPs: [{ ip: POD_IPS[n] }] },
}));

async function timeIt<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, v];
}

async function sockperf(topo: Topology, seconds: number): Promise<{ avg: number; p99: number }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await exec("sockperf", ["ping-pong", "--tcp", "-i", POD_IPS.b, "-p", "11111", "-t", String(seconds)], { netns: topo.pod("bench/a").netns, timeoutMs: (seconds + 30) * 1000 });
      const text = r.stdout + r.stderr;
      const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
      return { avg: num(/avg-latency=([\d.]+)/), p99: num(/percentile 99\.000 =\s*([\d.]+)/) };
    } catch (e) {
      if (attempt >= 2) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export async function run(opts: BenchOptions): Promise<BenchReport> {
  const skip = (why: string): BenchReport => ({ results: [], extra: `Skipped: ${why}.` });
  if (!canUseNetns()) return skip("needs root (network namespaces)");
  if (!existsSync("/usr/sbin/nft")) return skip("nft is not installed");
  const haveSockperf = existsSync("/usr/bin/sockperf");
  const MEMBERS = opts.quick ? 10_000 : 100_000;
  const POLICIES = opts.quick ? 1_000 : 10_000;
  const SERIES = opts.quick ? [0, 1_000] : [0, 1_000, 10_000];
  const results: BenchResult[] = [];
  const notes: string[] = [];

  const topo = await Topology.create({ resources: pods });
  try {
    const nodeNs = topo.node(NODE).netns;
    const applier = new Applier(new NftKernel({ netns: nodeNs, timeoutMs: 600_000 }));

    // ---- 1. one change at MEMBERS set members
    opts.progress(`one change at ${MEMBERS.toLocaleString()} members`);
    const base = syntheticIR({ policies: 0, target: "c", members: MEMBERS });
    const m0 = buildDataplane(base, NODE, { config: { compileAllowRuns: false } });
    const [loadMs] = await timeIt(() => applier.apply(m0));
    const bigSet = m0.sets.keyList().find((s) => s.startsWith("cali40s-big"))!;
    notes.push(`set ${bigSet}: ${m0.sets.get(bigSet)!.elements.length.toLocaleString()} elements (cold load of it: ${Math.round(loadMs)} ms)`);
    const add: number[] = [];
    const del: number[] = [];
    for (let i = 0; i < (opts.quick ? 5 : 15); i++) {
      const big = base.sets.get("s:big") as Extract<SetDef, { kind: "selector" }>;
      const with1: ClusterIR = { ...base, sets: base.sets.set("s:big", { ...big, members: [...listArray(big.members), `${member(110_000 + i)}/32`] }) };
      const m1 = buildDataplane(with1, NODE, { config: { compileAllowRuns: false } });
      const [a, ra] = await timeIt(() => applier.apply(m1));
      if (ra.mode !== "delta" || ra.ops !== 1) throw new Error(`expected a one-op delta, got ${JSON.stringify(ra)}`);
      add.push(a);
      const [d] = await timeIt(() => applier.apply(m0));
      del.push(d);
    }
    results.push({ name: `one set element added, ${MEMBERS.toLocaleString()}-member hash set`, value: median(add), unit: "ms", note: "Applier.apply: model diff + one nft batch through the agent's long-lived nft session; median" });
    results.push({ name: `one set element removed, ${MEMBERS.toLocaleString()}-member hash set`, value: median(del), unit: "ms", note: "median" });
    // The same update in an interval set (what a single selector set of addresses and CIDRs would need).
    const iv: string[] = [];
    for (let i = 0; i < MEMBERS; i++) iv.push(`${member(i)}/32`);
    await nftApplyText(`table inet ivbench\ndelete table inet ivbench\ntable inet ivbench { set s { type ipv4_addr; flags interval; }; }\n`, { netns: nodeNs });
    for (let i = 0; i < iv.length; i += 20_000) await nftApplyText(`add element inet ivbench s { ${iv.slice(i, i + 20_000).map((x) => x.slice(0, -3)).join(", ")} }\n`, { netns: nodeNs, timeoutMs: 600_000 });
    const ivTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [t] = await timeIt(() => nftApplyText(`add element inet ivbench s { ${member(115_000 + i)} }\n`, { netns: nodeNs, timeoutMs: 600_000 }));
      ivTimes.push(t);
    }
    await nftApplyText("delete table inet ivbench\n", { netns: nodeNs });
    results.push({ name: `for comparison: one element added, ${MEMBERS.toLocaleString()}-member interval set`, value: median(ivTimes), unit: "ms", note: "plain nft; why selector sets keep single addresses in a hash set" });

    // ---- 2. cold load of POLICIES policies
    opts.progress(`cold load of ${POLICIES.toLocaleString()} policies`);
    for (const withDeny of [false, true]) {
      const shape = withDeny ? "Deny + Allow each (grouped, compiled)" : "one Allow rule each (grouped)";
      const first = withDeny ? ("Deny" as const) : undefined;
      const loads: Array<{ build: number; render: number; kernel: number; rules: number }> = [];
      for (let rep = 0; rep < (opts.quick ? 1 : 3); rep++) {
        const ir = syntheticIR({ policies: POLICIES, target: "b", members: 2, ...(first ? { first } : {}) });
        const t0 = process.hrtime.bigint();
        const m = buildDataplane(ir, NODE);
        const t1 = process.hrtime.bigint();
        const batch = nft.renderFull(m);
        const t2 = process.hrtime.bigint();
        await new NftKernel({ netns: nodeNs, timeoutMs: 600_000 }).apply(batch);
        const t3 = process.hrtime.bigint();
        loads.push({ build: Number(t1 - t0) / 1e6, render: Number(t2 - t1) / 1e6, kernel: Number(t3 - t2) / 1e6, rules: ruleCount(m) });
      }
      const ml = (k: "build" | "render" | "kernel") => median(loads.map((l) => l[k]));
      const label = `cold load, ${POLICIES.toLocaleString()} policies, ${shape}`;
      results.push({ name: `${label}: total`, value: ml("build") + ml("render") + ml("kernel"), unit: "ms", note: `${loads[0]!.rules.toLocaleString()} kernel rules; median of ${loads.length}` });
      results.push({ name: `${label}: build model`, value: ml("build"), unit: "ms" });
      results.push({ name: `${label}: render JSON`, value: ml("render"), unit: "ms" });
      results.push({ name: `${label}: nft -j -f (one transaction)`, value: ml("kernel"), unit: "ms" });
    }

    // ---- 3. per-packet latency
    if (!haveSockperf) notes.push("per-packet latency skipped: sockperf is not installed");
    else {
      opts.progress("per-packet latency");
      await nftApplyText(
        `table inet benchraw\ndelete table inet benchraw\ntable inet benchraw { chain pre { type filter hook prerouting priority -310; policy accept; ip saddr ${POD_IPS.a} ip daddr ${POD_IPS.b} notrack; ip saddr ${POD_IPS.b} ip daddr ${POD_IPS.a} notrack; }; }\n`,
        { netns: nodeNs },
      );
      const server = spawn("ip", ["netns", "exec", topo.pod("bench/b").netns, "sockperf", "server", "--tcp", "-i", POD_IPS.b, "-p", "11111"], { stdio: "ignore" });
      await new Promise((r) => setTimeout(r, 500));
      try {
        const seconds = opts.quick ? 1 : 3;
        type Cell = { n: number; target: "b" | "c"; first?: "Deny" | "Pass"; felix?: boolean; avg: number[]; p99: number[] };
        const cells: Cell[] = [];
        for (const n of SERIES) for (const target of ["c", "b"] as const) if (!(n === 0 && target === "b")) cells.push({ n, target, avg: [], p99: [] });
        // Policies with a Deny (or Pass) rule before their Allow: grouped and compiled (first
        // match per key into a drop (pass) and an accept lookup), and for contrast the same 1,000
        // Deny+Allow policies in Felix's layout (grouping and compilation off: a chain and a jump
        // per policy — the layout every policy with a Pass rule had before the sixth #7 session).
        for (const first of ["Deny", "Pass"] as const) for (const n of SERIES) if (n > 0) cells.push({ n, target: "b", first, avg: [], p99: [] });
        cells.push({ n: 1_000, target: "b", first: "Deny", felix: true, avg: [], p99: [] });
        const key = (c: Cell) => `${c.n}/${c.target}/${c.first ?? ""}/${c.felix === true}`;
        const layout = (c: Cell) => (c.felix ? { config: { groupAllowPolicies: false, compileAllowRuns: false } } : {});
        const models = new Map(cells.map((c) => [key(c), buildDataplane(syntheticIR({ policies: c.n, target: c.target, members: 2, ...(c.first ? { first: c.first } : {}) }), NODE, layout(c))]));
        // Interleaved repetitions: rep 1 of every cell, then rep 2, … (NETNS.md §5: noise).
        for (let rep = 0; rep < (opts.quick ? 1 : 3); rep++) {
          for (const c of cells) {
            await applier.apply(models.get(key(c))!);
            const r = await sockperf(topo, seconds);
            c.avg.push(r.avg);
            c.p99.push(r.p99);
          }
        }
        const base0 = median(cells[0]!.avg);
        for (const c of cells) {
          const what =
            c.n === 0
              ? "no policy"
              : c.target === "c"
                ? `${c.n.toLocaleString()} allow-only policies selecting another pod`
                : c.felix
                  ? `${c.n.toLocaleString()} ${c.first}+Allow policies selecting the server, grouping and compilation off (one jump each)`
                  : c.first
                    ? `${c.n.toLocaleString()} ${c.first}+Allow policies selecting the server (grouped, compiled)`
                    : `${c.n.toLocaleString()} allow-only policies selecting the server (grouped)`;
          const avg = median(c.avg);
          results.push({ name: `latency a→b, ${what}`, value: avg, unit: "µs (RTT/2)", note: `×${(avg / base0).toFixed(2)} of no policy; p99 ${median(c.p99).toFixed(1)} µs; median of ${c.avg.length}` });
        }
      } finally {
        server.kill("SIGKILL");
        await nftApplyText("delete table inet benchraw\n", { netns: nodeNs }).catch(() => undefined);
      }
    }
  } finally {
    await topo.destroy();
  }
  return { results, extra: notes.map((n) => `- ${n}`).join("\n") };
}
