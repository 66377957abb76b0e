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
import { BugError, lowerBound, type ChunkedMap } from "../model/index.js";
import { cachedCidr, formatAddr, type Addr, type Cidr, type Family } from "./cidr.js";
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
 * sets and in CIDRs, as index lists and bitsets over their positions. Memberships are computed on
 * first use, by walking a set's members once (not by asking every address), and cached.
 */
export class AddressSpace {
  readonly n: number;
  readonly words: number;
  private readonly full: Bits;
  private readonly empty: Bits;
  /** CIDR or address text → indexes of the addresses it contains. Set members repeat the same
   *  texts (a pod's address is in many sets), so each text is resolved once. */
  private readonly contained = new Map<string, number[]>();
  private readonly setCache = new Map<SetId, Bits>();
  private readonly listCache = new Map<string, number[]>();
  private readonly portCache = new Map<string, Bits>();
  private readonly netCache = new Map<string, Bits>();
  /** Per family: the address values sorted, and the index of each in `addrs` (built on demand). */
  private sorted?: Map<Family, { values: bigint[]; index: number[] }>;
  /** Canonical text (formatAddr) → indexes (built on demand). */
  private canonical?: Map<string, number[]>;
  /** Set by restrict: the space this one is a part of, and where its addresses sit here. */
  private parent?: { space: AddressSpace; here: Int32Array };

  constructor(
    readonly addrs: readonly Addr[],
    private readonly sets: ChunkedMap<SetDef>,
  ) {
    this.n = addrs.length;
    this.words = Math.max(1, Math.ceil(this.n / 32));
    this.empty = new Uint32Array(this.words);
    this.full = new Uint32Array(this.words);
    for (let i = 0; i < this.n; i++) bitsSet(this.full, i);
  }

  /**
   * The space of `indexes` (into this space's addresses, in that order). Containment of a text is
   * resolved through this space's (cached) answer, so texts are never parsed twice.
   */
  restrict(indexes: readonly number[]): AddressSpace {
    const sub = new AddressSpace(indexes.map((i) => this.addrs[i]!), this.sets);
    const here = new Int32Array(this.n).fill(-1);
    indexes.forEach((i, k) => (here[i] = k));
    sub.parent = { space: this, here };
    return sub;
  }

  /** Every address. Shared: callers copy before changing. */
  all(): Bits {
    return this.full;
  }

  /** The empty set. Shared: callers copy before changing. */
  none(): Bits {
    return this.empty;
  }

  /** A fresh copy of `b` (or an empty set). */
  copy(b?: Bits): Bits {
    return b ? new Uint32Array(b) : new Uint32Array(this.words);
  }

  private def(id: SetId): SetDef {
    const d = this.sets.get(id);
    if (!d) throw new BugError(`rule references set ${id} which is not in the IR`);
    return d;
  }

  /** Indexes of the addresses `c` contains (cidrContains), by binary search over the sorted
   *  values: c contains a ⟺ base ≤ a < base + 2^(host bits), the base being masked. */
  private inCidr(c: Cidr): number[] {
    if (!this.sorted) {
      this.sorted = new Map();
      for (const family of [4, 6] as const) {
        const index: number[] = [];
        this.addrs.forEach((a, i) => {
          if (a.family === family) index.push(i);
        });
        const v = (i: number) => this.addrs[i]!.value;
        index.sort((x, y) => (v(x) < v(y) ? -1 : v(x) > v(y) ? 1 : x - y));
        this.sorted.set(family, { values: index.map(v), index });
      }
    }
    const s = this.sorted.get(c.family)!;
    const hostBits = BigInt((c.family === 4 ? 32 : 128) - c.prefix);
    const lo = lowerBound(s.values, c.base);
    const hi = lowerBound(s.values, c.base + (1n << hostBits));
    return s.index.slice(lo, hi);
  }

  /** Indexes contained by a CIDR text (set member or rule net); undefined when it does not parse. */
  contains(text: string): number[] | undefined {
    let l = this.contained.get(text);
    if (l !== undefined) return l;
    if (this.parent) {
      const up = this.parent.space.contains(text);
      if (!up) return undefined;
      l = [];
      for (const i of up) {
        const k = this.parent.here[i]!;
        if (k >= 0) l.push(k);
      }
    } else {
      l = this.hostFastPath(text);
      if (l === undefined) {
        const c = cachedCidr(text);
        if (!c) return undefined;
        l = this.inCidr(c);
      }
    }
    this.contained.set(text, l);
    return l;
  }

