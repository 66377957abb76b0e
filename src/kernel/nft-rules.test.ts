/**
 * Rules, chains and sets as netlink messages (nft-rules.ts, nfnl.ts encodeNftBatch) against nft
 * itself, in three ways:
 *  - the messages: what nft sends for a batch (`nft --debug=mnl -c`) and what the encoder makes
 *    for the same batch are the same attribute trees, user data included, up to what the kernel
 *    does not keep (transaction ids, attribute order);
 *  - the kernel: the same batch applied through nft to one namespace's table and through the relay
 *    to a twin's lists identically (`nft -a list`, `nft -j list`, and the kernel's expressions and
 *    set elements as `nft --debug=netlink list` decodes them);
 *  - random cluster changes: the Applier with the netlink rule path and one without converge to
 *    identical tables, and most changes do go through netlink.
 * Plus the encoder's refusals: what it does not reproduce goes to nft.
 */
import fc from "fast-check";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Applier, nftBackend, NftKernel } from "../apply/index.js";
import { buildDataplane, kernelView, type DpRule } from "../dataplane/index.js";
import { fixtureIR, NODE } from "../dataplane/testdata/fixtures.js";
import { arbCluster, THREE_POD_SPEC } from "../dataplane/testdata/arbitrary.js";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../netns/index.js";
import { nft as nftRender } from "../render/index.js";
import { nft, nftApply, nftListTable } from "./nft.js";
import { encodeChainQuery, encodeNftBatch, parseChainHandles, renamedChains, SetShapes } from "./nfnl.js";
import { defaultRelayPath, NfnlRelay } from "./nfnl-relay.js";

const root = canUseNetns();
const T = { family: "inet", table: "tortie" };

// ---- attribute trees: our messages, and nft's as `--debug=mnl` prints them

interface Attr {
  type: number;
  hex?: string;
  children?: Attr[];
}
interface Msg {
  type: string;
  attrs: Attr[];
}

function decodeAttrs(b: Buffer): Attr[] {
  const out: Attr[] = [];
  for (let off = 0; off + 4 <= b.length; ) {
    const len = b.readUInt16LE(off);
    const rawType = b.readUInt16LE(off + 2);
    if (len < 4) break;
    const payload = b.subarray(off + 4, off + len);
    out.push(rawType & 0x8000 ? { type: rawType & 0x3fff, children: decodeAttrs(payload) } : { type: rawType & 0x3fff, hex: payload.toString("hex") });
    off += (len + 3) & ~3;
  }
  return out;
}

/** The batch messages (between BATCH_BEGIN and BATCH_END) of an encoded batch. */
function decodeBatch(buf: Buffer): Msg[] {
  const out: Msg[] = [];
  for (let off = 0; off + 20 <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt16LE(off + 4);
    if (type >> 8 === 10) out.push({ type: `${type >> 8}/${type & 0xff}`, attrs: decodeAttrs(buf.subarray(off + 20, off + len)) });
    off += (len + 3) & ~3;
  }
  return out;
}

/** nft's `--debug=mnl` print of the messages it sends, as trees (batch messages only). */
function parseMnl(text: string): Msg[] {
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  const msgs: Msg[] = [];
  let inBatch = false;
  let cur: Msg | undefined;
  // Open nests: their children and the bytes still to fill.
  let stack: Array<{ children: Attr[]; rem: number }> = [];
  let pending: { attr: Attr; need: number; bytes: string[] } | undefined;
  const consume = (n: number) => {
    for (const s of stack) s.rem -= n;
    while (stack.length > 1 && stack[stack.length - 1]!.rem <= 0) stack.pop();
  };
  for (const l of lines) {
    let m = l.match(/^\| (\d+) \| \S+ \|\s*\|\s*type \| flags/);
    if (m) {
      const t = Number(m[1]);
      if (t === 16) inBatch = true;
      if (t === 17) inBatch = false;
      cur = inBatch && t >> 8 === 10 ? { type: `${t >> 8}/${t & 0xff}`, attrs: [] } : undefined;
      if (cur) msgs.push(cur);
      stack = cur ? [{ children: cur.attrs, rem: Infinity }] : [];
      pending = undefined;
      continue;
    }
    if (!cur) continue;
    m = l.match(/^\|(\d+)\|(\S\S)\|(\d+)\|/);
    if (m) {
      const len = Number(m[1]);
      const a: Attr = { type: Number(m[3]) };
      stack[stack.length - 1]!.children.push(a);
      if (m[2]![0] === "N") {
        a.children = [];
        consume(4);
        stack.push({ children: a.children, rem: len - 4 });
      } else if (len === 4) {
        a.hex = "";
        consume(4);
      } else pending = { attr: a, need: len - 4, bytes: [] };
      continue;
    }
    m = l.match(/^\| ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2})\s+\|\s+\|\s+data/);
    if (m && pending) {
      pending.bytes.push(m[1]!, m[2]!, m[3]!, m[4]!);
      if (pending.bytes.length >= pending.need) {
        pending.attr.hex = pending.bytes.slice(0, pending.need).join("");
        consume(4 + ((pending.need + 3) & ~3));
        pending = undefined;
      }
    }
  }
  return msgs;
}

