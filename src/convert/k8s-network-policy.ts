/**
 * Kubernetes NetworkPolicy → Calico policy, as libcalico-go/lib/backend/k8s/conversion/conversion.go
 * K8sNetworkPolicyToCalico does it (SEMANTICS §4), at Calico v3.32+: the policy keeps its name and
 * has kind KubernetesNetworkPolicy, tier "default", order 1000.
 *
 * Selector strings are Calico's raw texts (not canonicalised), because that is what Calico stores
 * and what `calicoctl get` shows; the engine parses them like any other policy.
 * Quirks reproduced on purpose are listed in docs/k8s-conversion.md.
 */
import {
  CALICO_API,
  type Issue,
  type IssuePath,
  type K8sNetworkPolicy,
  type K8sNetworkPolicyPeer,
  type K8sNetworkPolicyPort,
  type K8sNetworkPolicySpec,
  type LabelSelector,
  type ObjectMeta,
  type PolicyType,
  type Rule,
  type EntityRule,
  type StagedAction,
  type StagedKubernetesNetworkPolicy,
  issue,
} from "../model/index.js";
import { compareUtf8, tryParseSelector } from "../selector/index.js";
import { convertUid, goNormaliseCidr } from "./go-net.js";
import { type CalicoPort, portFromString, portToSpec, simplifyPorts } from "./ports.js";

export const K8S_POLICY_ORDER = 1000;

// Inputs normally come validated, but conversion must never throw on odd YAML: Go's decoder would
// have produced zero values, so wrong-typed fields read as absent.
const arr = <T>(x: unknown): T[] => (Array.isArray(x) ? (x as T[]) : []);
const obj = <T extends object>(x: unknown): T | undefined =>
  x !== null && typeof x === "object" && !Array.isArray(x) ? (x as T) : undefined;
export const K8S_POLICY_TIER = "default";
const ORCHESTRATOR_CLAUSE = "projectcalico.org/orchestrator == 'k8s'";

/** The Calico form of a Kubernetes (or staged Kubernetes) NetworkPolicy. */
export interface ConvertedPolicy {
  apiVersion: typeof CALICO_API;
  kind: "KubernetesNetworkPolicy" | "StagedKubernetesNetworkPolicy";
  metadata: ObjectMeta;
  spec: {
    tier: typeof K8S_POLICY_TIER;
    order: typeof K8S_POLICY_ORDER;
    selector: string;
    /** Always [Ingress], [Egress] or [Ingress, Egress], in that order. */
    types: PolicyType[];
    ingress: Rule[];
    egress: Rule[];
    /** Staged only; absent means Calico's default, Set. */
    stagedAction?: StagedAction;
  };
}

export interface K8sConversionResult {
  /**
   * null when Calico would produce no policy at all: an unparseable metadata.uid (enforced
   * policy), a staged policy with stagedAction Delete, or a staged policy with any rule that
   * failed to convert (the staged syncer drops the whole policy on a conversion error).
   */
  policy: ConvertedPolicy | null;
  issues: Issue[];
}

export type SelectorKind = "pod" | "namespace";

/**
 * conversion.k8sSelectorToCalico. Pod selectors start with the orchestrator clause (even when nil);
 * a nil namespace selector is "" (same namespace), an empty one is all().
 */
