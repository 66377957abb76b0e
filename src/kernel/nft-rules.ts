/**
 * nf_tables rules, named sets and chains as netlink messages, encoded the way nft 1.0.6 linearises
 * the JSON tortie renders (src/render/nft/expr.ts), for native/nfnl-relay.
 *
 * Why: a policy add is a new set, a flush and refill of one group chain and a rename; through nft
 * it costs ~10–15 ms before the kernel sees it (nft re-reads every table, chain and set after each
 * commit, then parses and evaluates the batch; docs/performance.md, "Kernel updates"). Encoded
 * here, only the kernel's own commit is left.
 *
 * Exactness: what reaches the kernel must be what nft would have sent, so that the kernel holds
 * the same expressions, the same anonymous sets and the same user data (which nft reads back to
 * print a listing). The vocabulary is the fixed one of expr.ts; every shape outside it, and every
 * case where nft would do something this file does not reproduce, is refused with a reason, and
 * nft applies that batch. What was learned from nft itself (`nft --debug=netlink`, `--debug=mnl`)
 * and is reproduced:
 *  - payload loads of the matched field, with a bitwise mask for a prefix that is not whole bytes,
 *    and a shorter load for one that is (`ip daddr 10.0.0.0/8` loads 1 byte);
 *  - compares of adjacent transport-header fields with numeric values and the same operator are
 *    merged into one load (nft's payload_try_merge: `th sport 80 th dport 443`, `icmp type 8
 *    icmp code 0`), wherever they stand in the rule up to the next non-match statement; address
 *    strings are not merged;
 *  - `ct state in {…}` is a mask test (`& bits != 0`), `ct state != …` a plain compare;
 *  - a port range is `>= first, <= last`, a negated one `range neq`;
 *  - anonymous sets: ANONYMOUS|CONSTANT (|INTERVAL), a size, the key's byte order, `typeof` user
 *    data naming the key expression (none for a masked key), and for intervals the merge flag,
 *    a leading end element at zero, start and end (+1) elements, and an "open" flag on a last
 *    interval that reaches the top;
 *  - named sets declared by type: the key's byte order, and for a concatenation an empty `typeof
 *    concat` record;
 *  - rule comments as user data (type 0, NUL-terminated); `add` appends, `insert` prepends.
 * The kernel test (nft-rules.test.ts) applies the same batches to twin tables, one through nft and
 * one through this file, and compares what the kernel holds, user data included.
 *
 * Protocol dependencies: nft inserts `meta nfproto ipv4|ipv6` before the first address field of
 * a rule that has not established its family (compiled rules look up `ip saddr . meta l4proto .
 * th dport` alone), and `meta l4proto icmp|ipv6-icmp` (with the family first when that is not
 * stated either) before an ICMP field of a rule that has not stated its protocol; the transport
 * header needs none. A field of the other family or protocol is refused (nft refuses it too).
 */
import { attr, cString, ipv4Bytes, ipv6Bytes, nested, pad4, u32be } from "./netlink.js";

// linux/netfilter/nf_tables.h
const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
const NFT_REG_VERDICT = 0;
const NFT_REG_1 = 1;
const NFT_REG32_00 = 8;
const NFT_CMP = { eq: 0, neq: 1, lt: 2, lte: 3, gt: 4, gte: 5 } as const;
const NFT_RANGE_NEQ = 1;
const NFT_LOOKUP_F_INV = 1;
const VERDICT = { accept: 1, drop: 0, return: -5, jump: -3, goto: -4 } as const;
const NFT_SET_ANONYMOUS = 0x1;
const NFT_SET_CONSTANT = 0x2;
const NFT_SET_INTERVAL = 0x4;
const NFT_SET_ELEM_INTERVAL_END = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_FLAGS = 3;
const NFTA_SET_ELEM_USERDATA = 6;

// nft's datatypes (src/datatype.h) and protocol descriptions (src/proto.h), as nft stores them in
// a set's key type and user data.
const TYPE = { ipv4_addr: 7, ipv6_addr: 8, inet_proto: 12, inet_service: 13, icmp_type: 14, icmpv6_type: 29, icmp_code: 32, icmpv6_code: 33 } as const;
const TYPE_BITS = 6;
const BYTEORDER = { invalid: 0, host: 1, big: 2 } as const;
// libnftnl udata: set (KEYBYTEORDER, MERGE_ELEMENTS, KEY_TYPEOF), typeof (EXPR, DATA), rule
// (COMMENT), element (FLAGS: 1 = an interval open at the top).
const UD_SET_KEYBYTEORDER = 0;
const UD_SET_MERGE_ELEMENTS = 2;
const UD_SET_KEY_TYPEOF = 3;
const UD_TYPEOF_EXPR = 0;
const UD_TYPEOF_DATA = 1;
const UD_RULE_COMMENT = 0;
const UD_ELEM_FLAGS = 1;
const ELEM_F_INTERVAL_OPEN = 1;
const EXPR_ID = { payload: 7, meta: 9, concat: 13 } as const;

// ---- what a match's left side loads

/** How the kernel reads a value: its size, byte order, nft datatype, and `typeof` user data. */
interface Field {
  len: number;
  type: number;
  order: number;
  /** How a JSON value of this field becomes register bytes. */
  value: (v: unknown) => Buffer | string;
  /** The `typeof` record nft writes for a set keyed by this field (undefined: none). */
  typeofData?: Buffer;
}

