/**
 * Endpoint builder: turns Pods, WorkloadEndpoints, HostEndpoints, Namespaces, ServiceAccounts,
 * Profiles and (Global)NetworkSets into the labelled things policy works on, the way Calico's
 * Kubernetes conversion and syncer update processors do (SEMANTICS §1.6, §6):
 *
 *   Pod ──(k8s conversion)──▶ workload endpoint: labels + projectcalico.org/{namespace,orchestrator,
 *        serviceaccount}, profiles [kns.<ns>, ksa.<ns>.<sa>], IPs, named container ports
 *   Namespace ──▶ profile kns.<ns> (allow both ways; labelsToApply pcns.*)
 *   ServiceAccount ──▶ profile ksa.<ns>.<sa> (no rules; labelsToApply pcsa.*)
 *   NetworkSet ──▶ labelled CIDRs + projectcalico.org/namespace, parent profile kns.<ns>
 *
 * Pure: one call per input snapshot; the agent can call the per-resource functions incrementally.
 */
import type {
  EndpointPort,
  GlobalNetworkSet,
  HostEndpoint,
  Issue,
  Namespace,
  NetworkSet,
  Pod,
  Profile,
  Rule,
  ServiceAccount,
  WorkloadEndpoint,
} from "../model/index.js";
import { copyRecord, exactArray, issue, joined } from "../model/index.js";
import { canonicalAddr, formatAddr, parseAddr, parseCidr, protocolNumber, type NamedPortDecl } from "../rule/index.js";
import { SequenceMemo, hashSequence, type SequenceItem } from "./sequence-memo.js";

import {
  LABEL_NAMESPACE,
  LABEL_ORCHESTRATOR,
  LABEL_SERVICE_ACCOUNT,
  NAMESPACE_LABEL_PREFIX as NS_LABEL_PREFIX,
  SERVICE_ACCOUNT_LABEL_PREFIX as SA_LABEL_PREFIX,
} from "../selector/index.js";

const LABEL_NAME = "projectcalico.org/name";
export const NS_PROFILE_PREFIX = "kns.";
export const SA_PROFILE_PREFIX = "ksa.";
/** Kubernetes adds this label to every namespace (since 1.21); YAML often leaves it out. */
export const K8S_NS_NAME_LABEL = "kubernetes.io/metadata.name";
/** Calico's static profile for auto-created host endpoints (libcalico-go/lib/resources/static.go). */
export const DEFAULT_ALLOW_PROFILE = "projectcalico-default-allow";

/** A profile as the engine uses it: rules still in resource form (compiled later) plus labels. */
export interface ProfileRecord {
  name: string;
  labelsToApply: Record<string, string>;
  ingress: Rule[];
  egress: Rule[];
  /** What produced it, for messages: "Namespace prod", "Profile foo", "built-in". */
  source: string;
}

export interface EndpointRecord {
  key: string;
  kind: "workload" | "host";
  name: string;
  namespace?: string;
  pod?: string;
  node: string;
  interfaceName?: string;
  /** Canonical single addresses, IPv4 first. */
  ips: string[];
  ownLabels: Record<string, string>;
  profiles: string[];
  namedPorts: NamedPortDecl[];
  /** What produced it, for messages; absent for a Pod (recordSource makes "Pod <ns>/<name>": a
   *  text per pod kept only for a rare message). */
  source?: string;
}

/** The resource an endpoint record came from, for messages. */
export function recordSource(rec: EndpointRecord): string {
  return rec.source ?? `Pod ${rec.pod}`;
}

/**
 * What many pods of one conversion share, made once: the profile list of each (namespace,
 * ServiceAccount), each named-port declaration and each list of them (replicas have equal ones).
 * Record data is read-only, so sharing changes no value; at 100k pods it saves ~300k small objects
 * and strings the full computation would otherwise keep (and copy through the young generation).
 */
