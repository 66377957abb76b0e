/**
 * Policy compiler and resolver.
 *
 *  compilePolicy:  Calico-form policy resource → PolicyIR (+ its parsed endpoint selector)
 *  buildTiers:     Tier resources + built-ins + tiers named by policies but missing → sorted TierIR
 *  PolicyResolver: for an endpoint, the ordered tiers/policies of each program (felix
 *                  calc/policy_resolver.go + event_sequencer.go tierInfoToProtoTierInfo).
 *
 * Selection is evaluated once per label class (identical effective labels), not per endpoint.
 */
import type {
  GlobalNetworkPolicy,
  Issue,
  NetworkPolicy,
  PolicyType,
  Rule,
  StagedGlobalNetworkPolicy,
  StagedNetworkPolicy,
  Tier,
} from "../model/index.js";
import { exactArray, issue, joined } from "../model/index.js";
import {
  compareTiers,
  policySortKey,
  type Direction,
  type DirectionProgram,
  type EndpointIR,
  type PolicyIR,
  type PolicyKey,
  type RuleIR,
  type TierIR,
  type TierProgram,
} from "../rule/index.js";
import { SelectorParseError, type Selector } from "../selector/index.js";
import type { EndpointRecord, ProfileRecord } from "./endpoint-builder.js";
import { labelSignature, type LabelIndex } from "./label-index.js";
import { compileRule } from "./rule-compiler.js";
import { policySelector, type NamespacedSelectorMemo } from "./selector-rewrite.js";
import type { SetRegistry } from "./set-calculator.js";

/** The built-in tiers (v3.32+): always present. */
export const BUILTIN_TIERS_IR: TierIR[] = [
  { name: "kube-admin", order: 1000, defaultAction: "Pass" },
  { name: "default", order: 1_000_000, defaultAction: "Deny" },
  { name: "kube-baseline", order: 10_000_000, defaultAction: "Pass" },
];

export const KIND_SHORT: Record<string, string> = {
  NetworkPolicy: "np",
  GlobalNetworkPolicy: "gnp",
  StagedNetworkPolicy: "snp",
  StagedGlobalNetworkPolicy: "sgnp",
  StagedKubernetesNetworkPolicy: "sknp",
  KubernetesNetworkPolicy: "knp",
};

const ENFORCED_OF_STAGED: Record<string, string> = {
  StagedNetworkPolicy: "NetworkPolicy",
  StagedGlobalNetworkPolicy: "GlobalNetworkPolicy",
  StagedKubernetesNetworkPolicy: "KubernetesNetworkPolicy",
};

export function policyKey(kind: string, name: string, namespace?: string): PolicyKey {
  const short = KIND_SHORT[kind] ?? kind;
  // Flat strings: a key is kept in the IR, in every rule origin and in program lists.
  return namespace ? joined("/", short, namespace, name) : joined("/", short, name);
}

export function profileKey(name: string): PolicyKey {
  return joined("/", "pro", name);
}

/** A Calico-form policy the compiler accepts. `kind` says what it came from (a Kubernetes
 *  NetworkPolicy arrives here already converted, with kind "KubernetesNetworkPolicy"). */
export interface PolicyInput {
  kind: "NetworkPolicy" | "GlobalNetworkPolicy" | "StagedNetworkPolicy" | "StagedGlobalNetworkPolicy" | "StagedKubernetesNetworkPolicy" | "KubernetesNetworkPolicy";
  resource: NetworkPolicy | GlobalNetworkPolicy | StagedNetworkPolicy | StagedGlobalNetworkPolicy;
  /** Resource label for messages, e.g. "NetworkPolicy prod/web". */
  label: string;
}

export interface CompiledPolicy {
  ir: PolicyIR;
  selector: Selector;
}

/** The types table (SEMANTICS §2.3), used when `types` is empty. */
export function defaultTypes(ingress: Rule[] | undefined, egress: Rule[] | undefined): PolicyType[] {
  const i = (ingress ?? []).length > 0;
  const e = (egress ?? []).length > 0;
  if (!e) return ["Ingress"];
  if (!i) return ["Egress"];
  return ["Ingress", "Egress"];
}