interface MetaLeft {
  kind: "meta";
  key: number;
  field: Field;
  name: string;
}
interface PayloadLeft {
  kind: "payload";
  base: number;
  offset: number;
  field: Field;
  protocol: string;
  /** A mask applied before the compare (`ip saddr & 255.255.255.0`). */
  mask?: Buffer;
}
interface CtLeft {
  kind: "ct-state";
  field: Field;
}
interface MarkLeft {
  kind: "mark";
  field: Field;
  mask?: Buffer;
}
type Single = MetaLeft | PayloadLeft | CtLeft | MarkLeft;
interface ConcatLeft {
  kind: "concat";
  parts: Array<MetaLeft | PayloadLeft>;
}
type Left = Single | ConcatLeft;

const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const isUint = (v: unknown, max: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;

/** A libnftnl user-data TLV: type and length bytes, then the value. */
function udata(type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, value.length]), value]);
}
const typeofPayload = (desc: number, field: number) => Buffer.concat([udata(UD_TYPEOF_EXPR, u32le(EXPR_ID.payload)), udata(UD_TYPEOF_DATA, Buffer.concat([udata(0, u32le(desc)), udata(1, u32le(field))]))]);
const typeofMeta = (key: number) => Buffer.concat([udata(UD_TYPEOF_EXPR, u32le(EXPR_ID.meta)), udata(UD_TYPEOF_DATA, udata(0, u32le(key)))]);

function uintField(len: 1 | 2, type: number, order: number, typeofData?: Buffer): Field {
  return {
    len,
    type,
    order,
    ...(typeofData ? { typeofData } : {}),
    value: (v) => {
      if (!isUint(v, len === 1 ? 0xff : 0xffff)) return `${JSON.stringify(v)} is not a ${len * 8}-bit number`;
      const b = Buffer.alloc(len);
      if (len === 1) b.writeUInt8(v);
      else b.writeUInt16BE(v);
      return b;
    },
  };
}

function addrField(family: 4 | 6, typeofData?: Buffer): Field {
  return {
    len: family === 4 ? 4 : 16,
    type: family === 4 ? TYPE.ipv4_addr : TYPE.ipv6_addr,
    order: BYTEORDER.big,
    ...(typeofData ? { typeofData } : {}),
    value: (v) => (typeof v === "string" ? (family === 4 ? ipv4Bytes(v) : ipv6Bytes(v)) : undefined) ?? `${JSON.stringify(v)} is not an IPv${family} address`,
  };
}

/** Host-order 32-bit values (marks): numbers only. */
const hostU32: Field = { len: 4, type: 0, order: BYTEORDER.host, value: (v) => (isUint(v, 0xffff_ffff) ? u32le(v) : `${JSON.stringify(v)} is not a 32-bit number`) };

const CT_STATE_BITS: Readonly<Record<string, number>> = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };
const ctStateField: Field = {
  len: 4,
  type: 0,
  order: BYTEORDER.host,
  value: (v) => {
    const names = Array.isArray(v) ? v : [v];
    let bits = 0;
    for (const n of names) {
      const b = typeof n === "string" ? CT_STATE_BITS[n] : undefined;
      if (b === undefined) return `${JSON.stringify(n)} is not a conntrack state`;
      bits |= b;
    }
    return u32le(bits);
  },
};

