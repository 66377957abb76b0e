/**
 * buildDataplane(ir, node): the kernel model for the endpoints local to one node.
 *
 *   base chains (per hook) ──dispatch maps (iface → goto)──▶ endpoint chains (one per interface and
 *   direction) ──jump──▶ policy chains (one per policy and direction, shared by all endpoints)
 *                     └─jump──▶ profile chains
 *
 * Chain contents follow Felix (rules/static.go, rules/endpoints.go; SEMANTICS §8):
 *
 *   filter-FORWARD  ct established,related accept        (fast path for every flow after its first packet)
 *                   clear our mark bits except accept    (accept may come from raw/mangle HEP policy)
 *                   [HEPs] accept bit clear → jump cali-from-hep-forward
 *                   iifname cali* → jump cali-from-wl-dispatch   (workload egress)
 *                   oifname cali* → jump cali-to-wl-dispatch     (workload ingress)
 *                   [HEPs] jump cali-to-hep-forward
 *                   accept bit set → accept
 *   filter-INPUT    ct established,related accept; iifname cali* → goto cali-wl-to-host;
 *                   [HEPs] accept bit → accept; clear; jump cali-from-host-endpoint; accept bit → accept
 *   filter-OUTPUT   [HEPs] accept bit → accept; oifname cali* → return; clear; jump cali-to-host-endpoint; …
 *   mangle-PREROUTING / raw-PREROUTING / raw-OUTPUT: preDNAT and doNotTrack HEP policy.
 *
 *   endpoint chain  ct established,related accept; ct invalid drop; [HEP] jump failsafe;
 *                   clear accept|pass;
 *                   per tier: clear pass; per policy: (pass clear) jump policy; (accept set) return;
 *                             end of tier: (pass clear) deny, unless the tier's default is Pass;
 *                   profiles: jump profile; (accept set) return;   final deny.
 *   policy chain    one kernel rule per (IR rule × family × alternative); Allow = set accept bit +
 *                   return, Pass = set pass bit + return, Deny = drop/reject, Log = NFLOG + continue.
 *
 * Which endpoint runs which tiers and policies comes from the IR's DirectionPrograms: this file
 * never decides what applies, it only lays the programs out.
 *
 * Pieces. The model is the union of independently built pieces, each made by one function here:
 *   - the frame: base chains, dispatch chains and maps, failsafe chains, the endpoint list, notes
 *     (inputs: the local endpoints, failsafe rules, DefaultEndpointToHostAction);
 *   - one piece per local endpoint: its endpoint chains (input: its EndpointIR);
 *   - one piece per policy, group or profile chain an endpoint chain jumps to (inputs: the
 *     policy / profile IRs);
 *   - kernel sets, each a function of its SetSpec and the IR sets it names (compile.ts).
 * A piece may also depend on *facts* it consulted (does a selector hold CIDRs, is a set small
 * enough to compile, are a policy's rules all Allow or Deny). `buildDataplane` builds every piece once.
 * `DataplaneBuilder.build` keeps the pieces between calls and rebuilds only those whose input
 * objects changed identity (the IR's producers — Cluster, the agent's CalcGraph — make a new
 * object whenever content changes and keep the old one otherwise) or whose facts now have another
 * value; sets are rebuilt when an IR set they are made of changed. So both paths run the same
 * code; the incremental one only decides which pieces to run it for.
 */
import { BugError, ChunkedMap, insertSorted, removeSorted } from "../model/index.js";
import { caliInterfaceName } from "../netns/index.js";
import { emptyClusterIR, failsafeFor, irChangesFrom, type ClusterIR, type DirectionProgram, type EndpointIR, type PolicyIR, type PolicyKey, type RuleIR, type SetId } from "../rule/index.js";
import { compileMatch, compileRuns, SetRegistry, type Fact, type FactRecorder, type RunAction, type SetSpec } from "./compile.js";
import { recordChanges } from "./diff.js";
import {
  DEFAULT_CONFIG,
  type DataplaneConfig,
  type DataplaneModel,
  type DpChain,
  type DpEffect,
  type DpEndpoint,
  type DpMap,
  type DpMatch,
  type DpRule,
  type DpSet,
  type DpVerdict,
  type Family,
  type LogEntry,
} from "./model.js";
import {
  actionChar,
  BASE_CHAINS,
  CHAINS,
  endOfTierLogPrefix,
  endpointChainName,
  HOOK_PRIORITY,
  MAPS,
  noProfileLogPrefix,
  originLabel,
  policyChainName,
  policyGroupChainName,
  groupChunkChainName,
  profileChainName,
  ruleLogPrefix,
  type EndpointChainKind,
} from "./naming.js";

type Flavour = "normal" | "forward" | "preDNAT" | "untracked";
type Dir = "ingress" | "egress";

const FAMILIES: Family[] = [4, 6];

/** ICMPv6 types a workload must be able to send to its host to work as an IPv6 host (Felix
 *  ICMPv6Filter: MLD query/report/done, router solicitation, neighbour solicitation/advert). */
const ICMPV6_HOST_TYPES = [130, 131, 132, 133, 135, 136];

export interface BuildOptions {
  config?: Partial<DataplaneConfig>;
}

/** The node's model from scratch: every piece built once. */
export function buildDataplane(ir: ClusterIR, node: string, opts: BuildOptions = {}): DataplaneModel {
  return new DataplaneBuilder(node, opts).build(ir);
}

/** A chain an endpoint chain jumps to. Its name is a function of the spec. */
type ChainSpec =
  | { kind: "policy"; key: PolicyKey; dir: Dir }
  /** Consecutive Allow/Deny-only policies of one tier in one chain (see tierJumps). */
  | { kind: "group"; keys: PolicyKey[]; dir: Dir }
  | { kind: "profile"; key: PolicyKey; dir: Dir }
  /** A piece of a long group chain: its rules, as the group's piece compiled them (groupChunks). */
  | { kind: "chunk"; rules: DpRule[]; dir: Dir };

/** One independently rebuildable part of the model (see the file comment). */
interface Piece {
  /** The IR objects it was made from; another object in their place means "rebuild". */
  inputs: readonly unknown[];
  chains: DpChain[];
  logs: Map<string, LogEntry>;
  facts: FactRecorder;
  /** Sets its rules name, with their specs. */
  sets: Map<string, SetSpec>;
  /** Policy, group and profile chains its rules jump to (endpoint pieces). */
  targets: Map<string, ChainSpec>;
  /** Set on policy, group and profile chain pieces. */
  chainName?: string;
}

interface FramePiece extends Piece {
  maps: Record<string, DpMap>;
  endpoints: DpEndpoint[];
  notes: string[];
}

/** What the last `build` rebuilt (tests assert locality with it; the agent logs it). */
export interface BuildStats {
  full: boolean;
  endpoints: number;
  chains: number;
  frame: boolean;
  /** Kernel sets whose elements were computed again. */
  sets: number;
}

/** 32-bit FNV-1a of a text with murmur3's final mix (where group chains are cut: cheap, and only
 *  its spread matters; FNV's low bits alone follow the texts' last characters too closely). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Keys whose value differs between two records (profiles: a few per cluster), or of `keys`. */
function changedRecordKeys<T>(a: Record<string, T>, b: Record<string, T>, keys: readonly string[] | undefined): string[] {
  if (keys) return keys.filter((k) => a[k] !== b[k]);
  if (a === b) return [];
  const out: string[] = [];
  for (const k in a) if (a[k] !== b[k]) out.push(k);
  for (const k in b) if (!(k in a)) out.push(k);
  return out;
}