export function k8sSelectorToCalico(s: LabelSelector | null | undefined, kind: SelectorKind, onIgnoredOperator?: (op: string, i: number) => void): string {
  // Built as one list of pieces joined once: one flat text instead of a tree of concatenations
  // per clause (a full build converts tens of thousands of selectors).
  const pieces: string[] = [];
  if (kind === "pod") pieces.push(ORCHESTRATOR_CLAUSE);
  if (s === null || s === undefined) return kind === "pod" ? ORCHESTRATOR_CLAUSE : "";
  const matchLabels = obj<Record<string, string>>(s.matchLabels);
  const labelKeys = matchLabels === undefined ? [] : Object.keys(matchLabels);
  const exprs = arr<unknown>(s.matchExpressions);
  if (kind === "namespace" && labelKeys.length === 0 && exprs.length === 0) return "all()";
  if (labelKeys.length > 1) labelKeys.sort(compareUtf8);
  for (const k of labelKeys) {
    if (pieces.length > 0) pieces.push(" && ");
    pieces.push(k, " == '", safeText(matchLabels![k]), "'");
  }
  for (let i = 0; i < exprs.length; i++) {
    const e = obj<NonNullable<LabelSelector["matchExpressions"]>[number]>(exprs[i]) ?? ({} as NonNullable<LabelSelector["matchExpressions"]>[number]);
    switch (e.operator) {
      case "In":
      case "NotIn":
        if (pieces.length > 0) pieces.push(" && ");
        pieces.push(safeText(e.key), e.operator === "In" ? " in { '" : " not in { '", arr<unknown>(e.values).map(safeText).join("', '"), "' }");
        break;
      case "Exists":
        if (pieces.length > 0) pieces.push(" && ");
        pieces.push("has(", safeText(e.key), ")");
        break;
      case "DoesNotExist":
        if (pieces.length > 0) pieces.push(" && ");
        pieces.push("! has(", safeText(e.key), ")");
        break;
      default:
        // Calico silently skips unknown operators (the API server rejects them).
        onIgnoredOperator?.(safeText(e.operator), i);
    }
  }
  return pieces.join("");
}

/** String(v) for values read from untyped input: never throws (objects with a broken toString
 *  would make String() throw, and malformed input must become an issue, not an exception). */
function safeText(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v === null || v === undefined) return String(v);
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v;
  }
}

interface PeerFields {
  selector: string;
  nsSelector: string;
  nets?: string[];
  notNets?: string[];
}

type RuleDirection = "ingress" | "egress";

/** Where an issue about a rule's peer is reported: the rule's path, plus the peer's when the rule
 *  lists peers (`peer` ≥ 0). Built only when there is an issue. */
function peerPath(dir: RuleDirection, rule: number, peer: number): IssuePath {
  return peer < 0 ? ["spec", dir, rule] : ["spec", dir, rule, dir === "ingress" ? "from" : "to", peer];
}

function hasExpressions(s: LabelSelector | undefined): boolean {
  return s !== undefined && Array.isArray(s.matchExpressions) && s.matchExpressions.length > 0;
}

/** Reports an unknown matchExpressions operator of a peer's selector; made only for selectors
 *  with expressions, the only ones that can have one. */
function ignoredOperator(issues: Issue[], dir: RuleDirection, rule: number, peer: number, which: "podSelector" | "namespaceSelector") {
  return (op: string, i: number) =>
    issues.push(
      issue(
        "k8s-selector-operator-ignored",
        [...peerPath(dir, rule, peer), which, "matchExpressions", i, "operator"],
        `unknown operator ${JSON.stringify(op)} is ignored, as Calico does`,
        "warning",
      ),
    );
}

