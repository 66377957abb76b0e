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
import { attr, chunksBySize, cString, ipv4Bytes, ipv6Bytes, MAX_NFT_RELAY_BATCH_BYTES, message, nested, NLA_F_NESTED, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, pad4, SEQ_BLOCK, u32be, u64be, writeIPv4, type EncodedBatch } from "./netlink.js";
import { linearizeRule, namedSetAttrs, ruleComment } from "./nft-rules.js";

// linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h
const NLMSG_MIN_TYPE = 0x10;
const NFNL_MSG_BATCH_BEGIN = NLMSG_MIN_TYPE;
const NFNL_MSG_BATCH_END = NLMSG_MIN_TYPE + 1;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_DELTABLE = 2;
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_GETCHAIN = 4;
const NFT_MSG_DELCHAIN = 5;
const NFT_MSG_NEWRULE = 6;
const NFT_MSG_DELRULE = 8;
const NFT_MSG_NEWSET = 9;
const NFT_MSG_DELSET = 11;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFT_MSG_GETGEN = 16;
const NFTA_TABLE_NAME = 1;
const NFTA_TABLE_FLAGS = 2;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_HANDLE = 2;
const NFTA_CHAIN_NAME = 3;
const NFTA_CHAIN_HOOK = 4;
const NFTA_CHAIN_POLICY = 5;
const NFTA_CHAIN_TYPE = 7;
const NFTA_HOOK_HOOKNUM = 1;
const NFTA_HOOK_PRIORITY = 2;
/** Netfilter hooks of the inet family. */
const HOOKS: Readonly<Record<string, number>> = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 };
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_HANDLE = 3;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_RULE_USERDATA = 7;
const NFTA_SET_NAME = 2;
const NFTA_SET_FLAGS = 3;
const NFTA_SET_KEY_TYPE = 4;
const NFTA_SET_KEY_LEN = 5;
const NFTA_SET_DATA_TYPE = 6;
const NFTA_SET_DATA_LEN = 7;
const NFTA_SET_DESC = 9;
const NFT_SET_MAP = 0x8;
/** nft's datatype of interface names, and the data type of a verdict map. */
const TYPE_IFNAME = 41;
const NFT_DATA_VERDICT_TYPE = 0xffffff00;
/** What nft writes into an `ifname : verdict` map's user data: key byte order host, data byte
 *  order 0, data not an interval (libnftnl udata types 0, 1, 6). */
const IFNAME_VERDICT_MAP_USERDATA = Buffer.from("000401000000010400000000060400000000", "hex");
const NFTA_SET_DESC_SIZE = 1;
const NFTA_SET_ID = 10;
const NFTA_SET_USERDATA = 13;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_SET_ELEM_LIST_SET_ID = 4;
/** The name nft gives an anonymous set; the kernel puts a free number in place of %d. */
const ANON_SET_NAME = "__set%d";
/** NFT_SET_MAXNAMELEN - 1. */
const SET_NAME_MAX = 255;
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
export function encodeElementBatch(batch: unknown, shapes: SetShapes, firstSeq: number, maxBytes = MAX_NFT_RELAY_BATCH_BYTES): EncodedBatch | string {
  return encodeNftBatch(batch, shapes, firstSeq, undefined, maxBytes);
}

/** What a batch with rules and chains needs besides the set layouts. */
export interface RuleBatchOptions {
  /** Kernel handles of the chains the batch renames (the kernel renames by handle). */
  chainHandles: ReadonlyMap<string, bigint>;
}

/** The chains a batch renames (their handles must be looked up first: encodeChainQuery). */
export function renamedChains(batch: unknown): string[] {
  const out: string[] = [];
  for (const cmd of commandsOf(batch)) {
    const r = cmd.rename;
    if (isObject(r) && isObject(r.chain) && typeof r.chain.name === "string") out.push(r.chain.name);
  }
  return out;
}

/** GETCHAIN requests for `names`; the answer is read by parseChainHandles. */
export function encodeChainQuery(table: string, familyName: string, names: string[], firstSeq: number): EncodedBatch | string {
  const family = FAMILIES[familyName];
  if (family === undefined) return `family ${familyName}`;
  const describe = new Map<number, string>();
  const sends: Buffer[] = [];
  let seq = firstSeq;
  for (const name of names) {
    describe.set(seq, `get chain ${familyName} ${table} ${name}`);
    sends.push(message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN, NLM_F_REQUEST, seq++, family, 0, [attr(NFTA_CHAIN_TABLE, cString(table)), attr(NFTA_CHAIN_NAME, cString(name))]));
  }
  if (sends.length === 0) return "no chains";
  return { sends: [Buffer.concat(sends)], terminator: seq - 1, describe };
}

