/**
 * THE rule semantics: how one rule matches a packet, how a rule is split per address family, and
 * how an endpoint's tiers, policies and profiles decide a packet (SEMANTICS §2.4, §3).
 *
 * Everything that decides a verdict from the IR lives here; explain, matrix and the differential
 * tests interpret the IR only through these functions, and the kernel renderers must translate the
 * same IR structurally (never re-deciding). Every corner case is listed where it is implemented.
 *
 * Corner cases, in one place:
 *  - Absent or empty positive lists mean "any"; negative lists mean "none of".
 *  - Fields are AND-ed; entries of one positive list are OR-ed (nets, ports + named ports).
 *  - `sets`: the address must be in EVERY listed selector set; `notSets`: in none.
 *  - Ports: numeric ranges and named-port sets of one side are OR-ed; `notPorts`/`notNamedPortSets`
 *    must all miss. A packet without a port (undefined) fails every positive port match and passes
 *    every negative one (treated as a port no rule names). Kernel rules always see real ports on
 *    TCP/UDP/SCTP, and Calico's validation ties port matches to those protocols.
 *  - Named-port and service sets hold (address, protocol, port); the packet's protocol must equal
 *    the member's protocol.
 *  - ICMP type/code matches imply the family's ICMP protocol (1 for IPv4, 58 for IPv6), as the
 *    kernel's icmp/icmpv6 matches do; `notIcmp` also requires an ICMP packet of the family.
 *  - Family split (`ruleForFamily`): a rule with `ipVersion` of the other family is skipped; without
 *    `ipVersion`, each of nets/notNets (per side) is filtered to the family, and if that empties a
 *    list that had entries, the rule is skipped for the family; a negated catch-all (0.0.0.0/0 or
 *    ::/0 in notNets) skips the rule (felix rules/policy.go FilterRuleToIPVersion).
 *  - `neverMatches` rules never match (kept only so explain can say why).
 *  - Actions: Log never ends processing; Allow/Deny end everything; Pass leaves the tier (to the
 *    next tier, or to the profiles after the last tier).
 *  - End of tier: when no rule of the tier's policies decided, the tier's defaultAction applies
 *    (Deny → drop, Pass → next tier). Only tiers in the program are considered; the engine puts a
 *    tier there only when at least one non-staged policy of it selects the endpoint and governs the
 *    direction, which is exactly "end-of-tier only when a policy in the tier selected the endpoint".
 *  - Profiles run only in normal chains after all tiers passed (or when no tier applied). Profile
 *    Allow/Deny decide; Pass skips the rest of that profile (iptables behaviour); nothing accepted
 *    → drop. So an endpoint with no tiers and no profiles drops (host-endpoint default deny).
 *  - Chain flavours (felix rules/endpoints.go):
 *      normal    tiers (end-of-tier per defaultAction) → profiles → drop.
 *      forward   (host endpoints, applyOnForward policies) tiers with end-of-tier drop; if no tier
 *                applies the packet is allowed ("Allow forwarded traffic by default"); after the
 *                tiers without a decision the chain returns undecided (verdict "none").
 *      preDNAT / untracked  tiers behave as defaultAction Pass; undecided → "none" (later chains
 *                still apply). Untracked Allow also skips conntrack in the kernel.
 *  - Failsafe rules (host endpoints) run before any policy; a match accepts.
 */
import { BugError, type ChunkedMap } from "../model/index.js";
import {
  addrKey,
  cachedCidr,
  cidrContains,
  familyOfCidrText,
  formatCidr,
  isHostCidr,
  parseAddr,
  type Addr,
  type Cidr,
  type Family,
} from "./cidr.js";
import type {
  ClusterIR,
  Direction,
  DirectionProgram,
  EntityMatch,
  IcmpMatch,
  Packet,
  PolicyIR,
  PolicyKey,
  PortRange,
  RuleAction,
  RuleIR,
  RuleMatch,
  RuleOrigin,
  SetDef,
  SetId,
  TierProgram,
} from "./ir.js";
import { comparePolicies, compareTiers } from "./order.js";
import { icmpProtocolFor, protocolName } from "./protocol.js";

// ------------------------------------------------------------------------------------ sets

