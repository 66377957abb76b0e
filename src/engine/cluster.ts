/**
 * Cluster: compiles a snapshot of resources into the ClusterIR and answers questions about it.
 *
 * Wiring (each box is a node an incremental calculator can reuse):
 *
 *   resources ─▶ partition by kind
 *     Namespace / ServiceAccount / Profile ──▶ profile records (labelsToApply, rules)
 *     Pod / WorkloadEndpoint / HostEndpoint ──▶ endpoint builder ──┐
 *     NetworkSet / GlobalNetworkSet ──────────▶ net-set records ───┴▶ effective labels ▶ LabelIndex
 *     Tier + policy tiers ────────────────────▶ buildTiers (sorted TierIR)
 *     (G)NP, staged, K8s NP (via convert) ────▶ compilePolicy ─┬▶ RuleCompiler ─▶ SetRegistry
 *     profiles ───────────────────────────────▶ compileProfile ┘
 *     PolicyResolver(tiers, policies) + LabelIndex ─▶ per-endpoint programs
 *     SetRegistry + LabelIndex + EndpointSlices ─▶ calculateSets (members)
 *   ─▶ ClusterIR (plain, sorted data) ─▶ explain / matrix (rule/match.ts) and kernel renderers
 *
 * Invalid resources are dropped with an issue (Felix: "validation failed; treating as missing").
 */
import type {
  EndpointSlice,
  GlobalNetworkPolicy,
  GlobalNetworkSet,
  HostEndpoint,
  Issue,
  K8sNetworkPolicy,
  Namespace,
  NetworkPolicy,
  NetworkSet,
  Pod,
  Profile,
  Resource,
  ServiceAccount,
  StagedGlobalNetworkPolicy,
  StagedKubernetesNetworkPolicy,
  StagedNetworkPolicy,
  Tier,
  WorkloadEndpoint,
} from "../model/index.js";
import { ChunkedMap, copyRecord, issue, kindOf } from "../model/index.js";
import { convertKubernetesNetworkPolicy } from "../convert/index.js";
import { indexSets, type ClusterIR, type EndpointIR, type PolicyIR, type PolicyKey, type ProfileIR, type SetLookup } from "../rule/index.js";
import {
  calicoProfile,
  defaultAllowProfile,
  effectiveLabels,
  hostEndpointRecord,
  namespaceProfile,
  networkSetRecord,
  NS_PROFILE_PREFIX,
  PodRecordMemo,
  podToEndpoint,
  recordSource,
  SA_PROFILE_PREFIX,
  serviceAccountProfile,
  workloadEndpointRecord,
  type EndpointRecord,
  type NetworkSetRecord,
  type ProfileRecord,
  type SkippedPod,
} from "./endpoint-builder.js";
import { DEFAULT_FAILSAFE, failsafeRules, type FailsafeConfig } from "./failsafe.js";
import { hasSeparator, LabelIndex } from "./label-index.js";
import { buildTiers, compilePolicy, compileProfile, PolicyResolver, profileKey, type CompiledPolicy, type PolicyInput, type ProgramSet } from "./policy-resolver.js";
import { lazySets, MemberOrder, SetRegistry, type SetItem } from "./set-calculator.js";
import { endpointRef } from "./refs.js";
import { withSelectorCache } from "./selector-cache.js";
import { tryExplain, explain, type Explanation, type ExplainQuery } from "./explain.js";
import { tryMatrix, type Matrix, type MatrixQuery } from "./matrix.js";
import { FlowInputError } from "./errors.js";

export interface ClusterOptions {
  /** Host-endpoint failsafe ports; Felix's defaults when absent. */
  failsafe?: FailsafeConfig;
  /** Felix DefaultEndpointToHostAction (workload → its own host). Default "Drop" (Felix default). */
  defaultEndpointToHostAction?: "Drop" | "Return" | "Accept";
}

/** Input: resources, or loader output ({resource, source}). */
export type ClusterInput = ReadonlyArray<Resource | { resource: Resource }>;

