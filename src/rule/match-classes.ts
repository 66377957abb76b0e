/**
 * The rule semantics of match.ts evaluated for many peers at once: one endpoint program against
 * every address of an `AddressSpace`, each set of addresses a bitset. The matrix uses it to run
 * each destination's ingress program once against all sources (and each source's egress once
 * against all destinations) instead of once per pair.
 *
 * This is a second interpreter of the same semantics, so it stays beside match.ts and is tested
 * against it (match-classes.test.ts: for random IR, programs and packets, the bit of every peer
 * equals evaluateDirection on the packet between the two addresses). It reuses match.ts for
 * everything that does not depend on the peer address: ruleForFamily, matchCommonPart (the
 * packet-wide fields), stagedView, and the own side via the same per-side bitsets. Only
 * matchEntity's address-dependent fields (nets, notNets, sets, notSets, named ports, services)
 * are re-expressed as set algebra; the order and the AND/OR structure follow matchEntity exactly.
 *
 * Program walk as set algebra (compare evaluateDirection / runRules):
 *   undecided = every peer. A failsafe match allows. Per tier, `active` = undecided; each rule's
 *   match set ∩ active: Allow/Deny decide it (leave active and undecided), Pass leaves active
 *   only (on to the next tier), Log does nothing. What is still active at the end of the tier
 *   meets the tier's default (Deny decides; Pass stays undecided). Then per chain flavour:
 *   forward / preDNAT / untracked leave the rest "none" (forward with no tiers allows), normal
 *   runs profiles the same way (Pass = skip the rest of that profile) and denies what is left.
 */
import { BugError } from "../model/index.js";
import { addrKey, cachedCidr, cidrContains, isHostCidr, parseAddr, type Addr } from "./cidr.js";
import type { ClusterIR, Direction, DirectionProgram, EntityMatch, Packet, PolicyIR, RuleIR, RuleMatch, SetDef, SetId } from "./ir.js";
import { inRanges, matchCommonPart, ruleForFamily, stagedView, type ChainFlavour } from "./match.js";

// ------------------------------------------------------------------------------------ bitsets

/** A set of address indexes, 32 per word. Bits past `n` are always zero. */
export type Bits = Uint32Array;

export function bitsTest(b: Bits, i: number): boolean {
  return (b[i >>> 5]! & (1 << (i & 31))) !== 0;
}

function bitsSet(b: Bits, i: number): void {
  b[i >>> 5]! |= 1 << (i & 31);
}

function isEmpty(b: Bits): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function andInto(dst: Bits, b: Bits): void {
  for (let i = 0; i < dst.length; i++) dst[i]! &= b[i]!;
}

function andNotInto(dst: Bits, b: Bits): void {
  for (let i = 0; i < dst.length; i++) dst[i]! &= ~b[i]!;
}

function orInto(dst: Bits, b: Bits): void {
  for (let i = 0; i < dst.length; i++) dst[i]! |= b[i]!;
}

// ------------------------------------------------------------------------------------ address space

/**
 * The peers: a list of addresses (one family), and the membership of each of them in the IR's
 * sets and in CIDRs, as bitsets over their indexes. Memberships are computed on first use, by
 * walking a set's members once (not by asking every address), and cached.
 */
export class AddressSpace {
  readonly n: number;
  readonly words: number;
  private readonly full: Bits;
  private readonly none: Bits;
  private readonly byKey = new Map<string, number[]>();
  private readonly setCache = new Map<SetId, Bits>();
  private readonly portCache = new Map<string, Bits>();
  private readonly netCache = new Map<string, Bits>();

  constructor(
    readonly addrs: readonly Addr[],
    private readonly sets: Record<SetId, SetDef>,
  ) {
    this.n = addrs.length;
    this.words = Math.max(1, Math.ceil(this.n / 32));
    this.none = new Uint32Array(this.words);
    this.full = new Uint32Array(this.words);
    for (let i = 0; i < this.n; i++) bitsSet(this.full, i);
    addrs.forEach((a, i) => {
      const k = addrKey(a);
      const l = this.byKey.get(k);
      if (l) l.push(i);
      else this.byKey.set(k, [i]);
    });
  }

  /** Every address. Shared: callers copy before changing. */
  all(): Bits {
    return this.full;
  }

  empty(): Bits {
    return this.none;
  }

  /** A fresh copy of `b` (or an empty set). */
  copy(b?: Bits): Bits {
    return b ? b.slice() : new Uint32Array(this.words);
  }

  private def(id: SetId): SetDef {
    const d = this.sets[id];
    if (!d) throw new BugError(`rule references set ${id} which is not in the IR`);
    return d;
  }

  private markKey(b: Bits, k: string): void {
    for (const i of this.byKey.get(k) ?? []) bitsSet(b, i);
  }