/** Membership queries over the IR's sets. Unknown set ids are a bug in the producer of the IR. */
export interface SetLookup {
  /** Address in a selector set (CIDR containment) or in a service set's addresses. */
  hasAddr(id: SetId, addr: Addr): boolean;
  /** (address, protocol, port) in a named-port set or a service set with ports. */
  hasAddrPort(id: SetId, addr: Addr, protocol: number, port: number): boolean;
  /** The definition, for trace text. */
  def(id: SetId): SetDef | undefined;
}

interface IndexedSet {
  def: SetDef;
  hosts: Set<string>;
  nets: Cidr[];
  ports: Set<string>;
}

/** Builds a SetLookup over `sets`. Each set is indexed on first use, so building is O(1) and an
 *  explain touching few sets pays only for those. */
export function indexSets(sets: ChunkedMap<SetDef>, opts: { eager?: boolean } = {}): SetLookup {
  const cache = new Map<SetId, IndexedSet>();
  const get = (id: SetId): IndexedSet => {
    let s = cache.get(id);
    if (s) return s;
    const def = sets.get(id);
    if (!def) throw new BugError(`rule references set ${id} which is not in the IR`);
    s = { def, hosts: new Set(), nets: [], ports: new Set() };
    if (def.kind === "selector") {
      for (const m of def.members) {
        const c = cachedCidr(m);
        if (!c) throw new BugError(`set ${id} has invalid member ${m}`);
        if (isHostCidr(c)) s.hosts.add(addrKey({ family: c.family, value: c.base }));
        else s.nets.push(c);
      }
    } else {
      for (const m of def.members) {
        const a = parseAddr(m.addr);
        if (!a) throw new BugError(`set ${id} has invalid member address ${m.addr}`);
        s.hosts.add(addrKey(a));
        s.ports.add(`${addrKey(a)}|${m.protocol}|${m.port}`);
      }
    }
    cache.set(id, s);
    return s;
  };
  if (opts.eager) for (const id of sets.keys()) get(id);
  return {
    hasAddr(id, addr) {
      const s = get(id);
      if (s.hosts.has(addrKey(addr))) return true;
      for (const c of s.nets) if (cidrContains(c, addr)) return true;
      return false;
    },
    hasAddrPort(id, addr, protocol, port) {
      return get(id).ports.has(`${addrKey(addr)}|${protocol}|${port}`);
    },
    def(id) {
      return sets.get(id);
    },
  };
}

// ------------------------------------------------------------------------------------ packets

interface PreparedPacket {
  packet: Packet;
  src: Addr;
  dst: Addr;
}

const prepared = new WeakMap<Packet, PreparedPacket>();

function prepare(packet: Packet): PreparedPacket {
  let p = prepared.get(packet);
  if (p) return p;
  const src = parseAddr(packet.srcIP);
  const dst = parseAddr(packet.dstIP);
  if (!src || !dst) throw new BugError(`packet has invalid address ${packet.srcIP} → ${packet.dstIP}`);
  if (src.family !== packet.family || dst.family !== packet.family) {
    throw new BugError(`packet family ${packet.family} does not match ${packet.srcIP} → ${packet.dstIP}`);
  }
  p = { packet, src, dst };
  prepared.set(packet, p);
  return p;
}

// ------------------------------------------------------------------------------------ family split

export const NEGATED_CATCH_ALL = { 4: "0.0.0.0/0", 6: "::/0" } as const;

/** Why a rule does not exist in one family (undefined = it exists). */
export function familySkipReason(match: RuleMatch, family: Family): string | undefined {
  if (match.ipVersion !== undefined && match.ipVersion !== family) return `rule is IPv${match.ipVersion} only`;
  const lists: Array<[string, string[] | undefined, boolean]> = [
    ["source.nets", match.src.nets, false],
    ["source.notNets", match.src.notNets, true],
    ["destination.nets", match.dst.nets, false],
    ["destination.notNets", match.dst.notNets, true],
  ];
  for (const [field, list, negated] of lists) {
    if (!list || list.length === 0) continue;
    const kept = list.filter((c) => familyOfCidrText(c) === family);
    if (kept.length === 0) return `${field} has no IPv${family} entries`;
    if (negated && kept.some((c) => isCatchAll(c, family))) return `${field} holds the catch-all ${NEGATED_CATCH_ALL[family]}`;
  }
  return undefined;
}

