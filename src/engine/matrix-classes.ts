/**
 * The matrix's class-pair verdicts without evaluating one flow per pair: every class runs its
 * egress program once against all address classes as destinations, and its ingress program once
 * against all address classes as sources (rule/match-classes.ts, bitsets over address classes);
 * a pair's verdict is then a few bit tests, composed in the order flow.ts walks an
 * endpoint → endpoint packet:
 *
 *   source egress (a workload's normal chain; a host endpoint's untracked → normal, skipped when
 *   the destination is a workload on the same node) — deny ends it;
 *   workload → host endpoint of its own node: DefaultEndpointToHostAction (Drop / Accept / Return
 *   → the HEP's ingress only when it covers all interfaces);
 *   destination ingress (a workload's normal chain; a host endpoint's untracked → preDNAT → normal,
 *   each with the failsafe rules first).
 *
 * Flows from or to outside addresses (uplink HEP, applyOnForward) never occur in a matrix of
 * endpoints, so they are not mirrored here. The per-pair path (tryMatrix method "pairs") stays the
 * reference; matrix.test.ts checks both give the same table.
 */
import {
  ClassEvaluator,
  type AddressSpace,
  failsafeFor,
  stagedView,
  type Bits,
  type ClassPacket,
  type ClusterIR,
  type Direction,
  type DirectionProgram,
  type EndpointIR,
} from "../rule/index.js";

export interface ClassRep {
  ep: EndpointIR;
  /** Index of the class's address class (its address in the AddressSpace). */
  addrClass: number;
}

/** Verdict bytes: 0 not evaluated, 1 allow, 2 deny. */
export const ALLOW = 1;
export const DENY = 2;

/** Deny set of one class for one direction: hostChain / the workload's normal chain. */
function evaluateDirectionDeny(ev: ClassEvaluator, ir: ClusterIR, rep: ClassRep, dir: Direction, staged: boolean): Bits {
  const ep = rep.ep;
  const own = rep.addrClass;
  const sp = ev.space;
  if (ep.kind !== "host") {
    return ev.evaluate(dir === "ingress" ? ep.ingress : ep.egress, own, { direction: dir, chain: "normal", staged }).deny;
  }
  // flow.ts hostChain: untracked → (ingress) preDNAT → normal; each stage decides what the earlier
  // ones left undecided, and the normal chain's "none" (impossible) would count as allow.
  const failsafe = failsafeFor(ir, dir);
  const decided = sp.copy();
  const deny = sp.copy();
  const stage = (r: { allow: Bits; deny: Bits }) => {
    for (let w = 0; w < deny.length; w++) {
      deny[w]! |= r.deny[w]! & ~decided[w]!;
      decided[w]! |= r.allow[w]! | r.deny[w]!;
    }
  };
  const untracked = ep.untracked?.[dir];
  if (untracked && untracked.tiers.length > 0) stage(ev.evaluate(untracked, own, { direction: dir, chain: "untracked", failsafe, staged }));
  if (dir === "ingress" && ep.preDNAT && ep.preDNAT.tiers.length > 0) stage(ev.evaluate(ep.preDNAT, own, { direction: dir, chain: "preDNAT", failsafe, staged }));
  stage(ev.evaluate(dir === "ingress" ? ep.ingress : ep.egress, own, { direction: dir, chain: "normal", failsafe, staged }));
  return deny;
}

/** True when enforcing the staged policies leaves this program's tiers exactly as they are
 *  (stagedView equal to the program), so its staged evaluation equals the enforced one. */
function stagedSame(p: DirectionProgram | undefined, ir: ClusterIR, dir: Direction): boolean {
  if (!p) return true;
  const v = stagedView(p, ir, dir).tiers;
  if (v.length !== p.tiers.length) return false;
  return v.every((t, i) => {
    const o = p.tiers[i]!;
    return t.tier === o.tier && t.defaultAction === o.defaultAction && t.policies.length === o.policies.length && t.policies.every((k, j) => k === o.policies[j]);
  });
}

function directionSame(ep: EndpointIR, ir: ClusterIR, dir: Direction): boolean {
  return (
    stagedSame(dir === "ingress" ? ep.ingress : ep.egress, ir, dir) &&
    stagedSame(ep.untracked?.[dir], ir, dir) &&
    (dir === "egress" || stagedSame(ep.preDNAT, ir, dir))
  );
}

export interface ClassVerdicts {
  /** verdict[a * n + b]: ALLOW / DENY from class a to class b. */
  verdict: Uint8Array;
  /** The same with every staged policy enforced, for the pairs where a or b is staged-affected
   *  (0 elsewhere); undefined when no class is. */
  staged?: Uint8Array;
}

/**
 * The verdict of every class pair, and the staged verdicts of the pairs touching a class in
 * `stagedClasses`. Address k of `space` is the representative address of address class k.
 */
