/**
 * One full garbage collection, on purpose, when the agent has nothing else to do after its
 * initial load.
 *
 * Why: the initial load of a big cluster (100k pods / 75k policies: ~20 s of calculation, model
 * building and a cold kernel load) leaves gigabytes of garbage in V8's old generation, and V8
 * collects it only when the heap reaches a limit it set long before the load ended. That major
 * GC then lands in the first few hundred changes: ~0.7–1 s of marking on a ~1.5 GB heap, done in
 * steps on the main thread, spread over the changes running at the time (docs/performance.md,
 * twelfth session). Collected while idle, the next major GC is set by what the changes
 * themselves leave behind.
 *
 * Node exposes `gc()` only with --expose-gc; setting the flag at run time makes it available to
 * new contexts, which is how the function is obtained here without changing how the agent is
 * started. Where that is not possible, nothing happens.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let collect: (() => void) | null | undefined;

function gcFunction(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    const existing = (globalThis as { gc?: () => void }).gc;
    if (typeof existing === "function") return (collect = existing);
    setFlagsFromString("--expose-gc");
    const fn = runInNewContext("gc") as unknown;
    collect = typeof fn === "function" ? (fn as () => void) : null;
  } catch {
    collect = null;
  }
  return collect;
}

export interface HeapSettled {
  /** Wall time of the collection, ms. */
  ms: number;
  /** V8 heap used before and after, bytes. */
  before: number;
  after: number;
}

/** Runs a full collection now; undefined when no gc function could be had. */
export function settleHeap(): HeapSettled | undefined {
  const gc = gcFunction();
  if (!gc) return undefined;
  const before = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  gc();
  return { ms: performance.now() - t0, before, after: process.memoryUsage().heapUsed };
}