/** Chain name → handle, from the kernel's answers to encodeChainQuery. */
export function parseChainHandles(bytes: Buffer): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (let off = 0; off + 20 <= bytes.length; ) {
    const len = bytes.readUInt32LE(off);
    if (len < 20 || off + len > bytes.length) break;
    if (bytes.readUInt16LE(off + 4) === ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN)) {
      let name: string | undefined;
      let handle: bigint | undefined;
      for (let a = off + 20; a + 4 <= off + len; ) {
        const alen = bytes.readUInt16LE(a);
        const type = bytes.readUInt16LE(a + 2) & 0x3fff;
        if (alen < 4) break;
        if (type === NFTA_CHAIN_NAME) name = bytes.subarray(a + 4, a + alen).toString("utf8").replace(/\0+$/, "");
        if (type === NFTA_CHAIN_HANDLE && alen === 12) handle = bytes.readBigUInt64BE(a + 4);
        a += pad4(alen);
      }
      if (name !== undefined && handle !== undefined) out.set(name, handle);
    }
    off += pad4(len);
  }
  return out;
}

/**
 * Encodes a batch as the netlink messages nft would send, or returns why it cannot (then nft
 * applies it). Without `rules`, only element additions and deletions of known sets; with it, also
 * our table (added and deleted: a full load), named sets (by type, no flags), interface verdict
 * maps, chains (filter base chains included), rules (nft-rules.ts), flushes, renames, and
 * deletions of rules by handle, chains, sets and maps — everything tortie's batches hold.
 */
