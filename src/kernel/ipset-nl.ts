/**
 * `ipset restore -exist` input made only of `add` and `del` lines, as ipset netlink messages for
 * native/nfnl-relay.
 *
 * Why: an ipset step of the iptables backend runs `ip netns exec <ns> ipset restore`, ~25 ms of
 * process start-up and namespace entry for a pod add whose kernel work is one hash insert
 * (docs/performance.md, "Kernel updates"). The same lines as netlink messages take well under a
 * millisecond. Creating, swapping and destroying sets stays with the ipset tool.
 *
 * Messages are what the ipset tool sends (libipset, kernel net/netfilter/ipset/ip_set_core.c):
 * IPSET_CMD_ADD / IPSET_CMD_DEL with the protocol version, the set name and the elements as
 * IPSET_ATTR_DATA containers (many per message inside IPSET_ATTR_ADT). Without NLM_F_EXCL the
 * kernel applies `-exist` semantics: adding an element that is there, or deleting one that is not,
 * is no error. One difference from `ipset restore`: that stops at the first failing line, the
 * kernel carries on with the next message. Either way the batch failed and the applier replaces
 * everything, so nothing relies on which lines before the failure took effect.
 */
import type { KernelErrorCode } from "./errors.js";
import { attr, chunksBySize, cString, ipv4Bytes, ipv6Bytes, MAX_RELAY_BATCH_BYTES, message, nested, NLA_F_NET_BYTEORDER, NLM_F_REQUEST, SEQ_BLOCK, type EncodedBatch } from "./netlink.js";

const NFNL_SUBSYS_IPSET = 6;
const IPSET_PROTOCOL = 7;
const IPSET_CMD_PROTOCOL = 1;
const IPSET_CMD_ADD = 9;
const IPSET_CMD_DEL = 10;
const IPSET_ATTR_PROTOCOL = 1;
const IPSET_ATTR_SETNAME = 2;
const IPSET_ATTR_DATA = 7;
const IPSET_ATTR_ADT = 8;
const IPSET_ATTR_LINENO = 9;
const IPSET_ATTR_IP = 1;
const IPSET_ATTR_CIDR = 3;
const IPSET_ATTR_PORT = 4;
const IPSET_ATTR_PROTO = 7;
const IPSET_ATTR_IPADDR_IPV4 = 1;
const IPSET_ATTR_IPADDR_IPV6 = 2;
const AF_INET = 2;

const PROTOCOLS: Readonly<Record<string, number>> = { tcp: 6, udp: 17, sctp: 132, udplite: 136 };
const SET_TYPES = ["hash:ip", "hash:net", "hash:ip,port", "hash:net,port"] as const;
type IpsetSetType = (typeof SET_TYPES)[number];

export interface IpsetShape {
  type: IpsetSetType;
  family: 4 | 6;
}

/** Types and families of the sets in a namespace, learned from what the ipset tool created or saved. */
export class IpsetShapes {
  private readonly byName = new Map<string, IpsetShape>();

  get(name: string): IpsetShape | undefined {
    return this.byName.get(name);
  }
  get size(): number {
    return this.byName.size;
  }
  clear(): void {
    this.byName.clear();
  }

  /** Learns from `ipset restore` input the kernel accepted (create, destroy, swap, rename). */
  learnRestore(input: string): void {
    for (const line of input.split("\n")) {
      const w = line.trim().split(/\s+/);
      switch (w[0]) {
        case "":
        case "add":
        case "del":
        case "flush":
        case "COMMIT":
          break;
        case "create":
        case "-N":
          this.learnCreate(w);
          break;
        case "destroy":
        case "-X":
          if (w[1] === undefined) this.clear();
          else this.byName.delete(w[1]);
          break;
        case "swap":
        case "-W": {
          const [a, b] = [this.byName.get(w[1]!), this.byName.get(w[2]!)];
          this.setOrDelete(w[1]!, b);
          this.setOrDelete(w[2]!, a);
          break;
        }
        case "rename":
        case "-E": {
          const a = this.byName.get(w[1]!);
          this.byName.delete(w[1]!);
          this.setOrDelete(w[2]!, a);
          break;
        }
        default:
          // A command this reader does not know: forget everything rather than guess.
          this.clear();
          return;
      }
    }
  }