const IFNAMSIZ = 16;
/** An interface name: 16 bytes padded with NULs, or only its prefix for a `name*` wildcard. */
const ifnameField: Field = {
  len: IFNAMSIZ,
  type: 0,
  order: BYTEORDER.host,
  value: (v) => {
    if (typeof v !== "string" || v.length === 0 || /[\\\0"]/.test(v)) return `${JSON.stringify(v)} is not an interface name`;
    const wildcard = v.endsWith("*");
    const name = wildcard ? v.slice(0, -1) : v;
    // nft refuses a text of IFNAMSIZ bytes or more, the wildcard's * included.
    if (name.includes("*") || Buffer.byteLength(v) >= IFNAMSIZ || (wildcard && name.length === 0)) return `${JSON.stringify(v)} is not an interface name`;
    return wildcard ? Buffer.from(name, "utf8") : Buffer.concat([Buffer.from(name, "utf8"), Buffer.alloc(IFNAMSIZ - Buffer.byteLength(name))]);
  },
};

const NFPROTO: Readonly<Record<string, number>> = { ipv4: 2, ipv6: 10 };
const nfprotoField: Field = { len: 1, type: 0, order: BYTEORDER.host, value: (v) => (typeof v === "string" && NFPROTO[v] !== undefined ? Buffer.from([NFPROTO[v]]) : `${JSON.stringify(v)} is not ipv4 or ipv6`) };

const META: Readonly<Record<string, { key: number; field: Field }>> = {
  nfproto: { key: 15, field: nfprotoField },
  l4proto: { key: 16, field: uintField(1, TYPE.inet_proto, BYTEORDER.host, typeofMeta(16)) },
  iifname: { key: 6, field: ifnameField },
  oifname: { key: 7, field: ifnameField },
};
const META_MARK = 3;

const NETWORK_HEADER = 1;
const TRANSPORT_HEADER = 2;
/** Header fields: base, offset, field; `desc`/`id` are nft's protocol and field numbers. */
const PAYLOAD: Readonly<Record<string, Readonly<Record<string, { base: number; offset: number; field: Field }>>>> = {
  ip: {
    saddr: { base: NETWORK_HEADER, offset: 12, field: addrField(4, typeofPayload(12, 11)) },
    daddr: { base: NETWORK_HEADER, offset: 16, field: addrField(4, typeofPayload(12, 12)) },
  },
  ip6: {
    saddr: { base: NETWORK_HEADER, offset: 8, field: addrField(6, typeofPayload(13, 8)) },
    daddr: { base: NETWORK_HEADER, offset: 24, field: addrField(6, typeofPayload(13, 9)) },
  },
  th: {
    sport: { base: TRANSPORT_HEADER, offset: 0, field: uintField(2, TYPE.inet_service, BYTEORDER.big, typeofPayload(11, 1)) },
    dport: { base: TRANSPORT_HEADER, offset: 2, field: uintField(2, TYPE.inet_service, BYTEORDER.big, typeofPayload(11, 2)) },
  },
  icmp: {
    type: { base: TRANSPORT_HEADER, offset: 0, field: uintField(1, TYPE.icmp_type, BYTEORDER.big, typeofPayload(4, 1)) },
    code: { base: TRANSPORT_HEADER, offset: 1, field: uintField(1, TYPE.icmp_code, BYTEORDER.big, typeofPayload(4, 2)) },
  },
  icmpv6: {
    type: { base: TRANSPORT_HEADER, offset: 0, field: uintField(1, TYPE.icmpv6_type, BYTEORDER.big, typeofPayload(14, 1)) },
    code: { base: TRANSPORT_HEADER, offset: 1, field: uintField(1, TYPE.icmpv6_code, BYTEORDER.big, typeofPayload(14, 2)) },
  },
};
/** What a header field needs established first: the network family, and for ICMP its protocol. */
const NEEDS: Readonly<Record<string, { nfproto?: number; l4proto?: number }>> = {
  ip: { nfproto: 2 },
  ip6: { nfproto: 10 },
  th: {},
  icmp: { nfproto: 2, l4proto: 1 },
  icmpv6: { nfproto: 10, l4proto: 58 },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The one key of a one-key object (`{meta: {...}}` → "meta"). */
function soleKey(o: Record<string, unknown>): string | undefined {
  const keys = Object.keys(o);
  return keys.length === 1 ? keys[0] : undefined;
}

function parseSingle(j: unknown): MetaLeft | PayloadLeft | CtLeft | string {
  if (!isObject(j)) return `${JSON.stringify(j)} is not an expression`;
  const k = soleKey(j);
  const body = k === undefined ? undefined : j[k];
  if (!isObject(body)) return `${JSON.stringify(j)} is not an expression`;
  if (k === "meta") {
    const m = typeof body.key === "string" ? META[body.key] : undefined;
    return m ? { kind: "meta", key: m.key, field: m.field, name: body.key as string } : `meta ${String(body.key)}`;
  }
  if (k === "payload") {
    const p = typeof body.protocol === "string" && typeof body.field === "string" ? PAYLOAD[body.protocol]?.[body.field] : undefined;
    return p ? { kind: "payload", base: p.base, offset: p.offset, field: p.field, protocol: body.protocol as string } : `payload ${String(body.protocol)} ${String(body.field)}`;
  }
  if (k === "ct") return body.key === "state" && body.dir === undefined ? { kind: "ct-state", field: ctStateField } : `ct ${String(body.key)}`;
  return `${k} expression`;
}

function parseLeft(j: unknown): Left | string {
  if (isObject(j) && Array.isArray(j["&"])) {
    const [inner, mask] = j["&"] as unknown[];
    if (isObject(inner) && isObject(inner.meta) && inner.meta.key === "mark") {
      const m = hostU32.value(mask);
      return typeof m === "string" ? m : { kind: "mark", field: hostU32, mask: m };
    }
    const p = parseSingle(inner);
    if (typeof p === "string") return p;
    if (p.kind !== "payload" || p.field.type !== TYPE.ipv4_addr && p.field.type !== TYPE.ipv6_addr) return "a mask on something other than an address";
    const m = p.field.value(mask);
    if (typeof m === "string") return m;
    // A masked key is an expression nft does not describe in a set's user data.
    const { typeofData: _, ...field } = p.field;
    return { ...p, field, mask: m };
  }
  if (isObject(j) && Array.isArray(j.concat)) {
    const parts: Array<MetaLeft | PayloadLeft> = [];
    for (const x of j.concat) {
      const p = parseSingle(x);
      if (typeof p === "string") return p;
      if (p.kind === "ct-state") return "ct in a concatenation";
      parts.push(p);
    }
    return parts.length >= 2 ? { kind: "concat", parts } : "a concatenation of fewer than two fields";
  }
  if (isObject(j) && isObject(j.meta) && j.meta.key === "mark") return { kind: "mark", field: hostU32 };
  return parseSingle(j);
}

// ---- expressions

function expr(name: string, attrs: Buffer[] | undefined): Buffer {
  const parts = [attr(NFTA_EXPR_NAME, cString(name))];
  if (attrs) parts.push(nested(NFTA_EXPR_DATA, attrs));
  return nested(NFTA_LIST_ELEM, parts);
}
const dataValue = (type: number, bytes: Buffer) => nested(type, [attr(NFTA_DATA_VALUE, bytes)]);
const metaLoad = (key: number, reg: number) => expr("meta", [attr(2, u32be(key)), attr(1, u32be(reg))]);
const metaSet = (key: number, reg: number) => expr("meta", [attr(2, u32be(key)), attr(3, u32be(reg))]);
const payloadLoad = (base: number, offset: number, len: number, reg: number) => expr("payload", [attr(1, u32be(reg)), attr(2, u32be(base)), attr(3, u32be(offset)), attr(4, u32be(len))]);
const ctLoad = (key: number, reg: number) => expr("ct", [attr(2, u32be(key)), attr(1, u32be(reg))]);
const cmp = (reg: number, op: number, data: Buffer) => expr("cmp", [attr(1, u32be(reg)), attr(2, u32be(op)), dataValue(3, data)]);
const range = (reg: number, op: number, from: Buffer, to: Buffer) => expr("range", [attr(1, u32be(reg)), attr(2, u32be(op)), dataValue(3, from), dataValue(4, to)]);
/** reg = (reg & mask) ^ xor. nft sends the boolean operation (6) for a binop it was given
 *  (`&`, `|`), not for the masks it makes itself (prefixes, ct flags); the kernel stores both alike. */
function bitwise(reg: number, mask: Buffer, xor: Buffer, withOp: boolean): Buffer {
  const attrs = [attr(1, u32be(reg)), attr(2, u32be(reg))];
  if (withOp) attrs.push(attr(6, u32be(0)));
  attrs.push(attr(3, u32be(mask.length)), dataValue(4, mask), dataValue(5, xor));
  return expr("bitwise", attrs);
}
function lookup(reg: number, set: string, setId: number | undefined, opts: { dreg?: number; invert?: boolean } = {}): Buffer {
  const attrs = [attr(2, u32be(reg))];
  if (opts.dreg !== undefined) attrs.push(attr(3, u32be(opts.dreg)));
  attrs.push(attr(1, cString(set)));
  if (setId !== undefined) attrs.push(attr(4, u32be(setId)));
  if (opts.invert) attrs.push(attr(5, u32be(NFT_LOOKUP_F_INV)));
  return expr("lookup", attrs);
}
function immediateVerdict(code: number, chain?: string): Buffer {
  const c = Buffer.alloc(4);
  c.writeInt32BE(code);
  const verdict = [attr(NFTA_VERDICT_CODE, c)];
  if (chain !== undefined) verdict.push(attr(NFTA_VERDICT_CHAIN, cString(chain)));
  return expr("immediate", [attr(1, u32be(NFT_REG_VERDICT)), nested(2, [nested(NFTA_DATA_VERDICT, verdict)])]);
}

// ---- anonymous sets

/** An anonymous set a rule needs, created just before it in the same batch. */
export interface AnonSet {
  id: number;
  flags: number;
  keyType: number;
  keyLen: number;
  userdata: Buffer;
  /** Encoded NFTA_LIST_ELEM elements. */
  elements: Buffer[];
  /** The size nft declares: the elements, plus one for an interval left open at the top (nft
   *  counts the end element it then leaves out). */
  size: number;
}

function element(key: Buffer, end: boolean, open = false): Buffer {
  const parts: Buffer[] = [];
  if (end) parts.push(attr(NFTA_SET_ELEM_FLAGS, u32be(NFT_SET_ELEM_INTERVAL_END)));
  parts.push(nested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, key)]));
  if (open) parts.push(attr(NFTA_SET_ELEM_USERDATA, udata(UD_ELEM_FLAGS, u32le(ELEM_F_INTERVAL_OPEN))));
  return nested(NFTA_LIST_ELEM, parts);
}