export class PodRecordMemo {
  private readonly profileLists = new Map<string, Map<string, string[]>>();
  /** name → port → protocol → declaration. */
  private readonly decls = new Map<string, Map<number, Map<number, NamedPortDecl>>>();
  private readonly declIds = new Map<NamedPortDecl, number>();
  private readonly portLists = new Map<string, NamedPortDecl[]>();
  /** Labels objects by (namespace, service account, own label keys and values in their order). */
  private readonly labelSets = new SequenceMemo<Record<string, string>>();
  /** The last sequence `labels` hashed, which a miss's `keepLabels` passes straight back. */
  private lastLabelsKey: readonly SequenceItem[] | undefined;
  private lastLabelsHash = 0;
  /** Declaration lists by the raw (name, protocol, port) sequence of a pod's containers. */
  private readonly podPortLists = new SequenceMemo<NamedPortDecl[]>();
  /** Node name → its part of a workload endpoint name (a few hundred nodes, 100k pods). */
  private readonly nodeParts = new Map<string, string>();

  /** escDash(node), once per node. */
  nodePart(node: string): string {
    let part = this.nodeParts.get(node);
    if (part === undefined) this.nodeParts.set(node, (part = escDash(node)));
    return part;
  }

  profiles(ns: string, sa: string): string[] {
    let bySa = this.profileLists.get(ns);
    if (!bySa) this.profileLists.set(ns, (bySa = new Map()));
    let list = bySa.get(sa);
    if (!list) bySa.set(sa, (list = [NS_PROFILE_PREFIX + ns, serviceAccountProfileName(ns, sa)]));
    return list;
  }

  decl(name: string, protocol: number, port: number): NamedPortDecl {
    let byPort = this.decls.get(name);
    if (!byPort) this.decls.set(name, (byPort = new Map()));
    let byProto = byPort.get(port);
    if (!byProto) byPort.set(port, (byProto = new Map()));
    let d = byProto.get(protocol);
    if (!d) {
      byProto.set(protocol, (d = { name, protocol, port }));
      this.declIds.set(d, this.declIds.size);
    }
    return d;
  }

  /**
   * The key of a pod's endpoint labels: its namespace, service account and own labels in their
   * order, which decide them (podToEndpoint); undefined when a label value is not a text (the pod
   * then has labels of its own). Replicas have equal keys, and share one labels object (`labels`
   * / `keepLabels`).
   */
  labelsKey(ns: string, sa: string, podLabels: Readonly<Record<string, string>> | undefined): readonly SequenceItem[] | undefined {
    const keys = podLabels ? Object.keys(podLabels) : [];
    // Made at its final size (grown by push it would be reallocated twice per pod).
    const items = new Array<string>(2 + 2 * keys.length);
    items[0] = ns;
    items[1] = sa;
    let at = 2;
    for (const k of keys) {
      const v = podLabels![k];
      if (typeof v !== "string") return undefined;
      items[at++] = k;
      items[at++] = v;
    }
    return items;
  }

  labels(key: readonly SequenceItem[]): Record<string, string> | undefined {
    this.lastLabelsKey = key;
    this.lastLabelsHash = hashSequence(key);
    return this.labelSets.get(key, this.lastLabelsHash);
  }

  keepLabels(key: readonly SequenceItem[], labels: Record<string, string>): void {
    this.labelSets.set(key, labels, key === this.lastLabelsKey ? this.lastLabelsHash : hashSequence(key));
  }

  /**
   * The shared declaration list of a pod's named container ports (containers, then init
   * containers), found by one lookup of their (name, protocol, port) sequence: replicas have equal
   * ones, and the per-port path costs three lookups per port and one per list. Undefined when a
   * name is not a text or a port is not a number (then the caller takes the per-port path, which
   * keeps such values apart).
   */
  podPorts(containerLists: ReadonlyArray<Pod["spec"]["containers"] | undefined>): NamedPortDecl[] | undefined {
    const items: SequenceItem[] = [];
    for (const containers of containerLists) {
      for (const c of containers ?? []) {
        for (const p of c.ports ?? []) {
          const proto = namedContainerPortProtocol(p);
          if (proto === undefined) continue;
          if (typeof p.name !== "string" || typeof p.containerPort !== "number") return undefined;
          items.push(p.name, proto, p.containerPort);
        }
      }
    }
    if (items.length === 0) return NO_PORT_DECLS;
    const hash = hashSequence(items);
    let list = this.podPortLists.get(items, hash);
    if (!list) {
      const decls: NamedPortDecl[] = [];
      for (const containers of containerLists) containerPorts(containers, decls, this);
      this.podPortLists.set(items, (list = this.portList(decls)), hash);
    }
    return list;
  }

