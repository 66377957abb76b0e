/**
 * How one member list of an IR set was made from the previous one: producers that patch a list
 * (engine/set-delta.ts patchSorted) record the edit on the new array, and consumers that keep
 * per-set state (the dataplane's set patching) read it instead of scanning two 100k-member lists
 * for the one member a pod add changed. It is a hint about an immutable array, never required: a
 * consumer whose previous list is not the recorded `base` compares the lists as before.
 */
export interface MemberDelta<T> {
  /** The list this one was made from. */
  base: readonly T[];
  /** Members of `base` left out (the objects themselves). */
  removed: readonly T[];
  /** Members added (none of them in `base` under the producer's identity). */
  added: readonly T[];
}

const deltas = new WeakMap<readonly unknown[], MemberDelta<unknown>>();

export function recordMemberDelta<T>(members: readonly T[], delta: MemberDelta<T>): void {
  deltas.set(members, delta as MemberDelta<unknown>);
}

export function memberDelta<T>(members: readonly T[]): MemberDelta<T> | undefined {
  return deltas.get(members) as MemberDelta<T> | undefined;
}
