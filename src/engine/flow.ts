/**
 * Flows: which endpoint programs a packet from A to B passes, in which order (docs/engine.md
 * "Flows and host endpoints"). Each step is one evaluateDirection call from rule/match.ts; this
 * file only decides the sequence, never a verdict of its own.
 *
 *   workload → workload / external    source egress, then destination ingress (if an endpoint)
 *   external → endpoint               destination ingress only (outside addresses have no policy)
 *   host endpoint as source           failsafe-out, untracked egress, normal egress (skipped when the
 *                                     destination is a workload on the same node: that traffic
 *                                     leaves through the workload's interface, not the HEP's)
 *   host endpoint as destination      failsafe-in, untracked ingress, preDNAT, normal ingress
 *   workload → host endpoint of its   workload egress, then DefaultEndpointToHostAction: Drop →
 *   own node                          deny; Accept → allow; Return → the HEP's ingress chain when
 *                                     the HEP covers all interfaces ("*"), otherwise allow
 *   outside → workload                the uplink HEP of the workload's node (if unambiguous):
 *                                     untracked, preDNAT, applyOnForward ingress; then the
 *                                     workload's ingress
 *   workload → outside                workload egress, then the uplink HEP's applyOnForward egress
 */
import type { Issue } from "../model/index.js";
import { issue } from "../model/index.js";
import {
  carriesPorts,
  evaluateDirection,
  failsafeFor,
  formatAddr,
  icmpProtocolFor,
  parseAddr,
  protocolName,
  protocolNumber,
  type ChainFlavour,
  type Decision,
  type Direction,
  type DirectionProgram,
  type EndpointIR,
  type Packet,
  type RuleMatcher,
  type TraceStep,
  type Verdict,
} from "../rule/index.js";
import type { Cluster } from "./cluster.js";
import { endpointRef } from "./refs.js";

export type FlowEnd =
  | { kind: "endpoint"; ep: EndpointIR; ip: string; ref: string }
  | { kind: "external"; ip: string; ref: string };

export interface FlowStage {
  kind: "policy";
  /** Endpoint reference ("ns/pod", "hep:x", WEP name) and key. */
  endpoint: string;
  key: string;
  direction: Direction;
  chain: ChainFlavour;
  verdict: Verdict | "none";
  decidedBy: Decision;
  steps: TraceStep[];
}

export interface HostActionStage {
  kind: "endpoint-to-host";
  action: "Drop" | "Return" | "Accept";
  verdict: Verdict | "none";
}

export type Stage = FlowStage | HostActionStage;

export interface FlowResult {
  verdict: Verdict;
  stages: Stage[];
  /** Assumptions the evaluation had to make (e.g. which host endpoint carries the traffic). */
  notes: string[];
}

export interface FlowOptions {
  trace?: boolean;
  staged?: boolean;
  /** Untraced only: a rule matcher equivalent to matchRule (see EvaluateOptions.matcher). */
  matcher?: RuleMatcher;
}

