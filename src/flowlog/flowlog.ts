import type { FlowLogLine, FlowLogResolver, NflogRecord } from "./types.js";

const VERDICT = { Allow: "allow", Deny: "deny", Pass: "pass", Log: "log" } as const;

/** Turns one NFLOG record into a flow-log line; records with an unknown prefix keep what they have. */
export function toFlowLogLine(r: NflogRecord, resolver: FlowLogResolver): FlowLogLine {
  const m = resolver.prefix(r.prefix);
  const base = {
    time: r.time,
    family: r.family,
    protocol: r.protocol,
    src: r.src,
    dst: r.dst,
    ...(r.srcPort !== undefined ? { srcPort: r.srcPort } : {}),
    ...(r.dstPort !== undefined ? { dstPort: r.dstPort } : {}),
    ...(r.icmpType !== undefined ? { icmpType: r.icmpType } : {}),
    ...(r.icmpCode !== undefined ? { icmpCode: r.icmpCode } : {}),
    prefix: r.prefix,
  };
  if (!m) return { ...base, endpoint: "", direction: "", tier: "", policy: "", rule: -1, verdict: "log" };
  const ep = resolver.endpoint(m.direction, r.inIface, r.outIface);
  const endpoint = ep?.key ?? "";
  if (m.kind === "rule") return { ...base, endpoint, direction: m.direction, tier: m.tier, policy: m.policy, rule: m.index, verdict: VERDICT[m.action] };
  if (m.kind === "end-of-tier") return { ...base, endpoint, direction: m.direction, tier: m.tier, policy: "", rule: -1, verdict: "deny" };
  return { ...base, endpoint, direction: m.direction, tier: "", policy: "", rule: -1, verdict: "deny" };
}

/** One line of text per flow-log line (JSON, stable key order). */
export function formatFlowLogLine(l: FlowLogLine): string {
  return JSON.stringify(l);
}
