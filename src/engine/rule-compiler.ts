/**
 * Rule compiler: one Calico rule (resource form) → one RuleIR, with selectors replaced by set ids
 * (felix calc/rule_scanner.go ruleToParsedRule, after libcalico-go RuleAPIV3ToBackend).
 *
 * Problems are returned as issues; a policy with any error issue is dropped as a whole, the way
 * Felix treats a resource that fails validation as missing.
 */
import type { EntityRule, Issue, IssuePath, PortSpec, Rule } from "../model/index.js";
import { exactArray, issue } from "../model/index.js";
import {
  canonicalCidr,
  parseCidr,
  PROTO_ANY,
  PROTO_SCTP,
  PROTO_TCP,
  PROTO_UDP,
  protocolNumber,
  type EntityMatch,
  type PortRange,
  type RuleIR,
  type RuleMatch,
  type RuleOrigin,
} from "../rule/index.js";
import { SelectorParseError, type Selector } from "../selector/index.js";
import { parseSel as parseSelector } from "./selector-cache.js";
import { entitySelectorTexts } from "./selector-rewrite.js";
import type { SetRegistry } from "./set-calculator.js";

export interface RuleContext {
  /** Policy namespace; "" for global policies and profiles. */
  namespace: string;
  origin: RuleOrigin;
  /** Path of the rule inside its resource, e.g. ["spec", "ingress", 2]. */
  path: IssuePath;
  sets: SetRegistry;
}

const ACTIONS = new Set(["Allow", "Deny", "Log", "Pass"]);

type ParsedPorts = { ranges: PortRange[]; named: string[] };

/** What an absent or empty port list parses to; shared, never written (callers copy). */
const NO_PORTS: ParsedPorts = Object.freeze({ ranges: Object.freeze([]) as unknown as PortRange[], named: Object.freeze([]) as unknown as string[] });

/** numorstring.PortFromString: "a:b" range, a number, or a port name. */
export function parsePorts(list: PortSpec[] | undefined, path: IssuePath, issues: Issue[]): ParsedPorts {
  return portList(list, path, NO_TAIL, issues);
}

/**
 * parsePorts with the issue path given as `base` + `tail` (+ the entry's index), joined only when
 * there is an issue: a full build compiles ~80k entity rules, and building every path up front
 * made most of what the rule compiler allocated.
 */
function portList(list: PortSpec[] | undefined, base: IssuePath, tail: readonly string[], issues: Issue[]): ParsedPorts {
  if (list === undefined || list === null || (Array.isArray(list) && list.length === 0)) return NO_PORTS;
  const out: ParsedPorts = { ranges: [], named: [] };
  const bad = (p: unknown, i: number, why: string) => issues.push(issue("invalid-port", [...base, ...tail, i], `port ${JSON.stringify(p)}: ${why}`));
  if (!Array.isArray(list)) {
    // Malformed input (not a list) behaves as it always has.
    (list as PortSpec[]).forEach((p, i) => onePort(p, i, out, bad));
    return out;
  }
  for (let i = 0; i < list.length; i++) if (i in list) onePort(list[i]!, i, out, bad);
  return out;
}

function onePort(p: PortSpec, i: number, out: ParsedPorts, bad: (p: unknown, i: number, why: string) => void): void {
  if (typeof p === "number") {
    if (!Number.isInteger(p) || p < 1 || p > 65535) return bad(p, i, "port number must be between 1 and 65535");
    out.ranges.push({ first: p, last: p });
    return;
  }
  if (typeof p !== "string") return bad(p, i, "must be a number, a \"min:max\" range or a port name");
  const m = /^([0-9]+):([0-9]+)$/.exec(p);
  if (m) {
    const a = Number(m[1]);
    const b = Number(m[2]);
    if (a < 1 || b > 65535 || a > b) return bad(p, i, "port range invalid, port number must be between 1 and 65535 and min ≤ max");
    out.ranges.push({ first: a, last: b });
    return;
  }
  if (/^[0-9]+$/.test(p)) {
    const n = Number(p);
    if (n < 1 || n > 65535) return bad(p, i, "port number must be between 1 and 65535");
    out.ranges.push({ first: n, last: n });
    return;
  }
  if (!/^[a-zA-Z0-9_.-]{1,128}$/.test(p)) return bad(p, i, "not a port number, range or port name");
  out.named.push(p);
}