/**
 * Builds pieces. Every chain and set of the model is made by exactly one method here, for the
 * from-scratch and the incremental path alike. `begin`/`end` bracket one piece: logs, facts and
 * chains go to the current piece.
 */
class PieceMaker {
  ir: ClusterIR;
  private piece: Piece | undefined;
  private readonly allBits: number;

  constructor(
    ir: ClusterIR,
    private readonly cfg: DataplaneConfig,
    readonly sets: SetRegistry,
  ) {
    this.ir = ir;
    this.allBits = cfg.markAccept | cfg.markPass;
  }

  private begin(inputs: readonly unknown[]): Piece {
    const p: Piece = { inputs, chains: [], logs: new Map(), facts: new Map(), sets: new Map(), targets: new Map() };
    this.piece = p;
    this.sets.recorder = p.facts;
    return p;
  }

  private end<P extends Piece>(p: P): P {
    this.sets.recorder = undefined;
    this.piece = undefined;
    for (const c of p.chains) {
      for (const r of c.rules) {
        for (const m of r.match) if (m.kind === "addr-set" || m.kind === "concat-set") if (!p.sets.has(m.set)) p.sets.set(m.set, this.sets.specOf(m.set));
      }
    }
    return p;
  }

  private get cur(): Piece {
    if (!this.piece) throw new BugError("dataplane piece built outside begin/end");
    return this.piece;
  }

  // ---------------------------------------------------------------------------------- helpers

  private addChain(c: DpChain): void {
    this.cur.chains.push(c);
  }

  private deny(): DpVerdict {
    return { kind: this.cfg.denyAction === "reject" ? "reject" : "drop" };
  }

  private log(prefix: string, entry: LogEntry): DpEffect {
    this.cur.logs.set(prefix, entry);
    return { kind: "log", prefix, group: this.cfg.nflogGroup };
  }

  private markClear(bits: number): DpMatch {
    return { kind: "mark", mask: bits, value: 0 };
  }

  private markSet(bit: number): DpMatch {
    return { kind: "mark", mask: bit, value: bit };
  }

  private ctRules(): DpRule[] {
    return [
      { match: [{ kind: "ct", states: ["established", "related"] }], verdict: { kind: "accept" } },
      { match: [{ kind: "ct", states: ["invalid"] }], verdict: { kind: "drop" } },
    ];
  }

  private policy(key: PolicyKey): PolicyIR {
    const pol = this.ir.policies.get(key);
    if (!pol) throw new BugError(`program references policy ${key} which is not in the IR`);
    return pol;
  }

  // ---------------------------------------------------------------------------------- policy chains

  /** The IR objects a policy/group/profile chain is made from. */
  chainInputs(spec: ChainSpec): unknown[] {
    switch (spec.kind) {
      case "policy":
        return [this.ir.policies.get(spec.key)];
      case "group":
        return spec.keys.map((k) => this.ir.policies.get(k));
      case "profile":
        return [this.ir.profiles[spec.key]];
      case "chunk":
        return []; // named by its content: never stale (the group's piece decides its pieces)
    }
  }

  /** One policy, group or profile chain (the one way such a chain is built). */
  chainPiece(name: string, spec: ChainSpec): Piece {
    const p = this.begin(this.chainInputs(spec));
    if (spec.kind === "chunk") {
      this.addChain({ name, rules: spec.rules });
      p.chainName = name;
      return this.end(p);
    }
    let rules: RuleIR[];
    if (spec.kind === "policy") rules = this.policy(spec.key)[spec.dir];
    else if (spec.kind === "group") rules = spec.keys.flatMap((k) => this.policy(k)[spec.dir]);
    else {
      // A profile named by an endpoint but absent from the datastore contributes nothing: Felix
      // renders a jump to an empty chain.
      const prof = this.ir.profiles[spec.key];
      rules = prof ? prof[spec.dir] : [];
    }
    const list = this.ruleList(rules);
    this.addChain({ name, rules: spec.kind === "group" ? this.groupChunks(list, spec.dir) : list });
    p.chainName = name;
    return this.end(p);
  }

  /**
   * A long group chain as a chain of pieces: `jump piece; (accept or pass set) return` per piece.
   * Why: a group holds every policy of a tier that an endpoint's program runs (up to ~1k kernel
   * rules at 100k pods), and a policy added in its middle made the applier refill the whole chain
   * (rule handles are known only after a drift check; nft 1.0.6 inserts at a position only after
   * fetching every rule of the table): 0.5 MB batches and ~100 ms applies at 100k pods
   * (docs/performance.md, tenth session). Cut into pieces, that change rewrites one piece and the
   * short list of jumps.
   *
   * Same verdicts: a piece's Allow sets the accept bit and returns, and so does its Pass with the
   * pass bit; the group chain then returns at once, as the unpieced chain would have. A Deny drops
   * either way, and a Log rule or a rule that does not match goes on to the next rule, which after
   * a piece's last rule is the next piece's first. (Both bits are clear when a group is entered:
   * the endpoint chain clears pass at the start of each tier and returns once accept is set.)
   *
   * Where to cut is decided by the rules' content (a hash of each rule, like content-defined
   * chunking of files), not by position: a rule inserted or removed moves only the boundary near
   * it, so the other pieces keep their content and their name (a hash of their rules). A piece is
   * a chain of its own, a target of the group's piece (built and reference-counted like policy
   * chains); equal pieces of two groups are one chain.
   */
  private groupChunks(rules: DpRule[], dir: Dir): DpRule[] {
    const avg = this.cfg.groupChunkRules;
    if (avg <= 0 || rules.length <= 2 * avg) return rules;
    const min = Math.max(1, avg >> 2);
    const max = avg * 4;
    const texts = rules.map((r) => JSON.stringify(r));
    const out: DpRule[] = [];
    const bits = this.cfg.markAccept | this.cfg.markPass;
    let start = 0;
    const cut = (end: number) => {
      const piece = rules.slice(start, end);
      const target = this.target(groupChunkChainName(texts.slice(start, end).join("\n"), dir), { kind: "chunk", rules: piece, dir });
      out.push({ match: [], verdict: { kind: "jump", chain: target } });
      if (end < rules.length) out.push({ match: [{ kind: "mark", mask: bits, value: 0, negate: true }], verdict: { kind: "return" }, label: "return if a piece accepted or passed" });
      start = end;
    };
    for (let i = 0; i < rules.length; i++) {
      const size = i + 1 - start;
      if (size >= max || (size >= min && fnv1a(texts[i]!) % avg === 0)) cut(i + 1);
    }
    if (start < rules.length) cut(rules.length);
    return out;
  }

  private target(name: string, spec: ChainSpec): string {
    this.cur.targets.set(name, spec);
    return name;
  }