/** conversion.k8sPeerToCalicoFields; nil peer → all empty. */
function peerFields(peer: K8sNetworkPolicyPeer | null, dir: RuleDirection, rule: number, peerIndex: number, issues: Issue[]): PeerFields {
  if (peer === null) return { selector: "", nsSelector: "" };
  const ipBlock = obj<NonNullable<K8sNetworkPolicyPeer["ipBlock"]>>(peer.ipBlock);
  if (ipBlock !== undefined) {
    const out: PeerFields = { selector: "", nsSelector: "" };
    const cidr = typeof ipBlock.cidr === "string" ? goNormaliseCidr(ipBlock.cidr) : undefined;
    if (cidr === undefined) {
      issues.push(
        issue(
          "k8s-ipblock-invalid",
          [...peerPath(dir, rule, peerIndex), "ipBlock", "cidr"],
          `ipBlock.cidr ${JSON.stringify(ipBlock.cidr)} is not a valid CIDR; Calico drops the whole peer, so this rule matches any address`,
          "warning",
        ),
      );
      return out;
    }
    out.nets = [cidr];
    const except = arr<string>(ipBlock.except);
    for (let k = 0; k < except.length; k++) {
      const n = typeof except[k] === "string" ? goNormaliseCidr(except[k]) : undefined;
      if (n === undefined) {
        issues.push(
          issue(
            "k8s-ipblock-invalid",
            [...peerPath(dir, rule, peerIndex), "ipBlock", "except", k],
            `ipBlock.except entry ${JSON.stringify(except[k])} is not a valid CIDR; Calico keeps only the exceptions before it`,
            "warning",
          ),
        );
        return out;
      }
      (out.notNets ??= []).push(n);
    }
    return out;
  }
  const podSelector = obj<LabelSelector>(peer.podSelector);
  const namespaceSelector = obj<LabelSelector>(peer.namespaceSelector);
  return {
    selector: k8sSelectorToCalico(podSelector, "pod", hasExpressions(podSelector) ? ignoredOperator(issues, dir, rule, peerIndex, "podSelector") : undefined),
    nsSelector: k8sSelectorToCalico(namespaceSelector, "namespace", hasExpressions(namespaceSelector) ? ignoredOperator(issues, dir, rule, peerIndex, "namespaceSelector") : undefined),
  };
}

/** Calico's protocol names by their lower-case spelling. */
const PROTOCOL_NAMES = new Map(["UDP", "TCP", "ICMP", "ICMPv6", "SCTP", "UDPLite"].map((n) => [n.toLowerCase(), n]));

/** Go ProtocolFromString: case-insensitive match to Calico's names, else unchanged. */
function protocolFromString(p: string): string {
  // The usual spellings are the names themselves: no lower-case copies made for them.
  if (p === "TCP" || p === "UDP" || p === "SCTP") return p;
  return PROTOCOL_NAMES.get(p.toLowerCase()) ?? p;
}

/** intstr.IntOrString.String(). */
function intOrString(v: number | string): string {
  return typeof v === "number" ? String(v) : safeText(v); // safeText: malformed input is not a string
}

type PortResult = { ok: true; protocol: string | null; ports: CalicoPort[] | null } | { ok: false; error: string };

/** k8sPortToCalicoFields after k8sRuleToCalico's copy (which defaults the protocol to TCP). */
function portFields(port: K8sNetworkPolicyPort | null): PortResult {
  if (port === null) return { ok: true, protocol: null, ports: null };
  const protocol = protocolFromString(port.protocol === undefined || port.protocol === null ? "TCP" : safeText(port.protocol));
  if (port.port === undefined || port.port === null) return { ok: true, protocol, ports: null };
  const hasEnd = port.endPort !== undefined && port.endPort !== null;
  // A port number in range is what its text parses to (portFromString of String(n)).
  if (!hasEnd && typeof port.port === "number" && Number.isInteger(port.port) && port.port > 0 && port.port <= 65535) {
    return { ok: true, protocol, ports: [{ min: port.port, max: port.port }] };
  }
  let text = intOrString(port.port as number | string);
  if (hasEnd) text = `${text}:${safeText(port.endPort)}`;
  const p = portFromString(text);
  if (!p.ok) return { ok: false, error: `invalid port ${text}: ${p.error}` };
  return { ok: true, protocol, ports: [p.port] };
}

/**
 * conversion.k8sRuleToCalico: one Allow rule per (protocol group × peer), appended to `out`; or
 * the error that drops the rule (found before any rule is made, so `out` is then unchanged).
 */
