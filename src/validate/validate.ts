/**
 * validateResource: one document in, every problem out, as `calicoctl create` / `kubectl create`
 * would judge it (without the datastore: tier existence and name clashes with stored objects are
 * not document properties). validateResources adds the checks that need the whole input.
 */
import type { Issue, KindId } from "../model/index.js";
import { CALICO_API, describeResource, KINDS, kindInfo, kindOf } from "../model/index.js";
import { collector, isObj, obj, str, type Obj } from "./check-util.js";
import { stripNulls } from "./defaults.js";
import { checkHostEndpoint, checkNetworkSet, checkWorkloadEndpoint } from "./endpoints.js";
import { checkEndpointSlice, checkK8sNetworkPolicy, checkPod, checkService } from "./k8s.js";
import { checkAnnotations, checkLabels } from "./labels.js";
import { checkNameAndNamespace } from "./names.js";
import { checkCalicoPolicy, checkProfile, checkTier, isCalicoPolicyKind } from "./policy.js";
import { checkStructure } from "./structure.js";

/** Calico's CRD storage group: same schema as projectcalico.org/v3, accepted as an old spelling. */
export const CRD_API_ALIAS = "crd.projectcalico.org/v1";

export type KindResolution =
  | { ok: true; kind: KindId; apiVersion: string; aliased: boolean }
  | { ok: false; issue: Issue };

/** Decides the kind of a document from apiVersion/kind, with a helpful issue when it cannot. */
export function resolveKind(apiVersion: unknown, kind: unknown): KindResolution {
  const fail = (code: string, path: string[], message: string): KindResolution => ({
    ok: false,
    issue: { code, path, message, severity: "error" },
  });
  if (apiVersion === undefined) return fail("required", ["apiVersion"], 'missing required field "apiVersion"');
  if (kind === undefined) return fail("required", ["kind"], 'missing required field "kind"');
  if (typeof apiVersion !== "string") return fail("invalid-type", ["apiVersion"], "apiVersion must be a string");
  if (typeof kind !== "string") return fail("invalid-type", ["kind"], "kind must be a string");
  const direct = kindOf(apiVersion, kind);
  if (direct) return { ok: true, kind: direct.id, apiVersion, aliased: false };
  if (apiVersion === CRD_API_ALIAS) {
    const k = kindOf(CALICO_API, kind);
    if (k) return { ok: true, kind: k.id, apiVersion: CALICO_API, aliased: true };
  }
  // Explain the miss: wrong case, wrong group for a known kind, or an unknown group.
  const sameGroup = KINDS.filter((k) => k.apiVersion === apiVersion);
  const ci = KINDS.find((k) => k.apiVersion === apiVersion && k.kind.toLowerCase() === kind.toLowerCase());
  if (ci) return fail("unknown-kind", ["kind"], `unknown kind "${kind}" in ${apiVersion}; did you mean "${ci.kind}"? (kinds are case-sensitive)`);
  const elsewhere = KINDS.filter((k) => k.kind === kind).map((k) => k.apiVersion);
  if (elsewhere.length > 0)
    return fail(
      "unknown-kind",
      ["apiVersion"],
      `kind ${kind} is not served by apiVersion "${apiVersion}"; use ${elsewhere.map((a) => `"${a}"`).join(" or ")}`,
    );
  if (sameGroup.length > 0)
    return fail(
      "unknown-kind",
      ["kind"],
      `unknown kind "${kind}" in ${apiVersion}; tortie knows ${sameGroup.map((k) => k.kind).join(", ")}`,
    );
  return fail(
    "unknown-kind",
    ["apiVersion"],
    `unknown apiVersion/kind "${apiVersion}" ${kind}; tortie reads ${[...new Set(KINDS.map((k) => k.apiVersion))].join(", ")}`,
  );
}

