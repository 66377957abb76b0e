/**
 * Netfilter netlink messages, built and read in TypeScript for native/nfnl-relay: framing
 * (headers, attributes), the relay's unit of work (EncodedBatch), the kernel's answers and errno
 * texts, and the address encoders nf_tables (nfnl.ts) and ipset (ipset-nl.ts) share.
 *
 * Netlink message and attribute headers are in host byte order (little-endian on every machine
 * tortie supports; checked at load); the payloads the kernel reads as network data (addresses,
 * ports, NLA_F_NET_BYTEORDER attributes) are big-endian.
 */
import { constants as osConstants } from "node:os";
import { getSystemErrorMap } from "node:util";
import { addrBytes, parseIPv6 } from "../model/index.js";
import type { KernelErrorCode } from "./errors.js";

// linux/netlink.h
export const NLM_F_REQUEST = 0x1;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
const NLMSG_ERROR = 2;
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;

/** One encoded batch, and the sequence number of its last message (the terminator). */
export interface EncodedBatch {
  /** Each entry is one sendto(): the batch, then a query that is always answered (nf_tables'
   *  generation, ipset's protocol version), whose answer ends the reply. */
  sends: Buffer[];
  terminator: number;
  /** What each sequence number was, for error messages. */
  describe: Map<number, string>;
}

/** Sequence numbers one batch may use: firstSeq … firstSeq + SEQ_BLOCK - 1. */
export const SEQ_BLOCK = 1 << 16;

/**
 * The largest ipset batch sent through the relay (one sendto(): the kernel copies it into one
 * buffer). Larger element changes — rare: a network set of many thousands of nets replaced — go
 * through `ipset restore`, which is proven with batches of tens of MB.
 */
export const MAX_RELAY_BATCH_BYTES = 8 << 20;

/**
 * The largest nf_tables batch sent through the relay. A transaction must arrive in one sendto(),
 * and the relay forces its send buffer to its 64 MiB request limit (native/nfnl-relay.c), so a
 * full load of a 100k-pod node's table (~30 MB of messages) fits; anything larger goes to nft.
 */
export const MAX_NFT_RELAY_BATCH_BYTES = 48 << 20;

/** A dotted quad as 4 bytes; undefined for anything model/addr.ts's parseIPv4 refuses. */
export function ipv4Bytes(s: string): Buffer | undefined {
  const b = Buffer.allocUnsafe(4);
  return writeIPv4(s, b, 0) ? b : undefined;
}

/**
 * Writes a dotted quad's 4 bytes at `off`; false (bytes unspecified) for anything parseIPv4
 * refuses: not four parts, a part above 255, empty or with a leading zero. A character loop
 * rather than parseIPv4's split, regular expressions and bigints: a full load encodes ~900k
 * addresses (a property test holds the two to the same answers).
 */
export function writeIPv4(s: string, buf: Buffer, off: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || part === 3) return false;
      buf[off + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // a leading zero
      value = value * 10 + (c - 48);
      if (value > 255) return false;
      digits++;
    } else return false;
  }
  if (digits === 0 || part !== 3) return false;
  buf[off + 3] = value;
  return true;
}

/** An IPv6 text as 16 bytes; no zone, no prefix. */
export function ipv6Bytes(s: string): Buffer | undefined {
  const v = s.includes("/") ? undefined : parseIPv6(s);
  return v === undefined ? undefined : addrBytes(v, 6);
}

// ---- netlink framing

