/**
 * The embedded backend: one LMDB environment file shared by every process on the machine.
 *
 * Why LMDB (see docs/datastore.md): ACID transactions with a single cross-process writer lock
 * (robust mutexes, so a writer killed mid-transaction is rolled back, not left holding the lock;
 * writers queue for it behind our own kernel-queued writer gate, writer-gate.ts, because a robust
 * mutex can strand its sleepers when a woken waiter is killed), readers that never block, a
 * copy-on-write B+tree that cannot be torn by a crash, and an fsync on every commit we ask for.
 * lmdb-js ships prebuilt binaries, so there is nothing to set up.
 *
 * Layout inside the environment (sub-databases, JSON values):
 *   objects  resource key (keys.ts)  → { v: resource without resourceVersion, m: mod revision }
 *   log      revision (number)       → { t: "put"|"delete", k: key, v?: resource, p?: previous }
 *   meta     "revision"              → last revision written (monotonic, never reused)
 *            "compactRevision"       → log entries ≤ this were trimmed
 *            "initialized"           → built-in tiers were created once
 *
 * Every write is one synchronous LMDB transaction (`transactionSync`) that checks preconditions,
 * writes the object, appends to the log and bumps the revision; with overlappingSync off the call
 * only returns after fdatasync, so a write we report as done survives kill -9 (and power loss, as
 * far as the disk honours flushes). Watchers in any process poll the revision counter and read the
 * log; a watcher that fell behind the trimmed history gets a fresh snapshot instead.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Database, RootDatabase } from "lmdb";
import { WriterGate } from "./writer-gate.js";
import { kindInfo, type KindId, type Resource } from "../model/index.js";
import {
  BUILTIN_TIERS,
  builtinTierResource,
  checkDeleteTarget,
  compareResources,
  errors,
  newUid,
  nowTimestamp,
  policyTier,
  prepareWrite,
  setResourceVersion,
  TIERED_KINDS,
  withStoreMeta,
  type PreparedWrite,
  type StoreHooks,
} from "./common.js";
import { KEY_PREFIX, kindPrefix, resourceKey } from "./keys.js";
import { EventPump } from "./pump.js";
import {
  DatastoreError,
  type ApplyResult,
  type DeleteOptions,
  type Store,
  type StoredResource,
  type Watch,
  type WatchEvent,
  type WatchHandler,
  type WatchOptions,
  type WriteResult,
} from "./types.js";

export interface EmbeddedStoreOptions extends StoreHooks {
  /** Directory holding tortie.mdb and its lock file; created (mode 0700) if missing. */
  dataDir: string;
  /** How many past changes the log keeps for resuming watchers (default 10,000). */
  historyLimit?: number;
  /** Maximum database size in bytes (address space, not disk; default 1 GiB). */
  mapSize?: number;
}

export const EMBEDDED_DB_FILE = "tortie.mdb";
/** Beside the environment: the file whose lock gates every write transaction (writer-gate.ts). */
export const EMBEDDED_GATE_FILE = "tortie.mdb-gate";

interface ObjectRecord {
  v: Resource; // without resourceVersion
  m: number; // revision of the last write
}
interface LogRecord {
  t: "put" | "delete";
  k: string;
  v?: Resource; // new value (put), with resourceVersion
  p?: Resource; // previous value, with resourceVersion
}

const KEY_END = `${KEY_PREFIX}\uffff`;

type LmdbOpen = (typeof import("lmdb"))["open"];

export class EmbeddedStore implements Store {
  readonly backend = "embedded" as const;
  readonly location: string;
  private readonly env: RootDatabase;
  private readonly objects: Database<ObjectRecord, string>;
  private readonly log: Database<LogRecord, number>;
  private readonly meta: Database<number | boolean, string>;
  private readonly historyLimit: number;
  private readonly gate: WriterGate;
  private readonly watches = new Set<EmbeddedWatch>();
  private closed = false;

  private constructor(
    private readonly opts: EmbeddedStoreOptions,
    open: LmdbOpen,
  ) {
    this.location = join(opts.dataDir, EMBEDDED_DB_FILE);
    this.historyLimit = Math.max(1, opts.historyLimit ?? 10_000);
    try {
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new DatastoreError("unavailable", `cannot open embedded datastore at ${this.location}: ${(err as Error).message}`, { cause: err });
    }
    this.gate = WriterGate.open(join(opts.dataDir, EMBEDDED_GATE_FILE));
    try {
      // Under the gate: opening runs LMDB's stale-reader check and one write transaction per
      // named database (openDB creates what is missing), so it queues like any other writer.
      [this.env, this.objects, this.log, this.meta] = this.gate.hold(() => this.openEnvironment(open, opts));
    } catch (err) {
      this.gate.close();
      throw new DatastoreError("unavailable", `cannot open embedded datastore at ${this.location}: ${(err as Error).message}`, { cause: err });
    }
  }

