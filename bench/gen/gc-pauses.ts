/**
 * GC pauses of this process, for attributing latency tails (incremental bench): a change whose
 * window holds a major GC pause is slow for a reason the change did not cause.
 *
 * What it cannot see: V8's incremental marking. A major GC of a big heap marks in small steps
 * run inside JavaScript (and on helper threads, which compete for the same cores) for seconds
 * before its final pause, and only that pause is reported. At 100k pods, changes around one
 * major GC of a ~1.5 GB heap ran 2–5× slower while the pause itself was ~50 ms (`--trace-gc`:
 * 329 ms of marking steps over 2.7 s).
 */
import { PerformanceObserver } from "node:perf_hooks";

export interface Pause {
  start: number;
  end: number;
}

export interface GcPauseLog {
  /** Every pause observed so far, once the observer's queued entries have been delivered. */
  settled(): Promise<readonly Pause[]>;
  stop(): void;
}

export function gcPauseLog(): GcPauseLog {
  const pauses: Pause[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push({ start: e.startTime, end: e.startTime + e.duration });
  });
  obs.observe({ entryTypes: ["gc"] });
  return {
    // Entries reach the observer asynchronously, after a timer turn (not after setImmediate:
    // measured on Node 20); two turns leave margin.
    settled: () => new Promise((resolve) => setTimeout(() => setTimeout(() => resolve(pauses), 0), 0)),
    stop: () => obs.disconnect(),
  };
}

/** Milliseconds of `pauses` inside [start, end]. */
export function pauseWithin(pauses: readonly Pause[], start: number, end: number): number {
  let ms = 0;
  for (const p of pauses) {
    const a = Math.max(p.start, start);
    const b = Math.min(p.end, end);
    if (b > a) ms += b - a;
  }
  return ms;
}

export interface TailShare {
  /** How many changes the tail holds: the slowest 1 %, at least one. */
  n: number;
  /** Their positions in the run (0 = the first change of its kind), slowest first. */
  at: number[];
  /** Means over the tail's changes, ms. */
  totalMs: number;
  gcMs: number;
  applyMs?: number;
}

/** Mean composition of the slowest 1 % of changes by `total`. */
export function tailShares(total: readonly number[], apply: readonly number[] | undefined, windows: readonly Pause[], pauses: readonly Pause[]): TailShare {
  const order = total.map((_, i) => i).sort((a, b) => total[b]! - total[a]!);
  const tail = order.slice(0, Math.max(1, Math.ceil(total.length / 100)));
  const mean = (f: (i: number) => number) => tail.reduce((s, i) => s + f(i), 0) / Math.max(1, tail.length);
  return {
    n: tail.length,
    at: tail,
    totalMs: mean((i) => total[i]!),
    gcMs: mean((i) => pauseWithin(pauses, windows[i]!.start, windows[i]!.end)),
    ...(apply ? { applyMs: mean((i) => apply[i]!) } : {}),
  };
}
