/**
 * Member deltas for selector and named-port sets: what one endpoint or network set contributes to
 * a set, and a set's new member list from its previous one plus the members that came and went,
 * in the canonical order calculateSets produces (set-calculator.ts):
 *
 *   selector set:   member CIDR texts (endpoint address → "a/32" or "a/128", network set nets as
 *                   recorded), unique, sorted by (family, masked base, prefix);
 *   named-port set: {addr, protocol, port} of the endpoints declaring the port name (protocol
 *                   filter unless PROTO_ANY), unique, sorted by (address as above, protocol, port).
 *
 * The order is restated here (set-calculator keeps its comparison private and tuned for the full
 * computation); the agent's tests compare every patched set with calculateSets' result after every
 * change, so the two cannot drift silently. Used by the agent's incremental calculation, whose
 * sets change by a few members per update while holding up to every pod of the cluster.
 */
import { editList, joined, listAt, listLowerBound, type List } from "../model/index.js";
import { parseCidr, PROTO_ANY, recordMemberDelta, type PortMember } from "../rule/index.js";
import type { EndpointRecord, NetworkSetRecord } from "./endpoint-builder.js";

/** Sort key of a member CIDR (number for IPv4, bigint for IPv6; never compared across families). */
export interface MemberKey {
  family: number;
  v: number | bigint;
  prefix: number;
}

/** The selector-set member text of an endpoint address. */
export function addrMemberText(ip: string): string {
  // Joined flat (model/retained.ts): these texts are the members of every selector set.
  return joined("", ip, ip.includes(":") ? "/128" : "/32");
}

/** Selector-set member texts of one labelled item (unique within the item). */
export function selectorItemMembers(rec: EndpointRecord | NetworkSetRecord | undefined): string[] {
  if (!rec) return [];
  if ("ips" in rec) return [...new Set(rec.ips.map(addrMemberText))];
  return rec.nets;
}

/** Named-port members one endpoint contributes to a (port name, protocol) set. */
export function namedPortItemMembers(rec: EndpointRecord | NetworkSetRecord | undefined, portName: string, protocol: number): PortMember[] {
  if (!rec || !("ips" in rec)) return []; // network sets have no ports
  const out: PortMember[] = [];
  for (const np of rec.namedPorts) {
    if (np.name !== portName) continue;
    if (protocol !== PROTO_ANY && np.protocol !== protocol) continue;
    for (const ip of rec.ips) out.push({ addr: ip, protocol: np.protocol, port: np.port });
  }
  return out;
}

export function portMemberId(m: PortMember): string {
  return `${m.addr}|${m.protocol}|${m.port}`;
}

/** Parsed member keys, memoised by text (a set's binary search looks at ~log2(size) members). */
export class MemberKeys {
  private readonly keys = new Map<string, MemberKey>();

  constructor(private readonly limit = 1_000_000) {}

  cidr(text: string): MemberKey {
    let k = this.keys.get(text);
    if (!k) {
      const p = parseCidr(text);
      if (!p) throw new Error(`set member ${JSON.stringify(text)} is not a CIDR`);
      k = { family: p.family, v: p.family === 4 ? Number(p.base) : p.base, prefix: p.prefix };
      if (this.keys.size >= this.limit) this.keys.clear();
      this.keys.set(text, k);
    }
    return k;
  }

  compareCidr(a: string, b: string): number {
    return compareKeys(this.cidr(a), this.cidr(b));
  }

  comparePort(a: PortMember, b: PortMember): number {
    return compareKeys(this.cidr(addrMemberText(a.addr)), this.cidr(addrMemberText(b.addr))) || a.protocol - b.protocol || a.port - b.port;
  }
}

function compareKeys(a: MemberKey, b: MemberKey): number {
  return a.family - b.family || (a.v < b.v ? -1 : a.v > b.v ? 1 : a.prefix - b.prefix);
}


/**
 * `old` (sorted by `cmp`, unique by `idOf`) without `remove` and with `add`, same order; `old`
 * itself when nothing changes. Removals must be present and additions may already be. Returns
 * undefined when the order is not decided by `cmp` alone (two different members with equal keys,
 * e.g. non-canonical texts): the caller then recomputes the set whole. O(k log n) comparisons and
 * an edit of a ChunkedList that copies the chunks it touches (the IR hands out whole member lists
 * and the previous one must stay intact; copying a 100k-member array per pod add was ~9 ms).
 */
export function patchSorted<T>(old: List<T>, remove: readonly T[], add: readonly T[], cmp: (a: T, b: T) => number, idOf: (x: T) => string): List<T> | undefined {
  if (remove.length === 0 && add.length === 0) return old;
  const drop = new Set<number>();
  for (const r of remove) {
    const id = idOf(r);
    let j = listLowerBound(old, r, cmp);
    let found = false;
    for (; j < old.length && cmp(listAt(old, j)!, r) === 0; j++) {
      if (idOf(listAt(old, j)!) === id) {
        drop.add(j);
        found = true;
      } else return undefined;
    }
    if (!found) return undefined;
  }
  const inserts: Array<{ at: number; x: T }> = [];
  const seen = new Set<string>();
  for (const a of add) {
    const id = idOf(a);
    if (seen.has(id)) continue;
    seen.add(id);
    let j = listLowerBound(old, a, cmp);
    const at = j;
    let present = false;
    for (; j < old.length && cmp(listAt(old, j)!, a) === 0; j++) {
      if (idOf(listAt(old, j)!) === id && !drop.has(j)) present = true;
      else return undefined;
    }
    if (!present) inserts.push({ at, x: a });
  }
  if (drop.size === 0 && inserts.length === 0) return old;
  inserts.sort((p, q) => p.at - q.at || cmp(p.x, q.x));
  for (let i = 1; i < inserts.length; i++) if (inserts[i - 1]!.at === inserts[i]!.at && cmp(inserts[i - 1]!.x, inserts[i]!.x) === 0) return undefined;
  const drops = [...drop].sort((x, y) => x - y);
  const out = editList(old, drops, inserts);
  recordMemberDelta(out, old, { removed: drops.map((j) => listAt(old, j)!), added: inserts.map((x) => x.x) });
  return out;
}
