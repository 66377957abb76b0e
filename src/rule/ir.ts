/**
 * The rule IR: the one plain-data model of "what a policy means" that every consumer shares.
 *
 *   engine (compile resources → IR) ──▶ dataplane model (per node) ──▶ renderers (nft / iptables)
 *                                  └──▶ explain / matrix (interpret with rule/match.ts)
 *
 * Selectors never appear in rules: they are replaced by set identities (SetId) named after the
 * canonical (rewritten) selector, exactly like Felix's ParsedRule. Every rule carries its origin,
 * which becomes both the kernel comment and the explain trace label.
 *
 * All values are plain JSON: printable, sortable, diffable. The one exception in form, not in
 * content: a set's members may be a ChunkedList, which prints as the array it stands for.
 */
import { ChunkedMap, type List } from "../model/index.js";

/** "s:<base64url sha224>" selector IP set; "n:<…>" named-port set; "svc:<…>" service set. */
export type SetId = string;

/** Identity of a policy: "<kind-short>/<namespace>/<name>" or "<kind-short>/<name>" for global kinds,
 *  e.g. "np/prod/allow-web", "gnp/default-deny", "knp/prod/web", "snp/prod/x", "pro/kns.prod". */
export type PolicyKey = string;

export type Direction = "ingress" | "egress";
export type RuleAction = "Allow" | "Deny" | "Log" | "Pass";

/** Inclusive port range; a single port is {first: p, last: p}. */
export interface PortRange {
  first: number;
  last: number;
}

export interface IcmpMatch {
  type: number;
  code?: number;
}

/** One side (source or destination) of a rule. Absent/empty positive lists mean "any". */
export interface EntityMatch {
  /** CIDRs (canonical, strictly masked), OR-ed. Both families may appear before family split. */
  nets?: string[];
  /** CIDRs none of which may contain the address. */
  notNets?: string[];
  /** Address must be a member of EVERY listed selector set (AND). */
  sets?: SetId[];
  /** Address must be a member of NONE of the listed selector sets. */
  notSets?: SetId[];
  /** Port must be in one of these ranges OR the (addr, proto, port) in one of namedPortSets. */
  ports?: PortRange[];
  namedPortSets?: SetId[];
  /** Port in none of these ranges and (addr, proto, port) in none of notNamedPortSets. */
  notPorts?: PortRange[];
  notNamedPortSets?: SetId[];
  /** Kubernetes `services` match: address (source side) or (address, proto, port) (destination side)
   *  must be in this set. */
  serviceSet?: SetId;
}

export interface RuleMatch {
  ipVersion?: 4 | 6;
  /** IANA protocol number. */
  protocol?: number;
  notProtocol?: number;
  icmp?: IcmpMatch;
  notIcmp?: IcmpMatch;
  src: EntityMatch;
  dst: EntityMatch;
}

export interface RuleOrigin {
  /** Tier name, or "" for profile rules. */
  tier: string;
  policy: PolicyKey;
  direction: Direction;
  /** Index of the rule in the user's list (before any family split or conversion). */
  index: number;
}

export interface RuleIR {
  action: RuleAction;
  match: RuleMatch;
  origin: RuleOrigin;
  /** When the rule can never match (e.g. `notNets: [0.0.0.0/0]` only) the engine marks it here
   *  instead of dropping it, so explain can still say why. */
  neverMatches?: string;
}

export interface PolicyIR {
  key: PolicyKey;
  kind: string; // resource kind, e.g. "GlobalNetworkPolicy", "KubernetesNetworkPolicy"
  name: string;
  namespace?: string;
  tier: string;
  /** null = no order (sorted last). */
  order: number | null;
  staged: boolean;
  /** Canonical selector after Calico's rewrites (namespace / serviceAccount / global). */
  selector: string;
  governs: { ingress: boolean; egress: boolean };
  ingress: RuleIR[];
  egress: RuleIR[];
  applyOnForward: boolean;
  preDNAT: boolean;
  doNotTrack: boolean;
  /** Staged policies only (optional extension): what enforcing the staged policy would do.
   *  "Set"/"Learn": it would replace `stagedTarget` (or be added); "Delete": `stagedTarget` would be
   *  removed; "Ignore": no effect. See rule/match.ts `stagedView`. */
  stagedAction?: "Set" | "Delete" | "Learn" | "Ignore";
  /** Staged policies only: key of the enforced policy with the same name (np/…, gnp/…, knp/…). */
  stagedTarget?: PolicyKey;
}

export interface ProfileIR {
  key: PolicyKey; // "pro/<name>"
  name: string;
  ingress: RuleIR[];
  egress: RuleIR[];
}

export interface TierIR {
  name: string;
  order: number | null;
  defaultAction: "Deny" | "Pass";
  /** Optional extension: policies name this tier but no Tier resource exists. Such tiers sort
   *  after all existing ones and end with Deny (Calico: empty default action renders as drop). */
  missing?: boolean;
}