  /**
   * The chains an endpoint chain jumps to for one tier's policies, in order. Consecutive policies
   * of a tier share one group chain holding all their rules in order: "first matching rule of P1,
   * else of P2, …" is the same as running P1, P2, … one after the other. An Allow sets the accept
   * bit and returns (the endpoint chain then returns: later policies are skipped either way); a
   * Pass sets the pass bit and returns (the endpoint chain then skips the tier's later policies
   * and its end-of-tier deny, which test the pass bit, either way); a Deny drops at once; a Log
   * logs and goes on to the next rule, which after a policy's last rule is the next policy's
   * first, just as the endpoint chain would jump to the next policy; and a policy none of whose
   * rules match falls through to the next policy's rules the same way. The group's rules then
   * compile into set lookups together (compileRuns), making the per-packet cost of many policies
   * on one endpoint a few lookups instead of a jump per policy. (Felix jumps to each policy's
   * chain; until the sixth #7 session Pass and Log rules kept a policy out of groups, at a jump
   * per packet each.) With `groupAllowPolicies` off, every policy has its own chain.
   */
  private tierJumps(policies: PolicyKey[], dir: Dir): string[] {
    for (const key of policies) this.policy(key); // every policy of a program is in the IR
    if (!this.cfg.groupAllowPolicies || policies.length === 1) return policies.map((key) => this.target(policyChainName(key, dir), { kind: "policy", key, dir }));
    return [this.target(policyGroupChainName(policies, dir), { kind: "group", keys: policies, dir })];
  }

  private actionOf(rule: RuleIR): Pick<DpRule, "effects" | "verdict"> {
    const effects: DpEffect[] = [];
    const o = rule.origin;
    switch (rule.action) {
      case "Allow":
        if (this.cfg.logAllowed) effects.push(this.log(ruleLogPrefix("A", o, this.cfg.logPrefix), { kind: "rule", action: "Allow", origin: o }));
        effects.push({ kind: "mark-set", bits: this.cfg.markAccept });
        return { effects, verdict: { kind: "return" } };
      case "Pass":
        effects.push({ kind: "mark-set", bits: this.cfg.markPass });
        return { effects, verdict: { kind: "return" } };
      case "Deny":
        if (this.cfg.logDenied) effects.push(this.log(ruleLogPrefix("D", o, this.cfg.logPrefix), { kind: "rule", action: "Deny", origin: o }));
        return effects.length > 0 ? { effects, verdict: this.deny() } : { verdict: this.deny() };
      case "Log":
        effects.push(this.log(ruleLogPrefix(actionChar("Log"), o, this.cfg.logPrefix), { kind: "rule", action: "Log", origin: o }));
        return { effects };
    }
  }

  /**
   * Kernel conditions of one IR rule for both families. Remembered per RuleIR object with the
   * facts compileMatch consulted: a group chain is rebuilt whenever one of its policies changes,
   * and its other policies' rules are the same objects, so they are not compiled again — as long
   * as every remembered fact still has its value (else compiled again).
   */
  private matches(rule: RuleIR): DpMatch[][][] {
    const cur = this.cur.facts;
    const hit = this.matchCache.get(rule);
    if (hit && hit.facts.every(([, f]) => f.compute() === f.value)) {
      for (const [k, f] of hit.facts) cur.set(k, f);
      for (const spec of hit.specs) this.sets.ensure(spec);
      return hit.matches;
    }
    const rec: FactRecorder = new Map();
    this.sets.recorder = rec;
    let matches: DpMatch[][][];
    try {
      matches = FAMILIES.map((family) => compileMatch(rule, family, this.sets));
    } finally {
      this.sets.recorder = cur;
    }
    for (const [k, f] of rec) cur.set(k, f);
    const specs = new Map<string, SetSpec>();
    for (const alts of matches) for (const conj of alts) for (const m of conj) if (m.kind === "addr-set" || m.kind === "concat-set") specs.set(m.set, this.sets.specOf(m.set));
    this.matchCache.set(rule, { matches, facts: [...rec], specs: [...specs.values()] });
    return matches;
  }

  private readonly matchCache = new WeakMap<RuleIR, { matches: DpMatch[][][]; facts: Array<[string, Fact]>; specs: SetSpec[] }>();

  private ruleList(rules: RuleIR[]): DpRule[] {
    const out: DpRule[] = [];
    for (const rule of rules) {
      const action = this.actionOf(rule);
      for (const alts of this.matches(rule)) {
        for (const match of alts) {
          out.push({ match, ...action, origin: rule.origin, label: originLabel(rule.origin) });
        }
      }
    }
    if (!this.cfg.compileAllowRuns) return out;
    const markReturn = (bits: number) => ({ effects: [{ kind: "mark-set", bits }] as DpEffect[], verdict: { kind: "return" } as DpVerdict });
    const deny = this.deny();
    const { markAccept, markPass } = this.cfg;
    // Plain Allow: exactly one mark-set effect of the accept bit, then return; Pass: the same with
    // the pass bit. Plain Deny: the deny verdict without effects — a Deny that logs (logDenied)
    // names its own rule in the NFLOG prefix, which a per-key lookup cannot, so it is not plain
    // and ends the run (so does a logged Allow or a Log rule).
    const classify = (r: DpRule): RunAction | undefined => {
      const v = r.verdict;
      if (!v) return undefined;
      if (v.kind === "return") {
        const e = r.effects?.length === 1 && r.effects[0]!.kind === "mark-set" ? r.effects[0]!.bits : undefined;
        return e === markAccept ? "allow" : e === markPass ? "pass" : undefined;
      }
      return v.kind === deny.kind && !r.effects?.length ? "deny" : undefined;
    };
    return compileRuns(out, classify, this.sets, { allow: markReturn(markAccept), pass: markReturn(markPass), deny: { verdict: deny } });
  }

  // ---------------------------------------------------------------------------------- endpoint chains

  /**
   * One endpoint chain for one program. `flavour` follows rule/match.ts's ChainFlavour:
   * normal (end-of-tier per default action, then profiles, then deny), forward (no tier → allow
   * by default; undecided → return), preDNAT/untracked (tiers never end in a drop; undecided →
   * return; untracked Allow also skips conntrack).
   */
  private endpointChain(name: string, program: DirectionProgram, dir: Dir, flavour: Flavour, failsafe: string | undefined): void {
    const c = this.cfg;
    const rules: DpRule[] = [];
    if (flavour !== "untracked") rules.push(...this.ctRules());
    if (failsafe) rules.push({ match: [], verdict: { kind: "jump", chain: failsafe } });
    rules.push({ match: [], effects: [{ kind: "mark-clear", bits: c.markAccept | c.markPass }] });
    const endOfTierDrops = flavour === "normal" || flavour === "forward";
    for (const tier of program.tiers) {
      if (tier.policies.length === 0) continue;
      rules.push({ match: [], effects: [{ kind: "mark-clear", bits: c.markPass }], label: `start of tier ${tier.tier}` });
      for (const target of this.tierJumps(tier.policies, dir)) {
        rules.push({ match: [this.markClear(c.markPass)], verdict: { kind: "jump", chain: target } });
        if (flavour === "untracked") rules.push({ match: [this.markSet(c.markAccept)], effects: [{ kind: "notrack" }] });
        rules.push({ match: [this.markSet(c.markAccept)], verdict: { kind: "return" }, label: "return if policy accepted" });
      }
      if (endOfTierDrops && tier.defaultAction === "Deny") {
        const effects = c.logDenied ? [this.log(endOfTierLogPrefix(dir, tier.tier), { kind: "end-of-tier", direction: dir, tier: tier.tier })] : undefined;
        rules.push({ match: [this.markClear(c.markPass)], ...(effects ? { effects } : {}), verdict: this.deny(), label: `end of tier ${tier.tier}` });
      }
    }
    if (flavour === "forward" && program.tiers.every((t) => t.policies.length === 0)) {
      rules.push({ match: [], effects: [{ kind: "mark-set", bits: c.markAccept }], verdict: { kind: "return" }, label: "allow forwarded traffic by default" });
    }
    if (flavour === "normal") {
      for (const key of program.profiles) {
        const chain = this.target(profileChainName(key, dir), { kind: "profile", key, dir });
        rules.push({ match: [], verdict: { kind: "jump", chain } });
        rules.push({ match: [this.markSet(c.markAccept)], verdict: { kind: "return" }, label: "return if profile accepted" });
      }
      const effects = c.logDenied ? [this.log(noProfileLogPrefix(dir), { kind: "no-profile", direction: dir })] : undefined;
      rules.push({ match: [], ...(effects ? { effects } : {}), verdict: this.deny(), label: "no profile accepted" });
    }
    this.addChain({ name, rules });
  }