/** Drops what the kernel does not keep or what only names a transaction: set ids (a NEWSET's,
 *  an element list's, a lookup's) and the bitwise operation nft sends for some masks and not
 *  others (the kernel stores the same boolean operation); sorts attributes by type, keeping the
 *  order of repeated ones (expressions, elements). */
function normalize(msgs: Msg[]): unknown {
  const sorted = (attrs: Attr[]): Attr[] => attrs.map((a) => (a.children ? { type: a.type, children: sorted(a.children) } : a)).sort((x, y) => x.type - y.type);
  const exprName = (e: Attr) => Buffer.from(e.children?.find((c) => c.type === 1)?.hex ?? "", "hex").toString().replace(/\0+$/, "");
  return msgs.map((m) => {
    const top = m.attrs.filter((a) => !((m.type === "10/9" && a.type === 10) || (m.type === "10/12" && a.type === 4)));
    // nft numbers the entries of an element list 1, 2, 3…; the kernel reads them in order and
    // ignores their type, and the encoder calls each 1 (NFTA_LIST_ELEM).
    for (const list of m.type === "10/12" || m.type === "10/14" ? top.filter((a) => a.type === 3) : []) for (const e of list.children ?? []) e.type = 1;
    // Expressions: NFTA_RULE_EXPRESSIONS (4) → LIST_ELEM (1) → {NAME 1, DATA 2}.
    for (const e of m.type === "10/6" ? (top.find((a) => a.type === 4)?.children ?? []) : []) {
      const name = exprName(e);
      const data = e.children?.find((c) => c.type === 2);
      if (data?.children) data.children = data.children.filter((c) => !((name === "lookup" && c.type === 4) || (name === "bitwise" && c.type === 6)));
    }
    return { type: m.type, attrs: sorted(top) };
  });
}

// ---- what the vocabulary batch holds