  /** Learns every set from `ipset save` output. */
  learnSave(save: string): void {
    this.clear();
    for (const line of save.split("\n")) {
      const w = line.trim().split(/\s+/);
      if (w[0] === "create") this.learnCreate(w);
    }
  }

  private setOrDelete(name: string, shape: IpsetShape | undefined): void {
    if (shape) this.byName.set(name, shape);
    else this.byName.delete(name);
  }

  /** `create NAME TYPE [family inet|inet6] [options]`; sets with timeouts, counters, comments or
   *  other per-element data are not encoded here. */
  private learnCreate(w: string[]): void {
    const [name, type] = [w[1], w[2]];
    if (!name) return;
    const family = w.includes("inet6") ? 6 : 4;
    const extras = w.slice(3).filter((x, i, all) => !(x === "family" || all[i - 1] === "family" || ["hashsize", "maxelem", "bucketsize", "initval"].includes(x) || ["hashsize", "maxelem", "bucketsize", "initval"].includes(all[i - 1]!)));
    if ((SET_TYPES as readonly string[]).includes(type ?? "") && extras.length === 0) this.byName.set(name, { type: type as IpsetSetType, family });
    else this.byName.delete(name);
  }
}

/** Elements per message are nested in one attribute (16-bit length): split below this. */
const DATA_PER_MESSAGE_BYTES = 60_000;

/**
 * Encodes `ipset restore` input of `add` / `del` lines on known sets, in order, or returns why it
 * cannot (then the ipset tool runs it). The batch ends with ipset's protocol query, whose answer
 * tells the relay that every earlier message was handled.
 */
export function encodeIpsetLines(input: string, shapes: IpsetShapes, firstSeq: number): EncodedBatch | string {
  const groups: Array<{ cmd: number; set: string; data: Buffer[] }> = [];
  for (const raw of input.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const w = line.split(/\s+/);
    if ((w[0] !== "add" && w[0] !== "del") || w.length !== 3) return `line ${JSON.stringify(line.slice(0, 60))}`;
    const shape = shapes.get(w[1]!);
    if (!shape) return `set ${w[1]} of unknown type`;
    const data = encodeElement(w[2]!, shape);
    if (typeof data === "string") return `${w[1]}: ${data}`;
    const cmd = w[0] === "add" ? IPSET_CMD_ADD : IPSET_CMD_DEL;
    const last = groups[groups.length - 1];
    if (last && last.cmd === cmd && last.set === w[1]) last.data.push(data);
    else groups.push({ cmd, set: w[1]!, data: [data] });
  }
  if (groups.length === 0) return "no elements";
  const describe = new Map<number, string>();
  const messages: Buffer[] = [];
  let seq = firstSeq;
  for (const g of groups) {
    for (const chunk of chunksBySize(g.data, DATA_PER_MESSAGE_BYTES)) {
      describe.set(seq, `${g.cmd === IPSET_CMD_ADD ? "add" : "del"} ${g.set}`);
      // No NLM_F_EXCL: the kernel treats the command as `-exist`.
      // The kernel requires a line number beside IPSET_ATTR_ADT (it writes the failing element's
      // number there for `ipset restore`'s messages); its value is not used here.
      const lineno = Buffer.alloc(4);
      messages.push(message((NFNL_SUBSYS_IPSET << 8) | g.cmd, NLM_F_REQUEST, seq++, AF_INET, 0, [protocolAttr(), attr(IPSET_ATTR_SETNAME, cString(g.set)), attr(IPSET_ATTR_LINENO, lineno), nested(IPSET_ATTR_ADT, chunk)]));
    }
  }
  if (seq - firstSeq >= SEQ_BLOCK - 1) return "too many messages for one batch";
  const bytes = messages.reduce((n, m) => n + m.length, 0);
  if (bytes > MAX_RELAY_BATCH_BYTES) return `batch of ${bytes} bytes, more than the relay takes`;
  const query = encodeIpsetProtocolQuery(seq);
  for (const [k, v] of query.describe) describe.set(k, v);
  // One sendto() for all: the kernel handles the messages of a buffer in order.
  return { sends: [Buffer.concat(messages), ...query.sends], terminator: query.terminator, describe };
}