const toBig = (b: Buffer) => BigInt(`0x${b.toString("hex") || "0"}`);
const fromBig = (v: bigint, len: number) => Buffer.from(v.toString(16).padStart(len * 2, "0"), "hex");

/** [first, last] of one set member of an interval set: a value, a range or a prefix. */
function memberInterval(v: unknown, field: Field): [bigint, bigint] | string {
  const bits = BigInt(field.len * 8);
  if (isObject(v) && Array.isArray(v.range) && v.range.length === 2) {
    const a = field.value(v.range[0]);
    const b = field.value(v.range[1]);
    if (typeof a === "string") return a;
    if (typeof b === "string") return b;
    return [toBig(a), toBig(b)];
  }
  if (isObject(v) && isObject(v.prefix)) {
    const a = field.value(v.prefix.addr);
    if (typeof a === "string") return a;
    const len = v.prefix.len;
    if (!isUint(len, field.len * 8) || len === 0) return `prefix length ${JSON.stringify(len)}`;
    const host = (1n << (bits - BigInt(len))) - 1n;
    const first = toBig(a);
    if ((first & host) !== 0n) return `${JSON.stringify(v.prefix.addr)} has bits beyond /${len}`;
    return [first, first | host];
  }
  const x = field.value(v);
  if (typeof x === "string") return x;
  return [toBig(x), toBig(x)];
}

/** The kernel elements of an interval set, as nft makes them: sorted, overlapping and adjacent
 *  members joined (anonymous sets are merged), a zero end element before a first interval that
 *  does not start at zero, and an interval reaching the top left open. */