/** Every kind of model rule expr.ts renders. */
const VOCABULARY: DpRule[] = [
  { match: [{ kind: "family", family: 4 }, { kind: "proto", protocols: [6] }, { kind: "addr-set", side: "src", family: 4, set: "s4" }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "addr-set", side: "src", family: 4, set: "s4", prefix: 26, negate: true }], verdict: { kind: "drop" } },
  { match: [{ kind: "family", family: 6 }, { kind: "addr-set", side: "dst", family: 6, set: "s6", prefix: 64 }], effects: [{ kind: "mark-set", bits: 0x20000 }], verdict: { kind: "return" } },
  { match: [{ kind: "mark", mask: 0x30000, value: 0x10000 }], verdict: { kind: "jump", chain: "tgt" } },
  { match: [{ kind: "mark", mask: 0x30000, value: 0, negate: true }], effects: [{ kind: "mark-clear", bits: 0x20000 }], verdict: { kind: "goto", chain: "tgt" } },
  { match: [{ kind: "iface", dir: "in", name: "cali", prefix: true }, { kind: "iface", dir: "out", name: "eth0", negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "iface", dir: "out", name: "wire0" }, { kind: "iface", dir: "in", name: "tap", prefix: true, negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "ct", states: ["established", "related"] }], verdict: { kind: "accept" } },
  { match: [{ kind: "ct", states: ["invalid"] }], verdict: { kind: "drop" } },
  { match: [{ kind: "ct", states: ["established"], negate: true }, { kind: "ct", states: ["new", "untracked"], negate: true }], verdict: { kind: "drop" } },
  { match: [{ kind: "proto", protocols: [6, 17] }], verdict: { kind: "accept" } },
  { match: [{ kind: "proto", protocols: [6, 17, 132], negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "proto", protocols: [6], negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "addr", side: "dst", family: 4, cidrs: ["10.0.0.0/8"] }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "addr", side: "dst", family: 4, cidrs: ["10.16.0.0/12"], negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "addr", side: "src", family: 4, cidrs: ["10.1.2.3"] }, { kind: "addr", side: "dst", family: 4, cidrs: ["10.1.2.4/32"] }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "addr", side: "dst", family: 4, cidrs: ["10.0.0.0/16", "10.2.0.0/16"] }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "addr", side: "src", family: 4, cidrs: ["10.0.0.0/8", "192.168.1.0/24", "192.168.2.0/24"] }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "addr", side: "src", family: 4, cidrs: ["0.0.0.0/1", "255.255.255.255"], negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 6 }, { kind: "addr", side: "dst", family: 6, cidrs: ["fd00::/60"] }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 6 }, { kind: "addr", side: "dst", family: 6, cidrs: ["fd00::/64", "fd00:0:0:1::/64"], negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 6 }, { kind: "addr", side: "src", family: 6, cidrs: ["fd00::/8", "fe80::/64", "::1"] }], verdict: { kind: "accept" } },
  { match: [{ kind: "proto", protocols: [6] }, { kind: "port", side: "dst", ranges: [{ first: 80, last: 80 }] }], verdict: { kind: "accept" } },
  { match: [{ kind: "proto", protocols: [6] }, { kind: "port", side: "src", ranges: [{ first: 53, last: 53 }] }, { kind: "port", side: "dst", ranges: [{ first: 443, last: 443 }] }], verdict: { kind: "accept" } },
  { match: [{ kind: "proto", protocols: [17] }, { kind: "port", side: "dst", ranges: [{ first: 1000, last: 2000 }] }], verdict: { kind: "accept" } },
  { match: [{ kind: "proto", protocols: [17] }, { kind: "port", side: "dst", ranges: [{ first: 1000, last: 2000 }], negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "proto", protocols: [6] }, { kind: "port", side: "src", ranges: [{ first: 80, last: 80 }], negate: true }, { kind: "port", side: "dst", ranges: [{ first: 443, last: 443 }], negate: true }], verdict: { kind: "drop" } },
  { match: [{ kind: "proto", protocols: [6] }, { kind: "port", side: "dst", ranges: [{ first: 80, last: 80 }, { first: 443, last: 443 }, { first: 8080, last: 8081 }] }], verdict: { kind: "accept" } },
  { match: [{ kind: "proto", protocols: [6] }, { kind: "port", side: "dst", ranges: [{ first: 80, last: 80 }, { first: 81, last: 90 }, { first: 60000, last: 65535 }] }], verdict: { kind: "accept" } },
  { match: [{ kind: "proto", protocols: [6] }, { kind: "port", side: "src", ranges: [{ first: 22, last: 22 }, { first: 2222, last: 2222 }], negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "proto", protocols: [6] }, { kind: "concat-set", family: 4, key: ["daddr", "l4proto", "dport"], set: "c4" }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 6 }, { kind: "proto", protocols: [6, 17] }, { kind: "concat-set", family: 6, key: ["saddr", "l4proto", "dport"], set: "c6", negate: true }], verdict: { kind: "drop" } },
  { match: [{ kind: "family", family: 4 }, { kind: "icmp", family: 4, type: 8 }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "icmp", family: 4, type: 8, code: 0 }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 4 }, { kind: "icmp", family: 4, type: 3, code: 4, negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 6 }, { kind: "icmp", family: 6, type: 128, negate: true }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 6 }, { kind: "icmp", family: 6, type: 1, code: 3 }], verdict: { kind: "accept" } },
  { match: [{ kind: "family", family: 6 }, { kind: "icmp", family: 6, type: 1, code: 3, negate: true }], verdict: { kind: "accept" } },
  // Compiled runs look up address . protocol . port alone: nft adds the family before the address.
  { match: [{ kind: "concat-set", family: 4, key: ["saddr", "l4proto", "dport"], set: "c4" }], effects: [{ kind: "mark-set", bits: 0x10000 }], verdict: { kind: "return" } },
  { match: [{ kind: "mark", mask: 0x10000, value: 0 }, { kind: "concat-set", family: 6, key: ["daddr", "l4proto", "dport"], set: "c6" }], verdict: { kind: "accept" } },
  { match: [{ kind: "addr", side: "src", family: 4, cidrs: ["10.1.2.3"] }, { kind: "addr", side: "dst", family: 4, cidrs: ["10.1.2.4"] }], verdict: { kind: "accept" } },
  { match: [{ kind: "port", side: "dst", ranges: [{ first: 80, last: 80 }] }], verdict: { kind: "accept" } },
  { match: [], verdict: { kind: "dispatch", iface: "in", map: "dm" } },
  { match: [{ kind: "family", family: 4 }], verdict: { kind: "reject" } },
  { match: [], effects: [{ kind: "log", prefix: "tortie D|p1", group: 3 }], verdict: { kind: "drop" } },
  { match: [], effects: [{ kind: "notrack" }] },
];

/**
 * Random model rules of the shapes the dataplane builds: a family match first when an address,
 * ICMP field or concatenation needs one (sometimes left out for a concatenation, as compiled runs
 * do), ports only with one transport protocol, CIDR lists canonical and non-overlapping (as the
 * model promises), effects and any verdict.
 */
