/**
 * Policy-level rules for Calico policies, staged policies, tiers and profiles (SEMANTICS §5.3;
 * VAL validateNetworkPolicySpec / validateGlobalNetworkPolicySpec / validateStaged*, and the v3.32
 * CEL rules on GlobalNetworkPolicySpec and Tier).
 *
 * Whether the named tier exists is not checked here: that is a datastore question (calicoctl
 * fails the create with "resource does not exist: Tier(...)"), not a property of the document.
 */
import type { IssuePath, KindId } from "../model/index.js";
import { arr, num, obj, quote, str, type Obj, type Report } from "./check-util.js";
import { checkLabels } from "./labels.js";
import { dns1123SubdomainProblem } from "./names.js";
import { checkRules } from "./rules.js";
import { checkSelector } from "./selectors.js";

export const POLICY_TYPES = ["Ingress", "Egress"] as const;
export const STAGED_ACTIONS = ["Set", "Delete", "Learn", "Ignore"] as const;
export const PERFORMANCE_HINTS = ["AssumeNeededOnEveryNode"] as const;

/** Built-in tiers and the order/defaultAction Calico v3.32 insists on (CEL on Tier). */
export const BUILTIN_TIERS: Record<string, { order: number; defaultAction: "Deny" | "Pass" }> = {
  default: { order: 1_000_000, defaultAction: "Deny" },
  "kube-admin": { order: 1000, defaultAction: "Pass" },
  "kube-baseline": { order: 10_000_000, defaultAction: "Pass" },
};

type CalicoPolicyKind = "NetworkPolicy" | "GlobalNetworkPolicy" | "StagedNetworkPolicy" | "StagedGlobalNetworkPolicy";

export function isCalicoPolicyKind(k: KindId): k is CalicoPolicyKind {
  return k === "NetworkPolicy" || k === "GlobalNetworkPolicy" || k === "StagedNetworkPolicy" || k === "StagedGlobalNetworkPolicy";
}

export function checkStagedAction(spec: Obj, report: Report): string | undefined {
  const a = spec.stagedAction;
  if (a === undefined) return "Set";
  if (typeof a !== "string") return undefined;
  if ((STAGED_ACTIONS as readonly string[]).includes(a)) return a;
  report("invalid-staged-action", ["spec", "stagedAction"], `invalid stagedAction ${quote(a)}; use one of ${STAGED_ACTIONS.join(", ")}`);
  return undefined;
}

/**
 * Whether a spec field differs from Go's zero value, as Calico's reflect.DeepEqual against an
 * empty spec sees it: "" and false are zero; a list (even empty) or a number (a *float64) is set;
 * a mapping is zero only when it has no set fields (LabelSelector{} is a struct, not a pointer).
 */
export function isSetField(v: unknown): boolean {
  if (v === undefined || v === "" || v === false) return false;
  if (typeof v === "object" && v !== null && !Array.isArray(v)) return Object.values(v).some(isSetField);
  return true;
}

/** With stagedAction Delete, every spec field except these must be empty. */
export function checkStagedDeleteEmpty(spec: Obj, keep: string[], report: Report, message: (k: string) => string): void {
  for (const [k, v] of Object.entries(spec)) {
    if (keep.includes(k) || !isSetField(v)) continue;
    report("staged-delete-not-empty", ["spec", k], message(k));
  }
}

