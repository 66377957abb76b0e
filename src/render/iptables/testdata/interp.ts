/**
 * Two small interpreters for the renderer's equivalence tests: one runs a dataplane model rule on
 * a packet (the meaning model.ts documents for each condition), the other runs the iptables
 * arguments the renderer produced (the meaning of each iptables match and target we use). If the
 * renderer's splits were not exact, the two would disagree on some packet.
 *
 * Scope: one rule in one chain. A jump is recorded and evaluation continues (the jumped chain is
 * assumed to return without touching the packet), so a rule that fires twice shows up; goto,
 * return, accept, drop and reject end the evaluation.
 */
import { cidrContains, parseAddr, parseCidr } from "../../../rule/index.js";
import type { CtState, DpMap, DpMatch, DpRule, DpSet, Family } from "../../../dataplane/index.js";
import type { IpsetDef } from "../ipset.js";
import { listArray, type ChunkedMap } from "../../../model/index.js";

export interface Pkt {
  family: Family;
  proto: number;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  iif: string;
  oif: string;
  ct: CtState;
  mark: number;
}

export interface Outcome {
  /** Verdicts in the order they fired ("jump:X" continues, others end). */
  verdicts: string[];
  /** NFLOG records "<group>:<prefix>". */
  logs: string[];
  notrack: boolean;
  mark: number;
}

const PORT_PROTOS = new Set([6, 17, 132, 136]);
const hasPorts = (p: Pkt) => PORT_PROTOS.has(p.proto) && p.sport !== undefined && p.dport !== undefined;

function inCidr(addr: string, cidr: string): boolean {
  const a = parseAddr(addr);
  const c = parseCidr(cidr);
  return !!a && !!c && cidrContains(c, a);
}

function ifaceMatches(actual: string, name: string, prefix: boolean): boolean {
  return prefix ? actual.startsWith(name) : actual === name;
}

function modelMatch(m: DpMatch, p: Pkt, sets: ChunkedMap<DpSet>): boolean {
  const neg = (b: boolean) => ("negate" in m && m.negate ? !b : b);
  switch (m.kind) {
    case "family":
      return p.family === m.family;
    case "iface":
      return neg(ifaceMatches(m.dir === "in" ? p.iif : p.oif, m.name, !!m.prefix));
    case "ct":
      return neg(m.states.includes(p.ct));
    case "mark":
      return neg(((p.mark & m.mask) >>> 0) === m.value >>> 0);
    case "proto":
      return neg(m.protocols.includes(p.proto));
    case "addr":
      if (p.family !== m.family) return false;
      return neg(m.cidrs.some((c) => inCidr(m.side === "src" ? p.src : p.dst, c)));
    case "addr-set": {
      if (p.family !== m.family) return false;
      const s = sets.get(m.set)!;
      return neg(listArray(s.elements).some((c) => inCidr(m.side === "src" ? p.src : p.dst, c)));
    }
    case "port": {
      if (!hasPorts(p)) return false;
      const port = m.side === "src" ? p.sport! : p.dport!;
      return neg(m.ranges.some((r) => port >= r.first && port <= r.last));
    }
    case "concat-set": {
      if (p.family !== m.family) return false;
      const s = sets.get(m.set)!;
      const vals = m.key.map((k) => (k === "saddr" ? p.src : k === "daddr" ? p.dst : k === "l4proto" ? p.proto : k === "sport" ? p.sport : p.dport));
      if (vals.some((v) => v === undefined)) return false;
      const hit = listArray(s.elements).some((e) => {
        const parts = e.split(" . ");
        return parts.every((x, i) => (s.fields[i] === "addr" ? inCidr(String(vals[i]), x) : Number(x) === vals[i]));
      });
      return neg(hit);
    }
    case "icmp": {
      if (p.family !== m.family || p.proto !== (m.family === 4 ? 1 : 58)) return false;
      const hit = p.icmpType === m.type && (m.code === undefined || p.icmpCode === m.code);
      return neg(hit);
    }
  }
}

export function runModelRule(r: DpRule, p0: Pkt, sets: ChunkedMap<DpSet>, maps: Record<string, DpMap>): Outcome {
  const p = { ...p0 };
  const out: Outcome = { verdicts: [], logs: [], notrack: false, mark: p.mark };
  if (!r.match.every((m) => modelMatch(m, p, sets))) return out;
  for (const e of r.effects ?? []) {
    if (e.kind === "mark-set") p.mark = (p.mark | e.bits) >>> 0;
    else if (e.kind === "mark-clear") p.mark = (p.mark & ~e.bits) >>> 0;
    else if (e.kind === "log") out.logs.push(`${e.group}:${e.prefix}`);
    else out.notrack = true;
  }
  out.mark = p.mark;
  const v = r.verdict;
  if (!v) return out;
  if (v.kind === "jump" || v.kind === "goto") out.verdicts.push(`${v.kind}:${v.chain}`);
  else if (v.kind === "dispatch") {
    const el = maps[v.map]!.elements[v.iface === "in" ? p.iif : p.oif];
    if (el) out.verdicts.push(`${el.verdict}:${el.chain}`);
  } else out.verdicts.push(v.kind);
  return out;
}

// ------------------------------------------------------------------------------------ iptables

const PROTO_BY_NAME: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, "ipv6-icmp": 58, sctp: 132, udplite: 136 };
const protoNum = (s: string) => PROTO_BY_NAME[s] ?? Number(s);

