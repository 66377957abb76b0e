/**
 * The write rules both backends share: what a valid write is, which fields the store owns, which
 * tiers exist implicitly, and how errors are worded. Backends only add atomicity.
 */
import { randomUUID } from "node:crypto";
import { issue, kindInfo, kindOf, type Issue, type KindId, type KindInfo, type ObjectMeta, type Resource } from "../model/index.js";
import { BUILTIN_TIERS as BUILTIN_TIER_VALUES } from "../validate/index.js";
import { DatastoreError } from "./types.js";
import { resourceKey } from "./keys.js";

/**
 * Validation is injected so the store stays testable on its own; `openStore` wires the real
 * validator from src/validate.
 */
export interface StoreHooks {
  /** Issues for one resource; any issue with severity "error" rejects the write. */
  validate?: (r: Resource) => Issue[];
  /** Fills in API defaults before validation (Calico's client does the same on create/update). */
  applyDefaults?: (r: Resource) => Resource;
}

/**
 * Tiers every store provides, with Calico's v3.32 built-in values (SEMANTICS.md §2.1). They are
 * created by the first write through a store (and by `ensureInitialized`), are always treated as
 * existing when a policy names them, and cannot be deleted.
 */
export const BUILTIN_TIERS: ReadonlyArray<{ name: string; order: number; defaultAction: "Deny" | "Pass" }> = Object.entries(BUILTIN_TIER_VALUES).map(
  ([name, t]) => ({ name, order: t.order, defaultAction: t.defaultAction }),
);
const BUILTIN_TIER_NAMES = new Set(BUILTIN_TIERS.map((t) => t.name));

export function isBuiltinTier(name: string): boolean {
  return BUILTIN_TIER_NAMES.has(name);
}

export function builtinTierResource(t: (typeof BUILTIN_TIERS)[number]): Resource {
  return { apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: t.name }, spec: { order: t.order, defaultAction: t.defaultAction } };
}

/** Kinds whose spec.tier must name an existing tier. */
const TIERED: ReadonlySet<KindId> = new Set(["NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy", "StagedGlobalNetworkPolicy"]);

/** "NetworkPolicy(ns/name)", "Tier(name)" — using the kind id so Kubernetes and Calico NetworkPolicy differ. */
export function describeKey(kind: KindId, namespace: string | undefined, name: string): string {
  return `${kind}(${namespace ? `${namespace}/` : ""}${name})`;
}

export interface PreparedWrite {
  kind: KindInfo;
  namespace: string | undefined;
  name: string;
  key: string;
  id: string; // describeKey(...)
  /** Deep copy, defaulted and validated, without the store-owned metadata fields. */
  resource: Resource;
  /** metadata.resourceVersion as the caller sent it: the version an update must match. */
  expectedVersion: string | undefined;
  /** A non-built-in tier that must exist for this write to succeed. */
  requiredTier: string | undefined;
}

const NAME_FORBIDDEN = /[/\s]|^\.{1,2}$/;

/**
 * Structural checks the store needs for its keys, then defaults and validation. Throws
 * DatastoreError("invalid") carrying every issue; nothing is written in that case.
 */
export function prepareWrite(input: unknown, hooks: StoreHooks): PreparedWrite {
  const issues: Issue[] = [];
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new DatastoreError("invalid", "invalid resource: not an object", { issues: [issue("not-an-object", [], "a resource must be an object")] });
  }
  const raw = input as Record<string, unknown>;
  const kind = kindOf(raw.apiVersion, raw.kind);
  if (!kind) {
    const msg = `unknown resource kind ${String(raw.apiVersion)}/${String(raw.kind)}`;
    throw new DatastoreError("invalid", msg, { issues: [issue("unknown-kind", ["kind"], msg)] });
  }
  let r = structuredClone(input) as Resource;
  const meta = (r.metadata ?? {}) as ObjectMeta;
  r.metadata = meta;
  const expectedVersion = typeof meta.resourceVersion === "string" && meta.resourceVersion !== "" ? meta.resourceVersion : undefined;
  if (meta.resourceVersion !== undefined && typeof meta.resourceVersion !== "string") {
    issues.push(issue("invalid-resource-version", ["metadata", "resourceVersion"], "metadata.resourceVersion must be a string"));
  }
  delete meta.resourceVersion;
  delete meta.uid;
  delete meta.creationTimestamp;

  if (typeof meta.name !== "string" || meta.name === "") {
    issues.push(issue("missing-name", ["metadata", "name"], "metadata.name is required"));
  } else if (NAME_FORBIDDEN.test(meta.name)) {
    issues.push(issue("invalid-name", ["metadata", "name"], `name '${meta.name}' must not contain '/' or whitespace`));
  }
  if (kind.namespaced) {
    if (meta.namespace === undefined || meta.namespace === "") meta.namespace = "default";
    else if (typeof meta.namespace !== "string" || NAME_FORBIDDEN.test(meta.namespace)) {
      issues.push(issue("invalid-namespace", ["metadata", "namespace"], `namespace '${String(meta.namespace)}' is not a valid namespace name`));
    }
  } else if (meta.namespace !== undefined && meta.namespace !== "") {
    issues.push(issue("namespace-not-allowed", ["metadata", "namespace"], `${kind.id} is cluster-scoped; metadata.namespace must not be set`));
  } else {
    delete meta.namespace;
  }
  const id = describeKey(kind.id, kind.namespaced ? meta.namespace : undefined, typeof meta.name === "string" ? meta.name : "<no name>");
  if (issues.length === 0) {
    if (hooks.applyDefaults) r = hooks.applyDefaults(r);
    if (hooks.validate) issues.push(...hooks.validate(r));
  }
  const errors = issues.filter((i) => i.severity === "error");
  if (errors.length > 0) {
    const first = errors[0]!;
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
    throw new DatastoreError("invalid", `invalid ${id}: ${first.message}${more}`, { issues, resource: id });
  }
  const name = r.metadata.name;
  const namespace = kind.namespaced ? r.metadata.namespace : undefined;
  let requiredTier: string | undefined;
  if (TIERED.has(kind.id)) {
    const tier = (r as { spec?: { tier?: unknown } }).spec?.tier;
    const t = typeof tier === "string" && tier !== "" ? tier : "default";
    if (!isBuiltinTier(t)) requiredTier = t;
  }
  return { kind, namespace, name, key: resourceKey(kind.id, namespace, name), id, resource: r, expectedVersion, requiredTier };
}

