/**
 * explain: "is this flow allowed, and which tier / policy / rule decided it?" The answer is read
 * off the ClusterIR through rule/match.ts (via flow.ts); nothing here re-reads resources.
 */
import type { Issue } from "../model/index.js";
import { protocolName, type Packet, type TraceStep, type Verdict } from "../rule/index.js";
import type { Cluster } from "./cluster.js";
import { evaluateFlow, resolveFlow, type FlowEnd, type FlowQuery, type FlowStage, type Stage } from "./flow.js";
import { stagedAffects } from "../rule/index.js";
import { FlowInputError } from "./errors.js";

export type ExplainQuery = FlowQuery;

export interface FlowEndInfo {
  ref: string;
  ip: string;
  kind: "workload" | "host" | "external";
  key?: string;
  node?: string;
}

export interface Explanation {
  verdict: Verdict;
  packet: Packet;
  from: FlowEndInfo;
  to: FlowEndInfo;
  /** Every chain the packet went through, in order. */
  stages: Stage[];
  /** Convenience: the normal egress stage of the source and ingress stage of the destination. */
  egress?: FlowStage;
  ingress?: FlowStage;
  /** The stage and decision that settled the verdict (absent when no policy was involved). */
  decidedBy?: Stage;
  /** Present when staged policies touch this flow: what enforcing them would give. */
  staged?: { verdict: Verdict; changed: boolean; stages: Stage[] };
  notes: string[];
}

function endInfo(e: FlowEnd): FlowEndInfo {
  if (e.kind === "external") return { ref: e.ref, ip: e.ip, kind: "external" };
  return { ref: e.ref, ip: e.ip, kind: e.ep.kind, key: e.ep.key, node: e.ep.node };
}


export function tryExplain(cluster: Cluster, q: ExplainQuery): { ok: true; value: Explanation } | { ok: false; issues: Issue[] } {
  const r = resolveFlow(cluster, q);
  if (!r.ok) return r;
  const { src, dst, packet, notes } = r.value;
  const res = evaluateFlow(cluster, src, dst, packet);
  notes.push(...res.notes);
  const exp: Explanation = { verdict: res.verdict, packet, from: endInfo(src), to: endInfo(dst), stages: res.stages, notes };
  for (const s of res.stages) {
    if (s.kind !== "policy" || s.chain !== "normal") continue;
    if (s.direction === "egress" && src.kind === "endpoint" && s.key === src.ep.key) exp.egress = s;
    if (s.direction === "ingress" && dst.kind === "endpoint" && s.key === dst.ep.key) exp.ingress = s;
  }
  exp.decidedBy = decisive(res.stages, res.verdict);
  if (src.kind === "external") notes.push(`${src.ip} is not a known endpoint: outside addresses have no policy of their own`);
  if (dst.kind === "external") notes.push(`${dst.ip} is not a known endpoint: outside addresses have no policy of their own`);

  const touched = res.stages.some((s) => s.kind === "policy" && stagedAffects(programOf(cluster, s), cluster.ir));
  const srcOrDstStaged = [src, dst].some((e) => e.kind === "endpoint" && (stagedAffects(e.ep.ingress, cluster.ir) || stagedAffects(e.ep.egress, cluster.ir)));
  if (touched || srcOrDstStaged) {
    const st = evaluateFlow(cluster, src, dst, packet, { staged: true });
    exp.staged = { verdict: st.verdict, changed: st.verdict !== res.verdict, stages: st.stages };
  }
  return { ok: true, value: exp };
}

function programOf(cluster: Cluster, s: FlowStage) {
  const ep = cluster.endpointByKey(s.key)!;
  if (s.chain === "normal") return s.direction === "ingress" ? ep.ingress : ep.egress;
  if (s.chain === "forward") return ep.forward![s.direction];
  if (s.chain === "preDNAT") return ep.preDNAT!;
  return ep.untracked![s.direction];
}

/** The stage that ended the flow: the denying one, or else the last one that allowed. */
function decisive(stages: Stage[], verdict: Verdict): Stage | undefined {
  for (let i = stages.length - 1; i >= 0; i--) {
    const s = stages[i]!;
    if (s.verdict === verdict) return s;
  }
  return undefined;
}

export function explain(cluster: Cluster, q: ExplainQuery): Explanation {
  const r = tryExplain(cluster, q);
  if (!r.ok) throw new FlowInputError(r.issues);
  return r.value;
}

// ------------------------------------------------------------------------------------ text

function describePacket(p: Packet): string {
  const proto = protocolName(p.protocol);
  const ip = (a: string) => (a.includes(":") ? `[${a}]` : a);
  if (p.icmpType !== undefined) return `${proto} type ${p.icmpType} code ${p.icmpCode ?? 0} ${p.srcIP} → ${p.dstIP}`;
  if (p.dstPort !== undefined) return `${proto} ${ip(p.srcIP)}${p.srcPort !== undefined ? `:${p.srcPort}` : ""} → ${ip(p.dstIP)}:${p.dstPort}`;
  return `${proto} ${p.srcIP} → ${p.dstIP}`;
}

