/**
 * The dataplane model: what one node's kernel must hold, as plain, sorted, printable data. It is
 * built from the engine's ClusterIR (build.ts) and turned into backend text only by a renderer
 * (render/nft today, render/iptables later). It knows chains, rules, sets and interface maps, but
 * no nft or iptables syntax: every condition and action is a small tagged record that each backend
 * maps mechanically.
 *
 * The layout is Felix's (SEMANTICS §8): base chains per hook dispatch through interface → chain
 * maps to per-endpoint chains (cali-fw-/cali-tw-/cali-fh-/…), which run tiers of jumps to shared
 * per-policy chains (cali-pi-/cali-po-) and then profile chains; Allow and Pass travel back up as
 * mark bits. Selectors appear only as named sets whose members the applier can update one element
 * at a time.
 *
 * Invariants (checked by tests, relied on by the applier):
 *  - A set's name determines its family, fields and interval flag; only its elements change.
 *  - Every chain named by a rule or map element exists in `chains`.
 *  - Every set/map named by a rule exists in `sets`/`maps`.
 *  - Elements are canonical strings, sorted and unique (see `elementKey`).
 */
import type { PortRange, RuleOrigin } from "../rule/index.js";
import type { ChunkedMap, List } from "../model/index.js";

export type Family = 4 | 6;
export type Side = "src" | "dst";
export type CtState = "established" | "related" | "invalid" | "new" | "untracked";

/** One field of a set element (and of a concatenated lookup key). */
export type SetField = "addr" | "l4proto" | "port";
/** The packet field a concatenated lookup reads, in key order. */
export type KeyField = "saddr" | "daddr" | "l4proto" | "sport" | "dport";

/** One condition. A rule matches when every condition of its `match` holds. */
export type DpMatch =
  /** Packet is IPv4 / IPv6. */
  | { kind: "family"; family: Family }
  /** Input or output interface equals `name`, or starts with it when `prefix`. */
  | { kind: "iface"; dir: "in" | "out"; name: string; prefix?: boolean; negate?: boolean }
  | { kind: "ct"; states: CtState[]; negate?: boolean }
  /** (packet mark & mask) == value; negate: != . */
  | { kind: "mark"; mask: number; value: number; negate?: boolean }
  /** Transport protocol is one of `protocols` (negate: none of them). */
  | { kind: "proto"; protocols: number[]; negate?: boolean }
  /** Address is in one of the CIDRs (negate: in none). CIDRs are canonical and non-overlapping. */
  | { kind: "addr"; side: Side; family: Family; cidrs: string[]; negate?: boolean }
  /** Address is a member of the named set (negate: is not). With `prefix`, the address cut to its
   *  first `prefix` bits is (the kernel view's stand-in for an interval set; kernel-view.ts). */
  | { kind: "addr-set"; side: Side; family: Family; set: string; negate?: boolean; prefix?: number }
  /** Transport port is in one of the ranges (negate: in none). Callers pair it with a proto match. */
  | { kind: "port"; side: Side; ranges: PortRange[]; negate?: boolean }
  /** The concatenation of `key` fields is a member of the named set (negate: is not). */
  | { kind: "concat-set"; family: Family; key: KeyField[]; set: string; negate?: boolean }
  /** ICMP (family 4) or ICMPv6 (family 6) type and optional code; negate: not that type/code
   *  (still requires an ICMP packet of the family, like Calico's notICMP). */
  | { kind: "icmp"; family: Family; type: number; code?: number; negate?: boolean };

/** Non-terminal statements run in order when the rule matches, before its verdict. */
export type DpEffect =
  | { kind: "mark-set"; bits: number }
  | { kind: "mark-clear"; bits: number }
  /** NFLOG record to `group` with `prefix` (see naming.ts for the prefix format). */
  | { kind: "log"; prefix: string; group: number }
  /** Skip connection tracking for this packet (raw hooks only). */
  | { kind: "notrack" };

export type DpVerdict =
  | { kind: "accept" }
  | { kind: "drop" }
  /** Deny with an answer: TCP reset for TCP, ICMP administratively-prohibited otherwise. */
  | { kind: "reject" }
  | { kind: "return" }
  | { kind: "jump"; chain: string }
  | { kind: "goto"; chain: string }
  /** Look the interface up in `map` and follow the element's verdict; no element: continue. */
  | { kind: "dispatch"; iface: "in" | "out"; map: string };

export interface DpRule {
  match: DpMatch[];
  effects?: DpEffect[];
  /** Absent: the rule only runs its effects and evaluation continues. */
  verdict?: DpVerdict;
  /** Policy rule this kernel rule implements (first one when several were compiled together). */
  origin?: RuleOrigin;
  /** All policy rules a compiled rule implements. */
  origins?: RuleOrigin[];
  /** Human text for the kernel comment (the renderer prefixes a content hash). */
  label?: string;
}

