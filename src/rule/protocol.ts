/**
 * Protocol names and numbers as Calico spells them (SEMANTICS §3.1). Names are exact-case; a
 * numeric string ("17") is the number. The IR carries numbers only, so this is the one place names
 * are turned into numbers.
 */

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;
export const PROTO_SCTP = 132;
export const PROTO_UDPLITE = 136;
/** Calico's "any protocol" marker for named-port sets built from rules without a protocol
 *  (felix ipsetmember.ProtocolAny). Never a packet protocol. */
export const PROTO_ANY = 255;

const BY_NAME: Record<string, number> = {
  TCP: PROTO_TCP,
  UDP: PROTO_UDP,
  ICMP: PROTO_ICMP,
  ICMPv6: PROTO_ICMPV6,
  SCTP: PROTO_SCTP,
  UDPLite: PROTO_UDPLITE,
};

const NAME_BY_NUMBER = new Map<number, string>(Object.entries(BY_NAME).map(([n, v]) => [v, n]));

/** The IANA number of a Calico protocol spec, or undefined when it is not one. */
export function protocolNumber(spec: string | number): number | undefined {
  if (typeof spec === "number") return Number.isInteger(spec) && spec >= 1 && spec <= 255 ? spec : undefined;
  if (/^[0-9]+$/.test(spec)) return protocolNumber(Number(spec));
  return BY_NAME[spec];
}

/** Calico's name for a protocol number ("TCP" for 6); numbers without a name print as digits. */
export function protocolName(n: number): string {
  return NAME_BY_NUMBER.get(n) ?? String(n);
}

/** Protocols whose packets carry ports that rule `ports` can match (Calico allows TCP/UDP/SCTP in
 *  rules; UDPLite carries ports in the kernel too but Calico's validation rejects ports with it). */
export function carriesPorts(protocol: number): boolean {
  return protocol === PROTO_TCP || protocol === PROTO_UDP || protocol === PROTO_SCTP || protocol === PROTO_UDPLITE;
}

/** The ICMP protocol of an address family: ICMP rules match only that protocol. */
export function icmpProtocolFor(family: 4 | 6): number {
  return family === 4 ? PROTO_ICMP : PROTO_ICMPV6;
}
