/**
 * Set registry and set calculator: the rule compiler asks for sets (selector, named port, service)
 * and gets their ids (Felix IPSetData.UniqueID); the calculator then fills in members from the
 * label index, the endpoints' named ports and the EndpointSlices (felix labelindex/
 * named_port_index.go, serviceindex/serviceindex.go).
 */
import { ChunkedMap, type EndpointSlice } from "../model/index.js";
import {
  canonicalAddr,
  parseCidr,
  PROTO_ANY,
  type EntityMatch,
  type NamedPortDecl,
  type NamedPortSetDef,
  type PortMember,
  type SelectorSetDef,
  type ServiceSetDef,
  type SetDef,
  type SetId,
} from "../rule/index.js";
import { makeUniqueId, type Selector } from "../selector/index.js";
import type { EndpointRecord, NetworkSetRecord } from "./endpoint-builder.js";
import type { LabelIndex } from "./label-index.js";
import { EntityMemo } from "./entity-memo.js";
import { NamespacedSelectorMemo } from "./selector-rewrite.js";
import { addrMemberText } from "./set-delta.js";

type Request =
  | { kind: "selector"; selector: Selector }
  | { kind: "named-port"; selector: Selector; portName: string; protocol: number }
  | { kind: "service"; namespace: string; name: string; withPorts: boolean };

const PROTO_TEXT: Record<number, string> = { 6: "tcp", 17: "udp", 132: "sctp", [PROTO_ANY]: "any" };

export class SetRegistry {
  readonly requests = new Map<SetId, Request>();
  /** rule-compiler's memo of compiled entity rules (entity-memo.ts). Shared with the parent
   *  registry when there is one. */
  readonly entityMemo: EntityMemo;
  /** Namespaced policy selectors by (namespace, selector) (selector-rewrite.ts; compilePolicy reads
   *  it when it makes the policy head itself). Shared like the entity memo. */
  readonly policySelectors: NamespacedSelectorMemo;

  /**
   * `parent`: a registry whose entity memo this one shares, and where every request registered
   * here is recorded too. The agent compiles each policy into a registry of its own (the sets
   * that policy references); sharing the memo lets equal rules of different policies compile
   * once, and `adopt` registers the sets of a compiled rule taken from the memo.
   */
  constructor(private readonly parent?: SetRegistry) {
    this.entityMemo = parent ? parent.entityMemo : new EntityMemo();
    this.policySelectors = parent ? parent.policySelectors : new NamespacedSelectorMemo();
    this.namedPortIds = parent ? parent.namedPortIds : new Map();
  }

  private register(id: SetId, req: Request): void {
    if (this.requests.has(id)) return;
    this.requests.set(id, req);
    this.parent?.register(id, req);
  }

  /** Drops the memos once every rule of a full build is compiled (the lazy sets keep the registry). */
  forgetMemos(): void {
    this.entityMemo.clear();
    this.policySelectors.clear();
  }

  /** Registers here the sets a memoised EntityMatch references (already in the parent). */
  adopt(e: EntityMatch): void {
    if (!this.parent) return; // one registry: the sets were registered when the match was made
    const adoptAll = (ids: readonly SetId[] | undefined) => {
      if (ids) for (const id of ids) this.register(id, this.parent!.requests.get(id)!);
    };
    adoptAll(e.sets);
    adoptAll(e.notSets);
    adoptAll(e.namedPortSets);
    adoptAll(e.notNamedPortSets);
    if (e.serviceSet !== undefined) this.register(e.serviceSet, this.parent.requests.get(e.serviceSet)!);
  }

  /** Forgets the shared memo and the recorded requests (a parent between bulk loads). */
  clear(): void {
    this.requests.clear();
    this.entityMemo.clear();
    this.policySelectors.clear();
    this.namedPortIds.clear();
  }

  selector(sel: Selector): SetId {
    const id = sel.uniqueId();
    if (!this.requests.has(id)) this.register(id, { kind: "selector", selector: sel });
    return id;
  }

  /** Named-port ids by (selector, protocol, port name): hashing is the expensive part. */
  private readonly namedPortIds: Map<string, SetId>;

  /** `protocol`: 6, 17, 132 or PROTO_ANY (rule without protocol). */
  namedPort(sel: Selector, portName: string, protocol: number): SetId {
    const content = `${sel.uniqueId()},${PROTO_TEXT[protocol] ?? "tcp"},${portName}`;
    let id = this.namedPortIds.get(content);
    if (id === undefined) this.namedPortIds.set(content, (id = makeUniqueId("n", content)));
    if (!this.requests.has(id)) this.register(id, { kind: "named-port", selector: sel, portName, protocol });
    return id;
  }

  service(namespace: string, name: string, withPorts: boolean): SetId {
    const id = makeUniqueId(withPorts ? "svc" : "svcnoport", `${namespace}/${name}`);
    if (!this.requests.has(id)) this.register(id, { kind: "service", namespace, name, withPorts });
    return id;
  }
}