function intervalElements(members: unknown[], field: Field): { elements: Buffer[]; open: boolean } | string {
  const iv: Array<[bigint, bigint]> = [];
  for (const m of members) {
    const r = memberInterval(m, field);
    if (typeof r === "string") return r;
    if (r[0] > r[1]) return "a range whose start is after its end";
    iv.push(r);
  }
  iv.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: Array<[bigint, bigint]> = [];
  for (const r of iv) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1n) {
      if (r[1] > last[1]) last[1] = r[1];
    } else merged.push([r[0], r[1]]);
  }
  const top = (1n << BigInt(field.len * 8)) - 1n;
  const out: Buffer[] = [];
  if (merged[0]![0] !== 0n) out.push(element(fromBig(0n, field.len), true));
  for (const [a, b] of merged) {
    if (b === top) out.push(element(fromBig(a, field.len), false, true));
    else out.push(element(fromBig(a, field.len), false), element(fromBig(b + 1n, field.len), true));
  }
  return { elements: out, open: merged[merged.length - 1]![1] === top };
}

function setUserdata(order: number, merge: boolean, typeofData: Buffer | undefined): Buffer {
  const parts = [udata(UD_SET_KEYBYTEORDER, u32le(order))];
  if (merge) parts.push(udata(UD_SET_MERGE_ELEMENTS, u32le(1)));
  if (typeofData) parts.push(udata(UD_SET_KEY_TYPEOF, typeofData));
  return Buffer.concat(parts);
}

/** The anonymous set `{set: members}` for a left side, or why it is not encoded. */
function anonSet(left: Left, members: unknown[], id: number): AnonSet | string {
  if (members.length < 2 && left.kind !== "concat") return "a one-element set (nft turns it into a value)";
  if (left.kind === "concat") {
    const fields = left.parts.map((p) => p.field);
    const elements: Buffer[] = [];
    for (const m of members) {
      if (!isObject(m) || !Array.isArray(m.concat) || m.concat.length !== fields.length) return "a set element that does not match its concatenation";
      const parts: Buffer[] = [];
      for (let i = 0; i < fields.length; i++) {
        const v = fields[i]!.value(m.concat[i]);
        if (typeof v === "string") return v;
        parts.push(v, Buffer.alloc(pad4(v.length) - v.length));
      }
      elements.push(element(Buffer.concat(parts), false));
    }
    if (!fields.every((f) => f.typeofData)) return "a concatenation nft does not describe";
    const typeofConcat = Buffer.concat([udata(UD_TYPEOF_EXPR, u32le(EXPR_ID.concat)), udata(UD_TYPEOF_DATA, Buffer.concat(fields.map((f, i) => udata(i, f.typeofData!))))]);
    return {
      id,
      flags: NFT_SET_ANONYMOUS | NFT_SET_CONSTANT,
      keyType: fields.reduce((t, f) => (t << TYPE_BITS) | f.type, 0),
      keyLen: fields.reduce((n, f) => n + pad4(f.len), 0),
      userdata: setUserdata(BYTEORDER.invalid, false, typeofConcat),
      elements,
      size: elements.length,
    };
  }
  if (left.kind !== "payload" && left.kind !== "meta") return `a set of ${left.kind} values`;
  const field = left.field;
  if (field.type === 0) return "a set of values without an nft datatype";
  const interval = members.some((m) => isObject(m) && (m.range !== undefined || m.prefix !== undefined));
  if (interval && left.kind === "payload" && left.mask) return "an interval set of masked addresses";
  let elements: Buffer[];
  let size: number;
  if (interval) {
    const e = intervalElements(members, field);
    if (typeof e === "string") return e;
    elements = e.elements;
    size = elements.length + (e.open ? 1 : 0);
  } else {
    elements = [];
    const seen = new Set<string>();
    for (const m of members) {
      const v = field.value(m);
      if (typeof v === "string") return v;
      const hex = v.toString("hex");
      if (seen.has(hex)) return "a set with a repeated element";
      seen.add(hex);
      elements.push(element(v, false));
    }
    size = elements.length;
  }
  return {
    id,
    flags: NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | (interval ? NFT_SET_INTERVAL : 0),
    keyType: field.type,
    keyLen: field.len,
    userdata: setUserdata(field.order, interval, field.typeofData),
    elements,
    size,
  };
}

// ---- statements

interface Match {
  kind: "match";
  op: string;
  left: Left;
  right: unknown;
}
type Stmt = Match | { kind: "other"; json: Record<string, unknown> };

/** Linearised rule: its expressions and the anonymous sets to create first. */
export interface LinearRule {
  exprs: Buffer[];
  sets: AnonSet[];
}

/** Allocates set ids within one batch. */
export interface IdSource {
  next(): number;
}

/**
 * The expressions of one rule as nft would send them (see the file comment), or why not.
 */
