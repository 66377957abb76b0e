/**
 * Which entries of a ClusterIR's keyed records changed since the IR it was made from. A producer
 * that builds each IR from the previous one (the agent's CalcGraph) knows the keys it touched;
 * recording them lets a consumer that keeps per-key state (the dataplane builder) skip comparing
 * every entry of 10k-key records by identity. A hint, never required: a consumer whose previous
 * IR is not the recorded base compares the records as before.
 *
 * Contract: every key whose entry differs by identity between base and IR (added, removed or
 * replaced) is listed; listing more is allowed (the consumer then compares those entries).
 * The base is held weakly, so a chain of IRs does not keep its whole history alive.
 */
import type { ClusterIR } from "./ir.js";

export interface IrChanges {
  policies: readonly string[];
  profiles: readonly string[];
  sets: readonly string[];
}

const changes = new WeakMap<ClusterIR, { base: WeakRef<ClusterIR>; changes: IrChanges }>();

export function recordIrChanges(ir: ClusterIR, base: ClusterIR, c: IrChanges): void {
  changes.set(ir, { base: new WeakRef(base), changes: c });
}

/** The keys that changed from `base` to `ir`, if its producer recorded them against that very IR. */
export function irChangesFrom(ir: ClusterIR, base: ClusterIR): IrChanges | undefined {
  const c = changes.get(ir);
  return c && c.base.deref() === base ? c.changes : undefined;
}