/** Selector set: the IPs/CIDRs of every endpoint and network set whose effective labels match. */
export interface SelectorSetDef {
  kind: "selector";
  id: SetId;
  selector: string;
  /** Canonical CIDRs (/32 and /128 for single addresses), sorted. An array, or a ChunkedList
   *  when a producer patched the previous list (src/model/chunked-list.ts). */
  members: List<string>;
}

export interface PortMember {
  addr: string; // single IP
  protocol: number;
  port: number;
}

/** Named-port set: (ip, protocol, port) of endpoints that declare the port name, optionally
 *  filtered by the rule's positive selector. */
export interface NamedPortSetDef {
  kind: "named-port";
  id: SetId;
  portName: string;
  /** 6/17/132, or 255 (PROTO_ANY) when the rule had no protocol; members carry the endpoint's
   *  declared protocol either way. */
  protocol: number;
  selector: string;
  members: List<PortMember>;
}

/** Service set: for a destination match, (ip, proto, port) of the EndpointSlice endpoints;
 *  for a source match, just the IPs (members with port 0 and protocol 0). */
export interface ServiceSetDef {
  kind: "service";
  id: SetId;
  service: { namespace: string; name: string };
  withPorts: boolean;
  members: List<PortMember>;
}

export type SetDef = SelectorSetDef | NamedPortSetDef | ServiceSetDef;

/** What one endpoint does in one direction: the ordered tiers that apply, then its profiles. */
export interface TierProgram {
  tier: string;
  defaultAction: "Deny" | "Pass";
  /** Ordered policies of this tier that select the endpoint and govern the direction. */
  policies: PolicyKey[];
}

export interface DirectionProgram {
  /** Optional extension (the engine always sets it): which policy rule list the program runs. */
  direction?: Direction;
  tiers: TierProgram[];
  /** Staged policies selecting the endpoint, evaluated for reporting only. */
  stagedTiers: TierProgram[];
  profiles: PolicyKey[];
  /** What happens when nothing decided: workloads drop after profiles; host endpoints drop too,
   *  except failsafe ports which are accepted before policy. */
}

export type EndpointKind = "workload" | "host";

export interface NamedPortDecl {
  name: string;
  protocol: number;
  port: number;
}

export interface EndpointIR {
  /** "wep/<ns>/<name>" | "hep/<name>" — unique identity. */
  key: string;
  kind: EndpointKind;
  name: string;
  namespace?: string;
  /** Pod "ns/name" when the endpoint comes from a Pod. */
  pod?: string;
  node: string;
  interfaceName?: string;
  /** Single addresses (no prefix). */
  ips: string[];
  /** Effective labels (own + profile labelsToApply, own win). */
  labels: Record<string, string>;
  namedPorts: NamedPortDecl[];
  ingress: DirectionProgram;
  egress: DirectionProgram;
  /** Host endpoints only: programs for forwarded traffic (applyOnForward policies), preDNAT
   *  (ingress only) and untracked (doNotTrack). */
  forward?: { ingress: DirectionProgram; egress: DirectionProgram };
  preDNAT?: DirectionProgram;
  untracked?: { ingress: DirectionProgram; egress: DirectionProgram };
}

/** The whole compiled cluster. Everything the kernel and explain need, as plain sorted data. */
export interface ClusterIR {
  tiers: TierIR[]; // sorted in evaluation order
  /**
   * Policies and sets by key, in key order: persistent maps, so that the agent's next IR shares
   * every chunk of keys a change did not touch (model/chunked-map.ts). The engine's sets are
   * computed on first read (`ChunkedMap.lazy`).
   */
  policies: ChunkedMap<PolicyIR>;
  profiles: Record<PolicyKey, ProfileIR>;
  sets: ChunkedMap<SetDef>;
  endpoints: EndpointIR[]; // sorted by key
  /** Optional extension: host-endpoint failsafe rules (all action Allow), checked before any
   *  host-endpoint policy. Inbound: protocol + destination port (+ source net); outbound: protocol
   *  + destination port (+ destination net). Origins use tier "" and policy "failsafe/in" or
   *  "failsafe/out". */
  failsafe?: { inbound: RuleIR[]; outbound: RuleIR[] };
  /** Optional extension: Felix DefaultEndpointToHostAction for workload → own host traffic. */
  defaultEndpointToHostAction?: "Drop" | "Return" | "Accept";
}

/** An IR with nothing in it (a new object each call). */
export function emptyClusterIR(): ClusterIR {
  return { tiers: [], policies: ChunkedMap.empty(), profiles: {}, sets: ChunkedMap.empty(), endpoints: [] };
}

/** A packet as explain and the kernel see it. */
export interface Packet {
  family: 4 | 6;
  protocol: number;
  srcIP: string;
  dstIP: string;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
}