  /** The chains of one local endpoint (`raw` as in the IR, `e` with its interface name). */
  endpointPiece(raw: EndpointIR, e: EndpointIR | undefined): Piece {
    const p = this.begin([raw]);
    if (!e) return this.end(p); // no interface: not programmed (the frame notes it)
    const iface = e.interfaceName!;
    if (e.kind === "workload") {
      this.endpointChain(endpointChainName("toWorkload", iface), e.ingress, "ingress", "normal", undefined);
      this.endpointChain(endpointChainName("fromWorkload", iface), e.egress, "egress", "normal", undefined);
      return this.end(p);
    }
    const none: DirectionProgram = { tiers: [], stagedTiers: [], profiles: [] };
    const fwd = e.forward ?? { ingress: none, egress: none };
    const untracked = e.untracked ?? { ingress: none, egress: none };
    const pre = e.preDNAT ?? none;
    for (const [kind, program, dir, flavour, failsafe] of hostEndpointChains(e.ingress, e.egress, fwd, pre, untracked)) {
      this.endpointChain(endpointChainName(kind, iface), program, dir, flavour, failsafe);
    }
    return this.end(p);
  }

  // ---------------------------------------------------------------------------------- frame

  /**
   * The frame's inputs: failsafe rules, endpoint-to-host action, and of each local endpoint what
   * the frame reads (key, kind, interface, addresses: frameView). Not the endpoints' programs: a
   * policy added or changed gives the selected endpoints new IR objects, and rebuilding the frame
   * for them re-made every dispatch map (~1/3 of a policy add's garbage at 100k pods) only for the
   * diff to find it unchanged.
   */
  frameInputs(local: readonly EndpointIR[]): unknown[] {
    return [this.ir.failsafe, this.ir.defaultEndpointToHostAction, ...local.map(frameView)];
  }

  /** Base chains, dispatch chains and maps, failsafe chains, endpoint list and notes. */
  framePiece(local: readonly EndpointIR[]): FramePiece {
    const p = this.begin(this.frameInputs(local));
    const f = new Frame(this, this.cfg, this.ir);
    const out = f.build(local, (c) => this.addChain(c));
    return this.end({ ...p, ...out });
  }

  /** Failsafe rules → one accept rule each per family (used by the frame). */
  failsafeChain(name: string, rules: RuleIR[]): DpChain {
    const out: DpRule[] = [];
    for (const r of rules) {
      for (const family of FAMILIES) {
        for (const match of compileMatch(r, family, this.sets)) out.push({ match, verdict: { kind: "accept" }, origin: r.origin, label: originLabel(r.origin) });
      }
    }
    return { name, rules: out };
  }

  get denyVerdict(): DpVerdict {
    return this.deny();
  }
}

/** The seven chains of a host endpoint: (chain kind, program, direction, flavour, failsafe chain). */
function hostEndpointChains(
  ingress: DirectionProgram,
  egress: DirectionProgram,
  fwd: { ingress: DirectionProgram; egress: DirectionProgram },
  pre: DirectionProgram,
  untracked: { ingress: DirectionProgram; egress: DirectionProgram },
): Array<[EndpointChainKind, DirectionProgram, Dir, Flavour, string | undefined]> {
  return [
    ["fromHost", ingress, "ingress", "normal", CHAINS.failsafeIn],
    ["toHost", egress, "egress", "normal", CHAINS.failsafeOut],
    ["fromHostForward", fwd.ingress, "ingress", "forward", undefined],
    ["toHostForward", fwd.egress, "egress", "forward", undefined],
    ["mangleFromHost", pre, "ingress", "preDNAT", CHAINS.failsafeIn],
    ["rawFromHost", untracked.ingress, "ingress", "untracked", CHAINS.failsafeIn],
    ["rawToHost", untracked.egress, "egress", "untracked", CHAINS.failsafeOut],
  ];
}

/** Which map dispatches to each host endpoint chain kind. */
const HOST_MAP: Partial<Record<EndpointChainKind, string>> = {
  fromHost: MAPS.fromHostEndpoint,
  toHost: MAPS.toHostEndpoint,
  fromHostForward: MAPS.fromHostEndpointForward,
  toHostForward: MAPS.toHostEndpointForward,
  mangleFromHost: MAPS.mangleFromHostEndpoint,
  rawFromHost: MAPS.rawFromHostEndpoint,
  rawToHost: MAPS.rawToHostEndpoint,
};

/** The frame of the model: everything that is not an endpoint, policy or profile chain. */
class Frame {
  private readonly maps = new Map<string, DpMap>();
  private readonly notes: string[] = [];
  /** Workload interfaces that match none of the configured prefixes (e.g. an OpenStack "tap…"
   *  endpoint with the default "cali" prefix). Felix would leave them unpoliced; we dispatch them
   *  by exact name so that every workload endpoint the IR has is enforced. */
  private extraWorkloadIfaces: string[] = [];
  private readonly allBits: number;
  private add: (c: DpChain) => void = () => undefined;

  constructor(
    private readonly maker: PieceMaker,
    private readonly cfg: DataplaneConfig,
    private readonly ir: ClusterIR,
  ) {
    this.allBits = cfg.markAccept | cfg.markPass;
  }

  build(local: readonly EndpointIR[], add: (c: DpChain) => void): { maps: Record<string, DpMap>; endpoints: DpEndpoint[]; notes: string[] } {
    this.add = add;
    const workloads: EndpointIR[] = [];
    const hosts: EndpointIR[] = [];
    for (const raw of local) {
      const e = withInterface(raw);
      if (!e.interfaceName) {
        this.notes.push(`${e.key}: no interface name, not programmed`);
        continue;
      }
      (e.kind === "workload" ? workloads : hosts).push(e);
    }
    const prefixes = this.cfg.workloadInterfacePrefixes;
    this.extraWorkloadIfaces = workloads.map((e) => e.interfaceName!).filter((i) => !prefixes.some((p) => i.startsWith(p))).sort();
    for (const i of this.extraWorkloadIfaces) this.notes.push(`workload interface ${i} matches no workload prefix (${prefixes.join(", ")}): dispatched by exact name`);
    this.workloadDispatch(workloads);
    this.hostDispatch(hosts);
    this.baseChains(hosts.length > 0);
    const endpoints: DpEndpoint[] = [...workloads, ...hosts]
      .map((e) => ({ key: e.key, kind: e.kind, iface: e.interfaceName!, ips: [...e.ips] }))
      .sort((a, b) => cmp(a.key, b.key));
    return { maps: sortedRecord(this.maps), endpoints, notes: this.notes };
  }

  private map(name: string): DpMap {
    let m = this.maps.get(name);
    if (!m) this.maps.set(name, (m = { name, key: "ifname", elements: {} }));
    return m;
  }

