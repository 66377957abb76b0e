/**
 * The node agent's main loop:
 *
 *   open store (retry with backoff) ─▶ watch (snapshot, then ordered changes; the store resumes
 *   from its last revision after a disconnect and resends a snapshot when it fell behind)
 *     ─▶ CalcGraph (only what concerns this node) ─ coalesce a few ms ─▶ flush
 *     ─▶ DataplaneBuilder.build(local IR) (rebuilds only the pieces the flush changed)
 *     ─▶ Applier.apply (minimal atomic batch vs what it programmed)
 *
 * Fail-static: the agent never removes or flushes its rules on its own. Before the first snapshot
 * is computed the kernel keeps whatever an earlier run programmed; when the datastore goes away the
 * last programmed state stays enforced; when a batch fails after the applier's retries, the kernel
 * keeps its previous state and the agent tries again later (full replace). Stopping the agent
 * (SIGTERM) leaves the kernel as it is; only `tortie agent --cleanup` (cleanup()) removes it.
 *
 * Readiness: the first snapshot has been programmed. Health: the loop is running.
 */
import type { Logger } from "pino";
import { Applier, nftBackend, type Backend, type Kernel } from "../apply/index.js";
import { DataplaneBuilder, flowLogResolver, modelCounts, type DataplaneConfig, type DataplaneModel, type LogEntry } from "../dataplane/index.js";
import type { Store, Watch, WatchEvent, WatchOptions, WatchStatus } from "../datastore/index.js";
import type { ClusterOptions } from "../engine/index.js";
import { isKernelError } from "../kernel/index.js";
import { CalcGraph } from "./calc/index.js";
import { toFlowLogLine, type NflogRecord } from "../flowlog/index.js";
import type { FlowLogWriter, FlowRecord } from "./flow-log-file.js";
import { AgentMetrics } from "./metrics.js";

/** A reader of the NFLOG group the rules log to, run inside the node's network namespace
 *  (src/flowlog's UlogdReader in production). */
export interface FlowSource {
  start(onRecord: (r: NflogRecord) => void): Promise<void>;
  stop(): Promise<void>;
}

const WARMUP_SLICE_MS = 5;

export interface AgentOptions {
  node: string;
  /** Opens the datastore; called again with backoff until it succeeds. */
  openStore: () => Promise<Store>;
  /** Passed to Store.watch (e.g. the embedded store's poll interval). */
  watchOptions?: Omit<WatchOptions, "onStatus">;
  kernel: Kernel;
  backend?: Backend;
  logger: Logger;
  dataplane?: Partial<DataplaneConfig>;
  cluster?: ClusterOptions;
  /** Changes arriving within this window are programmed together (default 5 ms). */
  coalesceMs?: number;
  /** Compare the kernel with what was programmed this often and repair it (0 = never; default 60 s). */
  driftCheckIntervalMs?: number;
  /** After a failed programming round, try again after this long (default 5 s). */
  applyRetryMs?: number;
  /** Backoff for opening the datastore (default 100 ms doubling to 10 s). */
  openBackoff?: { initialMs: number; maxMs: number };
  metrics?: AgentMetrics;
  /** NFLOG reader; its records are named after the rule and endpoint behind them (the models' log
   *  index) and written to `flowLog`. */
  flowSource?: FlowSource;
  flowLog?: FlowLogWriter;
}

