/**
 * matrix: the allow/deny table of all endpoint pairs for one protocol/port.
 *
 * Endpoints are grouped into equivalence classes the way Cilium groups pods into identities: two
 * endpoints are interchangeable when they have the same programs (same policies in the same
 * order, same profiles, same kind) and their addresses are members of exactly the same sets and
 * rule CIDRs (for the query's protocol/port). Every input the rule semantics read is in that
 * signature, so one evaluation per class pair is exact, not an approximation.
 */
import type { Issue } from "../model/index.js";
import { issue } from "../model/index.js";
import {
  AddressSpace,
  addrKey,
  cachedCidr,
  carriesPorts,
  cidrContains,
  icmpProtocolFor,
  isHostCidr,
  matchCommonPart,
  matchSidePart,
  parseAddr,
  protocolName,
  protocolNumber,
  stagedAffects,
  type Addr,
  type ClusterIR,
  type EndpointIR,
  type EntityMatch,
  type Packet,
  type RuleIR,
  type RuleMatch,
  type RuleMatcher,
  type Verdict,
} from "../rule/index.js";
import type { Cluster } from "./cluster.js";
import { endpointRef } from "./refs.js";
import { evaluateFlow, type FlowEnd } from "./flow.js";
import { ALLOW, DENY, classPairVerdicts, type ClassRep } from "./matrix-classes.js";

export interface MatrixQuery {
  protocol: string | number;
  port?: number;
  icmp?: { type: number; code?: number };
  /** Default 4. */
  family?: 4 | 6;
  /** "classes" (default): each class's programs evaluated once over bitsets of peer classes
   *  (matrix-classes.ts). "pairs": one flow evaluation per class pair (evaluateFlow), kept as the
   *  reference the tests compare against. Both give the same matrix. */
  method?: "classes" | "pairs";
}

export type Cell = Verdict | null;

export interface StagedChange {
  from: string;
  to: string;
  verdict: Verdict;
  staged: Verdict;
}

export interface Matrix {
  family: 4 | 6;
  protocol: number;
  port?: number;
  /** Endpoint references, in IR order (rows = from, columns = to). */
  endpoints: string[];
  /** verdicts[i][j]: from endpoints[i] to endpoints[j]; null on the diagonal (a pod talking to
   *  itself never crosses its own policy). Built on first access (n² cells: 100M at 10k
   *  endpoints); use `verdict(i, j)` or the class tables to avoid that. */
  readonly verdicts: Cell[][];
  allowed: number;
  denied: number;
  /** Number of equivalence classes the endpoints fell into. */
  classes: number;
  /** Pairs whose verdict enforcing the staged policies would change. */
  stagedChanges: StagedChange[];
  /** Endpoints left out because they have no address of the family. */
  skipped: string[];
  /** The compact table (non-enumerable: not in JSON output). classOf[i]: class of endpoints[i];
   *  classVerdicts[a * classes + b]: 1 allow, 2 deny, from class a to class b. */
  readonly classOf: Int32Array;
  readonly classVerdicts: Uint8Array;
  /** verdicts[i][j] without building the table. */
  verdict(i: number, j: number): Cell;
}

function ruleLists(ir: ClusterIR): RuleIR[][] {
  const out: RuleIR[][] = [];
  for (const p of ir.policies.values()) out.push(p.ingress, p.egress);
  for (const p of Object.values(ir.profiles)) out.push(p.ingress, p.egress);
  if (ir.failsafe) out.push(ir.failsafe.inbound, ir.failsafe.outbound);
  return out;
}

function ruleCidrs(ir: ClusterIR, family: 4 | 6): string[] {
  const set = new Set<string>();
  const add = (e: EntityMatch) => {
    for (const c of e.nets ?? []) set.add(c);
    for (const c of e.notNets ?? []) set.add(c);
  };
  for (const list of ruleLists(ir)) for (const r of list) {
    add(r.match.src);
    add(r.match.dst);
  }
  return [...set].filter((c) => cachedCidr(c)?.family === family).sort();
}

