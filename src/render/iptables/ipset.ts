/**
 * Dataplane sets → ipset definitions and element texts. One kernel ipset per model set, same name
 * (naming.ts already keeps names ≤ 31 chars and Felix-like: cali40s-…, cali6ns-…).
 *
 *   fields [addr]                      interval=false → hash:ip      interval=true → hash:net
 *   fields [addr, l4proto, port]       interval=false → hash:ip,port interval=true → hash:net,port
 *
 * Element texts are what `ipset restore` reads and `ipset save` prints: "198.18.1.10",
 * "10.0.0.0/8", "198.18.1.11,tcp:5432". Two spellings are forced by ipset and are mechanical:
 *  - hash:net refuses a /0 prefix, so 0.0.0.0/0 is stored as its two /1 halves (same union);
 *  - hash:net prints a full-length prefix as a bare address, so comparisons normalise that away.
 */
import { BugError, sortedListHas, type List } from "../../model/index.js";
import { canonicalAddr, parseCidr, PROTO_SCTP, PROTO_TCP, PROTO_UDP, PROTO_UDPLITE } from "../../rule/index.js";
import { elementEdit, patchSortedStrings, type DpSet, type Family, type SetField } from "../../dataplane/index.js";

export type IpsetType = "hash:ip" | "hash:net" | "hash:ip,port" | "hash:net,port";

/** Felix's MaxIPSetSize default; ipset's own default (65536) is too small for large clusters. */
export const IPSET_MAXELEM = 1_048_576;

export interface IpsetDef {
  name: string;
  family: Family;
  type: IpsetType;
  /** Element texts as ipset reads them, sorted, unique (a ChunkedList when patched). */
  elements: List<string>;
}

const PORT_PROTO_NAMES: Record<number, string> = { [PROTO_TCP]: "tcp", [PROTO_UDP]: "udp", [PROTO_SCTP]: "sctp", [PROTO_UDPLITE]: "udplite" };

export function ipsetType(fields: SetField[], interval: boolean, name = "?"): IpsetType {
  const key = fields.join(",");
  if (key === "addr") return interval ? "hash:net" : "hash:ip";
  if (key === "addr,l4proto,port") return interval ? "hash:net,port" : "hash:ip,port";
  throw new BugError(`set ${name}: no ipset type holds fields ${key}`);
}

export function ipsetFamily(f: Family): "inet" | "inet6" {
  return f === 4 ? "inet" : "inet6";
}

/** A canonical dotted quad (no leading zeros, octets ≤ 255): already what ipset prints. */
const CANONICAL_V4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** The ipset texts of one model address (or CIDR) element. */
function addrTexts(text: string, type: IpsetType, set: string): string[] {
  // Fast path for the bulk of every large set (pod addresses): one regex instead of a parse and a
  // re-format; it only accepts texts the slow path would return unchanged.
  if (CANONICAL_V4.test(text)) return [text];
  const c = parseCidr(text);
  if (!c) throw new BugError(`set ${set}: invalid element ${text}`);
  const isNet = type === "hash:net" || type === "hash:net,port";
  if (!isNet) {
    if (!c.bare && c.prefix !== (c.family === 4 ? 32 : 128)) throw new BugError(`set ${set}: CIDR ${text} in a non-interval set`);
    return [canonicalAddr(text.split("/")[0]!)!];
  }
  if (c.prefix === 0) return c.family === 4 ? ["0.0.0.0/1", "128.0.0.0/1"] : ["::/1", "8000::/1"];
  return [normalizeNet(text)];
}

/** Canonical text of a hash:net member: bare address for a full-length prefix, else addr/len. */
function normalizeNet(text: string): string {
  const c = parseCidr(text);
  if (!c) return text;
  const addr = canonicalAddr(text.split("/")[0]!) ?? text;
  const full = c.family === 4 ? 32 : 128;
  return c.prefix === full ? addr : `${addr}/${c.prefix}`;
}

/** ipset texts of one model element ("a", "a/len", "a . 6 . 80"). */
export function elementTexts(el: string, type: IpsetType, set: string): string[] {
  if (type === "hash:ip" || type === "hash:net") return addrTexts(el, type, set);
  const parts = el.split(" . ");
  if (parts.length !== 3) throw new BugError(`set ${set}: element ${el} does not have 3 fields`);
  const proto = PORT_PROTO_NAMES[Number(parts[1])];
  if (!proto) throw new BugError(`set ${set}: protocol ${parts[1]} has no ports in ipset`);
  return addrTexts(parts[0]!, type, set).map((a) => `${a},${proto}:${Number(parts[2])}`);
}