export interface AgentStatus {
  node: string;
  ready: boolean;
  datastore: { connected: boolean; revision: number; location: string | undefined; error?: string };
  lastApply: { at: string; mode: string; ms: number } | undefined;
  lastError: string | undefined;
  pendingChanges: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Agent {
  readonly node: string;
  readonly metrics: AgentMetrics;
  readonly calc: CalcGraph;
  readonly applier: Applier;
  /** The node's model, kept between flushes (equal to buildDataplane of the local IR). */
  readonly dataplane: DataplaneBuilder;
  private readonly log: Logger;
  private readonly opts: AgentOptions;
  private readonly dpConfig: Partial<DataplaneConfig>;
  private store: Store | undefined;
  private watch: Watch | undefined;
  private stopped = false;
  private started: Promise<void> | undefined;

  // loop state
  private timer: NodeJS.Timeout | undefined;
  /** Pending slice of idle-time preparation (DataplaneBuilder.prepareForChanges). */
  private warmup: NodeJS.Immediate | undefined;
  private running: Promise<void> | undefined;
  /** Receipt times of changes not yet programmed. */
  private pending: number[] = [];
  private snapshotSeen = false;
  private readyFlag = false;
  /** The relay-unavailable warning is logged once. */
  private netlinkWarned = false;
  private needApply = false;
  private connected = false;
  private revision = 0;
  private lastApplyInfo: AgentStatus["lastApply"];
  private lastErrorText: string | undefined;
  private datastoreError: string | undefined;
  private desired: DataplaneModel | undefined;
  private readonly readyWaiters: Array<() => void> = [];
  /** NFLOG prefix → meaning, from every model built so far (a record may arrive after the rule
   *  that produced it was replaced; prefixes encode their origin, so old entries stay true). */
  private readonly logIndex = new Map<string, LogEntry>();
  private resolver: ReturnType<typeof flowLogResolver> | undefined;
  /** Ends the wait before a retry (stop()). */
  private wake: (() => void) | undefined;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.node = opts.node;
    this.log = opts.logger;
    this.dpConfig = opts.dataplane ?? {};
    this.metrics = opts.metrics ?? new AgentMetrics({ node: opts.node });
    this.calc = new CalcGraph({ node: opts.node, cluster: opts.cluster, interfacePrefix: opts.dataplane?.workloadInterfacePrefixes?.[0] });
    this.dataplane = new DataplaneBuilder(opts.node, { config: this.dpConfig });
    this.applier = new Applier(opts.kernel, {
      backend: opts.backend ?? nftBackend(),
      onEvent: (e) => {
        switch (e.kind) {
          case "applied": {
            const nl = opts.kernel.netlinkStatus?.();
            this.log.debug({ mode: e.mode, ops: e.ops, summary: e.summary, attempt: e.attempt, ms: e.ms, ...(nl?.lastRefusal ? { lastNetlinkRefusal: nl.lastRefusal } : {}) }, "kernel programmed");
            if (nl) {
              this.metrics.kernelNetlinkBatches.set(nl.batches);
              if (nl.unavailable && !this.netlinkWarned) {
                this.netlinkWarned = true;
                this.log.warn({ reason: nl.unavailable }, "kernel changes go through nft or ipset (slower): the netlink relay cannot be used");
              }
            }
            break;
          }
          case "apply-failed":
            this.metrics.applyAttemptFailures.inc();
            this.log.warn({ mode: e.mode, attempt: e.attempt, code: e.code, err: e.error, retryInMs: e.retryInMs }, "kernel batch failed");
            break;
          case "drift":
            this.metrics.driftResyncs.inc();
            this.log.warn({ differences: e.differences.slice(0, 20), count: e.differences.length }, "kernel differs from what was programmed; resyncing");
            break;
          case "drift-check-failed":
            this.log.warn({ err: e.error }, "drift check could not list the kernel state");
            break;
        }
      },
    });
  }

  // ================================================================================ lifecycle

  /** Opens the datastore (retrying) and starts watching. Resolves once the watch is set up. */
  start(): Promise<void> {
    this.started ??= this.run();
    return this.started;
  }