  /**
   * Members are mostly single addresses ("a.b.c.d/32" or bare) of the very endpoints in the space.
   * When the address text equals the canonical spelling (formatAddr) of an address in the space,
   * it parses to that address, so its containment is known without parsing; anything else
   * (another spelling, an address outside the space, a real prefix) goes through parseCidr.
   */
  private hostFastPath(text: string): number[] | undefined {
    const slash = text.indexOf("/");
    let addrText = text;
    if (slash >= 0) {
      const p = text.slice(slash + 1);
      if (p !== (text.includes(":") ? "128" : "32")) return undefined;
      addrText = text.slice(0, slash);
    }
    if (!this.canonical) {
      const m = new Map<string, number[]>();
      this.addrs.forEach((a, i) => {
        const k = formatAddr(a);
        const l = m.get(k);
        if (l) l.push(i);
        else m.set(k, [i]);
      });
      this.canonical = m;
    }
    return this.canonical.get(addrText);
  }

  /** A non-selector set member's address: a bare address (a CIDR text is invalid there). */
  private memberAddr(id: SetId, addr: string): number[] {
    const l = addr.includes("/") ? undefined : this.contains(addr);
    if (!l) throw new BugError(`set ${id} has invalid member address ${addr}`);
    return l;
  }

  /** The indexes of SetLookup.hasAddr(id, ·) (may repeat an index). */
  setIndexes(id: SetId): readonly number[] {
    let l = this.listCache.get(id);
    if (l) return l;
    if (this.parent) l = this.fromParent(this.parent.space.setIndexes(id));
    else {
      const def = this.def(id);
      l = [];
      if (def.kind === "selector") {
        for (const m of def.members) {
          const c = this.contains(m);
          if (!c) throw new BugError(`set ${id} has invalid member ${m}`);
          for (const i of c) l.push(i);
        }
      } else for (const m of def.members) for (const i of this.memberAddr(id, m.addr)) l.push(i);
    }
    this.listCache.set(id, l);
    return l;
  }

  /** The indexes of SetLookup.hasAddrPort(id, ·, protocol, port) (may repeat an index). */
  setPortIndexes(id: SetId, protocol: number, port: number): readonly number[] {
    const ck = `${id}|${protocol}|${port}`;
    let l = this.listCache.get(ck);
    if (l) return l;
    if (this.parent) l = this.fromParent(this.parent.space.setPortIndexes(id, protocol, port));
    else {
      const def = this.def(id);
      l = [];
      if (def.kind !== "selector") {
        for (const m of def.members) if (m.protocol === protocol && m.port === port) for (const i of this.memberAddr(id, m.addr)) l.push(i);
      }
    }
    this.listCache.set(ck, l);
    return l;
  }

  private fromParent(up: readonly number[]): number[] {
    const here = this.parent!.here;
    const l: number[] = [];
    for (const i of up) {
      const k = here[i]!;
      if (k >= 0) l.push(k);
    }
    return l;
  }

  private toBits(l: readonly number[]): Bits {
    const b = new Uint32Array(this.words);
    for (const i of l) b[i >>> 5]! |= 1 << (i & 31);
    return b;
  }

  /** SetLookup.hasAddr for every address. */
  setBits(id: SetId): Bits {
    let b = this.setCache.get(id);
    if (!b) this.setCache.set(id, (b = this.toBits(this.setIndexes(id))));
    return b;
  }

  /** SetLookup.hasAddrPort(id, address, protocol, port) for every address. */
  setPortBits(id: SetId, protocol: number, port: number): Bits {
    const ck = `${id}|${protocol}|${port}`;
    let b = this.portCache.get(ck);
    if (!b) this.portCache.set(ck, (b = this.toBits(this.setPortIndexes(id, protocol, port))));
    return b;
  }

  /** The addresses a rule CIDR contains (an unparsable CIDR contains none, as in matchEntity). */
  netBits(cidr: string): Bits {
    let b = this.netCache.get(cidr);
    if (!b) {
      const l = this.contains(cidr);
      this.netCache.set(cidr, (b = this.toBits(l ?? [])));
    }
    return b;
  }
}

/** First position whose value is ≥ v. */

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

const ALLOW = 0;
const DENY = 1;
const PASS = 2;

interface CompiledRule {
  action: typeof ALLOW | typeof DENY | typeof PASS;
  /** Own side's set (the own endpoint's bit is tested) and the peer side's set. */
  own: Bits;
  peer: Bits;
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
  private readonly compiled = { src: new WeakMap<RuleIR[], CompiledRule[]>(), dst: new WeakMap<RuleIR[], CompiledRule[]>() };

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