export interface SetInputs {
  /** Only `select` is needed: the agent's incremental calculator passes its own membership index.
   *  A full LabelIndex (with `selectClasses`) plus `order` enables the class-level path below. */
  index: Pick<LabelIndex, "select"> & Partial<Pick<LabelIndex, "selectClasses" | "classList">>;
  /** Endpoints by key (only looked up). */
  endpoints: Pick<ReadonlyMap<string, EndpointRecord>, "get">;
  netsets: Map<string, NetworkSetRecord>;
  slices: EndpointSlice[];
  /** Member order of every endpoint and network set (full computation), or how to make it when
   *  the first set is computed; its items are numbered as `index` numbers them. */
  order?: MemberOrder | (() => MemberOrder);
  /** calculateSets without `order`: rank every member text the requested sets read once and sort
   *  integers per set, instead of comparing texts per set. Default: when computing 8 sets or more
   *  (the agent's flushes, its initial load above all). */
  rankMembers?: boolean;
}

/** A member CIDR with its sort key parsed once per calculation (not once per comparison or per
 *  set: a popular endpoint is a member of hundreds of sets). `v`: number for IPv4 (exact below
 *  2^53), bigint for IPv6; never compared across families. */
interface KeyedCidr {
  c: string;
  family: number;
  v: number | bigint;
  prefix: number;
  /** Scratch of one calculation's ranking (MemberOrder, rankMembers): rank once sorted (-1
   *  before), and the address an endpoint gave for this host CIDR. */
  rank: number;
  addr: string | undefined;
}

function compareKeyed(a: KeyedCidr, b: KeyedCidr): number {
  return a.family - b.family || (a.v < b.v ? -1 : a.v > b.v ? 1 : a.prefix - b.prefix);
}

interface PortEntry {
  m: PortMember;
  a: KeyedCidr;
}

function comparePort(x: PortEntry, y: PortEntry): number {
  return compareKeyed(x.a, y.a) || x.m.protocol - y.m.protocol || x.m.port - y.m.port;
}

/** "a.b.c.d/p" in canonical form (what endpoints and network sets hold) without BigInt; anything
 *  else (IPv6, unusual spellings) goes to parseCidr. Same value as parseCidr's masked base. */
function fastV4(c: string): KeyedCidr | undefined {
  const key = v4NetKey(c);
  if (Number.isNaN(key)) return undefined;
  const prefix = key % 64;
  return { c, family: 4, v: (key - prefix) / 64, prefix, rank: -1, addr: undefined };
}

/** Per-calculation memo of parsed member texts and per-item member lists. */
class MemberCache {
  private readonly cidrs = new Map<string, KeyedCidr>();
  private readonly itemCidrs = new Map<string, KeyedCidr[]>();

  cidr(c: string): KeyedCidr {
    let k = this.cidrs.get(c);
    if (!k) {
      k = fastV4(c);
      if (!k) {
        const p = parseCidr(c)!;
        k = { c, family: p.family, v: p.family === 4 ? Number(p.base) : p.base, prefix: p.prefix, rank: -1, addr: undefined };
      }
      this.cidrs.set(c, k);
    }
    return k;
  }

  /** An address, keyed like its host CIDR (same order as parseAddr's value). */
  addr(a: string): KeyedCidr {
    const k = this.cidr(addrMemberText(a));
    k.addr = a;
    return k;
  }

  /** Selector-set members of one labelled item (endpoint IPs as host CIDRs, network set nets). */
  item(id: string, inp: SetInputs): KeyedCidr[] {
    let l = this.itemCidrs.get(id);
    if (l) return l;
    l = [];
    const ep = inp.endpoints.get(id);
    if (ep) for (const ip of ep.ips) l.push(this.addr(ip));
    else {
      const ns = inp.netsets.get(id);
      if (ns) for (const n of ns.nets) l.push(this.cidr(n));
    }
    this.itemCidrs.set(id, l);
    return l;
  }
}

/** Port members sort by (address rank, protocol, port), packed in one number: protocol < 2^8,
 *  port < 2^16, rank < 2^29 — exact in a double. */
const PORT_KEY_RANK = 2 ** 24;
const MAX_RANKS = 2 ** 29;

/** What a labelled item contributes to sets: an endpoint's addresses (and named ports), or a
 *  network set's nets. */
export type SetItem = EndpointRecord | NetworkSetRecord;

function isEndpoint(item: SetItem): item is EndpointRecord {
  return (item as EndpointRecord).ips !== undefined;
}