/** Address signatures: for each endpoint address, the sets and rule CIDRs it belongs to. */
function addressSignatures(ir: ClusterIR, addrs: Addr[], protocol: number, port: number | undefined): string[] {
  const member = addrs.map(() => [] as string[]);
  const byKey = new Map<string, number[]>();
  addrs.forEach((a, i) => {
    const k = addrKey(a);
    let l = byKey.get(k);
    if (!l) byKey.set(k, (l = []));
    l.push(i);
  });
  const mark = (k: string, id: string) => {
    for (const i of byKey.get(k) ?? []) member[i]!.push(id);
  };
  for (const [id, def] of ir.sets) {
    if (def.kind === "selector") {
      for (const m of def.members) {
        const c = cachedCidr(m)!;
        if (isHostCidr(c)) mark(addrKey({ family: c.family, value: c.base }), id);
        else addrs.forEach((a, i) => {
          if (cidrContains(c, a) && member[i]![member[i]!.length - 1] !== id) member[i]!.push(id);
        });
      }
    } else {
      const withPorts = def.kind === "named-port" || def.withPorts;
      for (const m of def.members) {
        const a = parseAddr(m.addr)!;
        if (!withPorts) mark(addrKey(a), id);
        else if (port !== undefined && m.protocol === protocol && m.port === port) mark(addrKey(a), id);
      }
    }
  }
  const cidrs = ruleCidrs(ir, addrs[0]?.family ?? 4).map((c) => [c, cachedCidr(c)!] as const);
  return addrs.map((a, i) => {
    const nets = cidrs.filter(([, c]) => cidrContains(c, a)).map(([t]) => t);
    return `${[...new Set(member[i])].join(",")}|${nets.join(",")}`;
  });
}

function addressClassesBySignature(ir: ClusterIR, addrs: Addr[], protocol: number, port: number | undefined): { addrClassOf: number[]; addrRep: Addr[]; repSpace?: AddressSpace } {
  const sigs = addressSignatures(ir, addrs, protocol, port);
  const addrClassOf: number[] = [];
  const addrRep: Addr[] = [];
  const addrIds = new Map<string, number>();
  sigs.forEach((sig, i) => {
    let a = addrIds.get(sig);
    if (a === undefined) {
      addrIds.set(sig, (a = addrRep.length));
      addrRep.push(addrs[i]!);
    }
    addrClassOf.push(a);
  });
  return { addrClassOf, addrRep };
}

/**
 * The same partition as addressSignatures, by refinement: start with one class and split it by
 * each feature a rule can test — membership in every set (for named-port and port-carrying
 * service sets, of (address, protocol, port) for the query's protocol/port) and containment in
 * every rule CIDR of the family. Each split walks the feature's members only, never all addresses.
 */
function addressClasses(ir: ClusterIR, addrs: Addr[], family: 4 | 6, protocol: number, port: number | undefined): { addrClassOf: number[]; addrRep: Addr[]; repSpace: AddressSpace } {
  const space = new AddressSpace(addrs, ir.sets);
  const cls = new Int32Array(addrs.length);
  let count = addrs.length > 0 ? 1 : 0;
  // Per feature: seen[i] / splitStamp[c] hold the feature number when address i / class c was
  // handled in it (an address may be listed twice: a /32 and a CIDR around it).
  const seen = new Int32Array(addrs.length).fill(-1);
  const splitStamp: number[] = [];
  const splitTo: number[] = [];
  let feature = 0;
  const add = (l: readonly number[]) => {
    for (const i of l) {
      if (seen[i] === feature) continue;
      seen[i] = feature;
      const c = cls[i]!;
      if (splitStamp[c] !== feature) {
        splitStamp[c] = feature;
        splitTo[c] = count++;
      }
      cls[i] = splitTo[c]!;
    }
  };
  for (const [id, def] of ir.sets) {
    const withPorts = def.kind === "named-port" || (def.kind === "service" && def.withPorts);
    feature++;
    if (!withPorts) add(space.setIndexes(id));
    else if (port !== undefined) add(space.setPortIndexes(id, protocol, port));
  }
  for (const c of ruleCidrs(ir, family)) {
    feature++;
    add(space.contains(c) ?? []);
  }
  // Splitting leaves unused ids behind (a class wholly inside a feature moves to a new id);
  // renumber densely in order of first appearance.
  const dense = new Int32Array(count).fill(-1);
  const addrClassOf: number[] = new Array(addrs.length);
  const addrRep: Addr[] = [];
  const repIndex: number[] = [];
  for (let i = 0; i < addrs.length; i++) {
    let d = dense[cls[i]!]!;
    if (d < 0) {
      dense[cls[i]!] = d = addrRep.length;
      addrRep.push(addrs[i]!);
      repIndex.push(i);
    }
    addrClassOf[i] = d;
  }
  return { addrClassOf, addrRep, repSpace: space.restrict(repIndex) };
}

