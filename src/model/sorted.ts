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