function isWrapped(x: Resource | { resource: Resource }): x is { resource: Resource } {
  return typeof x === "object" && x !== null && "resource" in x && !("kind" in x);
}

interface Partitioned {
  namespaces: Namespace[];
  serviceAccounts: ServiceAccount[];
  profiles: Profile[];
  pods: Pod[];
  weps: WorkloadEndpoint[];
  heps: HostEndpoint[];
  netsets: Array<NetworkSet | GlobalNetworkSet>;
  tiers: Tier[];
  policies: PolicyInput[];
  k8sPolicies: Array<K8sNetworkPolicy | StagedKubernetesNetworkPolicy>;
  slices: EndpointSlice[];
}

function describe(r: Resource): string {
  const ns = r.metadata?.namespace;
  return `${r.kind} ${ns ? `${ns}/` : ""}${r.metadata?.name ?? "<no name>"}`;
}

function partition(input: ClusterInput, issues: Issue[]): Partitioned {
  const p: Partitioned = { namespaces: [], serviceAccounts: [], profiles: [], pods: [], weps: [], heps: [], netsets: [], tiers: [], policies: [], k8sPolicies: [], slices: [] };
  // kind → namespace ("" when cluster-scoped) → names: the input's own texts as keys, no
  // "kind|ns|name" text per resource (175k of them at 100k pods, garbage after the build).
  const seen = new Map<string, Map<string, Set<string>>>();
  for (const raw of input) {
    const r = isWrapped(raw) ? raw.resource : raw;
    const k = kindOf(r?.apiVersion, r?.kind);
    if (!k) {
      issues.push({ ...issue("unknown-kind", ["kind"], `unknown resource kind ${JSON.stringify(r?.apiVersion)}/${JSON.stringify(r?.kind)}`), resource: r ? describe(r) : "<null>" });
      continue;
    }
    if (!r.metadata || typeof r.metadata.name !== "string" || r.metadata.name === "") {
      issues.push({ ...issue("missing-name", ["metadata", "name"], "resource has no metadata.name"), resource: describe(r) });
      continue;
    }
    const ns = k.namespaced ? r.metadata.namespace || "default" : "";
    let byNs = seen.get(k.id);
    if (!byNs) seen.set(k.id, (byNs = new Map()));
    let names = byNs.get(ns);
    if (!names) byNs.set(ns, (names = new Set()));
    // One set operation per resource (175k at 100k pods): a name already there leaves the size.
    const before = names.size;
    names.add(r.metadata.name);
    if (names.size === before) issues.push({ ...issue("duplicate-resource", ["metadata", "name"], `${describe(r)} appears more than once; the last one is used`, "warning"), resource: describe(r) });
    switch (k.id) {
      case "Namespace": p.namespaces.push(r as Namespace); break;
      case "ServiceAccount": p.serviceAccounts.push(r as ServiceAccount); break;
      case "Profile": p.profiles.push(r as Profile); break;
      case "Pod": p.pods.push(r as Pod); break;
      case "WorkloadEndpoint": p.weps.push(r as WorkloadEndpoint); break;
      case "HostEndpoint": p.heps.push(r as HostEndpoint); break;
      case "NetworkSet": case "GlobalNetworkSet": p.netsets.push(r as NetworkSet | GlobalNetworkSet); break;
      case "Tier": p.tiers.push(r as Tier); break;
      case "NetworkPolicy": case "GlobalNetworkPolicy": case "StagedNetworkPolicy": case "StagedGlobalNetworkPolicy":
        p.policies.push({ kind: k.id, resource: r as NetworkPolicy | GlobalNetworkPolicy | StagedNetworkPolicy | StagedGlobalNetworkPolicy, label: describe(r) });
        break;
      case "KubernetesNetworkPolicy": case "StagedKubernetesNetworkPolicy":
        p.k8sPolicies.push(r as K8sNetworkPolicy | StagedKubernetesNetworkPolicy);
        break;
      case "EndpointSlice": p.slices.push(r as EndpointSlice); break;
      case "Service": break; // `services` matches use the EndpointSlices, as Felix does
    }
  }
  return p;
}


