/**
 * nf_tables set-element changes as netlink messages, for native/nfnl-relay.
 *
 * Why: nft 1.0.x dumps every table, chain and set of the ruleset before each transaction, because
 * the previous commit changed the ruleset generation (docs/performance.md, "Kernel updates"). On a
 * node of a 100k-pod cluster that is ~10 ms of every pod add, whose kernel work is a few hash-set
 * elements. A batch made only of element additions and deletions is encoded here as the messages
 * nft itself would send (NFT_MSG_NEWSETELEM / DELSETELEM between BATCH_BEGIN and BATCH_END: one
 * transaction, all or nothing) and goes to the kernel without nft. Everything else — tables, sets,
 * chains, rules, interval elements, sets whose layout we have not seen — stays with nft.
 *
 * The layout of a set's key is learned from the batches and listings nft handled (`SetShapes`):
 * the JSON form of an element alone does not say whether a 6 in a concatenation is an
 * inet_proto (one byte) or an inet_service (two).
 *
 * Encodings follow nft's datatypes (src/datatype.c, src/proto.c of nftables; kernel
 * net/netfilter/nf_tables_api.c): addresses and ports in network byte order; inet_proto one byte;
 * ifname IFNAMSIZ bytes padded with NULs; in a concatenation every field is padded to 4 bytes.
 * Netlink framing, answers and errors: netlink.ts.
 */
import { attr, chunksBySize, cString, ipv4Bytes, ipv6Bytes, MAX_RELAY_BATCH_BYTES, message, nested, NLM_F_CREATE, NLM_F_REQUEST, pad4, SEQ_BLOCK, type EncodedBatch } from "./netlink.js";

// linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h
const NLMSG_MIN_TYPE = 0x10;
const NFNL_MSG_BATCH_BEGIN = NLMSG_MIN_TYPE;
const NFNL_MSG_BATCH_END = NLMSG_MIN_TYPE + 1;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFT_MSG_GETGEN = 16;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
const NFT_JUMP = -3;
const NFT_GOTO = -4;
const IFNAMSIZ = 16;
/** Chain names longer than this (NFT_CHAIN_MAXNAMELEN - 1) are refused by the kernel. */
const CHAIN_NAME_MAX = 255;

const FAMILIES: Readonly<Record<string, number>> = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 };

/** nft datatypes a key field can have here, with their size in bytes. */
const FIELD_SIZE = { ipv4_addr: 4, ipv6_addr: 16, inet_proto: 1, inet_service: 2, ifname: IFNAMSIZ } as const;
type FieldType = keyof typeof FIELD_SIZE;

/** What encoding a named set's elements needs. */
export interface SetShape {
  fields: FieldType[];
  /** A verdict map (its elements carry a jump or goto). */
  verdictMap: boolean;
}

/** Set and map layouts of one table, learned from what nft applied or listed. */
export class SetShapes {
  private readonly byName = new Map<string, SetShape>();
  constructor(
    readonly family: string,
    readonly table: string,
  ) {}

  get(name: string): SetShape | undefined {
    return this.byName.get(name);
  }
  get size(): number {
    return this.byName.size;
  }
  clear(): void {
    this.byName.clear();
  }

  /** Learns from a batch the kernel accepted: sets and maps added, deleted, tables replaced. */
  learnBatch(batch: unknown): void {
    for (const cmd of commandsOf(batch)) {
      for (const [verb, body] of Object.entries(cmd)) {
        if (!isObject(body)) continue;
        for (const [kind, o] of Object.entries(body)) {
          if (!isObject(o)) continue;
          if (kind === "table") {
            if (this.isOurs(o.family, o.name) && verb === "delete") this.clear();
            continue;
          }
          if ((kind !== "set" && kind !== "map") || !this.isOurs(o.family, o.table) || typeof o.name !== "string") continue;
          if (verb === "delete") this.byName.delete(o.name);
          else if (verb === "add" || verb === "create") this.learnObject(kind, o);
        }
      }
    }
  }

  /** Learns from `nft -j list table` output: every set and map of our table. */
  learnListing(listing: unknown): void {
    this.clear();
    for (const item of commandsOf(listing)) {
      for (const kind of ["set", "map"] as const) {
        const o = (item as Record<string, unknown>)[kind];
        if (isObject(o) && this.isOurs(o.family, o.table) && typeof o.name === "string") this.learnObject(kind, o);
      }
    }
  }