function stepLine(s: TraceStep): string {
  switch (s.kind) {
    case "rule": {
      const head = `${s.policy} rule ${s.index} (${s.action}${s.staged ? ", staged" : ""})`;
      if (!s.matched) return `${head}: no match — ${s.field}: ${s.reason}`;
      const what = s.fields && s.fields.length > 0 ? `matched ${s.fields.join(", ")}` : "matched (rule matches everything)";
      const effect = s.effect === "log" ? "log, continue" : s.effect === "pass" ? "pass to the next tier" : s.effect.toUpperCase();
      return `${head}: ${what} → ${effect}`;
    }
    case "rule-skipped":
      return `${s.policy} rule ${s.index} (${s.action}): not in this address family — ${s.reason}`;
    case "policy-no-match":
      return `${s.policy}: ${s.rules === 0 ? "no rules" : "no rule matched"}, next policy${s.staged ? " (staged)" : ""}`;
    case "end-of-tier":
      return `end of tier ${s.tier}: defaultAction ${s.defaultAction} → ${s.effect === "deny" ? "DENY" : "next tier"}`;
    case "failsafe":
      return `failsafe rule ${s.origin.policy}[${s.origin.index}] matched → ALLOW (before any policy)`;
    case "no-tiers":
      return s.chain === "normal" ? "no policy selects this endpoint for this direction" : `no ${s.chain} policy applies`;
    case "end-of-profiles":
      return `no profile allowed it (${s.profiles.length === 0 ? "endpoint has no profiles" : s.profiles.join(", ")}) → DENY`;
    case "forward-default":
      return "no applyOnForward policy: forwarded traffic allowed by default → ALLOW";
    case "fall-through":
      return `${s.chain} policies did not decide; the packet continues`;
  }
}

export function formatStages(stages: Stage[], indent = ""): string[] {
  const lines: string[] = [];
  for (const st of stages) {
    if (st.kind === "endpoint-to-host") {
      lines.push(`${indent}workload → own host: DefaultEndpointToHostAction ${st.action} → ${st.verdict === "none" ? "host endpoint ingress policy" : st.verdict.toUpperCase()}`);
      continue;
    }
    const chain = st.chain === "normal" ? "" : ` [${st.chain}]`;
    lines.push(`${indent}${st.direction} of ${st.endpoint}${chain}: ${st.verdict === "none" ? "undecided" : st.verdict.toUpperCase()}`);
    let tier: string | undefined;
    for (const s of st.steps) {
      const t = "tier" in s ? s.tier : undefined;
      if (t !== undefined && t !== tier && s.kind !== "failsafe") {
        tier = t;
        lines.push(`${indent}  ${t === "" ? "profiles" : `tier ${t}`}`);
      }
      lines.push(`${indent}${t === undefined || s.kind === "failsafe" ? "  " : "    "}${stepLine(s)}`);
    }
  }
  return lines;
}

export function formatExplanation(e: Explanation): string {
  const lines: string[] = [];
  lines.push(`${e.verdict.toUpperCase()}  ${describePacket(e.packet)}  (${e.from.ref} → ${e.to.ref}, IPv${e.packet.family})`);
  lines.push("");
  lines.push(...formatStages(e.stages));
  if (e.stages.length === 0) lines.push("no endpoint policy applies to this flow");
  const d = e.decidedBy;
  lines.push("");
  if (d && d.kind === "policy") {
    const dec = d.decidedBy;
    const by =
      dec.kind === "rule"
        ? `${dec.origin.tier === "" ? "profile" : `tier ${dec.origin.tier},`} ${dec.origin.policy} rule ${dec.origin.index} (${dec.action})`
        : dec.kind === "end-of-tier"
          ? `end of tier ${dec.tier}`
          : dec.kind === "failsafe"
            ? `failsafe rule ${dec.origin.index}`
            : dec.kind === "no-profile-accepted"
              ? "no profile allowed it"
              : dec.kind === "forward-default"
                ? "forward default"
                : "nothing decided";
    lines.push(`verdict: ${e.verdict} — decided by ${d.direction} of ${d.endpoint}: ${by}`);
  } else if (d && d.kind === "endpoint-to-host") {
    lines.push(`verdict: ${e.verdict} — decided by DefaultEndpointToHostAction ${d.action}`);
  } else {
    lines.push(`verdict: ${e.verdict}`);
  }
  if (e.staged) {
    lines.push(
      e.staged.changed
        ? `staged policies would change this to ${e.staged.verdict.toUpperCase()}:`
        : `staged policies apply here but would not change the verdict (${e.staged.verdict}).`,
    );
    if (e.staged.changed) lines.push(...formatStages(e.staged.stages, "  "));
  }
  for (const n of e.notes) lines.push(`note: ${n}`);
  return `${lines.join("\n")}\n`;
}
