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
 */
import { BugError } from "../model/index.js";
import { caliInterfaceName } from "../netns/index.js";
import { failsafeFor, type ClusterIR, type DirectionProgram, type EndpointIR, type PolicyKey, type RuleIR } from "../rule/index.js";
import { compileAllowRuns, compileMatch, SetRegistry } from "./compile.js";
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

export function buildDataplane(ir: ClusterIR, node: string, opts: BuildOptions = {}): DataplaneModel {
  return new Builder(ir, node, { ...DEFAULT_CONFIG, ...opts.config }).build();
}

class Builder {
  private readonly chains = new Map<string, DpChain>();
  private readonly maps = new Map<string, DpMap>();
  private readonly logIndex = new Map<string, LogEntry>();
  private readonly sets: SetRegistry;
  private readonly notes: string[] = [];
  private readonly allBits: number;

  constructor(
    private readonly ir: ClusterIR,
    private readonly node: string,
    private readonly cfg: DataplaneConfig,
  ) {
    this.sets = new SetRegistry(ir);
    this.allBits = cfg.markAccept | cfg.markPass;
  }

  build(): DataplaneModel {
    const local = this.ir.endpoints.filter((e) => e.node === this.node);
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
    this.workloadChains(workloads);
    this.hostChains(hosts);
    this.baseChains(hosts.length > 0);

    for (const c of this.chains.values()) for (const r of c.rules) this.markSetsUsed(r.match);
    const endpoints: DpEndpoint[] = [...workloads, ...hosts]
      .map((e) => ({ key: e.key, kind: e.kind, iface: e.interfaceName!, ips: [...e.ips] }))
      .sort((a, b) => cmp(a.key, b.key));
    const model: DataplaneModel = {
      node: this.node,
      config: this.cfg,
      sets: Object.fromEntries(this.sets.usedSets().map((s) => [s.name, s])),
      maps: sortedRecord(this.maps),
      chains: sortedRecord(this.chains),
      endpoints,
      logIndex: sortedRecord(this.logIndex),
      notes: this.notes,
    };
    checkReferences(model);
    return model;
  }

  // ---------------------------------------------------------------------------------- helpers

  private markSetsUsed(ms: DpMatch[]): void {
    for (const m of ms) if (m.kind === "addr-set" || m.kind === "concat-set") this.sets.markUsed(m.set);
  }

  private addChain(c: DpChain): void {
    if (this.chains.has(c.name)) throw new BugError(`chain ${c.name} built twice`);
    this.chains.set(c.name, c);
  }

  private map(name: string): DpMap {
    let m = this.maps.get(name);
    if (!m) this.maps.set(name, (m = { name, key: "ifname", elements: {} }));
    return m;
  }

  private deny(): DpVerdict {
    return { kind: this.cfg.denyAction === "reject" ? "reject" : "drop" };
  }

