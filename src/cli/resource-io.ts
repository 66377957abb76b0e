/**
 * Shared plumbing of the resource verbs (apply, create, replace, delete, get, patch, label):
 * where output goes, how kinds and namespaces from arguments and files are resolved, how
 * resources are printed, and the calicoctl-style result lines. Loads the datastore, the validator
 * and yaml: import it from a verb's action (its *-run.ts), never from registration.
 */
import { stringify as toYaml } from "yaml";
import { DatastoreError, type Store, type StoredResource } from "../datastore/index.js";
import { kindFromCliName, kindOf, type Issue, type KindInfo, type Resource } from "../model/index.js";
import { loadManifests } from "../validate/index.js";
import { CliError, openStoreFromOptions } from "./datastore-config.js";
import { formatIssues } from "./output.js";
import { formatTable } from "./table.js";
import type { FileOpts, OutputFormat } from "./commands/resource-options.js";

// ------------------------------------------------------------------ output sink

export interface CliSink {
  out(text: string): void;
  err(text: string): void;
  /** Marks the command as failed (exit status 1) without stopping it. */
  fail(): void;
  /** Whether stdout is a terminal (colours, hints). */
  readonly isTTY: boolean;
}

const processSink: CliSink = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  fail: () => {
    process.exitCode = 1;
  },
  get isTTY() {
    return process.stdout.isTTY === true && !process.env.NO_COLOR;
  },
};
let sink: CliSink = processSink;

/** Runs `fn` with output going to `s` (tests run commands in-process this way). */
export async function withSink<T>(s: CliSink, fn: () => Promise<T>): Promise<T> {
  const prev = sink;
  sink = s;
  try {
    return await fn();
  } finally {
    sink = prev;
  }
}

export const io = {
  out: (t: string) => sink.out(t),
  err: (t: string) => sink.err(t),
  fail: () => sink.fail(),
  get color() {
    return sink.isTTY;
  },
};

const paint = (code: string) => (s: string) => (io.color ? `\x1b[${code}m${s}\x1b[0m` : s);
export const red = paint("31");
export const green = paint("32");
export const yellow = paint("33");

/** One line per failure, on stderr, and exit status 1. */
export function failLine(msg: string): void {
  io.err(`${msg}\n`);
  io.fail();
}

/** Issues on stderr, with source excerpts when the texts are known (the shared printer of output.ts). */
export function printIssues(issues: readonly Issue[], sources?: ReadonlyMap<string, string>): void {
  const text = formatIssues(issues, { color: io.color, ...(sources ? { sources } : {}) });
  if (text) io.err(text);
}

// ------------------------------------------------------------------ kinds and namespaces

export function kindFromArg(name: string): KindInfo {
  const k = kindFromCliName(name);
  if (!k) throw new CliError(`resource type '${name}' is not supported`);
  return k;
}

/** The namespace `-n` gives a kind: namespaced kinds default to "default"; cluster-scoped kinds refuse -n. */
export function namespaceFor(kind: KindInfo, ns: string | undefined): string | undefined {
  if (!kind.namespaced) {
    if (ns !== undefined) throw new CliError(`${kind.id} is cluster-scoped: --namespace cannot be used with it`);
    return undefined;
  }
  return ns ?? "default";
}

/** "NetworkPolicy(ns/name)" for messages. */
export function resourceId(r: { kind: string; apiVersion?: string; metadata?: { name?: string; namespace?: string } }): string {
  const k = kindOf(r.apiVersion, r.kind);
  const ns = k?.namespaced ? r.metadata?.namespace : undefined;
  return `${k?.id ?? r.kind}(${ns ? `${ns}/` : ""}${r.metadata?.name ?? "<no name>"})`;
}

export interface InputResource {
  resource: Resource;
  kind: KindInfo;
  /** "file:line" when known. */
  where: string | undefined;
}

/**
 * Reads -f inputs (files, directories recursively, "-" for stdin). Namespaced resources without a
 * namespace take -n (or "default"); one whose namespace differs from -n is an error, as in calicoctl.
 * Returns nothing to act on when any document has an error: a half-valid file is not applied.
 */
