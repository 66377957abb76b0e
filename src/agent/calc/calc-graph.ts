/**
 * The agent's incremental calculation: datastore updates in, the local node's ClusterIR out, with
 * dirty tracking between flushes (Felix calc_graph.go, synchronous and single-threaded).
 *
 * Wiring (each step reuses the engine's per-resource functions, so the result is by construction
 * what Cluster.fromResources computes; calc-graph.test.ts checks that it is, on random sequences):
 *
 *   put/delete ─▶ dispatch by kind
 *     Namespace / ServiceAccount / Profile ─▶ profile sources ─(effective record per name)─┐
 *     Pod / WorkloadEndpoint / HostEndpoint ─▶ endpoint sources ─(winner per key)──────────┤
 *     NetworkSet / GlobalNetworkSet ─▶ net-set records ────────────────────────────────────┤
 *                                                                                          ▼
 *                                      labelled items: effective labels (own + profiles)
 *                                        │ label change ─▶ SetIndex (active sets only)
 *                                        └ local endpoint ─▶ dirty endpoint
 *     Tier ─────────────────────────────▶ tiers (buildTiers) ─ change ─▶ every local endpoint dirty
 *     (G)NP, staged, K8s NP ─▶ policyHead ─▶ policy whose old or new selector matches a
 *                                            local endpoint ─▶ dirty endpoint
 *     EndpointSlice ─▶ service sets dirty
 *
 *   flush: dirty endpoints ─▶ PolicyResolver(tiers, policies selecting it, their rules compiled
 *          on first use) ─▶ EndpointIR
 *          ─▶ active policies / profiles (referenced by local programs) ─▶ active sets (refcounts)
 *          ─▶ SetIndex.flush (dirty sets patched with the members that came and went; new
 *             sets and bulk changes recomputed whole) ─▶ local ClusterIR + what changed
 *
 * Only what the node needs is kept in the output: its endpoints, the policies and profiles their
 * programs name, and the sets those rules use. Only those policies' rules are compiled: a policy
 * that selects no local endpoint is kept as its head (key, tier, selector) and its resource, as
 * Felix's ActiveRulesCalculator scans the rules of active policies only. At 100k pods / 75k
 * policies a node needs ~7k of them, and compiling all on arrival was most of the initial load.
 * A remote pod's label change reaches the output only if it changes the membership of an active
 * set.
 */
import { ChunkedMap, insertSorted, kindOf, MultiMap, removeSorted, sameJson, type EndpointSlice, type Issue, type KindId, type NetworkPolicy, type Resource, type Tier } from "../../model/index.js";
import { convertKubernetesNetworkPolicy } from "../../convert/index.js";
import {
  buildTiers,
  calicoProfile,
  compilePolicy,
  compileProfile,
  policyHead,
  DEFAULT_ALLOW_PROFILE,
  DEFAULT_FAILSAFE,
  defaultAllowProfile,
  effectiveLabels,
  failsafeRules,
  hostEndpointRecord,
  labelSignature,
  namespaceProfile,
  networkSetRecord,
  NS_PROFILE_PREFIX,
  PolicyResolver,
  podToEndpoint,
  profileKey,
  SA_PROFILE_PREFIX,
  serviceAccountProfile,
  SetRegistry,
  workloadEndpointRecord,
  endpointIR,
  type ClusterOptions,
  type CompiledPolicy,
  type EndpointRecord,
  type SkippedPod,
  type PolicyHead,
  type NetworkSetRecord,
  type PolicyInput,
  type ProfileRecord,
} from "../../engine/index.js";
import { emptyClusterIR, recordIrChanges, type ClusterIR, type EndpointIR, type PolicyIR, type PolicyKey, type ProfileIR, type SetDef, type SetId, type TierIR } from "../../rule/index.js";
import { withWorkloadInterface } from "./interfaces.js";
import { LabelClasses } from "./label-classes.js";
import { PolicySelectorIndex } from "./policy-index.js";
import { SetIndex, type SetRequest } from "./set-index.js";

export type CalcUpdate = { type: "put"; resource: Resource } | { type: "delete"; resource: Resource };

export interface CalcOptions {
  node: string;
  cluster?: ClusterOptions;
  /** Workload interface prefix for Calico's veth naming (default "cali"). */
  interfacePrefix?: string;
  /** Changed items above which a dirty set is recomputed whole instead of patched (SetIndex). */
  setDeltaLimit?: number;
}

/** What one flush changed in the local IR (keys / ids, sorted). */
export interface CalcDelta {
  endpoints: string[];
  policies: PolicyKey[];
  profiles: PolicyKey[];
  sets: SetId[];
  tiers: boolean;
}

export interface FlushResult {
  changed: boolean;
  /** The local IR after the flush (the same object as before when nothing changed). */
  ir: ClusterIR;
  delta: CalcDelta;
}

export interface CalcStats {
  endpoints: { workload: number; host: number };
  policies: number;
  profiles: number;
  sets: number;
  setMembers: number;
  /** Set updates since start: patched with member deltas / recomputed whole. */
  setUpdates: { patched: number; recomputed: number };
  resources: number;
}

/** Which kinds of resources compete for one profile name / endpoint key; higher wins (the order in
 *  which Cluster.fromResources fills its maps, so later sources override earlier ones). */
const PROFILE_PRIO = { builtin: 0, profile: 1, namespace: 2, serviceAccount: 3 } as const;
const ENDPOINT_PRIO = { pod: 0, wep: 1, hep: 2 } as const;