function isCatchAll(cidr: string, family: Family): boolean {
  const c = cachedCidr(cidr);
  return c !== undefined && c.family === family && c.prefix === 0;
}

const familyCache: Record<Family, WeakMap<RuleMatch, RuleMatch | null>> = { 4: new WeakMap(), 6: new WeakMap() };

/**
 * Calico's per-family form of a rule: the rule as rendered into the `family` table, or null when
 * the rule is not rendered there (see the corner cases at the top). Entities keep only CIDRs of
 * the family; sets are untouched (their members are split by family by the renderer, and a set
 * with no members of the family simply matches nothing).
 */
export function ruleForFamily(match: RuleMatch, family: Family): RuleMatch | null {
  const cached = familyCache[family].get(match);
  if (cached !== undefined) return cached;
  let out: RuleMatch | null;
  if (familySkipReason(match, family) !== undefined) out = null;
  else {
    const filt = (l?: string[]) => (l && l.length > 0 ? l.filter((c) => familyOfCidrText(c) === family) : l);
    const side = (e: EntityMatch): EntityMatch => {
      const r: EntityMatch = { ...e };
      if (e.nets) r.nets = filt(e.nets);
      if (e.notNets) r.notNets = filt(e.notNets);
      return r;
    };
    out = { ...match, src: side(match.src), dst: side(match.dst) };
  }
  familyCache[family].set(match, out);
  return out;
}

// ------------------------------------------------------------------------------------ one rule

/** User-facing name of a match field (Calico's YAML spelling). */
export type MatchField =
  | "neverMatches"
  | "ipVersion"
  | "protocol"
  | "notProtocol"
  | "icmp"
  | "notICMP"
  | `${"source" | "destination"}.${"nets" | "notNets" | "selector" | "notSelector" | "ports" | "notPorts" | "services"}`;

export interface MatchResult {
  matched: boolean;
  /** When not matched: the first field (in evaluation order) that failed. */
  field?: MatchField;
  /** When not matched and explanation requested: why, in words. */
  reason?: string;
  /** When matched: the constrained fields that held (empty = the rule matches everything). */
  fields?: MatchField[];
}

const NO_MATCH_FAST: MatchResult = { matched: false };

/**
 * Matches one (family-split) rule against a packet. The rule must come from `ruleForFamily` for
 * the packet's family (evaluateDirection does that); matching an unsplit rule whose notNets hold
 * only other-family CIDRs would wrongly succeed.
 *
 * `explain = false` skips building reasons (matrix hot path).
 */
export function matchRule(rule: RuleIR | { match: RuleMatch; neverMatches?: string }, packet: Packet, sets: SetLookup, explain = true): MatchResult {
  if (rule.neverMatches) return explain ? { matched: false, field: "neverMatches", reason: rule.neverMatches } : NO_MATCH_FAST;
  const m = rule.match;
  const pp = prepare(packet);
  const fields: MatchField[] | undefined = explain ? [] : undefined;
  const c = matchCommon(m, packet, fields, explain);
  if (c) return c;
  const s = matchEntity("source", m.src, pp.src, packet.protocol, packet.srcPort, sets, fields, explain);
  if (s) return s;
  const d = matchEntity("destination", m.dst, pp.dst, packet.protocol, packet.dstPort, sets, fields, explain);
  if (d) return d;
  return explain ? { matched: true, fields } : { matched: true };
}

/**
 * The packet-wide part of a rule (ipVersion, protocol, notProtocol, icmp, notICMP). A rule matches
 * iff this part, the source side and the destination side all match; matchRule is exactly that
 * conjunction, and callers that cache the parts (the matrix) use these same functions.
 */
export function matchCommonPart(m: RuleMatch, packet: Packet): boolean {
  return matchCommon(m, packet, undefined, false) === undefined;
}

/** One side of a rule against one address (and that side's port of the packet). */
export function matchSidePart(side: "src" | "dst", e: EntityMatch, addr: Addr, protocol: number, port: number | undefined, sets: SetLookup): boolean {
  return matchEntity(side === "src" ? "source" : "destination", e, addr, protocol, port, sets, undefined, false) === undefined;
}