  private markSet(bit: number): DpMatch {
    return { kind: "mark", mask: bit, value: bit };
  }

  private markClear(bits: number): DpMatch {
    return { kind: "mark", mask: bits, value: 0 };
  }

  private wlIfaceMatches(dir: "in" | "out", negate = false): DpMatch[] {
    const n = negate ? { negate: true } : {};
    return [
      ...this.cfg.workloadInterfacePrefixes.map((p) => ({ kind: "iface", dir, name: p, prefix: true, ...n }) as DpMatch),
      ...this.extraWorkloadIfaces.map((name) => ({ kind: "iface", dir, name, ...n }) as DpMatch),
    ];
  }

  private workloadDispatch(workloads: EndpointIR[]): void {
    for (const e of workloads) {
      const iface = e.interfaceName!;
      this.map(MAPS.toWorkload).elements[iface] = { verdict: "goto", chain: endpointChainName("toWorkload", iface) };
      this.map(MAPS.fromWorkload).elements[iface] = { verdict: "goto", chain: endpointChainName("fromWorkload", iface) };
    }
    this.map(MAPS.toWorkload);
    this.map(MAPS.fromWorkload);
    // Unknown workload interface → drop (Felix: the dispatch trie ends in a drop).
    this.add({
      name: CHAINS.fromWorkloadDispatch,
      rules: [{ match: [], verdict: { kind: "dispatch", iface: "in", map: MAPS.fromWorkload } }, { match: [], verdict: { kind: "drop" }, label: "unknown interface" }],
    });
    this.add({
      name: CHAINS.toWorkloadDispatch,
      rules: [{ match: [], verdict: { kind: "dispatch", iface: "out", map: MAPS.toWorkload } }, { match: [], verdict: { kind: "drop" }, label: "unknown interface" }],
    });
    const toHost: DpRule[] = ICMPV6_HOST_TYPES.map((t) => ({ match: [{ kind: "icmp", family: 6, type: t }] as DpMatch[], verdict: { kind: "accept" } as DpVerdict }));
    toHost.push({ match: [], verdict: { kind: "jump", chain: CHAINS.fromWorkloadDispatch } });
    const eth = this.ir.defaultEndpointToHostAction ?? this.cfg.endpointToHostAction;
    toHost.push({
      match: [],
      verdict: eth === "Accept" ? { kind: "accept" } : eth === "Return" ? { kind: "return" } : this.maker.denyVerdict,
      label: "DefaultEndpointToHostAction",
    });
    this.add({ name: CHAINS.workloadToHost, rules: toHost });
  }

  private hostDispatch(hosts: EndpointIR[]): void {
    if (hosts.length === 0) return;
    this.add(this.maker.failsafeChain(CHAINS.failsafeIn, failsafeFor(this.ir, "ingress")));
    this.add(this.maker.failsafeChain(CHAINS.failsafeOut, failsafeFor(this.ir, "egress")));
    const star = new Map<string, string>();
    const none: DirectionProgram = { tiers: [], stagedTiers: [], profiles: [] };
    const pair = { ingress: none, egress: none };
    for (const e of hosts) {
      const iface = e.interfaceName!;
      for (const [kind] of hostEndpointChains(none, none, pair, none, pair)) {
        const mapName = HOST_MAP[kind]!;
        const name = endpointChainName(kind, iface);
        if (iface !== "*") this.map(mapName).elements[iface] = { verdict: "goto", chain: name };
        else if (!star.has(mapName)) star.set(mapName, name);
      }
    }
    const dispatchChains: Array<[string, string, "in" | "out"]> = [
      [CHAINS.fromHostEndpoint, MAPS.fromHostEndpoint, "in"],
      [CHAINS.toHostEndpoint, MAPS.toHostEndpoint, "out"],
      [CHAINS.fromHostEndpointForward, MAPS.fromHostEndpointForward, "in"],
      [CHAINS.toHostEndpointForward, MAPS.toHostEndpointForward, "out"],
      [CHAINS.mangleFromHostEndpoint, MAPS.mangleFromHostEndpoint, "in"],
      [CHAINS.rawFromHostEndpoint, MAPS.rawFromHostEndpoint, "in"],
      [CHAINS.rawToHostEndpoint, MAPS.rawToHostEndpoint, "out"],
    ];
    for (const [chain, mapName, dir] of dispatchChains) {
      this.map(mapName);
      const rules: DpRule[] = [{ match: [], verdict: { kind: "dispatch", iface: dir, map: mapName } }];
      // An all-interfaces host endpoint ("*") covers every non-workload interface without its own
      // host endpoint: the catch-all comes after the exact-name lookup.
      const target = star.get(mapName);
      if (target) {
        for (const w of this.wlIfaceMatches(dir)) rules.push({ match: [w], verdict: { kind: "return" } });
        rules.push({ match: [], verdict: { kind: "goto", chain: target } });
      }
      this.add({ name: chain, rules });
    }
  }

  // ---------------------------------------------------------------------------------- base chains

