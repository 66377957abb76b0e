/** Binary search in sorted arrays, shared by every layer that patches sorted lists in place. */

/**
 * The first index of sorted `list` whose element is not less than `x` (list.length when none):
 * by `<` for strings, numbers and bigints, or by `cmp` when given.
 */
export function lowerBound<T extends string | number | bigint>(list: readonly T[], x: T): number;
export function lowerBound<T>(list: readonly T[], x: T, cmp: (a: T, b: T) => number): number;
export function lowerBound<T>(list: readonly T[], x: T, cmp?: (a: T, b: T) => number): number {
  let lo = 0;
  let hi = list.length;
  if (cmp) {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp(list[mid]!, x) < 0) lo = mid + 1;
      else hi = mid;
    }
  } else {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
  }
  return lo;
}

/** Inserts `x` into sorted unique `list` in place (no-op when present). */
export function insertSorted<T extends string | number | bigint>(list: T[], x: T): void {
  const i = lowerBound(list, x);
  if (list[i] !== x) list.splice(i, 0, x);
}

/** Removes `x` from sorted unique `list` in place (no-op when absent). */
export function removeSorted<T extends string | number | bigint>(list: T[], x: T): void {
  const i = lowerBound(list, x);
  if (list[i] === x) list.splice(i, 1);
}

/**
 * String keys in sorted order, each with a value, patched in place as keys come and go and values
 * change. `record()` assembles a plain record in key order with one loop over two arrays: at 100k
 * pods the agent re-assembles records of thousands of policies and sets after a policy add, and
 * looking each value up again (a Map lookup and two property loads per key) was most of that.
 * A key whose value is undefined is left out of the record.
 */
export class SortedRecord<V> {
  private readonly keyList: string[] = [];
  private readonly values: Array<V | undefined> = [];

  /** Keys in sorted order (read-only view of the live list). */
  get keys(): readonly string[] {
    return this.keyList;
  }

  /** Replaces every key (sorted here once, not inserted one by one) and value. */
  reset(keys: Iterable<string>, valueOf: (key: string) => V | undefined): void {
    const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.keyList.length = 0;
    this.values.length = 0;
    for (const k of sorted) {
      this.keyList.push(k);
      this.values.push(valueOf(k));
    }
  }

  /** Adds `key` (value undefined until set); no-op when present. */
  add(key: string): void {
    const i = lowerBound(this.keyList, key);
    if (this.keyList[i] === key) return;
    this.keyList.splice(i, 0, key);
    this.values.splice(i, 0, undefined);
  }

  /** Removes `key` and its value; no-op when absent. */
  remove(key: string): void {
    const i = lowerBound(this.keyList, key);
    if (this.keyList[i] !== key) return;
    this.keyList.splice(i, 1);
    this.values.splice(i, 1);
  }

  /** Sets the value of a present key; ignored for an absent one. */
  set(key: string, value: V | undefined): void {
    const i = lowerBound(this.keyList, key);
    if (this.keyList[i] === key) this.values[i] = value;
  }

  record(): Record<string, V> {
    const out: Record<string, V> = {};
    const keys = this.keyList;
    const values = this.values;
    for (let i = 0; i < keys.length; i++) {
      const v = values[i];
      if (v !== undefined) out[keys[i]!] = v;
    }
    return out;
  }
}