/** ipset's protocol query alone: the relay's first request for the ipset kernel, and each batch's end. */
export function encodeIpsetProtocolQuery(seq: number): EncodedBatch {
  const m = message((NFNL_SUBSYS_IPSET << 8) | IPSET_CMD_PROTOCOL, NLM_F_REQUEST, seq, AF_INET, 0, [protocolAttr()]);
  return { sends: [m], terminator: seq, describe: new Map([[seq, "ipset protocol query"]]) };
}

function protocolAttr(): Buffer {
  return attr(IPSET_ATTR_PROTOCOL, Buffer.from([IPSET_PROTOCOL]));
}

/** One element text as the renderer writes it ("a", "a/len", "a,tcp:80", "a/len,udp:53"). */
function encodeElement(text: string, shape: IpsetShape): Buffer | string {
  let addrPart = text;
  const parts: Buffer[] = [];
  if (shape.type === "hash:ip,port" || shape.type === "hash:net,port") {
    const m = /^([^,]+),([a-z]+):(\d{1,5})$/.exec(text);
    const proto = m ? PROTOCOLS[m[2]!] : undefined;
    const port = m ? Number(m[3]) : NaN;
    if (!m || proto === undefined || !(port <= 0xffff)) return `${JSON.stringify(text)} is not addr,proto:port`;
    addrPart = m[1]!;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(port);
    parts.push(attr(IPSET_ATTR_PORT | NLA_F_NET_BYTEORDER, p), attr(IPSET_ATTR_PROTO, Buffer.from([proto])));
  }
  const slash = addrPart.indexOf("/");
  const addrText = slash < 0 ? addrPart : addrPart.slice(0, slash);
  const bytes = shape.family === 4 ? ipv4Bytes(addrText) : ipv6Bytes(addrText);
  if (!bytes) return `${JSON.stringify(addrText)} is not an IPv${shape.family} address`;
  const ip = nested(IPSET_ATTR_IP, [attr((shape.family === 4 ? IPSET_ATTR_IPADDR_IPV4 : IPSET_ATTR_IPADDR_IPV6) | NLA_F_NET_BYTEORDER, bytes)]);
  if (slash >= 0) {
    if (shape.type !== "hash:net" && shape.type !== "hash:net,port") return `${JSON.stringify(addrPart)}: a prefix in a ${shape.type} set`;
    const len = addrPart.slice(slash + 1);
    const n = Number(len);
    if (!/^\d{1,3}$/.test(len) || n < 1 || n > (shape.family === 4 ? 32 : 128)) return `${JSON.stringify(addrPart)}: prefix length out of range`;
    parts.unshift(attr(IPSET_ATTR_CIDR, Buffer.from([n])));
  }
  return nested(IPSET_ATTR_DATA, [ip, ...parts]);
}

const IPSET_ERRORS: Readonly<Record<number, [string, KernelErrorCode]>> = {
  4097: ["IPSET_ERR_PROTOCOL (kernel and message disagree on the protocol)", "FAILED"],
  4098: ["IPSET_ERR_FIND_TYPE", "INVALID"],
  4100: ["IPSET_ERR_BUSY", "BUSY"],
  4102: ["IPSET_ERR_TYPE_MISMATCH", "INVALID"],
  4103: ["IPSET_ERR_EXIST (element already there)", "EXISTS"],
  4104: ["IPSET_ERR_INVALID_CIDR", "INVALID"],
  4106: ["IPSET_ERR_INVALID_FAMILY", "INVALID"],
  4108: ["IPSET_ERR_REFERENCED", "BUSY"],
  4109: ["IPSET_ERR_IPADDR_IPV4", "INVALID"],
  4110: ["IPSET_ERR_IPADDR_IPV6", "INVALID"],
};

/** ipset's own error numbers (≥ 4096) as text and code; undefined for plain errnos. */
export function ipsetErrno(errno: number): { text: string; code: KernelErrorCode } | undefined {
  const e = IPSET_ERRORS[errno];
  if (e) return { text: e[0], code: e[1] };
  if (errno >= 4096) return { text: `ipset error ${errno}`, code: errno >= 4352 ? "INVALID" : "FAILED" };
  return undefined;
}