const NO_TAIL: readonly string[] = Object.freeze([]);

/** The issue-path tails of an entity rule's fields, per side: constants, so that compiling an
 *  entity allocates no path unless it has an issue. */
function entityTails(side: "source" | "destination") {
  return Object.freeze({
    side: Object.freeze([side]),
    nets: Object.freeze([side, "nets"]),
    notNets: Object.freeze([side, "notNets"]),
    selector: Object.freeze([side, "selector"]),
    notSelector: Object.freeze([side, "notSelector"]),
    ports: Object.freeze([side, "ports"]),
    notPorts: Object.freeze([side, "notPorts"]),
    serviceNamespace: Object.freeze([side, "services", "namespace"]),
  });
}
const TAILS = { source: entityTails("source"), destination: entityTails("destination") } as const;

function selectorOrIssue(text: string, base: IssuePath, tail: readonly string[], issues: Issue[]): Selector | undefined {
  try {
    return parseSelector(text);
  } catch (e) {
    if (e instanceof SelectorParseError) {
      issues.push(issue("invalid-selector", [...base, ...tail], `selector ${JSON.stringify(text)}: ${e.message}`));
      return undefined;
    }
    throw e;
  }
}

function cidrs(list: string[] | undefined, base: IssuePath, tail: readonly string[], issues: Issue[]): string[] | undefined {
  if (!list || list.length === 0) return undefined;
  const out: string[] = [];
  list.forEach((n, i) => {
    const c = typeof n === "string" ? parseCidr(n) : undefined;
    if (!c) {
      issues.push(issue("invalid-cidr", [...base, ...tail, i], `${JSON.stringify(n)} is not a CIDR`));
      return;
    }
    out.push(canonicalCidr(n)!);
  });
  return exactArray(out);
}

/** Felix ipsetmember.ProtocolFrom for a rule's protocol: UDP and SCTP as such, anything else TCP;
 *  no protocol → any. */
function namedPortProtocol(protocol: number | undefined): number {
  if (protocol === undefined) return PROTO_ANY;
  if (protocol === PROTO_UDP) return PROTO_UDP;
  if (protocol === PROTO_SCTP) return PROTO_SCTP;
  return PROTO_TCP;
}

function compileEntity(
  side: "source" | "destination",
  er: EntityRule | undefined,
  ctx: RuleContext,
  protocol: number | undefined,
  issues: Issue[],
): EntityMatch {
  const e: EntityMatch = {};
  if (!er) return e;
  const tails = TAILS[side];
  const nets = cidrs(er.nets, ctx.path, tails.nets, issues);
  if (nets) e.nets = nets;
  const notNets = cidrs(er.notNets, ctx.path, tails.notNets, issues);
  if (notNets) e.notNets = notNets;

  // The usual namespaced rule side, a selector alone: its positive selector from the selector's
  // own parse (NamespacedSelectorMemo.ruleSelector), without gluing and parsing the text.
  if (ctx.namespace && typeof er.selector === "string" && er.selector !== "" && !er.notSelector && !er.namespaceSelector && !er.serviceAccounts) {
    const positive = ctx.sets.policySelectors.ruleSelector(ctx.namespace, er.selector);
    if (positive) return finishEntity(e, er, ctx, tails, protocol, positive, undefined, side, issues);
  }
  let texts: { positive: string; negative: string };
  try {
    texts = entitySelectorTexts(er, ctx.namespace);
  } catch (err) {
    if (err instanceof SelectorParseError) {
      issues.push(issue("invalid-selector", [...ctx.path, ...tails.side], `${side} selector: ${err.message}`));
      return e;
    }
    throw err;
  }
  const positive = texts.positive ? selectorOrIssue(texts.positive, ctx.path, tails.selector, issues) : undefined;
  const negative = texts.negative ? selectorOrIssue(texts.negative, ctx.path, tails.notSelector, issues) : undefined;
  return finishEntity(e, er, ctx, tails, protocol, positive, negative, side, issues);
}

