/**
 * Dataplane conditions, effects and verdicts → nft JSON expressions (libnftables JSON schema,
 * nft 1.0.6), one function per model kind. Pure and mechanical: every model kind maps to a fixed
 * expression shape, and nothing here looks at what a rule means.
 */
import { assertNever } from "../../model/index.js";
import type { DpEffect, DpMatch, DpRule, DpVerdict, Family, KeyField, SetField } from "../../dataplane/index.js";
import { formatAddr } from "../../rule/index.js";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type NftExpr = { [k: string]: Json };

const meta = (key: string): Json => ({ meta: { key } });
const payload = (protocol: string, field: string): Json => ({ payload: { protocol, field } });
const match = (op: string, left: Json, right: Json): NftExpr => ({ match: { op, left, right } });

const ipProto = (f: Family) => (f === 4 ? "ip" : "ip6");

/** An address or CIDR as an nft JSON value. */
export function addrValue(text: string): Json {
  const slash = text.indexOf("/");
  if (slash < 0) return text;
  return { prefix: { addr: text.slice(0, slash), len: Number(text.slice(slash + 1)) } };
}

function anySet(values: Json[]): Json {
  return values.length === 1 ? values[0]! : { set: values };
}

const fullLength = (f: Family) => (f === 4 ? 32 : 128);

/** Netmask of a prefix length as an address ("255.255.255.248", "ffff:ffff:ffff::"). */
function prefixMask(family: Family, prefix: number): string {
  const bits = BigInt(fullLength(family));
  const ones = (1n << bits) - 1n;
  return formatAddr({ family, value: (ones << (bits - BigInt(prefix))) & ones });
}

/** The address field, cut to `prefix` bits when shorter than the address. */
function addrField(family: Family, side: "src" | "dst", prefix?: number): Json {
  const field = payload(ipProto(family), side === "src" ? "saddr" : "daddr");
  return prefix === undefined || prefix === fullLength(family) ? field : { "&": [field, prefixMask(family, prefix)] };
}

/** Left and right of "address in CIDRs". Several CIDRs of one length are a hash lookup of the
 *  address cut to that length (nft would otherwise build an interval set, and nft re-reads every
 *  interval set's elements before each transaction); mixed lengths stay an interval set. */
function cidrsMatch(family: Family, side: "src" | "dst", cidrs: string[]): [Json, Json] {
  const lengths = new Set(cidrs.map((c) => (c.includes("/") ? Number(c.slice(c.indexOf("/") + 1)) : fullLength(family))));
  if (cidrs.length === 1 || lengths.size > 1) return [addrField(family, side), anySet(cidrs.map(addrValue))];
  const [prefix] = lengths;
  return [addrField(family, side, prefix), { set: cidrs.map((c) => (c.includes("/") ? c.slice(0, c.indexOf("/")) : c)) }];
}

function portValue(r: { first: number; last: number }): Json {
  return r.first === r.last ? r.first : { range: [r.first, r.last] };
}

function keyExpr(k: KeyField, family: Family): Json {
  switch (k) {
    case "saddr":
    case "daddr":
      return payload(ipProto(family), k);
    case "l4proto":
      return meta("l4proto");
    case "sport":
    case "dport":
      return payload("th", k);
  }
}

