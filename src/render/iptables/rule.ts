/**
 * One dataplane rule → iptables rules (argument lists, without chain and comment), for one family
 * and one table. Mechanical: every model condition maps to fixed iptables syntax; where iptables
 * cannot say something in one rule, the rule is split, and each split is exact:
 *
 *  - Protocol. iptables takes one `-p` per rule. The rule's protocol conditions (positive lists,
 *    negated lists, and the protocol an ICMP match implies) are intersected first; a positive
 *    result becomes one alternative per protocol (disjoint: a packet has one protocol). A negated
 *    list of one is `! -p x`; a longer one is a "match block" on scratch mark bit 0 (Felix's
 *    technique): clear the bit, set it for each listed protocol, then require it clear.
 *  - Address lists. `-s a,b` would expand into several kernel rules behind our back, and `! -s a,b`
 *    is refused. A positive list becomes one alternative per CIDR (the model's CIDRs are canonical
 *    and non-overlapping, hence disjoint); a negated list of several becomes one
 *    `-m iprange ! --src-range first-last` per CIDR in the same rule (all must miss). Only one
 *    `-s`/`-d` is allowed per rule, so further address conditions on a side use iprange as well.
 *  - Ports. multiport takes at most 15 slots (a range takes 2). A positive list is cut into chunks,
 *    one alternative each (disjoint after merging); a negated list becomes one
 *    `-m multiport ! --dports chunk` per chunk in the same rule. See chunkPorts.
 *  - Effects. An iptables rule has one target, so each effect (MARK, NFLOG, CT --notrack) and the
 *    verdict is its own rule with the same conditions. That is exact only while no effect changes
 *    what the conditions read (a MARK effect on a rule that matches marks); then, or when it is
 *    shorter, the conditions are evaluated once into scratch mark bit 1 and the effects and the
 *    verdict test that bit instead.
 *  - Reject. `-p tcp -j REJECT --reject-with tcp-reset`, then REJECT with
 *    icmp-admin-prohibited / icmp6-adm-prohibited for everything else. The kernel allows REJECT
 *    only at the INPUT/FORWARD/OUTPUT hooks, so in the raw and mangle tables (preDNAT and
 *    doNotTrack policy) a reject is rendered as DROP, as Felix does there: the packet is denied
 *    either way, only the answer is lost.
 *
 * Alternatives are always disjoint, so a packet matches at most one of them and effects run at most
 * once per packet, as in the model.
 */
import { BugError } from "../../model/index.js";
import { normRanges, type DpEffect, type DpMap, type DpMatch, type DpRule, type DpVerdict, type Family } from "../../dataplane/index.js";
import { formatAddr, parseCidr, type PortRange } from "../../rule/index.js";

export type IptTable = "filter" | "mangle" | "raw";

/** One iptables rule: its arguments after `-A <chain>` (the comment is added by the caller). */
export interface KRule {
  args: string[];
  label?: string;
}

export interface RuleContext {
  family: Family;
  table: IptTable;
  /** Scratch mark bits [0: protocol match blocks, 1: effect blocks]; disjoint from model marks. */
  scratch: readonly [number, number];
  maps: Record<string, DpMap>;
  /** Chain name in the kernel for a model chain name (base chains are renamed). */
  chainName: (model: string) => string;
}

/** Protocols multiport (and the port fields of ipset hash:*,port) accept. */
const MULTIPORT_PROTOCOLS = new Set([6, 17, 33, 132, 136]);
/** multiport's limit: XT_MULTI_PORTS = 15 slots, a range takes two. */
export const MULTIPORT_SLOTS = 15;

const PROTO_NAMES: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp", 136: "udplite" };

export function protoName(p: number): string {
  if (!Number.isInteger(p) || p <= 0 || p > 255) throw new BugError(`protocol ${p} cannot be matched with -p (0 means "all" to iptables)`);
  return PROTO_NAMES[p] ?? String(p);
}

export const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/**
 * Cuts port ranges into multiport lists of at most 15 slots. Ranges are merged first (same union),
 * so the chunks are disjoint; a single-port range takes one slot, a true range two.
 */
export function chunkPorts(ranges: PortRange[]): string[][] {
  const chunks: string[][] = [];
  let cur: string[] = [];
  let slots = 0;
  for (const r of normRanges(ranges)) {
    const need = r.first === r.last ? 1 : 2;
    if (slots + need > MULTIPORT_SLOTS) {
      chunks.push(cur);
      cur = [];
      slots = 0;
    }
    cur.push(r.first === r.last ? String(r.first) : `${r.first}:${r.last}`);
    slots += need;
  }
  if (cur.length > 0) chunks.push(cur);
  return chunks;
}