/** Evaluates the whole path of a packet (see the table at the top). */
export function evaluateFlow(cluster: Cluster, src: FlowEnd, dst: FlowEnd, packet: Packet, opts: FlowOptions = {}): FlowResult {
  const stages: Stage[] = [];
  const notes: string[] = [];
  const ir = cluster.ir;
  const sets = cluster.sets;
  const trace = opts.trace !== false;
  const staged = opts.staged === true;

  const run = (ep: EndpointIR, prog: DirectionProgram, direction: Direction, chain: ChainFlavour, failsafe: boolean): FlowStage => {
    const r = evaluateDirection(prog, ir, packet, sets, {
      direction,
      chain,
      trace,
      staged,
      failsafe: failsafe ? failsafeFor(ir, direction) : undefined,
      matcher: opts.matcher,
    });
    const st: FlowStage = { kind: "policy", endpoint: endpointRef(ep), key: ep.key, direction, chain, verdict: r.verdict, decidedBy: r.decidedBy, steps: r.steps };
    stages.push(st);
    return st;
  };

  /** Host endpoint chains for one direction: untracked → (preDNAT) → normal. */
  const hostChain = (ep: EndpointIR, direction: Direction): Verdict => {
    const untracked = ep.untracked?.[direction];
    if (untracked && untracked.tiers.length > 0) {
      const s = run(ep, untracked, direction, "untracked", true);
      if (s.verdict !== "none") return s.verdict;
    }
    if (direction === "ingress" && ep.preDNAT && ep.preDNAT.tiers.length > 0) {
      const s = run(ep, ep.preDNAT, direction, "preDNAT", true);
      if (s.verdict !== "none") return s.verdict;
    }
    const s = run(ep, direction === "ingress" ? ep.ingress : ep.egress, direction, "normal", true);
    return s.verdict === "deny" ? "deny" : "allow";
  };

  /**
   * Forwarded traffic entering the node through host endpoint `hep` (felix filter FORWARD): raw
   * (untracked) and mangle (preDNAT) policy first — failsafe ports only skip those two stages —
   * then, unless one of them accepted the packet, the HEP's applyOnForward policy (allowed by
   * default when none applies). The workload's own policy runs afterwards regardless.
   */
  const forwardIn = (hep: EndpointIR): Verdict => {
    let accepted = false;
    let failsafeHit = false;
    const early = (prog: DirectionProgram | undefined, chain: ChainFlavour) => {
      if (accepted || failsafeHit || !prog || prog.tiers.length === 0) return undefined;
      const st = run(hep, prog, "ingress", chain, true);
      if (st.decidedBy.kind === "failsafe") failsafeHit = true;
      else if (st.verdict === "allow") accepted = true;
      else if (st.verdict === "deny") return "deny" as const;
      return undefined;
    };
    if (early(hep.untracked?.ingress, "untracked") === "deny") return "deny";
    if (early(hep.preDNAT, "preDNAT") === "deny") return "deny";
    if (!accepted && hep.forward) {
      const st = run(hep, hep.forward.ingress, "ingress", "forward", false);
      if (st.verdict === "deny") return "deny";
    }
    return "allow";
  };

  /** The host endpoint that carries a workload's traffic to and from outside addresses: the only
   *  named-interface HEP of its node, else its only "*" HEP; undefined (with a note) if ambiguous. */
  const uplink = (w: EndpointIR): EndpointIR | undefined => {
    const heps = cluster.hostEndpointsOnNode(w.node);
    const named = heps.filter((h) => h.interfaceName && h.interfaceName !== "*");
    const all = heps.filter((h) => h.interfaceName === "*");
    const pick = named.length === 1 ? named[0] : named.length === 0 && all.length === 1 ? all[0] : undefined;
    if (!pick && heps.length > 0) {
      notes.push(`node ${w.node} has several host endpoints (${heps.map(endpointRef).join(", ")}); which one carries this traffic is unknown, so host-endpoint forward policy was not evaluated`);
    }
    return pick;
  };

  const srcEp = src.kind === "endpoint" ? src.ep : undefined;
  const dstEp = dst.kind === "endpoint" ? dst.ep : undefined;
  const sameNode = srcEp !== undefined && dstEp !== undefined && srcEp.node !== "" && srcEp.node === dstEp.node;

  if (srcEp?.kind === "workload") {
    const s = run(srcEp, srcEp.egress, "egress", "normal", false);
    if (s.verdict === "deny") return { verdict: "deny", stages, notes };
    if (!dstEp && srcEp.node) {
      // Leaving the node towards an outside address: the uplink HEP's applyOnForward egress policy.
      const hep = uplink(srcEp);
      if (hep?.forward) {
        const f = run(hep, hep.forward.egress, "egress", "forward", false);
        if (f.verdict === "deny") return { verdict: "deny", stages, notes };
      }
      return { verdict: "allow", stages, notes };
    }
    if (dstEp?.kind === "host" && sameNode) {
      const action = ir.defaultEndpointToHostAction ?? "Drop";
      if (action === "Drop") {
        stages.push({ kind: "endpoint-to-host", action, verdict: "deny" });
        return { verdict: "deny", stages, notes };
      }
      if (action === "Accept" || dstEp.interfaceName !== "*") {
        stages.push({ kind: "endpoint-to-host", action, verdict: "allow" });
        return { verdict: "allow", stages, notes };
      }
      stages.push({ kind: "endpoint-to-host", action, verdict: "none" });
      return { verdict: hostChain(dstEp, "ingress"), stages, notes };
    }
  } else if (srcEp?.kind === "host") {
    if (!(dstEp?.kind === "workload" && sameNode)) {
      if (hostChain(srcEp, "egress") === "deny") return { verdict: "deny", stages, notes };
    }
  }

  if (dstEp?.kind === "workload") {
    if (!srcEp && dstEp.node) {
      const hep = uplink(dstEp);
      if (hep && forwardIn(hep) === "deny") return { verdict: "deny", stages, notes };
    }
    const s = run(dstEp, dstEp.ingress, "ingress", "normal", false);
    return { verdict: s.verdict === "deny" ? "deny" : "allow", stages, notes };
  }
  if (dstEp?.kind === "host") return { verdict: hostChain(dstEp, "ingress"), stages, notes };
  return { verdict: "allow", stages, notes };
}