  /** SetLookup.hasAddr for every address. */
  setBits(id: SetId): Bits {
    let b = this.setCache.get(id);
    if (b) return b;
    const def = this.def(id);
    b = new Uint32Array(this.words);
    if (def.kind === "selector") {
      for (const m of def.members) {
        const c = cachedCidr(m);
        if (!c) throw new BugError(`set ${id} has invalid member ${m}`);
        if (isHostCidr(c)) this.markKey(b, addrKey({ family: c.family, value: c.base }));
        else for (let i = 0; i < this.n; i++) if (cidrContains(c, this.addrs[i]!)) bitsSet(b, i);
      }
    } else {
      for (const m of def.members) {
        const a = parseAddr(m.addr);
        if (!a) throw new BugError(`set ${id} has invalid member address ${m.addr}`);
        this.markKey(b, addrKey(a));
      }
    }
    this.setCache.set(id, b);
    return b;
  }

  /** SetLookup.hasAddrPort(id, address, protocol, port) for every address. */
  setPortBits(id: SetId, protocol: number, port: number): Bits {
    const ck = `${id}|${protocol}|${port}`;
    let b = this.portCache.get(ck);
    if (b) return b;
    const def = this.def(id);
    b = new Uint32Array(this.words);
    if (def.kind !== "selector") {
      for (const m of def.members) {
        const a = parseAddr(m.addr);
        if (!a) throw new BugError(`set ${id} has invalid member address ${m.addr}`);
        if (m.protocol === protocol && m.port === port) this.markKey(b, addrKey(a));
      }
    }
    this.portCache.set(ck, b);
    return b;
  }

  /** The addresses a rule CIDR contains (an unparsable CIDR contains none, as in matchEntity). */
  netBits(cidr: string): Bits {
    let b = this.netCache.get(cidr);
    if (b) return b;
    b = new Uint32Array(this.words);
    const c = cachedCidr(cidr);
    if (c) for (let i = 0; i < this.n; i++) if (cidrContains(c, this.addrs[i]!)) bitsSet(b, i);
    this.netCache.set(cidr, b);
    return b;
  }
}

// ------------------------------------------------------------------------------------ evaluator

/** The packet fields shared by every pair (everything but the addresses). */
export type ClassPacket = Omit<Packet, "srcIP" | "dstIP">;

export interface ClassEvaluateOptions {
  direction?: Direction;
  chain?: ChainFlavour;
  failsafe?: RuleIR[];
  staged?: boolean;
  /** Which side of the packet the program's own endpoint is: default dst for ingress, src for
   *  egress. The peers fill the other side. */
  ownSide?: "src" | "dst";
}

/** Per peer: allow, deny, or neither ("none", possible only in non-normal chains). */
export interface ClassDirectionResult {
  allow: Bits;
  deny: Bits;
}

function policyRules(p: PolicyIR | { ingress: RuleIR[]; egress: RuleIR[] }, dir: Direction): RuleIR[] {
  return dir === "ingress" ? p.ingress : p.egress;
}

/**
 * Evaluates endpoint programs for one packet shape over an AddressSpace. The own address of a
 * program is given as an index into the same space. Caches (per rule side, per packet-wide part)
 * live as long as the evaluator, so one evaluator per matrix query.
 */
export class ClassEvaluator {
  private readonly packet: Packet;
  private readonly common = new WeakMap<RuleMatch, boolean>();
  private readonly sides = { src: new WeakMap<EntityMatch, Bits>(), dst: new WeakMap<EntityMatch, Bits>() };

  constructor(
    private readonly ir: ClusterIR,
    readonly space: AddressSpace,
    packet: ClassPacket,
  ) {
    // matchCommonPart reads only the packet-wide fields; the addresses are placeholders.
    const ip = packet.family === 4 ? "0.0.0.0" : "::";
    this.packet = { ...packet, srcIP: ip, dstIP: ip };
  }

  /** matchSidePart(side, e, address, protocol, port) for every address of the space (shared). */
  sideBits(side: "src" | "dst", e: EntityMatch): Bits {
    const cache = this.sides[side];
    let b = cache.get(e);
    if (!b) cache.set(e, (b = this.computeSide(side, e)));
    return b;
  }