export function readInputs(files: readonly string[], namespace: string | undefined): { resources: InputResource[]; ok: boolean } {
  const inputs = files.map((f) => (f === "-" ? "-" : { path: f }));
  const loaded = loadManifests(inputs, { defaultNamespace: null });
  const issues: Issue[] = [...loaded.issues];
  const resources: InputResource[] = [];
  for (const { resource, source } of loaded.resources) {
    const kind = kindOf(resource.apiVersion, resource.kind);
    if (!kind) continue; // the loader reports unknown kinds
    const where = source ? `${source.file ?? "<input>"}:${source.line}` : undefined;
    if (kind.namespaced) {
      const ns = resource.metadata.namespace;
      if (ns === undefined || ns === "") resource.metadata.namespace = namespace ?? "default";
      else if (namespace !== undefined && ns !== namespace) {
        issues.push({
          code: "namespace-mismatch",
          path: ["metadata", "namespace"],
          severity: "error",
          message: `resource namespace does not match client namespace: ${ns} != ${namespace}`,
          resource: resourceId(resource),
          ...(source ? { pos: { file: source.file, line: source.line, col: source.col } } : {}),
        });
        continue;
      }
    }
    resources.push({ resource, kind, where });
  }
  printIssues(issues, loaded.sources);
  const errors = issues.filter((i) => i.severity === "error").length;
  if (errors) {
    failLine(`${errors} error(s) in the input; nothing was changed`);
    return { resources: [], ok: false };
  }
  if (resources.length === 0) {
    failLine("no resources found in the input");
    return { resources: [], ok: false };
  }
  return { resources, ok: true };
}

// ------------------------------------------------------------------ results

export type Verb = "applied" | "created" | "replaced" | "deleted" | "patched";

export interface Outcome {
  kind: KindInfo;
  id: string;
  error?: DatastoreError | Error;
  /** Succeeded without a change (--skip-exists / --skip-not-exists). */
  skipped?: boolean;
}

const VERB_BASE: Record<Verb, string> = { applied: "apply", created: "create", replaced: "replace", deleted: "delete", patched: "patch" };

/**
 * calicoctl-style summary: one "Successfully <verb> N 'Kind' resource(s)" line per kind on
 * stdout, one "Failed to <verb> <id>: <reason>" line per failed resource on stderr.
 */
export function reportOutcomes(verb: Verb, outcomes: readonly Outcome[]): void {
  const okByKind = new Map<string, { n: number; skipped: number }>();
  for (const o of outcomes) {
    if (o.error) continue;
    const e = okByKind.get(o.kind.kind) ?? { n: 0, skipped: 0 };
    e.n++;
    if (o.skipped) e.skipped++;
    okByKind.set(o.kind.kind, e);
  }
  for (const [kind, { n, skipped }] of okByKind) {
    const note = skipped ? ` (${skipped} skipped: ${verb === "deleted" ? "did not exist" : "already existed"})` : "";
    io.out(`${green("Successfully")} ${verb} ${n} '${kind}' resource(s)${note}\n`);
  }
  const failed = outcomes.filter((o) => o.error);
  for (const o of failed) failLine(`${red("Failed")} to ${VERB_BASE[verb]} ${o.id}: ${o.error!.message}`);
  if (failed.length && failed.length < outcomes.length) {
    io.err(`Partial success: ${verb} ${outcomes.length - failed.length} of ${outcomes.length} resource(s)\n`);
  }
  for (const o of failed) {
    if (o.error instanceof DatastoreError && o.error.code === "invalid") printIssues(o.error.issues.filter((i) => i.severity === "error"));
  }
}

/**
 * Runs one store operation per resource and keeps going after a resource fails. When the store
 * itself fails (unreachable, access denied) the remaining resources are reported as not attempted
 * rather than each waiting for its own timeout.
 */
export async function forEachResource(items: readonly InputResource[], op: (r: InputResource) => Promise<{ skipped?: boolean } | void>): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let fatal: Error | undefined;
  for (const item of items) {
    const id = resourceId(item.resource);
    if (fatal) {
      out.push({ kind: item.kind, id, error: new Error(`not attempted: ${fatal.message}`) });
      continue;
    }
    try {
      const res = await op(item);
      out.push({ kind: item.kind, id, skipped: res?.skipped === true });
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      if (err instanceof DatastoreError && (err.code === "unavailable" || err.code === "forbidden" || err.code === "closed")) fatal = err;
      out.push({ kind: item.kind, id, error: err });
    }
  }
  return out;
}

// ------------------------------------------------------------------ printing resources

export { OUTPUT_FORMATS, type OutputFormat } from "./commands/resource-options.js";

type Col = [heading: string, value: (r: Resource) => string];
const s = (v: unknown): string => (v === undefined || v === null ? "" : Array.isArray(v) ? v.join(",") : String(v));
const spec = (r: Resource): Record<string, unknown> => ((r as { spec?: Record<string, unknown> }).spec ?? {}) as Record<string, unknown>;
const NAME: Col = ["NAME", (r) => r.metadata.name];
const POLICY: [Col[], Col[]] = [
  [NAME, ["TIER", (r) => s(spec(r).tier ?? "default")]],
  [NAME, ["TIER", (r) => s(spec(r).tier ?? "default")], ["ORDER", (r) => s(spec(r).order)], ["SELECTOR", (r) => s(spec(r).selector)]],
];
const labelsOf = (m: Record<string, string> | undefined) => Object.entries(m ?? {}).map(([k, v]) => `${k}=${v}`).join(",");