export function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** A 32-bit number in network byte order (netlink attributes nf_tables reads as big-endian). */
export function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A 64-bit number (handles) in network byte order. */
export function u64be(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

export function cString(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc(pad4(len));
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

export function nested(type: number, children: Buffer[]): Buffer {
  return attr(type | NLA_F_NESTED, Buffer.concat(children));
}

export function message(type: number, flags: number, seq: number, family: number, resId: number, attrs: Buffer[]): Buffer {
  const body = Buffer.concat(attrs);
  const len = 16 + 4 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  b.writeUInt32LE(0, 12); // port id: the kernel's
  b.writeUInt8(family, 16);
  b.writeUInt8(0, 17); // NFNETLINK_V0
  b.writeUInt16BE(resId, 18);
  body.copy(b, 20);
  return b;
}

export function* chunksBySize(parts: Buffer[], max: number): Generator<Buffer[]> {
  let chunk: Buffer[] = [];
  let size = 0;
  for (const p of parts) {
    if (chunk.length > 0 && size + p.length > max) {
      yield chunk;
      chunk = [];
      size = 0;
    }
    chunk.push(p);
    size += p.length;
  }
  if (chunk.length > 0) yield chunk;
}

// ---- answers

export interface NetlinkFailure {
  seq: number;
  errno: number;
  /** What the failing message was (from EncodedBatch.describe). */
  what: string;
  /** The kernel's extended-ack text, when it gave one. */
  detail?: string;
}

/**
 * Reads the kernel's answer to an encoded batch: the errors it reported (none when the batch was
 * committed) and whether the closing request (the terminator) was answered.
 */
export function parseAnswer(bytes: Buffer, batch: EncodedBatch): { failures: NetlinkFailure[]; answered: boolean } {
  const failures: NetlinkFailure[] = [];
  let answered = false;
  for (let off = 0; off + 16 <= bytes.length; ) {
    const len = bytes.readUInt32LE(off);
    if (len < 16 || off + len > bytes.length) break;
    const type = bytes.readUInt16LE(off + 4);
    const flags = bytes.readUInt16LE(off + 6);
    const seq = bytes.readUInt32LE(off + 8);
    if (type === NLMSG_ERROR && len >= 20) {
      const errno = -bytes.readInt32LE(off + 16);
      if (errno !== 0) {
        const f: NetlinkFailure = { seq, errno, what: batch.describe.get(seq) ?? `message ${seq}` };
        const detail = extAckMessage(bytes.subarray(off, off + len), flags);
        if (detail) f.detail = detail;
        failures.push(f);
      }
      if (seq === batch.terminator) answered = true;
    } else if (seq === batch.terminator) answered = true;
    off += pad4(len);
  }
  return { failures, answered };
}

const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

function extAckMessage(msg: Buffer, flags: number): string | undefined {
  if (!(flags & NLM_F_ACK_TLVS)) return undefined;
  // nlmsgerr: error (4) + the request's header (16), and its payload unless capped.
  const inner = msg.length >= 36 ? msg.readUInt32LE(20) : 16;
  let off = 16 + 4 + (flags & NLM_F_CAPPED ? 16 : pad4(inner));
  while (off + 4 <= msg.length) {
    const len = msg.readUInt16LE(off);
    const type = msg.readUInt16LE(off + 2) & ~NLA_F_NESTED;
    if (len < 4) break;
    if (type === NLMSGERR_ATTR_MSG) return msg.subarray(off + 4, off + len).toString("utf8").replace(/\0+$/, "");
    off += pad4(len);
  }
  return undefined;
}

const errnoNames = new Map<number, [string, string]>();
for (const [code, pair] of getSystemErrorMap()) errnoNames.set(-code, pair);

/** "ENOENT (no such file or directory)" for an errno. */
export function errnoText(errno: number): string {
  const p = errnoNames.get(errno);
  return p ? `${p[0]} (${p[1]})` : `errno ${errno}`;
}


const errnoCodes: Record<number, KernelErrorCode> = {
  [osConstants.errno.ENOENT]: "NOT_FOUND",
  [osConstants.errno.EEXIST]: "EXISTS",
  [osConstants.errno.EBUSY]: "BUSY",
  [osConstants.errno.EPERM]: "PERMISSION",
  [osConstants.errno.EACCES]: "PERMISSION",
  [osConstants.errno.EINVAL]: "INVALID",
  [osConstants.errno.ERANGE]: "INVALID",
  [osConstants.errno.EOPNOTSUPP]: "INVALID",
  [osConstants.errno.E2BIG]: "INVALID",
};

/** The kernel error code of an errno, as classifyStderr gives it for the tools' printed strerror(). */
export function errnoCode(errno: number): KernelErrorCode {
  return errnoCodes[errno] ?? "FAILED";
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  // Netlink headers are host-endian; the writers above assume little-endian.
  throw new Error("nfnl: big-endian hosts are not supported");
}