function ipsetHas(def: IpsetDef, p: Pkt, flags: string[]): boolean {
  if (def.family !== p.family) return false;
  const addr = flags[0] === "src" ? p.src : p.dst;
  if (def.type === "hash:ip" || def.type === "hash:net") return listArray(def.elements).some((e) => inCidr(addr, e));
  if (!hasPorts(p)) return false;
  const port = flags[1] === "src" ? p.sport! : p.dport!;
  return listArray(def.elements).some((e) => {
    const comma = e.lastIndexOf(",");
    const [proto, pt] = e.slice(comma + 1).split(":");
    return inCidr(addr, e.slice(0, comma)) && protoNum(proto!) === p.proto && Number(pt) === port;
  });
}

function portList(list: string, port: number): boolean {
  return list.split(",").some((x) => {
    const [a, b] = x.split(":");
    return b === undefined ? Number(a) === port : port >= Number(a) && port <= Number(b);
  });
}

function rangeHas(range: string, addr: string): boolean {
  const [a, b] = range.split("-");
  const x = parseAddr(addr);
  const lo = parseAddr(a!);
  const hi = parseAddr(b!);
  return !!x && !!lo && !!hi && x.family === lo.family && x.value >= lo.value && x.value <= hi.value;
}

type Step = { stop: boolean; verdict?: string };

/** Runs one iptables rule (arguments after `-A chain`); mutates `p` and `out`. */
export function runIptRule(args: string[], p: Pkt, sets: Record<string, IpsetDef>, out: Outcome): Step {
  let i = 0;
  let neg = false;
  const take = () => args[i++]!;
  const ok = (b: boolean) => {
    const r = neg ? !b : b;
    neg = false;
    return r;
  };
  while (i < args.length) {
    const t = take();
    if (t === "!") {
      neg = true;
      continue;
    }
    switch (t) {
      case "-p":
        if (!ok(p.proto === protoNum(take()))) return { stop: false };
        break;
      case "-i":
      case "-o": {
        const name = take();
        const actual = t === "-i" ? p.iif : p.oif;
        if (!ok(name.endsWith("+") ? actual.startsWith(name.slice(0, -1)) : actual === name)) return { stop: false };
        break;
      }
      case "-s":
      case "-d":
        if (!ok(inCidr(t === "-s" ? p.src : p.dst, take()))) return { stop: false };
        break;
      case "-m": {
        const mod = take();
        while (i < args.length && (args[i]!.startsWith("--") || args[i] === "!")) {
          const o = take();
          if (o === "!") {
            neg = true;
            continue;
          }
          const val = take();
          let hit: boolean;
          switch (`${mod} ${o}`) {
            case "comment --comment":
              continue;
            case "conntrack --ctstate":
              hit = val.split(",").includes(p.ct.toUpperCase());
              break;
            case "mark --mark": {
              const [v, m] = val.split("/").map((x) => Number(x));
              hit = ((p.mark & m!) >>> 0) === v;
              break;
            }
            case "set --match-set":
              hit = ipsetHas(sets[val]!, p, take().split(","));
              break;
            case "multiport --dports":
            case "multiport --sports":
              hit = hasPorts(p) && portList(val, o === "--dports" ? p.dport! : p.sport!);
              break;
            case "iprange --src-range":
            case "iprange --dst-range":
              hit = rangeHas(val, o === "--src-range" ? p.src : p.dst);
              break;
            case "icmp --icmp-type":
            case "icmp6 --icmpv6-type": {
              const [ty, code] = val.split("/");
              hit = p.icmpType === Number(ty) && (code === undefined || p.icmpCode === Number(code));
              break;
            }
            default:
              throw new Error(`interp: unknown option ${mod} ${o}`);
          }
          if (!ok(hit)) return { stop: false };
        }
        break;
      }
      case "-j":
      case "-g": {
        const target = take();
        const opts = args.slice(i);
        const opt = (k: string) => opts[opts.indexOf(k) + 1]!;
        if (t === "-g") return { stop: true, verdict: `goto:${target}` };
        switch (target) {
          case "MARK": {
            const [v, m] = opt("--set-xmark").split("/").map((x) => Number(x));
            p.mark = ((p.mark & ~m!) ^ v!) >>> 0;
            return { stop: false };
          }
          case "NFLOG":
            out.logs.push(`${opt("--nflog-group")}:${opt("--nflog-prefix")}`);
            return { stop: false };
          case "CT":
            out.notrack = true;
            return { stop: false };
          case "ACCEPT":
          case "DROP":
          case "RETURN":
            return { stop: true, verdict: target.toLowerCase() };
          case "REJECT": {
            const w = opt("--reject-with");
            // Model semantics: TCP reset for TCP, ICMP admin-prohibited for everything else.
            const right = (w === "tcp-reset") === (p.proto === 6);
            return { stop: true, verdict: right ? "reject" : `reject-with-${w}-for-proto-${p.proto}` };
          }
          default:
            return { stop: false, verdict: `jump:${target}` };
        }
      }
      default:
        throw new Error(`interp: unknown token ${t}`);
    }
  }
  return { stop: false };
}

/** Runs a list of iptables rules in sequence; the final mark excludes `ignoreMark` bits (scratch). */
export function runIptRules(rules: string[][], p0: Pkt, sets: Record<string, IpsetDef>, ignoreMark: number): Outcome {
  const p = { ...p0 };
  const out: Outcome = { verdicts: [], logs: [], notrack: false, mark: p.mark };
  for (const r of rules) {
    const s = runIptRule(r, p, sets, out);
    if (s.verdict) out.verdicts.push(s.verdict);
    if (s.stop) break;
  }
  out.mark = (p.mark & ~ignoreMark) >>> 0;
  return out;
}