/** An empty rule list, shared by every policy direction without rules (most policies have no
 *  egress rules: ~52k lists at 75k policies). Read-only IR data, frozen so that a consumer
 *  changing it fails loudly. */
const NO_RULES: RuleIR[] = Object.freeze([]) as unknown as RuleIR[];

/** An empty list of tier runs, shared likewise (most programs have no staged policies). */
const NO_TIER_RUNS: TierProgram[] = Object.freeze([]) as unknown as TierProgram[];

function compileRules(rules: Rule[] | undefined, dir: Direction, tier: string, key: PolicyKey, ns: string, sets: SetRegistry, issues: Issue[]): RuleIR[] {
  const out: RuleIR[] = [];
  const one = (r: Rule, index: number) => {
    const res = compileRule(r, { namespace: ns, origin: { tier, policy: key, direction: dir, index }, path: ["spec", dir, index], sets });
    if (res.issues.length > 0) issues.push(...res.issues);
    if (res.rule) out.push(res.rule);
  };
  if (!Array.isArray(rules)) (rules ?? []).forEach(one); // malformed input behaves exactly as before
  else for (let index = 0; index < rules.length; index++) if (index in rules) one(rules[index]!, index);
  return out.length === 0 ? NO_RULES : exactArray(out); // kept in the IR: no spare capacity from push
}

/**
 * What places a policy among the others without its rules: its key, tier and endpoint selector.
 * The agent keeps only this for a policy that selects no local endpoint, and compiles the rules
 * when one does (Felix's ActiveRulesCalculator likewise scans the rules of active policies only).
 */
export interface PolicyHead {
  key: PolicyKey;
  tier: string;
  selector: Selector;
}

/** The head of a policy, or the issue of its invalid selector (the policy is then dropped). */
export function policyHead(input: PolicyInput, memo?: NamespacedSelectorMemo): { head?: PolicyHead; issues: Issue[] } {
  const r = input.resource;
  const spec = (r.spec ?? {}) as GlobalNetworkPolicy["spec"];
  const namespaced = isNamespaced(input);
  const ns = namespaced ? r.metadata.namespace || "default" : undefined;
  const key = policyKey(input.kind, r.metadata.name, ns);
  try {
    const selectorInput = {
      namespace: ns,
      selector: spec.selector,
      namespaceSelector: namespaced ? undefined : spec.namespaceSelector,
      serviceAccountSelector: spec.serviceAccountSelector,
    };
    const selector = memo ? memo.get(selectorInput) : policySelector(selectorInput);
    return { head: { key, tier: spec.tier || "default", selector }, issues: [] };
  } catch (e) {
    if (!(e instanceof SelectorParseError)) throw e;
    return { issues: withResource([issue("invalid-selector", ["spec", "selector"], `policy selector: ${e.message}`)], input.label) };
  }
}

function isNamespaced(input: PolicyInput): boolean {
  return input.kind !== "GlobalNetworkPolicy" && input.kind !== "StagedGlobalNetworkPolicy";
}