/** Decides whether a family-split rule matches; see EvaluateOptions.matcher. */
export type RuleMatcher = (familyMatch: RuleMatch, rule: RuleIR) => boolean;

function matchCommon(m: RuleMatch, packet: Packet, fields: MatchField[] | undefined, explain: boolean): MatchResult | undefined {
  const fail = (field: MatchField, reason: () => string): MatchResult =>
    explain ? { matched: false, field, reason: reason() } : NO_MATCH_FAST;

  if (m.ipVersion !== undefined) {
    if (m.ipVersion !== packet.family) return fail("ipVersion", () => `packet is IPv${packet.family}, rule is IPv${m.ipVersion}`);
    fields?.push("ipVersion");
  }
  if (m.protocol !== undefined) {
    if (packet.protocol !== m.protocol) return fail("protocol", () => `packet protocol ${protocolName(packet.protocol)} ≠ ${protocolName(m.protocol!)}`);
    fields?.push("protocol");
  }
  if (m.notProtocol !== undefined) {
    if (packet.protocol === m.notProtocol) return fail("notProtocol", () => `packet protocol is ${protocolName(m.notProtocol!)}`);
    fields?.push("notProtocol");
  }
  if (m.icmp) {
    if (!icmpMatches(m.icmp, packet)) return fail("icmp", () => `packet ${describeIcmp(packet)} ≠ ${describeIcmpMatch(m.icmp!)}`);
    fields?.push("icmp");
  }
  if (m.notIcmp) {
    const isIcmp = packet.protocol === icmpProtocolFor(packet.family) && packet.icmpType !== undefined;
    if (!isIcmp) return fail("notICMP", () => `notICMP only matches ICMP packets of the family; packet is ${protocolName(packet.protocol)}`);
    if (icmpMatches(m.notIcmp, packet)) return fail("notICMP", () => `packet ${describeIcmp(packet)} is excluded by notICMP ${describeIcmpMatch(m.notIcmp!)}`);
    fields?.push("notICMP");
  }
  return undefined;
}

function icmpMatches(icmp: IcmpMatch, packet: Packet): boolean {
  if (packet.protocol !== icmpProtocolFor(packet.family)) return false;
  if (packet.icmpType !== icmp.type) return false;
  if (icmp.code !== undefined && packet.icmpCode !== icmp.code) return false;
  return true;
}

function describeIcmp(p: Packet): string {
  if (p.protocol !== icmpProtocolFor(p.family)) return `protocol ${protocolName(p.protocol)}`;
  return `type ${p.icmpType ?? "?"} code ${p.icmpCode ?? "?"}`;
}

function describeIcmpMatch(i: IcmpMatch): string {
  return i.code === undefined ? `type ${i.type}` : `type ${i.type} code ${i.code}`;
}

/** Whether `port` lies in one of the inclusive ranges (a side's ports / notPorts). */
export function inRanges(port: number, ranges: PortRange[]): boolean {
  for (const r of ranges) if (port >= r.first && port <= r.last) return true;
  return false;
}

function describeRanges(ranges: PortRange[] | undefined, named: SetId[] | undefined, sets: SetLookup): string {
  const parts = (ranges ?? []).map((r) => (r.first === r.last ? `${r.first}` : `${r.first}:${r.last}`));
  for (const id of named ?? []) {
    const d = sets.def(id);
    parts.push(d && d.kind === "named-port" ? `named port "${d.portName}"` : id);
  }
  return `[${parts.join(", ")}]`;
}

function describeSet(id: SetId, sets: SetLookup): string {
  const d = sets.def(id);
  if (!d) return id;
  if (d.kind === "selector") return `selector ${d.selector}`;
  if (d.kind === "service") return `service ${d.service.namespace}/${d.service.name}`;
  return `named port ${d.portName}`;
}