  private baseChains(haveHosts: boolean): void {
    const c = this.cfg;
    const accept = c.markAccept;
    const acceptedMark = this.markSet(accept);
    const fwd: DpRule[] = [
      { match: [{ kind: "ct", states: ["established", "related"] }], verdict: { kind: "accept" } },
      { match: [], effects: [{ kind: "mark-clear", bits: this.allBits & ~accept }] },
    ];
    if (haveHosts) fwd.push({ match: [this.markClear(accept)], verdict: { kind: "jump", chain: CHAINS.fromHostEndpointForward } });
    for (const m of this.wlIfaceMatches("in")) fwd.push({ match: [m], verdict: { kind: "jump", chain: CHAINS.fromWorkloadDispatch } });
    for (const m of this.wlIfaceMatches("out")) fwd.push({ match: [m], verdict: { kind: "jump", chain: CHAINS.toWorkloadDispatch } });
    if (haveHosts) fwd.push({ match: [], verdict: { kind: "jump", chain: CHAINS.toHostEndpointForward } });
    fwd.push({ match: [acceptedMark], verdict: { kind: "accept" }, label: "policy explicitly accepted packet" });
    this.add({ name: BASE_CHAINS.forward, base: { hook: "forward", priority: HOOK_PRIORITY.filter, policy: "accept" }, rules: fwd });

    const input: DpRule[] = [{ match: [{ kind: "ct", states: ["established", "related"] }], verdict: { kind: "accept" } }];
    for (const m of this.wlIfaceMatches("in")) input.push({ match: [m], verdict: { kind: "goto", chain: CHAINS.workloadToHost } });
    if (haveHosts) {
      input.push(
        { match: [acceptedMark], verdict: { kind: "accept" }, label: "already accepted by raw or mangle policy" },
        { match: [], effects: [{ kind: "mark-clear", bits: this.allBits }] },
        { match: [], verdict: { kind: "jump", chain: CHAINS.fromHostEndpoint } },
        { match: [acceptedMark], verdict: { kind: "accept" }, label: "host endpoint policy accepted packet" },
      );
    }
    this.add({ name: BASE_CHAINS.input, base: { hook: "input", priority: HOOK_PRIORITY.filter, policy: "accept" }, rules: input });

    if (!haveHosts) return;
    // Host → local workload is not policed (Felix: pragmatic; the host could remove the rules).
    const output: DpRule[] = [
      { match: [{ kind: "ct", states: ["established", "related"] }], verdict: { kind: "accept" } },
      { match: [acceptedMark], verdict: { kind: "accept" }, label: "already accepted by raw policy" },
    ];
    for (const m of this.wlIfaceMatches("out")) output.push({ match: [m], verdict: { kind: "return" } });
    output.push(
      { match: [], effects: [{ kind: "mark-clear", bits: this.allBits }] },
      { match: [], verdict: { kind: "jump", chain: CHAINS.toHostEndpoint } },
      { match: [acceptedMark], verdict: { kind: "accept" }, label: "host endpoint policy accepted packet" },
    );
    this.add({ name: BASE_CHAINS.output, base: { hook: "output", priority: HOOK_PRIORITY.filter, policy: "accept" }, rules: output });

    const mangle: DpRule[] = [
      { match: [{ kind: "ct", states: ["established", "related"] }], verdict: { kind: "accept" } },
      { match: [acceptedMark], verdict: { kind: "accept" } },
      ...this.wlIfaceMatches("in").map((m) => ({ match: [m], verdict: { kind: "accept" } }) as DpRule),
      { match: [], verdict: { kind: "jump", chain: CHAINS.mangleFromHostEndpoint } },
      { match: [acceptedMark], verdict: { kind: "accept" }, label: "host endpoint policy accepted packet" },
    ];
    this.add({ name: BASE_CHAINS.manglePrerouting, base: { hook: "prerouting", priority: HOOK_PRIORITY.mangle, policy: "accept" }, rules: mangle });

    const rawPre: DpRule[] = [{ match: [], effects: [{ kind: "mark-clear", bits: this.allBits }] }];
    rawPre.push(...this.wlIfaceMatches("in").map((m) => ({ match: [m], verdict: { kind: "accept" } }) as DpRule));
    rawPre.push({ match: [], verdict: { kind: "jump", chain: CHAINS.rawFromHostEndpoint } }, { match: [acceptedMark], verdict: { kind: "accept" } });
    this.add({ name: BASE_CHAINS.rawPrerouting, base: { hook: "prerouting", priority: HOOK_PRIORITY.raw, policy: "accept" }, rules: rawPre });
    const rawOut: DpRule[] = [
      { match: [], effects: [{ kind: "mark-clear", bits: this.allBits }] },
      ...this.wlIfaceMatches("out").map((m) => ({ match: [m], verdict: { kind: "accept" } }) as DpRule),
      { match: [], verdict: { kind: "jump", chain: CHAINS.rawToHostEndpoint } },
      { match: [acceptedMark], verdict: { kind: "accept" } },
    ];
    this.add({ name: BASE_CHAINS.rawOutput, base: { hook: "output", priority: HOOK_PRIORITY.raw, policy: "accept" }, rules: rawOut });
  }
}

/**
 * The node's model, kept between builds. `build(ir)` returns the model of `ir`, equal to
 * `buildDataplane(ir, node)`, rebuilding only the pieces whose inputs or facts changed since the
 * previous call (see the file comment). Unchanged chains, sets and maps are the same objects as in
 * the previous model, which makes diffModels between the two cheap. Models returned earlier are
 * never modified.
 */
export class DataplaneBuilder {
  readonly node: string;
  readonly config: DataplaneConfig;
  private readonly registry: SetRegistry;
  private readonly maker: PieceMaker;
  private ir: ClusterIR | undefined;

  private readonly endpointPieces = new Map<string, Piece>();
  private readonly chainPieces = new Map<string, Piece>();
  private frame: FramePiece | undefined;
  /** Chains an endpoint jumps to → spec and number of endpoint pieces naming it. */
  private readonly targets = new Map<string, { spec: ChainSpec; refs: number }>();
  /** Every chain of every piece. */
  private readonly chains = new Map<string, DpChain>();
  private readonly setRefs = new Map<string, { spec: SetSpec; refs: number }>();
  private readonly logRefs = new Map<string, { entry: LogEntry; refs: number }>();
  /** Fact dependency ("s:<set>", "p:<policy>") → the pieces that consulted such facts, each with
   *  those facts. Not every fact of the piece: a group chain consults facts of hundreds of sets,
   *  and walking all of them for each changed set was a pod add's largest cost at 100k pods. */
  private readonly factIndex = new Map<string, Map<Piece, Fact[]>>();
  /** "p:<policy>" / "r:<profile>" → names of the chain pieces made from it. */
  private readonly chainsByInput = new Map<string, Set<string>>();
  /** Targets that appeared / lost their last endpoint since the chains were last brought in line. */
  private readonly wanted = new Set<string>();
  private readonly orphaned = new Set<string>();
  /** Spec of every chain piece (its target entry may be gone by the time it is removed). */
  private readonly chainSpecs = new Map<string, ChainSpec>();
  /** Sorted log prefixes: made once, then patched in place as prefixes come and go (re-sorting
   *  thousands of names because one piece was rebuilt cost more than the rebuild). */
  private logNames: string[] | undefined;
  /** Chain names added, removed or rebuilt, and set names that came or went, since the last build. */
  private chainsTouched = new Set<string>();
  private setNamesTouched = new Set<string>();
  private setObjects = new Map<string, DpSet>();
  /** The previous model's chains, sets and log index: the next model's are these with the
   *  touched names edited, and the same objects when none changed, so that consumers (the
   *  applier's kernel view, diffModels) can skip them by identity. */
  private chainMap: ChunkedMap<DpChain> | undefined;
  private setMap: ChunkedMap<DpSet> | undefined;
  private logRecord: Record<string, LogEntry> | undefined;
  private lastStats: BuildStats = { full: true, endpoints: 0, chains: 0, frame: false, sets: 0 };
  /** The model the last build returned (what the next one records its set changes against). */
  private lastModel: DataplaneModel | undefined;

  constructor(node: string, opts: BuildOptions = {}) {
    this.node = node;
    this.config = { ...DEFAULT_CONFIG, ...opts.config };
    const empty = emptyClusterIR();
    this.registry = new SetRegistry(empty);
    this.maker = new PieceMaker(empty, this.config, this.registry);
  }

  get stats(): BuildStats {
    return this.lastStats;
  }

  /**
   * Uses idle time to make the patching indexes of sets that have not changed yet, for at most
   * `budgetMs`; true when nothing is left to prepare. Models are unaffected; only the cost of a
   * set's first change moves here.
   */
  prepareForChanges(budgetMs: number): boolean {
    return this.registry.prepareForChanges(performance.now() + budgetMs);
  }

  /** Sets prepareForChanges has not reached yet. */
  get unpreparedSets(): number {
    return this.registry.unprepared;
  }

  /** Names of the compiled sets the builder holds (for tests of pruning). */
  compiledSetNames(): string[] {
    return this.registry.compiledNames();
  }

  build(ir: ClusterIR): DataplaneModel {
    try {
      return this.update(ir);
    } catch (e) {
      // A half-applied update leaves the pieces inconsistent: start over at the next build.
      this.reset();
      throw e;
    }
  }

  private reset(): void {
    this.ir = undefined;
    this.endpointPieces.clear();
    this.chainPieces.clear();
    this.frame = undefined;
    this.targets.clear();
    this.chains.clear();
    this.setRefs.clear();
    this.logRefs.clear();
    this.factIndex.clear();
    this.chainsByInput.clear();
    this.chainSpecs.clear();
    this.wanted.clear();
    this.orphaned.clear();
    this.logNames = undefined;
    this.chainsTouched = new Set();
    this.setNamesTouched = new Set();
    this.logRecord = undefined;
    this.chainMap = this.setMap = undefined;
    this.lastModel = undefined;
    this.setObjects = new Map();
    this.registry.update(emptyClusterIR(), this.registry.ids());
  }