  /** One shared list per sequence of declarations made by `decl`. */
  portList(decls: NamedPortDecl[]): NamedPortDecl[] {
    if (decls.length === 0) return NO_PORT_DECLS;
    let key = "";
    for (const d of decls) key += `${this.declIds.get(d)},`;
    let list = this.portLists.get(key);
    if (!list) this.portLists.set(key, (list = exactArray(decls)));
    return list;
  }
}

export interface NetworkSetRecord {
  key: string; // "netset/<ns>/<name>" | "gnetset/<name>"
  name: string;
  namespace?: string;
  ownLabels: Record<string, string>;
  profiles: string[];
  /** Canonical masked CIDRs; /0 split into two /1 like Felix. */
  nets: string[];
}

/** Why a Pod produced no endpoint (explain reports it instead of "unknown endpoint"). */
export interface SkippedPod {
  ref: string; // ns/name
  reason: string;
}

/** No named ports: one shared empty list (read-only record data). */
const NO_PORT_DECLS: NamedPortDecl[] = [];

function escDash(s: string): string {
  // replaceAll with a text pattern: no regular-expression machinery (a quarter less allocated
  // per call, three calls per pod).
  return s.includes("-") ? s.replaceAll("-", "--") : s;
}

/** Calico's WorkloadEndpoint name escaping: "-" doubles, parts joined with "-". */
export function workloadEndpointName(node: string, orchestrator: string, workload: string, endpoint: string): string {
  return escapedWorkloadEndpointName(escDash(node), escDash(orchestrator), escDash(workload), escDash(endpoint));
}

/** workloadEndpointName of parts already escaped. */
function escapedWorkloadEndpointName(node: string, orchestrator: string, workload: string, endpoint: string): string {
  // join makes one flat string; a template literal would keep a tree of concatenations alive in
  // every endpoint record and IR (measured: +8 MiB retained at 30k pods).
  return [node, orchestrator, workload, endpoint].join("-");
}

export function namespaceProfile(ns: Namespace): ProfileRecord {
  const name = ns.metadata.name;
  const labels: Record<string, string> = { [K8S_NS_NAME_LABEL]: name, ...(ns.metadata.labels ?? {}) };
  const labelsToApply: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) labelsToApply[NS_LABEL_PREFIX + k] = v;
  labelsToApply[`${NS_LABEL_PREFIX}${LABEL_NAME}`] = name;
  return {
    name: NS_PROFILE_PREFIX + name,
    labelsToApply,
    ingress: [{ action: "Allow" }],
    egress: [{ action: "Allow" }],
    source: `Namespace ${name}`,
  };
}

export function serviceAccountProfileName(namespace: string, sa: string): string {
  return `${SA_PROFILE_PREFIX}${namespace || "default"}.${sa}`;
}

export function serviceAccountProfile(sa: ServiceAccount): ProfileRecord {
  const ns = sa.metadata.namespace || "default";
  const labelsToApply: Record<string, string> = {};
  for (const [k, v] of Object.entries(sa.metadata.labels ?? {})) labelsToApply[SA_LABEL_PREFIX + k] = v;
  labelsToApply[`${SA_LABEL_PREFIX}${LABEL_NAME}`] = sa.metadata.name;
  return { name: serviceAccountProfileName(ns, sa.metadata.name), labelsToApply, ingress: [], egress: [], source: `ServiceAccount ${ns}/${sa.metadata.name}` };
}

export function calicoProfile(p: Profile): ProfileRecord {
  return {
    name: p.metadata.name,
    labelsToApply: { ...(p.spec?.labelsToApply ?? {}) },
    ingress: p.spec?.ingress ?? [],
    egress: p.spec?.egress ?? [],
    source: `Profile ${p.metadata.name}`,
  };
}

export function defaultAllowProfile(): ProfileRecord {
  return { name: DEFAULT_ALLOW_PROFILE, labelsToApply: {}, ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }], source: "built-in" };
}