export function checkCalicoPolicy(kind: CalicoPolicyKind, res: Obj, report: Report): void {
  const spec = obj(res.spec) ?? {};
  const global = kind === "GlobalNetworkPolicy" || kind === "StagedGlobalNetworkPolicy";
  const staged = kind === "StagedNetworkPolicy" || kind === "StagedGlobalNetworkPolicy";
  if (staged) {
    const action = checkStagedAction(spec, report);
    if (action === "Delete") {
      checkStagedDeleteEmpty(spec, ["tier", "stagedAction"], report, (k) => `with stagedAction Delete, spec may only name the tier; remove ${k}`);
      return;
    }
  }

  const tier = str(spec.tier);
  if (tier !== undefined && tier !== "") {
    const p = dns1123SubdomainProblem(tier);
    if (p) report("invalid-tier", ["spec", "tier"], `invalid tier name ${quote(tier)}: it ${p}`);
  }
  checkOrder(spec.order, ["spec", "order"], report);

  checkSelector(spec.selector, ["spec", "selector"], "forbidden", report);
  checkSelector(spec.serviceAccountSelector, ["spec", "serviceAccountSelector"], "forbidden", report);
  if (global) checkSelector(spec.namespaceSelector, ["spec", "namespaceSelector"], "forbidden", report);

  const types = checkTypes(spec.types, report);
  checkPerformanceHints(spec.performanceHints, report);

  checkRules(spec.ingress, ["spec", "ingress"], { direction: "ingress", global, policy: true }, report);
  checkRules(spec.egress, ["spec", "egress"], { direction: "egress", global, policy: true }, report);

  if (global) {
    const doNotTrack = spec.doNotTrack === true;
    const preDNAT = spec.preDNAT === true;
    const applyOnForward = spec.applyOnForward === true;
    if (doNotTrack && preDNAT)
      report("invalid-policy-flags", ["spec", "preDNAT"], "preDNAT and doNotTrack cannot both be true");
    if (preDNAT && arr(spec.egress).length > 0)
      report("invalid-policy-flags", ["spec", "egress"], "a preDNAT policy cannot have egress rules (preDNAT is ingress-only)");
    if (preDNAT && types.includes("Egress"))
      report("invalid-policy-flags", ["spec", "types"], "a preDNAT policy cannot have type Egress (preDNAT is ingress-only)");
    if ((doNotTrack || preDNAT) && !applyOnForward)
      report(
        "invalid-policy-flags",
        ["spec", "applyOnForward"],
        `applyOnForward must be true when ${doNotTrack ? "doNotTrack" : "preDNAT"} is true`,
      );
  }
}

export function checkOrder(order: unknown, path: IssuePath, report: Report): void {
  const o = num(order);
  if (o !== undefined && !Number.isFinite(o)) report("invalid-order", path, `order must be a finite number, not ${o}`);
}

/** Returns the valid types listed. */
function checkTypes(value: unknown, report: Report): string[] {
  const types = arr(value);
  const out: string[] = [];
  if (types.length > 2) report("invalid-types", ["spec", "types"], "types may list at most Ingress and Egress");
  types.forEach((t, i) => {
    if (typeof t !== "string") return;
    if (!(POLICY_TYPES as readonly string[]).includes(t)) {
      const ci = POLICY_TYPES.find((p) => p.toLowerCase() === t.toLowerCase());
      report(
        "invalid-types",
        ["spec", "types", i],
        ci ? `policy types are case-sensitive: use ${quote(ci)}, not ${quote(t)}` : `invalid policy type ${quote(t)}; use Ingress or Egress`,
      );
      return;
    }
    if (out.includes(t)) report("invalid-types", ["spec", "types", i], `${quote(t)} type specified more than once`);
    out.push(t);
  });
  return out;
}

function checkPerformanceHints(value: unknown, report: Report): void {
  const seen = new Set<string>();
  arr(value).forEach((h, i) => {
    if (typeof h !== "string") return;
    const p = ["spec", "performanceHints", i];
    if (!(PERFORMANCE_HINTS as readonly string[]).includes(h))
      report("invalid-performance-hint", p, `unknown performance hint ${quote(h)}; the only one is AssumeNeededOnEveryNode`);
    else if (seen.has(h)) report("invalid-performance-hint", p, `performance hint ${quote(h)} is listed twice`);
    seen.add(h);
  });
}

export function checkTier(res: Obj, report: Report): void {
  const spec = obj(res.spec) ?? {};
  const name = str(obj(res.metadata)?.name);
  checkOrder(spec.order, ["spec", "order"], report);
  const da = spec.defaultAction;
  if (typeof da === "string" && da !== "Deny" && da !== "Pass") {
    report("invalid-default-action", ["spec", "defaultAction"], `a tier's defaultAction must be Deny or Pass, not ${quote(da)}`);
  }
  const builtin = name !== undefined ? BUILTIN_TIERS[name] : undefined;
  if (builtin) {
    const order = num(spec.order);
    if (order !== builtin.order)
      report("builtin-tier", ["spec", "order"], `the ${name} tier's order must be ${builtin.order}`);
    const action = typeof da === "string" ? da : "Deny"; // the CRD defaults defaultAction to Deny first
    if (action !== builtin.defaultAction)
      report("builtin-tier", ["spec", "defaultAction"], `the ${name} tier's defaultAction must be ${builtin.defaultAction}`);
  }
}

export function checkProfile(res: Obj, report: Report): void {
  const spec = obj(res.spec) ?? {};
  checkRules(spec.ingress, ["spec", "ingress"], { direction: "ingress", global: true, policy: false }, report);
  checkRules(spec.egress, ["spec", "egress"], { direction: "egress", global: true, policy: false }, report);
  checkLabels(spec.labelsToApply, ["spec", "labelsToApply"], report);
}
