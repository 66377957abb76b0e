/**
 * diff: which endpoint pairs become allowed or denied between two clusters (e.g. before/after a
 * policy change). Both sides are matrices (equivalence classes make that cheap); pairs are matched
 * by endpoint reference, so only endpoints present on both sides are compared.
 */
import type { Issue } from "../model/index.js";
import { issue } from "../model/index.js";
import { carriesPorts, protocolName, protocolNumber, type ClusterIR, type Verdict } from "../rule/index.js";
import type { Cluster } from "./cluster.js";
import { tryMatrix } from "./matrix.js";

export interface DiffQuery {
  protocol: string | number;
  /** Destination ports to compare; default: every port the two clusters' rules and named ports
   *  mention (the first port of each range), or 80 when there is none. */
  ports?: number[];
  family?: 4 | 6;
}

export interface PairChange {
  from: string;
  to: string;
  port?: number;
  before: Verdict;
  after: Verdict;
}

export interface ClusterDiff {
  protocol: number;
  family: 4 | 6;
  ports: number[];
  /** Pairs that were denied and are now allowed. */
  allowed: PairChange[];
  /** Pairs that were allowed and are now denied. */
  denied: PairChange[];
  addedEndpoints: string[];
  removedEndpoints: string[];
}

/** Ports worth probing: rule port ranges (first port) and declared named ports. */
export function interestingPorts(ir: ClusterIR): number[] {
  const out = new Set<number>();
  const visit = (rules: Array<{ match: { src: { ports?: Array<{ first: number }>; notPorts?: Array<{ first: number }> }; dst: { ports?: Array<{ first: number }>; notPorts?: Array<{ first: number }> } } }>) => {
    for (const r of rules) {
      for (const p of r.match.dst.ports ?? []) out.add(p.first);
      for (const p of r.match.dst.notPorts ?? []) out.add(p.first);
    }
  };
  for (const p of ir.policies.values()) {
    visit(p.ingress);
    visit(p.egress);
  }
  for (const p of Object.values(ir.profiles)) {
    visit(p.ingress);
    visit(p.egress);
  }
  for (const ep of ir.endpoints) for (const np of ep.namedPorts) out.add(np.port);
  return [...out].sort((a, b) => a - b);
}

export function tryDiff(before: Cluster, after: Cluster, q: DiffQuery): { ok: true; value: ClusterDiff } | { ok: false; issues: Issue[] } {
  const protocol = protocolNumber(q.protocol as string | number);
  if (protocol === undefined) return { ok: false, issues: [issue("invalid-protocol", ["protocol"], `protocol ${JSON.stringify(q.protocol)} is not TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number 1–255`)] };
  const family = q.family ?? 4;
  let ports: Array<number | undefined>;
  if (!carriesPorts(protocol)) ports = [undefined];
  else if (q.ports && q.ports.length > 0) ports = [...new Set(q.ports)].sort((a, b) => a - b);
  else {
    const all = new Set([...interestingPorts(before.ir), ...interestingPorts(after.ir)]);
    ports = all.size > 0 ? [...all].sort((a, b) => a - b) : [80];
  }
  const diff: ClusterDiff = { protocol, family, ports: ports.filter((p): p is number => p !== undefined), allowed: [], denied: [], addedEndpoints: [], removedEndpoints: [] };
  for (const port of ports) {
    const a = tryMatrix(before, { protocol, port, family });
    const b = tryMatrix(after, { protocol, port, family });
    if (!a.ok) return a;
    if (!b.ok) return b;
    const ia = new Map(a.value.endpoints.map((r, i) => [r, i]));
    const ib = new Map(b.value.endpoints.map((r, i) => [r, i]));
    if (port === ports[0]) {
      diff.addedEndpoints = b.value.endpoints.filter((r) => !ia.has(r));
      diff.removedEndpoints = a.value.endpoints.filter((r) => !ib.has(r));
    }
    const common = a.value.endpoints.filter((r) => ib.has(r));
    for (const from of common) {
      for (const to of common) {
        if (from === to) continue;
        const va = a.value.verdict(ia.get(from)!, ia.get(to)!)!;
        const vb = b.value.verdict(ib.get(from)!, ib.get(to)!)!;
        if (va === vb) continue;
        const ch: PairChange = { from, to, before: va, after: vb };
        if (port !== undefined) ch.port = port;
        (vb === "allow" ? diff.allowed : diff.denied).push(ch);
      }
    }
  }
  return { ok: true, value: diff };
}

export function formatDiff(d: ClusterDiff): string {
  const lines: string[] = [];
  const proto = protocolName(d.protocol);
  const what = d.ports.length > 0 ? `${proto} port${d.ports.length > 1 ? "s" : ""} ${d.ports.join(", ")}` : proto;
  if (d.allowed.length === 0 && d.denied.length === 0) lines.push(`no change for ${what} (IPv${d.family})`);
  for (const c of d.allowed) lines.push(`+ allow  ${c.from} → ${c.to}  ${proto}${c.port !== undefined ? `/${c.port}` : ""}  (was deny)`);
  for (const c of d.denied) lines.push(`- deny   ${c.from} → ${c.to}  ${proto}${c.port !== undefined ? `/${c.port}` : ""}  (was allow)`);
  if (d.allowed.length + d.denied.length > 0) lines.push(`${d.allowed.length} pair(s) newly allowed, ${d.denied.length} newly denied (${what}, IPv${d.family})`);
  if (d.addedEndpoints.length > 0) lines.push(`new endpoints (not compared): ${d.addedEndpoints.join(", ")}`);
  if (d.removedEndpoints.length > 0) lines.push(`removed endpoints: ${d.removedEndpoints.join(", ")}`);
  return `${lines.join("\n")}\n`;
}