  private isOurs(family: unknown, table: unknown): boolean {
    return family === this.family && table === this.table;
  }

  private learnObject(kind: "set" | "map", o: Record<string, unknown>): void {
    const name = o.name as string;
    const shape = shapeOf(kind, o);
    if (shape) this.byName.set(name, shape);
    else this.byName.delete(name); // a layout we do not encode: its elements stay with nft
  }
}

function shapeOf(kind: "set" | "map", o: Record<string, unknown>): SetShape | undefined {
  // Interval sets need range-end elements and nft's merging; timeouts, counters and other
  // element state are not encoded: nft keeps all of them.
  if (o.flags !== undefined && !(Array.isArray(o.flags) && o.flags.length === 0)) return undefined;
  for (const k of ["timeout", "gc-interval", "stmt"]) if (o[k] !== undefined) return undefined;
  const types = Array.isArray(o.type) ? o.type : [o.type];
  if (types.length === 0 || !types.every((t): t is FieldType => typeof t === "string" && t in FIELD_SIZE)) return undefined;
  if (kind === "map") {
    if (o.map !== "verdict") return undefined;
    return { fields: types, verdictMap: true };
  }
  return { fields: types, verdictMap: false };
}

/** The generation query alone: what the relay's first request sends, to check it can talk. */
export function encodeGenerationQuery(seq: number): EncodedBatch {
  const getgen = message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, NLM_F_REQUEST, seq, 0, 0, []);
  return { sends: [getgen], terminator: seq, describe: new Map([[seq, "get ruleset generation"]]) };
}

/** Element attributes are nested in one attribute, whose length is 16 bits: split below this. */
const ELEMENTS_PER_MESSAGE_BYTES = 60_000;

/**
 * Encodes a batch made only of set and map element additions and deletions of known sets, or
 * returns why it cannot (then nft applies it).
 */
export function encodeElementBatch(batch: unknown, shapes: SetShapes, firstSeq: number): EncodedBatch | string {
  const cmds = commandsOf(batch);
  if (cmds.length === 0) return "empty batch";
  const family = FAMILIES[shapes.family];
  if (family === undefined) return `family ${shapes.family}`;
  const messages: Buffer[] = [];
  const describe = new Map<number, string>();
  let seq = firstSeq;
  messages.push(message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES, []));
  for (const cmd of cmds) {
    const verbs = Object.keys(cmd);
    if (verbs.length !== 1) return "command with several verbs";
    const verb = verbs[0]!;
    if (verb !== "add" && verb !== "delete") return `${verb} command`;
    const body = cmd[verb];
    if (!isObject(body) || Object.keys(body).length !== 1 || !isObject(body.element)) return `${verb} of something other than elements`;
    const el = body.element;
    if (el.family !== shapes.family || el.table !== shapes.table || typeof el.name !== "string" || !Array.isArray(el.elem)) return "element command of another table";
    const shape = shapes.get(el.name);
    if (!shape) return `set ${el.name} of unknown layout`;
    const encoded: Buffer[] = [];
    for (const e of el.elem) {
      const one = encodeElement(e, shape, verb === "add");
      if (typeof one === "string") return `${el.name}: ${one}`;
      encoded.push(one);
    }
    for (const chunk of chunksBySize(encoded, ELEMENTS_PER_MESSAGE_BYTES)) {
      const type = (NFNL_SUBSYS_NFTABLES << 8) | (verb === "add" ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
      // nft's `add element` is NLM_F_CREATE without NLM_F_EXCL: an element already there is no error.
      const flags = NLM_F_REQUEST | (verb === "add" ? NLM_F_CREATE : 0);
      describe.set(seq, `${verb} element ${shapes.family} ${shapes.table} ${el.name}`);
      messages.push(message(type, flags, seq++, family, 0, [attr(NFTA_SET_ELEM_LIST_TABLE, cString(shapes.table)), attr(NFTA_SET_ELEM_LIST_SET, cString(el.name)), nested(NFTA_SET_ELEM_LIST_ELEMENTS, chunk)]));
    }
  }
  messages.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES, []));
  const terminator = seq;
  if (terminator - firstSeq >= SEQ_BLOCK) return "too many messages for one batch";
  const bytes = messages.reduce((n, m) => n + m.length, 0);
  if (bytes > MAX_RELAY_BATCH_BYTES) return `batch of ${bytes} bytes, more than the relay takes`;
  describe.set(terminator, "get ruleset generation");
  const getgen = message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, NLM_F_REQUEST, terminator, 0, 0, []);
  return { sends: [Buffer.concat(messages), getgen], terminator, describe };
}