const V4_CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.1.0/24", "192.168.2.0/24", "198.51.100.7", "203.0.113.0/25", "224.0.0.0/3", "100.64.0.0/10"];
const V6_CIDRS = ["fd00::/8", "fe80::/64", "2001:db8::/32", "::1", "ff00::/8", "2001:db9:0:1::/64"];
const arbRule: fc.Arbitrary<DpRule> = fc
  .record({
    family: fc.constantFrom(4 as const, 6 as const),
    statedFamily: fc.boolean(),
    proto: fc.option(fc.record({ protocols: fc.uniqueArray(fc.constantFrom(6, 17, 132, 1, 58), { minLength: 1, maxLength: 3 }), negate: fc.boolean() })),
    port: fc.option(fc.record({ side: fc.constantFrom("src" as const, "dst" as const), ranges: fc.uniqueArray(fc.constantFrom(0, 22, 53, 80, 81, 443, 1000, 2000, 8080, 65535), { minLength: 1, maxLength: 4 }), widths: fc.array(fc.constantFrom(0, 0, 1, 10), { minLength: 4, maxLength: 4 }), negate: fc.boolean() })),
    port2: fc.option(fc.record({ side: fc.constantFrom("src" as const, "dst" as const), port: fc.constantFrom(53, 80, 443), negate: fc.boolean() })),
    addr: fc.option(fc.record({ side: fc.constantFrom("src" as const, "dst" as const), picks: fc.uniqueArray(fc.nat(5), { minLength: 1, maxLength: 3 }), negate: fc.boolean() })),
    addrSet: fc.option(fc.record({ side: fc.constantFrom("src" as const, "dst" as const), prefix: fc.constantFrom(undefined, 16, 24, 26, 64), negate: fc.boolean() })),
    concat: fc.option(fc.record({ key: fc.constantFrom(["daddr", "l4proto", "dport"] as const, ["saddr", "l4proto", "dport"] as const), negate: fc.boolean() })),
    icmp: fc.option(fc.record({ type: fc.constantFrom(0, 3, 8, 128), code: fc.option(fc.constantFrom(0, 1, 4)), negate: fc.boolean() })),
    ct: fc.option(fc.record({ states: fc.uniqueArray(fc.constantFrom("established", "related", "invalid", "new", "untracked") as fc.Arbitrary<"established" | "related" | "invalid" | "new" | "untracked">, { minLength: 1, maxLength: 3 }), negate: fc.boolean() })),
    mark: fc.option(fc.record({ mask: fc.constantFrom(0x10000, 0x30000, 0xffffffff), value: fc.constantFrom(0, 0x10000), negate: fc.boolean() })),
    iface: fc.option(fc.record({ dir: fc.constantFrom("in" as const, "out" as const), name: fc.constantFrom("cali", "eth0", "cali5e1c4d6c68c"), prefix: fc.boolean(), negate: fc.boolean() })),
    effects: fc.subarray([{ kind: "mark-set" as const, bits: 0x10000 }, { kind: "mark-clear" as const, bits: 0x20000 }, { kind: "log" as const, prefix: "tortie A|x", group: 2 }]),
    verdict: fc.option(fc.constantFrom<NonNullable<DpRule["verdict"]>>({ kind: "accept" }, { kind: "drop" }, { kind: "reject" }, { kind: "return" }, { kind: "jump", chain: "tgt" }, { kind: "goto", chain: "tgt" }, { kind: "dispatch", iface: "out", map: "dm" })),
  })
  .map((r) => {
    const match: DpRule["match"] = [];
    const fam = r.family;
    const needsFamily = r.addr || r.addrSet || r.icmp;
    if (needsFamily || r.statedFamily) match.push({ kind: "family", family: fam });
    if (r.ct) match.push({ kind: "ct", ...r.ct });
    // A wildcard's text (name and *) must be shorter than IFNAMSIZ, as nft checks.
    if (r.iface) match.push({ kind: "iface", ...r.iface, prefix: r.iface.prefix && r.iface.name.length < 15 });
    if (r.mark) match.push({ kind: "mark", ...r.mark });
    if (r.icmp) {
      match.push({ kind: "icmp", family: fam, type: r.icmp.type, ...(r.icmp.code !== null ? { code: r.icmp.code } : {}), negate: r.icmp.negate });
    } else if (r.port) {
      const ranges = r.port.ranges.sort((a, b) => a - b).map((first, i) => ({ first, last: Math.min(65535, first + r.port!.widths[i]!) }));
      // Canonical like the model's: sorted and not overlapping.
      const canon = ranges.filter((x, i) => i === 0 || x.first > ranges[i - 1]!.last);
      match.push({ kind: "proto", protocols: [r.proto?.protocols.find((p) => p === 6 || p === 17 || p === 132) ?? 6] }, { kind: "port", side: r.port.side, ranges: canon, negate: r.port.negate });
      if (r.port2 && r.port2.side !== r.port.side) match.push({ kind: "port", side: r.port2.side, ranges: [{ first: r.port2.port, last: r.port2.port }], negate: r.port2.negate });
    } else if (r.proto) match.push({ kind: "proto", protocols: [...r.proto.protocols].sort((a, b) => a - b), negate: r.proto.negate });
    if (r.addr) {
      const pool = fam === 4 ? V4_CIDRS : V6_CIDRS;
      match.push({ kind: "addr", side: r.addr.side, family: fam, cidrs: r.addr.picks.map((i) => pool[i % pool.length]!).sort(), negate: r.addr.negate });
    }
    if (r.addrSet) match.push({ kind: "addr-set", side: r.addrSet.side, family: fam, set: fam === 4 ? "s4" : "s6", ...(r.addrSet.prefix !== undefined && (fam === 6 || r.addrSet.prefix <= 32) ? { prefix: r.addrSet.prefix } : {}), negate: r.addrSet.negate });
    if (r.concat && !r.icmp) match.push({ kind: "concat-set", family: fam, key: [...r.concat.key], set: fam === 4 ? "c4" : "c6", negate: r.concat.negate });
    const rule: DpRule = { match, ...(r.effects.length > 0 ? { effects: r.effects } : {}) };
    if (r.verdict) rule.verdict = r.verdict;
    else if (r.effects.length === 0) rule.verdict = { kind: "accept" };
    return rule;
  });