/** The IR of one endpoint from its record, effective labels and resolved programs. The one place
 *  this shape is assembled: the agent's incremental graph builds its endpoints with it too. */
export function endpointIR(ep: EndpointRecord, labels: Readonly<Record<string, string>>, programs: ProgramSet, shareLabels = false): EndpointIR {
  // A copy unless the caller hands over an object nobody mutates (the full build shares one
  // labels object per label class: 100k endpoints, a few thousand distinct label maps).
  const l = shareLabels ? (labels as Record<string, string>) : copyRecord(labels);
  // The usual pod endpoint as one complete literal (all fields in-object, no temporary objects
  // from conditional spreads); same keys in the same order as the general form below.
  if (ep.namespace !== undefined && ep.pod !== undefined && ep.interfaceName === undefined && hasOnlyInOut(programs)) {
    return { key: ep.key, kind: ep.kind, name: ep.name, namespace: ep.namespace, pod: ep.pod, node: ep.node, ips: ep.ips, labels: l, namedPorts: ep.namedPorts, ingress: programs.ingress, egress: programs.egress };
  }
  return {
    key: ep.key,
    kind: ep.kind,
    name: ep.name,
    ...(ep.namespace !== undefined ? { namespace: ep.namespace } : {}),
    ...(ep.pod !== undefined ? { pod: ep.pod } : {}),
    node: ep.node,
    ...(ep.interfaceName !== undefined ? { interfaceName: ep.interfaceName } : {}),
    ips: ep.ips,
    labels: l,
    namedPorts: ep.namedPorts,
    ...programs,
  };
}

/** Own keys exactly ingress, egress in that order (what a workload's ProgramSet has). */
function hasOnlyInOut(p: ProgramSet): boolean {
  let i = 0;
  for (const k in p) {
    if ((i === 0 && k !== "ingress") || (i === 1 && k !== "egress") || i > 1) return false;
    i++;
  }
  return i === 2;
}

/** Injective text of a profile list: names joined by \u0001 when none contains a separator (the
 *  usual case, cheaper than JSON), otherwise the JSON (which starts with "[", never \u0002). */
function profilesKey(profiles: readonly string[]): string {
  let k = "\u0002";
  for (const p of profiles) {
    if (hasSeparator(p)) return JSON.stringify(profiles);
    k += `${p}\u0001`;
  }
  return k;
}

/**
 * The endpoint records with one per key, and their positions in that list ordered by key (the
 * IR lists endpoints by key). A key given more than once keeps the place of its first record and
 * the last record's value (what a map set in input order would hold), with a warning for each
 * later record, in input order. One sort does both: no map from key to record (100k fresh texts
 * hashed, garbage right after the build).
 */
function uniqueByKey(records: readonly EndpointRecord[], issues: Issue[]): { unique: EndpointRecord[]; byKey: number[] } {
  const n = records.length;
  // Keys read into one array first: the comparator runs ~1.5M times at 100k endpoints, and a load
  // from a flat array of texts is cheaper there than two property loads through the records.
  const keys = new Array<string>(n);
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    keys[i] = records[i]!.key;
    order[i] = i;
  }
  // Equal keys in input order (by position, not relying on the sort being stable).
  order.sort((a, b) => {
    const ka = keys[a]!;
    const kb = keys[b]!;
    return ka < kb ? -1 : ka > kb ? 1 : a - b;
  });
  // valueAt[first position of a key] = position of its last record; -1 elsewhere.
  const valueAt = new Int32Array(n).fill(-1);
  const firsts: number[] = [];
  let later: number[] | undefined;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && keys[order[j]!] === keys[order[i]!]) (later ??= []).push(order[j++]!);
    valueAt[order[i]!] = order[j - 1]!;
    firsts.push(order[i]!);
    i = j;
  }
  if (later) {
    for (const at of later.sort((a, b) => a - b)) {
      const rec = records[at]!;
      const source = recordSource(rec);
      issues.push({ ...issue("duplicate-endpoint", [], `${source} has the same endpoint key ${rec.key} as another resource; the last one is used`, "warning"), resource: source });
    }
  }
  const unique: EndpointRecord[] = [];
  const itemAt = new Int32Array(n);
  for (let at = 0; at < n; at++) {
    if (valueAt[at] === -1) continue;
    itemAt[at] = unique.length;
    unique.push(records[valueAt[at]!]!);
  }
  const byKey = new Array<number>(firsts.length);
  for (let i = 0; i < firsts.length; i++) byKey[i] = itemAt[firsts[i]!]!;
  return { unique, byKey };
}