export function linearizeRule(exprJson: unknown, ids: IdSource): LinearRule | string {
  if (!Array.isArray(exprJson)) return "rule without an expression list";
  const stmts: Stmt[] = [];
  for (const s of exprJson) {
    if (!isObject(s)) return "statement is not an object";
    if (isObject(s.match) && soleKey(s) === "match") {
      const m = s.match;
      if (typeof m.op !== "string") return "match without an operator";
      const left = parseLeft(m.left);
      if (typeof left === "string") return left;
      stmts.push({ kind: "match", op: m.op, left, right: m.right });
    } else stmts.push({ kind: "other", json: s });
  }
  mergePayloads(stmts);
  const out: LinearRule = { exprs: [], sets: [] };
  let nfproto: number | undefined;
  let l4proto: number | "set" | undefined;
  for (const s of stmts) {
    if (s.kind === "other") {
      const r = linearizeOther(s.json, l4proto, out);
      if (r) return r;
      continue;
    }
    // Protocol context: what earlier matches established (nft's dependency tracking). An address
    // field needs its family: nft puts `meta nfproto ipv4|ipv6` before the first one of a rule
    // that has not said it. An ICMP field needs its protocol: when the rule has not said it, nft
    // puts `meta l4proto icmp|ipv6-icmp` before it, preceded by the family when that is not said
    // either (a rule that says the protocol needs no family). The transport header needs nothing.
    for (const p of s.left.kind === "concat" ? s.left.parts : [s.left]) {
      if (p.kind !== "payload") continue;
      const needs = NEEDS[p.protocol]!;
      if (needs.l4proto !== undefined) {
        if (l4proto === needs.l4proto) continue;
        if (l4proto !== undefined) return `${p.protocol} field in a rule of another protocol`;
        if (nfproto !== undefined && nfproto !== needs.nfproto) return `${p.protocol} field in a rule of the other family`;
        if (nfproto === undefined) out.exprs.push(metaLoad(META.nfproto!.key, NFT_REG_1), cmp(NFT_REG_1, NFT_CMP.eq, Buffer.from([needs.nfproto!])));
        out.exprs.push(metaLoad(META.l4proto!.key, NFT_REG_1), cmp(NFT_REG_1, NFT_CMP.eq, Buffer.from([needs.l4proto])));
        nfproto = needs.nfproto;
        l4proto = needs.l4proto;
        continue;
      }
      if (needs.nfproto === undefined) continue;
      if (nfproto === undefined) {
        out.exprs.push(metaLoad(META.nfproto!.key, NFT_REG_1), cmp(NFT_REG_1, NFT_CMP.eq, Buffer.from([needs.nfproto])));
        nfproto = needs.nfproto;
      }
      if (nfproto !== needs.nfproto) return `${p.protocol} field in a rule of the other family`;
    }
    const r = linearizeMatch(s, ids, out);
    if (r) return r;
    if (s.left.kind === "meta" && s.op === "==") {
      if (s.left.name === "nfproto" && typeof s.right === "string") nfproto = NFPROTO[s.right];
      if (s.left.name === "l4proto") l4proto = typeof s.right === "number" ? s.right : "set";
    }
  }
  return out;
}

/** Is this match one nft's payload_try_merge collects: a plain header field compared (==, !=)
 *  with a number. */
function mergeable(s: Stmt): s is Match & { left: PayloadLeft } {
  return s.kind === "match" && s.left.kind === "payload" && !s.left.mask && (s.op === "==" || s.op === "!=") && typeof s.right === "number";
}

/**
 * nft's payload_try_merge: within each run of statements up to a non-match statement, the
 * mergeable header compares are sorted by offset, and each one adjacent to the one before (same
 * base, same operator) is joined into it: one load, one compare of the concatenated values. The
 * joined compare keeps the place of the first in offset order. Values are kept as bytes in
 * `right` (a Buffer) once merged.
 */
function mergePayloads(stmts: Stmt[]): void {
  // The runs first, the merges (which remove statements) after: not while walking the list.
  const runs: Array<Array<Match & { left: PayloadLeft }>> = [[]];
  for (const s of stmts) {
    if (s.kind === "other") runs.push([]);
    else if (mergeable(s)) runs[runs.length - 1]!.push(s);
  }
  for (const run of runs) {
    if (run.length >= 2) {
      const sorted = [...run].sort((a, b) => a.left.base - b.left.base || a.left.offset - b.left.offset);
      let last = sorted[0]!;
      for (const cur of sorted.slice(1)) {
        const adjacent = cur.left.base === last.left.base && last.left.offset + last.left.field.len === cur.left.offset && cur.op === last.op;
        if (!adjacent) {
          last = cur;
          continue;
        }
        const a = last.right instanceof Buffer ? last.right : (last.left.field.value(last.right) as Buffer | string);
        const b = cur.left.field.value(cur.right);
        if (typeof a === "string" || typeof b === "string") {
          last = cur;
          continue;
        }
        const bytes = Buffer.concat([a, b]);
        last.left = { ...last.left, field: { len: bytes.length, type: 0, order: BYTEORDER.big, value: () => "merged" } };
        last.right = bytes;
        stmts.splice(stmts.indexOf(cur), 1);
      }
    }
  }
}