export function encodeNftBatch(batch: unknown, shapes: SetShapes, firstSeq: number, rules?: RuleBatchOptions, maxBytes = MAX_NFT_RELAY_BATCH_BYTES): EncodedBatch | string {
  const cmds = commandsOf(batch);
  if (cmds.length === 0) return "empty batch";
  const family = FAMILIES[shapes.family];
  if (family === undefined) return `family ${shapes.family}`;
  const messages: Buffer[] = [];
  const describe = new Map<number, string>();
  let seq = firstSeq;
  const push = (type: number, flags: number, what: string, attrs: Buffer[]) => {
    describe.set(seq, what);
    messages.push(message((NFNL_SUBSYS_NFTABLES << 8) | type, NLM_F_REQUEST | flags, seq++, family, 0, attrs));
  };
  const table = attr(NFTA_SET_ELEM_LIST_TABLE, cString(shapes.table)); // NFTA_*_TABLE is 1 for every object
  // Sets this batch creates: their layouts (for their elements) and ids.
  const created = new Map<string, { shape: SetShape; id: number }>();
  let nextId = 1;
  const ids = { next: () => nextId++ };
  // After `delete table` (a full load's idiom: add, delete, add), the kernel's old sets are gone.
  let tableDeleted = false;
  const known = (name: string) => (tableDeleted ? undefined : shapes.get(name));
  const shapeOfSet = (name: string) => created.get(name)?.shape ?? known(name);
  messages.push(message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES, []));
  for (const cmd of cmds) {
    const verbs = Object.keys(cmd);
    if (verbs.length !== 1) return "command with several verbs";
    const verb = verbs[0]!;
    const body = cmd[verb];
    if (!isObject(body) || Object.keys(body).length !== 1) return `${verb} command`;
    const kind = Object.keys(body)[0]!;
    const o = body[kind];
    if (!isObject(o)) return `${verb} ${kind}`;
    const tableName = kind === "table" ? o.name : o.table;
    if (o.family !== shapes.family || tableName !== shapes.table) return `${verb} ${kind} of another table`;
    const what = `${verb} ${kind} ${shapes.family} ${shapes.table} ${String(o.name ?? o.chain ?? "")}`;
    if (kind === "element" && (verb === "add" || verb === "delete")) {
      if (typeof o.name !== "string" || !Array.isArray(o.elem)) return "element command without a set and elements";
      const shape = shapeOfSet(o.name);
      if (!shape) return `set ${o.name} of unknown layout`;
      const r = pushElements(verb, o.name, o.elem, shape, created.get(o.name)?.id);
      if (r) return r;
      continue;
    }
    if (!rules) return `${verb} ${kind}`;
    if (kind === "table") {
      // Our table only (checked above), as nft sends them: `add` without NLM_F_CREATE, no flags.
      for (const k of Object.keys(o)) if (!["family", "name"].includes(k)) return `table with ${k}`;
      const name = attr(NFTA_TABLE_NAME, cString(shapes.table));
      if (verb === "add") push(NFT_MSG_NEWTABLE, 0, what, [name, attr(NFTA_TABLE_FLAGS, u32be(0))]);
      else if (verb === "delete") {
        push(NFT_MSG_DELTABLE, 0, what, [name]);
        tableDeleted = true;
        created.clear();
      } else return `${verb} table`;
      continue;
    }
    if (verb === "add" && kind === "map") {
      // Verdict maps keyed by interface name (the dispatch maps), as nft declares them.
      if (typeof o.name !== "string" || Buffer.byteLength(o.name) > SET_NAME_MAX) return "map name";
      for (const k of Object.keys(o)) if (!["family", "table", "name", "type", "map", "elem"].includes(k)) return `map with ${k}`;
      const shape = shapeOf("map", o);
      if (!shape || shape.fields.length !== 1 || shape.fields[0] !== "ifname" || created.has(o.name) || known(o.name)) return `map ${o.name}: a layout or name not encoded here`;
      const id = ids.next();
      push(NFT_MSG_NEWSET, NLM_F_CREATE, what, [table, attr(NFTA_SET_NAME, cString(o.name)), attr(NFTA_SET_FLAGS, u32be(NFT_SET_MAP)), attr(NFTA_SET_KEY_TYPE, u32be(TYPE_IFNAME)), attr(NFTA_SET_KEY_LEN, u32be(IFNAMSIZ)), attr(NFTA_SET_DATA_TYPE, u32be(NFT_DATA_VERDICT_TYPE)), attr(NFTA_SET_DATA_LEN, u32be(0)), attr(NFTA_SET_ID, u32be(id)), attr(NFTA_SET_USERDATA, IFNAME_VERDICT_MAP_USERDATA)]);
      created.set(o.name, { shape, id });
      if (Array.isArray(o.elem) && o.elem.length > 0) {
        const r = pushElements("add", o.name, o.elem, shape, id);
        if (r) return r;
      }
      continue;
    }
    if (verb === "add" && kind === "set") {
      if (typeof o.name !== "string" || Buffer.byteLength(o.name) > SET_NAME_MAX) return "set name";
      for (const k of Object.keys(o)) if (!["family", "table", "name", "type", "elem"].includes(k)) return `set with ${k}`;
      const shape = shapeOf("set", o);
      if (!shape || created.has(o.name) || known(o.name)) return `set ${o.name}: a layout or name not encoded here`;
      const fields = shape.fields;
      if (fields.some((f) => f === "ifname")) return "a set of interface names";
      const id = ids.next();
      const a = namedSetAttrs(fields as Array<"ipv4_addr" | "ipv6_addr" | "inet_proto" | "inet_service">);
      push(NFT_MSG_NEWSET, NLM_F_CREATE, what, [table, attr(NFTA_SET_NAME, cString(o.name)), attr(NFTA_SET_FLAGS, u32be(0)), attr(NFTA_SET_KEY_TYPE, u32be(a.keyType)), attr(NFTA_SET_KEY_LEN, u32be(a.keyLen)), attr(NFTA_SET_ID, u32be(id)), attr(NFTA_SET_USERDATA, a.userdata)]);
      created.set(o.name, { shape, id });
      if (Array.isArray(o.elem) && o.elem.length > 0) {
        const r = pushElements("add", o.name, o.elem, shape, id);
        if (r) return r;
      }
      continue;
    }
    if (kind === "chain") {
      if (typeof o.name !== "string" || o.name.length === 0 || Buffer.byteLength(o.name) > CHAIN_NAME_MAX) return "chain name";
      const name = attr(NFTA_CHAIN_NAME, cString(o.name));
      if (verb === "add") {
        const base = o.hook !== undefined || o.type !== undefined || o.prio !== undefined || o.policy !== undefined;
        if (Object.keys(o).some((k) => !["family", "table", "name", "type", "hook", "prio", "policy"].includes(k))) return "a chain with more than a hook";
        if (!base) push(NFT_MSG_NEWCHAIN, NLM_F_CREATE, what, [table, name]);
        else {
          const hook = typeof o.hook === "string" ? HOOKS[o.hook] : undefined;
          const policy = o.policy === "accept" ? 1 : o.policy === "drop" ? 0 : undefined;
          if (o.type !== "filter" || hook === undefined || policy === undefined || !Number.isInteger(o.prio) || Math.abs(o.prio as number) > 0x7fff_ffff) return "a base chain other than filter / inet hook / integer priority / accept or drop";
          const prio = Buffer.alloc(4);
          prio.writeInt32BE(o.prio as number);
          push(NFT_MSG_NEWCHAIN, NLM_F_CREATE, what, [table, name, attr(NFTA_CHAIN_TYPE, cString("filter")), attr(NFTA_CHAIN_POLICY, u32be(policy)), nested(NFTA_CHAIN_HOOK, [attr(NFTA_HOOK_HOOKNUM, u32be(hook)), attr(NFTA_HOOK_PRIORITY, prio)])]);
        }
      } else if (verb === "flush") push(NFT_MSG_DELRULE, 0, what, [table, attr(NFTA_RULE_CHAIN, cString(o.name))]);
      else if (verb === "delete") push(NFT_MSG_DELCHAIN, 0, what, [table, name]);
      else if (verb === "rename") {
        const handle = rules.chainHandles.get(o.name);
        if (handle === undefined) return `rename of chain ${o.name}, whose handle is not known`;
        if (typeof o.newname !== "string" || o.newname.length === 0 || Buffer.byteLength(o.newname) > CHAIN_NAME_MAX) return "new chain name";
        push(NFT_MSG_NEWCHAIN, 0, `${what} to ${o.newname}`, [table, attr(NFTA_CHAIN_HANDLE, u64be(handle)), attr(NFTA_CHAIN_NAME, cString(o.newname))]);
      } else return `${verb} chain`;
      continue;
    }
    if (kind === "rule") {
      if (typeof o.chain !== "string" || o.chain.length === 0) return "rule without a chain";
      const chain = attr(NFTA_RULE_CHAIN, cString(o.chain));
      if (verb === "delete") {
        if (!Number.isSafeInteger(o.handle) || (o.handle as number) <= 0) return "rule delete without a handle";
        push(NFT_MSG_DELRULE, 0, `${what} handle ${String(o.handle)}`, [table, chain, attr(NFTA_RULE_HANDLE, u64be(BigInt(o.handle as number)))]);
        continue;
      }
      if (verb !== "add" && verb !== "insert") return `${verb} rule`;
      for (const k of Object.keys(o)) if (!["family", "table", "chain", "comment", "expr"].includes(k)) return `rule with ${k}`;
      const lin = linearizeRule(o.expr, ids);
      if (typeof lin === "string") return `rule in ${o.chain}: ${lin}`;
      for (const s of lin.sets) {
        push(NFT_MSG_NEWSET, NLM_F_CREATE, `${what}: anonymous set`, [table, attr(NFTA_SET_NAME, cString(ANON_SET_NAME)), attr(NFTA_SET_FLAGS, u32be(s.flags)), attr(NFTA_SET_KEY_TYPE, u32be(s.keyType)), attr(NFTA_SET_KEY_LEN, u32be(s.keyLen)), attr(NFTA_SET_ID, u32be(s.id)), nested(NFTA_SET_DESC, [attr(NFTA_SET_DESC_SIZE, u32be(s.size))]), attr(NFTA_SET_USERDATA, s.userdata)]);
        push(NFT_MSG_NEWSETELEM, NLM_F_CREATE, `${what}: anonymous set elements`, [table, attr(NFTA_SET_ELEM_LIST_SET, cString(ANON_SET_NAME)), attr(NFTA_SET_ELEM_LIST_SET_ID, u32be(s.id)), nested(NFTA_SET_ELEM_LIST_ELEMENTS, s.elements)]);
      }
      const attrs = [table, chain, nested(NFTA_RULE_EXPRESSIONS, lin.exprs)];
      if (o.comment !== undefined) {
        const ud = typeof o.comment === "string" ? ruleComment(o.comment) : "comment is not a string";
        if (typeof ud === "string") return ud;
        attrs.push(attr(NFTA_RULE_USERDATA, ud));
      }
      push(NFT_MSG_NEWRULE, NLM_F_CREATE | (verb === "add" ? NLM_F_APPEND : 0), what, attrs);
      continue;
    }
    if ((kind === "set" || kind === "map") && verb === "delete") {
      if (typeof o.name !== "string") return `${kind} name`;
      push(NFT_MSG_DELSET, 0, what, [table, attr(NFTA_SET_NAME, cString(o.name))]);
      continue;
    }
    return `${verb} ${kind}`;
  }
  messages.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES, []));
  const terminator = seq;
  if (terminator - firstSeq >= SEQ_BLOCK) return "too many messages for one batch";
  const bytes = messages.reduce((n, m) => n + m.length, 0);
  if (bytes > maxBytes) return `batch of ${bytes} bytes, more than the relay takes`;
  describe.set(terminator, "get ruleset generation");
  const getgen = message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, NLM_F_REQUEST, terminator, 0, 0, []);
  return { sends: [Buffer.concat(messages), getgen], terminator, describe };

  function pushElements(verb: "add" | "delete", name: string, elems: unknown[], shape: SetShape, setId: number | undefined): string | undefined {
    let chunks: Iterable<Buffer[]>;
    if (shape.verdictMap) {
      const encoded: Buffer[] = [];
      for (const e of elems) {
        const one = encodeElement(e, shape, verb === "add");
        if (typeof one === "string") return `${name}: ${one}`;
        encoded.push(one);
      }
      chunks = chunksBySize(encoded, ELEMENTS_PER_MESSAGE_BYTES);
    } else {
      const written = writeKeyElements(elems, shape.fields);
      if (typeof written === "string") return `${name}: ${written}`;
      chunks = written.map((c) => [c]);
    }
    for (const chunk of chunks) {
      // nft's `add element` is NLM_F_CREATE without NLM_F_EXCL: an element already there is no error.
      const attrs = [table, attr(NFTA_SET_ELEM_LIST_SET, cString(name))];
      if (setId !== undefined) attrs.push(attr(NFTA_SET_ELEM_LIST_SET_ID, u32be(setId)));
      attrs.push(nested(NFTA_SET_ELEM_LIST_ELEMENTS, chunk));
      push(verb === "add" ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, verb === "add" ? NLM_F_CREATE : 0, `${verb} element ${shapes.family} ${shapes.table} ${name}`, attrs);
    }
    return undefined;
  }
}