/**
 * A rule matcher for the matrix: matchRule's three parts (matchCommonPart, matchSidePart for each
 * side) cached per rule and per address class. Exact, because an address class holds addresses no
 * rule can tell apart, and the packet's protocol/ports are the same for every pair.
 */
function partMatcher(cluster: Cluster, template: Packet, addrRep: Addr[]): (srcClass: number, dstClass: number) => RuleMatcher {
  const sets = cluster.sets;
  const common = new WeakMap<RuleMatch, boolean>();
  const sideCache = { src: new WeakMap<EntityMatch, Int8Array>(), dst: new WeakMap<EntityMatch, Int8Array>() };
  const n = addrRep.length;
  const side = (which: "src" | "dst", e: EntityMatch, cls: number): boolean => {
    let arr = sideCache[which].get(e);
    if (!arr) sideCache[which].set(e, (arr = new Int8Array(n)));
    let v = arr[cls]!;
    if (v === 0) {
      const port = which === "src" ? template.srcPort : template.dstPort;
      v = matchSidePart(which, e, addrRep[cls]!, template.protocol, port, sets) ? 1 : 2;
      arr[cls] = v;
    }
    return v === 1;
  };
  return (srcClass, dstClass) => (fm) => {
    let c = common.get(fm);
    if (c === undefined) common.set(fm, (c = matchCommonPart(fm, template)));
    return c && side("src", fm.src, srcClass) && side("dst", fm.dst, dstClass);
  };
}