function sameKeyOrder(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return false;
  return true;
}

export class Cluster {
  readonly ir: ClusterIR;
  /** Problems found while compiling (errors mean a resource was dropped). */
  readonly issues: Issue[];
  readonly options: Required<ClusterOptions>;
  /** Pods that exist but have no endpoint, with the reason (explain reports it). */
  readonly skippedPods: Map<string, string>;
  private indexes: { byKey: Map<string, EndpointIR>; byRef: Map<string, EndpointIR>; byIP: Map<string, EndpointIR[]> } | undefined;
  private lookup: SetLookup | undefined;

  private constructor(ir: ClusterIR, issues: Issue[], options: Required<ClusterOptions>, skipped: Map<string, string>) {
    this.ir = ir;
    this.issues = issues;
    this.options = options;
    this.skippedPods = skipped;
  }

  /** Endpoint lookups by key, reference and IP, built on the first lookup (a build that is only
   *  handed to the dataplane or serialised never needs them). */
  private get idx(): NonNullable<Cluster["indexes"]> {
    if (this.indexes) return this.indexes;
    const byKey = new Map<string, EndpointIR>();
    const byRef = new Map<string, EndpointIR>();
    const byIP = new Map<string, EndpointIR[]>();
    for (const ep of this.ir.endpoints) {
      byKey.set(ep.key, ep);
      byRef.set(endpointRef(ep), ep);
      if (ep.kind === "workload" && ep.namespace && !ep.pod) byRef.set(`${ep.namespace}/${ep.name}`, ep);
      // Pod endpoints can also be named by their WorkloadEndpoint name (node-k8s-pod-eth0).
      if (ep.kind === "workload" && ep.pod && !byRef.has(ep.name)) byRef.set(ep.name, ep);
      for (const ip of ep.ips) {
        let l = byIP.get(ip);
        if (!l) byIP.set(ip, (l = []));
        l.push(ep);
      }
    }
    return (this.indexes = { byKey, byRef, byIP });
  }

  static fromResources(resources: ClusterInput, options: ClusterOptions = {}): Cluster {
    return withSelectorCache(() => Cluster.build(resources, options));
  }