/** A dotted quad without leading zeros is its own canonical form (skips the BigInt parse for the
 *  common case). */
const CANONICAL_V4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

function sortIPs(ips: string[]): string[] {
  // The usual pod: nothing to de-duplicate or order. A fresh one-slot array, as the general path
  // returns: `ips` was grown by push and has spare capacity that every record would keep.
  if (ips.length === 1) return [ips[0]!];
  const uniq = [...new Set(ips)];
  return uniq.sort((a, b) => {
    const fa = a.includes(":") ? 6 : 4;
    const fb = b.includes(":") ? 6 : 4;
    if (fa !== fb) return fa - fb;
    const va = parseAddr(a)!.value;
    const vb = parseAddr(b)!.value;
    return va < vb ? -1 : va > vb ? 1 : 0;
  });
}

function portProtocol(p: string | number | undefined): number | undefined {
  if (p === undefined || p === "") return 6;
  // Endpoint port protocols are case-insensitive in Calico's model (numorstring lower-cases).
  if (typeof p === "string") {
    const lower = p.toLowerCase();
    if (lower === "tcp") return 6;
    if (lower === "udp") return 17;
    if (lower === "sctp") return 132;
  }
  return protocolNumber(p);
}

/** The protocol of a container port that declares a named port Calico keeps: one with a name and
 *  a port number, over TCP, UDP or SCTP (Calico ignores other protocols); undefined otherwise. */
function namedContainerPortProtocol(p: NonNullable<Pod["spec"]["containers"][number]["ports"]>[number]): number | undefined {
  if (!p.name || !p.containerPort) return undefined;
  const proto = portProtocol(p.protocol);
  return proto === 6 || proto === 17 || proto === 132 ? proto : undefined;
}

function containerPorts(containers: Pod["spec"]["containers"] | undefined, out: NamedPortDecl[], memo: PodRecordMemo | undefined): void {
  for (const c of containers ?? []) {
    for (const p of c.ports ?? []) {
      const proto = namedContainerPortProtocol(p);
      if (proto === undefined) continue;
      const name = p.name!; // a protocol means a name (namedContainerPortProtocol)
      out.push(memo ? memo.decl(name, proto, p.containerPort) : { name, protocol: proto, port: p.containerPort });
    }
  }
}

/** Pod → workload endpoint (Calico's default k8s conversion), or why there is none. `memo`: share
 *  profile lists and named ports with the other pods of one conversion (same values). */