function matchEntity(
  side: "source" | "destination",
  e: EntityMatch,
  addr: Addr,
  protocol: number,
  port: number | undefined,
  sets: SetLookup,
  fields: MatchField[] | undefined,
  explain: boolean,
): MatchResult | undefined {
  const fail = (field: MatchField, reason: () => string): MatchResult =>
    explain ? { matched: false, field, reason: reason() } : NO_MATCH_FAST;
  const a = () => (side === "source" ? "source" : "destination");

  if (e.nets && e.nets.length > 0) {
    let ok = false;
    for (const n of e.nets) {
      const c = cachedCidr(n);
      if (c && cidrContains(c, addr)) {
        ok = true;
        break;
      }
    }
    if (!ok) return fail(`${side}.nets`, () => `${a()} address is in none of ${e.nets!.join(", ")}`);
    fields?.push(`${side}.nets`);
  }
  if (e.notNets && e.notNets.length > 0) {
    for (const n of e.notNets) {
      const c = cachedCidr(n);
      if (c && cidrContains(c, addr)) return fail(`${side}.notNets`, () => `${a()} address is in ${formatCidr(c)}`);
    }
    fields?.push(`${side}.notNets`);
  }
  if (e.sets && e.sets.length > 0) {
    for (const id of e.sets) {
      if (!sets.hasAddr(id, addr)) return fail(`${side}.selector`, () => `${a()} address is not matched by ${describeSet(id, sets)}`);
    }
    fields?.push(`${side}.selector`);
  }
  if (e.notSets && e.notSets.length > 0) {
    for (const id of e.notSets) {
      if (sets.hasAddr(id, addr)) return fail(`${side}.notSelector`, () => `${a()} address is matched by ${describeSet(id, sets)}`);
    }
    fields?.push(`${side}.notSelector`);
  }
  const hasPos = (e.ports && e.ports.length > 0) || (e.namedPortSets && e.namedPortSets.length > 0);
  if (hasPos) {
    let ok = false;
    if (port !== undefined) {
      if (e.ports && inRanges(port, e.ports)) ok = true;
      if (!ok && e.namedPortSets) {
        for (const id of e.namedPortSets) {
          if (sets.hasAddrPort(id, addr, protocol, port)) {
            ok = true;
            break;
          }
        }
      }
    }
    if (!ok) {
      return fail(`${side}.ports`, () =>
        port === undefined
          ? `packet has no ${side} port`
          : `${side} port ${port} is not in ${describeRanges(e.ports, e.namedPortSets, sets)}`,
      );
    }
    fields?.push(`${side}.ports`);
  }
  const hasNeg = (e.notPorts && e.notPorts.length > 0) || (e.notNamedPortSets && e.notNamedPortSets.length > 0);
  if (hasNeg) {
    if (port !== undefined) {
      if (e.notPorts && inRanges(port, e.notPorts)) return fail(`${side}.notPorts`, () => `${side} port ${port} is in ${describeRanges(e.notPorts, undefined, sets)}`);
      for (const id of e.notNamedPortSets ?? []) {
        if (sets.hasAddrPort(id, addr, protocol, port)) return fail(`${side}.notPorts`, () => `${side} port ${port} is ${describeSet(id, sets)}`);
      }
    }
    fields?.push(`${side}.notPorts`);
  }
  if (e.serviceSet) {
    const def = sets.def(e.serviceSet);
    const withPorts = def?.kind === "service" ? def.withPorts : def?.kind === "named-port";
    const ok = withPorts
      ? port !== undefined && sets.hasAddrPort(e.serviceSet, addr, protocol, port)
      : sets.hasAddr(e.serviceSet, addr);
    if (!ok) return fail(`${side}.services`, () => `${a()} ${withPorts ? "address/port" : "address"} is not an endpoint of ${describeSet(e.serviceSet!, sets)}`);
    fields?.push(`${side}.services`);
  }
  return undefined;
}

// ------------------------------------------------------------------------------------ direction

export type ChainFlavour = "normal" | "forward" | "preDNAT" | "untracked";

export interface EvaluateOptions {
  /** Which policy rule list to run; defaults to program.direction. */
  direction?: Direction;
  chain?: ChainFlavour;
  /** Host-endpoint failsafe rules to run first (a match accepts). */
  failsafe?: RuleIR[];
  /** Evaluate the staged what-if view (see stagedView) instead of the enforced program. */
  staged?: boolean;
  /** Record steps (default true). */
  trace?: boolean;
  /**
   * Untraced runs only: decides rule matches instead of matchRule. It must be equivalent to
   * matchRule (e.g. matchCommonPart ∧ matchSidePart(src) ∧ matchSidePart(dst) with caching, as the
   * matrix does); never called for neverMatches rules.
   */
  matcher?: RuleMatcher;
}