  private log(prefix: string, entry: LogEntry): DpEffect {
    this.logIndex.set(prefix, entry);
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

  /** Workload interfaces that match none of the configured prefixes (e.g. an OpenStack "tap…"
   *  endpoint with the default "cali" prefix). Felix would leave them unpoliced; we dispatch them
   *  by exact name so that every workload endpoint the IR has is enforced. */
  private extraWorkloadIfaces: string[] = [];

  private wlIfaceMatches(dir: "in" | "out", negate = false): DpMatch[] {
    const n = negate ? { negate: true } : {};
    return [
      ...this.cfg.workloadInterfacePrefixes.map((p) => ({ kind: "iface", dir, name: p, prefix: true, ...n }) as DpMatch),
      ...this.extraWorkloadIfaces.map((name) => ({ kind: "iface", dir, name, ...n }) as DpMatch),
    ];
  }

  // ---------------------------------------------------------------------------------- policy chains

  private policyChain(key: PolicyKey, dir: Dir): string {
    const name = policyChainName(key, dir);
    if (this.chains.has(name)) return name;
    const pol = this.ir.policies[key];
    if (!pol) throw new BugError(`program references policy ${key} which is not in the IR`);
    this.addChain({ name, rules: this.ruleList(name, dir === "ingress" ? pol.ingress : pol.egress) });
    return name;
  }

  /** True when every rule of the policy for `dir` is an Allow (no Pass, Deny or Log). */
  private allowOnly(key: PolicyKey, dir: Dir): boolean {
    const pol = this.ir.policies[key];
    if (!pol) throw new BugError(`program references policy ${key} which is not in the IR`);
    return (dir === "ingress" ? pol.ingress : pol.egress).every((r) => r.action === "Allow");
  }

  /**
   * The chains an endpoint chain jumps to for one tier's policies, in order. Consecutive
   * allow-only policies (the shape of every Kubernetes NetworkPolicy) share one group chain holding
   * all their rules in order: "first matching rule of P1, else of P2, …" is the same as running P1,
   * P2, … one after the other when every rule allows, so the verdict is unchanged — and the group's
   * rules then compile into set lookups together (compileAllowRuns), making the per-packet cost of
   * many allow policies on one endpoint a few lookups instead of a jump per policy.
   */
  private tierJumps(policies: PolicyKey[], dir: Dir): string[] {
    const out: string[] = [];
    let run: PolicyKey[] = [];
    const flush = () => {
      if (run.length === 1) out.push(this.policyChain(run[0]!, dir));
      else if (run.length > 1) out.push(this.groupChain(run, dir));
      run = [];
    };
    for (const key of policies) {
      if (this.cfg.groupAllowPolicies && this.allowOnly(key, dir)) run.push(key);
      else {
        flush();
        out.push(this.policyChain(key, dir));
      }
    }
    flush();
    return out;
  }

  private groupChain(keys: PolicyKey[], dir: Dir): string {
    const name = policyGroupChainName(keys, dir);
    if (this.chains.has(name)) return name;
    const rules = keys.flatMap((k) => {
      const pol = this.ir.policies[k]!;
      return dir === "ingress" ? pol.ingress : pol.egress;
    });
    this.addChain({ name, rules: this.ruleList(name, rules) });
    return name;
  }

  private profileChain(key: PolicyKey, dir: Dir): string {
    const name = profileChainName(key, dir);
    if (this.chains.has(name)) return name;
    const prof = this.ir.profiles[key];
    // A profile named by an endpoint but absent from the datastore contributes nothing: Felix
    // renders a jump to an empty chain.
    this.addChain({ name, rules: prof ? this.ruleList(name, dir === "ingress" ? prof.ingress : prof.egress) : [] });
    return name;
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

  private ruleList(chain: string, rules: RuleIR[]): DpRule[] {
    const out: DpRule[] = [];
    for (const rule of rules) {
      const action = this.actionOf(rule);
      for (const family of FAMILIES) {
        for (const match of compileMatch(rule, family, this.sets)) {
          out.push({ match, ...action, origin: rule.origin, label: originLabel(rule.origin) });
        }
      }
    }
    if (!this.cfg.compileAllowRuns) return out;
    const plain = { effects: [{ kind: "mark-set", bits: this.cfg.markAccept }] as DpEffect[], verdict: { kind: "return" } as DpVerdict };
    const sig = JSON.stringify(plain);
    const isPlainAllow = (r: DpRule) => JSON.stringify({ effects: r.effects, verdict: r.verdict }) === sig;
    return compileAllowRuns(out, isPlainAllow, this.sets, chain, plain);
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
        rules.push({ match: [], verdict: { kind: "jump", chain: this.profileChain(key, dir) } });
        rules.push({ match: [this.markSet(c.markAccept)], verdict: { kind: "return" }, label: "return if profile accepted" });
      }
      const effects = c.logDenied ? [this.log(noProfileLogPrefix(dir), { kind: "no-profile", direction: dir })] : undefined;
      rules.push({ match: [], ...(effects ? { effects } : {}), verdict: this.deny(), label: "no profile accepted" });
    }
    this.addChain({ name, rules });
  }

  private dispatchTo(mapName: string, iface: string, kind: EndpointChainKind): string {
    const chain = endpointChainName(kind, iface);
    this.map(mapName).elements[iface] = { verdict: "goto", chain };
    return chain;
  }