  private static build(resources: ClusterInput, options: ClusterOptions): Cluster {
    const opts: Required<ClusterOptions> = {
      failsafe: options.failsafe ?? DEFAULT_FAILSAFE,
      defaultEndpointToHostAction: options.defaultEndpointToHostAction ?? "Drop",
    };
    const issues: Issue[] = [];
    const p = partition(resources, issues);

    // ---- profiles
    const profiles = new Map<string, ProfileRecord>();
    profiles.set(defaultAllowProfile().name, defaultAllowProfile());
    for (const pr of p.profiles) profiles.set(pr.metadata.name, calicoProfile(pr));
    for (const ns of p.namespaces) profiles.set(NS_PROFILE_PREFIX + ns.metadata.name, namespaceProfile(ns));
    for (const sa of p.serviceAccounts) {
      const rec = serviceAccountProfile(sa);
      profiles.set(rec.name, rec);
    }

    // ---- endpoints
    // Every record in input order; duplicate keys are resolved below, with the sort by key.
    const records: EndpointRecord[] = [];
    const skipped = new Map<string, string>();
    const addEndpoint = (rec: EndpointRecord | SkippedPod) => {
      if ("reason" in rec) skipped.set(rec.ref, rec.reason);
      else records.push(rec);
    };
    // In a function of its own so that the memo (an entry per distinct label set and port list)
    // is garbage when the pods are done, not held by the rest of this long function.
    const addPods = () => {
      const podMemo = new PodRecordMemo();
      // Pods of one (namespace, ServiceAccount) share one profile list (PodRecordMemo): check the
      // profiles once per list.
      const checkedProfiles = new Set<readonly string[]>();
      for (const pod of p.pods) {
        const rec = podToEndpoint(pod, issues, podMemo);
        addEndpoint(rec);
        if (!("reason" in rec) && !checkedProfiles.has(rec.profiles)) {
          checkedProfiles.add(rec.profiles);
          // A real cluster always has the pod's Namespace and ServiceAccount; synthesise what the
          // input leaves out so namespace/SA labels and the kns allow profile exist.
          const ns = rec.namespace!;
          if (!profiles.has(NS_PROFILE_PREFIX + ns)) profiles.set(NS_PROFILE_PREFIX + ns, namespaceProfile({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }));
          const saProfile = rec.profiles[1]!;
          if (!profiles.has(saProfile)) {
            const sa = saProfile.slice(SA_PROFILE_PREFIX.length + ns.length + 1);
            profiles.set(saProfile, serviceAccountProfile({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa, namespace: ns } }));
          }
        }
      }
    };
    addPods();
    for (const w of p.weps) addEndpoint(workloadEndpointRecord(w, issues));
    for (const h of p.heps) addEndpoint(hostEndpointRecord(h, issues));
    const { unique: endpointList, byKey: endpointItems } = uniqueByKey(records, issues);
    records.length = 0;
    const netsets = new Map<string, NetworkSetRecord>();
    for (const s of p.netsets) {
      const rec = networkSetRecord(s, issues);
      netsets.set(rec.key, rec);
    }

    // ---- labels
    const index = new LabelIndex();
    // Endpoints whose effective labels equal their class's, key order included (so printed IR is
    // unchanged), share the class's labels object in the IR instead of a copy each.
    const unshared: Array<Record<string, string> | undefined> = [];
    // Replicas share effective labels and programs: compute those (and the label signature) once
    // per group, named by its first item's number. Pods of one conversion with equal namespace,
    // service account and own labels (in their order) share one labels object and one profile
    // list (PodRecordMemo), so a group is (profile list, labels object) by identity: no key text
    // per endpoint. Other endpoints have objects of their own, and groups of one. The kind needs
    // no place in the key: only pods share these objects.
    const firstWith = new Map<readonly string[], Map<Readonly<Record<string, string>>, number>>();
    const groupOf: number[] = [];
    // Item n of the label index, for the per-item arrays here and in the set calculation
    // (MemberOrder); endpoints are items 0 … endpointList.length - 1.
    const setItems: SetItem[] = [];
    for (const ep of endpointList) {
      let byLabels = firstWith.get(ep.profiles);
      const first = byLabels?.get(ep.ownLabels);
      if (first !== undefined) {
        index.addLike(ep.key, first);
        setItems.push(ep);
        groupOf.push(first);
        unshared.push(unshared[first]);
        continue;
      }
      const l = effectiveLabels(ep.ownLabels, ep.profiles, profiles);
      const item = index.add(ep.key, l);
      if (!byLabels) firstWith.set(ep.profiles, (byLabels = new Map()));
      byLabels.set(ep.ownLabels, item);
      setItems.push(ep);
      groupOf.push(item);
      const shared = index.classOfItem(item).labels;
      unshared.push(shared !== l && !sameKeyOrder(shared, l) ? l : undefined);
    }
    for (const ns of netsets.values()) {
      index.add(ns.key, effectiveLabels(ns.ownLabels, ns.profiles, profiles));
      setItems.push(ns);
    }