export type Verdict = "allow" | "deny";

export type TraceStep =
  | {
      kind: "rule";
      tier: string;
      policy: PolicyKey;
      index: number;
      action: RuleAction;
      matched: boolean;
      /** Matched: the fields that held. Not matched: the first failing field. */
      fields?: MatchField[];
      field?: MatchField;
      reason?: string;
      /** What the match did: allow, deny, log (continue), pass (leave tier), or nothing. */
      effect: "allow" | "deny" | "log" | "pass" | "no-match";
      staged?: boolean;
    }
  | { kind: "rule-skipped"; tier: string; policy: PolicyKey; index: number; action: RuleAction; reason: string }
  | { kind: "policy-no-match"; tier: string; policy: PolicyKey; rules: number; staged?: boolean }
  | { kind: "end-of-tier"; tier: string; defaultAction: "Deny" | "Pass"; effect: "deny" | "pass" }
  | { kind: "failsafe"; origin: RuleOrigin; matched: true }
  | { kind: "no-tiers"; chain: ChainFlavour }
  | { kind: "end-of-profiles"; profiles: PolicyKey[]; effect: "deny" }
  | { kind: "forward-default"; effect: "allow" }
  | { kind: "fall-through"; chain: ChainFlavour };

export type Decision =
  | { kind: "rule"; origin: RuleOrigin; action: "Allow" | "Deny" }
  | { kind: "failsafe"; origin: RuleOrigin }
  | { kind: "end-of-tier"; tier: string }
  | { kind: "no-profile-accepted" }
  | { kind: "forward-default" }
  | { kind: "undecided" };

export interface DirectionResult {
  /** "none" only for non-normal chains that ended without a decision. */
  verdict: Verdict | "none";
  decidedBy: Decision;
  steps: TraceStep[];
}

function policyRules(p: PolicyIR | { ingress: RuleIR[]; egress: RuleIR[] }, dir: Direction): RuleIR[] {
  return dir === "ingress" ? p.ingress : p.egress;
}

/**
 * Runs one endpoint's program for one direction (SEMANTICS §2.4). Conntrack is out of scope: the
 * packet is treated as the first packet of a new connection.
 */
export function evaluateDirection(
  program: DirectionProgram,
  ir: ClusterIR,
  packet: Packet,
  sets: SetLookup,
  opts: EvaluateOptions = {},
): DirectionResult {
  const dir = opts.direction ?? program.direction;
  if (!dir) throw new BugError("evaluateDirection needs a direction (program.direction or opts.direction)");
  const chain = opts.chain ?? "normal";
  const trace = opts.trace !== false;
  const steps: TraceStep[] = [];
  const family = packet.family;

  for (const fs of opts.failsafe ?? []) {
    const m = ruleForFamily(fs.match, family);
    if (!m) continue;
    if (matchRule({ match: m, neverMatches: fs.neverMatches }, packet, sets, false).matched) {
      if (trace) steps.push({ kind: "failsafe", origin: fs.origin, matched: true });
      return { verdict: "allow", decidedBy: { kind: "failsafe", origin: fs.origin }, steps };
    }
  }

  const tiers = opts.staged ? stagedView(program, ir, dir).tiers : program.tiers;
  if (tiers.length === 0 && trace) steps.push({ kind: "no-tiers", chain });
  const passTiers = chain === "preDNAT" || chain === "untracked";

  for (const tier of tiers) {
    let passed = false;
    for (const key of tier.policies) {
      const pol = ir.policies.get(key);
      if (!pol) throw new BugError(`program references policy ${key} which is not in the IR`);
      const r = runRules(policyRules(pol, dir), packet, sets, family, trace, steps, tier.tier, key, pol.staged, opts.matcher);
      if (typeof r === "object") return decided(r, steps);
      if (r === "pass") {
        passed = true;
        break;
      }
      if (trace) steps.push({ kind: "policy-no-match", tier: tier.tier, policy: key, rules: policyRules(pol, dir).length, staged: pol.staged || undefined });
    }
    if (passed) continue;
    const defaultAction = passTiers ? "Pass" : tier.defaultAction;
    if (defaultAction === "Deny") {
      if (trace) steps.push({ kind: "end-of-tier", tier: tier.tier, defaultAction, effect: "deny" });
      return { verdict: "deny", decidedBy: { kind: "end-of-tier", tier: tier.tier }, steps };
    }
    if (trace) steps.push({ kind: "end-of-tier", tier: tier.tier, defaultAction, effect: "pass" });
  }

  if (chain === "forward") {
    if (tiers.length === 0) {
      if (trace) steps.push({ kind: "forward-default", effect: "allow" });
      return { verdict: "allow", decidedBy: { kind: "forward-default" }, steps };
    }
    if (trace) steps.push({ kind: "fall-through", chain });
    return { verdict: "none", decidedBy: { kind: "undecided" }, steps };
  }
  if (passTiers) {
    if (trace) steps.push({ kind: "fall-through", chain });
    return { verdict: "none", decidedBy: { kind: "undecided" }, steps };
  }

  for (const key of program.profiles) {
    const prof = ir.profiles[key];
    // A profile named by an endpoint but absent from the datastore contributes nothing (felix
    // renders a jump to an empty chain).
    if (!prof) continue;
    const r = runRules(policyRules(prof, dir), packet, sets, family, trace, steps, "", key, false, opts.matcher);
    if (typeof r === "object") return decided(r, steps);
    // "pass" in a profile: skip the rest of this profile and go on to the next one.
  }
  if (trace) steps.push({ kind: "end-of-profiles", profiles: program.profiles, effect: "deny" });
  return { verdict: "deny", decidedBy: { kind: "no-profile-accepted" }, steps };
}

