/**
 * The applier keeps two models: `desired` (last handed to apply()) and `programmed` (what the
 * kernel holds as far as we know; null = unknown). apply(desired) sends ONE atomic batch:
 *
 *   programmed unknown → full replace of our table;
 *   otherwise          → the diff (dataplane/diff.ts) programmed → desired, or nothing if equal.
 *
 * What is sent is the kernel view of each model (dataplane/kernel-view.ts: no empty sets, no rule
 * that can only match through one); diffs and drift checks compare views.
 *
 * Rule edits: a backend with `edits` (nftables) turns the diff into one transaction that edits
 * changed chains rule by rule where that is cheaper, and renames a chain replaced by another
 * (render/nft/rule-edits.ts). It learns rule handles from the listings of drift checks that find
 * the kernel in sync. Whenever `programmed` is forgotten, so are the handles.
 *
 * Failures: the kernel applies a batch all-or-nothing, so a failed batch leaves the kernel as it
 * was. A failed delta may still mean our picture is wrong (someone changed the table), so the
 * retry after a failed delta is a full replace. Retries back off exponentially (with jitter) up to
 * `maxAttempts`; then apply() throws ApplyError and the next call starts with a full replace.
 *
 * Drift: checkDrift() lists the table and compares it with what `programmed` says (rule content
 * hashes in comments, set and map elements). Any difference — a flushed table, a deleted element,
 * a foreign rule — triggers a full resync of `desired` (unless told not to).
 *
 * Calls are serialised: apply/checkDrift/resync never overlap, in call order.
 */
import { diffModels, KernelViewer, summarizeOps, type DataplaneModel, type DpOp } from "../dataplane/index.js";
import { isKernelError, KernelError } from "../kernel/index.js";
import { nftBackend, type Backend, type DeltaStep } from "./backend.js";
import type { Kernel } from "./kernel.js";

export class ApplyError extends Error {
  override readonly name = "ApplyError";
  readonly code = "APPLY_FAILED";
  constructor(
    message: string,
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(message);
  }
}

export interface RetryPolicy {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** 0..1: each delay is multiplied by a random factor in [1 − jitter, 1]. */
  jitter: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, initialDelayMs: 50, maxDelayMs: 5_000, jitter: 0.2 };

export type ApplierEvent =
  | { kind: "applied"; mode: "full" | "delta"; ops: number; summary: string; attempt: number; ms: number }
  | { kind: "apply-failed"; mode: "full" | "delta"; attempt: number; error: string; code: string; retryInMs: number | null }
  | { kind: "drift"; differences: string[] }
  | { kind: "drift-check-failed"; error: string };

export interface ApplierOptions {
  backend?: Backend;
  retry?: Partial<RetryPolicy>;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onEvent?: (e: ApplierEvent) => void;
}

export interface ApplyResult {
  mode: "noop" | "delta" | "full";
  /** Number of dataplane operations (delta) or 0. */
  ops: number;
  attempts: number;
  summary: string;
}

export interface DriftReport {
  /** Differences found (empty = in sync or nothing programmed yet). */
  differences: string[];
  resynced: boolean;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A delta whose operations delete and re-create the same object cannot be one nft batch in the
 *  order renderers use; such (rare) changes go out as a full replace. */
function needsFull(ops: DpOp[]): boolean {
  const deleted = new Set<string>();
  for (const o of ops) if (o.op === "delete-set" || o.op === "delete-map" || o.op === "delete-chain") deleted.add(o.name);
  return ops.some(
    (o) => (o.op === "add-set" && deleted.has(o.set.name)) || (o.op === "add-map" && deleted.has(o.map.name)) || (o.op === "add-chain" && deleted.has(o.chain.name)),
  );
}

export class Applier {
  private readonly backend: Backend;
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly onEvent: (e: ApplierEvent) => void;
  private desiredModel: DataplaneModel | null = null;
  private programmedModel: DataplaneModel | null = null;
  /** What the kernel holds: the kernel view (dataplane/kernel-view.ts) of programmedModel. */
  private programmedView: DataplaneModel | null = null;
  private readonly viewer: KernelViewer;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly kernel: Kernel,
    opts: ApplierOptions = {},
  ) {
    this.backend = opts.backend ?? nftBackend();
    this.viewer = new KernelViewer(this.backend.kernelView);
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.sleep = opts.sleep ?? realSleep;
    this.random = opts.random ?? Math.random;
    this.onEvent = opts.onEvent ?? (() => {});
  }

  /** What the kernel holds as far as the applier knows (null: unknown, next apply is full). */
  get programmed(): DataplaneModel | null {
    return this.programmedModel;
  }

