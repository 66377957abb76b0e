/**
 * The resources a scenario holds after each step, and how probe endpoint strings resolve against
 * them. Steps are cumulative: apply replaces a resource with the same identity (or appends it),
 * delete removes it, setLabels merges labels.
 */
import { isIP } from "node:net";
import type { EndpointRef, LabelChange, ResourceRef, Scenario, ScenarioResource } from "./types.js";

/** "networking.k8s.io|NetworkPolicy|x|deny-all": Calico and Kubernetes NetworkPolicy differ by group. */
export function resourceKey(r: { apiVersion?: string; kind: string; metadata?: { name?: string; namespace?: string }; namespace?: string; name?: string }): string {
  const group = r.apiVersion === undefined ? "*" : r.apiVersion.includes("/") ? r.apiVersion.split("/")[0]! : "core";
  const ns = r.metadata ? r.metadata.namespace : r.namespace;
  const name = r.metadata ? r.metadata.name : r.name;
  return `${group}|${r.kind}|${ns ?? ""}|${name ?? ""}`;
}

function refMatches(ref: ResourceRef, r: ScenarioResource): boolean {
  if (ref.kind !== r.kind || ref.name !== r.metadata.name) return false;
  if ((ref.namespace ?? "") !== (r.metadata.namespace ?? "")) return false;
  return ref.apiVersion === undefined || ref.apiVersion === r.apiVersion;
}

export interface StepProblem {
  step: number;
  message: string;
  path: Array<string | number>;
}

/**
 * Resources after each step (index i = state after steps[0..i]). Each state is a fresh array whose
 * objects are never shared with another state, so an evaluator may cache on the array's identity.
 */
export function stepStates(scenario: Pick<Scenario, "steps">, problems?: StepProblem[]): ScenarioResource[][] {
  const states: ScenarioResource[][] = [];
  let cur: ScenarioResource[] = [];
  scenario.steps.forEach((step, si) => {
    cur = cur.map((r) => structuredClone(r));
    step.delete.forEach((ref, i) => {
      const before = cur.length;
      cur = cur.filter((r) => !refMatches(ref, r));
      if (cur.length === before) problems?.push({ step: si, path: ["delete", i], message: `nothing to delete: no ${ref.kind} ${ref.namespace ? ref.namespace + "/" : ""}${ref.name}` });
    });
    step.apply.forEach((res) => {
      const key = resourceKey(res);
      const idx = cur.findIndex((r) => resourceKey(r) === key);
      const copy = structuredClone(res);
      if (idx >= 0) cur[idx] = copy;
      else cur.push(copy);
    });
    step.setLabels.forEach((ch: LabelChange, i) => {
      const target = cur.find((r) => refMatches(ch, r));
      if (!target) {
        problems?.push({ step: si, path: ["setLabels", i], message: `no ${ch.kind} ${ch.namespace ? ch.namespace + "/" : ""}${ch.name} to relabel` });
        return;
      }
      const labels: Record<string, string> = { ...(target.metadata.labels ?? {}) };
      for (const [k, v] of Object.entries(ch.labels)) {
        if (v === null) delete labels[k];
        else labels[k] = v;
      }
      target.metadata.labels = labels;
    });
    states.push(cur);
  });
  return states;
}

/** Parses an endpoint string without looking at resources. */
export function parseEndpoint(ref: string): EndpointRef | undefined {
  if (isIP(ref)) return { kind: "ip", ref, ip: ref };
  if (ref.startsWith("hep:")) {
    const name = ref.slice(4);
    return name ? { kind: "hep", ref, name } : undefined;
  }
  if (ref.startsWith("wep:")) {
    const m = /^([^/]+)\/(.+)$/.exec(ref.slice(4));
    return m ? { kind: "wep", ref, namespace: m[1]!, name: m[2]! } : undefined;
  }
  const m = /^([^/:\s*]+)\/([^/:\s*]+)$/.exec(ref);
  return m ? { kind: "pod", ref, namespace: m[1]!, name: m[2]! } : undefined;
}

function podIPs(r: ScenarioResource): string[] {
  const status = (r.status ?? {}) as { podIP?: string; podIPs?: Array<{ ip: string }> };
  const ips = (status.podIPs ?? []).map((p) => p.ip);
  if (status.podIP && !ips.includes(status.podIP)) ips.unshift(status.podIP);
  return ips;
}

function stripPrefix(cidr: string): string {
  return cidr.split("/")[0]!;
}

/** Every address an endpoint has in the given resources (empty when it is not there). */
export function endpointIPs(ep: EndpointRef, resources: ScenarioResource[]): string[] | undefined {
  switch (ep.kind) {
    case "ip":
      return [ep.ip];
    case "pod": {
      const pod = resources.find((r) => r.kind === "Pod" && r.apiVersion === "v1" && r.metadata.name === ep.name && (r.metadata.namespace ?? "default") === ep.namespace);
      return pod ? podIPs(pod) : undefined;
    }
    case "hep": {
      const hep = resources.find((r) => r.kind === "HostEndpoint" && r.metadata.name === ep.name);
      return hep ? (((hep.spec as { expectedIPs?: string[] } | undefined)?.expectedIPs ?? []) as string[]) : undefined;
    }
    case "wep": {
      const wep = resources.find((r) => r.kind === "WorkloadEndpoint" && r.metadata.name === ep.name && (r.metadata.namespace ?? "default") === ep.namespace);
      return wep ? (((wep.spec as { ipNetworks?: string[] } | undefined)?.ipNetworks ?? []) as string[]).map(stripPrefix) : undefined;
    }
  }
}

export function familyOf(ip: string): 4 | 6 {
  return isIP(ip) === 6 ? 6 : 4;
}

/** Every pod of a state as "ns/name", in namespace then name order (the e2e table order). */
export function podNames(resources: ScenarioResource[]): string[] {
  return resources
    .filter((r) => r.kind === "Pod" && r.apiVersion === "v1")
    .map((r) => `${r.metadata.namespace ?? "default"}/${r.metadata.name}`)
    .sort();
}