/** first-last text of a CIDR for -m iprange. */
function rangeText(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) throw new BugError(`invalid CIDR ${cidr}`);
  const bits = c.family === 4 ? 32 : 128;
  const last = c.base | ((1n << BigInt(bits - c.prefix)) - 1n);
  return `${formatAddr({ family: c.family, value: c.base })}-${formatAddr({ family: c.family, value: last })}`;
}

/** One disjunct of a rule's conditions. */
interface Alt {
  proto?: number;
  negProto: number[];
  ifIn?: string[];
  ifOut?: string[];
  src?: string[];
  dst?: string[];
  mods: string[];
}

function altArgs(a: Alt, scratch0: number): string[] {
  const out: string[] = [];
  if (a.proto !== undefined) out.push("-p", protoName(a.proto));
  else if (a.negProto.length === 1) out.push("!", "-p", protoName(a.negProto[0]!));
  else if (a.negProto.length > 1) out.push("-m", "mark", "--mark", `0x0/${hex(scratch0)}`);
  out.push(...(a.ifIn ?? []), ...(a.ifOut ?? []), ...(a.src ?? []), ...(a.dst ?? []), ...a.mods);
  return out;
}

const clone = (a: Alt): Alt => ({ ...a, negProto: [...a.negProto], mods: [...a.mods] });

const CT_NAMES = { established: "ESTABLISHED", related: "RELATED", invalid: "INVALID", new: "NEW", untracked: "UNTRACKED" } as const;

function matchFamily(m: DpMatch): Family | undefined {
  return "family" in m ? m.family : undefined;
}

export interface Translated {
  /** Non-terminating rules that must run before the alternatives (match blocks). */
  setup: string[][];
  alts: Alt[];
}

/**
 * The rule's conditions as disjoint alternatives, or null when the rule does not exist in this
 * family (a condition of the other family).
 */
export function translateMatch(conj: DpMatch[], ctx: RuleContext): Translated | null {
  for (const m of conj) {
    const f = matchFamily(m);
    if (f !== undefined && f !== ctx.family) return null;
  }
  // Protocol conditions first: they decide the alternatives' -p.
  let pos: number[] | undefined;
  const neg = new Set<number>();
  for (const m of conj) {
    if (m.kind === "proto") {
      if (m.negate) m.protocols.forEach((p) => neg.add(p));
      else pos = pos ? pos.filter((p) => m.protocols.includes(p)) : [...new Set(m.protocols)];
    } else if (m.kind === "icmp") {
      const p = m.family === 4 ? 1 : 58;
      pos = pos ? pos.filter((x) => x === p) : [p];
    }
  }
  const setup: string[][] = [];
  let alts: Alt[];
  if (pos) alts = pos.filter((p) => !neg.has(p)).map((p) => ({ proto: p, negProto: [], mods: [] }));
  else {
    const negList = [...neg].sort((a, b) => a - b);
    alts = [{ negProto: negList, mods: [] }];
    if (negList.length > 1) {
      const s0 = ctx.scratch[0];
      setup.push(["-j", "MARK", "--set-xmark", `0x0/${hex(s0)}`]);
      for (const p of negList) setup.push(["-p", protoName(p), "-j", "MARK", "--set-xmark", `${hex(s0)}/${hex(s0)}`]);
    }
  }

  const sideUsed = { src: false, dst: false };
  for (const m of conj) {
    if (alts.length === 0) break;
    switch (m.kind) {
      case "family":
      case "proto":
        break;
      case "iface": {
        const toks = [...(m.negate ? ["!"] : []), m.dir === "in" ? "-i" : "-o", m.prefix ? `${m.name}+` : m.name];
        for (const a of alts) {
          const key = m.dir === "in" ? "ifIn" : "ifOut";
          if (a[key]) throw new BugError(`rule has two ${m.dir}-interface conditions; iptables allows one`);
          a[key] = toks;
        }
        break;
      }
      case "ct":
        for (const a of alts) a.mods.push("-m", "conntrack", ...(m.negate ? ["!"] : []), "--ctstate", m.states.map((s) => CT_NAMES[s]).join(","));
        break;
      case "mark":
        for (const a of alts) a.mods.push("-m", "mark", ...(m.negate ? ["!"] : []), "--mark", `${hex(m.value)}/${hex(m.mask)}`);
        break;
      case "addr": {
        const flag = m.side === "src" ? "-s" : "-d";
        const rflag = m.side === "src" ? "--src-range" : "--dst-range";
        const key = m.side;
        if (m.negate) {
          if (m.cidrs.length === 0) break;
          if (m.cidrs.length === 1 && !sideUsed[key]) {
            sideUsed[key] = true;
            for (const a of alts) a[key] = ["!", flag, m.cidrs[0]!];
          } else {
            for (const a of alts) for (const c of m.cidrs) a.mods.push("-m", "iprange", "!", rflag, rangeText(c));
          }
        } else {
          const useFlag = !sideUsed[key];
          sideUsed[key] = true;
          alts = alts.flatMap((a) =>
            m.cidrs.map((c) => {
              const b = clone(a);
              if (useFlag) b[key] = [flag, c];
              else b.mods.push("-m", "iprange", rflag, rangeText(c));
              return b;
            }),
          );
        }
        break;
      }
      case "addr-set":
        // Masked lookups stand in for interval sets in the nftables kernel view only; ipset's
        // hash:net holds CIDRs itself.
        if (m.prefix !== undefined) throw new BugError(`set ${m.set}: masked lookups are not rendered for iptables`);
        for (const a of alts) a.mods.push("-m", "set", ...(m.negate ? ["!"] : []), "--match-set", m.set, m.side);
        break;
      case "concat-set": {
        const flags = concatFlags(m.key, m.set);
        for (const a of alts) a.mods.push("-m", "set", ...(m.negate ? ["!"] : []), "--match-set", m.set, flags);
        break;
      }
      case "port": {
        const opt = m.side === "src" ? "--sports" : "--dports";
        for (const a of alts) {
          if (a.proto === undefined || !MULTIPORT_PROTOCOLS.has(a.proto)) {
            throw new BugError(`port condition without a port-carrying protocol (model rules pair ports with a protocol)`);
          }
        }
        const chunks = chunkPorts(m.ranges);
        if (m.negate) {
          for (const a of alts) for (const ch of chunks) a.mods.push("-m", "multiport", "!", opt, ch.join(","));
        } else {
          alts = alts.flatMap((a) =>
            chunks.map((ch) => {
              const b = clone(a);
              b.mods.push("-m", "multiport", opt, ch.join(","));
              return b;
            }),
          );
        }
        break;
      }
      case "icmp": {
        const v4 = m.family === 4;
        const val = m.code === undefined ? String(m.type) : `${m.type}/${m.code}`;
        for (const a of alts) a.mods.push("-m", v4 ? "icmp" : "icmp6", ...(m.negate ? ["!"] : []), v4 ? "--icmp-type" : "--icmpv6-type", val);
        break;
      }
      default: {
        const never: never = m;
        throw new BugError(`unknown dataplane match ${JSON.stringify(never)}`);
      }
    }
  }
  return { setup, alts };
}