  /** Same structure as matchEntity: every field ANDs; nets and positive ports OR within. The
   *  result may be one of the space's shared sets (never changed by callers). */
  private computeSide(side: "src" | "dst", e: EntityMatch): Bits {
    const sp = this.space;
    const protocol = this.packet.protocol;
    const port = side === "src" ? this.packet.srcPort : this.packet.dstPort;
    const and: Bits[] = [];
    const andNot: Bits[] = [];
    const anyOf = (parts: Bits[]): Bits => {
      if (parts.length === 1) return parts[0]!;
      const any = sp.copy();
      for (const p of parts) orInto(any, p);
      return any;
    };
    if (e.nets && e.nets.length > 0) and.push(anyOf(e.nets.map((n) => sp.netBits(n))));
    for (const n of e.notNets ?? []) andNot.push(sp.netBits(n));
    for (const id of e.sets ?? []) and.push(sp.setBits(id));
    for (const id of e.notSets ?? []) andNot.push(sp.setBits(id));
    const hasPos = (e.ports && e.ports.length > 0) || (e.namedPortSets && e.namedPortSets.length > 0);
    if (hasPos) {
      if (port === undefined) return sp.none();
      if (!(e.ports && inRanges(port, e.ports))) {
        const named = e.namedPortSets ?? [];
        if (named.length === 0) return sp.none();
        and.push(anyOf(named.map((id) => sp.setPortBits(id, protocol, port))));
      }
    }
    const hasNeg = (e.notPorts && e.notPorts.length > 0) || (e.notNamedPortSets && e.notNamedPortSets.length > 0);
    if (hasNeg && port !== undefined) {
      if (e.notPorts && inRanges(port, e.notPorts)) return sp.none();
      for (const id of e.notNamedPortSets ?? []) andNot.push(sp.setPortBits(id, protocol, port));
    }
    if (e.serviceSet) {
      const def = this.ir.sets.get(e.serviceSet);
      const withPorts = def?.kind === "service" ? def.withPorts : def?.kind === "named-port";
      if (withPorts) {
        if (port === undefined) return sp.none();
        and.push(sp.setPortBits(e.serviceSet, protocol, port));
      } else and.push(sp.setBits(e.serviceSet));
    }
    if (andNot.length === 0 && and.length <= 1) return and[0] ?? sp.all();
    const b = sp.copy(and[0] ?? sp.all());
    for (let i = 1; i < and.length; i++) andInto(b, and[i]!);
    for (const x of andNot) andNotInto(b, x);
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
   * A rule list reduced to what can decide this packet shape: rules not rendered for the family,
   * neverMatches rules, Log rules (they never end processing) and rules whose packet-wide part
   * fails are dropped; each remaining rule keeps its action and its two side sets. Policies are
   * shared by many endpoints, so each list is compiled once per evaluator.
   */
  private compile(rules: RuleIR[], ownSide: "src" | "dst"): CompiledRule[] {
    const cache = this.compiled[ownSide];
    let out = cache.get(rules);
    if (out) return out;
    out = [];
    const peerSide = ownSide === "src" ? "dst" : "src";
    for (const rule of rules) {
      if (rule.action === "Log" || rule.neverMatches) continue;
      const fm = ruleForFamily(rule.match, this.packet.family);
      if (!fm) continue;
      let c = this.common.get(fm);
      if (c === undefined) this.common.set(fm, (c = matchCommonPart(fm, this.packet)));
      if (!c) continue;
      out.push({ action: rule.action === "Allow" ? ALLOW : rule.action === "Deny" ? DENY : PASS, own: this.sideBits(ownSide, fm[ownSide]), peer: this.sideBits(peerSide, fm[peerSide]) });
    }
    cache.set(rules, out);
    return out;
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

    const words = sp.words;
    const x = new Uint32Array(words);
    /** x = hit ∩ within; false when empty. */
    const meet = (hit: Bits, within: Bits): boolean => {
      let any = 0;
      for (let w = 0; w < words; w++) any |= x[w] = hit[w]! & within[w]!;
      return any !== 0;
    };

    for (const fs of opts.failsafe ?? []) {
      const m = ruleForFamily(fs.match, family);
      if (!m) continue;
      const hit = this.ruleBits(m, fs.neverMatches, own, ownSide);
      if (!hit || !meet(hit, undecided)) continue;
      orInto(allow, x);
      andNotInto(undecided, x);
    }
    if (isEmpty(undecided)) return done();

    /** Runs a rule list over the peers in `active` (changed in place). */
    const runRules = (rules: RuleIR[], active: Bits): void => {
      for (const r of this.compile(rules, ownSide)) {
        if (!bitsTest(r.own, own) || !meet(r.peer, active)) continue;
        let left = 0;
        for (let w = 0; w < words; w++) left |= active[w]! &= ~x[w]!;
        if (r.action !== PASS) {
          const into = r.action === ALLOW ? allow : deny;
          for (let w = 0; w < words; w++) {
            into[w]! |= x[w]!;
            undecided[w]! &= ~x[w]!;
          }
        }
        if (left === 0) return;
      }
    };

    const tiers = opts.staged ? stagedView(program, this.ir, dir).tiers : program.tiers;
    const passTiers = chain === "preDNAT" || chain === "untracked";
    for (const tier of tiers) {
      const active = sp.copy(undecided);
      for (const key of tier.policies) {
        const pol = this.ir.policies.get(key);
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