  get desired(): DataplaneModel | null {
    return this.desiredModel;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Programs `desired` with one atomic batch (retried); see the file comment. */
  apply(desired: DataplaneModel): Promise<ApplyResult> {
    return this.serial(() => this.applyNow(desired));
  }

  /** Forgets what is programmed and replaces the whole table with the desired model. */
  resync(): Promise<ApplyResult | null> {
    return this.serial(async () => {
      this.forgetProgrammed();
      return this.desiredModel ? this.applyNow(this.desiredModel) : null;
    });
  }

  /** Removes tortie's table from the kernel. */
  remove(): Promise<void> {
    return this.serial(async () => {
      await this.kernel.apply(this.backend.remove());
      this.forgetProgrammed();
      this.desiredModel = null;
    });
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.retry.maxDelayMs, this.retry.initialDelayMs * 2 ** (attempt - 1));
    return Math.round(base * (1 - this.retry.jitter * this.random()));
  }

  private forgetProgrammed(): void {
    this.programmedModel = null;
    this.programmedView = null;
    this.backend.edits?.forget();
  }

  /** A delta as the transaction to send (with rule edits, or the backend's plain delta). */
  private deltaStep(ops: DpOp[], to: DataplaneModel, from: DataplaneModel): DeltaStep {
    const edits = this.backend.edits;
    return edits ? edits.plan(ops, to, from) : { batch: this.backend.delta(ops, to, from), learn: () => {} };
  }

  private async applyNow(desired: DataplaneModel): Promise<ApplyResult> {
    this.desiredModel = desired;
    // The kernel gets the view, not the model: same verdicts, fewer kernel objects.
    const view = this.viewer.view(desired);
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.retry.maxAttempts; attempt++) {
      const from = this.programmedView;
      let mode: "full" | "delta";
      let step: DeltaStep;
      let ops: DpOp[] = [];
      const fullStep = (): DeltaStep => {
        this.backend.edits?.forget();
        return { batch: this.backend.full(view), learn: () => {} };
      };
      const t0 = Date.now();
      if (from === null) {
        mode = "full";
        step = fullStep();
      } else {
        ops = diffModels(from, view);
        if (ops.length === 0) return { mode: "noop", ops: 0, attempts: attempt, summary: "" };
        if (needsFull(ops)) {
          mode = "full";
          step = fullStep();
        } else {
          mode = "delta";
          step = this.deltaStep(ops, view, from);
        }
      }
      try {
        await this.kernel.apply(step.batch);
        step.learn();
        this.programmedModel = desired;
        this.programmedView = view;
        const summary = mode === "full" ? "full replace" : summarizeOps(ops);
        this.onEvent({ kind: "applied", mode, ops: ops.length, summary, attempt, ms: Date.now() - t0 });
        return { mode, ops: ops.length, attempts: attempt, summary };
      } catch (e) {
        if (!isKernelError(e)) throw e; // a bug (e.g. in a renderer), not a kernel condition
        lastError = e;
        // The batch was not applied, but our picture of the kernel may be wrong: start over.
        this.forgetProgrammed();
        const retryInMs = attempt < this.retry.maxAttempts ? this.backoff(attempt) : null;
        this.onEvent({ kind: "apply-failed", mode, attempt, error: e.message, code: e.code, retryInMs });
        if (retryInMs !== null) await this.sleep(retryInMs);
      }
    }
    throw new ApplyError(`applying the dataplane failed after ${this.retry.maxAttempts} attempts: ${(lastError as Error)?.message}`, this.retry.maxAttempts, lastError);
  }

  /**
   * Compares the kernel with what was programmed. On a difference the table is replaced with the
   * desired model (resync) unless `resync` is false. Listing errors are reported, not thrown.
   */
  checkDrift(opts: { resync?: boolean } = {}): Promise<DriftReport> {
    return this.serial(async () => {
      const programmed = this.programmedModel;
      const programmedView = this.programmedView;
      if (!programmed || !programmedView) return { differences: [], resynced: false };
      let listing: unknown;
      try {
        listing = await this.kernel.list();
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        this.onEvent({ kind: "drift-check-failed", error: e.message });
        return { differences: [], resynced: false };
      }
      const differences = this.backend.compare(this.backend.expected(programmedView), this.backend.parse(listing));
      if (differences.length === 0) {
        // In sync: the listing (with handles) teaches the rules' handles.
        this.backend.edits?.learnListing(listing, programmedView);
        return { differences, resynced: false };
      }
      this.onEvent({ kind: "drift", differences });
      if (opts.resync === false) return { differences, resynced: false };
      this.forgetProgrammed();
      await this.applyNow(this.desiredModel ?? programmed);
      return { differences, resynced: true };
    });
  }

  /** Stops drift checks and releases the kernel's long-lived helpers (after pending calls). */
  close(): Promise<void> {
    this.stopDriftChecks();
    return this.serial(async () => {
      await this.kernel.close?.();
    });
  }

  /** Runs checkDrift every `intervalMs` (the timer does not keep the process alive). */
  startDriftChecks(intervalMs: number): void {
    this.stopDriftChecks();
    this.timer = setInterval(() => {
      this.checkDrift().catch(() => undefined);
    }, intervalMs);
    this.timer.unref();
  }

  stopDriftChecks(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