/** The semantic checks of one kind, on a null-stripped object of that kind. */
function checkKind(kind: KindId, r: Obj, report: ReturnType<typeof collector>["report"]): void {
  const meta = obj(r.metadata);
  checkNameAndNamespace(kind, meta, report);
  checkLabels(meta?.labels, ["metadata", "labels"], report);
  checkAnnotations(meta?.annotations, ["metadata", "annotations"], report);
  if (isCalicoPolicyKind(kind)) {
    checkCalicoPolicy(kind, r, report);
    return;
  }
  switch (kind) {
    case "Tier":
      return checkTier(r, report);
    case "Profile":
      return checkProfile(r, report);
    case "NetworkSet":
    case "GlobalNetworkSet":
      return checkNetworkSet(r, report);
    case "HostEndpoint":
      return checkHostEndpoint(r, report);
    case "WorkloadEndpoint":
      return checkWorkloadEndpoint(r, report);
    case "KubernetesNetworkPolicy":
      return checkK8sNetworkPolicy(r, false, report);
    case "StagedKubernetesNetworkPolicy":
      return checkK8sNetworkPolicy(r, true, report);
    case "Pod":
      return checkPod(r, report);
    case "Service":
      return checkService(r, report);
    case "EndpointSlice":
      return checkEndpointSlice(r, report);
    case "Namespace":
    case "ServiceAccount":
      return;
    default:
      return;
  }
}

/**
 * Every problem with one resource document (a plain object as parsed from YAML/JSON, or a typed
 * Resource). Empty when the resource is valid. Never throws on user input.
 */
export function validateResource(input: unknown): Issue[] {
  if (!isObj(input)) {
    return [
      {
        code: "not-an-object",
        path: [],
        severity: "error",
        message: `a resource must be a mapping with apiVersion, kind and metadata, not ${input === null ? "null" : Array.isArray(input) ? "a list" : typeof input}`,
      },
    ];
  }
  const r = stripNulls(input);
  const k = resolveKind(r.apiVersion, r.kind);
  if (!k.ok) return [k.issue];
  const { issues, report } = collector();
  if (k.aliased) {
    report(
      "deprecated-api-version",
      ["apiVersion"],
      `${CRD_API_ALIAS} is Calico's storage API; read as ${CALICO_API}`,
      "warning",
    );
  }
  const typed = k.aliased ? { ...r, apiVersion: CALICO_API } : r;
  issues.push(...checkStructure(k.kind, typed));
  checkKind(k.kind, typed, report);
  const name = str(obj(r.metadata)?.name);
  const desc = describeResource({ kind: kindInfo(k.kind).kind, metadata: { name, namespace: str(obj(r.metadata)?.namespace) } });
  for (const i of issues) i.resource ??= desc;
  return issues;
}

/** Identity used for duplicate detection: kind id, namespace (defaulted) and name. */
export function resourceKey(r: unknown, defaultNamespace: string | null = "default"): string | undefined {
  if (!isObj(r)) return undefined;
  const k = resolveKind(r.apiVersion, r.kind);
  if (!k.ok) return undefined;
  const meta = obj(r.metadata);
  const name = str(meta?.name);
  if (!name) return undefined;
  const info = kindInfo(k.kind);
  const ns = info.namespaced ? (str(meta?.namespace) || defaultNamespace || "") : "";
  return `${k.kind}/${ns}/${name}`;
}

/** For each resource that repeats an earlier one (same kind, namespace, name): [index, firstIndex]. */
export function findDuplicates(resources: readonly unknown[], defaultNamespace: string | null = "default"): Array<[number, number]> {
  const first = new Map<string, number>();
  const out: Array<[number, number]> = [];
  resources.forEach((r, i) => {
    const key = resourceKey(r, defaultNamespace);
    if (key === undefined) return;
    const f = first.get(key);
    if (f === undefined) first.set(key, i);
    else out.push([i, f]);
  });
  return out;
}

/**
 * validateResource on each, plus checks across the set: the same resource (kind, namespace,
 * name) given twice is an error, as the second `calicoctl create` of it would fail.
 */
export function validateResources(resources: readonly unknown[]): Issue[] {
  const issues = resources.flatMap((r) => validateResource(r));
  for (const [i, f] of findDuplicates(resources)) {
    const r = resources[i] as Obj;
    const meta = obj(r.metadata);
    issues.push({
      code: "duplicate-resource",
      path: ["metadata", "name"],
      severity: "error",
      message: `${describeResource({ kind: String(r.kind), metadata: { name: str(meta?.name), namespace: str(meta?.namespace) } })} is given twice (resources ${f + 1} and ${i + 1})`,
      resource: describeResource({ kind: String(r.kind), metadata: { name: str(meta?.name), namespace: str(meta?.namespace) } }),
    });
  }
  return issues;
}