// ------------------------------------------------------------------------------------ inputs

export interface FlowQuery {
  from: string;
  to: string;
  protocol: string | number;
  port?: number;
  srcPort?: number;
  icmp?: { type: number; code?: number };
  /** Address family; derived from the ends when absent (IPv4 preferred). */
  family?: 4 | 6;
}

export interface ResolvedFlow {
  src: FlowEnd;
  dst: FlowEnd;
  packet: Packet;
  notes: string[];
}

function isIPish(s: string): boolean {
  return /^[0-9.]+$/.test(s) || s.includes(":") && !s.startsWith("hep:");
}

/** Resolves one end of a flow; issues for unknown names. */
export function resolveEnd(cluster: Cluster, ref: string, role: "from" | "to", issues: Issue[], notes: string[]): { ep?: EndpointIR; ip?: string } | undefined {
  const path = [role];
  if (typeof ref !== "string" || ref === "") {
    issues.push(issue("unknown-endpoint", path, `--${role} is empty`));
    return undefined;
  }
  const ep = cluster.endpointByRef(ref);
  if (ep) return { ep };
  if (isIPish(ref)) {
    const a = parseAddr(ref);
    if (!a) {
      issues.push(issue("invalid-address", path, `${JSON.stringify(ref)} is neither a known endpoint nor an IP address`));
      return undefined;
    }
    const ip = formatAddr(a);
    const eps = cluster.endpointsByIP(ip);
    if (eps.length > 1) notes.push(`${ip} belongs to ${eps.length} endpoints (${eps.map(endpointRef).join(", ")}); using ${endpointRef(eps[0]!)}`);
    if (eps.length > 0) return { ep: eps[0]!, ip };
    return { ip };
  }
  const skipped = cluster.skippedPods.get(ref);
  if (skipped) {
    issues.push(issue("endpoint-not-programmed", path, `pod ${ref} has no Calico endpoint: ${skipped}`));
    return undefined;
  }
  const hint = ref.startsWith("hep:") ? "no HostEndpoint has that name" : ref.includes("/") ? "no pod or WorkloadEndpoint has that namespace/name" : "no WorkloadEndpoint has that name";
  issues.push(issue("unknown-endpoint", path, `unknown endpoint ${JSON.stringify(ref)}: ${hint} (use namespace/pod, hep:<name>, a WorkloadEndpoint name, or an IP address)`));
  return undefined;
}

