/**
 * The etcd v3 backend, for clusters: every node's agent watches one etcd cluster, as Calico's
 * own etcd mode does. Keys follow keys.ts; values are the resource as JSON without
 * `metadata.resourceVersion`, which is etcd's mod_revision of the key (so it is exact and
 * monotonic for free). Preconditions (absent for create, unchanged mod_revision for update and
 * delete, tier exists) are etcd transaction comparisons, so concurrent writers from any node are
 * safe without locks.
 */
import type { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCUnauthenticatedError,
  type IKeyValue,
  type IOptions,
  type IWatchResponse,
  type Watcher,
} from "etcd3";
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
import { KEY_PREFIX, kindPrefix, parseKey, resourceKey } from "./keys.js";
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
  type WatchStatus,
  type WriteResult,
} from "./types.js";

export interface EtcdStoreOptions extends StoreHooks {
  /** Client URLs, e.g. ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]. */
  endpoints: string[];
  /** PEM files for TLS: the CA that signed the servers, and an optional client certificate/key pair. */
  caCertFile?: string;
  certFile?: string;
  keyFile?: string;
  /** The same as inline PEM text (used when the corresponding file is not given). */
  caCert?: string;
  cert?: string;
  key?: string;
  /** etcd role-based access control. */
  username?: string;
  password?: string;
  /** Deadline for each unary request (ms, default 10,000). Watches have none. */
  requestTimeoutMs?: number;
}

/** How often an update without resourceVersion re-reads and retries after losing a race (calicoctl uses 5). */
const UPDATE_RETRIES = 5;

