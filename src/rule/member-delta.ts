/**
 * How one member list of an IR set was made from the previous one: producers that patch a list
 * (engine/set-delta.ts patchSorted) record the edit on the new array, and consumers that keep
 * per-set state (the dataplane's set patching) read it instead of scanning two 100k-member lists
 * for the one member a pod add changed. It is a hint about an immutable array, never required: a
 * consumer whose previous list is not the recorded base compares the lists as before.
 *
 * The base is held weakly: a strong reference would chain every list to the one before it and
 * keep a set's whole history alive for as long as its newest list is.
 */
import type { List } from "../model/index.js";

export interface MemberDelta<T> {
  /** Members of the base left out (the objects themselves). */
  removed: readonly T[];
  /** Members added (none of them in the base under the producer's identity). */
  added: readonly T[];
}

const deltas = new WeakMap<List<unknown>, { base: WeakRef<List<unknown>>; delta: MemberDelta<unknown> }>();

export function recordMemberDelta<T>(members: List<T>, base: List<T>, delta: MemberDelta<T>): void {
  deltas.set(members, { base: new WeakRef(base), delta: delta as MemberDelta<unknown> });
}

/** The edit that made `members` from `base`, if its producer recorded one against that very list. */
export function memberDeltaFrom<T>(members: List<T>, base: List<T>): MemberDelta<T> | undefined {
  const d = deltas.get(members);
  return d && d.base.deref() === base ? (d.delta as MemberDelta<T>) : undefined;
}