/** compileEntity after the selectors: ports, named ports, sets and services. */
function finishEntity(
  e: EntityMatch,
  er: EntityRule,
  ctx: RuleContext,
  tails: (typeof TAILS)["source"],
  protocol: number | undefined,
  positive: Selector | undefined,
  negative: Selector | undefined,
  side: "source" | "destination",
  issues: Issue[],
): EntityMatch {
  const ports = portList(er.ports, ctx.path, tails.ports, issues);
  const notPorts = portList(er.notPorts, ctx.path, tails.notPorts, issues);
  const npProto = namedPortProtocol(protocol);
  // Named ports are filtered by the positive selector (also the negated ones: the rule can only
  // match inside the positive selector anyway).
  const npSel = positive ?? (ports.named.length > 0 || notPorts.named.length > 0 ? parseSelector("all()") : undefined);
  if (ports.ranges.length > 0) e.ports = exactArray(ports.ranges);
  if (ports.named.length > 0) e.namedPortSets = ports.named.map((n) => ctx.sets.namedPort(npSel!, n, npProto));
  if (notPorts.ranges.length > 0) e.notPorts = exactArray(notPorts.ranges);
  if (notPorts.named.length > 0) e.notNamedPortSets = notPorts.named.map((n) => ctx.sets.namedPort(npSel!, n, npProto));
  // Felix drops the selector set when named ports alone already carry it.
  if (positive && (ports.ranges.length > 0 || ports.named.length === 0)) e.sets = [ctx.sets.selector(positive)];
  if (negative) e.notSets = [ctx.sets.selector(negative)];

  if (er.services?.name) {
    const ns = er.services.namespace || ctx.namespace;
    if (!ns) {
      issues.push(issue("service-namespace-required", [...ctx.path, ...tails.serviceNamespace], "a services match in a global policy must give the service namespace"));
    } else {
      e.serviceSet = ctx.sets.service(ns, er.services.name, side === "destination");
    }
  }
  return e;
}

/** The match of a side without conditions, shared by every rule that has one (read-only IR data,
 *  frozen so that a consumer changing it fails loudly): one object, not one per rule side. */
const NO_ENTITY: EntityMatch = Object.freeze({}) as EntityMatch;

/**
 * compileEntity is pure given (side, entity rule, namespace, named-port protocol) and the sets it
 * registers are already in this registry after the first call, so identical entity rules (a
 * generated or real cluster repeats the same peers and ports in many policies of a namespace)
 * are compiled once per registry and share one EntityMatch — read-only IR data. Only results
 * without issues are remembered: issues carry the rule's own path.
 */
function memoEntity(side: "source" | "destination", er: EntityRule | undefined, ctx: RuleContext, protocol: number | undefined, issues: Issue[]): EntityMatch {
  if (!er) return NO_ENTITY;
  // `{}` (a Kubernetes rule's side without peers or ports) compiles to no conditions, whatever
  // the namespace: nothing to look up.
  if (isEmptyRecord(er)) return NO_ENTITY;
  // A side that does not read the namespace (ports, nets, a namespaceSelector) compiles alike in
  // every namespace: one table for all, so equal sides of policies in many namespaces compile once.
  const memo = ctx.sets.entityMemo.table(memoSlot(side, namedPortProtocol(protocol)), readsNamespace(er) ? ctx.namespace : "");
  const hit = memo.get(er);
  if (hit) {
    if (hit === NO_ENTITY) return NO_ENTITY;
    ctx.sets.adopt(hit);
    return hit;
  }
  const before = issues.length;
  const e = compileEntity(side, er, ctx, protocol, issues);
  if (issues.length === before) memo.set(er, Object.keys(e).length === 0 ? NO_ENTITY : e);
  return e;
}

/**
 * Whether compiling `er` reads the policy namespace (compileEntity, entityRuleSelectorText): a
 * services match without a namespace defaults to it; otherwise a namespaceSelector replaces it
 * in the selector texts, and without one a selector, notSelector or serviceAccounts field scopes
 * them to it. Any other side (ports, nets, a namespaceSelector) compiles alike in every namespace
 * and globally. Fields are counted by presence, whatever their value: the memo then only loses
 * sharing, never tells two different sides apart wrongly.
 */