  private async run(): Promise<void> {
    const backoff = this.opts.openBackoff ?? { initialMs: 100, maxMs: 10_000 };
    let delay = backoff.initialMs;
    while (!this.stopped) {
      try {
        this.store = await this.opts.openStore();
        break;
      } catch (e) {
        this.datastoreError = (e as Error).message;
        this.log.warn({ err: (e as Error).message, retryInMs: delay }, "cannot open the datastore; keeping the kernel as it is");
        await sleep(delay);
        delay = Math.min(delay * 2, backoff.maxMs);
      }
    }
    if (this.stopped || !this.store) return;
    if (this.opts.flowSource) {
      try {
        await this.opts.flowSource.start((r) => this.onNflog(r));
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "cannot read the flow log (NFLOG); policy is enforced regardless");
      }
    }
    this.datastoreError = undefined;
    this.log.info({ datastore: this.store.backend, location: this.store.location }, "watching the datastore");
    this.watch = this.store.watch(undefined, (ev) => this.onEvent(ev), { ...this.opts.watchOptions, onStatus: (s) => this.onStatus(s) });
    this.connected = true;
    this.metrics.datastoreConnected.set(1);
    const interval = this.opts.driftCheckIntervalMs ?? 60_000;
    if (interval > 0) this.applier.startDriftChecks(interval);
  }

  /** Stops watching and serving; the kernel keeps everything (fail-static). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.applier.stopDriftChecks();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.warmup) clearImmediate(this.warmup);
    this.warmup = undefined;
    this.wake?.();
    await this.watch?.stop();
    await this.opts.flowSource?.stop().catch(() => undefined);
    this.opts.flowLog?.close();
    await this.running;
    await this.store?.close().catch(() => undefined);
    // The kernel keeps the rules; only the applier's helper process (nft session) ends.
    await this.applier.close().catch(() => undefined);
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Removes everything tortie programmed (the backend's table / chains / sets). */
  async cleanup(): Promise<boolean> {
    try {
      await this.applier.remove();
      return true;
    } catch (e) {
      if (isKernelError(e, "NOT_FOUND")) return false;
      throw e;
    }
  }

  get ready(): boolean {
    return this.readyFlag;
  }

  /** Resolves when the first snapshot is programmed (or the agent stops). */
  whenReady(): Promise<void> {
    if (this.readyFlag || this.stopped) return Promise.resolve();
    return new Promise((r) => this.readyWaiters.push(r));
  }

  /** Resolves when every change received so far has been handled (tests, diagnostics). */
  async settled(): Promise<void> {
    for (;;) {
      if (this.running) await this.running;
      else if (this.timer || this.pending.length > 0) await sleep(this.opts.coalesceMs ?? 5);
      else return;
    }
  }

  status(): AgentStatus {
    return {
      node: this.node,
      ready: this.readyFlag,
      datastore: { connected: this.connected, revision: this.revision, location: this.store?.location, ...(this.datastoreError ? { error: this.datastoreError } : {}) },
      lastApply: this.lastApplyInfo,
      lastError: this.lastErrorText,
      pendingChanges: this.pending.length,
    };
  }

  /** The model last handed to the applier. */
  get desiredModel(): DataplaneModel | undefined {
    return this.desired;
  }

  // ================================================================================ events

  /** Names the rule and endpoint behind an NFLOG record (src/flowlog's line format + node). */
  flowRecord(r: NflogRecord): FlowRecord {
    this.resolver ??= flowLogResolver({ ...(this.desired ?? { endpoints: [] }), logIndex: Object.fromEntries(this.logIndex) } as DataplaneModel);
    return { node: this.node, ...toFlowLogLine(r, this.resolver) };
  }

  private onNflog(r: NflogRecord): void {
    const rec = this.flowRecord(r);
    this.metrics.flowRecords.inc({ policy: rec.policy || (rec.tier ? `(end of tier ${rec.tier})` : rec.direction ? "(no profile)" : "(unknown)"), action: rec.verdict, direction: rec.direction });
    try {
      this.opts.flowLog?.write(rec);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "cannot write the flow log");
    }
  }

  private onStatus(s: WatchStatus): void {
    const up = s.state === "connected";
    if (up !== this.connected) {
      if (up) this.log.info("datastore connection restored; catching up from the last revision");
      else this.log.warn({ err: s.state === "disconnected" ? s.error.message : undefined }, "datastore connection lost; enforcing the last known state");
    }
    this.connected = up;
    this.datastoreError = s.state === "disconnected" ? s.error.message : undefined;
    this.metrics.datastoreConnected.set(up ? 1 : 0);
  }

  private onEvent(ev: WatchEvent): void {
    if (this.stopped) return;
    const now = performance.now();
    this.revision = Math.max(this.revision, ev.revision);
    this.metrics.datastoreRevision.set(this.revision);
    if (ev.type === "snapshot") {
      this.metrics.datastoreSnapshots.inc({ reason: ev.reason });
      this.log.info({ revision: ev.revision, resources: ev.items.length, reason: ev.reason }, "datastore snapshot");
      this.calc.replaceAll(ev.items);
      this.snapshotSeen = true;
    } else {
      this.metrics.datastoreUpdates.inc({ type: ev.type });
      this.calc.onUpdate(ev.type === "put" ? { type: "put", resource: ev.resource } : { type: "delete", resource: ev.resource });
    }
    this.pending.push(now);
    this.schedule(this.opts.coalesceMs ?? 5);
  }

  /**
   * While nothing is pending, makes the set patching indexes the builder would otherwise make on
   * each set's first change (~10–20 ms for a 100k-member set, in the path of that change), in
   * slices of WARMUP_SLICE_MS so that a datastore event waits at most one slice.
   */
  private scheduleWarmup(): void {
    if (this.stopped || this.warmup) return;
    this.warmup = setImmediate(() => {
      this.warmup = undefined;
      // Busy: the next programmed round schedules it again.
      if (this.stopped || this.running || this.pending.length > 0) return;
      if (!this.dataplane.prepareForChanges(WARMUP_SLICE_MS)) this.scheduleWarmup();
    });
    this.warmup.unref();
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.running) {
        // The running round picks up whatever arrived meanwhile before it ends.
        return;
      }
      this.running = this.loop().finally(() => {
        this.running = undefined;
        if (this.pending.length > 0 || this.needApply) this.schedule(0);
        else if (this.readyFlag) this.scheduleWarmup();
      });
    }, ms);
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.snapshotSeen && (this.pending.length > 0 || this.needApply)) {
      const batch = this.pending;
      this.pending = [];
      const t0 = performance.now();
      const r = this.calc.flush();
      this.metrics.setCalcStats(this.calc.stats());
      if (!r.changed && !this.needApply && this.readyFlag) continue;
      // Both the calculation and the model are incremental: the graph keeps unchanged IR objects,
      // and the builder rebuilds only pieces whose IR objects changed (docs/agent.md "Cost").
      const tb = performance.now();
      const model = this.dataplane.build(r.ir);
      const buildMs = performance.now() - tb;
      // Counted from the previous model's counts and the builder's recorded changes.
      const counts = modelCounts(model, this.desired);
      if (model.logIndex !== this.desired?.logIndex) for (const [prefix, entry] of Object.entries(model.logIndex)) this.logIndex.set(prefix, entry);
      this.desired = model;
      this.resolver = undefined;
      this.metrics.kernelRules.set(counts.rules);
      this.metrics.kernelSets.set(counts.sets);
      try {
        const res = await this.applier.apply(model);
        const done = performance.now();
        this.needApply = false;
        this.metrics.applies.inc({ mode: res.mode });
        for (const t of batch) this.metrics.changeToProgrammed.observe((done - t) / 1000);
        this.lastApplyInfo = { at: new Date().toISOString(), mode: res.mode, ms: Math.round(done - t0) };
        this.lastErrorText = undefined;
        this.log.info(
          {
            mode: res.mode,
            ops: res.ops,
            summary: res.summary || undefined,
            delta: summarizeDelta(r.delta),
            rebuilt: this.dataplane.stats,
            buildMs: Math.round(buildMs * 10) / 10,
            ms: Math.round(done - t0),
            changes: batch.length,
          },
          res.mode === "noop" ? "nothing to change in the kernel" : "kernel programmed",
        );
        this.scheduleWarmup();
        if (!this.readyFlag) {
          this.readyFlag = true;
          this.metrics.ready.set(1);
          this.log.info({ endpoints: model.endpoints.length, rules: counts.rules, sets: counts.sets }, "ready: first snapshot programmed");
          for (const w of this.readyWaiters.splice(0)) w();
        }
      } catch (e) {
        // Fail-static: the kernel keeps its previous state. Retry later with a full replace (the
        // applier forgot what it programmed after the failure).
        this.needApply = true;
        this.metrics.applyErrors.inc();
        this.lastErrorText = (e as Error).message;
        this.log.error({ err: (e as Error).message, code: (e as { code?: string }).code, retryInMs: this.opts.applyRetryMs ?? 5000 }, "programming the kernel failed; keeping the previous state");
        this.pending.unshift(...batch);
        await new Promise<void>((res) => {
          const t = setTimeout(res, this.opts.applyRetryMs ?? 5000);
          this.wake = () => {
            clearTimeout(t);
            res();
          };
        });
        this.wake = undefined;
      }
    }
  }
}

function summarizeDelta(d: { endpoints: string[]; policies: string[]; profiles: string[]; sets: string[]; tiers: boolean }): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  if (d.endpoints.length) out.endpoints = d.endpoints.length;
  if (d.policies.length) out.policies = d.policies.length;
  if (d.profiles.length) out.profiles = d.profiles.length;
  if (d.sets.length) out.sets = d.sets.length;
  if (d.tiers) out.tiers = true;
  return out;
}