function ruleToCalico(
  peersIn: K8sNetworkPolicyPeer[] | null | undefined,
  portsIn: K8sNetworkPolicyPort[] | null | undefined,
  dir: RuleDirection,
  ruleIndex: number,
  out: Rule[],
  issues: Issue[],
): string | undefined {
  const ingress = dir === "ingress";
  // Entries that are not objects read as empty ones (Go's zero values).
  const peerList = arr<unknown>(peersIn);
  const portList = arr<unknown>(portsIn);

  // Protocol groups in first-seen order (Go's map, sorted below); null ports = all ports of that
  // protocol ("key present with nil value"). No ports at all: one group "" with all ports.
  const protos: string[] = [];
  const groupPorts: Array<CalicoPort[] | null> = [];
  if (portList.length === 0) {
    protos.push("");
    groupPorts.push(null);
  }
  for (let i = 0; i < portList.length; i++) {
    const r = portFields(obj<K8sNetworkPolicyPort>(portList[i]) ?? {});
    if (!r.ok) return `failed to parse k8s port: ${r.error}`;
    const key = r.protocol ?? "";
    const at = protos.indexOf(key);
    if (r.ports === null) {
      if (at < 0) {
        protos.push(key);
        groupPorts.push(null);
      } else groupPorts[at] = null;
    } else if (at < 0) {
      protos.push(key);
      groupPorts.push([...r.ports]);
    } else {
      // Never extend an "all ports" (null) entry.
      const existing = groupPorts[at];
      if (existing !== null && existing !== undefined) existing.push(...r.ports);
    }
  }
  let order: number[] | undefined;
  if (protos.length > 1) {
    order = protos.map((_, i) => i);
    order.sort((a, b) => compareUtf8(protos[a]!, protos[b]!));
  }

  const peerCount = peerList.length > 0 ? peerList.length : 1;
  for (let g = 0; g < protos.length; g++) {
    const at = order === undefined ? g : order[g]!;
    const proto = protos[at]!;
    const raw = groupPorts[at];
    const simplified = raw ? simplifyPorts(raw).map(portToSpec) : undefined;
    for (let j = 0; j < peerCount; j++) {
      const peer = peerList.length > 0 ? (obj<K8sNetworkPolicyPeer>(peerList[j]) ?? {}) : null;
      const f = peerFields(peer, dir, ruleIndex, peerList.length > 0 ? j : -1, issues);
      const peerRule: EntityRule = {};
      if (f.nets) peerRule.nets = f.nets;
      if (f.notNets) peerRule.notNets = f.notNets;
      if (f.selector !== "") peerRule.selector = f.selector;
      if (f.nsSelector !== "") peerRule.namespaceSelector = f.nsSelector;
      const rule: Rule = { action: "Allow" };
      if (proto !== "") rule.protocol = proto;
      if (ingress) {
        rule.source = peerRule;
        rule.destination = simplified && simplified.length > 0 ? { ports: simplified } : {};
      } else {
        rule.source = {};
        rule.destination = simplified && simplified.length > 0 ? { ...peerRule, ports: simplified } : peerRule;
      }
      out.push(rule);
    }
  }
  return undefined;
}

function checkSelector(text: string | undefined, dir: "podSelector" | RuleDirection, issues: Issue[]): void {
  if (text === undefined || text === "") return;
  const r = tryParseSelector(text);
  if (!r.ok) {
    issues.push(
      issue(
        "k8s-selector-unparseable",
        ["spec", dir],
        `converted selector ${JSON.stringify(text)} is not a valid Calico selector (${r.error.reason}); Calico would treat the policy as invalid`,
        "warning",
      ),
    );
  }
}

/**
 * Converts a networking.k8s.io/v1 NetworkPolicy or a projectcalico.org/v3
 * StagedKubernetesNetworkPolicy. Never throws on user input; problems are returned as issues.
 */