interface Source<T> {
  key: string;
  prio: number;
  rec: T;
}

/** Candidates per key from several resources; the effective one is the highest priority. */
class Sources<T> {
  private readonly byRid = new Map<string, Source<T>>();
  /** Key → resource ids (almost always one: no Set per key). */
  private readonly byKey = new MultiMap<string, string>();

  set(rid: string, src: Source<T> | undefined): string[] {
    const touched: string[] = [];
    const old = this.byRid.get(rid);
    if (old) {
      touched.push(old.key);
      this.byKey.delete(old.key, rid);
      this.byRid.delete(rid);
    }
    if (src) {
      this.byRid.set(rid, src);
      this.byKey.add(src.key, rid);
      if (src.key !== old?.key) touched.push(src.key);
    }
    return touched;
  }

  /** Highest priority wins; between equals the larger resource id (Cluster: later in the sorted
   *  snapshot overrides earlier). */
  best(key: string): T | undefined {
    let best: Source<T> | undefined;
    let bestRid = "";
    for (const rid of this.byKey.get(key)) {
      const s = this.byRid.get(rid)!;
      if (!best || s.prio > best.prio || (s.prio === best.prio && rid > bestRid)) {
        best = s;
        bestRid = rid;
      }
    }
    return best?.rec;
  }
}

function resourceId(r: Resource): { rid: string; kind: KindId; namespace: string | undefined } | undefined {
  const k = kindOf(r?.apiVersion, r?.kind);
  if (!k || !r.metadata || typeof r.metadata.name !== "string" || r.metadata.name === "") return undefined;
  const ns = k.namespaced ? r.metadata.namespace || "default" : undefined;
  return { rid: `${k.id}|${ns ?? ""}|${r.metadata.name}`, kind: k.id, namespace: ns };
}

/** What the graph keeps of a Pod: enough to name it (resourceId) and delete it in replaceAll. */
function podStub(r: Resource): Resource {
  const m = r.metadata;
  return { apiVersion: r.apiVersion, kind: r.kind, metadata: m.namespace === undefined ? { name: m.name } : { name: m.name, namespace: m.namespace } } as Resource;
}