  private workloadChains(workloads: EndpointIR[]): void {
    for (const e of workloads) {
      const iface = e.interfaceName!;
      this.endpointChain(this.dispatchTo(MAPS.toWorkload, iface, "toWorkload"), e.ingress, "ingress", "normal", undefined);
      this.endpointChain(this.dispatchTo(MAPS.fromWorkload, iface, "fromWorkload"), e.egress, "egress", "normal", undefined);
    }
    this.map(MAPS.toWorkload);
    this.map(MAPS.fromWorkload);
    // Unknown workload interface → drop (Felix: the dispatch trie ends in a drop).
    this.addChain({
      name: CHAINS.fromWorkloadDispatch,
      rules: [{ match: [], verdict: { kind: "dispatch", iface: "in", map: MAPS.fromWorkload } }, { match: [], verdict: { kind: "drop" }, label: "unknown interface" }],
    });
    this.addChain({
      name: CHAINS.toWorkloadDispatch,
      rules: [{ match: [], verdict: { kind: "dispatch", iface: "out", map: MAPS.toWorkload } }, { match: [], verdict: { kind: "drop" }, label: "unknown interface" }],
    });
    const toHost: DpRule[] = ICMPV6_HOST_TYPES.map((t) => ({ match: [{ kind: "icmp", family: 6, type: t }] as DpMatch[], verdict: { kind: "accept" } as DpVerdict }));
    toHost.push({ match: [], verdict: { kind: "jump", chain: CHAINS.fromWorkloadDispatch } });
    const eth = this.ir.defaultEndpointToHostAction ?? this.cfg.endpointToHostAction;
    toHost.push({
      match: [],
      verdict: eth === "Accept" ? { kind: "accept" } : eth === "Return" ? { kind: "return" } : this.deny(),
      label: "DefaultEndpointToHostAction",
    });
    this.addChain({ name: CHAINS.workloadToHost, rules: toHost });
  }

  private hostChains(hosts: EndpointIR[]): void {
    if (hosts.length === 0) return;
    this.failsafeChain(CHAINS.failsafeIn, failsafeFor(this.ir, "ingress"));
    this.failsafeChain(CHAINS.failsafeOut, failsafeFor(this.ir, "egress"));
    const dispatch: Array<[string, string, "in" | "out", EndpointChainKind]> = [];
    const none: DirectionProgram = { tiers: [], stagedTiers: [], profiles: [] };
    for (const e of hosts) {
      const iface = e.interfaceName!;
      const fwd = e.forward ?? { ingress: none, egress: none };
      const untracked = e.untracked ?? { ingress: none, egress: none };
      const pre = e.preDNAT ?? none;
      const add = (mapName: string, kind: EndpointChainKind, program: DirectionProgram, dir: Dir, flavour: Flavour, failsafe?: string) => {
        const name = endpointChainName(kind, iface);
        if (iface !== "*") this.map(mapName).elements[iface] = { verdict: "goto", chain: name };
        else dispatch.push([mapName, name, kind.startsWith("to") || kind === "rawToHost" ? "out" : "in", kind]);
        this.endpointChain(name, program, dir, flavour, failsafe);
      };
      add(MAPS.fromHostEndpoint, "fromHost", e.ingress, "ingress", "normal", CHAINS.failsafeIn);
      add(MAPS.toHostEndpoint, "toHost", e.egress, "egress", "normal", CHAINS.failsafeOut);
      add(MAPS.fromHostEndpointForward, "fromHostForward", fwd.ingress, "ingress", "forward");
      add(MAPS.toHostEndpointForward, "toHostForward", fwd.egress, "egress", "forward");
      add(MAPS.mangleFromHostEndpoint, "mangleFromHost", pre, "ingress", "preDNAT", CHAINS.failsafeIn);
      add(MAPS.rawFromHostEndpoint, "rawFromHost", untracked.ingress, "ingress", "untracked", CHAINS.failsafeIn);
      add(MAPS.rawToHostEndpoint, "rawToHost", untracked.egress, "egress", "untracked", CHAINS.failsafeOut);
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
      const star = dispatch.find(([m]) => m === mapName);
      if (star) {
        for (const w of this.wlIfaceMatches(dir)) rules.push({ match: [w], verdict: { kind: "return" } });
        rules.push({ match: [], verdict: { kind: "goto", chain: star[1] } });
      }
      this.addChain({ name: chain, rules });
    }
  }

