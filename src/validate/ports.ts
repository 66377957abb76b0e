/**
 * Ports and protocols as Calico and Kubernetes read them (numorstring.Port / Protocol,
 * k8s IsValidPortName). Shared by rule, endpoint and Kubernetes checks.
 */
import { byteLen } from "./check-util.js";

export type ParsedPort = { kind: "range"; min: number; max: number } | { kind: "named"; name: string };

export type PortParse = { ok: true; port: ParsedPort } | { ok: false; reason: string };

const ALL_DIGITS = /^[0-9]+$/;
const RANGE = /^([0-9]+):([0-9]+)$/;
const NAMED_PORT_SYNTAX = /^[a-zA-Z0-9_.-]{1,128}$/;

function uint16(s: string): number | undefined {
  const n = Number(s);
  return Number.isSafeInteger(n) && n <= 65535 ? n : undefined;
}

/**
 * Parses one entry of a Calico rule's ports/notPorts and applies Calico's port validation: a
 * number, "min:max", or a named port (an IANA service name).
 */
export function parseCalicoPort(v: unknown): PortParse {
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > 65535) return { ok: false, reason: `port ${v} is out of range 1-65535` };
    if (v === 0) return { ok: false, reason: "port 0 is invalid; ports must be between 1 and 65535" };
    return { ok: true, port: { kind: "range", min: v, max: v } };
  }
  if (typeof v !== "string") return { ok: false, reason: "a port must be a number or a string" };
  if (ALL_DIGITS.test(v)) {
    const n = uint16(v);
    if (n === undefined) return { ok: false, reason: `port ${JSON.stringify(v)} is out of range 1-65535` };
    if (n === 0) return { ok: false, reason: "port 0 is invalid; ports must be between 1 and 65535" };
    return { ok: true, port: { kind: "range", min: n, max: n } };
  }
  const m = RANGE.exec(v);
  if (m) {
    const min = uint16(m[1]!);
    const max = uint16(m[2]!);
    if (min === undefined || max === undefined)
      return { ok: false, reason: `port range ${JSON.stringify(v)} is out of range 1-65535` };
    if (min > max)
      return { ok: false, reason: `port range ${JSON.stringify(v)}: minimum (${min}) is greater than maximum (${max})` };
    if (min < 1) return { ok: false, reason: `port range ${JSON.stringify(v)}: port numbers must be between 1 and 65535` };
    return { ok: true, port: { kind: "range", min, max } };
  }
  if (!NAMED_PORT_SYNTAX.test(v))
    return { ok: false, reason: `${JSON.stringify(v)} is neither a port number, a "min:max" range nor a port name` };
  const p = portNameProblem(v);
  if (p) return { ok: false, reason: `invalid named port ${JSON.stringify(v)}: ${p}` };
  return { ok: true, port: { kind: "named", name: v } };
}

/** Kubernetes IsValidPortName (IANA_SVC_NAME): why `name` is not one, or undefined. */
export function portNameProblem(name: string): string | undefined {
  if (byteLen(name) > 15) return "a port name must be at most 15 characters";
  if (!/^[-a-z0-9]+$/.test(name)) return "a port name may contain only lower-case letters, digits and '-'";
  if (!/[a-z]/.test(name)) return "a port name must contain at least one letter";
  if (name.includes("--")) return "a port name must not contain '--'";
  if (name.startsWith("-") || name.endsWith("-")) return "a port name must not begin or end with '-'";
  return undefined;
}

export const PROTOCOL_NAMES = ["TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite"] as const;

/** Why a Calico protocol value is invalid, or undefined (names exact-case, numbers 1-255). */
export function protocolProblem(v: unknown): string | undefined {
  if (typeof v === "number") {
    if (v === 0) return "protocol number 0 is invalid; use 1-255";
    if (!Number.isInteger(v) || v < 0 || v > 255) return `protocol number ${v} is out of range 1-255`;
    return undefined;
  }
  if (typeof v !== "string") return "protocol must be a name or a number";
  if (ALL_DIGITS.test(v) && Number(v) <= 255) {
    return Number(v) === 0 ? "protocol number 0 is invalid; use 1-255" : undefined;
  }
  if ((PROTOCOL_NAMES as readonly string[]).includes(v)) return undefined;
  const ci = PROTOCOL_NAMES.find((n) => n.toLowerCase() === v.toLowerCase());
  if (ci) return `protocol names are case-sensitive: use ${JSON.stringify(ci)}, not ${JSON.stringify(v)}`;
  return `unknown protocol ${JSON.stringify(v)}; use one of ${PROTOCOL_NAMES.join(", ")} or a number 1-255`;
}

/** The protocol's number when it has a fixed one (names and numeric strings), else undefined. */
export function protocolValue(v: unknown): number | string | undefined {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return undefined;
  if (ALL_DIGITS.test(v) && Number(v) <= 255) return Number(v);
  return v;
}

/** Calico's Protocol.SupportsPorts: TCP, UDP, SCTP (6, 17, 132). Note: not UDPLite. */
export function supportsPorts(v: unknown): boolean {
  const p = protocolValue(v);
  return p === 6 || p === 17 || p === 132 || p === "TCP" || p === "UDP" || p === "SCTP" || p === "tcp" || p === "udp" || p === "sctp";
}

export function isIcmpV4(v: unknown): boolean {
  const p = protocolValue(v);
  return p === "ICMP" || p === 1;
}

export function isIcmpV6(v: unknown): boolean {
  const p = protocolValue(v);
  return p === "ICMPv6" || p === 58;
}

export function isTcp(v: unknown): boolean {
  const p = protocolValue(v);
  return p === "TCP" || p === 6;
}

export const K8S_PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
