/**
 * Cost-proportional-to-change helpers for patching kernel set elements between builds.
 *
 * The IR's producers patch a set's member list by copying the previous list with a few edits
 * (engine/set-delta.ts `patchSorted`), so consecutive lists share their member objects: equal runs
 * are found with `===` alone (a pointer comparison for the same string object), and only the
 * window between the first and the last difference is hashed. No order is assumed — the IR says
 * "sorted", but the engine's order (family, numeric base, prefix) is not the kernel element order
 * (string order), and a wrong assumption here would silently drop elements.
 */
import { compareStrings, editList, listArray, listLowerBound, type List } from "../model/index.js";
import { memberDeltaFrom, type MemberDelta } from "../rule/index.js";

/** Distinct members of `before` missing from `after` and of `after` missing from `before` (by
 *  `key`); `unique` false when `after` lists a key twice. `present` holds the keys of `before`,
 *  which must list each key once; it is not modified. Cost: one `===` per shared member at both
 *  ends, hashing only the window between the first and the last difference. */
export function diffLists<T>(
  beforeList: List<T>,
  afterList: List<T>,
  present: ReadonlySet<string>,
  key: (x: T) => string,
): { removed: T[]; added: T[]; unique: boolean } {
  const d = memberDeltaFrom(afterList, beforeList);
  if (d) return fromDelta(d, present, key);
  // No recorded edit: compare the lists (as arrays; a ChunkedList joins its chunks once).
  const before = listArray(beforeList);
  const after = listArray(afterList);
  const n = before.length;
  const m = after.length;
  let p = 0;
  const lim = Math.min(n, m);
  while (p < lim && before[p] === after[p]) p++;
  let s = 0;
  while (s < lim - p && before[n - 1 - s] === after[m - 1 - s]) s++;
  const oldMid = new Map<string, T>();
  for (let i = p; i < n - s; i++) oldMid.set(key(before[i]!), before[i]!);
  const newMid = new Map<string, T>();
  let unique = true;
  for (let j = p; j < m - s; j++) {
    const k = key(after[j]!);
    if (newMid.has(k)) unique = false;
    else newMid.set(k, after[j]!);
  }
  const removed: T[] = [];
  for (const [k, x] of oldMid) if (!newMid.has(k)) removed.push(x);
  const added: T[] = [];
  for (const [k, x] of newMid) {
    if (oldMid.has(k)) continue;
    // Already in the shared prefix or suffix: `after` lists it twice, it is not new.
    if (present.has(k)) unique = false;
    else added.push(x);
  }
  return { removed, added, unique };
}


/** What patchSortedStrings made an array from: diffModels reads it instead of walking two
 *  100k-element arrays to find the one element a pod add changed. The base is held weakly (a
 *  strong reference would keep every earlier array of a set alive). */
export interface ElementDelta {
  removed: readonly string[];
  added: readonly string[];
}

const elementDeltas = new WeakMap<List<string>, { base: WeakRef<List<string>>; delta: ElementDelta }>();

/** How `elements` was patched from `base`, if patchSortedStrings made it from that very array. */
export function elementDeltaFrom(elements: List<string>, base: List<string>): ElementDelta | undefined {
  const d = elementDeltas.get(elements);
  return d && d.base.deref() === base ? d.delta : undefined;
}

/** The recorded edit that made `elements` and the array it was made from, while that array lives. */
export function elementEdit(elements: List<string>): { base: List<string>; delta: ElementDelta } | undefined {
  const d = elementDeltas.get(elements);
  const base = d?.base.deref();
  return d && base ? { base, delta: d.delta } : undefined;
}

/** diffLists' answer from the producer's record of the edit: the same members by `key`, without
 *  reading the unchanged ones. A member removed and added again under the same key (another
 *  spelling) is neither; an added key that `before` keeps, or one added twice, makes `after` list
 *  a key twice. */
function fromDelta<T>(d: MemberDelta<T>, present: ReadonlySet<string>, key: (x: T) => string): { removed: T[]; added: T[]; unique: boolean } {
  const removedKeys = new Map<string, T>();
  for (const x of d.removed) removedKeys.set(key(x), x);
  const addedKeys = new Map<string, T>();
  let unique = true;
  for (const x of d.added) {
    const k = key(x);
    if (addedKeys.has(k) || (present.has(k) && !removedKeys.has(k))) unique = false;
    else addedKeys.set(k, x);
  }
  const removed: T[] = [];
  for (const [k, x] of removedKeys) if (!addedKeys.has(k)) removed.push(x);
  const added: T[] = [];
  for (const [k, x] of addedKeys) if (!removedKeys.has(k)) added.push(x);
  return { removed, added, unique };
}

/** `base` (sorted by string order, distinct) without `remove` (all present) and with `add` (none
 *  present), as a new list; `base` itself when both are empty. O(k log n) searches and an edit
 *  that copies the chunks it touches (ChunkedList) — no per-element work. The new list remembers
 *  the edit (elementDelta). */
export function patchSortedStrings(base: List<string>, remove: readonly string[], add: readonly string[]): List<string> {
  if (remove.length === 0 && add.length === 0) return base;
  const drops = remove.map((r) => listLowerBound(base, r, compareStrings)).sort((a, b) => a - b);
  const inserts = add.map((x) => ({ at: listLowerBound(base, x, compareStrings), x })).sort((e, f) => e.at - f.at || compareStrings(e.x, f.x));
  const out = editList(base, drops, inserts);
  elementDeltas.set(out, { base: new WeakRef(base), delta: { removed: [...remove], added: [...add] } });
  return out;
}