/** Loads the left side into registers, from register 1. */
function load(left: Left, out: LinearRule): void {
  switch (left.kind) {
    case "meta":
      out.exprs.push(metaLoad(left.key, NFT_REG_1));
      return;
    case "ct-state":
      out.exprs.push(ctLoad(0, NFT_REG_1));
      return;
    case "mark":
      out.exprs.push(metaLoad(META_MARK, NFT_REG_1));
      if (left.mask) out.exprs.push(bitwise(NFT_REG_1, left.mask, Buffer.alloc(4), true));
      return;
    case "payload":
      out.exprs.push(payloadLoad(left.base, left.offset, left.field.len, NFT_REG_1));
      if (left.mask) out.exprs.push(bitwise(NFT_REG_1, left.mask, Buffer.alloc(left.mask.length), true));
      return;
    case "concat": {
      // Fields go in consecutive 4-byte words from register 1. nft names a word that starts a
      // 16-byte register by that register (NFT_REG_1 + w/4), any other by its 32-bit number.
      let word = 0;
      for (const p of left.parts) {
        const reg = word % 4 === 0 ? NFT_REG_1 + word / 4 : NFT_REG32_00 + word;
        out.exprs.push(p.kind === "meta" ? metaLoad(p.key, reg) : payloadLoad(p.base, p.offset, p.field.len, reg));
        word += pad4(p.field.len) / 4;
      }
      return;
    }
  }
}

function linearizeMatch(s: Match, ids: IdSource, out: LinearRule): string | undefined {
  const { op, left, right } = s;
  if (op !== "==" && op !== "!=" && op !== "in") return `operator ${op}`;
  if (left.kind === "ct-state") {
    const v = left.field.value(right);
    if (typeof v === "string") return v;
    out.exprs.push(ctLoad(0, NFT_REG_1));
    // `in` (and a flag list) tests bits; `!=` compares the whole value, as nft 1.0.6 does.
    if (op === "in") out.exprs.push(bitwise(NFT_REG_1, v, Buffer.alloc(4), false), cmp(NFT_REG_1, NFT_CMP.neq, Buffer.alloc(4)));
    else if (op === "!=") out.exprs.push(cmp(NFT_REG_1, NFT_CMP.neq, v));
    else return "ct state ==";
    return undefined;
  }
  if (op === "in") return `operator in on ${left.kind}`;
  const negate = op === "!=";
  if (right instanceof Buffer) {
    // Merged header compares (mergePayloads): the value is already bytes.
    load(left, out);
    out.exprs.push(cmp(NFT_REG_1, negate ? NFT_CMP.neq : NFT_CMP.eq, right));
    return undefined;
  }
  if (typeof right === "string" && right.startsWith("@")) {
    if (left.kind === "mark") return "a set lookup of the mark";
    load(left, out);
    out.exprs.push(lookup(NFT_REG_1, right.slice(1), undefined, { invert: negate }));
    return undefined;
  }
  if (isObject(right) && Array.isArray(right.set)) {
    const set = anonSet(left, right.set, ids.next());
    if (typeof set === "string") return set;
    out.sets.push(set);
    load(left, out);
    out.exprs.push(lookup(NFT_REG_1, "__set%d", set.id, { invert: negate }));
    return undefined;
  }
  if (left.kind === "concat") return "a concatenation compared with a value";
  if (isObject(right) && Array.isArray(right.range)) {
    if (left.kind !== "payload" || left.mask) return `a range of ${left.kind}`;
    const [a, b] = right.range.map((x) => left.field.value(x));
    if (typeof a !== "object" || typeof b !== "object") return "a range of values that are not numbers";
    load(left, out);
    if (negate) out.exprs.push(range(NFT_REG_1, NFT_RANGE_NEQ, a, b));
    else out.exprs.push(cmp(NFT_REG_1, NFT_CMP.gte, a), cmp(NFT_REG_1, NFT_CMP.lte, b));
    return undefined;
  }
  if (isObject(right) && isObject(right.prefix)) {
    if (left.kind !== "payload" || left.mask) return `a prefix of ${left.kind}`;
    const addr = left.field.value(right.prefix.addr);
    if (typeof addr === "string") return addr;
    const len = right.prefix.len;
    if (!isUint(len, left.field.len * 8) || len === 0) return `prefix length ${JSON.stringify(len)}`;
    const bits = left.field.len * 8;
    const host = (1n << BigInt(bits - len)) - 1n;
    if ((toBig(addr) & host) !== 0n) return `${JSON.stringify(right.prefix.addr)} has bits beyond /${len}`;
    const c = negate ? NFT_CMP.neq : NFT_CMP.eq;
    if (len % 8 === 0) {
      // Whole bytes: load only those.
      out.exprs.push(payloadLoad(left.base, left.offset, len / 8, NFT_REG_1), cmp(NFT_REG_1, c, addr.subarray(0, len / 8)));
    } else {
      const mask = fromBig(((1n << BigInt(bits)) - 1n) ^ host, left.field.len);
      out.exprs.push(payloadLoad(left.base, left.offset, left.field.len, NFT_REG_1), bitwise(NFT_REG_1, mask, Buffer.alloc(left.field.len), false), cmp(NFT_REG_1, c, addr));
    }
    return undefined;
  }
  const v = left.field.value(right);
  if (typeof v === "string") return v;
  load(left, out);
  out.exprs.push(cmp(NFT_REG_1, negate ? NFT_CMP.neq : NFT_CMP.eq, v));
  return undefined;
}

const REJECT = { "tcp reset": { type: 1, code: 0 }, "icmpx admin-prohibited": { type: 2, code: 3 } } as const;