const setup = {
  nftables: [
    { add: { table: { family: "inet", name: "tortie" } } },
    { delete: { table: { family: "inet", name: "tortie" } } },
    { add: { table: { family: "inet", name: "tortie" } } },
    { add: { set: { ...T, name: "s4", type: "ipv4_addr", elem: ["10.0.0.1"] } } },
    { add: { set: { ...T, name: "s6", type: "ipv6_addr" } } },
    { add: { set: { ...T, name: "c4", type: ["ipv4_addr", "inet_proto", "inet_service"] } } },
    { add: { set: { ...T, name: "c6", type: ["ipv6_addr", "inet_proto", "inet_service"] } } },
    { add: { chain: { ...T, name: "tgt" } } },
    { add: { chain: { ...T, name: "grp" } } },
    { add: { chain: { ...T, name: "base", type: "filter", hook: "forward", prio: 0, policy: "accept" } } },
    { add: { map: { ...T, name: "dm", type: "ifname", map: "verdict", elem: [["cali1", { goto: { target: "tgt" } }]] } } },
    { add: { rule: { ...T, chain: "grp", comment: "g1", expr: [{ accept: null }] } } },
    { add: { rule: { ...T, chain: "grp", comment: "g2", expr: [{ drop: null }] } } },
    { add: { rule: { ...T, chain: "base", comment: "b1", expr: [{ jump: { target: "grp" } }] } } },
  ],
};

/** A policy add's shape: a new set, new chain, the vocabulary's rules, a flush and refill, a
 *  prepend, a rule deleted by handle, and a rename last; then set and chain deletions. */
function vocabularyBatch(grpHandle: number): { nftables: unknown[] } {
  const rules = nftRender.chainRules({ name: "voc", rules: VOCABULARY });
  return {
    nftables: [
      { add: { set: { ...T, name: "n4", type: "ipv4_addr", elem: ["10.9.0.1", "10.9.0.2"] } } },
      { add: { set: { ...T, name: "n46", type: ["inet_proto", "inet_service"], elem: [{ concat: [6, 80] }] } } },
      { add: { chain: { ...T, name: "voc" } } },
      ...rules.map((r) => ({ add: { rule: { ...T, chain: "voc", comment: r.comment, expr: r.expr } } })),
      { add: { rule: { ...T, chain: "voc", expr: [{ match: { op: "==", left: { meta: { key: "nfproto" } }, right: "ipv4" } }, { match: { op: "==", left: { payload: { protocol: "ip", field: "daddr" } }, right: "@n4" } }, { jump: { target: "tgt" } }] } } },
      // Raw shapes the model no longer makes, to pin nft's merge rule: same operator merged
      // (even !=, which is why expr.ts writes one negated port as a range), mixed not.
      ...[
        [{ match: { op: "!=", left: { payload: { protocol: "th", field: "sport" } }, right: 80 } }, { match: { op: "!=", left: { payload: { protocol: "th", field: "dport" } }, right: 443 } }],
        [{ match: { op: "==", left: { payload: { protocol: "th", field: "dport" } }, right: 443 } }, { match: { op: "!=", left: { payload: { protocol: "th", field: "sport" } }, right: 80 } }],
        [{ match: { op: "==", left: { payload: { protocol: "th", field: "dport" } }, right: 443 } }, { match: { op: "==", left: { meta: { key: "mark" } }, right: 3 } }, { match: { op: "==", left: { payload: { protocol: "th", field: "sport" } }, right: 80 } }],
        // Two runs split by a statement: each merged on its own.
        [
          { match: { op: "==", left: { payload: { protocol: "th", field: "sport" } }, right: 80 } },
          { match: { op: "==", left: { payload: { protocol: "th", field: "dport" } }, right: 443 } },
          { mangle: { key: { meta: { key: "mark" } }, value: { "|": [{ meta: { key: "mark" } }, 0x10000] } } },
          { match: { op: "==", left: { payload: { protocol: "th", field: "sport" } }, right: 81 } },
          { match: { op: "==", left: { payload: { protocol: "th", field: "dport" } }, right: 444 } },
        ],
      ].map((m) => ({ add: { rule: { ...T, chain: "voc", expr: [{ match: { op: "==", left: { meta: { key: "l4proto" } }, right: 6 } }, ...m, { accept: null }] } } })),
      // ICMP fields with nothing, the family only, or the protocol only stated before them.
      ...[[], [{ match: { op: "==", left: { meta: { key: "nfproto" } }, right: "ipv6" } }], [{ match: { op: "==", left: { meta: { key: "l4proto" } }, right: 58 } }]].map((m) => ({
        add: { rule: { ...T, chain: "voc", expr: [...m, { match: { op: "==", left: { payload: { protocol: "icmpv6", field: "type" } }, right: 135 } }, { accept: null }] } },
      })),
      { add: { rule: { ...T, chain: "voc", expr: [{ match: { op: "==", left: { payload: { protocol: "icmp", field: "type" } }, right: 8 } }, { match: { op: "==", left: { payload: { protocol: "icmp", field: "code" } }, right: 0 } }, { accept: null }] } } },
      { add: { element: { ...T, name: "s4", elem: ["10.0.0.2"] } } },
      { delete: { element: { ...T, name: "s4", elem: ["10.0.0.1"] } } },
      { delete: { rule: { ...T, chain: "grp", handle: grpHandle } } },
      { insert: { rule: { ...T, chain: "grp", comment: "g0", expr: [{ return: null }] } } },
      { add: { rule: { ...T, chain: "grp", comment: "g3", expr: [{ jump: { target: "voc" } }] } } },
      { flush: { chain: { ...T, name: "tgt" } } },
      { add: { rule: { ...T, chain: "tgt", comment: "t1", expr: [{ accept: null }] } } },
      { rename: { chain: { ...T, name: "grp", newname: "grp2" } } },
    ],
  };
}