export type Hook = "prerouting" | "input" | "forward" | "output";

export interface DpChain {
  name: string;
  /** Present on base chains: attached to a hook of the family "inet" table. */
  base?: { hook: Hook; priority: number; policy: "accept" };
  rules: DpRule[];
}

export interface DpSet {
  name: string;
  family: Family;
  /** Element layout; one field = plain set, several = concatenation. */
  fields: SetField[];
  /** Elements may be CIDRs (first field); needs a kernel interval set. */
  interval: boolean;
  /** Canonical elements, sorted, unique: "198.18.1.10", "10.0.0.0/8", "198.18.1.10 . 6 . 80".
   *  An array, or a ChunkedList when the set was patched from its previous elements (a pod add
   *  then copies a chunk, not 100k elements); both print as an array. */
  elements: List<string>;
  /** What the set stands for, for comments and debugging ("selector role == 'db'"). */
  about: string;
}

export interface DpMapTarget {
  verdict: "goto" | "jump";
  chain: string;
}

/** Interface name → chain verdict map. */
export interface DpMap {
  name: string;
  key: "ifname";
  elements: Record<string, DpMapTarget>;
}

export interface DpEndpoint {
  key: string;
  kind: "workload" | "host";
  iface: string;
  ips: string[];
}

/** What an NFLOG prefix stands for, so a flow-log reader can name the rule behind a record. */
export type LogEntry =
  | { kind: "rule"; action: "Allow" | "Deny" | "Pass" | "Log"; origin: RuleOrigin }
  | { kind: "end-of-tier"; direction: "ingress" | "egress"; tier: string }
  | { kind: "no-profile"; direction: "ingress" | "egress" };

export interface DataplaneConfig {
  /** Workload interface prefixes (Felix InterfacePrefix); "cali" → cali*. */
  workloadInterfacePrefixes: string[];
  /** Mark bits (Felix allocates accept, pass from IptablesMarkMask 0xffff0000, low bit first). */
  markAccept: number;
  markPass: number;
  /** Felix IptablesFilterDenyAction: "drop" (default) or "reject". Tests use reject so that a
   *  denied probe fails at once instead of timing out; the verdict is the same. */
  denyAction: "drop" | "reject";
  /** Felix LogPrefix: starts every Log-action record. */
  logPrefix: string;
  /** NFLOG group for all records. */
  nflogGroup: number;
  /** Also log denied packets (explicit Deny rules, end of tier, no profile) to NFLOG. */
  logDenied: boolean;
  /** Also log packets accepted by an Allow rule. */
  logAllowed: boolean;
  /** Felix DefaultEndpointToHostAction when the IR does not say. */
  endpointToHostAction: "Drop" | "Return" | "Accept";
  /** Compile runs of exact Allow, Deny and Pass rules into concatenated-set lookups (compile.ts
   *  compileRuns; the name predates Deny and Pass runs). */
  compileAllowRuns: boolean;
  /** Put the policies of a tier in an endpoint's program into one chain (see build.ts
   *  tierJumps; the name predates Deny, Pass and Log in groups). */
  groupAllowPolicies: boolean;
  /** A group chain longer than twice this many kernel rules is cut into chained pieces of about
   *  this many rules, at boundaries its rules' content decides (build.ts groupChunks), so a policy
   *  added or changed in the middle of a long group rewrites one piece, not the whole group;
   *  0 keeps every group whole. */
  groupChunkRules: number;
}

export const DEFAULT_CONFIG: DataplaneConfig = {
  workloadInterfacePrefixes: ["cali"],
  markAccept: 0x10000,
  markPass: 0x20000,
  denyAction: "drop",
  logPrefix: "calico-packet",
  nflogGroup: 1,
  logDenied: false,
  logAllowed: false,
  endpointToHostAction: "Drop",
  compileAllowRuns: true,
  groupAllowPolicies: true,
  groupChunkRules: 64,
};

export interface DataplaneModel {
  node: string;
  config: DataplaneConfig;
  /**
   * Keyed by name, in name order. Persistent maps, not records: a model's next version shares
   * every chunk of names it did not change (model/chunked-map.ts says why).
   */
  sets: ChunkedMap<DpSet>;
  maps: Record<string, DpMap>;
  chains: ChunkedMap<DpChain>;
  /** Local endpoints and their interfaces, sorted by key. */
  endpoints: DpEndpoint[];
  /** NFLOG prefix → meaning. */
  logIndex: Record<string, LogEntry>;
  /** Things the builder could not express (e.g. an endpoint without an interface name). */
  notes: string[];
}

/** Number of rules across all chains (for reports and benchmarks). */
export function ruleCount(m: DataplaneModel): number {
  let n = 0;
  m.chains.forEach((c) => (n += c.rules.length));
  return n;
}