  private openEnvironment(open: LmdbOpen, opts: EmbeddedStoreOptions) {
    const env = open({
      path: this.location,
      noSubdir: true,
      maxDbs: 8,
      mapSize: opts.mapSize ?? 2 ** 30,
      // Durability: commit = fdatasync before the call returns. overlappingSync would return
      // before the flush; noSync/noMetaSync would give up crash safety.
      overlappingSync: false,
      noSync: false,
      noMetaSync: false,
    });
    return [
      env,
      env.openDB<ObjectRecord, string>({ name: "objects", encoding: "json" }),
      env.openDB<LogRecord, number>({ name: "log", encoding: "json" }),
      env.openDB<number | boolean, string>({ name: "meta", encoding: "json" }),
    ] as const;
  }

  static async open(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    // Loaded here, not at module load: CLI verbs that never open the store (lab probe, help)
    // should not pay for the native binding.
    const { open } = await import("lmdb");
    return new EmbeddedStore(opts, open);
  }

  // ------------------------------------------------------------------ reads

  async get(kind: KindId, namespace: string | undefined, name: string): Promise<StoredResource | undefined> {
    this.assertOpen();
    const ns = kindInfo(kind).namespaced ? (namespace ?? "default") : undefined;
    const rec = this.objects.get(resourceKey(kind, ns, name));
    return rec ? setResourceVersion(rec.v, rec.m) : undefined;
  }

  async list(kind: KindId, namespace?: string): Promise<{ items: StoredResource[]; revision: number }> {
    this.assertOpen();
    const prefix = kindPrefix(kind, namespace);
    return this.read((txn) => {
      const items: StoredResource[] = [];
      for (const { value } of this.objects.getRange({ start: prefix, end: `${prefix}\uffff`, transaction: txn })) {
        items.push(setResourceVersion(value.v, value.m));
      }
      items.sort(compareResources);
      return { items, revision: this.currentRevision(txn) };
    });
  }

  async snapshot(): Promise<{ revision: number; items: StoredResource[] }> {
    this.assertOpen();
    return this.read((txn) => this.snapshotIn(txn));
  }

  async revision(): Promise<number> {
    this.assertOpen();
    return this.read((txn) => this.currentRevision(txn));
  }

  // ------------------------------------------------------------------ writes

  async create(r: Resource): Promise<WriteResult> {
    const p = this.prepare(r);
    return this.write((tx) => {
      if (this.objects.get(p.key)) throw errors.alreadyExists(p.id);
      this.checkTier(p);
      return tx.put(p.key, withStoreMeta(p.resource, { uid: newUid(), creationTimestamp: nowTimestamp() }), undefined);
    });
  }

  async update(r: Resource): Promise<WriteResult> {
    const p = this.prepare(r);
    return this.write((tx) => {
      const cur = this.objects.get(p.key);
      if (!cur) throw errors.notFound(p.id);
      return this.updateIn(tx, p, cur);
    });
  }

  async apply(r: Resource): Promise<ApplyResult> {
    const p = this.prepare(r);
    return this.write((tx) => {
      const cur = this.objects.get(p.key);
      if (!cur) {
        this.checkTier(p);
        const res = tx.put(p.key, withStoreMeta(p.resource, { uid: newUid(), creationTimestamp: nowTimestamp() }), undefined);
        return { ...res, created: true };
      }
      return { ...this.updateIn(tx, p, cur), created: false };
    });
  }