export function podToEndpoint(pod: Pod, issues: Issue[], memo?: PodRecordMemo): EndpointRecord | SkippedPod {
  const ns = pod.metadata.namespace || "default";
  const ref = joined("/", ns, pod.metadata.name);
  if (pod.spec?.hostNetwork) return { ref, reason: "the pod uses the host network, so Calico has no workload endpoint for it" };
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return { ref, reason: `the pod has finished (phase ${phase}) and no longer owns its IPs` };
  const podIPs = pod.status?.podIPs;
  let raw: string[];
  // The usual pod, one address: a list of one, not one grown by push (17 slots of garbage).
  if (Array.isArray(podIPs) && podIPs.length === 1 && podIPs[0]?.ip) raw = [podIPs[0].ip];
  else {
    raw = [];
    for (const p of podIPs ?? []) if (p?.ip) raw.push(p.ip);
    if (raw.length === 0 && pod.status?.podIP) raw.push(pod.status.podIP);
  }
  const ips: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const ip = raw[i]!;
    const c = typeof ip === "string" && CANONICAL_V4.test(ip) ? ip : canonicalAddr(ip);
    if (!c) {
      issues.push({ ...issue("invalid-pod-ip", ["status", "podIPs", i, "ip"], `pod IP ${JSON.stringify(ip)} is not an IP address`), resource: `Pod ${ref}` });
      continue;
    }
    ips.push(c);
  }
  if (ips.length === 0) return { ref, reason: "the pod has no IP address yet (status.podIP/podIPs), so Calico does not program it" };

  // The ServiceAccount admission controller fills serviceAccountName; YAML written by hand often
  // leaves it out, so default it the way a real cluster would.
  const sa = pod.spec?.serviceAccountName || "default";
  const podLabels = pod.metadata.labels;
  // Replicas share one labels object (read-only record data): built for the first of them only.
  const labelsKey = memo?.labelsKey(ns, sa, podLabels);
  let labels = labelsKey === undefined ? undefined : memo!.labels(labelsKey);
  if (!labels) {
    labels = {};
    if (podLabels) {
      for (const k of Object.keys(podLabels)) {
        // The syncer strips these so a workload cannot claim another namespace's labels.
        if (k.startsWith(NS_LABEL_PREFIX) || k.startsWith(SA_LABEL_PREFIX)) continue;
        labels[k] = podLabels[k]!;
      }
    }
    labels[LABEL_NAMESPACE] = ns;
    labels[LABEL_ORCHESTRATOR] = "k8s";
    labels[LABEL_SERVICE_ACCOUNT] = sa;
    if (labelsKey !== undefined) memo!.keepLabels(labelsKey, labels);
  }

  const containerLists = [pod.spec?.containers, (pod.spec as Record<string, unknown>)?.initContainers as Pod["spec"]["containers"]];
  let namedPorts = memo?.podPorts(containerLists);
  if (!namedPorts) {
    namedPorts = [];
    for (const containers of containerLists) containerPorts(containers, namedPorts, memo);
    namedPorts = memo ? memo.portList(namedPorts) : exactArray(namedPorts);
  }
  const node = pod.spec?.nodeName ?? "";
  // workloadEndpointName with the node's part escaped once per node; "k8s" and "eth0" have no
  // dash to escape.
  const name = escapedWorkloadEndpointName(memo ? memo.nodePart(node) : escDash(node), "k8s", escDash(pod.metadata.name), "eth0");
  return {
    key: joined("/", "wep", ns, name),
    kind: "workload",
    name,
    namespace: ns,
    pod: ref,
    node,
    ips: sortIPs(ips),
    ownLabels: labels,
    profiles: memo ? memo.profiles(ns, sa) : [NS_PROFILE_PREFIX + ns, serviceAccountProfileName(ns, sa)],
    namedPorts,
  };
}

function endpointPorts(ports: EndpointPort[] | undefined, where: string, resource: string, issues: Issue[]): NamedPortDecl[] {
  const out: NamedPortDecl[] = [];
  (ports ?? []).forEach((p, i) => {
    if (!p?.name) return; // unnamed ports are CNI bookkeeping; Felix ignores them
    const proto = portProtocol(p.protocol);
    if (proto === undefined || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
      issues.push({ ...issue("invalid-endpoint-port", ["spec", where, i], `port ${JSON.stringify(p)} needs a protocol (TCP/UDP/SCTP) and a port number 1–65535`), resource });
      return;
    }
    out.push({ name: p.name, protocol: proto, port: p.port });
  });
  return out;
}

/** WorkloadEndpoint given directly (VMs, other orchestrators), as the Calico client stores it. */
export function workloadEndpointRecord(w: WorkloadEndpoint, issues: Issue[]): EndpointRecord | SkippedPod {
  const ns = w.metadata.namespace || "default";
  const resource = `WorkloadEndpoint ${ns}/${w.metadata.name}`;
  const ips: string[] = [];
  (w.spec?.ipNetworks ?? []).forEach((n, i) => {
    const c = parseCidr(n);
    if (!c) {
      issues.push({ ...issue("invalid-ip-network", ["spec", "ipNetworks", i], `${JSON.stringify(n)} is not an IP network`), resource });
      return;
    }
    ips.push(formatAddr({ family: c.family, value: c.base }));
  });
  if (ips.length === 0) return { ref: `${ns}/${w.metadata.name}`, reason: "the workload endpoint has no ipNetworks; Calico filters it out" };
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(w.metadata.labels ?? {})) {
    if (k.startsWith(NS_LABEL_PREFIX) || k.startsWith(SA_LABEL_PREFIX)) continue;
    labels[k] = v;
  }
  labels[LABEL_NAMESPACE] = ns;
  labels[LABEL_ORCHESTRATOR] = w.spec?.orchestrator ?? "";
  if (w.spec?.serviceAccountName) labels[LABEL_SERVICE_ACCOUNT] = w.spec.serviceAccountName;
  return {
    key: `wep/${ns}/${w.metadata.name}`,
    kind: "workload",
    name: w.metadata.name,
    namespace: ns,
    pod: w.spec?.orchestrator === "k8s" && w.spec?.pod ? `${ns}/${w.spec.pod}` : undefined,
    node: w.spec?.node ?? "",
    interfaceName: w.spec?.interfaceName,
    ips: sortIPs(ips),
    ownLabels: labels,
    profiles: [...(w.spec?.profiles ?? [])],
    namedPorts: endpointPorts(w.spec?.ports, "ports", resource, issues),
    source: resource,
  };
}