const defs = new WeakMap<DpSet, IpsetDef>();
/** The same by element array, to find the conversion of the array a changed set was patched from. */
const defsByElements = new WeakMap<List<string>, IpsetDef>();

/**
 * The ipset form of a model set, memoised per DpSet object: a model builder that keeps unchanged
 * sets' objects between models makes their conversion free on every later render.
 */
export function ipsetDef(s: DpSet): IpsetDef {
  let d = defs.get(s);
  if (!d) defs.set(s, (d = convertSet(s)));
  return d;
}

function convertSet(s: DpSet): IpsetDef {
  const type = ipsetType(s.fields, s.interval, s.name);
  const def = patchedDef(s, type) ?? { name: s.name, family: s.family, type, elements: convertAll(s, type) };
  defsByElements.set(s.elements, def);
  return def;
}

function convertAll(s: DpSet, type: IpsetType): string[] {
  const els = new Set<string>();
  for (const e of s.elements) for (const t of elementTexts(e, type, s.name)) els.add(t);
  return [...els].sort();
}

/**
 * A set whose elements the builder patched (set-patch.ts records the edit): the previous
 * conversion patched with the texts of the elements that came and went, instead of converting
 * every element again (a pod add at 100k pods touches sets of up to 100k addresses). Only for
 * hash:ip and hash:ip,port, where distinct model elements have exactly one, distinct text each;
 * interval sets (a /0 becomes two halves, spellings may meet) are converted whole.
 */
function patchedDef(s: DpSet, type: IpsetType): IpsetDef | undefined {
  if (type !== "hash:ip" && type !== "hash:ip,port") return undefined;
  const edit = elementEdit(s.elements);
  const prev = edit && defsByElements.get(edit.base);
  if (!edit || !prev || prev.name !== s.name || prev.family !== s.family || prev.type !== type) return undefined;
  const text = (e: string) => {
    const t = elementTexts(e, type, s.name);
    if (t.length !== 1) throw new BugError(`set ${s.name}: element ${e} has ${t.length} ipset texts`);
    return t[0]!;
  };
  const removed = edit.delta.removed.map(text);
  const added = edit.delta.added.map(text);
  const def: IpsetDef = { name: s.name, family: s.family, type, elements: patchSortedStrings(prev.elements, removed, added) };
  patches.set(def, { from: prev, removed, added });
  return def;
}

/** Conversions made by patching another, with the texts that went and came (patchedDef). */
const patches = new WeakMap<IpsetDef, { from: IpsetDef; removed: readonly string[]; added: readonly string[] }>();

/**
 * The elements to delete from and add to `from` to make `to` (each sorted, without duplicates),
 * when `to` was made by patching `from`: found from the patch's texts with binary searches
 * instead of a merge walk over both lists (sets of 100k addresses at 100k pods). Undefined
 * otherwise. The result is exactly the merge walk's: from \ to and to \ from, in order.
 */
export function recordedElementChanges(from: IpsetDef, to: IpsetDef): { dels: string[]; adds: string[] } | undefined {
  const p = patches.get(to);
  if (!p || p.from !== from) return undefined;
  const dels = uniqueSorted(p.removed.filter((e) => sortedListHas(from.elements, e) && !sortedListHas(to.elements, e)));
  const adds = uniqueSorted(p.added.filter((e) => sortedListHas(to.elements, e) && !sortedListHas(from.elements, e)));
  return { dels, adds };
}

function uniqueSorted(xs: string[]): string[] {
  xs.sort();
  return xs.filter((x, i) => i === 0 || x !== xs[i - 1]);
}

/** Canonical form of an element as `ipset save` prints it, for comparing with ipsetDef's texts. */
export function normalizeListedElement(text: string, type: string): string {
  if (type === "hash:ip") return canonicalAddr(text) ?? text;
  if (type === "hash:net") return normalizeNet(text);
  const comma = text.lastIndexOf(",");
  if (comma < 0) return text;
  const addr = text.slice(0, comma);
  return `${type === "hash:ip,port" ? (canonicalAddr(addr) ?? addr) : normalizeNet(addr)}${text.slice(comma)}`;
}

export function createLine(d: Pick<IpsetDef, "name" | "type" | "family">, name = d.name): string {
  return `create ${name} ${d.type} family ${ipsetFamily(d.family)} maxelem ${IPSET_MAXELEM}`;
}

/** Is `name` one of ours? Felix owns every ipset whose name starts with cali4 / cali6. */
export function isOurSet(name: string): boolean {
  return /^cali[46]/.test(name);
}

/** Temporary set for a swap-replace (Felix: cali4t<n>); never named by a rule. */
export function tempSetName(family: Family, n: number): string {
  return `cali${family}t${n}`;
}