    // ---- policies
    const sets = new SetRegistry();
    const compiled: CompiledPolicy[] = [];
    const addPolicy = (input: PolicyInput) => {
      const r = compilePolicy(input, sets);
      issues.push(...r.issues);
      if (r.policy) compiled.push(r.policy);
    };
    for (const pol of p.policies) addPolicy(pol);
    for (const knp of p.k8sPolicies) {
      const label = describe(knp);
      const staged = knp.kind === "StagedKubernetesNetworkPolicy";
      if (staged && (knp.spec as { stagedAction?: string })?.stagedAction === "Delete") {
        // The converter produces nothing for a staged Delete; keep a stub so the what-if view can
        // remove the enforced policy.
        addPolicy({ kind: "StagedKubernetesNetworkPolicy", resource: { apiVersion: "projectcalico.org/v3", kind: "StagedNetworkPolicy", metadata: { ...knp.metadata }, spec: { stagedAction: "Delete" } }, label });
        continue;
      }
      const conv = convertKubernetesNetworkPolicy(knp);
      issues.push(...conv.issues.map((i) => (i.resource ? i : { ...i, resource: label })));
      if (!conv.policy) continue;
      addPolicy({
        kind: staged ? "StagedKubernetesNetworkPolicy" : "KubernetesNetworkPolicy",
        resource: { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: conv.policy.metadata, spec: conv.policy.spec } as NetworkPolicy,
        label,
      });
    }
    // Later duplicates win (same key).
    const byKey = new Map<PolicyKey, CompiledPolicy>();
    for (const c of compiled) byKey.set(c.ir.key, c);
    const policiesList = [...byKey.values()];
    const tiers = buildTiers(p.tiers, policiesList.map((c) => c.ir.tier));
    for (const t of tiers) {
      if (t.missing) {
        issues.push(issue("missing-tier", [], `policies name tier ${JSON.stringify(t.name)}, which does not exist; they are ordered after all tiers and end with Deny (Calico's client would refuse to create them)`, "warning"));
      }
    }

    // ---- profiles compiled
    const profileIR: Record<PolicyKey, ProfileIR> = {};
    // Map keys are the names / keys, unique: the default sort (UTF-16 code units, the order of
    // `<` on strings) gives the same order as a comparator, without a JS callback per comparison.
    for (const rec of [...profiles.keys()].sort().map((k) => profiles.get(k)!)) {
      const c = compileProfile(rec, sets);
      if (c.issues.some((i) => i.severity === "error")) {
        issues.push(...c.issues);
        continue;
      }
      issues.push(...c.issues);
      const key = profileKey(rec.name);
      profileIR[key] = { key, name: rec.name, ingress: c.ingress, egress: c.egress };
    }
    // Every rule is compiled: the compile memos (entity rules by their JSON, policy selectors) would
    // only be kept alive by the lazy sets, which hold the registry.
    sets.forgetMemos();

    // ---- programs
    // Policy-driven selection: each policy's selector runs once on the label classes its label
    // restrictions allow; endpoints then share programs per (kind, selecting policies, profiles).
    const resolver = new PolicyResolver(tiers, policiesList);
    const byClass = resolver.selectingByClass(index);
    const programsByClass = new Map<string, ProgramSet>();
    const programsOfGroup: Array<ProgramSet | undefined> = [];
    // Profile keys per profile list: pods of one (namespace, ServiceAccount) share one list
    // (PodRecordMemo), and the keys are kept in every program made for it.
    const profileKeysOf = new Map<readonly string[], PolicyKey[]>();
    const profileKeys = (profiles: readonly string[]): PolicyKey[] => {
      let keys = profileKeysOf.get(profiles);
      if (!keys) profileKeysOf.set(profiles, (keys = profiles.map(profileKey)));
      return keys;
    };
    const epIR: EndpointIR[] = [];
    for (const item of endpointItems) {
      const ep = setItems[item] as EndpointRecord;
      const cls = index.classOfItem(item);
      const group = groupOf[item]!;
      let programs = programsOfGroup[group];
      if (!programs) {
        // Groups of equal class, kind and profiles share programs too: look them up without
        // building the resolver's cache key (the list of policy positions).
        const short = `${cls.ordinal}|${ep.kind}|${profilesKey(ep.profiles)}`;
        programs = programsByClass.get(short);
        if (!programs) programsByClass.set(short, (programs = resolver.programsFor(ep.kind, byClass[cls.ordinal]!, profileKeys(ep.profiles))));
        programsOfGroup[group] = programs;
      }
      const own = unshared[item];
      epIR.push(own ? endpointIR(ep, own, programs) : endpointIR(ep, cls.labels, programs, true));
    }