export function convertKubernetesNetworkPolicy(np: K8sNetworkPolicy | StagedKubernetesNetworkPolicy): K8sConversionResult {
  const issues: Issue[] = [];
  const staged = np.kind === "StagedKubernetesNetworkPolicy";
  const spec = (obj(np.spec) ?? {}) as Partial<K8sNetworkPolicy["spec"]> & { stagedAction?: StagedAction };
  const meta = obj<ObjectMeta>(np.metadata) ?? ({ name: "" } as ObjectMeta);
  type In = NonNullable<K8sNetworkPolicySpec["ingress"]>[number];
  type Eg = NonNullable<K8sNetworkPolicySpec["egress"]>[number];
  // Rule entries that are not objects read as empty rules.
  const ingressIn = arr<unknown>(spec.ingress);
  const egressIn = arr<unknown>(spec.egress);

  if (staged && spec.stagedAction === "Delete") return { policy: null, issues };

  const ingress: Rule[] = [];
  const egress: Rule[] = [];
  let badRules = 0;
  const dropped = (dir: RuleDirection, i: number, error: string) => {
    badRules++;
    issues.push(issue("k8s-rule-dropped", ["spec", dir, i], `k8s rule couldn't be converted: ${error}; Calico drops this rule`, "warning"));
  };
  for (let i = 0; i < ingressIn.length; i++) {
    const r = obj<In>(ingressIn[i]) ?? {};
    const error = ruleToCalico(r.from, r.ports, "ingress", i, ingress, issues);
    if (error !== undefined) dropped("ingress", i, error);
  }
  for (let i = 0; i < egressIn.length; i++) {
    const r = obj<Eg>(egressIn[i]) ?? {};
    const error = ruleToCalico(r.to, r.ports, "egress", i, egress, issues);
    if (error !== undefined) dropped("egress", i, error);
  }

  const declared = arr<string>(spec.policyTypes);
  const wantIngress = declared.includes("Ingress");
  const wantEgress = declared.includes("Egress");
  const types: PolicyType[] = [];
  if (wantIngress) types.push("Ingress");
  if (wantEgress) types.push("Egress");
  if (types.length === 0) types.push("Ingress");
  if (!wantEgress && egressIn.length > 0) {
    issues.push(
      issue(
        "k8s-egress-rules-not-enforced",
        ["spec", "policyTypes"],
        "policyTypes does not include Egress, so Calico converts but never applies the egress rules",
        "warning",
      ),
    );
  }

  const selector = k8sSelectorToCalico(obj(spec.podSelector) ?? {}, "pod", (op, i) =>
    issues.push(
      issue("k8s-selector-operator-ignored", ["spec", "podSelector", "matchExpressions", i, "operator"], `unknown operator ${JSON.stringify(op)} is ignored, as Calico does`, "warning"),
    ),
  );
  checkSelector(selector, "podSelector", issues);
  for (const [rules, dir] of [[ingress, "ingress"], [egress, "egress"]] as const) {
    for (const r of rules) {
      checkSelector(r.source?.selector, dir, issues);
      checkSelector(r.source?.namespaceSelector, dir, issues);
      checkSelector(r.destination?.selector, dir, issues);
      checkSelector(r.destination?.namespaceSelector, dir, issues);
    }
  }

  const metadata: ObjectMeta = { name: meta.name, namespace: meta.namespace };
  if (meta.creationTimestamp !== undefined) metadata.creationTimestamp = meta.creationTimestamp;
  // The staged path clears uid and resourceVersion before converting (ConvertStagedKubernetesPolicyToK8SEnforced).
  if (!staged) {
    if (meta.uid !== undefined && meta.uid !== "") {
      const uid = convertUid(safeText(meta.uid));
      if (uid === undefined) {
        issues.push(
          issue("k8s-uid-invalid", ["metadata", "uid"], `metadata.uid ${JSON.stringify(meta.uid)} is not a UUID; Calico fails to convert the whole policy`, "error"),
        );
        return { policy: null, issues };
      }
      metadata.uid = uid;
    }
    if (meta.resourceVersion !== undefined) metadata.resourceVersion = meta.resourceVersion;
  }

  if (staged && badRules > 0) {
    issues.push(
      issue("k8s-staged-policy-dropped", ["spec"], "a rule failed to convert, so Calico drops the whole staged policy", "warning"),
    );
    return { policy: null, issues };
  }

  const policy: ConvertedPolicy = {
    apiVersion: CALICO_API,
    kind: staged ? "StagedKubernetesNetworkPolicy" : "KubernetesNetworkPolicy",
    metadata,
    spec: { tier: K8S_POLICY_TIER, order: K8S_POLICY_ORDER, selector, types, ingress, egress },
  };
  if (staged && spec.stagedAction !== undefined) policy.spec.stagedAction = spec.stagedAction;
  return { policy, issues };
}