/** `head`: the policy's head when the caller has it already (policyHead of the same input). */
export function compilePolicy(input: PolicyInput, sets: SetRegistry, head?: PolicyHead): { policy?: CompiledPolicy; issues: Issue[] } {
  if (!head) {
    const h = policyHead(input, sets.policySelectors);
    if (!h.head) return { issues: h.issues };
    head = h.head;
  }
  const issues: Issue[] = [];
  const r = input.resource;
  const spec = (r.spec ?? {}) as GlobalNetworkPolicy["spec"] & { stagedAction?: PolicyIR["stagedAction"] };
  const namespaced = isNamespaced(input);
  const ns = namespaced ? r.metadata.namespace || "default" : undefined;
  const name = r.metadata.name;
  const { key, tier, selector } = head;
  const staged = input.kind.startsWith("Staged");
  const stagedAction = staged ? (spec.stagedAction ?? "Set") : undefined;

  const types = spec.types && spec.types.length > 0 ? spec.types : defaultTypes(spec.ingress, spec.egress);
  const deleting = stagedAction === "Delete";
  const ingress = compileRules(spec.ingress, "ingress", tier, key, ns ?? "", sets, issues);
  const egress = compileRules(spec.egress, "egress", tier, key, ns ?? "", sets, issues);
  if (issues.some((i) => i.severity === "error")) return { issues: withResource(issues, input.label) };

  const order = typeof spec.order === "number" ? spec.order : input.kind === "KubernetesNetworkPolicy" || input.kind === "StagedKubernetesNetworkPolicy" ? (spec.order ?? 1000) : null;
  // A staged Delete carries no spec; it selects nothing and governs nothing.
  const governs = deleting ? GOVERNS[0]! : GOVERNS[(types.includes("Ingress") ? 1 : 0) + (types.includes("Egress") ? 2 : 0)]!;
  const applyOnForward = !namespaced && spec.applyOnForward === true;
  const preDNAT = !namespaced && spec.preDNAT === true;
  const doNotTrack = !namespaced && spec.doNotTrack === true;
  // Two complete literals (printed key order; all fields in-object) instead of a conditional
  // spread, which costs a temporary object per policy.
  const ir: PolicyIR =
    ns !== undefined
      ? { key, kind: input.kind, name, namespace: ns, tier, order, staged, selector: selector.toString(), governs, ingress, egress, applyOnForward, preDNAT, doNotTrack }
      : { key, kind: input.kind, name, tier, order, staged, selector: selector.toString(), governs, ingress, egress, applyOnForward, preDNAT, doNotTrack };
  if (staged) {
    ir.stagedAction = stagedAction;
    ir.stagedTarget = policyKey(ENFORCED_OF_STAGED[input.kind]!, name, ns);
  }
  return { policy: { ir, selector }, issues: withResource(issues, input.label) };
}

/** The four `governs` values, shared by every policy (read-only IR data), by ingress + 2 × egress. */
const GOVERNS: ReadonlyArray<PolicyIR["governs"]> = [
  Object.freeze({ ingress: false, egress: false }),
  Object.freeze({ ingress: true, egress: false }),
  Object.freeze({ ingress: false, egress: true }),
  Object.freeze({ ingress: true, egress: true }),
];

function withResource(issues: Issue[], label: string): Issue[] {
  return issues.length === 0 ? issues : issues.map((i) => (i.resource ? i : { ...i, resource: label }));
}

export function compileProfile(p: ProfileRecord, sets: SetRegistry): { ingress: RuleIR[]; egress: RuleIR[]; issues: Issue[] } {
  const issues: Issue[] = [];
  const key = profileKey(p.name);
  const ingress = compileRules(p.ingress, "ingress", "", key, "", sets, issues);
  const egress = compileRules(p.egress, "egress", "", key, "", sets, issues);
  return { ingress, egress, issues: withResource(issues, p.source) };
}

export function buildTiers(tierResources: Tier[], policyTiers: Iterable<string>): TierIR[] {
  const byName = new Map<string, TierIR>();
  for (const t of BUILTIN_TIERS_IR) byName.set(t.name, { ...t });
  for (const t of tierResources) {
    byName.set(t.metadata.name, {
      name: t.metadata.name,
      order: typeof t.spec?.order === "number" ? t.spec.order : null,
      defaultAction: t.spec?.defaultAction === "Pass" ? "Pass" : "Deny",
    });
  }
  for (const name of policyTiers) {
    if (!byName.has(name)) byName.set(name, { name, order: null, defaultAction: "Deny", missing: true });
  }
  return [...byName.values()].sort(compareTiers);
}

export type ProgramSet = Pick<EndpointIR, "ingress" | "egress" | "forward" | "preDNAT" | "untracked">;

/** Orders policies globally (tier, then policy order) and hands out per-endpoint programs. */
export class PolicyResolver {
  private readonly sorted: CompiledPolicy[];
  private readonly tierByName: Map<string, TierIR>;
  private readonly selectingCache = new Map<string, CompiledPolicy[]>();
  private readonly programCache = new Map<string, ProgramSet>();
  private readonly positionsCache = new Map<string, ProgramSet>();
  /** Candidate index (Felix's label index idea): a policy whose selector requires label k to have
   *  one of the values V (Selector.labelRestrictions) is listed under (k, v) for each v in V, so
   *  a label map only tests the policies listed under its own (k, v) pairs plus the unindexed
   *  ones. Exact: a map with labels[k] ∉ V cannot match. Positions refer to `sorted`. Built on
   *  the first `selecting` call: the full build selects by class and never needs it. */
  private candidateIndex: { byLabel: Map<string, Map<string, number[]>>; unindexed: number[] } | undefined;