const cleanup = {
  nftables: [
    { flush: { chain: { ...T, name: "voc" } } },
    { flush: { chain: { ...T, name: "grp2" } } },
    { delete: { chain: { ...T, name: "voc" } } },
    { delete: { set: { ...T, name: "n4" } } },
    { delete: { map: { ...T, name: "dm" } } },
  ],
};

/**
 * The table as nft lists it (with rule handles), as JSON, and as the kernel's expressions and set
 * elements. The table's own handle counts tables ever made in the namespace, and a hash set lists
 * its elements in an order of its own, so those are left out and sorted.
 */
async function listings(ns: string): Promise<unknown[]> {
  const text = (await nft(["-a", "list", "table", "inet", "tortie"], { netns: ns })).replace(/^(table inet tortie \{) # handle \d+/, "$1");
  const json = (JSON.parse(await nft(["-j", "list", "table", "inet", "tortie"], { netns: ns })) as { nftables: Array<Record<string, Record<string, unknown>>> }).nftables.map((item) => {
    const [kind, o] = Object.entries(item)[0]!;
    if (kind === "table") return { table: { ...o, handle: 0 } };
    return Array.isArray(o.elem) ? { [kind]: { ...o, elem: o.elem.map((e) => JSON.stringify(e)).sort() } } : item;
  });
  // --debug=netlink: a block per set ("inet tortie @name" then element lines) and per rule.
  const blocks: string[][] = [];
  for (const line of (await nft(["--debug=netlink", "list", "table", "inet", "tortie"], { netns: ns })).split("\n")) {
    if (!line.startsWith("\t") && !line.startsWith("  ")) blocks.push([line]);
    else blocks[blocks.length - 1]?.push(line);
  }
  const kernel = blocks.map((b) => (b[0]!.includes(" @") ? [b[0], ...b.slice(1).sort()] : b).join("\n"));
  return [text, json, kernel];
}

describe("encodeNftBatch refusals (nft applies these)", () => {
  const shapes = new SetShapes("inet", "tortie");
  shapes.learnBatch(setup);
  const handles = { chainHandles: new Map<string, bigint>() };
  const rule = (expr: unknown[]) => ({ nftables: [{ add: { rule: { ...T, chain: "c", expr } } }] });
  const cases: Array<[string, unknown, RegExp]> = [
    ["a table with flags", { nftables: [{ add: { table: { family: "inet", name: "tortie", flags: ["dormant"] } } }] }, /table with flags/],
    ["a flush of the table", { nftables: [{ flush: { table: { family: "inet", name: "tortie" } } }] }, /flush table/],
    ["a nat base chain", { nftables: [{ add: { chain: { ...T, name: "b", type: "nat", hook: "postrouting", prio: 100, policy: "accept" } } }] }, /base chain other than filter/],
    ["a base chain of an ingress hook", { nftables: [{ add: { chain: { ...T, name: "b", type: "filter", hook: "ingress", prio: 0, policy: "accept" } } }] }, /base chain other than filter/],
    ["a map of addresses", { nftables: [{ add: { map: { ...T, name: "m", type: "ipv4_addr", map: "verdict" } } }] }, /layout or name not encoded/],
    ["a map with a policy", { nftables: [{ add: { map: { ...T, name: "m", type: "ifname", map: "verdict", policy: "memory" } } }] }, /map with policy/],
    ["an interval set", { nftables: [{ add: { set: { ...T, name: "i", type: "ipv4_addr", flags: ["interval"] } } }] }, /flags/],
    ["another table", { nftables: [{ add: { chain: { family: "inet", table: "other", name: "x" } } }] }, /another table/],
    ["a rename of a chain whose handle is unknown", { nftables: [{ rename: { chain: { ...T, name: "grp", newname: "g" } } }] }, /handle is not known/],
    ["an address of the other family", rule([{ match: { op: "==", left: { meta: { key: "nfproto" } }, right: "ipv6" } }, { match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: "10.0.0.1" } }, { accept: null }]), /other family/],
    ["ICMP fields in a rule of another protocol", rule([{ match: { op: "==", left: { meta: { key: "l4proto" } }, right: 6 } }, { match: { op: "==", left: { payload: { protocol: "icmp", field: "type" } }, right: 8 } }, { accept: null }]), /another protocol/],
    ["a tcp reset without TCP", rule([{ reject: { type: "tcp reset" } }]), /without TCP/],
    ["a one-element set", rule([{ match: { op: "==", left: { meta: { key: "l4proto" } }, right: { set: [6] } } }, { accept: null }]), /one-element/],
    ["a counter", rule([{ counter: null }, { accept: null }]), /counter statement/],
    ["a meta key it does not know", rule([{ match: { op: "==", left: { meta: { key: "skuid" } }, right: 0 } }, { accept: null }]), /meta skuid/],
    ["an element of a set it has not seen", { nftables: [{ add: { element: { ...T, name: "nope", elem: ["10.0.0.1"] } } }] }, /unknown layout/],
  ];
  for (const [name, batch, why] of cases) it(name, () => expect(encodeNftBatch(batch, shapes, 1, handles)).toMatch(why));
  it("without the rules option, only element changes are encoded", () => {
    expect(encodeNftBatch({ nftables: [{ flush: { chain: { ...T, name: "grp" } } }] }, shapes, 1)).toMatch(/flush chain/);
    expect(typeof encodeNftBatch({ nftables: [{ flush: { chain: { ...T, name: "grp" } } }] }, shapes, 1, handles)).toBe("object");
  });
});

const tag = uniqueName("nr").slice(3);
const [nsNft, nsNl] = [`nrA-${tag}`, `nrB-${tag}`];

describe.skipIf(!root)("rules through netlink against nft (real kernel, twin namespaces)", () => {
  const relay = new NfnlRelay({ netns: nsNl });
  beforeAll(async () => {
    expect(existsSync(defaultRelayPath()), "native/build/nfnl-relay is built by npm install").toBe(true);
    await createNamespace(nsNft);
    await createNamespace(nsNl);
  });
  afterAll(async () => {
    await relay.close();
    await deleteNamespace(nsNft);
    await deleteNamespace(nsNl);
  });

  async function grpHandle(ns: string): Promise<number> {
    const listing = JSON.parse(await nft(["-j", "-a", "list", "chain", "inet", "tortie", "grp"], { netns: ns })) as { nftables: Array<{ rule?: { comment?: string; handle: number } }> };
    return listing.nftables.find((i) => i.rule?.comment === "g1")!.rule!.handle;
  }

  async function viaRelay(batch: unknown): Promise<void> {
    const shapes = new SetShapes("inet", "tortie");
    const listing = await nftListTable("inet", "tortie", { netns: nsNl });
    if (listing) shapes.learnListing(listing);
    const renamed = renamedChains(batch);
    const query = renamed.length > 0 ? encodeChainQuery("tortie", "inet", renamed, relay.nextSeq()) : undefined;
    if (typeof query === "string") throw new Error(query);
    const answer = query ? await relay.send(query) : Buffer.alloc(0);
    const enc = encodeNftBatch(batch, shapes, relay.nextSeq(), { chainHandles: parseChainHandles(answer) });
    if (typeof enc === "string") throw new Error(`not encoded: ${enc}`);
    await relay.send(enc);
  }

  it("every kind of rule, set and chain change: nft's messages and ours are the same", async () => {
    await nftApply(setup, { netns: nsNft });
    const batch = vocabularyBatch(await grpHandle(nsNft));
    const shapes = new SetShapes("inet", "tortie");
    shapes.learnBatch(setup);
    const [handle] = [...parseChainHandles(await relayFor(nsNft, renamedChains(batch)))].map(([, h]) => h);
    const ours = encodeNftBatch(batch, shapes, 1, { chainHandles: new Map([["grp", handle!]]) });
    if (typeof ours === "string") throw new Error(ours);
    const file = join(mkdtempSync(join(tmpdir(), "tortie-nr-")), "batch.json");
    writeFileSync(file, JSON.stringify(batch));
    const theirs = parseMnl(await nft(["-j", "--debug=mnl", "-c", "-f", file], { netns: nsNft }));
    const mine = decodeBatch(ours.sends[0]!);
    expect(theirs.length).toBeGreaterThan(VOCABULARY.length);
    expect(normalize(mine)).toEqual(normalize(theirs));
  });

  it("full loads (the table added, deleted and added, base chains, dispatch maps): nft's messages and ours are the same, and the tables list the same", async () => {
    const fixture = nftRender.renderFull(kernelView(buildDataplane(fixtureIR(), NODE), nftBackend().kernelView));
    const dir = mkdtempSync(join(tmpdir(), "tortie-nr-"));
    for (const [name, batch] of [["setup", setup], ["fixture", fixture]] as const) {
      const ours = encodeNftBatch(batch, new SetShapes("inet", "tortie"), 1, { chainHandles: new Map() });
      if (typeof ours === "string") throw new Error(`${name}: ${ours}`);
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(batch));
      const theirs = parseMnl(await nft(["-j", "--debug=mnl", "-c", "-f", file], { netns: nsNft }));
      expect(normalize(decodeBatch(ours.sends[0]!)), name).toEqual(normalize(theirs));
      await nftApply(batch, { netns: nsNft });
      await viaRelay(batch);
      expect(await listings(nsNl), name).toEqual(await listings(nsNft));
    }
  });

  it("random model rules: nft's messages and ours are the same", async () => {
    await nftApply(setup, { netns: nsNft });
    const shapes = new SetShapes("inet", "tortie");
    shapes.learnBatch(setup);
    const dir = mkdtempSync(join(tmpdir(), "tortie-nr-"));
    let encoded = 0;
    let rules = 0;
    const refusals = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(arbRule, { minLength: 1, maxLength: 8 }), async (dpRules) => {
        const kernelRules = nftRender.chainRules({ name: "voc", rules: dpRules });
        const cmds: unknown[] = [{ add: { chain: { ...T, name: "voc" } } }];
        for (const r of kernelRules) {
          const one = { nftables: [{ add: { rule: { ...T, chain: "voc", comment: r.comment, expr: r.expr } } }] };
          const why = encodeNftBatch(one, shapes, 1, { chainHandles: new Map() });
          if (typeof why === "string") refusals.set(why, (refusals.get(why) ?? 0) + 1);
          else cmds.push(one.nftables[0]);
        }
        rules += kernelRules.length;
        const batch = { nftables: cmds };
        const ours = encodeNftBatch(batch, shapes, 1, { chainHandles: new Map() });
        if (typeof ours === "string") throw new Error(ours);
        encoded += cmds.length - 1;
        const file = join(dir, "batch.json");
        writeFileSync(file, JSON.stringify(batch));
        const theirs = parseMnl(await nft(["-j", "--debug=mnl", "-c", "-f", file], { netns: nsNft }));
        expect(normalize(decodeBatch(ours.sends[0]!))).toEqual(normalize(theirs));
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 40) },
    );
    // Nearly every rule of these shapes is encoded; a refusal sends the batch to nft (correct, slower).
    expect(encoded, JSON.stringify([...refusals])).toBeGreaterThan(rules * 0.9);
  });

  it("the same batch through nft and through the relay leaves identical tables", async () => {
    for (const ns of [nsNft, nsNl]) await nftApply(setup, { netns: ns });
    const h = await grpHandle(nsNft);
    expect(await grpHandle(nsNl)).toBe(h);
    await nftApply(vocabularyBatch(h), { netns: nsNft });
    await viaRelay(vocabularyBatch(h));
    const [a, b] = [await listings(nsNft), await listings(nsNl)];
    expect(b[0]).toMatch(/chain grp2/);
    expect(b).toEqual(a);
    await nftApply(cleanup, { netns: nsNft });
    await viaRelay(cleanup);
    expect(await listings(nsNl)).toEqual(await listings(nsNft));
  });

  it("a refused batch through the relay changes nothing", async () => {
    for (const ns of [nsNft, nsNl]) await nftApply(setup, { netns: ns });
    const before = await listings(nsNl);
    const bad = { nftables: [{ add: { chain: { ...T, name: "x" } } }, { add: { rule: { ...T, chain: "x", expr: [{ jump: { target: "missing" } }] } } }] };
    await expect(viaRelay(bad)).rejects.toThrow(/ENOENT|no such/i);
    expect(await listings(nsNl)).toEqual(before);
  });


  it("random cluster changes: the Applier through netlink and through nft converge to identical tables", async () => {
    let viaNetlink = 0;
    let changes = 0;
    const refusals = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(arbCluster(THREE_POD_SPEC), { minLength: 2, maxLength: 4 }), async (irs) => {
        const withNft = new NftKernel({ netns: nsNft, netlinkRules: false, netlinkElements: false });
        const withNetlink = new NftKernel({ netns: nsNl });
        const appliers = [new Applier(withNft, { backend: nftBackend(), retry: { maxAttempts: 1 } }), new Applier(withNetlink, { backend: nftBackend(), retry: { maxAttempts: 1 } })];
        try {
          for (const [i, ir] of irs.entries()) {
            const model = buildDataplane(ir, "n1");
            const before = withNetlink.relayStats.batches;
            for (const a of appliers) await a.apply(model);
            if (i > 0) {
              changes++;
              if (withNetlink.relayStats.batches > before) viaNetlink++;
              else if (withNetlink.lastNetlinkRefusal) refusals.set(withNetlink.lastNetlinkRefusal.replace(/cali[-\w]+/g, "…"), (refusals.get(withNetlink.lastNetlinkRefusal) ?? 0) + 1);
            }
            expect(await listings(nsNl)).toEqual(await listings(nsNft));
          }
        } finally {
          await Promise.all([withNft.close(), withNetlink.close()]);
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 15) },
    );
    // Most changes are a rule, chain or set change the encoder covers; the rest went to nft.
    expect(viaNetlink, `refused: ${JSON.stringify([...refusals])}`).toBeGreaterThan(changes / 2);
  });
});

/** Chain handles in `ns` through a short-lived relay. */
async function relayFor(ns: string, names: string[]): Promise<Buffer> {
  const r = new NfnlRelay({ netns: ns });
  try {
    const q = encodeChainQuery("tortie", "inet", names, r.nextSeq());
    if (typeof q === "string") throw new Error(q);
    return await r.send(q);
  } finally {
    await r.close();
  }
}