function linearizeOther(s: Record<string, unknown>, l4proto: number | "set" | undefined, out: LinearRule): string | undefined {
  const k = soleKey(s);
  const body = k === undefined ? undefined : s[k];
  switch (k) {
    case "accept":
    case "drop":
    case "return":
      if (body !== null) return `${k} with arguments`;
      out.exprs.push(immediateVerdict(VERDICT[k]));
      return undefined;
    case "jump":
    case "goto": {
      const target = isObject(body) ? body.target : undefined;
      if (typeof target !== "string" || target.length === 0 || Buffer.byteLength(target) > 255) return `${k} without a chain`;
      out.exprs.push(immediateVerdict(VERDICT[k], target));
      return undefined;
    }
    case "vmap": {
      if (!isObject(body) || typeof body.data !== "string" || !body.data.startsWith("@")) return "vmap without a named map";
      const key = parseSingle(body.key);
      if (typeof key === "string" || key.kind !== "meta" || (key.name !== "iifname" && key.name !== "oifname")) return "vmap keyed by something other than an interface name";
      out.exprs.push(metaLoad(key.key, NFT_REG_1), lookup(NFT_REG_1, body.data.slice(1), undefined, { dreg: NFT_REG_VERDICT }));
      return undefined;
    }
    case "mangle": {
      if (!isObject(body) || !isObject(body.key) || !isObject(body.key.meta) || body.key.meta.key !== "mark" || !isObject(body.value)) return "mangle of something other than the mark";
      const op = soleKey(body.value);
      const args = op === undefined ? undefined : body.value[op];
      if ((op !== "|" && op !== "&") || !Array.isArray(args) || args.length !== 2 || !isObject(args[0]) || !isObject(args[0].meta) || args[0].meta.key !== "mark" || !isUint(args[1], 0xffff_ffff)) return "a mark set that is not mark | bits or mark & mask";
      const bits = args[1] as number;
      // mark | b = (mark & ~b) ^ b; mark & m = (mark & m) ^ 0.
      const [mask, xor] = op === "|" ? [~bits >>> 0, bits] : [bits, 0];
      out.exprs.push(metaLoad(META_MARK, NFT_REG_1), bitwise(NFT_REG_1, u32le(mask), u32le(xor), true), metaSet(META_MARK, NFT_REG_1));
      return undefined;
    }
    case "log": {
      if (!isObject(body) || typeof body.prefix !== "string" || !isUint(body.group, 0xffff) || Object.keys(body).length !== 2) return "log other than prefix and group";
      if (body.prefix.length === 0 || body.prefix.includes("\0") || Buffer.byteLength(body.prefix) > 127) return "log prefix";
      const group = Buffer.alloc(2);
      group.writeUInt16BE(body.group);
      out.exprs.push(expr("log", [attr(2, cString(body.prefix)), attr(1, group)]));
      return undefined;
    }
    case "notrack":
      if (body !== null) return "notrack with arguments";
      out.exprs.push(expr("notrack", undefined));
      return undefined;
    case "reject": {
      const name = isObject(body) ? (body.expr === undefined ? String(body.type) : `${String(body.type)} ${String(body.expr)}`) : "";
      const r = REJECT[name as keyof typeof REJECT];
      if (!r || !isObject(body) || Object.keys(body).length !== (body.expr === undefined ? 1 : 2)) return `reject ${name}`;
      // nft makes `reject with tcp reset` depend on TCP; tortie's rules say so first.
      if (r.type === 1 && l4proto !== 6) return "tcp reset without TCP established";
      out.exprs.push(expr("reject", [attr(1, u32be(r.type)), attr(2, Buffer.from([r.code]))]));
      return undefined;
    }
    default:
      return `${k ?? "statement"} statement`;
  }
}

// ---- messages' attributes

/** NFTA_RULE_USERDATA of a comment. */
export function ruleComment(comment: string): Buffer | string {
  const b = cString(comment);
  if (comment.includes("\0") || b.length > 128) return "comment longer than nft allows";
  return Buffer.concat([Buffer.from([UD_RULE_COMMENT, b.length]), b]);
}

/** The attributes of a named set declared by type (`add set … { type … }`), as nft sends them. */
export function namedSetAttrs(fields: ReadonlyArray<"ipv4_addr" | "ipv6_addr" | "inet_proto" | "inet_service">): { keyType: number; keyLen: number; userdata: Buffer } {
  const lens = fields.map((f) => (f === "ipv4_addr" ? 4 : f === "ipv6_addr" ? 16 : f === "inet_proto" ? 1 : 2));
  if (fields.length === 1) {
    const order = fields[0] === "inet_proto" ? BYTEORDER.host : BYTEORDER.big;
    return { keyType: TYPE[fields[0]!], keyLen: lens[0]!, userdata: setUserdata(order, false, undefined) };
  }
  // A concatenation declared by type: byte order "invalid", and a `typeof concat` with no parts.
  const typeofConcat = Buffer.concat([udata(UD_TYPEOF_EXPR, u32le(EXPR_ID.concat)), Buffer.from([UD_TYPEOF_DATA, 0])]);
  return {
    keyType: fields.reduce((t, f) => (t << TYPE_BITS) | TYPE[f], 0),
    keyLen: lens.reduce((n, l) => n + pad4(l), 0),
    userdata: setUserdata(BYTEORDER.invalid, false, typeofConcat),
  };
}