export function matchExprs(m: DpMatch): NftExpr[] {
  switch (m.kind) {
    case "family":
      return [match("==", meta("nfproto"), m.family === 4 ? "ipv4" : "ipv6")];
    case "iface":
      return [match(m.negate ? "!=" : "==", meta(m.dir === "in" ? "iifname" : "oifname"), m.prefix ? `${m.name}*` : m.name)];
    case "ct":
      return [match(m.negate ? "!=" : "in", { ct: { key: "state" } }, m.states.length === 1 ? m.states[0]! : m.states)];
    case "mark":
      return [match(m.negate ? "!=" : "==", { "&": [meta("mark"), m.mask >>> 0] }, m.value >>> 0)];
    case "proto":
      return [match(m.negate ? "!=" : "==", meta("l4proto"), anySet(m.protocols))];
    case "addr": {
      const [left, right] = cidrsMatch(m.family, m.side, m.cidrs);
      return [match(m.negate ? "!=" : "==", left, right)];
    }
    case "addr-set":
      return [match(m.negate ? "!=" : "==", addrField(m.family, m.side, m.prefix), `@${m.set}`)];
    case "port": {
      const values = m.ranges.map(portValue);
      // One negated port is written as a one-port range: nft 1.0.6 merges compares of adjacent
      // transport-header fields with the same operator into one load (payload_try_merge), so
      // `th sport != 80 th dport != 443` would become `(sport . dport) != (80 . 443)` in the kernel,
      // which lets sport 80 through whenever the dport differs. A range stays `range neq`; a
      // one-element set would be simplified back to a value and merged.
      const right = m.negate && values.length === 1 && typeof values[0] === "number" ? { range: [values[0], values[0]] } : anySet(values);
      return [match(m.negate ? "!=" : "==", payload("th", m.side === "src" ? "sport" : "dport"), right)];
    }
    case "concat-set":
      return [match(m.negate ? "!=" : "==", { concat: m.key.map((k) => keyExpr(k, m.family)) }, `@${m.set}`)];
    case "icmp": {
      const proto = m.family === 4 ? "icmp" : "icmpv6";
      // Explicit protocol: the ICMP header fields are only meaningful on ICMP packets of the family,
      // and Calico's notICMP also requires one.
      const dep = match("==", meta("l4proto"), m.family === 4 ? 1 : 58);
      if (m.code === undefined) return [dep, match(m.negate ? "!=" : "==", payload(proto, "type"), m.type)];
      if (!m.negate) return [dep, match("==", payload(proto, "type"), m.type), match("==", payload(proto, "code"), m.code)];
      return [dep, match("!=", { concat: [payload(proto, "type"), payload(proto, "code")] }, { set: [{ concat: [m.type, m.code] }] })];
    }
    default:
      return assertNever(m, "dataplane match");
  }
}

export function effectExprs(e: DpEffect): NftExpr[] {
  switch (e.kind) {
    case "mark-set":
      return [{ mangle: { key: meta("mark"), value: { "|": [meta("mark"), e.bits >>> 0] } } }];
    case "mark-clear":
      return [{ mangle: { key: meta("mark"), value: { "&": [meta("mark"), ~e.bits >>> 0] } } }];
    case "log":
      return [{ log: { prefix: e.prefix, group: e.group } }];
    case "notrack":
      return [{ notrack: null }];
    default:
      return assertNever(e, "dataplane effect");
  }
}

/** One verdict may need several kernel rules (reject: TCP reset for TCP, ICMP for the rest). Each
 *  returned list is [extra conditions, verdict expression]. */
export function verdictVariants(v: DpVerdict): Array<{ cond: NftExpr[]; verdict: NftExpr }> {
  switch (v.kind) {
    case "accept":
    case "drop":
    case "return":
      return [{ cond: [], verdict: { [v.kind]: null } }];
    case "jump":
    case "goto":
      return [{ cond: [], verdict: { [v.kind]: { target: v.chain } } }];
    case "dispatch":
      return [{ cond: [], verdict: { vmap: { key: meta(v.iface === "in" ? "iifname" : "oifname"), data: `@${v.map}` } } }];
    case "reject":
      // tcp reset is reliable for TCP on both families; an ICMP error is not (NETNS.md §2: the
      // error races connect() and IPv6 connects time out). Everything else gets admin-prohibited.
      return [
        { cond: [match("==", meta("l4proto"), 6)], verdict: { reject: { type: "tcp reset" } } },
        { cond: [], verdict: { reject: { type: "icmpx", expr: "admin-prohibited" } } },
      ];
    default:
      return assertNever(v, "dataplane verdict");
  }
}

/** The kernel rules (expression lists) of one model rule; effects run before the verdict. */
export function ruleExprLists(r: DpRule): NftExpr[][] {
  const conds = r.match.flatMap(matchExprs);
  const effects = (r.effects ?? []).flatMap(effectExprs);
  if (!r.verdict) return [[...conds, ...effects]];
  const variants = verdictVariants(r.verdict);
  // Effects (e.g. a log record) must run once per packet: with several variants the effects go on
  // the variant's own rule, which only one packet class can match.
  return variants.map((v) => [...conds, ...v.cond, ...effects, v.verdict]);
}

export function setTypeOf(family: Family, fields: SetField[]): Json {
  const t = fields.map((f) => (f === "addr" ? (family === 4 ? "ipv4_addr" : "ipv6_addr") : f === "l4proto" ? "inet_proto" : "inet_service"));
  return t.length === 1 ? t[0]! : t;
}

/** A canonical model element ("a . 6 . 80", "10.0.0.0/8", "1.2.3.4") as an nft JSON element. */
export function elementValue(el: string, fields: SetField[]): Json {
  if (fields.length === 1) return fields[0] === "addr" ? addrValue(el) : Number(el);
  const parts = el.split(" . ");
  return { concat: parts.map((p, i) => (fields[i] === "addr" ? addrValue(p) : Number(p))) };
}
