/**
 * Kernel per-packet cost, pod-a → pod-b on one node (bench/gen/kernel-lab.ts), with sockperf
 * (TCP ping-pong latency, RTT/2) and iperf3 (TCP throughput), for:
 *
 *   none      no policy at all
 *   nft       tortie: engine → dataplane model → nft backend through the Applier
 *   ipt       tortie: the same model → iptables + ipset backend (host's default iptables variant)
 *   linear    pod-b's ingress chain as one rule per (peer, port), then the allow (a naive or
 *             Calico-iptables-style rendering of the same policy)
 *
 * at N = 0, 1k, 10k (--full: 100k) peer rules in one policy selecting pod-b ("rules" shape), and
 * N = 1k (--full: 10k) policies of one rule each selecting pod-b ("policies" shape, tortie only:
 * Felix's layout walks one jump per policy).
 *
 * Conntrack is switched off for lab traffic (a `notrack` rule in the raw hook of the node), so
 * every packet walks the whole policy — what the first packet of every flow pays. With conntrack
 * on, both tortie and the linear chain accept established flows in their first rule and every
 * rendering costs the same (NETNS.md §5).
 *
 * Each cell is the median of ≥ 3 repetitions, run interleaved (rep 1 of every scenario, then rep 2,
 * …). nft renderings stay loaded in their own tables and are switched by a bypass set (see
 * bypassCmds); iptables renderings are loaded and removed for each repetition. Ratios are to "none" of the same run. Skipped when not root or
 * sockperf / iperf3 / nft are missing. Targets (issue): tortie with 10k within 2 µs of no policy
 * and ≥ 20× better than linear.
 */
import { execFileSync } from "node:child_process";
import os from "node:os";
import { Cluster } from "../src/engine/index.js";
import { buildDataplane } from "../src/dataplane/index.js";
import { withWorkloadInterfaces } from "../src/agent/calc/index.js";
import { Applier, IptablesKernel, iptablesBackend, NftKernel, nftBackend } from "../src/apply/index.js";
import { nftApplyText, nft as nftCmd } from "../src/kernel/index.js";
import { canUseNetns } from "../src/netns/index.js";
import { A_IP, B_IP, labCluster, linearNft, NODE, startLab, sockperf, iperf, type Lab } from "./gen/kernel-lab.js";
import type { BenchOptions, BenchReport, BenchResult } from "./types.js";

type Kind = "none" | "nft" | "ipt" | "linear";
interface Scenario {
  kind: Kind;
  n: number;
  shape: "rules" | "policies";
}