/** xt_set direction flags of a concatenated lookup: one per ipset dimension (address, port). */
function concatFlags(key: string[], set: string): string {
  const k = key.join(",");
  const dir = (f: string) => (f.startsWith("s") ? "src" : "dst");
  if (key.length === 1 && (k === "saddr" || k === "daddr")) return dir(key[0]!);
  if (key.length === 3 && /^(saddr|daddr),l4proto,(sport|dport)$/.test(k)) return `${dir(key[0]!)},${dir(key[2]!)}`;
  throw new BugError(`set ${set}: lookup key ${k} has no ipset equivalent`);
}

function effectArgs(e: DpEffect): string[] {
  switch (e.kind) {
    case "mark-set":
      return ["-j", "MARK", "--set-xmark", `${hex(e.bits)}/${hex(e.bits)}`];
    case "mark-clear":
      return ["-j", "MARK", "--set-xmark", `0x0/${hex(e.bits)}`];
    case "log":
      return ["-j", "NFLOG", "--nflog-group", String(e.group), "--nflog-prefix", e.prefix];
    case "notrack":
      return ["-j", "CT", "--notrack"];
    default: {
      const never: never = e;
      throw new BugError(`unknown dataplane effect ${JSON.stringify(never)}`);
    }
  }
}

function effectWrites(e: DpEffect): number {
  return e.kind === "mark-set" || e.kind === "mark-clear" ? e.bits : 0;
}