export function tryMatrix(cluster: Cluster, q: MatrixQuery): { ok: true; value: Matrix } | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  const protocol = protocolNumber(q.protocol as string | number);
  if (protocol === undefined) issues.push(issue("invalid-protocol", ["protocol"], `protocol ${JSON.stringify(q.protocol)} is not TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number 1–255`));
  if (q.port !== undefined && (!Number.isInteger(q.port) || q.port < 1 || q.port > 65535)) issues.push(issue("invalid-port", ["port"], `port ${JSON.stringify(q.port)} must be an integer 1–65535`));
  if (protocol !== undefined && carriesPorts(protocol) && q.port === undefined) issues.push(issue("missing-port", ["port"], `a ${protocolName(protocol)} matrix needs a destination port`));
  const family = q.family ?? 4;
  if (family !== 4 && family !== 6) issues.push(issue("invalid-family", ["family"], "family must be 4 or 6"));
  if (issues.length > 0) return { ok: false, issues };
  const port = carriesPorts(protocol!) ? q.port : undefined;

  const ir = cluster.ir;
  const eps: Array<{ ep: EndpointIR; ip: string; addr: Addr }> = [];
  const skipped: string[] = [];
  for (const ep of ir.endpoints) {
    const ip = ep.ips.find((i) => (i.includes(":") ? 6 : 4) === family);
    if (ip) eps.push({ ep, ip, addr: parseAddr(ip)! });
    else skipped.push(endpointRef(ep));
  }
  // Address classes: endpoints whose addresses no rule can tell apart. The per-pair reference
  // path keeps its own computation (signature strings), so the tests compare both.
  const addrs = eps.map((e) => e.addr);
  const { addrClassOf, addrRep, repSpace } = q.method === "pairs" ? addressClassesBySignature(ir, addrs, protocol!, port) : addressClasses(ir, addrs, family, protocol!, port);
  const hasHosts = eps.some((e) => e.ep.kind === "host");
  const progIds = new Map<string, number>();
  // Endpoints share program objects (one per distinct policy selection), so a program's content
  // id is computed once per object; equal content in distinct objects still gets one id.
  const contentIds = new Map<string, number>();
  const objectIds = new WeakMap<object, number>();
  const programId = (p: object | undefined): number => {
    if (p === undefined) return -1;
    let id = objectIds.get(p);
    if (id === undefined) {
      const text = JSON.stringify(p);
      id = contentIds.get(text);
      if (id === undefined) contentIds.set(text, (id = contentIds.size));
      objectIds.set(p, id);
    }
    return id;
  };
  const classOf: number[] = [];
  const classKey = new Map<string, number>();
  const reps: number[] = [];
  eps.forEach((e, i) => {
    const progText = `${programId(e.ep.ingress)}/${programId(e.ep.egress)}/${programId(e.ep.forward)}/${programId(e.ep.preDNAT)}/${programId(e.ep.untracked)}`;
    let pid = progIds.get(progText);
    if (pid === undefined) progIds.set(progText, (pid = progIds.size));
    const key = `${e.ep.kind}|${pid}|${hasHosts ? e.ep.node : ""}|${e.ep.interfaceName === "*"}|${addrClassOf[i]}`;
    let c = classKey.get(key);
    if (c === undefined) {
      classKey.set(key, (c = reps.length));
      reps.push(i);
    }
    classOf.push(c);
  });

  const base: Omit<Packet, "srcIP" | "dstIP"> = { family, protocol: protocol! };
  if (port !== undefined) base.dstPort = port;
  if (protocol === icmpProtocolFor(family)) {
    base.icmpType = q.icmp?.type ?? (family === 4 ? 8 : 128);
    base.icmpCode = q.icmp?.code ?? 0;
  }
  const n = reps.length;
  const stagedClasses = reps.map((r) => stagedAffects(eps[r]!.ep.ingress, ir) || stagedAffects(eps[r]!.ep.egress, ir));
  let classVerdict: Uint8Array;
  let stagedVerdict: Uint8Array | undefined;
  if (q.method === "pairs") {
    ({ classVerdict, stagedVerdict } = pairVerdicts(cluster, eps, reps, addrClassOf, addrRep, base, stagedClasses));
  } else {
    const classReps: ClassRep[] = reps.map((r) => ({ ep: eps[r]!.ep, addrClass: addrClassOf[r]! }));
    ({ verdict: classVerdict, staged: stagedVerdict } = classPairVerdicts(ir, classReps, repSpace!, base, stagedClasses));
  }
  const refs = eps.map((e) => endpointRef(e.ep));
  const classOfArr = Int32Array.from(classOf);
  const size = new Float64Array(n);
  for (const c of classOf) size[c]!++;
  let allowed = 0;
  for (let a = 0; a < n; a++) {
    let row = 0;
    for (let b = 0; b < n; b++) if (classVerdict[a * n + b] === ALLOW) row += size[b]!;
    allowed += size[a]! * row - (classVerdict[a * n + a] === ALLOW ? size[a]! : 0);
  }
  const denied = eps.length * (eps.length - 1) - allowed;
  const stagedChanges: StagedChange[] = [];
  if (stagedVerdict) {
    const sv = stagedVerdict;
    const name = (v: number): Verdict => (v === ALLOW ? "allow" : "deny");
    const members: number[][] = Array.from({ length: n }, () => []);
    classOf.forEach((c, i) => members[c]!.push(i));
    // Per source class, the destination endpoints (ascending) whose pair changes: shared by every
    // endpoint of the class, so the output keeps the row-major order without an n² scan.
    const targets = new Map<number, number[]>();
    const staged = stagedClasses.map((s, c) => (s ? c : -1)).filter((c) => c >= 0);
    for (let a = 0; a < n; a++) {
      const to: number[] = [];
      // Staged verdicts exist only in rows and columns of staged-affected classes.
      const cols = stagedClasses[a] ? reps.map((_, b) => b) : staged;
      for (const b of cols) {
        const k = a * n + b;
        if (sv[k] !== 0 && sv[k] !== classVerdict[k]) to.push(...members[b]!);
      }
      if (to.length > 0) targets.set(a, to.sort((x, y) => x - y));
    }
    for (let i = 0; i < eps.length; i++) {
      const ci = classOf[i]!;
      const to = targets.get(ci);
      if (!to) continue;
      for (const j of to) {
        if (i === j) continue;
        const k = ci * n + classOf[j]!;
        stagedChanges.push({ from: refs[i]!, to: refs[j]!, verdict: name(classVerdict[k]!), staged: name(sv[k]!) });
      }
    }
  }
  const cv = classVerdict;
  const verdict = (i: number, j: number): Cell => (i === j ? null : cv[classOfArr[i]! * n + classOfArr[j]!] === ALLOW ? "allow" : "deny");
  let table: Cell[][] | undefined;
  // Property order is the JSON output's (`tortie matrix -o json`): keep it.
  const value = {
    family,
    protocol: protocol!,
    endpoints: refs,
    get verdicts(): Cell[][] {
      return (table ??= refs.map((_, i) => refs.map((_, j) => verdict(i, j))));
    },
    allowed,
    denied,
    classes: n,
    stagedChanges,
    skipped,
  } as Matrix;
  if (port !== undefined) value.port = port;
  Object.defineProperties(value, {
    classOf: { value: classOfArr, enumerable: false },
    classVerdicts: { value: cv, enumerable: false },
    verdict: { value: verdict, enumerable: false },
  });
  return { ok: true, value };
}

