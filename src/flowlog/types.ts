/**
 * Flow-log records: what an NFLOG record says (NflogRecord, from any reader) and the structured
 * line tortie exposes (FlowLogLine). The meaning of a record's prefix comes from the dataplane
 * model that emitted it, through a FlowLogResolver the caller supplies (dataplane/ builds one from
 * its model), so this module knows nothing about rule layouts.
 */

/** One packet as an NFLOG reader reports it. */
export interface NflogRecord {
  /** ISO 8601 time of the record. */
  time: string;
  prefix: string;
  /** Input / output interface names ("" when none, e.g. locally generated or delivered). */
  inIface: string;
  outIface: string;
  family: 4 | 6;
  protocol: number;
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

/** What a prefix stands for (the dataplane model's log index entry, restated here). */
export type PrefixMeaning =
  | { kind: "rule"; action: "Allow" | "Deny" | "Pass" | "Log"; tier: string; policy: string; direction: "ingress" | "egress"; index: number }
  | { kind: "end-of-tier"; direction: "ingress" | "egress"; tier: string }
  | { kind: "no-profile"; direction: "ingress" | "egress" };

export interface FlowLogResolver {
  prefix(prefix: string): PrefixMeaning | undefined;
  /** The endpoint whose policy wrote the record: its key and kind, from the interfaces. */
  endpoint(direction: "ingress" | "egress", inIface: string, outIface: string): { key: string; kind: "workload" | "host" } | undefined;
}

export interface FlowLogLine {
  time: string;
  /** Endpoint key ("wep/ns/name", "hep/name"), or "" when the interface is not an endpoint's. */
  endpoint: string;
  direction: "ingress" | "egress" | "";
  tier: string;
  policy: string;
  /** Rule index in the policy's list; -1 for end-of-tier and no-profile records. */
  rule: number;
  /** Allow / Deny / Pass: the rule's verdict. Log: the record of a Log rule (evaluation went on).
   *  Deny also for end of tier and "no profile accepted". */
  verdict: "allow" | "deny" | "pass" | "log";
  family: 4 | 6;
  protocol: number;
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
  /** The raw NFLOG prefix (kept for records no resolver knows). */
  prefix: string;
}