export function classPairVerdicts(ir: ClusterIR, reps: ClassRep[], space: AddressSpace, packet: ClassPacket, stagedClasses: boolean[]): ClassVerdicts {
  const ev = new ClassEvaluator(ir, space, packet);
  // Classes differ in either direction's programs; one direction's deny set depends only on that
  // direction's programs and the own address class, so classes sharing those share the result.
  const ids = new WeakMap<object, number>();
  let nextId = 0;
  const id = (o: object | undefined) => {
    if (!o) return -1;
    let i = ids.get(o);
    if (i === undefined) ids.set(o, (i = nextId++));
    return i;
  };
  const memo = new Map<string, Bits>();
  const directionDeny = (r: ClassRep, dir: Direction, staged: boolean): Bits => {
    const ep = r.ep;
    const key = `${dir}|${staged}|${ep.kind}|${id(dir === "ingress" ? ep.ingress : ep.egress)}|${id(ep.untracked?.[dir])}|${dir === "ingress" ? id(ep.preDNAT) : -1}|${r.addrClass}`;
    let b = memo.get(key);
    if (!b) memo.set(key, (b = evaluateDirectionDeny(ev, ir, r, dir, staged)));
    return b;
  };
  const egress = reps.map((r) => directionDeny(r, "egress", false));
  const ingress = reps.map((r) => directionDeny(r, "ingress", false));
  const out: ClassVerdicts = { verdict: combine(ir, reps, egress, ingress) };
  if (stagedClasses.some(Boolean)) {
    // A program whose staged view is itself evaluates the same; only the others run again.
    const sEgress = reps.map((r, i) => (directionSame(r.ep, ir, "egress") ? egress[i]! : directionDeny(r, "egress", true)));
    const sIngress = reps.map((r, i) => (directionSame(r.ep, ir, "ingress") ? ingress[i]! : directionDeny(r, "ingress", true)));
    // Pairs touching a staged-affected class, except those whose two deny sets are the enforced
    // ones: their staged verdict is the enforced verdict, which is no change (0 = not evaluated).
    const all = reps.map((_, b) => b);
    const inChanged = all.filter((b) => sIngress[b] !== ingress[b]);
    const onlyCols = all.filter((b) => stagedClasses[b]);
    const both = onlyCols.filter((b) => sIngress[b] !== ingress[b]);
    out.staged = combine(ir, reps, sEgress, sIngress, (a) =>
      sEgress[a] !== egress[a] ? (stagedClasses[a] ? all : onlyCols) : stagedClasses[a] ? inChanged : both,
    );
  }
  return out;
}

/** The flow composition of the header over per-class deny sets; in row a only the columns
 *  `colsOf(a)` when given (the rest stays 0). */
function combine(ir: ClusterIR, reps: ClassRep[], egress: Bits[], ingress: Bits[], colsOf?: (a: number) => number[]): Uint8Array {
  const n = reps.length;
  const words = egress[0]?.length ?? 0;
  // Flat copies: one typed array each, so the n² loop indexes numbers only.
  const eg = new Uint32Array(n * words);
  const ing = new Uint32Array(n * words);
  for (let a = 0; a < n; a++) {
    eg.set(egress[a]!, a * words);
    ing.set(ingress[a]!, a * words);
  }
  const addr = Int32Array.from(reps, (r) => r.addrClass);
  const host = Uint8Array.from(reps, (r) => (r.ep.kind === "host" ? 1 : 0));
  const anyHost = host.some((h) => h === 1);
  const nodeIds = new Map<string, number>();
  // Node "" never counts as the same node.
  const node = Int32Array.from(reps, (r, i) => (r.ep.node === "" ? -1 - i : (nodeIds.get(r.ep.node) ?? (nodeIds.set(r.ep.node, nodeIds.size), nodeIds.size - 1))));
  const allIfaces = Uint8Array.from(reps, (r) => (r.ep.interfaceName === "*" ? 1 : 0));
  const toHost = ir.defaultEndpointToHostAction ?? "Drop";
  const out = new Uint8Array(n * n);
  const allCols = reps.map((_, b) => b);
  for (let a = 0; a < n; a++) {
    const egBase = a * words;
    const srcAddr = addr[a]!;
    const srcOff = srcAddr >>> 5;
    const srcBit = 1 << (srcAddr & 31);
    const row = a * n;
    const cols = colsOf ? colsOf(a) : allCols;
    if (!anyHost) {
      // Workloads only: egress of a, then ingress of b.
      for (let k = 0; k < cols.length; k++) {
        const b = cols[k]!;
        const d = addr[b]!;
        const deny = (eg[egBase + (d >>> 5)]! & (1 << (d & 31))) !== 0 || (ing[b * words + srcOff]! & srcBit) !== 0;
        out[row + b] = deny ? DENY : ALLOW;
      }
      continue;
    }
    const srcHost = host[a] === 1;
    for (let k = 0; k < cols.length; k++) {
      const b = cols[k]!;
      const d = addr[b]!;
      const egressDenies = (eg[egBase + (d >>> 5)]! & (1 << (d & 31))) !== 0;
      const ingressDenies = (ing[b * words + srcOff]! & srcBit) !== 0;
      const sameNode = node[a] === node[b];
      let deny: boolean;
      if (!srcHost) {
        if (egressDenies) deny = true;
        else if (host[b] === 1 && sameNode) {
          if (toHost === "Drop") deny = true;
          else if (toHost === "Accept" || allIfaces[b] === 0) deny = false;
          else deny = ingressDenies;
        } else deny = ingressDenies;
      } else if (egressDenies && !(host[b] === 0 && sameNode)) deny = true;
      else deny = ingressDenies;
      out[row + b] = deny ? DENY : ALLOW;
    }
  }
  return out;
}