/** Kernel rules of a verdict for one alternative (several for reject: TCP reset first). */
function verdictRules(v: DpVerdict, a: Alt, ctx: RuleContext): string[][] {
  const s0 = ctx.scratch[0];
  switch (v.kind) {
    case "accept":
      return [[...altArgs(a, s0), "-j", "ACCEPT"]];
    case "drop":
      return [[...altArgs(a, s0), "-j", "DROP"]];
    case "return":
      return [[...altArgs(a, s0), "-j", "RETURN"]];
    case "jump":
      return [[...altArgs(a, s0), "-j", ctx.chainName(v.chain)]];
    case "goto":
      return [[...altArgs(a, s0), "-g", ctx.chainName(v.chain)]];
    case "reject": {
      if (ctx.table !== "filter") return [[...altArgs(a, s0), "-j", "DROP"]];
      const icmp = ["-j", "REJECT", "--reject-with", ctx.family === 4 ? "icmp-admin-prohibited" : "icmp6-adm-prohibited"];
      const tcp = ["-j", "REJECT", "--reject-with", "tcp-reset"];
      if (a.proto === 6) return [[...altArgs(a, s0), ...tcp]];
      if (a.proto !== undefined || a.negProto.includes(6)) return [[...altArgs(a, s0), ...icmp]];
      // TCP is not excluded: a TCP-only copy first (tcp ∉ negProto, so dropping it is exact).
      return [[...altArgs({ ...a, proto: 6, negProto: [] }, s0), ...tcp], [...altArgs(a, s0), ...icmp]];
    }
    case "dispatch": {
      const map = ctx.maps[v.map];
      if (!map) throw new BugError(`dispatch through missing map ${v.map}`);
      const key = v.iface === "in" ? "ifIn" : "ifOut";
      if (a[key]) throw new BugError(`dispatch on a rule that already matches the ${v.iface}-interface`);
      return Object.keys(map.elements)
        .sort()
        .map((k) => {
          const t = map.elements[k]!;
          return [...altArgs({ ...a, [key]: [v.iface === "in" ? "-i" : "-o", k] }, s0), t.verdict === "goto" ? "-g" : "-j", ctx.chainName(t.chain)];
        });
    }
    default: {
      const never: never = v;
      throw new BugError(`unknown dataplane verdict ${JSON.stringify(never)}`);
    }
  }
}

function readBits(conj: DpMatch[]): number {
  let bits = 0;
  for (const m of conj) if (m.kind === "mark") bits |= m.mask;
  return bits;
}

/** The iptables rules of one model rule, in order. Dispatch verdicts are rendered linearly here;
 *  chain.ts replaces large ones by a prefix trie. */
export function renderRule(r: DpRule, ctx: RuleContext): KRule[] {
  const t = translateMatch(r.match, ctx);
  if (!t || t.alts.length === 0) return [];
  const label = r.label;
  const mk = (args: string[]): KRule => (label !== undefined ? { args, label } : { args });
  const out: KRule[] = t.setup.map(mk);
  const effects = r.effects ?? [];
  const v = r.verdict;
  const perAlt = t.alts.map((a) => effects.length + (v ? verdictRules(v, a, ctx).length : 0));
  const repeatCost = perAlt.reduce((x, y) => x + y, 0);
  const vFlag = v ? verdictRules(v, flagAlt(ctx), ctx).length : 0;
  const blockCost = 1 + t.alts.length + effects.length + vFlag;
  const writes = effects.reduce((b, e) => b | effectWrites(e), 0);
  const multiRule = perAlt.some((n) => n > 1);
  const unsafe = multiRule && (writes & readBits(r.match)) !== 0;
  if (unsafe || (multiRule && blockCost < repeatCost)) {
    const s1 = ctx.scratch[1];
    out.push(mk(["-j", "MARK", "--set-xmark", `0x0/${hex(s1)}`]));
    for (const a of t.alts) out.push(mk([...altArgs(a, ctx.scratch[0]), "-j", "MARK", "--set-xmark", `${hex(s1)}/${hex(s1)}`]));
    const flag = flagAlt(ctx);
    for (const e of effects) out.push(mk([...altArgs(flag, ctx.scratch[0]), ...effectArgs(e)]));
    if (v) for (const x of verdictRules(v, flag, ctx)) out.push(mk(x));
    return out;
  }
  for (const a of t.alts) {
    for (const e of effects) out.push(mk([...altArgs(a, ctx.scratch[0]), ...effectArgs(e)]));
    if (v) for (const x of verdictRules(v, a, ctx)) out.push(mk(x));
    if (!v && effects.length === 0) out.push(mk(altArgs(a, ctx.scratch[0])));
  }
  return out;
}

/** The alternative "scratch bit 1 is set" used by effect blocks. */
function flagAlt(ctx: RuleContext): Alt {
  const s1 = ctx.scratch[1];
  return { negProto: [], mods: ["-m", "mark", "--mark", `${hex(s1)}/${hex(s1)}`] };
}

/**
 * Arguments of each alternative plus an interface condition (for chain.ts's dispatch trie, which
 * adds `-i <prefix>+` itself). Throws when the rule already matches that interface direction.
 */
export function alternativesWithIface(t: Translated, dir: "in" | "out", iface: string, ctx: RuleContext): string[][] {
  const key = dir === "in" ? "ifIn" : "ifOut";
  return t.alts.map((a) => {
    if (a[key]) throw new BugError(`dispatch on a rule that already matches the ${dir}-interface`);
    return altArgs({ ...a, [key]: [dir === "in" ? "-i" : "-o", iface] }, ctx.scratch[0]);
  });
}
