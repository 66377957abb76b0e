/**
 * An immutable list stored as chunks, so that an edit copies the chunks it touches and the chunk
 * index, not the whole list.
 *
 * Why: the IR and the dataplane model hand out whole member lists (a set's members, a kernel set's
 * elements), and a list must stay intact once handed out (the previous model is diffed against the
 * next, the applier keeps what it programmed). With plain arrays a pod joining a 100k-member set
 * copied 100k pointers at each layer, ~9 ms per layer per pod add at 100k pods. Here an edit copies
 * one chunk (≤ 2 × CHUNK items) and the chunk index (length / CHUNK pointers): ~1k pointers.
 *
 * Lists start as one chunk wrapping the producer's array (no copy); the first edit of a long chunk
 * cuts it into CHUNK-sized pieces (one copy, once). `List<T>` is what the IR and the model declare:
 * a plain array or a ChunkedList. Both have `length` and iterate with `for … of`; code that needs
 * indexes or array methods calls `listArray` (the array itself, or the chunks joined once and kept).
 * `JSON.stringify` prints a ChunkedList as the array it stands for, so printed IR and models are
 * the same whichever a producer made.
 */

import { lowerBound } from "./sorted.js";

/** Items per chunk after a cut; a chunk grows to 2 × CHUNK before it is cut again. */
export const CHUNK = 512;

export type List<T> = readonly T[] | ChunkedList<T>;

export class ChunkedList<T> implements Iterable<T> {
  readonly length: number;
  private readonly chunks: ReadonlyArray<readonly T[]>;
  /** ends[c] = index after chunk c; made on first indexed access. */
  private ends: Int32Array | undefined;
  /** The chunks joined, made on first listArray. */
  private flat: readonly T[] | undefined;

  private constructor(chunks: ReadonlyArray<readonly T[]>, length: number) {
    this.chunks = chunks;
    this.length = length;
    if (chunks.length === 1) this.flat = chunks[0];
  }

  /** The list of `items` (not copied: the caller must not change the array afterwards). */
  static of<T>(items: readonly T[]): ChunkedList<T> {
    return new ChunkedList(items.length > 0 ? [items] : [], items.length);
  }

  /**
   * The list of `items` already cut into chunks (one copy now), so that its first edit copies one
   * chunk, not the whole list: for long lists made when nobody waits (an agent's first snapshot),
   * whose first edit would otherwise fall on a change somebody waits for.
   */
  static cut<T>(items: readonly T[]): ChunkedList<T> {
    if (items.length <= 2 * CHUNK) return ChunkedList.of(items);
    const chunks: Array<readonly T[]> = [];
    pushCut(chunks, items);
    return new ChunkedList(chunks, items.length);
  }

  private chunkEnds(): Int32Array {
    if (this.ends) return this.ends;
    const ends = new Int32Array(this.chunks.length);
    let n = 0;
    for (let c = 0; c < this.chunks.length; c++) ends[c] = n += this.chunks[c]!.length;
    return (this.ends = ends);
  }

