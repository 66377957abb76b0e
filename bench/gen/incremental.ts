/**
 * Incremental path of one agent, in its own process (run by incremental.bench.ts):
 *
 *   cluster from bench/gen (+ one GlobalNetworkPolicy that admits every pod to node-0's frontends,
 *   so node-0 holds one set with every pod address: the "100k members" set)
 *   CalcGraph(node-0) ← every resource; flush          → initial computation
 *   DataplaneBuilder.build(local IR)                   → node model (kept between changes)
 *   Applier(nft, fresh namespace).apply(model)         → cold load
 *   then, per change kind, K changes, each:
 *     onUpdate → flush → DataplaneBuilder.build → diffModels = "computed"
 *     → Applier.apply (one atomic nft batch)           = "enforced"
 *
 * Last, iptables+ipset in a namespace of its own: cold load of the model as it is then, and pod adds.
 * Change kinds: remote pod add; remote pod delete (the added ones); remote pod label change (app → another app); policy add (a
 * Calico NetworkPolicy selecting a local app); policy change (a port of such a policy).
 * Prints one JSON line: per kind p50/p99 of computed and enforced, cold loads, apply-only times.
 * Without root the kernel parts are skipped (computed only).
 */
import { CalcGraph, type CalcUpdate } from "../../src/agent/calc/index.js";
import { Applier, IptablesKernel, iptablesBackend, NftKernel, nftBackend } from "../../src/apply/index.js";
import { buildDataplane, DataplaneBuilder, diffModels, kernelView, type DataplaneModel } from "../../src/dataplane/index.js";
import type { Resource } from "../../src/model/index.js";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../../src/netns/index.js";
import { generateCluster, podIP, rng } from "./cluster.js";
import { gcPauseLog, type TailShare, tailShares } from "./gc-pauses.js";

interface Args {
  pods: number;
  policies: number;
  changes: number;
  /** Seconds per change kind; stops early (after ≥ 5 changes) when exceeded. */
  budgetSec: number;
  /** Pod adds also applied to the iptables+ipset backend. */
  iptUpdates?: number;
  kernel: boolean;
  /** nft rule changes as netlink messages (NftKernel netlinkRules; default on): off to compare. */
  netlinkRules?: boolean;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;
function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}
const log = (m: string) => process.stderr.write(`  ${m}\n`);
const logSlowMs = process.env.BENCH_LOG_SLOW ? Number(process.env.BENCH_LOG_SLOW) : undefined;

/** Remote pods kept for the changes after the initial load (see main). */
const REMOTE_SAMPLE = 5_000;

type Pod = Resource & { metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: { nodeName: string } };