  private update(ir: ClusterIR): DataplaneModel {
    const prev = this.ir;
    const full = prev === undefined;
    const stats: BuildStats = { full, endpoints: 0, chains: 0, frame: false, sets: 0 };
    this.ir = ir;
    this.maker.ir = ir;

    // 1. What changed: IR objects replaced since the previous build, and the pieces whose facts
    //    (which depend on those objects) now say something else.
    // The IR's producer may have recorded which keys it touched (a superset of the changed ones);
    // otherwise the maps are compared by the chunks they do not share.
    const recorded = prev ? irChangesFrom(ir, prev) : undefined;
    const changed = <T>(a: ChunkedMap<T>, b: ChunkedMap<T>, keys: readonly string[] | undefined) => (keys ? keys.filter((k) => a.get(k) !== b.get(k)) : b.changedKeys(a));
    const changedSets = prev ? changed(prev.sets, ir.sets, recorded?.sets) : [];
    const changedPolicies = prev ? changed(prev.policies, ir.policies, recorded?.policies) : [];
    const droppedSets = this.registry.update(ir, changedSets);
    const stale = new Set<Piece>();
    const deps = [...changedSets.map((id: SetId) => `s:${id}`), ...changedPolicies.map((k) => `p:${k}`)];
    for (const dep of deps) {
      for (const [piece, facts] of this.factIndex.get(dep) ?? []) {
        if (stale.has(piece)) continue;
        for (const f of facts) {
          if (f.compute() !== f.value) {
            stale.add(piece);
            break;
          }
        }
      }
    }
    const rebuilt: DpChain[] = [];

    // 2. Endpoint pieces. Everything to replace is removed before anything is added, so a chain
    //    name that moves from one endpoint to another is not taken for a collision.
    const local = ir.endpoints.filter((e) => e.node === this.node);
    const keep = new Set<string>();
    const todo: EndpointIR[] = [];
    for (const raw of local) {
      keep.add(raw.key);
      const old = this.endpointPieces.get(raw.key);
      if (old && old.inputs[0] === raw && !stale.has(old)) continue;
      if (old) this.removePiece(old);
      this.endpointPieces.delete(raw.key);
      todo.push(raw);
    }
    for (const [key, p] of this.endpointPieces) {
      if (keep.has(key)) continue;
      this.removePiece(p);
      this.endpointPieces.delete(key);
    }
    for (const raw of todo) {
      const e = withInterface(raw);
      const p = this.maker.endpointPiece(raw, e.interfaceName ? e : undefined);
      this.addPiece(p);
      this.endpointPieces.set(raw.key, p);
      rebuilt.push(...p.chains);
      stats.endpoints++;
    }

    // 3. Policy, group and profile chains: exactly those some endpoint jumps to. Candidates are
    //    the chains of changed policies and profiles, stale ones, and targets that appeared or
    //    lost their last endpoint in step 2 — not every chain.
    //    Group chains name their pieces as targets in turn (groupChunks): a second round builds
    //    the pieces that appeared and drops those that lost their last group.
    const candidates = new Set<string>([...this.wanted, ...this.orphaned]);
    const changedProfiles = prev ? changedRecordKeys(prev.profiles, ir.profiles, recorded?.profiles) : [];
    for (const k of changedPolicies) for (const n of this.chainsByInput.get(`p:${k}`) ?? []) candidates.add(n);
    for (const k of changedProfiles) for (const n of this.chainsByInput.get(`r:${k}`) ?? []) candidates.add(n);
    for (const p of stale) if (p.chainName !== undefined) candidates.add(p.chainName);
    for (let round = 0; candidates.size > 0; round++) {
      if (round > 2) throw new BugError("dataplane chains still name new targets after three rounds");
      this.wanted.clear();
      this.orphaned.clear();
      const build: string[] = [];
      for (const name of candidates) {
        const p = this.chainPieces.get(name);
        const t = this.targets.get(name);
        if (p && t && !stale.has(p) && sameInputs(p.inputs, this.maker.chainInputs(t.spec))) continue;
        if (p) {
          this.removePiece(p);
          this.chainPieces.delete(name);
          this.indexChain(name, false);
        }
        if (t) build.push(name);
      }
      for (const name of build) {
        const p = this.maker.chainPiece(name, this.targets.get(name)!.spec);
        this.addPiece(p);
        this.chainPieces.set(name, p);
        this.indexChain(name, true);
        rebuilt.push(...p.chains);
        stats.chains++;
      }
      candidates.clear();
      for (const name of this.wanted) candidates.add(name);
      for (const name of this.orphaned) candidates.add(name);
    }
    this.wanted.clear();
    this.orphaned.clear();

    // 4. The frame: rebuilt when a local endpoint came, went or changed what the frame reads of
    //    it (frameInputs), not when only its programs changed.
    if (!this.frame || stale.has(this.frame) || !sameInputs(this.frame.inputs, this.maker.frameInputs(local))) {
      if (this.frame) this.removePiece(this.frame);
      this.frame = this.maker.framePiece(local);
      this.addPiece(this.frame);
      rebuilt.push(...this.frame.chains);
      stats.frame = true;
    }

    // 5. Sets: every set a rule names, rebuilt when an IR set it is made of changed.
    let sets: ChunkedMap<DpSet>;
    const changedSetNames: string[] = [];
    const setNamesTouched = this.setNamesTouched;
    this.setNamesTouched = new Set();
    if (!full && this.setMap) {
      // Only names that came or went and the sets the registry dropped for changed IR sets can be
      // other objects now (a pod add at 100k touches ~10 of ~7k sets): the previous model's map
      // with those names edited, sharing every other chunk of names with it.
      const gone = [...setNamesTouched].filter((name) => !this.setRefs.has(name));
      if (gone.length > 0) this.registry.prune((name) => this.setRefs.has(name), gone);
      const redo = new Set<string>(droppedSets);
      for (const name of setNamesTouched) redo.add(name);
      const edits: Array<[string, DpSet | undefined]> = [];
      for (const name of redo) {
        const ref = this.setRefs.get(name);
        if (!ref) {
          if (this.setObjects.delete(name)) {
            changedSetNames.push(name);
            edits.push([name, undefined]);
          }
          continue;
        }
        const set = this.registry.ensureNamed(name, ref.spec);
        if (this.setObjects.get(name) === set) continue;
        stats.sets++;
        changedSetNames.push(name);
        this.setObjects.set(name, set);
        edits.push([name, set]);
      }
      sets = this.setMap.with(edits);
    } else {
      this.registry.prune((name) => this.setRefs.has(name));
      const names = [...this.setRefs.keys()].sort(cmp);
      const values: DpSet[] = [];
      const setObjects = new Map<string, DpSet>();
      for (const name of names) {
        const set = this.registry.ensureNamed(name, this.setRefs.get(name)!.spec);
        if (this.setObjects.get(name) !== set) {
          stats.sets++;
          changedSetNames.push(name);
        }
        setObjects.set(name, set);
        values.push(set);
      }
      if (setObjects.size !== this.setObjects.size || changedSetNames.length > 0) for (const name of this.setObjects.keys()) if (!setObjects.has(name)) changedSetNames.push(name);
      this.setObjects = setObjects;
      sets = ChunkedMap.fromSorted(names, values);
    }
    this.setMap = sets;
    // Chains enter and leave only with pieces: none rebuilt and none removed means the previous
    // map is still exact.
    const chainsTouched = this.chainsTouched;
    this.chainsTouched = new Set();
    let chains = this.chainMap;
    if (!chains) {
      const names = [...this.chains.keys()].sort(cmp);
      chains = ChunkedMap.fromSorted(
        names,
        names.map((n) => this.chains.get(n)!),
      );
    } else if (chainsTouched.size > 0) chains = chains.with([...chainsTouched].map((n) => [n, this.chains.get(n)]));
    this.chainMap = chains;
    let logIndex = this.logRecord;
    if (!logIndex || chainsTouched.size > 0 || this.logNames === undefined) {
      this.logNames ??= [...this.logRefs.keys()].sort(cmp);
      logIndex = {};
      for (const n of this.logNames) logIndex[n] = this.logRefs.get(n)!.entry;
      this.logRecord = logIndex;
    }
    const model: DataplaneModel = { node: this.node, config: this.config, sets, maps: this.frame.maps, chains, endpoints: this.frame.endpoints, logIndex, notes: this.frame.notes };
    // Chains kept from the previous build were checked when they were built, and nothing they
    // name can disappear while they exist: every target and set is reference-counted by the
    // pieces naming it, and the frame (maps, static chains) is rebuilt when a local endpoint comes,
    // goes or gets another interface (the chains its maps name are the endpoints' own).
    if (full) checkReferences(model);
    else checkChainReferences(rebuilt, model, stats.frame);
    if (!full && this.lastModel) {
      recordChanges(model, this.lastModel, "sets", changedSetNames);
      recordChanges(model, this.lastModel, "chains", [...chainsTouched].filter((n) => this.lastModel!.chains.get(n) !== chains.get(n)));
    }
    this.lastModel = model;
    this.lastStats = stats;
    return model;
  }