  private failsafeChain(name: string, rules: RuleIR[]): void {
    const out: DpRule[] = [];
    for (const r of rules) {
      for (const family of FAMILIES) {
        for (const match of compileMatch(r, family, this.sets)) out.push({ match, verdict: { kind: "accept" }, origin: r.origin, label: originLabel(r.origin) });
      }
    }
    this.addChain({ name, rules: out });
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
    this.addChain({ name: BASE_CHAINS.forward, base: { hook: "forward", priority: HOOK_PRIORITY.filter, policy: "accept" }, rules: fwd });

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
    this.addChain({ name: BASE_CHAINS.input, base: { hook: "input", priority: HOOK_PRIORITY.filter, policy: "accept" }, rules: input });

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
    this.addChain({ name: BASE_CHAINS.output, base: { hook: "output", priority: HOOK_PRIORITY.filter, policy: "accept" }, rules: output });

    const mangle: DpRule[] = [
      { match: [{ kind: "ct", states: ["established", "related"] }], verdict: { kind: "accept" } },
      { match: [acceptedMark], verdict: { kind: "accept" } },
      ...this.wlIfaceMatches("in").map((m) => ({ match: [m], verdict: { kind: "accept" } }) as DpRule),
      { match: [], verdict: { kind: "jump", chain: CHAINS.mangleFromHostEndpoint } },
      { match: [acceptedMark], verdict: { kind: "accept" }, label: "host endpoint policy accepted packet" },
    ];
    this.addChain({ name: BASE_CHAINS.manglePrerouting, base: { hook: "prerouting", priority: HOOK_PRIORITY.mangle, policy: "accept" }, rules: mangle });

    const rawPre: DpRule[] = [{ match: [], effects: [{ kind: "mark-clear", bits: this.allBits }] }];
    rawPre.push(...this.wlIfaceMatches("in").map((m) => ({ match: [m], verdict: { kind: "accept" } }) as DpRule));
    rawPre.push({ match: [], verdict: { kind: "jump", chain: CHAINS.rawFromHostEndpoint } }, { match: [acceptedMark], verdict: { kind: "accept" } });
    this.addChain({ name: BASE_CHAINS.rawPrerouting, base: { hook: "prerouting", priority: HOOK_PRIORITY.raw, policy: "accept" }, rules: rawPre });
    const rawOut: DpRule[] = [
      { match: [], effects: [{ kind: "mark-clear", bits: this.allBits }] },
      ...this.wlIfaceMatches("out").map((m) => ({ match: [m], verdict: { kind: "accept" } }) as DpRule),
      { match: [], verdict: { kind: "jump", chain: CHAINS.rawToHostEndpoint } },
      { match: [acceptedMark], verdict: { kind: "accept" } },
    ];
    this.addChain({ name: BASE_CHAINS.rawOutput, base: { hook: "output", priority: HOOK_PRIORITY.raw, policy: "accept" }, rules: rawOut });
  }
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
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new BugError(`dataplane model: ${what}`);
  };
  for (const c of Object.values(m.chains)) {
    for (const r of c.rules) {
      const v = r.verdict;
      if (v && (v.kind === "jump" || v.kind === "goto")) need(v.chain in m.chains, `${c.name} targets missing chain ${v.chain}`);
      if (v && v.kind === "dispatch") need(v.map in m.maps, `${c.name} dispatches through missing map ${v.map}`);
      for (const x of r.match) if (x.kind === "addr-set" || x.kind === "concat-set") need(x.set in m.sets, `${c.name} names missing set ${x.set}`);
    }
  }
  for (const mp of Object.values(m.maps)) for (const [k, t] of Object.entries(mp.elements)) need(t.chain in m.chains, `map ${mp.name}[${k}] targets missing chain ${t.chain}`);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedRecord<T>(m: Map<string, T>): Record<string, T> {
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => cmp(a, b)));
}