function readsNamespace(er: EntityRule): boolean {
  if (er.services?.name && !er.services.namespace) return true;
  if (er.namespaceSelector) return false;
  for (const k in er) if (k === "selector" || k === "notSelector" || k === "serviceAccounts") return true;
  return false;
}

function isEmptyRecord(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/** The entity memo's slot of (side, named-port protocol): 0–3 source, 4–7 destination. */
function memoSlot(side: "source" | "destination", npProto: number): number {
  const p = npProto === PROTO_TCP ? 0 : npProto === PROTO_UDP ? 1 : npProto === PROTO_SCTP ? 2 : 3;
  return (side === "source" ? 0 : 4) + p;
}

function protocolOf(spec: string | number | undefined, rulePath: IssuePath, field: string, issues: Issue[]): number | undefined {
  if (spec === undefined || spec === null) return undefined;
  const n = protocolNumber(spec);
  if (n === undefined) issues.push(issue("invalid-protocol", [...rulePath, field], `protocol ${JSON.stringify(spec)} is not a protocol name (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite) or number 1–255`));
  return n;
}

export function compileRule(rule: Rule, ctx: RuleContext): { rule?: RuleIR; issues: Issue[] } {
  const issues: Issue[] = [];
  if (!rule || typeof rule !== "object" || !ACTIONS.has(rule.action)) {
    issues.push(issue("invalid-action", [...ctx.path, "action"], `action ${JSON.stringify(rule?.action)} must be Allow, Deny, Log or Pass`));
    return { issues };
  }
  let ipVersion: 4 | 6 | undefined;
  if (rule.ipVersion !== undefined) {
    if (rule.ipVersion !== 4 && rule.ipVersion !== 6) issues.push(issue("invalid-ip-version", [...ctx.path, "ipVersion"], "ipVersion must be 4 or 6"));
    else ipVersion = rule.ipVersion;
  }
  const protocol = protocolOf(rule.protocol, ctx.path, "protocol", issues);
  const notProtocol = protocolOf(rule.notProtocol, ctx.path, "notProtocol", issues);
  const icmp = rule.icmp && rule.icmp.type !== undefined ? (rule.icmp.code !== undefined ? { type: rule.icmp.type, code: rule.icmp.code } : { type: rule.icmp.type }) : undefined;
  const notIcmp =
    rule.notICMP && rule.notICMP.type !== undefined ? (rule.notICMP.code !== undefined ? { type: rule.notICMP.type, code: rule.notICMP.code } : { type: rule.notICMP.type }) : undefined;
  if (rule.http) {
    // Felix renders the rule from its other fields; only the L7 path (Envoy) checks HTTP.
    issues.push(issue("http-not-enforced", [...ctx.path, "http"], "the http match is only enforced by Calico's application-layer policy; the kernel rule (and explain) ignore it", "warning"));
  }
  const src = memoEntity("source", rule.source, ctx, protocol, issues);
  const dst = memoEntity("destination", rule.destination, ctx, protocol, issues);
  if (issues.length > 0 && issues.some((i) => i.severity === "error")) return { issues };
  // The usual shapes as complete literals: a property added after a literal goes to a separate
  // backing store, which every kept rule would carry. Key order: src, dst, then the others in
  // this order (the printed IR's).
  let match: RuleMatch;
  if (ipVersion === undefined && notProtocol === undefined && icmp === undefined && notIcmp === undefined) {
    match = protocol === undefined ? { src, dst } : { src, dst, protocol };
  } else {
    match = { src, dst };
    if (ipVersion !== undefined) match.ipVersion = ipVersion;
    if (protocol !== undefined) match.protocol = protocol;
    if (notProtocol !== undefined) match.notProtocol = notProtocol;
    if (icmp !== undefined) match.icmp = icmp;
    if (notIcmp !== undefined) match.notIcmp = notIcmp;
  }
  return { rule: { action: rule.action, match, origin: ctx.origin }, issues };
}