  private indexChain(name: string, add: boolean): void {
    const t = this.targets.get(name)?.spec;
    const spec = t ?? this.chainSpecs.get(name);
    if (!spec) return;
    const keys = spec.kind === "policy" ? [`p:${spec.key}`] : spec.kind === "group" ? spec.keys.map((k) => `p:${k}`) : spec.kind === "chunk" ? [] : [`r:${spec.key}`];
    for (const k of keys) {
      let s = this.chainsByInput.get(k);
      if (add) {
        if (!s) this.chainsByInput.set(k, (s = new Set()));
        s.add(name);
      } else if (s) {
        s.delete(name);
        if (s.size === 0) this.chainsByInput.delete(k);
      }
    }
    if (add) this.chainSpecs.set(name, spec);
    else this.chainSpecs.delete(name);
  }

  private addPiece(p: Piece): void {
    for (const c of p.chains) {
      if (this.chains.has(c.name)) throw new BugError(`chain ${c.name} built twice`);
      this.chains.set(c.name, c);
      this.chainsTouched.add(c.name);
    }
    for (const [name, spec] of p.targets) {
      const t = this.targets.get(name);
      if (t) t.refs++;
      else {
        this.targets.set(name, { spec, refs: 1 });
        this.wanted.add(name);
      }
    }
    for (const [name, spec] of p.sets) {
      const r = this.setRefs.get(name);
      if (r) r.refs++;
      else {
        this.setRefs.set(name, { spec, refs: 1 });
        this.setNamesTouched.add(name);
      }
    }
    for (const [prefix, entry] of p.logs) {
      const r = this.logRefs.get(prefix);
      if (r) r.refs++;
      else {
        this.logRefs.set(prefix, { entry, refs: 1 });
        if (this.logNames) insertSorted(this.logNames, prefix);
      }
    }
    for (const f of p.facts.values()) {
      let byPiece = this.factIndex.get(f.dep);
      if (!byPiece) this.factIndex.set(f.dep, (byPiece = new Map()));
      const facts = byPiece.get(p);
      if (facts) facts.push(f);
      else byPiece.set(p, [f]);
    }
  }

  private removePiece(p: Piece): void {
    for (const c of p.chains) {
      this.chains.delete(c.name);
      this.chainsTouched.add(c.name);
    }
    for (const name of p.targets.keys()) {
      const t = this.targets.get(name)!;
      if (--t.refs > 0) continue;
      this.targets.delete(name);
      this.orphaned.add(name);
    }
    for (const name of p.sets.keys()) {
      const r = this.setRefs.get(name)!;
      if (--r.refs > 0) continue;
      this.setRefs.delete(name);
      this.setNamesTouched.add(name);
    }
    for (const prefix of p.logs.keys()) {
      const r = this.logRefs.get(prefix)!;
      if (--r.refs > 0) continue;
      this.logRefs.delete(prefix);
      if (this.logNames) removeSorted(this.logNames, prefix);
    }
    for (const f of p.facts.values()) {
      const byPiece = this.factIndex.get(f.dep);
      byPiece?.delete(p);
      if (byPiece && byPiece.size === 0) this.factIndex.delete(f.dep);
    }
  }
}

const frameViews = new WeakMap<EndpointIR, string>();

/** What the frame reads of an endpoint, as one text (equal texts: the same frame), once per IR
 *  object. */
function frameView(e: EndpointIR): string {
  let v = frameViews.get(e);
  if (v === undefined) {
    const w = withInterface(e);
    frameViews.set(e, (v = JSON.stringify([w.key, w.kind, w.interfaceName ?? null, w.ips])));
  }
  return v;
}

/** Pods' endpoints carry no interface name in the IR (Calico's CNI plugin writes it into the
 *  WorkloadEndpoint); derive Calico's veth name the way the plugin does. */
function withInterface(e: EndpointIR): EndpointIR {
  if (e.interfaceName || e.kind !== "workload" || !e.pod) return e;
  const slash = e.pod.indexOf("/");
  return { ...e, interfaceName: caliInterfaceName(e.pod.slice(0, slash), e.pod.slice(slash + 1)) };
}

// ------------------------------------------------------------------------------------ checks

/** Every chain/set/map a rule or map names must exist (the kernel would reject the batch). */
export function checkReferences(m: DataplaneModel): void {
  checkChainReferences(m.chains.valueList(), m, true);
}

function checkChainReferences(chains: Iterable<DpChain>, m: DataplaneModel, maps: boolean): void {
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new BugError(`dataplane model: ${what}`);
  };
  for (const c of chains) {
    for (const r of c.rules) {
      const v = r.verdict;
      if (v && (v.kind === "jump" || v.kind === "goto")) need(m.chains.has(v.chain), `${c.name} targets missing chain ${v.chain}`);
      if (v && v.kind === "dispatch") need(v.map in m.maps, `${c.name} dispatches through missing map ${v.map}`);
      for (const x of r.match) if (x.kind === "addr-set" || x.kind === "concat-set") need(m.sets.has(x.set), `${c.name} names missing set ${x.set}`);
    }
  }
  if (!maps) return;
  for (const mp of Object.values(m.maps)) for (const [k, t] of Object.entries(mp.elements)) need(m.chains.has(t.chain), `map ${mp.name}[${k}] targets missing chain ${t.chain}`);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedRecord<T>(m: Map<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of [...m.keys()].sort(cmp)) out[k] = m.get(k)!;
  return out;
}