function decided(rule: RuleIR, steps: TraceStep[]): DirectionResult {
  const action = rule.action === "Allow" ? "Allow" : "Deny";
  return { verdict: action === "Allow" ? "allow" : "deny", decidedBy: { kind: "rule", origin: rule.origin, action }, steps };
}

/** Runs a rule list: the rule that allowed/denied, "pass", or "none" when nothing decided. */
function runRules(
  rules: RuleIR[],
  packet: Packet,
  sets: SetLookup,
  family: Family,
  trace: boolean,
  steps: TraceStep[],
  tier: string,
  policy: PolicyKey,
  staged: boolean,
  matcher: RuleMatcher | undefined,
): RuleIR | "pass" | "none" {
  for (const rule of rules) {
    const fm = ruleForFamily(rule.match, family);
    if (!fm) {
      if (trace) {
        steps.push({ kind: "rule-skipped", tier, policy, index: rule.origin.index, action: rule.action, reason: familySkipReason(rule.match, family) ?? "not rendered for this family" });
      }
      continue;
    }
    if (!trace && matcher) {
      if (rule.neverMatches || !matcher(fm, rule)) continue;
      if (rule.action === "Log") continue;
      if (rule.action === "Pass") return "pass";
      return rule;
    }
    const res = matchRule({ match: fm, neverMatches: rule.neverMatches }, packet, sets, trace);
    if (!res.matched) {
      if (trace) steps.push({ kind: "rule", tier, policy, index: rule.origin.index, action: rule.action, matched: false, field: res.field, reason: res.reason, effect: "no-match", staged: staged || undefined });
      continue;
    }
    const effect = rule.action === "Allow" ? "allow" : rule.action === "Deny" ? "deny" : rule.action === "Log" ? "log" : "pass";
    if (trace) steps.push({ kind: "rule", tier, policy, index: rule.origin.index, action: rule.action, matched: true, fields: res.fields, effect, staged: staged || undefined });
    if (effect === "log") continue;
    if (effect === "pass") return "pass";
    return rule;
  }
  return "none";
}

// ------------------------------------------------------------------------------------ failsafe

/** Failsafe rules for one host-endpoint direction: inbound for ingress, outbound for egress. */
export function failsafeFor(ir: ClusterIR, dir: Direction): RuleIR[] {
  if (!ir.failsafe) return [];
  return dir === "ingress" ? ir.failsafe.inbound : ir.failsafe.outbound;
}

// ------------------------------------------------------------------------------------ staged

const stagedIndexCache = new WeakMap<ClusterIR, { removed: Set<PolicyKey> }>();

