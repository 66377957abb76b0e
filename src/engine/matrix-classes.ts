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
import { AddressSpace, ClassEvaluator, bitsTest, failsafeFor, type Addr, type Bits, type ClassPacket, type ClusterIR, type Direction, type EndpointIR } from "../rule/index.js";

export interface ClassRep {
  ep: EndpointIR;
  /** Index of the class's address class (its address in the AddressSpace). */
  addrClass: number;
}

/** Verdict bytes: 0 not evaluated, 1 allow, 2 deny. */
export const ALLOW = 1;
export const DENY = 2;

/** Deny set of one class for one direction: hostChain / the workload's normal chain. */
function directionDeny(ev: ClassEvaluator, ir: ClusterIR, rep: ClassRep, dir: Direction, staged: boolean): Bits {
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

/**
 * Fills `out[a * n + b]` (ALLOW / DENY) for the class pairs where `want(a, b)` holds (all when
 * absent). `addrs[k]` is the representative address of address class k.
 */
export function classPairVerdicts(
  ir: ClusterIR,
  reps: ClassRep[],
  addrs: Addr[],
  packet: ClassPacket,
  opts: { staged: boolean; want?: (a: number, b: number) => boolean; space?: AddressSpace },
): Uint8Array {
  const n = reps.length;
  const space = opts.space ?? new AddressSpace(addrs, ir.sets);
  const ev = new ClassEvaluator(ir, space, packet);
  const egress = reps.map((r) => directionDeny(ev, ir, r, "egress", opts.staged));
  const ingress = reps.map((r) => directionDeny(ev, ir, r, "ingress", opts.staged));
  const toHost = ir.defaultEndpointToHostAction ?? "Drop";
  const out = new Uint8Array(n * n);
  for (let a = 0; a < n; a++) {
    const sa = reps[a]!;
    const src = sa.ep;
    const eg = egress[a]!;
    for (let b = 0; b < n; b++) {
      if (opts.want && !opts.want(a, b)) continue;
      const sb = reps[b]!;
      const dst = sb.ep;
      const sameNode = src.node !== "" && src.node === dst.node;
      let v: number;
      if (src.kind === "workload") {
        if (bitsTest(eg, sb.addrClass)) v = DENY;
        else if (dst.kind === "host" && sameNode) {
          if (toHost === "Drop") v = DENY;
          else if (toHost === "Accept" || dst.interfaceName !== "*") v = ALLOW;
          else v = bitsTest(ingress[b]!, sa.addrClass) ? DENY : ALLOW;
        } else v = bitsTest(ingress[b]!, sa.addrClass) ? DENY : ALLOW;
      } else if (!(dst.kind === "workload" && sameNode) && bitsTest(eg, sb.addrClass)) v = DENY;
      else v = bitsTest(ingress[b]!, sa.addrClass) ? DENY : ALLOW;
      out[a * n + b] = v;
    }
  }
  return out;
}
