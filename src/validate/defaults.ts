/**
 * Defaults applied at load, so that everything downstream sees the stored form (what Calico's
 * client and the Kubernetes API server store after admission), not the form the user typed.
 * Kept separate from validation: validation judges the input, this shapes the output.
 *
 * | kind | default |
 * | --- | --- |
 * | every map field set to null | removed (Go decodes null as "absent") |
 * | namespaced kinds | metadata.namespace = options.defaultNamespace ("default") when absent |
 * | NP, GNP, staged NP/GNP | spec.tier = "default"; spec.types from the table in SEMANTICS §2.3; label projectcalico.org/tier = tier |
 * | staged NP/GNP/KNP | spec.stagedAction = "Set"; with Delete, types are cleared (as the Calico client does) |
 * | Tier | spec.defaultAction = "Deny" |
 * | Calico rules | numeric-string protocol/notProtocol → number; numeric-string port → number; "p:p" → p |
 * | HEP/WEP ports | numeric-string protocol → number |
 * | networking.k8s.io NetworkPolicy | podSelector = {}; policyTypes = [Ingress] + Egress if egress rules exist; port protocol = TCP |
 * | Pod container ports, Service ports, EndpointSlice ports | protocol = TCP |
 * | kinds with a spec | spec = {} when absent |
 */
import type { Resource } from "../model/index.js";
import { kindOf } from "../model/index.js";
import { arr, isObj, obj, type Obj } from "./check-util.js";

export const LABEL_TIER = "projectcalico.org/tier";

export interface DefaultsOptions {
  /** Namespace given to namespaced resources without one; null leaves it unset. */
  defaultNamespace?: string | null;
}

/** Deep copy without null-valued map entries (Go's JSON decoding treats them as absent). */
export function stripNulls<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => stripNulls(x)) as T;
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = stripNulls(x);
    return out as T;
  }
  return v;
}

const NUMERIC = /^[0-9]+$/;

function normaliseProtocol(r: Obj, key: string): void {
  const p = r[key];
  if (typeof p === "string" && NUMERIC.test(p) && Number(p) <= 255) r[key] = Number(p);
}

function normalisePorts(ent: Obj | undefined): void {
  if (!ent) return;
  for (const key of ["ports", "notPorts"]) {
    const ports = ent[key];
    if (!Array.isArray(ports)) continue;
    ent[key] = ports.map((p) => {
      if (typeof p !== "string") return p;
      if (NUMERIC.test(p)) return Number(p);
      const m = /^([0-9]+):([0-9]+)$/.exec(p);
      if (m && m[1] === m[2]) return Number(m[1]);
      return p;
    });
  }
}

function normaliseRules(rules: unknown): void {
  for (const rv of arr(rules)) {
    const r = obj(rv);
    if (!r) continue;
    normaliseProtocol(r, "protocol");
    normaliseProtocol(r, "notProtocol");
    normalisePorts(obj(r.source));
    normalisePorts(obj(r.destination));
  }
}

/** The types table (api/pkg/defaults/networkpolicy.go): used only when types is empty. */
export function defaultPolicyTypes(ingress: unknown, egress: unknown): Array<"Ingress" | "Egress"> {
  const hasIn = arr(ingress).length > 0;
  const hasEg = arr(egress).length > 0;
  if (!hasEg) return ["Ingress"];
  if (!hasIn) return ["Egress"];
  return ["Ingress", "Egress"];
}

function defaultK8sPorts(spec: Obj): void {
  for (const dir of ["ingress", "egress"]) {
    for (const rv of arr(spec[dir])) {
      for (const pv of arr(obj(rv)?.ports)) {
        const p = obj(pv);
        if (p && p.protocol === undefined) p.protocol = "TCP";
      }
    }
  }
}

/**
 * Returns a defaulted deep copy of a resource (see the table above). The input is not modified.
 * Meant for valid resources; on invalid ones it does what it can and never throws.
 */
export function applyDefaults<T extends Resource>(resource: T, opts: DefaultsOptions = {}): T {
  const r = stripNulls(resource) as unknown as Obj;
  const info = kindOf(r.apiVersion, r.kind);
  if (!info) return r as unknown as T;
  const meta = (obj(r.metadata) ?? (r.metadata = {})) as Obj;
  const ns = opts.defaultNamespace === undefined ? "default" : opts.defaultNamespace;
  if (info.namespaced && (meta.namespace === undefined || meta.namespace === "") && ns !== null) meta.namespace = ns;

  const needsSpec = info.id !== "ServiceAccount" && info.id !== "EndpointSlice" && info.id !== "Namespace";
  if (needsSpec && !isObj(r.spec)) r.spec = {};
  const spec = obj(r.spec) ?? {};

  switch (info.id) {
    case "NetworkPolicy":
    case "GlobalNetworkPolicy":
    case "StagedNetworkPolicy":
    case "StagedGlobalNetworkPolicy": {
      if (typeof spec.tier !== "string" || spec.tier === "") spec.tier = "default";
      const staged = info.id.startsWith("Staged");
      if (staged && spec.stagedAction === undefined) spec.stagedAction = "Set";
      if (staged && spec.stagedAction === "Delete") delete spec.types;
      else if (arr(spec.types).length === 0) spec.types = defaultPolicyTypes(spec.ingress, spec.egress);
      const labels = (obj(meta.labels) ?? (meta.labels = {})) as Obj;
      labels[LABEL_TIER] = spec.tier;
      normaliseRules(spec.ingress);
      normaliseRules(spec.egress);
      break;
    }
    case "Profile":
      normaliseRules(spec.ingress);
      normaliseRules(spec.egress);
      break;
    case "Tier":
      if (spec.defaultAction === undefined) spec.defaultAction = "Deny";
      break;
    case "HostEndpoint":
    case "WorkloadEndpoint":
      for (const p of arr(spec.ports)) if (isObj(p)) normaliseProtocol(p, "protocol");
      break;
    case "KubernetesNetworkPolicy":
      if (!isObj(spec.podSelector)) spec.podSelector = {};
      if (arr(spec.policyTypes).length === 0) {
        spec.policyTypes = arr(spec.egress).length > 0 ? ["Ingress", "Egress"] : ["Ingress"];
      }
      defaultK8sPorts(spec);
      break;
    case "StagedKubernetesNetworkPolicy":
      if (spec.stagedAction === undefined) spec.stagedAction = "Set";
      if (spec.stagedAction !== "Delete" && !isObj(spec.podSelector)) spec.podSelector = {};
      break;
    case "Pod":
      for (const c of arr(spec.containers)) {
        for (const p of arr(obj(c)?.ports)) if (isObj(p) && p.protocol === undefined) p.protocol = "TCP";
      }
      break;
    case "Service":
      for (const p of arr(spec.ports)) if (isObj(p) && p.protocol === undefined) p.protocol = "TCP";
      break;
    case "EndpointSlice":
      for (const p of arr(r.ports)) if (isObj(p) && p.protocol === undefined) p.protocol = "TCP";
      if (!Array.isArray(r.endpoints)) r.endpoints = [];
      break;
    default:
      break;
  }
  return r as unknown as T;
}