/** Kubernetes-style timestamp (seconds precision, Z). */
export function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

export function newUid(): string {
  return randomUUID();
}

/**
 * Puts the store-owned fields into metadata in the order Kubernetes prints ObjectMeta, so that
 * `get -o yaml` output is stable across backends.
 */
export function withStoreMeta(r: Resource, fields: { uid?: string; resourceVersion?: string; creationTimestamp?: string }): Resource {
  const { name, namespace, uid: _u, resourceVersion: _rv, creationTimestamp: _c, ...rest } = r.metadata;
  const metadata: ObjectMeta = { name };
  if (namespace !== undefined) metadata.namespace = namespace;
  if (fields.uid !== undefined) metadata.uid = fields.uid;
  if (fields.resourceVersion !== undefined) metadata.resourceVersion = fields.resourceVersion;
  if (fields.creationTimestamp !== undefined) metadata.creationTimestamp = fields.creationTimestamp;
  Object.assign(metadata, rest);
  return { ...r, metadata } as Resource;
}

export function setResourceVersion(r: Resource, rv: number): Resource {
  return withStoreMeta(r, { uid: r.metadata.uid, creationTimestamp: r.metadata.creationTimestamp, resourceVersion: String(rv) });
}

export const errors = {
  notFound: (id: string) => new DatastoreError("not-found", `resource does not exist: ${id}`, { resource: id }),
  alreadyExists: (id: string) => new DatastoreError("already-exists", `resource already exists: ${id}`, { resource: id }),
  conflict: (id: string, expected: string, latest: string) =>
    new DatastoreError("conflict", `update conflict: ${id}: resource version '${expected}' is out of date (latest: ${latest})`, { resource: id }),
  tierMissing: (tier: string, forId: string) =>
    new DatastoreError("not-found", `resource does not exist: Tier(${tier})`, {
      resource: forId,
      issues: [issue("tier-not-found", ["spec", "tier"], `resource does not exist: Tier(${tier})`)],
    }),
  builtinTierDelete: (name: string) =>
    new DatastoreError("forbidden", `operation delete is not supported on Tier(${name}): cannot delete a built-in tier`, { resource: `Tier(${name})` }),
  tierNotEmpty: (name: string, policy: string) =>
    new DatastoreError("forbidden", `operation delete is not supported on Tier(${name}): cannot delete a non-empty tier (${policy} is in it)`, {
      resource: `Tier(${name})`,
    }),
  closed: () => new DatastoreError("closed", "the datastore has been closed"),
};

/** Whether a policy kind sits in tier `name` (used to refuse deleting non-empty tiers). */
export function policyTier(kind: KindId, r: Resource): string | undefined {
  if (!TIERED.has(kind)) return undefined;
  const tier = (r as { spec?: { tier?: unknown } }).spec?.tier;
  return typeof tier === "string" && tier !== "" ? tier : "default";
}
export const TIERED_KINDS: readonly KindId[] = [...TIERED];

export function checkDeleteTarget(kind: KindId, namespace: string | undefined, name: string): { namespace: string | undefined; id: string } {
  const info = kindInfo(kind);
  const ns = info.namespaced ? (namespace === undefined || namespace === "" ? "default" : namespace) : undefined;
  if (kind === "Tier" && isBuiltinTier(name)) throw errors.builtinTierDelete(name);
  return { namespace: ns, id: describeKey(kind, ns, name) };
}

/** Sorts by kind id, then namespace, then name — the order snapshots and lists are returned in. */
export function compareResources(a: Resource, b: Resource): number {
  const ka = kindOf(a.apiVersion, a.kind)?.id ?? a.kind;
  const kb = kindOf(b.apiVersion, b.kind)?.id ?? b.kind;
  if (ka !== kb) return ka < kb ? -1 : 1;
  const na = a.metadata.namespace ?? "";
  const nb = b.metadata.namespace ?? "";
  if (na !== nb) return na < nb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}