/** Turns a query into ends and a packet, or issues. */
export function resolveFlow(cluster: Cluster, q: FlowQuery): { ok: true; value: ResolvedFlow } | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  const notes: string[] = [];
  const protocol = protocolNumber(q.protocol as string | number);
  if (protocol === undefined) issues.push(issue("invalid-protocol", ["protocol"], `protocol ${JSON.stringify(q.protocol)} is not TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number 1–255`));
  const portOk = (p: number | undefined, name: string) => {
    if (p === undefined) return;
    if (!Number.isInteger(p) || p < 1 || p > 65535) issues.push(issue("invalid-port", [name], `${name} ${JSON.stringify(p)} must be an integer 1–65535`));
  };
  portOk(q.port, "port");
  portOk(q.srcPort, "srcPort");
  if (protocol !== undefined && carriesPorts(protocol) && q.port === undefined) issues.push(issue("missing-port", ["port"], `a ${protocolName(protocol)} flow needs a destination port`));
  if (protocol !== undefined && !carriesPorts(protocol) && q.port !== undefined) issues.push(issue("unexpected-port", ["port"], `${protocolName(protocol)} has no ports`));
  if (q.family !== undefined && q.family !== 4 && q.family !== 6) issues.push(issue("invalid-family", ["family"], "family must be 4 or 6"));
  const a = resolveEnd(cluster, q.from, "from", issues, notes);
  const b = resolveEnd(cluster, q.to, "to", issues, notes);
  if (issues.length > 0 || !a || !b) return { ok: false, issues };

  // Family: explicit, else an IP literal's, else IPv4 if both ends have one, else IPv6.
  const famOf = (x: { ep?: EndpointIR; ip?: string }): Array<4 | 6> => {
    if (x.ip) return [x.ip.includes(":") ? 6 : 4];
    return [...new Set(x.ep!.ips.map((ip) => (ip.includes(":") ? 6 : 4) as 4 | 6))];
  };
  const fa = famOf(a);
  const fb = famOf(b);
  let family: 4 | 6 | undefined = q.family;
  if (family === undefined) family = ([4, 6] as const).find((f) => fa.includes(f) && fb.includes(f));
  const need = (x: { ep?: EndpointIR; ip?: string }, role: "from" | "to"): string | undefined => {
    if (x.ip) return (x.ip.includes(":") ? 6 : 4) === family ? x.ip : undefined;
    const ip = x.ep!.ips.find((i) => (i.includes(":") ? 6 : 4) === family);
    if (!ip) issues.push(issue("no-address", [role], `${endpointRef(x.ep!)} has no IPv${family ?? "?"} address`));
    return ip;
  };
  if (family === undefined) {
    issues.push(issue("mixed-family", [], `${q.from} and ${q.to} have no address family in common`));
    return { ok: false, issues };
  }
  const srcIP = need(a, "from");
  const dstIP = need(b, "to");
  if (a.ip && srcIP === undefined) issues.push(issue("mixed-family", ["from"], `${q.from} is not an IPv${family} address`));
  if (b.ip && dstIP === undefined) issues.push(issue("mixed-family", ["to"], `${q.to} is not an IPv${family} address`));
  if (issues.length > 0 || !srcIP || !dstIP) return { ok: false, issues };

  const packet: Packet = { family, protocol: protocol!, srcIP, dstIP };
  if (carriesPorts(protocol!)) {
    packet.dstPort = q.port;
    if (q.srcPort !== undefined) packet.srcPort = q.srcPort;
  }
  if (protocol === icmpProtocolFor(family)) {
    // Default to an echo request: what "can A ping B" means.
    packet.icmpType = q.icmp?.type ?? (family === 4 ? 8 : 128);
    packet.icmpCode = q.icmp?.code ?? 0;
  } else if (q.icmp) {
    issues.push(issue("unexpected-icmp", ["icmp"], `ICMP type/code need protocol ${family === 4 ? "ICMP" : "ICMPv6"}`));
    return { ok: false, issues };
  }
  const end = (x: { ep?: EndpointIR; ip?: string }, ip: string, ref: string): FlowEnd =>
    x.ep ? { kind: "endpoint", ep: x.ep, ip, ref: endpointRef(x.ep) } : { kind: "external", ip, ref };
  return { ok: true, value: { src: end(a, srcIP, q.from), dst: end(b, dstIP, q.to), packet, notes } };
}
