/**
 * The datastore contract shared by both backends (embedded LMDB and etcd v3). Everything here is
 * plain data so that the CLI, the agent and tests can print, compare and serialise it.
 */
import type { Issue, KindId, Resource } from "../model/index.js";

/**
 * A resource as the store returns it: the user's object plus the fields the store owns —
 * `metadata.uid`, `metadata.creationTimestamp` and `metadata.resourceVersion` (the decimal
 * revision of the write that last changed it).
 */
export type StoredResource = Resource;

export interface WriteResult {
  resource: StoredResource;
  /** The store revision of this write (equals Number(resource.metadata.resourceVersion)). */
  revision: number;
}

export interface ApplyResult extends WriteResult {
  /** true when apply created the resource, false when it updated an existing one. */
  created: boolean;
}

export interface DeleteOptions {
  /** When set, the delete only happens if the stored resourceVersion still equals this one. */
  resourceVersion?: string;
}

/**
 * Watch stream events, delivered one at a time and in revision order.
 *
 * - `snapshot`: the complete set of stored resources at `revision`. Sent first, and again with
 *   `reason: "resync"` when the watcher fell behind the store's retained history (etcd compaction,
 *   or the embedded change log being trimmed); a consumer must then replace its whole state.
 * - `put` / `delete`: one change at `revision`. Several events may share a revision (etcd
 *   transactions); a consumer that has processed every event of revision R can resume with
 *   `watch(R, ...)` and will not see R again.
 */
export type WatchEvent =
  | { type: "snapshot"; revision: number; items: StoredResource[]; reason: "initial" | "resync" }
  | { type: "put"; revision: number; resource: StoredResource; prevResource?: StoredResource }
  | { type: "delete"; revision: number; resource: StoredResource };

export type WatchStatus =
  | { state: "connected" }
  | { state: "disconnected"; error: DatastoreError };

export interface WatchOptions {
  /** Connection state changes (etcd only emits disconnected/connected; embedded never disconnects). */
  onStatus?: (status: WatchStatus) => void;
  /** Embedded backend: how often to look for writes made by other processes (ms, default 50). */
  pollIntervalMs?: number;
}

export interface Watch {
  /** Resolves once the initial snapshot (or the first batch after `fromRevision`) was delivered. */
  readonly ready: Promise<void>;
  /** Revision of the last event delivered (0 before anything was delivered). */
  readonly revision: number;
  /** Stops delivering events; resolves when no handler call is running any more. */
  stop(): Promise<void>;
}

/** Handlers may be async; the watch waits for each before delivering the next event. */
export type WatchHandler = (event: WatchEvent) => void | Promise<void>;

export interface Store {
  readonly backend: "embedded" | "etcdv3";
  /** Human-readable location: the database path or the etcd endpoints. */
  readonly location: string;

  get(kind: KindId, namespace: string | undefined, name: string): Promise<StoredResource | undefined>;
  /** Resources of one kind; `namespace` undefined = all namespaces. Sorted by namespace, then name. */
  list(kind: KindId, namespace?: string): Promise<{ items: StoredResource[]; revision: number }>;
  /** Fails with `already-exists` if present. uid, creationTimestamp and resourceVersion are set by the store. */
  create(r: Resource): Promise<WriteResult>;
  /**
   * Replaces an existing resource (`not-found` if absent). With `metadata.resourceVersion` set the
   * write only happens if it still matches (`conflict` otherwise); without it the store writes
   * over whatever version is current.
   */
  update(r: Resource): Promise<WriteResult>;
  /** Create, or update if it exists (same resourceVersion rule as update). */
  apply(r: Resource): Promise<ApplyResult>;
  /** Returns the deleted resource; `not-found` if absent, `conflict` on resourceVersion mismatch. */
  delete(kind: KindId, namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<StoredResource>;
  /** Every stored resource at one consistent revision, sorted by kind, namespace, name. */
  snapshot(): Promise<{ revision: number; items: StoredResource[] }>;
  /** Current store revision (0 for an empty embedded store). */
  revision(): Promise<number>;
  /**
   * Streams a snapshot followed by ordered changes. `fromRevision` undefined: start with a
   * snapshot of now. `fromRevision` R: deliver the changes after R (resume); if they are no longer
   * retained, a `snapshot` with reason "resync" comes first.
   */
  watch(fromRevision: number | undefined, onEvent: WatchHandler, opts?: WatchOptions): Watch;
  /** Creates the built-in tiers if missing. Writes call it implicitly; agents may call it at start. */
  ensureInitialized(): Promise<void>;
  close(): Promise<void>;
}

export type DatastoreErrorCode =
  | "unavailable" // cannot reach / open the datastore; retry later
  | "conflict" // resourceVersion mismatch
  | "not-found"
  | "already-exists"
  | "invalid" // the resource failed validation; `issues` says why
  | "forbidden" // the write is never allowed (e.g. deleting a built-in tier) or etcd denied access
  | "closed"; // the store was closed

/** Failures of store operations. Messages follow libcalico-go's wording so calicoctl users recognise them. */
export class DatastoreError extends Error {
  readonly code: DatastoreErrorCode;
  readonly issues: Issue[];
  /** "NetworkPolicy(ns/name)" when the error is about one resource. */
  readonly resource: string | undefined;
  constructor(code: DatastoreErrorCode, message: string, opts: { issues?: Issue[]; resource?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "DatastoreError";
    this.code = code;
    this.issues = opts.issues ?? [];
    this.resource = opts.resource;
  }
}

export function isDatastoreError(err: unknown, code?: DatastoreErrorCode): err is DatastoreError {
  return err instanceof DatastoreError && (code === undefined || err.code === code);
}
export const isNotFound = (err: unknown): boolean => isDatastoreError(err, "not-found");
export const isAlreadyExists = (err: unknown): boolean => isDatastoreError(err, "already-exists");
export const isConflict = (err: unknown): boolean => isDatastoreError(err, "conflict");