  /** The chunk holding index i (0 ≤ i < length). */
  private chunkOf(i: number): number {
    const ends = this.chunkEnds();
    let lo = 0;
    let hi = ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! <= i) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Item i, or undefined outside 0 … length - 1. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.length) return undefined;
    if (this.flat) return this.flat[i];
    const c = this.chunkOf(i);
    return this.chunks[c]![i - (c === 0 ? 0 : this.chunkEnds()[c - 1]!)];
  }

  /** The items as one array (made once per list and kept). */
  toArray(): readonly T[] {
    if (this.flat) return this.flat;
    const out = new Array<T>(this.length);
    let o = 0;
    for (const chunk of this.chunks) for (let i = 0; i < chunk.length; i++) out[o++] = chunk[i]!;
    return (this.flat = out);
  }

  toJSON(): readonly T[] {
    return this.toArray();
  }

  [Symbol.iterator](): Iterator<T> {
    const chunks = this.chunks;
    let c = 0;
    let i = 0;
    return {
      next(): IteratorResult<T> {
        while (c < chunks.length) {
          const chunk = chunks[c]!;
          if (i < chunk.length) return { done: false, value: chunk[i++]! };
          c++;
          i = 0;
        }
        return { done: true, value: undefined };
      },
    };
  }

  /**
   * This list with the items at `drops` (ascending, distinct indexes) left out and each insert's
   * item placed before the item now at `at` (ascending `at`; `at` = length appends; inserts at the
   * same `at` keep their order), as a new list sharing every chunk the edit does not touch.
   */
  edit(drops: readonly number[], inserts: ReadonlyArray<{ at: number; x: T }>): ChunkedList<T> {
    if (drops.length === 0 && inserts.length === 0) return this;
    const ends = this.chunkEnds();
    const chunks = this.chunks;
    const out: Array<readonly T[]> = [];
    let d = 0;
    let k = 0;
    let length = 0;
    for (let c = 0; c < chunks.length; c++) {
      const chunk = chunks[c]!;
      const start = c === 0 ? 0 : ends[c - 1]!;
      const end = ends[c]!;
      const last = c === chunks.length - 1;
      // Edits inside this chunk: drops in [start, end), inserts before an index in [start, end)
      // (the last chunk also takes inserts at `end`, the appends).
      const dEnd = upTo(drops, d, end, (x) => x);
      const kEnd = upTo(inserts, k, last ? end + 1 : end, (x) => x.at);
      if (dEnd === d && kEnd === k && chunk.length <= 2 * CHUNK) {
        out.push(chunk);
        length += chunk.length;
        continue;
      }
      const merged = new Array<T>(chunk.length - (dEnd - d) + (kEnd - k));
      let o = 0;
      for (let i = 0; i < chunk.length; i++) {
        const at = start + i;
        while (k < kEnd && inserts[k]!.at === at) merged[o++] = inserts[k++]!.x;
        if (d < dEnd && drops[d] === at) d++;
        else merged[o++] = chunk[i]!;
      }
      while (k < kEnd) merged[o++] = inserts[k++]!.x;
      pushCut(out, merged);
      length += merged.length;
    }
    if (chunks.length === 0 && k < inserts.length) {
      const merged = inserts.slice(k).map((e) => e.x);
      pushCut(out, merged);
      length += merged.length;
    }
    return new ChunkedList(out, length);
  }

  /**
   * The first index whose item is not less than `x` by `cmp` (length when none): a binary search
   * over the chunks' last items, then inside one chunk.
   */
  lowerBound(x: T, cmp: (a: T, b: T) => number): number {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = chunks[mid]!;
      if (cmp(chunk[chunk.length - 1]!, x) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo === chunks.length) return this.length;
    return (lo === 0 ? 0 : this.chunkEnds()[lo - 1]!) + lowerBound(chunks[lo]!, x, cmp);
  }
}

/** The index after the last of list[from …] whose position is below `limit`. */
function upTo<E>(list: readonly E[], from: number, limit: number, pos: (e: E) => number): number {
  let i = from;
  while (i < list.length && pos(list[i]!) < limit) i++;
  return i;
}

/** Appends `items` as chunks: whole when ≤ 2 × CHUNK, else cut into CHUNK-sized pieces; nothing
 *  when empty. */
function pushCut<T>(out: Array<readonly T[]>, items: readonly T[]): void {
  if (items.length === 0) return;
  if (items.length <= 2 * CHUNK) {
    out.push(items);
    return;
  }
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, Math.min(items.length, i + CHUNK)));
}

/** The items of a list as an array: the array itself, or the chunks joined (once per list). */
export function listArray<T>(list: List<T>): readonly T[] {
  return list instanceof ChunkedList ? list.toArray() : (list as readonly T[]);
}

/** Item i of a list (undefined outside it). */
export function listAt<T>(list: List<T>, i: number): T | undefined {
  return list instanceof ChunkedList ? list.at(i) : (list as readonly T[])[i];
}

/** The first index of sorted `list` whose item is not less than `x` by `cmp`. */
export function listLowerBound<T>(list: List<T>, x: T, cmp: (a: T, b: T) => number): number {
  return list instanceof ChunkedList ? list.lowerBound(x, cmp) : lowerBound(list as readonly T[], x, cmp);
}

/** The order of `<` on strings (UTF-16 code units): how kernel element lists are sorted. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether sorted `list` (by `cmp`, strings by `<` when omitted) holds `x`. */
export function sortedListHas(list: List<string>, x: string): boolean;
export function sortedListHas<T>(list: List<T>, x: T, cmp: (a: T, b: T) => number): boolean;
export function sortedListHas<T>(list: List<T>, x: T, cmp?: (a: T, b: T) => number): boolean {
  const i = listLowerBound(list, x, cmp ?? (compareStrings as unknown as (a: T, b: T) => number));
  return i < list.length && listAt(list, i) === x;
}

/** `list` edited (ChunkedList.edit); a plain array is wrapped first, without a copy. */
export function editList<T>(list: List<T>, drops: readonly number[], inserts: ReadonlyArray<{ at: number; x: T }>): ChunkedList<T> {
  return (list instanceof ChunkedList ? list : ChunkedList.of(list as readonly T[])).edit(drops, inserts);
}
