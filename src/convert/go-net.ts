/**
 * The bits of Go's standard library whose exact output Calico's conversion exposes:
 * net.ParseCIDR + IPNet.String() (network address, Go spelling) and google/uuid parsing.
 */
import { type Addr, formatAddr, parseAddr } from "../rule/index.js";

const V4_MAPPED_PREFIX = 0xffffn << 32n;

/**
 * Go net.ParseCIDR(s) followed by IPNet.String(): "10.1.2.3/16" → "10.1.0.0/16". Undefined when Go
 * would return an error (no "/", bad address, zone, prefix out of range). As in Go, the prefix may
 * have leading zeros, and a v4-mapped IPv6 network (::ffff:a.b.c.d/96..128) prints as IPv4.
 */
export function goNormaliseCidr(s: string): string | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const a = parseAddr(s.slice(0, slash));
  if (!a) return undefined;
  const p = s.slice(slash + 1);
  if (!/^[0-9]+$/.test(p)) return undefined;
  const bits = a.family === 4 ? 32 : 128;
  const prefix = p.length > 4 ? Infinity : Number(p);
  if (prefix > bits) return undefined;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  const base: Addr = { family: a.family, value: a.value & mask };
  if (base.family === 6 && base.value >> 32n === V4_MAPPED_PREFIX >> 32n) {
    return `${formatAddr({ family: 4, value: base.value & 0xffffffffn })}/${prefix - 96}`;
  }
  return `${formatAddr(base)}/${prefix}`;
}

const HEX32 = /^[0-9a-fA-F]{32}$/;

/** google/uuid Parse: the 36-char form, "urn:uuid:" + it, "{" it "}", or 32 hex digits. */
export function parseUuid(s: string): Uint8Array | undefined {
  let t = s;
  if (t.length === 45 && t.slice(0, 9).toLowerCase() === "urn:uuid:") t = t.slice(9);
  else if (t.length === 38 && t[0] === "{" && t[37] === "}") t = t.slice(1, 37);
  let hex: string;
  if (t.length === 36) {
    if (t[8] !== "-" || t[13] !== "-" || t[18] !== "-" || t[23] !== "-") return undefined;
    hex = t.slice(0, 8) + t.slice(9, 13) + t.slice(14, 18) + t.slice(19, 23) + t.slice(24);
  } else if (t.length === 32) {
    hex = t;
  } else {
    return undefined;
  }
  if (!HEX32.test(hex)) return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function formatUuid(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function reverse8(x: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((x >> i) & 1) << (7 - i);
  return r;
}

/**
 * conversion.ConvertUID: bit-reverse every byte except the version (6) and variant (8) bytes, so
 * the derived object gets a distinct, deterministic, reversible UID.
 */
export function convertUid(uid: string): string | undefined {
  const b = parseUuid(uid);
  if (!b) return undefined;
  const out = b.map((x, i) => (i === 6 || i === 8 ? x : reverse8(x)));
  return formatUuid(out);
}