function describe(r: Resource): string {
  const ns = r.metadata?.namespace;
  return `${r.kind} ${ns ? `${ns}/` : ""}${r.metadata?.name ?? "<no name>"}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface PolicyEntry {
  rid: string;
  input: PolicyInput;
  head: PolicyHead;
  /** The rules, compiled on first use (`compiledRules`): the policy and the sets its rules
   *  reference, or null when a rule does not compile (the policy is then dropped, as Cluster
   *  drops it). Undefined until the policy first selects a local endpoint. */
  rules?: CompiledRules | null;
}

interface CompiledRules {
  compiled: CompiledPolicy;
  sets: Map<SetId, SetRequest>;
}

interface ProfileEntry {
  ir: ProfileIR | undefined;
  sets: Map<SetId, SetRequest>;
}

interface LocalEndpoint {
  ir: EndpointIR;
  json: string;
  policies: Set<PolicyKey>;
  profiles: Set<PolicyKey>;
  /** The policies whose selector matched `labels` (the effective labels it was computed with). */
  selecting: Set<PolicyKey>;
  labels: Readonly<Record<string, string>>;
}

const EMPTY_IR: ClusterIR = emptyClusterIR();

export class CalcGraph {
  readonly node: string;
  private readonly failsafe: ClusterIR["failsafe"];
  private readonly endpointToHost: "Drop" | "Return" | "Accept";
  private readonly ifacePrefix: string | undefined;

  // ---- inputs
  /** Every input resource by id. Callers hand over resources they no longer change (the agent's
   *  come parsed from the datastore), so the held object is what was last applied. A Pod is
   *  held as a stub (kind and name): see podRecords. */
  private readonly resources = new Map<string, { kind: KindId; resource: Resource }>();
  /**
   * What each Pod last produced: its endpoint record, or why it has none. A Pod update that
   * produces the same record and issues is a no-op, and the Pod itself is not kept: a real pod
   * carries kilobytes of spec and status (containers, volumes, conditions) that no calculation
   * reads, ~100k of them at the sizes the agent is built for. Comparing what podToEndpoint made
   * of it, rather than the resource, cannot miss a field a later podToEndpoint starts to read.
   */
  private readonly podRecords = new Map<string, EndpointRecord | SkippedPod>();

  // ---- profiles
  private readonly profileSources = new Sources<ProfileRecord>();
  /** Profiles Cluster synthesises for pods whose Namespace / ServiceAccount is not stored. */
  private readonly synthRefs = new Map<string, { count: number; rec: ProfileRecord }>();
  private readonly profiles = new Map<string, { rec: ProfileRecord; json: string }>();
  /** The same records by name, as effectiveLabels reads them (kept with `profiles`, not copied
   *  from it per flush: ~1,000 namespace profiles at 100k pods made that copy 1.8 ms a pod add). */
  private readonly profileRecs = new Map<string, ProfileRecord>();
  private readonly dirtyProfileNames = new Set<string>();

  // ---- labelled items
  private readonly endpointSources = new Sources<EndpointRecord>();
  private readonly endpoints = new Map<string, EndpointRecord>();
  private readonly netsets = new Map<string, NetworkSetRecord>();
  /** Each labelled item's record as of the last flush (records are never changed in place). */
  private readonly itemRecords = new Map<string, EndpointRecord | NetworkSetRecord>();
  private readonly labels = new Map<string, Readonly<Record<string, string>>>();
  private readonly labelSig = new Map<string, string>();
  private readonly labelClasses = new LabelClasses();
  private readonly profileUsers = new Map<string, Set<string>>();
  private readonly itemProfiles = new Map<string, string[]>();
  private readonly dirtyItems = new Set<string>();

  // ---- policies and tiers
  private readonly policyOfRid = new Map<string, PolicyKey>();
  private readonly policies = new Map<PolicyKey, PolicyEntry>();
  /** Compiled entity rules shared by the policies compiled between two flushes (the whole
   *  snapshot on the initial load), so equal rules of different policies compile once; cleared at
   *  each flush so that it holds no more than one flush's worth. */
  private readonly compileMemo = new SetRegistry();
  /** The policies by a label value their selector requires (candidates for an endpoint). */
  private readonly policyIndex = new PolicySelectorIndex<PolicyKey>();
  /** Policies changed since the last flush, with their value at the previous flush. */
  private readonly dirtyPolicies = new Map<PolicyKey, PolicyEntry | undefined>();
  private readonly tierResources = new Map<string, Tier>();
  private readonly policyTierCount = new Map<string, number>();
  private tiersDirty = true;
  private tiers: TierIR[] = [];
  private tiersJson = "";

  // ---- slices
  private readonly slicesByService = new Map<string, Map<string, EndpointSlice>>();
  private readonly serviceOfSlice = new Map<string, string>();

  // ---- local output
  private readonly local = new Map<string, LocalEndpoint>();
  private readonly dirtyEndpoints = new Set<string>();
  /** Dirty local endpoints whose item (labels, content) changed: their selecting policies are
   *  found again from the policy buckets rather than patched. */
  private readonly reselect = new Set<string>();
  private readonly activePolicies = new Map<PolicyKey, number>();
  private readonly activeProfiles = new Map<PolicyKey, { count: number; entry: ProfileEntry }>();
  private readonly setRefs = new Map<SetId, number>();
  private readonly sets: SetIndex;
  private ir: ClusterIR = EMPTY_IR;
  /** Issues of the latest compilation of each resource (rid → issues). */
  private readonly issuesByRid = new Map<string, Issue[]>();

  constructor(opts: CalcOptions) {
    this.node = opts.node;
    this.failsafe = failsafeRules(opts.cluster?.failsafe ?? DEFAULT_FAILSAFE);
    this.endpointToHost = opts.cluster?.defaultEndpointToHostAction ?? "Drop";
    this.ifacePrefix = opts.interfacePrefix;
    this.profileSources.set("builtin", { key: DEFAULT_ALLOW_PROFILE, prio: PROFILE_PRIO.builtin, rec: defaultAllowProfile() });
    this.dirtyProfileNames.add(DEFAULT_ALLOW_PROFILE);
    this.sets = new SetIndex({
      endpoints: this.endpoints,
      netsets: this.netsets,
      slicesOf: (svc) => [...(this.slicesByService.get(svc)?.values() ?? [])],
      labelClasses: (sel) => this.labelClasses.candidates(sel),
    }, { deltaLimit: opts.setDeltaLimit });
  }

  // ================================================================================== inputs

  /** Replaces the whole input (a watch snapshot): only the differences become updates. */
  replaceAll(items: readonly Resource[]): void {
    const next = new Map<string, Resource>();
    for (const r of items) {
      const id = resourceId(r);
      if (id) next.set(id.rid, r);
    }
    for (const [rid, old] of [...this.resources]) if (!next.has(rid)) this.onUpdate({ type: "delete", resource: old.resource });
    for (const r of next.values()) this.onUpdate({ type: "put", resource: r });
  }

  onUpdate(u: CalcUpdate): void {
    const id = resourceId(u.resource);
    if (!id) return; // Cluster drops such resources too (unknown kind, no name)
    const { rid, kind, namespace } = id;
    const old = this.resources.get(rid);
    const issues: Issue[] = [];
    let podRec: EndpointRecord | SkippedPod | undefined;
    if (u.type === "put" && kind === "Pod") {
      podRec = podToEndpoint(u.resource as never, issues);
      const prev = this.podRecords.get(rid);
      if (prev !== undefined && sameJson(prev, podRec) && sameJson(this.issuesByRid.get(rid) ?? [], issues)) return;
      this.resources.set(rid, { kind, resource: podStub(u.resource) });
    } else if (u.type === "put") {
      // A no-op update (a resync re-delivering the same resource) changes nothing. The same
      // object handed over again may have been changed in place: it is applied.
      if (old && old.resource !== u.resource && sameJson(old.resource, u.resource)) return;
      this.resources.set(rid, { kind, resource: u.resource });
    } else {
      if (!old) return;
      this.resources.delete(rid);
    }
    const r = u.type === "put" ? u.resource : undefined;
    switch (kind) {
      case "Namespace":
        this.setProfileSource(rid, r && { key: NS_PROFILE_PREFIX + r.metadata.name, prio: PROFILE_PRIO.namespace, rec: namespaceProfile(r as never) });
        break;
      case "ServiceAccount": {
        const rec = r && serviceAccountProfile(r as never);
        this.setProfileSource(rid, rec && { key: rec.name, prio: PROFILE_PRIO.serviceAccount, rec });
        break;
      }
      case "Profile":
        this.setProfileSource(rid, r && { key: r.metadata.name, prio: PROFILE_PRIO.profile, rec: calicoProfile(r as never) });
        break;
      case "Pod":
        this.onPod(rid, podRec);
        break;
      case "WorkloadEndpoint": {
        const rec = r && workloadEndpointRecord(r as never, issues);
        this.setEndpointSource(rid, rec && !("reason" in rec) ? { key: rec.key, prio: ENDPOINT_PRIO.wep, rec } : undefined);
        break;
      }
      case "HostEndpoint": {
        const rec = r && hostEndpointRecord(r as never, issues);
        this.setEndpointSource(rid, rec && { key: rec.key, prio: ENDPOINT_PRIO.hep, rec });
        break;
      }
      case "NetworkSet":
      case "GlobalNetworkSet": {
        const before = old && networkSetRecord(old.resource as never, []);
        const rec = r && networkSetRecord(r as never, issues);
        const key = (rec ?? before)!.key;
        if (rec) this.netsets.set(key, rec);
        else this.netsets.delete(key);
        this.setItemProfiles(key, rec?.profiles ?? []);
        this.dirtyItems.add(key);
        break;
      }
      case "Tier":
        if (r) this.tierResources.set(r.metadata.name, r as Tier);
        else this.tierResources.delete(old!.resource.metadata.name);
        this.tiersDirty = true;
        break;
      case "NetworkPolicy":
      case "GlobalNetworkPolicy":
      case "StagedNetworkPolicy":
      case "StagedGlobalNetworkPolicy":
        this.setPolicy(rid, r && { kind, resource: r as PolicyInput["resource"], label: describe(r) }, issues);
        break;
      case "KubernetesNetworkPolicy":
      case "StagedKubernetesNetworkPolicy":
        this.setPolicy(rid, r && this.k8sPolicyInput(r, issues), issues);
        break;
      case "EndpointSlice":
        this.onSlice(rid, namespace!, r as EndpointSlice | undefined);
        break;
      case "Service":
        break; // `services` matches use the EndpointSlices, as Felix does
    }
    if (issues.length > 0) this.issuesByRid.set(rid, issues);
    else this.issuesByRid.delete(rid);
  }

  /** Compilation problems of the current inputs (resources dropped or partly ignored). */
  issues(): Issue[] {
    return [...this.issuesByRid.values()].flat();
  }

  // ---------------------------------------------------------------------------------- profiles

  private setProfileSource(rid: string, src: Source<ProfileRecord> | undefined): void {
    for (const name of this.profileSources.set(rid, src)) this.dirtyProfileNames.add(name);
  }

  private addSynth(name: string, make: () => ProfileRecord, delta: 1 | -1): void {
    const e = this.synthRefs.get(name);
    if (delta > 0) {
      if (e) e.count++;
      else {
        this.synthRefs.set(name, { count: 1, rec: make() });
        this.dirtyProfileNames.add(name);
      }
    } else if (e && --e.count === 0) {
      this.synthRefs.delete(name);
      this.dirtyProfileNames.add(name);
    }
  }

  /** Namespace and ServiceAccount profiles a valid pod makes Cluster synthesise when missing. */
  private podSynth(rec: EndpointRecord, delta: 1 | -1): void {
    const ns = rec.namespace!;
    this.addSynth(NS_PROFILE_PREFIX + ns, () => namespaceProfile({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }), delta);
    const saProfile = rec.profiles[1]!;
    const sa = saProfile.slice(SA_PROFILE_PREFIX.length + ns.length + 1);
    this.addSynth(saProfile, () => serviceAccountProfile({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa, namespace: ns } }), delta);
  }

  /** `rec`: what podToEndpoint made of the new Pod; undefined when it was deleted. */
  private onPod(rid: string, rec: EndpointRecord | SkippedPod | undefined): void {
    const oldRec = this.podRecords.get(rid);
    if (rec) this.podRecords.set(rid, rec);
    else this.podRecords.delete(rid);
    if (rec && !("reason" in rec)) this.podSynth(rec, 1);
    if (oldRec && !("reason" in oldRec)) this.podSynth(oldRec, -1);
    this.setEndpointSource(rid, rec && !("reason" in rec) ? { key: rec.key, prio: ENDPOINT_PRIO.pod, rec } : undefined);
  }

  /** Effective profile record of `name` (what Cluster.fromResources' profile map holds). */
  private profileRecord(name: string): ProfileRecord | undefined {
    return this.profileSources.best(name) ?? this.synthRefs.get(name)?.rec;
  }

  // ---------------------------------------------------------------------------------- endpoints

  private setEndpointSource(rid: string, src: Source<EndpointRecord> | undefined): void {
    for (const key of this.endpointSources.set(rid, src)) {
      const rec = this.endpointSources.best(key);
      if (rec) this.endpoints.set(key, rec);
      else this.endpoints.delete(key);
      this.setItemProfiles(key, rec?.profiles ?? []);
      this.dirtyItems.add(key);
    }
  }

  private setItemProfiles(item: string, profiles: string[]): void {
    for (const p of this.itemProfiles.get(item) ?? []) {
      const u = this.profileUsers.get(p);
      u?.delete(item);
      if (u && u.size === 0) this.profileUsers.delete(p);
    }
    if (profiles.length === 0) {
      this.itemProfiles.delete(item);
      return;
    }
    this.itemProfiles.set(item, profiles);
    for (const p of profiles) {
      let u = this.profileUsers.get(p);
      if (!u) this.profileUsers.set(p, (u = new Set()));
      u.add(item);
    }
  }

  // ---------------------------------------------------------------------------------- policies

  private k8sPolicyInput(r: Resource, issues: Issue[]): PolicyInput | undefined {
    const label = describe(r);
    const staged = r.kind === "StagedKubernetesNetworkPolicy";
    const spec = (r as { spec?: { stagedAction?: string } }).spec;
    if (staged && spec?.stagedAction === "Delete") {
      return { kind: "StagedKubernetesNetworkPolicy", resource: { apiVersion: "projectcalico.org/v3", kind: "StagedNetworkPolicy", metadata: { ...r.metadata }, spec: { stagedAction: "Delete" } } as never, label };
    }
    const conv = convertKubernetesNetworkPolicy(r as never);
    issues.push(...conv.issues.map((i) => (i.resource ? i : { ...i, resource: label })));
    if (!conv.policy) return undefined;
    return {
      kind: staged ? "StagedKubernetesNetworkPolicy" : "KubernetesNetworkPolicy",
      resource: { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: conv.policy.metadata, spec: conv.policy.spec } as NetworkPolicy,
      label,
    };
  }

  private setPolicy(rid: string, input: PolicyInput | undefined, issues: Issue[]): void {
    let entry: PolicyEntry | undefined;
    if (input) {
      const res = policyHead(input);
      issues.push(...res.issues);
      if (res.head) entry = { rid, input, head: res.head };
    }
    const oldKey = this.policyOfRid.get(rid);
    if (oldKey !== undefined) this.removePolicy(oldKey);
    this.policyOfRid.delete(rid);
    if (entry) {
      const key = entry.head.key;
      if (this.policies.has(key)) this.removePolicy(key);
      this.policyOfRid.set(rid, key);
      this.remember(key);
      this.policies.set(key, entry);
      this.policyIndex.add(key, entry.head.selector);
      // A policy whose rules turn out not to compile still names its tier here (Cluster counts
      // compiled policies only): an unused tier more in the list, which orders nothing else.
      this.countTier(entry.head.tier, 1);
    }
  }

  private remember(key: PolicyKey): void {
    if (!this.dirtyPolicies.has(key)) this.dirtyPolicies.set(key, this.policies.get(key));
  }

  private removePolicy(key: PolicyKey): void {
    const e = this.policies.get(key);
    if (!e) return;
    this.remember(key);
    this.policies.delete(key);
    this.policyIndex.remove(key);
    this.countTier(e.head.tier, -1);
  }

  /** The entry's rules, compiled on first use; their issues join the resource's. */
  private compiledRules(e: PolicyEntry): CompiledRules | null {
    if (e.rules !== undefined) return e.rules;
    const reg = new SetRegistry(this.compileMemo);
    const res = compilePolicy(e.input, reg, e.head);
    e.rules = res.policy ? { compiled: res.policy, sets: new Map(reg.requests) } : null;
    // Only the current entry of its resource reports (an older one is compiled only to compare).
    if (res.issues.length > 0 && this.policies.get(e.head.key) === e) this.issuesByRid.set(e.rid, [...(this.issuesByRid.get(e.rid) ?? []), ...res.issues]);
    return e.rules;
  }

  /** The compiled rules of the current policy `key`, if it exists and compiles. */
  private rulesOf(key: PolicyKey): CompiledRules | undefined {
    const e = this.policies.get(key);
    return (e && this.compiledRules(e)) ?? undefined;
  }

  private countTier(tier: string, delta: number): void {
    const n = (this.policyTierCount.get(tier) ?? 0) + delta;
    const had = this.policyTierCount.has(tier);
    if (n <= 0) this.policyTierCount.delete(tier);
    else this.policyTierCount.set(tier, n);
    if (had !== n > 0) this.tiersDirty = true;
  }

  // ---------------------------------------------------------------------------------- slices

  private onSlice(rid: string, namespace: string, s: EndpointSlice | undefined): void {
    const old = this.serviceOfSlice.get(rid);
    if (old) {
      const m = this.slicesByService.get(old)!;
      m.delete(rid);
      if (m.size === 0) this.slicesByService.delete(old);
      this.serviceOfSlice.delete(rid);
      this.sets.onServiceChanged(old);
    }
    const svc = s?.metadata.labels?.["kubernetes.io/service-name"];
    if (s && svc) {
      const key = `${namespace}/${svc}`;
      let m = this.slicesByService.get(key);
      if (!m) this.slicesByService.set(key, (m = new Map()));
      m.set(rid, s);
      this.serviceOfSlice.set(rid, key);
      this.sets.onServiceChanged(key);
    }
  }

  // ================================================================================== flush

  /** Propagates every update since the last flush; see the file comment for the order. */
  flush(): FlushResult {
    this.compileMemo.clear();
    const delta: CalcDelta = { endpoints: [], policies: [], profiles: [], sets: [], tiers: false };
    const changedPolicies = new Set<PolicyKey>();
    const changedProfiles = new Set<PolicyKey>();

    // 1. Profiles: effective records → labelled items using them, and active profile IR.
    const recompileProfiles = new Set<string>();
    for (const name of this.dirtyProfileNames) {
      const rec = this.profileRecord(name);
      const json = rec ? JSON.stringify(rec) : "";
      const old = this.profiles.get(name);
      if ((old?.json ?? "") === json) continue;
      if (rec) {
        this.profiles.set(name, { rec, json });
        this.profileRecs.set(name, rec);
      } else {
        this.profiles.delete(name);
        this.profileRecs.delete(name);
      }
      for (const item of this.profileUsers.get(name) ?? []) this.dirtyItems.add(item);
      recompileProfiles.add(name);
    }
    this.dirtyProfileNames.clear();

    // 2. Labelled items: effective labels → set membership; local endpoints → dirty.
    const profileMap = this.profileRecs;
    for (const item of this.dirtyItems) {
      const ep = this.endpoints.get(item);
      const ns = ep ? undefined : this.netsets.get(item);
      const rec = ep ?? ns;
      const prev = this.itemRecords.get(item);
      const contentChanged = rec === undefined ? prev !== undefined : prev === undefined || (prev !== rec && !sameJson(prev, rec));
      const labels = rec ? effectiveLabels(rec.ownLabels, rec.profiles, profileMap) : undefined;
      const sig = labels ? labelSignature(labels) : "";
      const labelsChanged = sig !== (this.labelSig.get(item) ?? "") || (rec === undefined) !== !this.labels.has(item);
      if (labelsChanged) {
        const oldSig = this.labelSig.get(item);
        if (oldSig !== undefined) this.labelClasses.remove(item, oldSig);
        if (rec) this.labelClasses.add(item, sig, labels!);
      }
      if (rec) {
        this.itemRecords.set(item, rec);
        this.labels.set(item, labels!);
        this.labelSig.set(item, sig);
      } else {
        this.itemRecords.delete(item);
        this.labels.delete(item);
        this.labelSig.delete(item);
      }
      if (labelsChanged) this.sets.onItemLabels(item, labels);
      if (contentChanged) this.sets.onItemContent(item);
      if ((ep && ep.node === this.node) || this.local.has(item)) {
        this.dirtyEndpoints.add(item);
        this.reselect.add(item);
      }
    }
    this.dirtyItems.clear();

    // 3. Tiers: a change reorders programs everywhere.
    if (this.tiersDirty) {
      this.tiersDirty = false;
      const tiers = buildTiers([...this.tierResources.values()], this.policyTierCount.keys());
      const json = JSON.stringify(tiers);
      if (json !== this.tiersJson) {
        this.tiers = tiers;
        this.tiersJson = json;
        delta.tiers = true;
        for (const k of this.local.keys()) this.dirtyEndpoints.add(k);
      }
    }

    // 4. Policies: local endpoints selected before or after are dirty; active ones changed.
    const policiesChanged = new Set(this.dirtyPolicies.keys());
    for (const [key, before] of this.dirtyPolicies) {
      const after = this.policies.get(key);
      // A re-put that compiles to the same IR changes nothing. Only a policy compiled before can
      // be compared; one that never was selected no local endpoint, so the loop below finds
      // only endpoints the new version selects, which must be computed anyway.
      if (before?.rules && after) {
        const next = this.compiledRules(after);
        if (next && JSON.stringify(before.rules.compiled.ir) === JSON.stringify(next.compiled.ir)) continue;
      }
      // An endpoint that referenced the policy matched `before` with its current labels (had its
      // labels changed, it would be dirty already), so old-or-new selector matching covers it.
      for (const epKey of this.local.keys()) {
        const labels = this.labels.get(epKey);
        if (!labels) continue;
        if ((before && before.head.selector.matches(labels)) || (after && after.head.selector.matches(labels))) this.dirtyEndpoints.add(epKey);
      }
      if (this.activePolicies.has(key)) {
        changedPolicies.add(key);
        // An active policy's previous version was compiled when it became active.
        if (before?.rules) for (const id of before.rules.sets.keys()) this.unrefSet(id);
        const next = after && this.compiledRules(after);
        if (next) for (const [id, req] of next.sets) this.refSet(id, req);
      }
    }
    this.dirtyPolicies.clear();

    // 5. Programs of dirty local endpoints; active policies / profiles follow the references.
    for (const key of [...this.dirtyEndpoints].sort(cmp)) {
      const old = this.local.get(key);
      const next = this.endpointIR(key, this.reselect.has(key) ? undefined : policiesChanged);
      if (!next) {
        if (old) {
          this.local.delete(key);
          this.keyWent("endpoints", key);
          this.release(old);
          delta.endpoints.push(key);
        }
        continue;
      }
      const json = JSON.stringify(next.ir);
      if (old && old.json === json) {
        // Same IR; the selecting policies may still differ (one with no effect here): keep them
        // current for the next patch.
        old.selecting = next.selecting;
        old.labels = next.labels;
        continue;
      }
      next.json = json;
      if (!old) this.keyCame("endpoints", key);
      this.local.set(key, next);
      this.retain(next, changedPolicies, changedProfiles);
      if (old) this.release(old);
      delta.endpoints.push(key);
    }
    this.dirtyEndpoints.clear();
    this.reselect.clear();

    // Active profiles whose record changed: recompile.
    for (const name of recompileProfiles) {
      const pk = profileKey(name);
      const a = this.activeProfiles.get(pk);
      if (!a || changedProfiles.has(pk)) continue;
      const entry = this.compileProfileEntry(name);
      if (JSON.stringify(entry.ir) === JSON.stringify(a.entry.ir)) continue;
      for (const [id, req] of entry.sets) this.refSet(id, req);
      for (const id of a.entry.sets.keys()) this.unrefSet(id);
      a.entry = entry;
      changedProfiles.add(pk);
    }

    // 6. Set members.
    delta.sets = this.sets.flush().sort(cmp);
    delta.policies = [...changedPolicies].sort(cmp);
    delta.profiles = [...changedProfiles].sort(cmp);

    const changed = delta.tiers || delta.endpoints.length > 0 || delta.policies.length > 0 || delta.profiles.length > 0 || delta.sets.length > 0 || this.ir === EMPTY_IR;
    if (changed) this.ir = this.buildIR(delta);
    return { changed, ir: this.ir, delta };
  }

  /** The current local IR (as of the last flush). */
  get localIR(): ClusterIR {
    return this.ir;
  }

  stats(): CalcStats {
    let workload = 0;
    let host = 0;
    for (const l of this.local.values()) {
      if (l.ir.kind === "workload") workload++;
      else host++;
    }
    return {
      endpoints: { workload, host },
      policies: this.activePolicies.size,
      profiles: this.activeProfiles.size,
      sets: this.sets.size,
      setMembers: this.sets.memberCount(),
      setUpdates: { ...this.sets.counts },
      resources: this.resources.size,
    };
  }

  // ---------------------------------------------------------------------------------- helpers

  /**
   * A local endpoint's IR. `policiesChanged`: the endpoint's item did not change since its last
   * IR (only policies did), so the policies selecting it are the previous ones with the changed
   * policies re-tested — at 100k pods a policy add dirties the endpoints of an app, and testing
   * each one's ~1,000 bucket candidates again was a third of the flush.
   */
  private endpointIR(key: string, policiesChanged?: ReadonlySet<PolicyKey>): LocalEndpoint | undefined {
    const ep = this.endpoints.get(key);
    const labels = this.labels.get(key);
    if (!ep || !labels || ep.node !== this.node) return undefined;
    const old = policiesChanged ? this.local.get(key) : undefined;
    let keys: Set<PolicyKey>;
    if (old && old.labels === labels) {
      keys = new Set(old.selecting);
      for (const pk of policiesChanged!) {
        keys.delete(pk);
        if (this.policies.get(pk)?.head.selector.matches(labels)) keys.add(pk);
      }
    } else {
      keys = new Set();
      for (const pk of this.policyIndex.candidates(labels)) if (this.policies.get(pk)!.head.selector.matches(labels)) keys.add(pk);
    }
    const selecting: CompiledPolicy[] = [];
    for (const pk of keys) {
      const rules = this.rulesOf(pk);
      // A policy whose rules do not compile is dropped, so it selects nothing.
      if (rules) selecting.push(rules.compiled);
      else keys.delete(pk);
    }
    const programs = new PolicyResolver(this.tiers, selecting).programs(ep, labels, ep.profiles.map(profileKey));
    const ir: EndpointIR = withWorkloadInterface(
      endpointIR(ep, labels, programs),
      this.ifacePrefix,
    );
    const policies = new Set<PolicyKey>();
    const profiles = new Set<PolicyKey>();
    const programsOf = [ir.ingress, ir.egress, ir.forward?.ingress, ir.forward?.egress, ir.preDNAT, ir.untracked?.ingress, ir.untracked?.egress];
    for (const prog of programsOf) {
      if (!prog) continue;
      for (const t of prog.tiers) for (const p of t.policies) policies.add(p);
      for (const p of prog.profiles) profiles.add(p);
    }
    return { ir, json: "", policies, profiles, selecting: keys, labels };
  }

  private retain(l: LocalEndpoint, changedPolicies: Set<PolicyKey>, changedProfiles: Set<PolicyKey>): void {
    for (const key of l.policies) {
      const n = this.activePolicies.get(key) ?? 0;
      this.activePolicies.set(key, n + 1);
      if (n === 0) {
        this.keyCame("policies", key);
        changedPolicies.add(key);
        for (const [id, req] of this.rulesOf(key)?.sets ?? []) this.refSet(id, req);
      }
    }
    for (const pk of l.profiles) {
      const a = this.activeProfiles.get(pk);
      if (a) {
        a.count++;
        continue;
      }
      const entry = this.compileProfileEntry(pk.slice("pro/".length));
      this.activeProfiles.set(pk, { count: 1, entry });
      this.keyCame("profiles", pk);
      for (const [id, req] of entry.sets) this.refSet(id, req);
      changedProfiles.add(pk);
    }
  }

  private release(l: LocalEndpoint): void {
    for (const key of l.policies) {
      const n = this.activePolicies.get(key)!;
      if (n > 1) {
        this.activePolicies.set(key, n - 1);
        continue;
      }
      this.activePolicies.delete(key);
      this.keyWent("policies", key);
      for (const id of this.rulesOf(key)?.sets.keys() ?? []) this.unrefSet(id);
    }
    for (const pk of l.profiles) {
      const a = this.activeProfiles.get(pk)!;
      if (--a.count > 0) continue;
      this.activeProfiles.delete(pk);
      this.keyWent("profiles", pk);
      for (const id of a.entry.sets.keys()) this.unrefSet(id);
    }
  }

  private compileProfileEntry(name: string): ProfileEntry {
    const rec = this.profileRecord(name);
    if (!rec) return { ir: undefined, sets: new Map() };
    const reg = new SetRegistry();
    const c = compileProfile(rec, reg);
    if (c.issues.some((i) => i.severity === "error")) return { ir: undefined, sets: new Map() };
    const key = profileKey(rec.name);
    return { ir: { key, name: rec.name, ingress: c.ingress, egress: c.egress }, sets: new Map(reg.requests) };
  }

  private refSet(id: SetId, req: SetRequest): void {
    const n = this.setRefs.get(id) ?? 0;
    this.setRefs.set(id, n + 1);
    if (n === 0) {
      this.keyCame("sets", id);
      this.sets.activate(id, req);
    }
  }

  private unrefSet(id: SetId): void {
    const n = this.setRefs.get(id);
    if (n === undefined) return;
    if (n > 1) {
      this.setRefs.set(id, n - 1);
      return;
    }
    this.setRefs.delete(id);
    this.keyWent("sets", id);
    this.sets.deactivate(id);
  }

  /**
   * Sorted keys of the profile and endpoint outputs, patched in place (binary search) as keys come
   * and go: re-sorting thousands of keys for one new key cost more than the rest of the flush.
   * Undefined until the first IR is built. Policies and sets need no key list: their outputs are
   * persistent maps (ChunkedMap) edited by key.
   */
  private sortedKeys: { profiles: PolicyKey[]; endpoints: string[] } | undefined;
  /** Keys that came or went since the last IR (sets also when they came and went again). */
  private keyChanges = { policies: new Set<string>(), profiles: new Set<string>(), sets: new Set<string>() };

  private keyCame(map: "policies" | "profiles" | "sets" | "endpoints", key: string): void {
    const k = this.sortedKeys;
    if (k && (map === "profiles" || map === "endpoints")) insertSorted(k[map], key);
    if (map !== "endpoints") this.keyChanges[map].add(key);
  }

  private keyWent(map: "policies" | "profiles" | "sets" | "endpoints", key: string): void {
    const k = this.sortedKeys;
    if (k && (map === "profiles" || map === "endpoints")) removeSorted(k[map], key);
    if (map !== "endpoints") this.keyChanges[map].add(key);
  }

  /** The output maps are new objects only when something in them changed (the builder then
   *  compares entries by identity; the previous IR's maps stay intact). Policies and sets are the
   *  previous IR's maps with the changed keys edited, sharing every other chunk with them: at
   *  100k pods a pod add changes ~12 of ~7k sets, and re-assembling the records took longer than
   *  the rest of the flush and left ~190 KB of old-generation garbage per change. The keys that
   *  changed are recorded on the new IR (rule/ir-changes.ts), so the dataplane builder need not
   *  compare every entry. */
  private buildIR(delta: CalcDelta): ClusterIR {
    const prev = this.ir;
    const fresh = this.sortedKeys === undefined || prev === EMPTY_IR;
    const k = (this.sortedKeys ??= {
      profiles: [...this.activeProfiles.keys()].sort(cmp),
      endpoints: [...this.local.keys()].sort(cmp),
    });
    const came = this.keyChanges;
    this.keyChanges = { policies: new Set(), profiles: new Set(), sets: new Set() };
    // A key's value, or undefined when it is not (or no longer) in the output.
    const policyIR = (key: string) => (this.activePolicies.has(key) ? this.rulesOf(key)?.compiled.ir : undefined);
    const setDef = (id: string) => (this.setRefs.has(id) ? this.sets.def(id) : undefined);
    let policies = prev.policies;
    let sets = prev.sets;
    if (fresh) {
      policies = ChunkedMap.fromEntries(present([...this.activePolicies.keys()], policyIR));
      sets = ChunkedMap.fromEntries(present([...this.setRefs.keys()], setDef));
    } else {
      // The keys that changed or came (the same keys are recorded on the IR below, so the builder
      // relies on their being complete too); every other value is the previous one.
      if (delta.policies.length > 0 || came.policies.size > 0) policies = prev.policies.with([...new Set([...delta.policies, ...came.policies])].map((key) => [key, policyIR(key)]));
      if (delta.sets.length > 0 || came.sets.size > 0) sets = prev.sets.with([...new Set([...delta.sets, ...came.sets])].map((id) => [id, setDef(id)]));
    }
    let profiles = prev.profiles;
    if (fresh || delta.profiles.length > 0 || came.profiles.size > 0) {
      profiles = {};
      for (const key of k.profiles) {
        const ir = this.activeProfiles.get(key)!.entry.ir;
        if (ir) profiles[key] = ir;
      }
    }
    const endpoints = k.endpoints.map((key) => this.local.get(key)!.ir);
    const ir: ClusterIR = { tiers: this.tiers, policies, profiles, sets, endpoints, failsafe: this.failsafe, defaultEndpointToHostAction: this.endpointToHost };
    if (!fresh) {
      const union = (a: readonly string[], b: Set<string>) => (b.size === 0 ? a : [...new Set([...a, ...b])]);
      recordIrChanges(ir, prev, { policies: union(delta.policies, came.policies), profiles: union(delta.profiles, came.profiles), sets: union(delta.sets, came.sets) });
    }
    return ir;
  }

}

/** [key, value] of the keys whose value is defined. */
function present<V>(keys: readonly string[], valueOf: (key: string) => V | undefined): Array<[string, V]> {
  const out: Array<[string, V]> = [];
  for (const key of keys) {
    const v = valueOf(key);
    if (v !== undefined) out.push([key, v]);
  }
  return out;
}