/**
 * Every member text of every endpoint and network set, sorted once into a global order (family,
 * base, prefix — the order of SelectorSetDef.members), so a set's members are integer ranks:
 * collected per label class, sorted as a typed array, de-duplicated by adjacency and mapped back
 * to the shared texts. Replaces parsing and comparing texts per set, which dominated the full
 * computation when popular endpoints are members of hundreds of sets.
 *
 * Items are numbered as the LabelIndex numbers them (`items[n]` is item n), so per-item data is
 * read from flat arrays, not from maps keyed by endpoint key: at 100k endpoints those map
 * operations were most of this constructor and of the named-port sets.
 */
export class MemberOrder {
  /** rank → member text (canonical CIDR). */
  readonly texts: string[];
  /** rank → address (no prefix) when the rank is an endpoint address. */
  readonly addrs: Array<string | undefined>;
  /** Item n's member ranks are `flat[offsets[n]] … flat[offsets[n + 1] - 1]`, in the order of its
   *  `ips` (endpoint) or `nets` (network set). */
  readonly offsets: Int32Array;
  readonly flat: Int32Array;
  /** rank → the PortMember made for it so far, or several in a list (most addresses have one or
   *  two: no list per address, which a push-grown one would make 17 slots long). Sized up front
   *  (one slot per rank): grown by assignment it would reallocate its way up. */
  private readonly portMembers: Array<PortMember | PortMember[] | undefined>;

  constructor(readonly items: readonly SetItem[]) {
    const offsets = new Int32Array(items.length + 1);
    let total = 0;
    for (let n = 0; n < items.length; n++) {
      const item = items[n]!;
      total += isEndpoint(item) ? item.ips.length : item.nets.length;
      offsets[n + 1] = total;
    }
    const ranked = rankByValue(items, total) ?? rankByText(items, total);
    if (ranked.texts.length >= MAX_RANKS) throw new Error(`too many distinct set members (${ranked.texts.length})`);
    this.texts = ranked.texts;
    this.addrs = ranked.addrs;
    this.portMembers = new Array<PortMember | PortMember[] | undefined>(ranked.texts.length);
    this.offsets = offsets;
    this.flat = ranked.flat;
  }

  /** One PortMember object per (address, protocol, port): sets share them (read-only IR data). */
  portMember(key: number): PortMember {
    const rank = Math.floor(key / PORT_KEY_RANK);
    const rest = key - rank * PORT_KEY_RANK;
    const protocol = rest >>> 16;
    const port = rest & 0xffff;
    const made = this.portMembers[rank];
    if (made !== undefined) {
      if (!Array.isArray(made)) {
        if (made.protocol === protocol && made.port === port) return made;
      } else for (const m of made) if (m.protocol === protocol && m.port === port) return m;
    }
    const m: PortMember = { addr: this.addrs[rank]!, protocol, port };
    this.portMembers[rank] = made === undefined ? m : Array.isArray(made) ? [...made, m] : [made, m];
    return m;
  }
}

/** Every member occurrence's rank (`flat`, in item order: an endpoint's `ips`, a network set's
 *  `nets`), and per rank its text and, when an endpoint has it, its address. */
interface Ranked {
  texts: string[];
  addrs: Array<string | undefined>;
  flat: Int32Array;
}

/** Ranks by interning each member text and sorting the distinct ones (compareKeyed). */
function rankByText(items: readonly SetItem[], total: number): Ranked {
  const memo = new MemberCache();
  const keyed = new Array<KeyedCidr>(total);
  let at = 0;
  for (const item of items) {
    if (isEndpoint(item)) {
      for (const ip of item.ips) keyed[at++] = memo.addr(ip); // addr() records the address
    } else for (const net of item.nets) keyed[at++] = memo.cidr(net);
  }
  // Entries are interned per text: each distinct one is collected once (rank -1 → -2).
  const distinct: KeyedCidr[] = [];
  for (const k of keyed) {
    if (k.rank === -1) {
      k.rank = -2;
      distinct.push(k);
    }
  }
  distinct.sort(compareKeyed);
  return rankedFrom(keyed, distinct, 0, { texts: new Array<string>(distinct.length), addrs: new Array<string | undefined>(distinct.length), flat: new Int32Array(total) });
}

/** Numbers the sorted `distinct` entries `base`, `base + 1`, … and writes each one's text and
 *  address at its rank. */
function assignRanks(distinct: readonly KeyedCidr[], base: number, texts: string[], addrs: Array<string | undefined>): void {
  for (let r = 0; r < distinct.length; r++) {
    const k = distinct[r]!;
    k.rank = base + r;
    texts[base + r] = k.c;
    addrs[base + r] = k.addr;
  }
}

/** Ranks `distinct` (sorted) from `base` on, and writes the rank of every entry of `keyed` at its
 *  occurrence (undefined slots of `keyed` are left alone). */
function rankedFrom(keyed: ReadonlyArray<KeyedCidr | undefined>, distinct: readonly KeyedCidr[], base: number, out: Ranked): Ranked {
  assignRanks(distinct, base, out.texts, out.addrs);
  for (let i = 0; i < keyed.length; i++) {
    const k = keyed[i];
    if (k !== undefined) out.flat[i] = k.rank;
  }
  return out;
}