    // ---- sets
    // Members are computed when a set is first read (lazySets): same record, same values.
    // The set computation reads endpoints by key only on paths a full build does not take (it
    // has the member order): the map is made if one is ever asked for, not for every build.
    let endpointMap: Map<string, EndpointRecord> | undefined;
    const endpoints = { get: (key: string) => (endpointMap ??= new Map(endpointList.map((ep) => [ep.key, ep]))).get(key) };
    const setDefs = lazySets(sets, { index, endpoints, netsets, slices: p.slices, order: () => new MemberOrder(setItems) });

    const policyKeys = [...byKey.keys()].sort();
    const policyIR = ChunkedMap.fromSorted(
      policyKeys,
      policyKeys.map((k) => byKey.get(k)!.ir),
    );

    const ir: ClusterIR = {
      tiers,
      policies: policyIR,
      profiles: profileIR,
      sets: setDefs,
      endpoints: epIR,
      failsafe: failsafeRules(opts.failsafe),
      defaultEndpointToHostAction: opts.defaultEndpointToHostAction,
    };
    // The set membership index (SetLookup) is built on first use: the IR consumers that do not
    // query (dataplane, agent) never need it, and explain pays only for the sets it touches.
    return new Cluster(ir, issues, opts, skipped);
  }

  /** Membership index over the IR's sets (built lazily, shared by all queries). */
  get sets(): SetLookup {
    return (this.lookup ??= indexSets(this.ir.sets));
  }

  endpointByKey(key: string): EndpointIR | undefined {
    return this.idx.byKey.get(key);
  }

  /** By reference: "ns/pod", "hep:<name>", a WorkloadEndpoint name or "ns/<wep name>". */
  endpointByRef(ref: string): EndpointIR | undefined {
    return this.idx.byRef.get(ref) ?? (ref.startsWith("hep/") || ref.startsWith("wep/") ? this.idx.byKey.get(ref) : undefined);
  }

  /** Host endpoints of a node (sorted by key). */
  hostEndpointsOnNode(node: string): EndpointIR[] {
    return this.ir.endpoints.filter((e) => e.kind === "host" && e.node === node);
  }

  endpointsByIP(ip: string): EndpointIR[] {
    return this.idx.byIP.get(ip) ?? [];
  }

  get endpoints(): readonly EndpointIR[] {
    return this.ir.endpoints;
  }

  /** Is this flow allowed, and which tier / policy / rule decided it? Throws FlowInputError (with
   *  issues) for unknown endpoints or a bad port; tryExplain returns them instead. */
  explain(q: ExplainQuery): Explanation {
    return explain(this, q);
  }

  tryExplain(q: ExplainQuery): { ok: true; value: Explanation } | { ok: false; issues: Issue[] } {
    return tryExplain(this, q);
  }

  /** The allow/deny table of all endpoint pairs. Throws FlowInputError for a bad query. */
  matrix(q: MatrixQuery): Matrix {
    const r = tryMatrix(this, q);
    if (!r.ok) throw new FlowInputError(r.issues);
    return r.value;
  }

  tryMatrix(q: MatrixQuery): { ok: true; value: Matrix } | { ok: false; issues: Issue[] } {
    return tryMatrix(this, q);
  }
}
