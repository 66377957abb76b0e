/**
 * Policy engine: build, explain and matrix on a synthetic cluster of 1,000 pods (≈140 deployments)
 * and 500 policies (bench/gen/cluster.ts, fixed seed; the same generator as the scale benches).
 * Targets (issue): one explain ≤ 5 ms; the full matrix ≤ 1 s.
 *
 * Figures are process CPU time (user + system, which includes V8's GC threads), best of 3 where
 * repeated: on a shared machine wall-clock time mostly measures the neighbours. Explain latencies
 * are wall-clock per call (too short for CPU accounting); their tail includes GC pauses.
 */
import { Cluster, endpointRef } from "../src/engine/index.js";
import { generateCluster, rng } from "./gen/cluster.js";
import type { BenchResult } from "./types.js";

function cpuMs<T>(f: () => T): { ms: number; value: T } {
  const u = process.cpuUsage();
  const value = f();
  const d = process.cpuUsage(u);
  return { ms: (d.user + d.system) / 1000, value };
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export async function run(): Promise<BenchResult[]> {
  const { resources } = generateCluster({ pods: 1000, policies: 500 });
  const note = "1,000 pods, 500 policies";

  let build = Infinity;
  let cluster!: Cluster;
  for (let i = 0; i < 3; i++) {
    const r = cpuMs(() => Cluster.fromResources(resources));
    build = Math.min(build, r.ms);
    cluster = r.value;
  }
  const errors = cluster.issues.filter((i) => i.severity === "error");
  if (errors.length > 0) throw new Error(`synthetic cluster has errors: ${errors[0]!.message}`);

  // Explain: 2,000 random endpoint pairs with full trace, after 200 warm-up calls.
  const refs = cluster.endpoints.map(endpointRef);
  const rand = rng(7);
  const pairs = Array.from({ length: 2200 }, () => [refs[Math.floor(rand() * refs.length)]!, refs[Math.floor(rand() * refs.length)]!] as const);
  const times: number[] = [];
  let allowed = 0;
  const all = cpuMs(() =>
    pairs.forEach(([from, to], i) => {
      const t = process.hrtime.bigint();
      const e = cluster.explain({ from, to, protocol: "TCP", port: 8080 });
      const dt = Number(process.hrtime.bigint() - t) / 1e6;
      if (i >= 200) times.push(dt);
      if (e.verdict === "allow") allowed++;
    }),
  );

  let matrix = Infinity;
  let classes = 0;
  let cells = 0;
  for (let i = 0; i < 3; i++) {
    const r = cpuMs(() => cluster.matrix({ protocol: "TCP", port: 8080 }));
    matrix = Math.min(matrix, r.ms);
    classes = r.value.classes;
    cells = r.value.allowed + r.value.denied;
  }

  return [
    { name: "engine: build ClusterIR", value: build, unit: "ms CPU", note: `${note}; ${cluster.ir.sets.size} sets` },
    { name: "engine: explain (mean)", value: all.ms / pairs.length, unit: "ms CPU", note: `${note}; full trace; target ≤ 5 ms` },
    { name: "engine: explain (median)", value: quantile(times, 0.5), unit: "ms wall", note: `${allowed}/${pairs.length} allowed` },
    { name: "engine: explain (p99)", value: quantile(times, 0.99), unit: "ms wall", note: "tail = GC pauses / other processes" },
    { name: "engine: matrix TCP/8080", value: matrix, unit: "ms CPU", note: `${cells.toLocaleString("en-US")} pairs, ${classes} classes; target ≤ 1 s` },
  ];
}