async function main(a: Args): Promise<Record<string, unknown>> {
  // The generated cluster is dropped after the initial load: an agent does not hold the API
  // server's objects (the graph keeps what it needs of them), and a bench process that kept all
  // 100k pods gave V8 ~100 MB more to mark in every major GC. The changes draw on a sample.
  let g: ReturnType<typeof generateCluster> | null = generateCluster({ pods: a.pods, policies: a.policies, seed: 1 });
  const nodes = g.nodes;
  const node = nodes[0]!;
  const allPods = g.resources.filter((r) => r.kind === "Pod") as Pod[];
  const local = allPods.filter((p) => p.spec.nodeName === node);
  const remoteAll = allPods.filter((p) => p.spec.nodeName !== node);
  /** Remote pods the changes start from: templates of adds, pods whose labels change. */
  const remote = remoteAll.filter((_, i) => i % Math.max(1, Math.floor(remoteAll.length / REMOTE_SAMPLE)) === 0);
  const appsByNs = new Map<string, string[]>();
  for (const p of allPods) {
    const l = appsByNs.get(p.metadata.namespace) ?? [];
    if (!l.includes(p.metadata.labels.app!)) l.push(p.metadata.labels.app!);
    appsByNs.set(p.metadata.namespace, l);
  }
  allPods.length = 0;
  remoteAll.length = 0;
  const bigSet = {
    apiVersion: "projectcalico.org/v3",
    kind: "GlobalNetworkPolicy",
    metadata: { name: "bench-cluster-wide" },
    spec: { order: 5, selector: "tier == 'frontend'", types: ["Ingress"], ingress: [{ action: "Allow", protocol: "TCP", source: { selector: "has(app)" }, destination: { ports: [8080] } }] },
  } as unknown as Resource;

  const gcPauses = gcPauseLog();
  const graph = new CalcGraph({ node });
  let t = now();
  for (const r of g.resources) graph.onUpdate({ type: "put", resource: r });
  g = null;
  graph.onUpdate({ type: "put", resource: bigSet });
  let ir = graph.flush().ir;
  const initialCalcMs = now() - t;
  t = now();
  const dp = new DataplaneBuilder(node);
  let model = dp.build(ir);
  const initialBuildMs = now() - t;
  // What the agent does in idle time after programming its first snapshot (agent.ts
  // scheduleWarmup): make the sets' patching indexes, so that no measured change pays for one.
  t = now();
  dp.prepareForChanges(Infinity);
  const prepareMs = now() - t;
  const members = Math.max(...model.sets.valueList().map((s) => s.elements.length));
  // The plain address set of `has(app)` (every pod): what a pod add changes by one element.
  const addrMembers = Math.max(0, ...model.sets.valueList().filter((s) => s.fields.length === 1).map((s) => s.elements.length));
  log(`initial: calc ${initialCalcMs.toFixed(0)} ms, model ${initialBuildMs.toFixed(0)} ms, ${local.length} local pods, ${model.sets.size} sets, largest ${members} members`);
  const elements = model.sets.valueList().reduce((n, s) => n + s.elements.length, 0);
  const concatElements = model.sets.valueList().filter((s) => s.fields.length > 1).reduce((n, s) => n + s.elements.length, 0);
  const rules = model.chains.valueList().reduce((n, c) => n + c.rules.length, 0);
  log(`node state: ${model.sets.size} sets, ${elements} elements (${concatElements} in concatenations), ${model.chains.size} chains, ${rules} rules`);
  // What the nft applier programs: the kernel view (no empty sets, no interval sets).
  const view = kernelView(model, nftBackend().kernelView);
  const viewRules = view.chains.valueList().reduce((n, c) => n + c.rules.length, 0);
  log(`kernel view (nft): ${view.sets.size} sets, ${view.chains.size} chains, ${viewRules} rules`);
  const out: Record<string, unknown> = {
    viewSets: view.sets.size,
    viewIntervalSets: model.sets.valueList().filter((s) => s.interval && s.elements.length > 0).length,
    viewRules,
    initialCalcMs,
    initialBuildMs,
    prepareMs,
    localPods: local.length,
    sets: model.sets.size,
    elements,
    concatElements,
    chains: model.chains.size,
    rules,
    largestSet: members,
    addrSetMembers: addrMembers,
    stats: graph.stats(),
  };

  const kernel = a.kernel && canUseNetns();
  const namespaces: string[] = [];
  try {
    let applier: Applier | undefined;
    if (kernel) {
      const ns = uniqueName("tbi");
      namespaces.push(ns);
      await createNamespace(ns);
      applier = new Applier(new NftKernel({ netns: ns, timeoutMs: 300_000, ...(a.netlinkRules === false ? { netlinkRules: false } : {}) }), { backend: nftBackend(), retry: { maxAttempts: 1 } });
      t = now();
      await applier.apply(model);
      out.coldLoadNftMs = now() - t;
      log(`cold load nft ${Number(out.coldLoadNftMs).toFixed(0)} ms`);
    }

    const rand = rng(99);
    const localApps = [...new Set(local.map((p) => p.metadata.labels.app!))];
    let podSeq = 0;
    const localNs = new Map(local.map((p) => [p.metadata.labels.app!, p.metadata.namespace]));
    const addedPolicies: Resource[] = [];
    const addedPods: Resource[] = [];

    const kinds: Record<string, () => CalcUpdate> = {
      "pod add": () => {
        const tmpl = remote[Math.floor(rand() * remote.length)]!;
        const i = podSeq++;
        const ip = podIP(a.pods + i);
        const p = structuredClone(tmpl) as Pod & { status: Record<string, unknown> };
        p.metadata.name = `added-${i}`;
        p.spec.nodeName = nodes[1 + (i % Math.max(1, nodes.length - 1))] ?? "node-x";
        p.status = { phase: "Running", podIP: ip, podIPs: [{ ip }] };
        addedPods.push(p);
        return { type: "put", resource: p };
      },
      // The pods the adds made, newest first; then original remote pods (dropped from `remote`
      // so that label changes do not bring them back).
      "pod delete": () => {
        const p = addedPods.pop() ?? remote.splice(Math.floor(rand() * remote.length), 1)[0]!;
        return { type: "delete", resource: p };
      },
      "pod label change": () => {
        const p = structuredClone(remote[Math.floor(rand() * remote.length)]!);
        const apps = appsByNs.get(p.metadata.namespace)!;
        p.metadata.labels = { ...p.metadata.labels, app: apps[Math.floor(rand() * apps.length)]!, version: rand() < 0.5 ? "v1" : "v2" };
        return { type: "put", resource: p };
      },
      "policy add": () => {
        const app = localApps[Math.floor(rand() * localApps.length)]!;
        const i = addedPolicies.length;
        const pol = {
          apiVersion: "projectcalico.org/v3",
          kind: "NetworkPolicy",
          metadata: { name: `bench-add-${i}`, namespace: localNs.get(app)! },
          spec: { order: 500, selector: `app == '${app}'`, types: ["Ingress"], ingress: [{ action: "Allow", protocol: "TCP", source: { selector: `tier == 'backend'` }, destination: { ports: [10000 + (i % 1000)] } }] },
        } as unknown as Resource;
        addedPolicies.push(pol);
        return { type: "put", resource: pol };
      },
      "policy change": () => {
        const pol = structuredClone(addedPolicies[Math.floor(rand() * addedPolicies.length)]!) as unknown as { spec: { ingress: Array<{ destination: { ports: number[] } }> } };
        pol.spec.ingress[0]!.destination.ports = [20000 + Math.floor(rand() * 1000)];
        return { type: "put", resource: pol as unknown as Resource };
      },
    };

    for (const [kind, make] of Object.entries(kinds)) {
      const computed: number[] = [];
      const calcOnly: number[] = [];
      const modelOnly: number[] = [];
      const enforced: number[] = [];
      const applyOnly: number[] = [];
      /** Per change: its window on performance.now()'s clock, for GC attribution. */
      const windows: Array<{ start: number; end: number }> = [];
      let opsTotal = 0;
      log(`${a.changes} × ${kind} (at most ${a.budgetSec} s)`);
      const deadline = now() + a.budgetSec * 1000;
      const setsBefore = graph.stats().setUpdates;
      let i = 0;
      for (; i < a.changes && (i < 5 || now() < deadline); i++) {
        const u = make();
        const w0 = performance.now();
        const t0 = now();
        graph.onUpdate(u);
        const f = graph.flush();
        const tc = now();
        let next: DataplaneModel = model;
        if (f.changed) {
          ir = f.ir;
          next = dp.build(ir);
        }
        const tm = now();
        const ops = diffModels(model, next);
        const t1 = now();
        computed.push(t1 - t0);
        calcOnly.push(tc - t0);
        modelOnly.push(tm - tc);
        opsTotal += ops.length;
        if (applier) {
          await applier.apply(next);
          const t2 = now();
          enforced.push(t2 - t0);
          applyOnly.push(t2 - t1);
        }
        windows.push({ start: w0, end: performance.now() });
        // BENCH_LOG_SLOW=<ms>: each slower change with its stages and its window on the clock
        // that --trace-gc also uses (ms since the process started), to line it up with GC events.
        if (logSlowMs !== undefined && computed[computed.length - 1]! + (applyOnly[applyOnly.length - 1] ?? 0) > logSlowMs) {
          log(`slow ${kind} #${i}: calc ${(tc - t0).toFixed(1)} model ${(tm - tc).toFixed(1)} diff ${(t1 - tm).toFixed(1)} apply ${(applyOnly[applyOnly.length - 1] ?? 0).toFixed(1)} ms, at ${w0.toFixed(0)}–${performance.now().toFixed(0)} ms`);
        }
        model = next;
        if (i > 0 && i % 100 === 0) log(`  ${kind}: ${i}/${a.changes}`);
      }
      out[kind] = {
        n: i,
        computedP50: q(computed, 0.5),
        computedP99: q(computed, 0.99),
        calcP50: q(calcOnly, 0.5),
        modelP50: q(modelOnly, 0.5),
        ...(applier ? { enforcedP50: q(enforced, 0.5), enforcedP99: q(enforced, 0.99), applyP50: q(applyOnly, 0.5), applyP99: q(applyOnly, 0.99) } : {}),
        opsPerChange: opsTotal / Math.max(1, i),
        // What the slowest 1 % of changes were made of: GC pauses of this process inside them,
        // the kernel apply (nft), and the rest (JavaScript of the calculation and model).
        tail: tailShares(applier ? enforced : computed, applier ? applyOnly : undefined, windows, await gcPauses.settled()) satisfies TailShare,
        setUpdates: (({ patched, recomputed }) => ({ patched: patched - setsBefore.patched, recomputed: recomputed - setsBefore.recomputed }))(graph.stats().setUpdates),
      };
    }
    // iptables+ipset, after the nft phases so that its state (the ipset form of every set) does not
    // weigh on their heap, as it would not in an agent running one backend: a cold load of the
    // current model, then pod adds (the ipset of every pod gets one member each time).
    if (kernel && (a.iptUpdates ?? 20) > 0) {
      const ns2 = uniqueName("tbi");
      namespaces.push(ns2);
      await createNamespace(ns2);
      const iptKernel = new IptablesKernel({ netns: ns2, timeoutMs: 300_000 });
      const ipt = new Applier(iptKernel, { backend: iptablesBackend(), retry: { maxAttempts: 1 } });
      t = now();
      await ipt.apply(model);
      out.coldLoadIptMs = now() - t;
      log(`cold load iptables+ipset ${Number(out.coldLoadIptMs).toFixed(0)} ms`);
      const iptApply: number[] = [];
      for (let i = 0; i < (a.iptUpdates ?? 20); i++) {
        graph.onUpdate(kinds["pod add"]!());
        const f = graph.flush();
        ir = f.ir;
        const next = dp.build(ir);
        await applier?.apply(next);
        const t3 = now();
        await ipt.apply(next);
        iptApply.push(now() - t3);
        model = next;
      }
      out.iptUpdate = { p50: q(iptApply, 0.5), p99: q(iptApply, 0.99), n: iptApply.length, relayed: iptKernel.netlinkStatus().batches };
      await ipt.remove();
      await iptKernel.close();
    }
    // The incremental model must be the from-scratch model of the same IR (tests prove it on small
    // sequences; this checks the bench's long one).
    const scratch = buildDataplane(ir, node);
    if (JSON.stringify(scratch) !== JSON.stringify(model)) throw new Error("incremental model differs from buildDataplane of the same IR");
    log("incremental model equals the from-scratch model after all changes");
    if (applier) await applier.remove();
  } finally {
    for (const ns of namespaces) await deleteNamespace(ns);
  }
  gcPauses.stop();
  out.kernel = kernel;
  out.maxRssMiB = process.resourceUsage().maxRSS / 1024;
  return out;
}

const args = JSON.parse(process.argv[3] ?? "{}") as Args;
main(args).then(
  (r) => process.stdout.write(JSON.stringify(r) + "\n"),
  (e) => {
    process.stderr.write(String((e as Error).stack ?? e) + "\n");
    process.exit(1);
  },
);