/** A canonical dotted quad's value (no leading zeros, each octet ≤ 255), or -1. */
function v4Value(s: string, end: number): number {
  let v = 0;
  let octet = -1;
  let dots = 0;
  for (let i = 0; i < end; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 46) {
      if (octet < 0 || dots === 3) return -1;
      v = v * 256 + octet;
      octet = -1;
      dots++;
    } else if (ch >= 48 && ch <= 57) {
      if (octet === 0) return -1;
      octet = octet < 0 ? ch - 48 : octet * 10 + (ch - 48);
      if (octet > 255) return -1;
    } else return -1;
  }
  return dots === 3 && octet >= 0 ? v * 256 + octet : -1;
}

/** The IPv4 sort key of an endpoint address (its host CIDR): value × 64 + 32; NaN for any other. */
function v4AddrKey(ip: string): number {
  const v = v4Value(ip, ip.length);
  return v < 0 ? NaN : v * 64 + 32;
}

/** The IPv4 sort key of a network-set CIDR "a.b.c.d/p", base masked: base × 64 + prefix (the order
 *  of compareKeyed, exact below 2^38); NaN for anything else. */
function v4NetKey(net: string): number {
  const slash = net.indexOf("/");
  if (slash < 0) return NaN;
  const v = v4Value(net, slash);
  if (v < 0) return NaN;
  const digits = net.length - slash - 1;
  if (digits < 1 || digits > 2) return NaN;
  const d0 = net.charCodeAt(slash + 1) - 48;
  const d1 = digits === 2 ? net.charCodeAt(slash + 2) - 48 : 0;
  if (d0 < 0 || d0 > 9 || d1 < 0 || d1 > 9 || (digits === 2 && d0 === 0)) return NaN;
  const prefix = digits === 2 ? d0 * 10 + d1 : d0;
  if (prefix > 32) return NaN;
  const hostBits = 2 ** (32 - prefix);
  return Math.floor(v / hostBits) * hostBits * 64 + prefix;
}

/** `text` is `ip`'s host CIDR text (addrMemberText for IPv4), compared without making it. */
function isV4HostText(text: string, ip: string): boolean {
  return text.length === ip.length + 3 && text.startsWith(ip) && text.endsWith("/32");
}