  private computeSide(side: "src" | "dst", e: EntityMatch): Bits {
    const sp = this.space;
    const protocol = this.packet.protocol;
    const port = side === "src" ? this.packet.srcPort : this.packet.dstPort;
    const constrained =
      (e.nets?.length ?? 0) + (e.notNets?.length ?? 0) + (e.sets?.length ?? 0) + (e.notSets?.length ?? 0) +
      (e.ports?.length ?? 0) + (e.namedPortSets?.length ?? 0) + (e.notPorts?.length ?? 0) + (e.notNamedPortSets?.length ?? 0) +
      (e.serviceSet ? 1 : 0);
    if (constrained === 0) return sp.all();
    const b = sp.copy(sp.all());
    if (e.nets && e.nets.length > 0) {
      const any = sp.copy();
      for (const n of e.nets) orInto(any, sp.netBits(n));
      andInto(b, any);
    }
    if (e.notNets) for (const n of e.notNets) andNotInto(b, sp.netBits(n));
    if (e.sets) for (const id of e.sets) andInto(b, sp.setBits(id));
    if (e.notSets) for (const id of e.notSets) andNotInto(b, sp.setBits(id));
    const hasPos = (e.ports && e.ports.length > 0) || (e.namedPortSets && e.namedPortSets.length > 0);
    if (hasPos) {
      if (port === undefined) return sp.copy();
      if (!(e.ports && inRanges(port, e.ports))) {
        const any = sp.copy();
        for (const id of e.namedPortSets ?? []) orInto(any, sp.setPortBits(id, protocol, port));
        andInto(b, any);
      }
    }
    const hasNeg = (e.notPorts && e.notPorts.length > 0) || (e.notNamedPortSets && e.notNamedPortSets.length > 0);
    if (hasNeg && port !== undefined) {
      if (e.notPorts && inRanges(port, e.notPorts)) return sp.copy();
      for (const id of e.notNamedPortSets ?? []) andNotInto(b, sp.setPortBits(id, protocol, port));
    }
    if (e.serviceSet) {
      const def = this.ir.sets[e.serviceSet];
      const withPorts = def?.kind === "service" ? def.withPorts : def?.kind === "named-port";
      if (withPorts) {
        if (port === undefined) return sp.copy();
        andInto(b, sp.setPortBits(e.serviceSet, protocol, port));
      } else andInto(b, sp.setBits(e.serviceSet));
    }
    return b;
  }

  /** The peers a family-split rule matches, with the own endpoint at `own` on `ownSide`; undefined
   *  when it matches none. Shared: callers must not change it. */
  private ruleBits(fm: RuleMatch, neverMatches: string | undefined, own: number, ownSide: "src" | "dst"): Bits | undefined {
    if (neverMatches) return undefined;
    let c = this.common.get(fm);
    if (c === undefined) this.common.set(fm, (c = matchCommonPart(fm, this.packet)));
    if (!c) return undefined;
    const peerSide = ownSide === "src" ? "dst" : "src";
    if (!bitsTest(this.sideBits(ownSide, fm[ownSide]), own)) return undefined;
    return this.sideBits(peerSide, fm[peerSide]);
  }

  /**
   * evaluateDirection(program, ir, packet, sets, opts) for every peer address at once, the
   * packet going between the own address (index `own`) and the peer.
   */
  evaluate(program: DirectionProgram, own: number, opts: ClassEvaluateOptions = {}): ClassDirectionResult {
    const dir = opts.direction ?? program.direction;
    if (!dir) throw new BugError("evaluate needs a direction (program.direction or opts.direction)");
    const chain = opts.chain ?? "normal";
    const ownSide = opts.ownSide ?? (dir === "ingress" ? "dst" : "src");
    const sp = this.space;
    const family = this.packet.family;
    const allow = sp.copy();
    const deny = sp.copy();
    const undecided = sp.copy(sp.all());
    const done = () => ({ allow, deny });

    for (const fs of opts.failsafe ?? []) {
      const m = ruleForFamily(fs.match, family);
      if (!m) continue;
      const hit = this.ruleBits(m, fs.neverMatches, own, ownSide);
      if (!hit) continue;
      const x = sp.copy(hit);
      andInto(x, undecided);
      orInto(allow, x);
      andNotInto(undecided, x);
    }
    if (isEmpty(undecided)) return done();

    /** Runs a rule list over `active` (changed in place); returns true when nothing is active. */
    const runRules = (rules: RuleIR[], active: Bits): void => {
      for (const rule of rules) {
        const fm = ruleForFamily(rule.match, family);
        if (!fm) continue;
        if (rule.action === "Log") continue;
        const hit = this.ruleBits(fm, rule.neverMatches, own, ownSide);
        if (!hit) continue;
        const x = sp.copy(hit);
        andInto(x, active);
        if (isEmpty(x)) continue;
        andNotInto(active, x);
        if (rule.action === "Pass") continue;
        orInto(rule.action === "Allow" ? allow : deny, x);
        andNotInto(undecided, x);
        if (isEmpty(active)) return;
      }
    };

    const tiers = opts.staged ? stagedView(program, this.ir, dir).tiers : program.tiers;
    const passTiers = chain === "preDNAT" || chain === "untracked";
    for (const tier of tiers) {
      const active = sp.copy(undecided);
      for (const key of tier.policies) {
        const pol = this.ir.policies[key];
        if (!pol) throw new BugError(`program references policy ${key} which is not in the IR`);
        runRules(policyRules(pol, dir), active);
        if (isEmpty(active)) break;
      }
      const defaultAction = passTiers ? "Pass" : tier.defaultAction;
      if (defaultAction === "Deny") {
        orInto(deny, active);
        andNotInto(undecided, active);
      }
      if (isEmpty(undecided)) return done();
    }

    if (chain === "forward") {
      if (tiers.length === 0) orInto(allow, undecided);
      return done();
    }
    if (passTiers) return done();

    for (const key of program.profiles) {
      const prof = this.ir.profiles[key];
      if (!prof) continue;
      runRules(policyRules(prof, dir), sp.copy(undecided));
      if (isEmpty(undecided)) return done();
    }
    orInto(deny, undecided);
    return done();
  }
}