function stagedIndex(ir: ClusterIR): { removed: Set<PolicyKey> } {
  let idx = stagedIndexCache.get(ir);
  if (idx) return idx;
  const removed = new Set<PolicyKey>();
  for (const p of ir.policies.values()) {
    if (!p.staged || !p.stagedTarget) continue;
    const a = p.stagedAction ?? "Set";
    if (a === "Set" || a === "Learn" || a === "Delete") removed.add(p.stagedTarget);
  }
  idx = { removed };
  stagedIndexCache.set(ir, idx);
  return idx;
}

/**
 * The program as it would be if every staged policy were enforced (Calico flow logs call the
 * result "pending"): a staged Set/Learn policy replaces the enforced policy of the same name (or
 * is added), a staged Delete removes it, Ignore changes nothing. Tiers are re-merged and re-sorted
 * with the same comparators as the engine; a tier whose policies all disappear no longer applies.
 */
const stagedViewCache = new WeakMap<ClusterIR, WeakMap<DirectionProgram, Partial<Record<Direction, DirectionProgram>>>>();

export function stagedView(program: DirectionProgram, ir: ClusterIR, dir: Direction): DirectionProgram {
  let byProgram = stagedViewCache.get(ir);
  if (!byProgram) stagedViewCache.set(ir, (byProgram = new WeakMap()));
  let entry = byProgram.get(program);
  if (!entry) byProgram.set(program, (entry = {}));
  return (entry[dir] ??= computeStagedView(program, ir, dir));
}

function computeStagedView(program: DirectionProgram, ir: ClusterIR, dir: Direction): DirectionProgram {
  const { removed } = stagedIndex(ir);
  const byTier = new Map<string, { defaultAction: "Deny" | "Pass"; policies: PolicyKey[] }>();
  const add = (t: TierProgram, keys: PolicyKey[]) => {
    let e = byTier.get(t.tier);
    if (!e) byTier.set(t.tier, (e = { defaultAction: t.defaultAction, policies: [] }));
    e.policies.push(...keys);
  };
  for (const t of program.tiers) add(t, t.policies.filter((k) => !removed.has(k)));
  for (const t of program.stagedTiers) {
    add(
      t,
      t.policies.filter((k) => {
        const a = ir.policies.get(k)?.stagedAction ?? "Set";
        return a === "Set" || a === "Learn";
      }),
    );
  }
  const tierOrder = new Map(ir.tiers.map((t, i) => [t.name, i]));
  const tierIR = new Map(ir.tiers.map((t) => [t.name, t]));
  const tiers: TierProgram[] = [...byTier.entries()]
    .filter(([, e]) => e.policies.length > 0)
    .sort(([a], [b]) => {
      const ta = tierIR.get(a);
      const tb = tierIR.get(b);
      if (ta && tb) return compareTiers(ta, tb);
      return (tierOrder.get(a) ?? Infinity) - (tierOrder.get(b) ?? Infinity);
    })
    .map(([tier, e]) => ({
      tier,
      defaultAction: e.defaultAction,
      policies: [...new Set(e.policies)].sort((x, y) => comparePolicies(asEnforced(ir.policies.get(x)!), asEnforced(ir.policies.get(y)!))),
    }));
  return { direction: dir, tiers, stagedTiers: [], profiles: program.profiles };
}

const ENFORCED_KIND: Record<string, string> = {
  StagedNetworkPolicy: "NetworkPolicy",
  StagedGlobalNetworkPolicy: "GlobalNetworkPolicy",
  StagedKubernetesNetworkPolicy: "KubernetesNetworkPolicy",
};

/** A staged policy sorts, once enforced, under its enforced kind. */
function asEnforced(p: PolicyIR): PolicyIR {
  return p.staged && ENFORCED_KIND[p.kind] ? { ...p, kind: ENFORCED_KIND[p.kind]! } : p;
}

/** True when the endpoint program has staged policies, or enforced ones a staged policy targets. */
export function stagedAffects(program: DirectionProgram, ir: ClusterIR): boolean {
  if (program.stagedTiers.some((t) => t.policies.length > 0)) return true;
  const { removed } = stagedIndex(ir);
  if (removed.size === 0) return false;
  return program.tiers.some((t) => t.policies.some((k) => removed.has(k)));
}