function readPem(file: string | undefined, what: string): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new DatastoreError("unavailable", `cannot read etcd ${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

export function etcdClientOptions(opts: EtcdStoreOptions): IOptions {
  if (opts.endpoints.length === 0) throw new DatastoreError("unavailable", "no etcd endpoints configured");
  const timeout = opts.requestTimeoutMs ?? 10_000;
  const ca = readPem(opts.caCertFile, "CA certificate") ?? (opts.caCert ? Buffer.from(opts.caCert) : undefined);
  const cert = readPem(opts.certFile, "client certificate") ?? (opts.cert ? Buffer.from(opts.cert) : undefined);
  const key = readPem(opts.keyFile, "client key") ?? (opts.key ? Buffer.from(opts.key) : undefined);
  if ((cert && !key) || (key && !cert)) throw new DatastoreError("unavailable", "etcd client certificate and key must be given together");
  const options: IOptions = {
    hosts: opts.endpoints,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
  };
  if (ca || cert) {
    options.credentials = { rootCertificate: ca ?? (undefined as unknown as Buffer), privateKey: key, certChain: cert };
    if (!ca) {
      // No CA file: trust the system roots (grpc uses them when rootCertificate is null).
      (options.credentials as { rootCertificate: Buffer | null }).rootCertificate = null;
    }
  }
  if (opts.username !== undefined) options.auth = { username: opts.username, password: opts.password ?? "" };
  return options;
}

export class EtcdStore implements Store {
  readonly backend = "etcdv3" as const;
  readonly location: string;
  /** @internal exposed for tests and maintenance (compaction). */
  readonly client: Etcd3;
  private readonly watches = new Set<EtcdWatch>();
  private initialized: Promise<void> | undefined;
  private closed = false;

  private constructor(private readonly opts: EtcdStoreOptions) {
    this.location = opts.endpoints.join(",");
    this.client = new Etcd3(etcdClientOptions(opts));
  }

  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    return new EtcdStore(opts);
  }

  // ------------------------------------------------------------------ reads

  async get(kind: KindId, namespace: string | undefined, name: string): Promise<StoredResource | undefined> {
    const ns = kindInfo(kind).namespaced ? (namespace ?? "default") : undefined;
    const kv = await this.getKv(resourceKey(kind, ns, name));
    return kv ? decode(kv) : undefined;
  }

  async list(kind: KindId, namespace?: string): Promise<{ items: StoredResource[]; revision: number }> {
    const res = await this.call(() => this.client.getAll().prefix(kindPrefix(kind, namespace)).exec());
    return { items: decodeAll(res.kvs), revision: Number(res.header.revision) };
  }

  async snapshot(): Promise<{ revision: number; items: StoredResource[] }> {
    const res = await this.call(() => this.client.getAll().prefix(KEY_PREFIX).exec());
    return { revision: Number(res.header.revision), items: decodeAll(res.kvs) };
  }

  async revision(): Promise<number> {
    // A count-only range returns the header without shipping values.
    const res = await this.call(() => this.client.getAll().prefix(KEY_PREFIX).limit(1).exec());
    return Number(res.header.revision);
  }

  // ------------------------------------------------------------------ writes

  async create(r: Resource): Promise<WriteResult> {
    const p = this.prepare(r);
    await this.ensureInitialized();
    return this.createPrepared(p);
  }

  async update(r: Resource): Promise<WriteResult> {
    const p = this.prepare(r);
    await this.ensureInitialized();
    return this.updatePrepared(p);
  }

  async apply(r: Resource): Promise<ApplyResult> {
    const p = this.prepare(r);
    await this.ensureInitialized();
    for (let attempt = 0; ; attempt++) {
      try {
        return { ...(await this.updatePrepared(p)), created: false };
      } catch (err) {
        if (!(err instanceof DatastoreError && err.code === "not-found" && err.resource === p.id && !err.issues.length)) throw err;
      }
      try {
        return { ...(await this.createPrepared(p)), created: true };
      } catch (err) {
        // Someone created it between our read and our create: go round again as an update.
        if (!(err instanceof DatastoreError && err.code === "already-exists") || attempt >= UPDATE_RETRIES) throw err;
      }
    }
  }

  async delete(kind: KindId, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<StoredResource> {
    this.assertOpen();
    const { namespace: ns, id } = checkDeleteTarget(kind, namespace, name);
    const key = resourceKey(kind, ns, name);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.getKv(key);
      if (!cur) throw errors.notFound(id);
      if (opts.resourceVersion !== undefined && opts.resourceVersion !== cur.mod_revision) throw errors.conflict(id, opts.resourceVersion, cur.mod_revision);
      if (kind === "Tier") {
        // Best effort (not atomic with the delete): etcd v3 transactions cannot compare a range.
        for (const k of TIERED_KINDS) {
          const { items } = await this.list(k);
          const inTier = items.find((it) => policyTier(k, it) === name);
          if (inTier) throw errors.tierNotEmpty(name, `${k}(${inTier.metadata.namespace ? `${inTier.metadata.namespace}/` : ""}${inTier.metadata.name})`);
        }
      }
      const res = await this.call(() => this.client.if(key, "Mod", "==", cur.mod_revision).then(this.client.delete().key(key)).commit());
      if (res.succeeded) return decode(cur);
      if (attempt >= UPDATE_RETRIES) throw errors.conflict(id, opts.resourceVersion ?? cur.mod_revision, "changed concurrently");
    }
  }

  async ensureInitialized(): Promise<void> {
    this.assertOpen();
    if (!this.initialized) {
      this.initialized = this.createBuiltinTiers().catch((err) => {
        this.initialized = undefined; // try again on the next write
        throw err;
      });
    }
    return this.initialized;
  }

  /** Discards etcd's change history up to `revision` (watchers further behind get a resync). */
  async compact(revision: number): Promise<void> {
    await this.call(() => this.client.kv.compact({ revision: String(revision), physical: true }));
  }

  // ------------------------------------------------------------------ watch

  watch(fromRevision: number | undefined, onEvent: WatchHandler, opts: WatchOptions = {}): Watch {
    this.assertOpen();
    const w = new EtcdWatch(this, fromRevision, onEvent, opts.onStatus, () => this.watches.delete(w));
    this.watches.add(w);
    return w;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((w) => w.stop()));
    this.client.close();
  }

  // ------------------------------------------------------------------ internals

  /** @internal Runs one etcd call, turning client errors into DatastoreError. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await fn();
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /** @internal */
  mapError(err: unknown): DatastoreError {
    if (err instanceof DatastoreError) return err;
    const msg = (err as Error)?.message ?? String(err);
    if (err instanceof EtcdPermissionDeniedError || err instanceof EtcdAuthenticationFailedError || err instanceof GRPCUnauthenticatedError) {
      return new DatastoreError("forbidden", `etcd (${this.location}) refused access: ${msg}`, { cause: err });
    }
    if (this.closed) return errors.closed();
    return new DatastoreError("unavailable", `etcd (${this.location}) unavailable: ${msg}`, { cause: err });
  }

  private assertOpen(): void {
    if (this.closed) throw errors.closed();
  }

  private prepare(r: Resource): PreparedWrite {
    this.assertOpen();
    return prepareWrite(r, this.opts);
  }

  private async getKv(key: string): Promise<IKeyValue | undefined> {
    const res = await this.call(() => this.client.get(key).exec());
    return res.kvs[0];
  }

  private async createBuiltinTiers(): Promise<void> {
    const existing = await this.call(() => this.client.getAll().prefix(kindPrefix("Tier")).keys());
    for (const t of BUILTIN_TIERS) {
      const key = resourceKey("Tier", undefined, t.name);
      if (existing.includes(key)) continue;
      const value = JSON.stringify(withStoreMeta(builtinTierResource(t), { uid: newUid(), creationTimestamp: nowTimestamp() }));
      // Create-if-absent: several nodes may initialise at once.
      await this.call(() => this.client.if(key, "Create", "==", 0).then(this.client.put(key).value(value)).commit());
    }
  }

  private async createPrepared(p: PreparedWrite): Promise<WriteResult> {
    const stored = withStoreMeta(p.resource, { uid: newUid(), creationTimestamp: nowTimestamp() });
    const tierKey = p.requiredTier !== undefined ? resourceKey("Tier", undefined, p.requiredTier) : undefined;
    const res = await this.call(() => {
      const txn = this.client.if(p.key, "Create", "==", 0);
      if (tierKey) txn.and(tierKey, "Create", ">", 0);
      return txn.then(this.client.put(p.key).value(JSON.stringify(stored))).commit();
    });
    if (res.succeeded) {
      const rev = Number(res.header.revision);
      return { resource: setResourceVersion(stored, rev), revision: rev };
    }
    if (await this.getKv(p.key)) throw errors.alreadyExists(p.id);
    throw errors.tierMissing(p.requiredTier!, p.id);
  }

  /** Update with the resourceVersion rule: given → must match; absent → re-read and retry on races. */
  private async updatePrepared(p: PreparedWrite): Promise<WriteResult> {
    const tierKey = p.requiredTier !== undefined ? resourceKey("Tier", undefined, p.requiredTier) : undefined;
    for (let attempt = 0; ; attempt++) {
      const cur = await this.getKv(p.key);
      if (!cur) throw errors.notFound(p.id);
      if (p.expectedVersion !== undefined && p.expectedVersion !== cur.mod_revision) throw errors.conflict(p.id, p.expectedVersion, cur.mod_revision);
      const prev = JSON.parse(cur.value.toString("utf8")) as Resource;
      const stored = withStoreMeta(p.resource, { uid: prev.metadata.uid, creationTimestamp: prev.metadata.creationTimestamp });
      const res = await this.call(() => {
        const txn = this.client.if(p.key, "Mod", "==", cur.mod_revision);
        if (tierKey) txn.and(tierKey, "Create", ">", 0);
        return txn.then(this.client.put(p.key).value(JSON.stringify(stored))).commit();
      });
      if (res.succeeded) {
        const rev = Number(res.header.revision);
        return { resource: setResourceVersion(stored, rev), revision: rev };
      }
      if (tierKey && !(await this.getKv(tierKey))) throw errors.tierMissing(p.requiredTier!, p.id);
      const now = await this.getKv(p.key);
      if (!now) throw errors.notFound(p.id);
      if (p.expectedVersion !== undefined) throw errors.conflict(p.id, p.expectedVersion, now.mod_revision);
      if (attempt >= UPDATE_RETRIES) throw errors.conflict(p.id, cur.mod_revision, now.mod_revision);
    }
  }
}

function decode(kv: IKeyValue): StoredResource {
  const r = JSON.parse(kv.value.toString("utf8")) as Resource;
  return setResourceVersion(r, Number(kv.mod_revision));
}

function decodeAll(kvs: IKeyValue[]): StoredResource[] {
  const items: StoredResource[] = [];
  for (const kv of kvs) {
    if (!parseKey(kv.key.toString("utf8"))) continue; // not ours
    items.push(decode(kv));
  }
  return items.sort(compareResources);
}

/**
 * etcd cancels a watch when its start revision was compacted away (etcd 3.4 sends only
 * compact_revision, no reason text, and the client turns that into "Watcher canceled: ").
 * Any cancellation means our position in the history is gone, so we resync.
 */
function isCancelled(err: unknown): boolean {
  return /compacted|watcher canceled/i.test((err as Error)?.message ?? "");
}

/**
 * A snapshot, then etcd's watch stream from the snapshot's revision + 1. After a disconnect the
 * etcd3 client re-creates the watch by itself, but from `header.revision + 1` of the last response
 * it saw — and a creation response (or a catch-up batch) carries the cluster's current revision,
 * not the last event delivered. A stream lost during catch-up would then resume past events never
 * received. So every (re)creation starts from our own cursor (set in the 'connecting' handler,
 * which the client fires just before it sends the create request), the cursor moves only with
 * delivered events and with progress notifications (empty responses etcd sends only to a synced
 * watcher), and events at or below the cursor are dropped. When etcd says the revision was
 * compacted away we take a new snapshot ("resync").
 */
class EtcdWatch implements Watch {
  readonly ready: Promise<void>;
  private readonly pump: EventPump;
  private watcher: Watcher | undefined;
  private stopped = false;
  private resolveReady!: () => void;
  private readyDone = false;
  private backoffMs = 100;
  private loop: Promise<void>;
  /** Highest revision fully handed to the pump. */
  private cursor: number;

  constructor(
    private readonly store: EtcdStore,
    fromRevision: number | undefined,
    handler: WatchHandler,
    private readonly onStatus: ((s: WatchStatus) => void) | undefined,
    private readonly onStop: () => void,
  ) {
    this.pump = new EventPump(handler);
    this.cursor = fromRevision ?? -1;
    this.ready = new Promise((res) => (this.resolveReady = res));
    this.loop = this.run(fromRevision === undefined ? "initial" : undefined);
  }

  get revision(): number {
    return this.pump.lastRevision;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.onStop();
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await w.cancel().catch(() => undefined);
    await this.pump.stop();
    this.markReady();
    // Not awaiting this.loop: while etcd is unreachable it may wait for a connection forever;
    // once it gets one it sees `stopped` and cancels its watcher.
  }

  private markReady(): void {
    if (!this.readyDone) {
      this.readyDone = true;
      this.resolveReady();
    }
  }

  /** Takes a snapshot if asked, then attaches a watcher; on failure waits and starts over. */
  private async run(snapshotReason: "initial" | "resync" | undefined): Promise<void> {
    let reason = snapshotReason;
    while (!this.stopped) {
      try {
        if (reason) {
          const snap = await this.store.snapshot();
          if (this.stopped) return;
          void this.pump.push({ type: "snapshot", revision: snap.revision, items: snap.items, reason });
          this.cursor = snap.revision;
          reason = undefined;
        }
        await this.attach(this.cursor + 1);
        this.backoffMs = 100;
        return;
      } catch (err) {
        if (this.stopped) return;
        if (isCancelled(err)) {
          reason = "resync";
          continue;
        }
        this.onStatus?.({ state: "disconnected", error: this.store.mapError(err) });
        await new Promise((r) => setTimeout(r, this.backoffMs));
        this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
      }
    }
  }

  private async attach(startRevision: number): Promise<void> {
    // watcher(), not create(): the listeners must be in place before the first response.
    const w = this.store.client.watch().prefix(KEY_PREFIX).withPreviousKV().startRevision(String(startRevision)).watcher();
    // Every re-creation after a disconnect resumes from what we have, not from the client's guess.
    // "connecting" is emitted (with the request about to be sent) but missing from the typings.
    (w as EventEmitter).on("connecting", (req: { start_revision?: string }) => {
      req.start_revision = String(this.cursor + 1);
    });
    w.on("data", (res: IWatchResponse) => this.onData(res));
    w.on("disconnected", (err: Error) => this.onStatus?.({ state: "disconnected", error: this.store.mapError(err) }));
    const created = new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      w.once("error", onError);
      w.once("connected", () => {
        w.off("error", onError);
        resolve();
      });
    });
    // A rejection is etcd cancelling the watch at creation; the client has already dropped the
    // watcher, and cancel() would wait for a "connected" that never comes.
    await created;
    if (this.stopped) {
      await w.cancel().catch(() => undefined);
      return;
    }
    this.watcher = w;
    this.onStatus?.({ state: "connected" });
    w.on("connected", () => this.onStatus?.({ state: "connected" }));
    w.on("error", () => {
      // etcd cancelled the watch (the client only reports cancellations here). The client has
      // already dropped the watcher, so no cancel() (it would confuse the client's bookkeeping).
      if (this.watcher !== w || this.stopped) return;
      this.watcher = undefined;
      this.loop = this.run("resync");
    });
    // Everything up to the header revision of the creation response is already in our snapshot
    // or was delivered before; the watcher replays the rest.
    await this.pump.idle();
    this.markReady();
  }

  private onData(res: IWatchResponse): void {
    // Events at or below the cursor were delivered before a reconnect; a revision's events all
    // come in one response, so comparing with the cursor as it was before this response is exact.
    const floor = this.cursor;
    let last = floor;
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= floor) continue;
      last = Math.max(last, rev);
      const key = ev.kv.key.toString("utf8");
      if (!parseKey(key)) continue;
      let out: WatchEvent;
      if (ev.type === "Put") {
        const resource = decode(ev.kv);
        out = ev.prev_kv ? { type: "put", revision: rev, resource, prevResource: decode(ev.prev_kv) } : { type: "put", revision: rev, resource };
      } else {
        if (!ev.prev_kv) continue; // prev_kv is missing only if it was compacted; nothing to report
        out = { type: "delete", revision: rev, resource: decode(ev.prev_kv) };
      }
      void this.pump.push(out);
    }
    // An empty response is a progress notification, which etcd sends only to a watcher that has
    // been sent everything up to its header revision. A header anywhere else proves nothing.
    if (res.events.length === 0) last = Math.max(last, Number(res.header?.revision ?? 0));
    this.cursor = last;
  }
}