/** Columns per kind: [ps, wide], after calicoctl's resource managers (SEMANTICS.md §7). */
const COLUMNS: Partial<Record<KindInfo["id"], [Col[], Col[]]>> = {
  NetworkPolicy: POLICY,
  GlobalNetworkPolicy: POLICY,
  StagedNetworkPolicy: POLICY,
  StagedGlobalNetworkPolicy: POLICY,
  Tier: [
    [NAME, ["ORDER", (r) => s(spec(r).order)]],
    [NAME, ["ORDER", (r) => s(spec(r).order)], ["DEFAULTACTION", (r) => s(spec(r).defaultAction ?? "Deny")]],
  ],
  NetworkSet: [[NAME], [NAME, ["NETS", (r) => s(spec(r).nets)]]],
  GlobalNetworkSet: [[NAME], [NAME, ["NETS", (r) => s(spec(r).nets)]]],
  HostEndpoint: [
    [NAME, ["NODE", (r) => s(spec(r).node)]],
    [NAME, ["NODE", (r) => s(spec(r).node)], ["INTERFACE", (r) => s(spec(r).interfaceName)], ["IPS", (r) => s(spec(r).expectedIPs)], ["PROFILES", (r) => s(spec(r).profiles)]],
  ],
  WorkloadEndpoint: [
    [NAME, ["WORKLOAD", (r) => s(spec(r).workload ?? spec(r).pod)], ["NODE", (r) => s(spec(r).node)], ["NETWORKS", (r) => s(spec(r).ipNetworks)], ["INTERFACE", (r) => s(spec(r).interfaceName)]],
    [
      NAME,
      ["WORKLOAD", (r) => s(spec(r).workload ?? spec(r).pod)],
      ["NODE", (r) => s(spec(r).node)],
      ["NETWORKS", (r) => s(spec(r).ipNetworks)],
      ["INTERFACE", (r) => s(spec(r).interfaceName)],
      ["PROFILES", (r) => s(spec(r).profiles)],
    ],
  ],
  Profile: [[NAME], [NAME, ["LABELS", (r) => labelsOf(spec(r).labelsToApply as Record<string, string> | undefined)]]],
};
const DEFAULT_COLUMNS: [Col[], Col[]] = [[NAME], [NAME, ["LABELS", (r) => labelsOf(r.metadata.labels)]]];

export function printResources(
  kind: KindInfo,
  items: readonly StoredResource[],
  format: OutputFormat,
  opts: { single: boolean; showNamespace: boolean; revision?: number },
): void {
  switch (format) {
    case "yaml":
    case "json": {
      const doc = opts.single && items.length === 1 ? items[0] : listDocument(kind, items, opts.revision);
      io.out(format === "json" ? `${JSON.stringify(doc, null, 2)}\n` : toYaml(doc, { lineWidth: 0 }));
      return;
    }
    case "name":
      for (const r of items) io.out(`${kind.names[0]}/${r.metadata.name}\n`);
      return;
    case "ps":
    case "wide": {
      let cols = (COLUMNS[kind.id] ?? DEFAULT_COLUMNS)[format === "wide" ? 1 : 0];
      if (opts.showNamespace && kind.namespaced) cols = [["NAMESPACE", (r) => r.metadata.namespace ?? ""], ...cols];
      io.out(formatTable(cols.map((c) => c[0]), items.map((r) => cols.map((c) => c[1](r))), { color: io.color }));
      return;
    }
  }
}

function listDocument(kind: KindInfo, items: readonly StoredResource[], revision: number | undefined): Record<string, unknown> {
  return { apiVersion: kind.apiVersion, kind: `${kind.kind}List`, metadata: revision !== undefined ? { resourceVersion: String(revision) } : {}, items };
}

/** Closes the store even when the command failed; a close failure must not hide the real error. */
export async function withStore<T>(open: () => Promise<Store>, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await open();
  try {
    return await fn(store);
  } finally {
    await store.close().catch(() => undefined);
  }
}

/**
 * The file verbs (create, apply, replace): read and validate every input (nothing is written if
 * any is invalid), then write them one by one and report per kind.
 */
export async function writeInputs(opts: FileOpts, verb: Verb, write: (store: Store, resource: Resource) => Promise<{ skipped?: boolean } | void>): Promise<void> {
  const { resources, ok } = readInputs(opts.filename ?? [], opts.namespace);
  if (!ok) return;
  await withStore(
    () => openStoreFromOptions(opts),
    async (store) => reportOutcomes(verb, await forEachResource(resources, ({ resource }) => write(store, resource))),
  );
}
