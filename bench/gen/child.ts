/**
 * One measurement in a fresh process, so that peak RSS (process.resourceUsage().maxRSS) and heap
 * figures belong to that measurement alone. Run by the scale benches as
 *
 *   node --expose-gc --max-old-space-size=N --import tsx bench/gen/child.ts MODE '{json args}'
 *
 * and prints one JSON line on stdout. Progress goes to stderr.
 *   engine   generate, Cluster.fromResources (timed), explain × n (p50/p99), matrix (optional)
 *   memory   generate, feed a CalcGraph for node-0, flush, drop the generator's copy, heap used
 */
import { Cluster, endpointRef } from "../../src/engine/index.js";
import { CalcGraph } from "../../src/agent/calc/index.js";
import { generateCluster, rng } from "./cluster.js";

const gc = (globalThis as { gc?: () => void }).gc;
function collect(): void {
  if (gc) for (let i = 0; i < 3; i++) gc();
}
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;
const heapMiB = () => process.memoryUsage().heapUsed / 1024 / 1024;
function q(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

interface EngineArgs {
  pods: number;
  policies: number;
  seed?: number;
  explains?: number;
  matrix?: boolean;
}

/**
 * How fast this VM is at the moment of a run: a fixed workload whose code never changes (maps of
 * fresh texts, small objects that outlive a few scavenges, a numeric sort — the engine's kinds of
 * work), timed in the same fresh process just before the cluster is generated. The 2-core
 * development VM's speed drifts by a third within minutes; a full computation is read against
 * this figure of the same run. Deterministic; about a quarter of a second.
 */
function calibrate(): number {
  const t = process.hrtime.bigint();
  const texts = new Map<string, { i: number; text: string }>();
  for (let i = 0; i < 300_000; i++) {
    const text = ["k", String(i % 50_000), String((i * 7919) % 1000)].join("-");
    texts.set(text, { i, text });
  }
  const numbers = new Float64Array(1_000_000);
  let x = 1;
  for (let i = 0; i < numbers.length; i++) {
    x = (x * 48271) % 2147483647;
    numbers[i] = x;
  }
  numbers.sort();
  let sum = 0;
  for (const v of texts.values()) sum += v.i;
  if (sum < 0 || numbers[0]! < 0) throw new Error("unreachable"); // keeps the work observable
  return ms(t);
}

/**
 * The memory half of the calibration: 1.5M dependent loads over a 64 MiB array (a pointer chase
 * through one full cycle of an LCG, so neither the caches nor the prefetcher help). Lookups of
 * cold entries in large maps — much of the engine's time — wait on memory like this; calibrate's
 * mostly cache-resident work moved ~10 % where the engine moved ~20 %. Neither catches every slow
 * spell (docs/performance.md, sixteenth session).
 */
function calibrateMemory(): number {
  const size = 1 << 24;
  const next = new Int32Array(size);
  // x → (1664525·x + 1013904223) mod 2^24 has full period (Hull–Dobell): one cycle through all.
  for (let i = 0; i < size; i++) next[i] = (Math.imul(i, 1664525) + 1013904223) & (size - 1);
  const t = process.hrtime.bigint();
  let at = 0;
  for (let i = 0; i < 1_500_000; i++) at = next[at]!;
  const took = ms(t);
  if (at < 0) throw new Error("unreachable"); // keeps the chase observable
  return took;
}

function engine(a: EngineArgs): Record<string, unknown> {
  const calibrationMs = calibrate();
  const memoryCalibrationMs = calibrateMemory();
  collect();
  let g: ReturnType<typeof generateCluster> | null = generateCluster({ pods: a.pods, policies: a.policies, seed: a.seed ?? 1 });
  const resources = g.resources;
  const nResources = resources.length;
  g = null;
  collect();
  const rssInput = process.memoryUsage().rss / 1024 / 1024;
  const heapInput = heapMiB();
  const maxRssBefore = maxRssMiB();
  process.stderr.write(`  generated ${nResources} resources; building\n`);
  const t = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const cluster = Cluster.fromResources(resources);
  const buildMs = ms(t);
  const cpu = process.cpuUsage(cpu0);
  const buildCpuMs = (cpu.user + cpu.system) / 1000;
  const maxRssBuild = maxRssMiB();
  // Set members are computed on first read (engine lazySets). Every consumer that programs a
  // kernel or draws a matrix reads them, so the full computation includes reading them all.
  const tSets = process.hrtime.bigint();
  const cpuSets0 = process.cpuUsage();
  let members = 0;
  cluster.ir.sets.forEach((s) => (members += s.members?.length ?? 0));
  const setsMs = ms(tSets);
  const cpuSets = process.cpuUsage(cpuSets0);
  const setsCpuMs = (cpuSets.user + cpuSets.system) / 1000;
  const maxRssSets = maxRssMiB();
  collect();
  const heapAfter = heapMiB();
  const errors = cluster.issues.filter((i) => i.severity === "error").length;
  const out: Record<string, unknown> = {
    calibrationMs,
    memoryCalibrationMs,
    resources: nResources,
    endpoints: cluster.endpoints.length,
    sets: cluster.ir.sets.size,
    errors,
    buildMs,
    buildCpuMs,
    rssInputMiB: rssInput,
    maxRssBeforeMiB: maxRssBefore,
    maxRssMiB: maxRssBuild,
    setsMs,
    setsCpuMs,
    setMembers: members,
    maxRssWithSetsMiB: maxRssSets,
    heapInputMiB: heapInput,
    heapRetainedMiB: heapAfter - heapInput,
  };
  const n = a.explains ?? 0;
  if (n > 0) {
    process.stderr.write(`  built in ${buildMs.toFixed(0)} ms; ${n} explains\n`);
    const refs = cluster.endpoints.map(endpointRef);
    const rand = rng(7);
    const times: number[] = [];
    const warm = Math.min(100, n);
    for (let i = 0; i < n + warm; i++) {
      const from = refs[Math.floor(rand() * refs.length)]!;
      const to = refs[Math.floor(rand() * refs.length)]!;
      const t1 = process.hrtime.bigint();
      cluster.explain({ from, to, protocol: "TCP", port: 8080 });
      if (i >= warm) times.push(ms(t1));
    }
    out.explainP50 = q(times, 0.5);
    out.explainP99 = q(times, 0.99);
  }
  if (a.matrix) {
    process.stderr.write(`  matrix\n`);
    const t2 = process.hrtime.bigint();
    const c2 = process.cpuUsage();
    const m = cluster.matrix({ protocol: "TCP", port: 8080 });
    out.matrixMs = ms(t2);
    const c3 = process.cpuUsage(c2);
    out.matrixCpuMs = (c3.user + c3.system) / 1000;
    out.matrixClasses = m.classes;
  }
  out.maxRssEndMiB = maxRssMiB();
  return out;
}

interface MemoryArgs {
  pods: number;
  policies: number;
  seed?: number;
  /** Pods with the fields an API server adds (GenOptions.realisticPods). */
  realisticPods?: boolean;
}

function memory(a: MemoryArgs): Record<string, unknown> {
  collect();
  const heap0 = heapMiB();
  let g: ReturnType<typeof generateCluster> | null = generateCluster({ pods: a.pods, policies: a.policies, seed: a.seed ?? 1, realisticPods: a.realisticPods ?? false });
  const graph = new CalcGraph({ node: g.nodes[0]! });
  const t = process.hrtime.bigint();
  for (const r of g.resources) graph.onUpdate({ type: "put", resource: r });
  const f = graph.flush();
  const loadMs = ms(t);
  const stats = graph.stats();
  g = null;
  collect();
  const heap1 = heapMiB();
  return { loadMs, heapMiB: heap1 - heap0, maxRssMiB: maxRssMiB(), stats, localEndpoints: f.ir.endpoints.length };
}

const [mode, json] = process.argv.slice(2);
const args = JSON.parse(json ?? "{}");
let result: Record<string, unknown>;
if (mode === "engine") result = engine(args as EngineArgs);
else if (mode === "memory") result = memory(args as MemoryArgs);
else throw new Error(`unknown mode ${mode}`);
process.stdout.write(JSON.stringify(result) + "\n");