const has = (bin: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

export function label(s: Scenario): string {
  if (s.kind === "none") return "no policy";
  const what = s.shape === "rules" ? `${s.n.toLocaleString("en-US")} rules` : `${s.n.toLocaleString("en-US")} policies`;
  return { nft: "tortie nft", ipt: "tortie iptables+ipset", linear: "linear nft chain" }[s.kind] + `, ${what}`;
}

interface Installed {
  loadMs: number;
  /** Makes this rendering see lab traffic (others bypass it); nft renderings only. */
  activate?: () => Promise<void>;
  deactivate?: () => Promise<void>;
  unload: () => Promise<void>;
}

const modelCache = new Map<string, ReturnType<typeof buildDataplane>>();
function model(s: Scenario): ReturnType<typeof buildDataplane> {
  const key = `${s.shape}/${s.n}`;
  let m = modelCache.get(key);
  if (!m) {
    const c = Cluster.fromResources(labCluster(s.n, s.shape));
    const errors = c.issues.filter((i) => i.severity === "error");
    if (errors.length > 0) throw new Error(`lab cluster: ${errors[0]!.message}`);
    m = buildDataplane(withWorkloadInterfaces(c.ir), NODE);
    modelCache.set(key, m);
  }
  return m;
}

/**
 * nft renderings stay loaded for the whole run, each in its own table, and are switched by a
 * bypass set: the first rule of each of the table's base chains accepts lab traffic while the set
 * holds the lab addresses (an accept ends only that table's base chain; the next table on the
 * hook still sees the packet). Inactive tables therefore cost one lookup in a two-element set per
 * packet — the same for every scenario, "none" included — and switching costs two element
 * updates instead of reloading tens of thousands of rules per repetition.
 */
async function bypassCmds(lab: Lab, table: string, baseChains: string[]): Promise<Installed["activate"] & {}> {
  const o = { netns: lab.nodeNs, timeoutMs: 300_000 };
  const lines = [`add set inet ${table} lab-bypass { type ipv4_addr; }`, `add element inet ${table} lab-bypass { ${A_IP}, ${B_IP} }`];
  for (const c of baseChains) lines.push(`insert rule inet ${table} ${c} ip saddr @lab-bypass accept`);
  await nftApplyText(lines.join("\n") + "\n", o);
  return async () => void (await nftApplyText(`delete element inet ${table} lab-bypass { ${A_IP}, ${B_IP} }\n`, o));
}

async function install(lab: Lab, s: Scenario, table: string): Promise<Installed> {
  const o = { netns: lab.nodeNs, timeoutMs: 300_000 };
  const t = Date.now();
  if (s.kind === "none") return { loadMs: 0, unload: async () => {} };
  const deactivate = async () => void (await nftApplyText(`add element inet ${table} lab-bypass { ${A_IP}, ${B_IP} }\n`, o));
  if (s.kind === "linear") {
    await nftApplyText(linearNft(s.n, lab.bIface, table), o);
    const loadMs = Date.now() - t;
    const activate = await bypassCmds(lab, table, ["forward"]);
    return { loadMs, activate, deactivate, unload: async () => void (await nftCmd(["delete", "table", "inet", table], o)) };
  }
  const m = model(s);
  const t1 = Date.now();
  if (s.kind === "nft") {
    const target = { family: "inet", table };
    const applier = new Applier(new NftKernel({ ...o, target }), { backend: nftBackend(target), retry: { maxAttempts: 1 } });
    await applier.apply(m);
    const loadMs = Date.now() - t1;
    const bases = m.chains.valueList().filter((c) => c.base).map((c) => c.name);
    const activate = await bypassCmds(lab, table, bases);
    return { loadMs, activate, deactivate, unload: () => applier.remove() };
  }
  const applier = new Applier(new IptablesKernel({ ...o, families: [4, 6] }), { backend: iptablesBackend(), retry: { maxAttempts: 1 } });
  await applier.apply(m);
  return { loadMs: Date.now() - t1, unload: () => applier.remove() };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export async function run(opts: BenchOptions): Promise<BenchReport> {
  const missing = ["sockperf", "iperf3", "nft", "iptables-restore", "ipset"].filter((b) => !has(b));
  if (!canUseNetns() || missing.length > 0) {
    const why = !canUseNetns() ? "not running as root (network namespaces need root)" : `missing: ${missing.join(", ")}`;
    return { results: [], extra: `Skipped: ${why}. Install with \`apt-get install -y nftables iptables ipset iperf3 sockperf\` and run as root.` };
  }
  const sizes = opts.quick ? [0, 1_000] : opts.full ? [0, 1_000, 10_000, 100_000] : [0, 1_000, 10_000];
  const polSizes = opts.quick ? [] : opts.full ? [1_000, 10_000] : [1_000];
  const reps = 3;
  const latSec = opts.quick ? 1 : opts.full ? 3 : 2;
  const tputSec = opts.quick ? 1 : opts.full ? 4 : 3;

  const scenarios: Scenario[] = [{ kind: "none", n: 0, shape: "rules" }];
  // iptables+ipset is reloaded for every repetition (one iptables state at a time), which takes
  // minutes at 10k rules: only with --full beyond 1k.
  for (const n of sizes)
    for (const kind of ["nft", "ipt", "linear"] as const) {
      if (kind === "linear" && n === 0) continue;
      if (kind === "ipt" && n > 1_000 && !opts.full) continue;
      scenarios.push({ kind, n, shape: "rules" });
    }
  for (const n of polSizes) for (const kind of ["nft", "ipt"] as const) scenarios.push({ kind, n, shape: "policies" });

  // Engine + dataplane models first (not timed here; scale.bench.ts measures the engine).
  for (const s of scenarios) if (s.kind === "nft" || s.kind === "ipt") {
    opts.progress(`model for ${s.shape} ${s.n}`);
    model(s);
  }

  const lat = new Map<Scenario, number[]>();
  const lat99 = new Map<Scenario, number[]>();
  const tput = new Map<Scenario, number[]>();
  const loads = new Map<Scenario, number[]>();
  const push = (m: Map<Scenario, number[]>, s: Scenario, v: number) => (m.get(s) ?? m.set(s, []).get(s)!).push(v);
  const loadAvg: number[] = [];

  const lab = await startLab({ notrack: true });
  const loaded = new Map<Scenario, Installed>();
  try {
    // nft renderings: loaded once, bypassed until their turn (see bypassCmds).
    let tableNo = 0;
    for (const s of scenarios) {
      if (s.kind !== "nft" && s.kind !== "linear") continue;
      opts.progress(`loading ${label(s)}`);
      const inst = await install(lab, s, `tortie-bench-${tableNo++}`);
      loaded.set(s, inst);
      loads.set(s, [inst.loadMs]);
      await inst.deactivate!();
    }
    for (let rep = 1; rep <= reps; rep++) {
      for (const s of scenarios) {
        opts.progress(`rep ${rep}/${reps}: ${label(s)}`);
        loadAvg.push(os.loadavg()[0]);
        const kept = loaded.get(s);
        const inst = kept ?? (await install(lab, s, "unused"));
        if (!kept) push(loads, s, inst.loadMs);
        try {
          await inst.activate?.();
          const l = await sockperf(lab, latSec);
          push(lat, s, l.p50);
          push(lat99, s, l.p99);
          push(tput, s, await iperf(lab, tputSec));
        } finally {
          if (kept) await inst.deactivate!();
          else await inst.unload();
        }
      }
    }
  } finally {
    for (const inst of loaded.values()) await inst.unload().catch(() => undefined);
    await lab.stop();
  }

  const base = scenarios[0]!;
  const bLat = median(lat.get(base)!);
  const bTput = median(tput.get(base)!);
  const spread = (xs: number[]) => ((Math.max(...xs) - Math.min(...xs)) / median(xs)) * 100;
  const la = `load ${Math.min(...loadAvg).toFixed(1)}–${Math.max(...loadAvg).toFixed(1)}`;
  const rows: string[] = [
    "| scenario | latency p50 µs | × none | Δ µs | spread | p99 µs | Gbit/s | × none | spread | load ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const results: BenchResult[] = [];
  for (const s of scenarios) {
    const L = median(lat.get(s)!);
    const T = median(tput.get(s)!);
    rows.push(
      `| ${label(s)} | ${L.toFixed(1)} | ${(L / bLat).toFixed(2)} | ${(L - bLat).toFixed(1)} | ${spread(lat.get(s)!).toFixed(0)} % | ${median(lat99.get(s)!).toFixed(0)} | ${T.toFixed(2)} | ${(T / bTput).toFixed(2)} | ${spread(tput.get(s)!).toFixed(0)} % | ${s.kind === "none" ? "" : median(loads.get(s)!).toFixed(0)} |`,
    );
    if (s.kind !== "none") {
      results.push({ name: `per-packet Δ latency, ${label(s)}`, value: L - bLat, unit: "µs", note: `${(L / bLat).toFixed(2)}× none; throughput ${(T / bTput).toFixed(2)}× none; ${la}` });
    }
  }
  // Target summary at the largest common size.
  const at = (kind: Kind, n: number) => scenarios.find((s) => s.kind === kind && s.n === n && s.shape === "rules");
  const big = Math.max(...sizes);
  const tn = at("nft", big);
  const ln = at("linear", big);
  if (tn && ln) {
    const dT = Math.max(median(lat.get(tn)!) - bLat, 0);
    const dL = median(lat.get(ln)!) - bLat;
    const floor = Math.max(dT, bLat * 0.02);
    results.push({
      name: `linear Δ / tortie nft Δ at ${big.toLocaleString("en-US")} rules`,
      value: dL / floor,
      unit: "×",
      note: `tortie Δ ${dT.toFixed(1)} µs floored at 2 % of base (${(bLat * 0.02).toFixed(1)} µs, below the noise); target ≥ 20×`,
    });
  }
  results.unshift({ name: "no policy: latency p50 (RTT/2)", value: bLat, unit: "µs", note: `throughput ${bTput.toFixed(2)} Gbit/s; ${la}` });
  const extra = [
    `Per-packet cost, pod-a → pod-b on one node, conntrack off for lab traffic (every packet walks the policy). Median of ${reps} interleaved repetitions; sockperf ${latSec} s, iperf3 ${tputSec} s (+1 s omitted). Δ is latency minus no policy (RTT/2, so the average of both directions' extra cost). Load average during the run: ${la}. NETNS.md §5: differences below ~1.3× are within the noise on this machine.`,
    "",
    ...rows,
  ].join("\n");
  return { results, extra };
}