/** First index of `key` in the ascending `sorted[0 … n)`, where it is. */
function indexOfSorted(sorted: Float64Array, n: number, key: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * rankByText's result, with the IPv4 members (all of them in most clusters) ranked by number: each
 * occurrence's sort key (value × 64 + prefix) in one typed array sorted natively, its rank found
 * by binary search. No text is interned in a map (at 100k endpoints, a lookup of a fresh text in a
 * 100k-entry map per address was most of this work) and no entry object is made per address.
 * Other members (IPv6) are interned and sorted by text as before and ranked after the IPv4 ones,
 * which compareKeyed puts first. Undefined where this cannot give rankByText's result: an IPv4
 * member the number parse does not take, or two texts with one sort key (records that are not
 * canonical).
 */
function rankByValue(items: readonly SetItem[], total: number): Ranked | undefined {
  const keys = new Float64Array(total);
  let at = 0;
  for (const item of items) {
    if (isEndpoint(item)) for (const ip of item.ips) keys[at++] = v4AddrKey(ip);
    else for (const net of item.nets) keys[at++] = v4NetKey(net);
  }
  // Sorted, without repeats; NaN (the other members) sorts last and is left out.
  const sorted = keys.slice().sort();
  let m = 0;
  for (let i = 0; i < sorted.length; i++) {
    const k = sorted[i]!;
    if (Number.isNaN(k)) break;
    if (m === 0 || k !== sorted[m - 1]) sorted[m++] = k;
  }
  const texts = new Array<string>(m);
  const addrs = new Array<string | undefined>(m);
  const flat = new Int32Array(total);
  let others: Array<KeyedCidr | undefined> | undefined;
  let memo: MemberCache | undefined;
  at = 0;
  for (const item of items) {
    const endpoint = isEndpoint(item);
    const list = endpoint ? item.ips : item.nets;
    for (let i = 0; i < list.length; i++, at++) {
      const member = list[i]!;
      const key = keys[at]!;
      if (Number.isNaN(key)) {
        // Interned by text, ranked after every IPv4 member below.
        memo ??= new MemberCache();
        const k = endpoint ? memo.addr(member) : memo.cidr(member); // addr() records the address
        (others ??= new Array<KeyedCidr | undefined>(total))[at] = k;
        continue;
      }
      const r = indexOfSorted(sorted, m, key);
      flat[at] = r;
      const text = texts[r];
      if (endpoint) {
        if (text === undefined) texts[r] = addrMemberText(member);
        else if (!isV4HostText(text, member)) return undefined;
        addrs[r] = member;
      } else if (text === undefined) texts[r] = member;
      else if (text !== member) return undefined;
    }
  }
  if (!others) return { texts, addrs, flat };
  const distinct: KeyedCidr[] = [];
  for (const k of others) {
    if (k === undefined || k.rank !== -1) continue;
    // An IPv4 text the number parse refused would sort among the IPv4 ranks. None does (both
    // parsers take exactly the dotted quads without leading zeros); the guard keeps a change to
    // either from mis-ordering ranks.
    if (k.family === 4) return undefined;
    k.rank = -2;
    distinct.push(k);
  }
  distinct.sort(compareKeyed);
  texts.length = addrs.length = m + distinct.length;
  return rankedFrom(others, distinct, m, { texts, addrs, flat });
}

function portKey(rank: number, protocol: number, port: number): number {
  return rank * PORT_KEY_RANK + protocol * 65536 + port;
}

/** Sorted, de-duplicated. */
function uniqSorted<T extends Int32Array | Float64Array>(a: T): T {
  a.sort();
  let n = 0;
  for (let i = 0; i < a.length; i++) if (i === 0 || a[i] !== a[n - 1]) a[n++] = a[i]!;
  return a.subarray(0, n) as T;
}

/** A set whose member count (before removing repeats) is at least 1/BITMAP_RATIO of all ranks is
 *  collected by marking ranks rather than by sorting: marking and one pass over the ranks costs
 *  less than sorting that many. */
const BITMAP_RATIO = 16;

/** Selector and named-port sets from label classes and member ranks. */
class ClassMembers {
  /**
   * Every class's member ranks, sorted and without repeats: class o's are
   * `classRanks[classStart[o]]` … `classRanks[classStart[o + 1] - 1]`. Made for all classes at
   * the first set read, in one array: one typed array per class (~30k at 100k pods) cost more in
   * allocation and collection than the ranks themselves.
   */
  private classStart: Int32Array | undefined;
  private classRanks: Int32Array | undefined;
  /** By class ordinal (small dense integers: an array, not a map). */
  private readonly classPortGroups: Array<PortGroup[] | undefined> = [];
  /** One mark per rank, all clear between calls (selector's wide sets). */
  private marks: Uint8Array | undefined;
  private made: MemberOrder | undefined;

  constructor(
    private readonly index: Pick<LabelIndex, "selectClasses" | "classList">,
    private readonly orderOrMake: MemberOrder | (() => MemberOrder),
  ) {}

  private get order(): MemberOrder {
    return (this.made ??= typeof this.orderOrMake === "function" ? this.orderOrMake() : this.orderOrMake);
  }

  private rankTable(): { start: Int32Array; ranks: Int32Array } {
    if (!this.classStart || !this.classRanks) {
      const { offsets, flat } = this.order;
      const classes = this.index.classList;
      let total = 0;
      for (let o = 0; o < classes.length; o++) {
        const items = classes[o]!.items;
        for (let k = 0; k < items.length; k++) total += offsets[items[k]! + 1]! - offsets[items[k]!]!;
      }
      const start = new Int32Array(classes.length + 1);
      const ranks = new Int32Array(total);
      let at = 0;
      for (let o = 0; o < classes.length; o++) {
        start[o] = at;
        const from = at;
        const items = classes[o]!.items;
        for (let k = 0; k < items.length; k++) {
          const item = items[k]!;
          for (let i = offsets[item]!, end = offsets[item + 1]!; i < end; i++) ranks[at++] = flat[i]!;
        }
        at = sortUnique(ranks, from, at);
      }
      start[classes.length] = at;
      this.classStart = start;
      this.classRanks = ranks;
    }
    return { start: this.classStart, ranks: this.classRanks };
  }

  selector(sel: Selector): string[] {
    const classes = this.index.selectClasses(sel);
    const { start, ranks } = this.rankTable();
    const texts = this.order.texts;
    if (classes.length === 1) {
      // Most rule selectors select one class: its ranks are the set's, as they are.
      const o = classes[0]!;
      const from = start[o]!;
      const out = new Array<string>(start[o + 1]! - from);
      for (let i = 0; i < out.length; i++) out[i] = texts[ranks[from + i]!]!;
      return out;
    }
    let n = 0;
    for (const o of classes) n += start[o + 1]! - start[o]!;
    if (n * BITMAP_RATIO >= texts.length) {
      // A set with members among a good share of all ranks (a wide selector): mark them and read
      // the marks in order, linear in the number of ranks, instead of sorting them all.
      const marks = (this.marks ??= new Uint8Array(texts.length));
      let distinct = 0;
      for (const o of classes) {
        for (let i = start[o]!, end = start[o + 1]!; i < end; i++) {
          const r = ranks[i]!;
          if (marks[r] === 0) {
            marks[r] = 1;
            distinct++;
          }
        }
      }
      const out = new Array<string>(distinct);
      for (let r = 0, k = 0; k < distinct; r++) {
        if (marks[r] === 1) {
          marks[r] = 0;
          out[k++] = texts[r]!;
        }
      }
      return out;
    }
    const all = new Int32Array(n);
    let at = 0;
    for (const o of classes) for (let i = start[o]!, end = start[o + 1]!; i < end; i++) all[at++] = ranks[i]!;
    const u = uniqSorted(all);
    const out = new Array<string>(u.length);
    for (let i = 0; i < u.length; i++) out[i] = texts[u[i]!]!;
    return out;
  }

  /** A class's endpoints grouped by their named-port declarations, with each group's member
   *  ranks: replicas share one declaration list (PodRecordMemo), so a class is one or a few
   *  groups, and a named-port set reads declarations per group rather than per endpoint. */
  private portGroupsOf(o: number): PortGroup[] {
    let groups = this.classPortGroups[o];
    if (!groups) {
      const { items, offsets, flat } = this.order;
      const classItems = this.index.classList[o]!.items;
      // The usual class: endpoints that all share one declaration list (replicas). Its group's
      // ranks are the class's own range of the rank table: nothing new to allocate.
      const first = items[classItems[0]!]!;
      if (isEndpoint(first) && classItems.every((n) => { const it = items[n]!; return isEndpoint(it) && it.namedPorts === first.namedPorts; })) {
        if (first.namedPorts.length === 0) groups = NO_GROUPS;
        else {
          const { start, ranks } = this.rankTable();
          groups = [{ ports: first.namedPorts, ranks, from: start[o]!, to: start[o + 1]! }];
        }
        this.classPortGroups[o] = groups;
        return groups;
      }
      const lists: Array<readonly NamedPortDecl[]> = [];
      const ranks: number[][] = [];
      // Group of a list: the first group's is checked directly; a map only once there are more
      // (endpoints not built from pods each have a list of their own).
      let groupOfList: Map<readonly NamedPortDecl[], number> | undefined;
      for (const n of classItems) {
        const item = items[n]!;
        if (!isEndpoint(item) || item.namedPorts.length === 0) continue; // network sets have no ports
        let g = lists.length > 0 && lists[0] === item.namedPorts ? 0 : groupOfList?.get(item.namedPorts);
        if (g === undefined) {
          g = lists.length;
          lists.push(item.namedPorts);
          ranks.push([]);
          if (g > 0) (groupOfList ??= new Map([[lists[0]!, 0]])).set(item.namedPorts, g);
        }
        const r = ranks[g]!;
        for (let i = offsets[n]!, end = offsets[n + 1]!; i < end; i++) r.push(flat[i]!);
      }
      groups = lists.map((ports, g) => ({ ports, ranks: Int32Array.from(ranks[g]!), from: 0, to: ranks[g]!.length }));
      this.classPortGroups[o] = groups;
    }
    return groups;
  }

  namedPort(sel: Selector, portName: string, protocol: number): PortMember[] {
    const classes = this.index.selectClasses(sel);
    // The matching (group, declaration) pairs, found in one walk over the classes (an all()
    // selector walks every class). Indexed loops: these run before the function is optimized,
    // where for-of allocates an iterator result per element.
    const groups: PortGroup[] = [];
    const decls: NamedPortDecl[] = [];
    let n = 0;
    for (let c = 0; c < classes.length; c++) {
      const gs = this.portGroupsOf(classes[c]!);
      for (let k = 0; k < gs.length; k++) {
        const g = gs[k]!;
        for (let d = 0; d < g.ports.length; d++) {
          const np = g.ports[d]!;
          if (np.name !== portName || (protocol !== PROTO_ANY && np.protocol !== protocol)) continue;
          groups.push(g);
          decls.push(np);
          n += g.to - g.from;
        }
      }
    }
    const keys = new Float64Array(n);
    let at = 0;
    for (let k = 0; k < groups.length; k++) {
      const g = groups[k]!;
      const np = decls[k]!;
      for (let i = g.from; i < g.to; i++) keys[at++] = portKey(g.ranks[i]!, np.protocol, np.port);
    }
    const u = uniqSorted(keys);
    const out = new Array<PortMember>(u.length);
    for (let i = 0; i < u.length; i++) out[i] = this.order.portMember(u[i]!);
    return out;
  }
}

/** Sorts `a[from … to)` in place and removes repeats; returns the new end. Most classes hold a
 *  few ranks: insertion sort for those, the native sort (on a view) for the rest. */
function sortUnique(a: Int32Array, from: number, to: number): number {
  if (to - from <= 32) {
    for (let i = from + 1; i < to; i++) {
      const x = a[i]!;
      let j = i - 1;
      while (j >= from && a[j]! > x) {
        a[j + 1] = a[j]!;
        j--;
      }
      a[j + 1] = x;
    }
  } else a.subarray(from, to).sort();
  let end = from;
  for (let i = from; i < to; i++) if (i === from || a[i] !== a[end - 1]) a[end++] = a[i]!;
  return end;
}

interface PortGroup {
  ports: readonly NamedPortDecl[];
  /** Member ranks of the group's endpoints are `ranks[from … to)` (repeats allowed; namedPort
   *  removes them). */
  ranks: Int32Array;
  from: number;
  to: number;
}

const NO_GROUPS: PortGroup[] = [];

function sortCidrs(keyed: Iterable<KeyedCidr>): string[] {
  // Entries are interned per text, so a Set of entries removes duplicate texts.
  const uniq = [...new Set(keyed)];
  uniq.sort(compareKeyed);
  return uniq.map((x) => x.c);
}

function sortMembers(entries: PortEntry[]): PortMember[] {
  // Last duplicate wins, as before (the objects are equal anyway).
  const seen = new Map<string, PortEntry>();
  for (const e of entries) seen.set(`${e.m.addr}|${e.m.protocol}|${e.m.port}`, e);
  const uniq = [...seen.values()];
  uniq.sort(comparePort);
  return uniq.map((x) => x.m);
}

/**
 * Ranks, in the order of SelectorSetDef.members, of every member text the requests' selections
 * read (their items' addresses and nets): rank → text, and → address for endpoint addresses. Undefined when two different texts would
 * sort equal (not produced by canonical records), where only the per-set path keeps the order.
 */
function rankMembers(memo: MemberCache, inp: SetInputs, requests: Iterable<Request>): { texts: string[]; addrs: Array<string | undefined> } | undefined {
  const distinct: KeyedCidr[] = [];
  for (const r of requests) {
    if (r.kind === "service") continue;
    for (const itemId of inp.index.select(r.selector)) {
      for (const k of memo.item(itemId, inp)) {
        if (k.rank === -1) {
          k.rank = -2;
          distinct.push(k);
        }
      }
    }
  }
  distinct.sort(compareKeyed);
  // Ranks must fit the packed port keys, and equal sort keys would leave the order to the ranking:
  // either keeps the per-set path.
  const tie = distinct.some((k, i) => i > 0 && compareKeyed(distinct[i - 1]!, k) === 0);
  if (tie || distinct.length >= MAX_RANKS) {
    for (const k of distinct) k.rank = -1;
    return undefined;
  }
  const texts = new Array<string>(distinct.length);
  const addrs = new Array<string | undefined>(distinct.length);
  assignRanks(distinct, 0, texts, addrs);
  return { texts, addrs };
}

/** A selector set's members from ranked entries; undefined if one was not ranked. */
function byRank(members: readonly KeyedCidr[], texts: readonly string[]): string[] | undefined {
  const a = new Int32Array(members.length);
  for (let i = 0; i < members.length; i++) {
    const r = members[i]!.rank;
    if (r < 0) return undefined;
    a[i] = r;
  }
  const u = uniqSorted(a);
  const out = new Array<string>(u.length);
  for (let i = 0; i < u.length; i++) out[i] = texts[u[i]!]!;
  return out;
}

/** Computes every registered set's members. */
export function calculateSets(reg: SetRegistry, inp: SetInputs): Record<SetId, SetDef> {
  const out: Record<SetId, SetDef> = {};
  const rank = !inp.order && (inp.rankMembers ?? reg.requests.size >= 8);
  const compute = setComputer(inp, rank ? reg.requests.values() : undefined);
  for (const id of [...reg.requests.keys()].sort()) out[id] = compute(id, reg.requests.get(id)!);
  return out;
}

/**
 * calculateSets, but each set's members are computed when the set is first read: the map has
 * every id (same keys, same order) from the start (`ChunkedMap.lazy`). Consumers that read a few
 * sets (explain, a node's dataplane) pay for those only; reading them all (JSON, matrix) gives
 * exactly calculateSets' result. Once every set has been read the inputs are released.
 */
export function lazySets(reg: SetRegistry, inp: SetInputs): ChunkedMap<SetDef> {
  let compute: ((id: SetId, r: Request) => SetDef) | undefined = setComputer(inp);
  const ids = [...reg.requests.keys()].sort();
  const requests = new Map(ids.map((id) => [id, reg.requests.get(id)!]));
  return ChunkedMap.lazy(ids, (id) => {
    const def = compute!(id, requests.get(id)!);
    requests.delete(id);
    // Every set read: let go of the inputs the computation kept (index, endpoints, member order).
    if (requests.size === 0) compute = undefined;
    return def;
  });
}

function setComputer(inp: SetInputs, rankFor?: Iterable<Request>): (id: SetId, r: Request) => SetDef {
  const memo = new MemberCache();
  const fast = inp.order && inp.index.selectClasses && inp.index.classList ? new ClassMembers(inp.index as Pick<LabelIndex, "selectClasses" | "classList">, inp.order) : undefined;
  const ranked = !fast && rankFor ? rankMembers(memo, inp, rankFor) : undefined;
  /** A named-port set's members from ranks: (rank, protocol, port) packed in one number, sorted as
   *  numbers; undefined if an address was not ranked. */
  const rankedPorts = (r: Extract<Request, { kind: "named-port" }>): PortMember[] | undefined => {
    const keys: number[] = [];
    let ok = true;
    for (const itemId of inp.index.select(r.selector)) {
      const ep = inp.endpoints.get(itemId);
      if (!ep) continue; // network sets have no ports
      let addrs: KeyedCidr[] | undefined; // the endpoint's addresses, in `ips` order
      for (const np of ep.namedPorts) {
        if (np.name !== r.portName) continue;
        if (r.protocol !== PROTO_ANY && np.protocol !== r.protocol) continue;
        addrs ??= memo.item(itemId, inp);
        for (const k of addrs) {
          if (k.rank < 0) ok = false;
          keys.push(portKey(k.rank, np.protocol, np.port));
        }
      }
    }
    if (!ok) return undefined;
    const u = uniqSorted(Float64Array.from(keys));
    const members = new Array<PortMember>(u.length);
    for (let i = 0; i < u.length; i++) {
      const key = u[i]!;
      const rank = Math.floor(key / PORT_KEY_RANK);
      const rest = key - rank * PORT_KEY_RANK;
      members[i] = { addr: ranked!.addrs[rank]!, protocol: rest >>> 16, port: rest & 0xffff };
    }
    return members;
  };
  // EndpointSlices by service (kubernetes.io/service-name label).
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of inp.slices) {
    const svc = s.metadata.labels?.["kubernetes.io/service-name"];
    if (!svc) continue;
    const k = `${s.metadata.namespace || "default"}/${svc}`;
    let l = slicesBySvc.get(k);
    if (!l) slicesBySvc.set(k, (l = []));
    l.push(s);
  }
  return (id, r) => {
    if (r.kind === "selector" && fast) {
      return { kind: "selector", id, selector: r.selector.toString(), members: fast.selector(r.selector) };
    } else if (r.kind === "named-port" && fast) {
      return { kind: "named-port", id, portName: r.portName, protocol: r.protocol, selector: r.selector.toString(), members: fast.namedPort(r.selector, r.portName, r.protocol) };
    } else if (r.kind === "selector") {
      const members: KeyedCidr[] = [];
      for (const itemId of inp.index.select(r.selector)) for (const k of memo.item(itemId, inp)) members.push(k);
      const def: SelectorSetDef = { kind: "selector", id, selector: r.selector.toString(), members: (ranked && byRank(members, ranked.texts)) || sortCidrs(members) };
      return def;
    } else if (r.kind === "named-port") {
      const ports = ranked && rankedPorts(r);
      if (ports) return { kind: "named-port", id, portName: r.portName, protocol: r.protocol, selector: r.selector.toString(), members: ports } satisfies NamedPortSetDef;
      const members: PortEntry[] = [];
      for (const itemId of inp.index.select(r.selector)) {
        const ep = inp.endpoints.get(itemId);
        if (!ep) continue; // network sets have no ports
        for (const np of ep.namedPorts) {
          if (np.name !== r.portName) continue;
          if (r.protocol !== PROTO_ANY && np.protocol !== r.protocol) continue;
          for (const ip of ep.ips) members.push({ m: { addr: ip, protocol: np.protocol, port: np.port }, a: memo.addr(ip) });
        }
      }
      const def: NamedPortSetDef = { kind: "named-port", id, portName: r.portName, protocol: r.protocol, selector: r.selector.toString(), members: sortMembers(members) };
      return def;
    } else {
      const members: PortEntry[] = [];
      for (const s of slicesBySvc.get(`${r.namespace}/${r.name}`) ?? []) {
        if (s.addressType === "FQDN") continue;
        for (const ep of s.endpoints ?? []) {
          for (const a of ep.addresses ?? []) {
            const addr = canonicalAddr(a);
            if (!addr) continue; // endpoints may hold names
            if (!r.withPorts) {
              members.push({ m: { addr, protocol: 0, port: 0 }, a: memo.addr(addr) });
              continue;
            }
            for (const p of s.ports ?? []) {
              // A slice port without a number means "all ports" in Kubernetes; Felix gives it no
              // membership.
              if (p.port === undefined || p.port === null) continue;
              const proto = p.protocol === "UDP" ? 17 : p.protocol === "SCTP" ? 132 : 6;
              members.push({ m: { addr, protocol: proto, port: p.port }, a: memo.addr(addr) });
            }
          }
        }
      }
      const def: ServiceSetDef = { kind: "service", id, service: { namespace: r.namespace, name: r.name }, withPorts: r.withPorts, members: sortMembers(members) };
      return def;
    }
  };
}