/**
 * The elements of a set (not a map) written straight into one buffer per message: each is
 * LIST_ELEM { KEY { VALUE key } }, the same bytes encodeElement makes, without a buffer per
 * attribute (a full load writes ~900k elements). Chunks hold as many elements as
 * chunksBySize would put in one message.
 */
function writeKeyElements(elems: unknown[], fields: FieldType[]): Buffer[] | string {
  const keyLen = keyLength(fields);
  const elemSize = 12 + pad4(keyLen);
  const perChunk = Math.max(1, Math.floor(ELEMENTS_PER_MESSAGE_BYTES / elemSize));
  const out: Buffer[] = [];
  for (let start = 0; start < elems.length; start += perChunk) {
    const n = Math.min(perChunk, elems.length - start);
    const buf = Buffer.alloc(n * elemSize);
    for (let i = 0; i < n; i++) {
      const off = i * elemSize;
      buf.writeUInt16LE(elemSize, off);
      buf.writeUInt16LE(NFTA_LIST_ELEM | NLA_F_NESTED, off + 2);
      buf.writeUInt16LE(elemSize - 4, off + 4);
      buf.writeUInt16LE(NFTA_SET_ELEM_KEY | NLA_F_NESTED, off + 6);
      buf.writeUInt16LE(4 + keyLen, off + 8);
      buf.writeUInt16LE(NFTA_DATA_VALUE, off + 10);
      const err = writeKey(elems[start + i], fields, buf, off + 12);
      if (err) return err;
    }
    out.push(buf);
  }
  return out;
}