/** The reference path: one evaluateFlow per class pair (and per staged-affected pair, staged). */
function pairVerdicts(
  cluster: Cluster,
  eps: Array<{ ep: EndpointIR; ip: string; addr: Addr }>,
  reps: number[],
  addrClassOf: number[],
  addrRep: Addr[],
  base: Omit<Packet, "srcIP" | "dstIP">,
  stagedClasses: boolean[],
): { classVerdict: Uint8Array; stagedVerdict: Uint8Array | undefined } {
  const matcherFor = partMatcher(cluster, { ...base, srcIP: eps[0]?.ip ?? "0.0.0.0", dstIP: eps[0]?.ip ?? "0.0.0.0" } as Packet, addrRep);
  const end = (i: number): FlowEnd => ({ kind: "endpoint", ep: eps[i]!.ep, ip: eps[i]!.ip, ref: endpointRef(eps[i]!.ep) });
  const n = reps.length;
  const classVerdict = new Uint8Array(n * n);
  const stagedVerdict = stagedClasses.some(Boolean) ? new Uint8Array(n * n) : undefined;
  const code = (v: Verdict) => (v === "allow" ? ALLOW : DENY);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      const s = end(reps[a]!);
      const d = end(reps[b]!);
      const packet: Packet = { ...base, srcIP: s.ip, dstIP: d.ip };
      const matcher = matcherFor(addrClassOf[reps[a]!]!, addrClassOf[reps[b]!]!);
      classVerdict[a * n + b] = code(evaluateFlow(cluster, s, d, packet, { trace: false, matcher }).verdict);
      if (stagedVerdict && (stagedClasses[a] || stagedClasses[b])) stagedVerdict[a * n + b] = code(evaluateFlow(cluster, s, d, packet, { trace: false, staged: true, matcher }).verdict);
    }
  }
  return { classVerdict, stagedVerdict };
}

export function formatMatrix(m: Matrix): string {
  const lines: string[] = [];
  const what = `${protocolName(m.protocol)}${m.port !== undefined ? `/${m.port}` : ""}, IPv${m.family}`;
  lines.push(`${what}: ${m.allowed} allowed, ${m.denied} denied (${m.endpoints.length} endpoints, ${m.classes} classes)`);
  const width = String(m.endpoints.length).length;
  const refWidth = Math.max(4, ...m.endpoints.map((r) => r.length));
  const num = (i: number) => String(i + 1).padStart(width);
  lines.push(`${" ".repeat(width + 1 + refWidth)}  ${m.endpoints.map((_, j) => num(j)).join(" ")}`);
  m.endpoints.forEach((_, i) => {
    const cells = m.endpoints.map((_, j) => {
      const c = m.verdict(i, j);
      return (c === null ? "-" : c === "allow" ? "✓" : "✗").padStart(width);
    });
    lines.push(`${num(i)} ${m.endpoints[i]!.padEnd(refWidth)}  ${cells.join(" ")}`);
  });
  lines.push("rows: from, columns: to; ✓ allow, ✗ deny, - self");
  if (m.skipped.length > 0) lines.push(`not shown (no IPv${m.family} address): ${m.skipped.join(", ")}`);
  if (m.stagedChanges.length > 0) {
    lines.push(`staged policies would change ${m.stagedChanges.length} pair(s):`);
    for (const c of m.stagedChanges) lines.push(`  ${c.from} → ${c.to}: ${c.verdict} → ${c.staged}`);
  }
  return `${lines.join("\n")}\n`;
}
