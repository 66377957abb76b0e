/**
 * IP address texts as numbers: the one address parser (rule/cidr.ts builds CIDRs and canonical
 * texts on it; kernel/netlink.ts encodes addresses for the kernel with it).
 */

/** A dotted quad as a number; undefined for anything else (leading zeros included). */
export function parseIPv4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Go's parser rejects leading zeros ("010"), so do we: they are ambiguous (octal).
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

/** RFC 4291 text ("::", an embedded dotted quad; no zone, no prefix) as a number. */
export function parseIPv6(s: string): bigint | undefined {
  if (s.length === 0 || s.includes("%")) return undefined;
  let tailV4: bigint | undefined;
  let text = s;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tailV4 = parseIPv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    text = text.slice(0, lastColon + 1) + "0:0"; // placeholder groups, replaced below
  }
  const dbl = text.indexOf("::");
  if (dbl !== text.lastIndexOf("::")) return undefined;
  const parseGroups = (g: string): number[] | undefined => {
    if (g === "") return [];
    const out: number[] = [];
    for (const part of g.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
      out.push(parseInt(part, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parseGroups(text.slice(0, dbl));
    const tail = parseGroups(text.slice(dbl + 2));
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

/** An address number as its network-order bytes (4 for IPv4, 16 for IPv6). */
export function addrBytes(value: bigint, family: 4 | 6): Buffer {
  const n = family === 4 ? 4 : 16;
  const b = Buffer.alloc(n);
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}
