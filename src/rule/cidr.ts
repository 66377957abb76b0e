/**
 * IP addresses and CIDRs as numbers. Matching compares numbers, never strings, so "10.0.0.1" and
 * "::ffff:…"-style spellings of the same address cannot disagree. Canonical printing follows Go's
 * net package (dotted quad; RFC 5952 for IPv6) because the IR is compared with Calico's output.
 */

import { parseIPv4, parseIPv6 } from "../model/index.js";

export type Family = 4 | 6;

export interface Addr {
  family: Family;
  value: bigint;
}

export interface Cidr {
  family: Family;
  /** Network address (host bits cleared). */
  base: bigint;
  prefix: number;
}

const BITS = { 4: 32, 6: 128 } as const;

/** Parses a single address (no prefix). Undefined when it is not a valid IPv4/IPv6 address. */
export function parseAddr(s: string): Addr | undefined {
  if (s.includes(":")) {
    const v = parseIPv6(s);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseIPv4(s);
  return v === undefined ? undefined : { family: 4, value: v };
}

function maskOf(family: Family, prefix: number): bigint {
  const bits = BITS[family];
  if (prefix === 0) return 0n;
  return ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

export interface ParsedCidr extends Cidr {
  /** True when the text had host bits set (e.g. 10.1.2.3/16). */
  hadHostBits: boolean;
  /** True when the text was a bare address without "/". */
  bare: boolean;
}

/** Parses "addr/prefix" or a bare address (as a host CIDR). */
export function parseCidr(s: string): ParsedCidr | undefined {
  const slash = s.indexOf("/");
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const a = parseAddr(addrText);
  if (!a) return undefined;
  const bits = BITS[a.family];
  let prefix: number = bits;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > bits) return undefined;
  }
  const mask = maskOf(a.family, prefix);
  const base = a.value & mask;
  return { family: a.family, base, prefix, hadHostBits: base !== a.value, bare: slash < 0 };
}

export function cidrContains(c: Cidr, a: Addr): boolean {
  if (c.family !== a.family) return false;
  return (a.value & maskOf(c.family, c.prefix)) === c.base;
}

export function formatAddr(a: Addr): string {
  if (a.family === 4) {
    const v = Number(a.value);
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((a.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (≥2) of zero groups, the first one on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number) => g.toString(16);
  if (bestLen < 2) return groups.map(hex).join(":");
  const head = groups.slice(0, bestStart).map(hex).join(":");
  const tail = groups.slice(bestStart + bestLen).map(hex).join(":");
  return `${head}::${tail}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatAddr({ family: c.family, value: c.base })}/${c.prefix}`;
}

/** Canonical, strictly masked CIDR text ("10.1.2.3/16" → "10.1.0.0/16", "1.2.3.4" → "1.2.3.4/32"). */
export function canonicalCidr(s: string): string | undefined {
  const c = parseCidr(s);
  return c ? formatCidr(c) : undefined;
}

/** Canonical address text, or undefined. */
export function canonicalAddr(s: string): string | undefined {
  const a = parseAddr(s);
  return a ? formatAddr(a) : undefined;
}

export function isHostCidr(c: Cidr): boolean {
  return c.prefix === BITS[c.family];
}

export function familyOfCidrText(s: string): Family {
  return s.includes(":") ? 6 : 4;
}

/** Stable key for maps of addresses (independent of spelling). */
export function addrKey(a: Addr): string {
  return `${a.family}/${a.value.toString(16)}`;
}

const cidrCache = new Map<string, Cidr | null>();
/** Parsed CIDR with a process-wide cache: the IR repeats the same CIDR strings in many rules. */
export function cachedCidr(s: string): Cidr | undefined {
  let c = cidrCache.get(s);
  if (c === undefined) {
    c = parseCidr(s) ?? null;
    if (cidrCache.size > 100_000) cidrCache.clear();
    cidrCache.set(s, c);
  }
  return c ?? undefined;
}