/** Writes one key field at `off` (the buffer is zeroed: padding stays zero); why not, or undefined. */
function writeField(v: unknown, t: FieldType, buf: Buffer, off: number): string | undefined {
  if (t === "ipv4_addr") return typeof v === "string" && writeIPv4(v, buf, off) ? undefined : `${JSON.stringify(v)} is not an IPv4 address`;
  const b = encodeField(v, t);
  if (typeof b === "string") return b;
  b.copy(buf, off);
  return undefined;
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
  const buf = Buffer.alloc(keyLength(fields));
  return writeKey(v, fields, buf, 0) ?? buf;
}

/** A key's bytes: one field as it is, a concatenation with every field padded to 4 bytes. */
function keyLength(fields: FieldType[]): number {
  return fields.length === 1 ? FIELD_SIZE[fields[0]!] : fields.reduce((n, f) => n + pad4(FIELD_SIZE[f]), 0);
}

/** Writes a key at `off` of a zeroed buffer (padding stays zero); why not, or undefined. */
function writeKey(v: unknown, fields: FieldType[], buf: Buffer, off: number): string | undefined {
  if (fields.length === 1) return writeField(v, fields[0]!, buf, off);
  if (!isObject(v) || !Array.isArray(v.concat) || v.concat.length !== fields.length) return "element does not match the set's concatenation";
  let at = off;
  for (let f = 0; f < fields.length; f++) {
    const err = writeField(v.concat[f], fields[f]!, buf, at);
    if (err) return err;
    at += pad4(FIELD_SIZE[fields[f]!]);
  }
  return undefined;
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