export function hostEndpointRecord(h: HostEndpoint, issues: Issue[]): EndpointRecord {
  const resource = `HostEndpoint ${h.metadata.name}`;
  const ips: string[] = [];
  (h.spec?.expectedIPs ?? []).forEach((ip, i) => {
    const c = canonicalAddr(ip);
    if (!c) {
      issues.push({ ...issue("invalid-expected-ip", ["spec", "expectedIPs", i], `${JSON.stringify(ip)} is not an IP address`), resource });
      return;
    }
    ips.push(c);
  });
  return {
    key: `hep/${h.metadata.name}`,
    kind: "host",
    name: h.metadata.name,
    node: h.spec?.node ?? "",
    interfaceName: h.spec?.interfaceName,
    ips: sortIPs(ips),
    ownLabels: { ...(h.metadata.labels ?? {}) },
    profiles: [...(h.spec?.profiles ?? [])],
    namedPorts: endpointPorts(h.spec?.ports, "ports", resource, issues),
    source: resource,
  };
}

/** Felix cannot put a /0 into a kernel set, so it splits it into two /1s (named_port_index.go). */
function splitZero(c: string): string[] {
  if (c === "0.0.0.0/0") return ["0.0.0.0/1", "128.0.0.0/1"];
  if (c === "::/0") return ["::/1", "8000::/1"];
  return [c];
}

export function networkSetRecord(s: NetworkSet | GlobalNetworkSet, issues: Issue[]): NetworkSetRecord {
  const global = s.kind === "GlobalNetworkSet";
  const ns = global ? undefined : s.metadata.namespace || "default";
  const resource = global ? `GlobalNetworkSet ${s.metadata.name}` : `NetworkSet ${ns}/${s.metadata.name}`;
  const nets: string[] = [];
  (s.spec?.nets ?? []).forEach((n, i) => {
    const c = parseCidr(n);
    if (!c) {
      issues.push({ ...issue("invalid-net", ["spec", "nets", i], `${JSON.stringify(n)} is not a CIDR or IP address`), resource });
      return;
    }
    nets.push(...splitZero(`${formatAddr({ family: c.family, value: c.base })}/${c.prefix}`));
  });
  const ownLabels = { ...(s.metadata.labels ?? {}) };
  if (!global) ownLabels[LABEL_NAMESPACE] = ns!;
  return {
    key: global ? `gnetset/${s.metadata.name}` : `netset/${ns}/${s.metadata.name}`,
    name: s.metadata.name,
    namespace: ns,
    ownLabels,
    profiles: global ? [] : [NS_PROFILE_PREFIX + ns],
    nets: [...new Set(nets)],
  };
}

/** Effective labels: own labels, then each profile's labelsToApply in order; first definition of a
 *  key wins (felix labelindex: own labels shadow parents). */
export function effectiveLabels(own: Record<string, string>, profiles: string[], profileRecords: Map<string, ProfileRecord>): Record<string, string> {
  const out = copyRecord(own);
  for (const p of profiles) {
    const rec = profileRecords.get(p);
    if (!rec) continue;
    const la = rec.labelsToApply;
    // for-in over the own keys (labelsToApply is a plain record): no key array per call.
    for (const k in la) if (Object.hasOwn(la, k) && !Object.hasOwn(out, k)) out[k] = la[k]!;
  }
  return out;
}