  async delete(kind: KindId, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<StoredResource> {
    this.assertOpen();
    const { namespace: ns, id } = checkDeleteTarget(kind, namespace, name);
    const key = resourceKey(kind, ns, name);
    return this.write((tx) => {
      const cur = this.objects.get(key);
      if (!cur) throw errors.notFound(id);
      if (opts.resourceVersion !== undefined && opts.resourceVersion !== String(cur.m)) throw errors.conflict(id, opts.resourceVersion, String(cur.m));
      if (kind === "Tier") {
        for (const k of TIERED_KINDS) {
          const prefix = kindPrefix(k);
          for (const { value } of this.objects.getRange({ start: prefix, end: `${prefix}\uffff` })) {
            if (policyTier(k, value.v) === name) throw errors.tierNotEmpty(name, `${k}(${value.v.metadata.namespace ? `${value.v.metadata.namespace}/` : ""}${value.v.metadata.name})`);
          }
        }
      }
      return tx.remove(key, cur);
    });
  }

  async ensureInitialized(): Promise<void> {
    this.write(() => undefined);
  }

  // ------------------------------------------------------------------ watch

  watch(fromRevision: number | undefined, onEvent: WatchHandler, opts: WatchOptions = {}): Watch {
    this.assertOpen();
    const w = new EmbeddedWatch(this, fromRevision, onEvent, opts.pollIntervalMs ?? 50, () => this.watches.delete(w));
    this.watches.add(w);
    opts.onStatus?.({ state: "connected" });
    return w;
  }

  /** @internal One poll of the change log for a watcher: everything after `cursor`, read in one transaction. */
  readChanges(cursor: number | undefined): { events: WatchEvent[]; revision: number } {
    return this.read((txn) => {
      const rev = this.currentRevision(txn);
      const compact = (this.meta.get("compactRevision", { transaction: txn }) as number | undefined) ?? 0;
      if (cursor === undefined || cursor < compact || cursor > rev) {
        const snap = this.snapshotIn(txn);
        return { events: [{ type: "snapshot", revision: snap.revision, items: snap.items, reason: cursor === undefined ? "initial" : "resync" }], revision: rev };
      }
      const events: WatchEvent[] = [];
      if (rev > cursor) {
        for (const { key, value } of this.log.getRange({ start: cursor + 1, end: rev + 1, transaction: txn })) {
          if (value.t === "put" && value.v) {
            events.push(value.p ? { type: "put", revision: key, resource: value.v, prevResource: value.p } : { type: "put", revision: key, resource: value.v });
          } else if (value.t === "delete" && value.p) {
            events.push({ type: "delete", revision: key, resource: value.p });
          }
        }
      }
      return { events, revision: rev };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((w) => w.stop()));
    await this.env.close();
    this.gate.close();
  }

  // ------------------------------------------------------------------ internals

  private prepare(r: Resource): PreparedWrite {
    this.assertOpen();
    return prepareWrite(r, this.opts);
  }

  private assertOpen(): void {
    if (this.closed) throw errors.closed();
  }

  private read<T>(fn: (txn: ReturnType<RootDatabase["useReadTransaction"]>) => T): T {
    const txn = this.env.useReadTransaction();
    try {
      return fn(txn);
    } finally {
      txn.done();
    }
  }

  private currentRevision(txn?: ReturnType<RootDatabase["useReadTransaction"]>): number {
    return (this.meta.get("revision", txn ? { transaction: txn } : undefined) as number | undefined) ?? 0;
  }

  private snapshotIn(txn: ReturnType<RootDatabase["useReadTransaction"]>): { revision: number; items: StoredResource[] } {
    const items: StoredResource[] = [];
    for (const { value } of this.objects.getRange({ start: KEY_PREFIX, end: KEY_END, transaction: txn })) items.push(setResourceVersion(value.v, value.m));
    items.sort(compareResources);
    return { revision: this.currentRevision(txn), items };
  }

  private checkTier(p: PreparedWrite): void {
    if (p.requiredTier !== undefined && !this.objects.get(resourceKey("Tier", undefined, p.requiredTier))) throw errors.tierMissing(p.requiredTier, p.id);
  }

  private updateIn(tx: WriteTxn, p: PreparedWrite, cur: ObjectRecord): WriteResult {
    if (p.expectedVersion !== undefined && p.expectedVersion !== String(cur.m)) throw errors.conflict(p.id, p.expectedVersion, String(cur.m));
    this.checkTier(p);
    const next = withStoreMeta(p.resource, { uid: cur.v.metadata.uid, creationTimestamp: cur.v.metadata.creationTimestamp });
    return tx.put(p.key, next, cur);
  }

  /**
   * Runs `fn` inside one synchronous, durable write transaction. A DatastoreError thrown by `fn`
   * aborts the transaction, so a failed precondition writes nothing.
   */
  private write<T>(fn: (tx: WriteTxn) => T): T {
    this.assertOpen();
    let result: T;
    try {
      result = this.gate.hold(() => this.env.transactionSync(() => {
        const tx = new WriteTxn(this.objects, this.log, this.meta, this.historyLimit);
        if (!this.meta.get("initialized")) {
          for (const t of BUILTIN_TIERS) {
            const key = resourceKey("Tier", undefined, t.name);
            if (!this.objects.get(key)) tx.put(key, withStoreMeta(builtinTierResource(t), { uid: newUid(), creationTimestamp: nowTimestamp() }), undefined);
          }
          this.meta.putSync("initialized", true);
        }
        const out = fn(tx);
        tx.finish();
        return out;
      }));
    } catch (err) {
      if (err instanceof DatastoreError) throw err;
      throw new DatastoreError("unavailable", `embedded datastore write failed: ${(err as Error).message}`, { cause: err });
    }
    for (const w of this.watches) w.kick();
    return result;
  }
}

/** Writes inside one LMDB transaction: each change gets the next revision and a log entry. */
class WriteTxn {
  private rev: number;
  private readonly startRev: number;
  constructor(
    private readonly objects: Database<ObjectRecord, string>,
    private readonly log: Database<LogRecord, number>,
    private readonly meta: Database<number | boolean, string>,
    private readonly historyLimit: number,
  ) {
    this.rev = (meta.get("revision") as number | undefined) ?? 0;
    this.startRev = this.rev;
  }

  put(key: string, value: Resource, prev: ObjectRecord | undefined): WriteResult {
    const rev = ++this.rev;
    this.objects.putSync(key, { v: value, m: rev });
    const stored = setResourceVersion(value, rev);
    this.log.putSync(rev, prev ? { t: "put", k: key, v: stored, p: setResourceVersion(prev.v, prev.m) } : { t: "put", k: key, v: stored });
    return { resource: stored, revision: rev };
  }

  remove(key: string, prev: ObjectRecord): StoredResource {
    const rev = ++this.rev;
    this.objects.removeSync(key);
    const old = setResourceVersion(prev.v, prev.m);
    this.log.putSync(rev, { t: "delete", k: key, p: old });
    return old;
  }

  /** Records the new revision and trims the log to the history limit. */
  finish(): void {
    if (this.rev === this.startRev) return;
    this.meta.putSync("revision", this.rev);
    const compact = (this.meta.get("compactRevision") as number | undefined) ?? 0;
    const keepFrom = this.rev - this.historyLimit + 1; // keep revisions [keepFrom, rev]
    if (keepFrom - 1 > compact) {
      for (const k of [...this.log.getKeys({ start: compact + 1, end: keepFrom })]) this.log.removeSync(k);
      this.meta.putSync("compactRevision", keepFrom - 1);
    }
  }
}

class EmbeddedWatch implements Watch {
  readonly ready: Promise<void>;
  private readonly pump: EventPump;
  private cursor: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wakeRequested = false;
  private resolveReady!: () => void;

  constructor(
    private readonly store: EmbeddedStore,
    fromRevision: number | undefined,
    handler: WatchHandler,
    private readonly pollMs: number,
    private readonly onStop: () => void,
  ) {
    this.cursor = fromRevision;
    this.pump = new EventPump(handler);
    this.ready = new Promise((res) => (this.resolveReady = res));
    this.schedule(0);
  }

  get revision(): number {
    return this.pump.lastRevision;
  }

  /** A write in this process: look now rather than at the next poll. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wakeRequested = true;
      return;
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.onStop();
    await this.running;
    await this.pump.stop();
    this.resolveReady();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.tick().finally(() => {
        this.running = undefined;
        if (this.wakeRequested) {
          this.wakeRequested = false;
          this.schedule(0);
        } else this.schedule(this.pollMs);
      });
    }, ms);
    // Deliberately not unref'd: an active watch keeps the process alive, like etcd's watch stream.
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let changes: { events: WatchEvent[]; revision: number };
    try {
      changes = this.store.readChanges(this.cursor);
    } catch (err) {
      // The store was closed under us, or LMDB failed: nothing sensible to deliver; stop polling.
      if (err instanceof DatastoreError && err.code === "closed") return;
      process.stderr.write(`tortie: embedded watch read failed: ${(err as Error).message}\n`);
      return;
    }
    for (const ev of changes.events) void this.pump.push(ev);
    // Wait for delivery so a slow consumer bounds how much we read ahead.
    await this.pump.idle();
    this.cursor = changes.revision;
    this.resolveReady();
  }
}