function encodeElement(e: unknown, shape: SetShape, withData: boolean): Buffer | string {
  let keyValue: unknown = e;
  let verdict: { code: number; chain: string } | undefined;
  if (shape.verdictMap) {
    // [key, {jump: {target}}] on add; a delete names the key alone.
    if (Array.isArray(e)) {
      if (e.length !== 2) return "map element is not [key, verdict]";
      keyValue = e[0];
      const v = e[1];
      if (!isObject(v)) return "verdict is not an object";
      const which = v.jump !== undefined ? "jump" : v.goto !== undefined ? "goto" : undefined;
      const target = which && isObject(v[which]) ? (v[which] as Record<string, unknown>).target : undefined;
      if (!which || typeof target !== "string" || target.length === 0 || Buffer.byteLength(target) > CHAIN_NAME_MAX) return "verdict is not a jump or goto to a chain";
      verdict = { code: which === "jump" ? NFT_JUMP : NFT_GOTO, chain: target };
    } else if (withData) return "map element without a verdict";
  }
  const key = encodeKey(keyValue, shape.fields);
  if (typeof key === "string") return key;
  const parts = [nested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, key)])];
  if (verdict && withData) {
    const code = Buffer.alloc(4);
    code.writeInt32BE(verdict.code);
    parts.push(nested(NFTA_SET_ELEM_DATA, [nested(NFTA_DATA_VERDICT, [attr(NFTA_VERDICT_CODE, code), attr(NFTA_VERDICT_CHAIN, cString(verdict.chain))])]));
  }
  return nested(NFTA_LIST_ELEM, parts);
}

function encodeKey(v: unknown, fields: FieldType[]): Buffer | string {
  if (fields.length === 1) return encodeField(v, fields[0]!);
  if (!isObject(v) || !Array.isArray(v.concat) || v.concat.length !== fields.length) return "element does not match the set's concatenation";
  const parts: Buffer[] = [];
  for (let i = 0; i < fields.length; i++) {
    const f = encodeField(v.concat[i], fields[i]!);
    if (typeof f === "string") return f;
    parts.push(f, Buffer.alloc(pad4(f.length) - f.length));
  }
  return Buffer.concat(parts);
}

function encodeField(v: unknown, t: FieldType): Buffer | string {
  switch (t) {
    case "ipv4_addr": {
      const b = typeof v === "string" ? ipv4Bytes(v) : undefined;
      return b ?? `${JSON.stringify(v)} is not an IPv4 address`;
    }
    case "ipv6_addr": {
      const b = typeof v === "string" ? ipv6Bytes(v) : undefined;
      return b ?? `${JSON.stringify(v)} is not an IPv6 address`;
    }
    case "inet_proto":
      if (!isUint(v, 0xff)) return `${JSON.stringify(v)} is not a protocol number`;
      return Buffer.from([v]);
    case "inet_service": {
      if (!isUint(v, 0xffff)) return `${JSON.stringify(v)} is not a port number`;
      const b = Buffer.alloc(2);
      b.writeUInt16BE(v);
      return b;
    }
    case "ifname": {
      // nft would read a trailing * as a wildcard (an interval): not encoded here.
      if (typeof v !== "string" || v.length === 0 || v.endsWith("*") || v.includes("\0")) return `${JSON.stringify(v)} is not an interface name`;
      const b = Buffer.alloc(IFNAMSIZ);
      if (b.write(v, "utf8") !== Buffer.byteLength(v) || Buffer.byteLength(v) >= IFNAMSIZ) return `${JSON.stringify(v)} is longer than an interface name`;
      return b;
    }
  }
}

function isUint(v: unknown, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

// ---- helpers

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function commandsOf(batch: unknown): Array<Record<string, unknown>> {
  const list = isObject(batch) ? batch.nftables : undefined;
  return Array.isArray(list) ? list.filter(isObject) : [];
}