  constructor(tiers: TierIR[], policies: CompiledPolicy[]) {
    this.tierByName = new Map(tiers.map((t) => [t.name, t]));
    const tierIndex = new Map(tiers.map((t, i) => [t.name, i]));
    // comparePolicies' keys computed once per policy rather than in every comparison (75k
    // policies: ~1.2M comparisons, each of which built two tie-break texts and tested them).
    // Parallel arrays and a sorted list of positions: no object per policy (75k of them lived
    // through the sort, long enough to be promoted, and died right after).
    const n = policies.length;
    const tierOf = new Array<number>(n);
    const orderOf = new Float64Array(n);
    const tieOf = new Array<string>(n);
    const positions = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const ir = policies[i]!.ir;
      const k = policySortKey(ir);
      tierOf[i] = tierIndex.get(ir.tier)!;
      orderOf[i] = k.order;
      tieOf[i] = k.tie;
      positions[i] = i;
    }
    positions.sort((a, b) => {
      if (tierOf[a] !== tierOf[b]) return tierOf[a]! - tierOf[b]!;
      if (orderOf[a] !== orderOf[b]) return orderOf[a]! < orderOf[b]! ? -1 : 1;
      return tieOf[a] === tieOf[b] ? 0 : tieOf[a]! < tieOf[b]! ? -1 : 1;
    });
    this.sorted = positions.map((i) => policies[i]!);
  }

  private get candidates(): NonNullable<PolicyResolver["candidateIndex"]> {
    if (this.candidateIndex) return this.candidateIndex;
    const byLabel = new Map<string, Map<string, number[]>>();
    const unindexed: number[] = [];
    this.sorted.forEach((p, i) => {
      let best: [string, string[]] | undefined;
      for (const [k, r] of p.selector.labelRestrictionList()) {
        const vals = r.mustHaveOneOfValues;
        if (vals === undefined) continue;
        if (!best || vals.length < best[1].length) best = [k, vals];
      }
      if (!best) {
        unindexed.push(i);
        return;
      }
      // An empty value list means the selector cannot match anything: listed nowhere.
      let byValue = byLabel.get(best[0]);
      if (!byValue) byLabel.set(best[0], (byValue = new Map()));
      for (const v of best[1]) {
        const l = byValue.get(v);
        if (l) l.push(i);
        else byValue.set(v, [i]);
      }
    });
    return (this.candidateIndex = { byLabel, unindexed });
  }

  /** Policies (sorted) whose selector matches these effective labels. */
  selecting(labels: Readonly<Record<string, string>>, sig = labelSignature(labels)): CompiledPolicy[] {
    let hit = this.selectingCache.get(sig);
    if (!hit) {
      const { byLabel, unindexed } = this.candidates;
      const candidates = [...unindexed];
      for (const [k, byValue] of byLabel) {
        const v = Object.prototype.hasOwnProperty.call(labels, k) ? labels[k] : undefined;
        if (typeof v !== "string") continue;
        const l = byValue.get(v);
        if (l) for (const i of l) candidates.push(i);
      }
      // Each policy is listed under one label only, so no duplicates; sorting restores order.
      candidates.sort((a, b) => a - b);
      hit = [];
      for (const i of candidates) {
        const p = this.sorted[i]!;
        if (p.selector.matches(labels)) hit.push(p);
      }
      this.selectingCache.set(sig, hit);
    }
    return hit;
  }

  programs(ep: EndpointRecord, labels: Readonly<Record<string, string>>, profileKeys: PolicyKey[]): ProgramSet {
    const sig = labelSignature(labels);
    const cacheKey = `${ep.kind}|${sig}|${profileKeys.join(",")}`;
    const hit = this.programCache.get(cacheKey);
    if (hit) return hit;
    const out = this.build(ep.kind, this.selecting(labels, sig), profileKeys);
    this.programCache.set(cacheKey, out);
    return out;
  }

  /**
   * For every class of `index` (by ordinal), the positions (ascending, so in policy order) of the
   * policies whose selector matches it. Driven by the policies: each selector is evaluated only
   * on the classes its label restrictions allow (LabelIndex.selectClasses), which is what makes
   * the full computation O(matches) rather than O(classes × candidate policies).
   */
  selectingByClass(index: Pick<LabelIndex, "selectClasses" | "classList">): number[][] {
    const out: number[][] = index.classList.map(() => []);
    this.sorted.forEach((p, i) => {
      for (const o of index.selectClasses(p.selector)) out[o]!.push(i);
    });
    return out;
  }

  /**
   * Programs of an endpoint of `kind` selected by the policies at `positions` (ascending, as
   * selectingByClass returns them). Shared between every endpoint with the same kind, list of
   * policies and profiles — programs depend on nothing else.
   */
  programsFor(kind: EndpointRecord["kind"], positions: readonly number[], profileKeys: PolicyKey[]): ProgramSet {
    const cacheKey = `${kind}|${positions.join(",")}|${profileKeys.join(",")}`;
    const hit = this.positionsCache.get(cacheKey);
    if (hit) return hit;
    const out = this.build(kind, positions.map((i) => this.sorted[i]!), profileKeys);
    this.positionsCache.set(cacheKey, out);
    return out;
  }

  private build(kind: EndpointRecord["kind"], sel: CompiledPolicy[], profileKeys: PolicyKey[]): ProgramSet {
    const host = kind === "host";
    const normal = (p: PolicyIR) => !p.doNotTrack && !p.preDNAT;
    const out: ProgramSet = {
      ingress: this.program(sel, "ingress", normal, profileKeys, false),
      egress: this.program(sel, "egress", normal, profileKeys, false),
    };
    if (host) {
      const fwd = (p: PolicyIR) => normal(p) && p.applyOnForward;
      out.forward = { ingress: this.program(sel, "ingress", fwd, [], false), egress: this.program(sel, "egress", fwd, [], false) };
      out.preDNAT = this.program(sel, "ingress", (p) => p.preDNAT, [], true);
      out.untracked = {
        ingress: this.program(sel, "ingress", (p) => p.doNotTrack, [], true),
        egress: this.program(sel, "egress", (p) => p.doNotTrack, [], true),
      };
    }
    return out;
  }

  /** `passTiers`: untracked and preDNAT tiers end with Pass (later tables still apply). */
  private program(sel: CompiledPolicy[], dir: Direction, want: (p: PolicyIR) => boolean, profiles: PolicyKey[], passTiers: boolean): DirectionProgram {
    const enforced: PolicyIR[] = [];
    const staged: PolicyIR[] = [];
    for (const { ir } of sel) {
      if (!want(ir) || !ir.governs[dir]) continue;
      (ir.staged ? staged : enforced).push(ir);
    }
    return { direction: dir, tiers: this.tierRuns(enforced, passTiers), stagedTiers: passTiers ? NO_TIER_RUNS : this.tierRuns(staged, false), profiles };
  }

  /**
   * One TierProgram per run of consecutive policies of one tier. Programs are kept per group of
   * endpoints, so the lists are made at their final size: grown by push and copied afterwards,
   * the grown ones were garbage in the old generation (V8 allocates them there once it has seen
   * that most lists made at that place live on).
   */
  private tierRuns(irs: readonly PolicyIR[], passTiers: boolean): TierProgram[] {
    if (irs.length === 0) return NO_TIER_RUNS;
    const starts: number[] = [];
    for (let i = 0; i < irs.length; i++) if (i === 0 || irs[i]!.tier !== irs[i - 1]!.tier) starts.push(i);
    return starts.map((start, run) => {
      const end = run + 1 < starts.length ? starts[run + 1]! : irs.length;
      const tier = irs[start]!.tier;
      const policies = new Array<PolicyKey>(end - start);
      for (let i = start; i < end; i++) policies[i - start] = irs[i]!.key;
      return { tier, defaultAction: passTiers ? "Pass" : this.tierByName.get(tier)!.defaultAction, policies };
    });
  }
}
