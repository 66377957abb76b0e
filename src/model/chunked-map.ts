/**
 * An immutable map from text keys to values, kept in key order and stored as chunks, so that a new
 * version with a few keys changed copies the chunks it touches and the chunk index, not the map.
 *
 * Why: the dataplane model names its sets and chains in records of thousands of keys (~7k sets on
 * a node of a 100k-pod cluster), and a model must stay intact once handed out (the applier diffs
 * the next model against it). As plain records every pod add copied the ~7k-key set record, a
 * dictionary-mode object too large for V8's young generation: ~380 KB of old-generation garbage
 * per change, about half of what a change left for the next major GC, whose marking then landed
 * on the changes running at the time (docs/performance.md, eleventh and twelfth sessions). Here a
 * change copies one chunk (≤ 2 × MAP_CHUNK entries) and the chunk index (size / MAP_CHUNK entries).
 *
 * Order is code-unit order (`<` on strings), the order `sortedRecord` and the builders used for
 * records. `JSON.stringify` prints a ChunkedMap as the record it stands for, so printed models
 * are what they were when these were plain records. The fields are private (#), so test
 * equality (`toEqual`) compares two maps by their entries, whatever their chunking.
 */

import { lowerBound } from "./sorted.js";

/** Entries per chunk when a chunk is cut; a chunk grows to 2 × MAP_CHUNK before it is cut again. */
export const MAP_CHUNK = 64;

interface Chunk<V> {
  readonly keys: readonly string[];
  /** May hold LAZY for a value not computed yet (maps made by `ChunkedMap.lazy`). */
  readonly values: readonly V[];
}

/** Placeholder of a value `ChunkedMap.lazy` computes on first read. */
const LAZY: unknown = Symbol("not computed yet");

export class ChunkedMap<V> implements Iterable<[string, V]> {
  readonly #chunks: ReadonlyArray<Chunk<V>>;
  /** The first key of each chunk. */
  readonly #firsts: readonly string[];
  readonly #size: number;
  /** Computes a LAZY value (shared by every version made from a lazy map). */
  readonly #resolve: ((key: string) => V) | undefined;

  private constructor(chunks: ReadonlyArray<Chunk<V>>, size: number, resolve?: (key: string) => V) {
    this.#chunks = chunks;
    this.#firsts = chunks.map((c) => c.keys[0]!);
    this.#size = size;
    this.#resolve = resolve;
  }

  /**
   * The map of sorted, distinct `keys` whose values `resolve` computes on first read, once per
   * key (the engine's full computation: explain and a node's dataplane read few of its ~30k sets).
   * Reading a value fills it in place; the map stays the same map to its readers.
   */
  static lazy<V>(keys: readonly string[], resolve: (key: string) => V): ChunkedMap<V> {
    const chunks: Array<Chunk<V>> = [];
    pushCut(chunks, keys, new Array<V>(keys.length).fill(LAZY as V));
    return new ChunkedMap(chunks, keys.length, resolve);
  }

  /** Value i of chunk c, computed now if it was left for later. */
  #at(c: Chunk<V>, i: number): V {
    const v = c.values[i]!;
    if (v !== LAZY) return v;
    const value = this.#resolve!(c.keys[i]!);
    (c.values as V[])[i] = value;
    return value;
  }

  static empty<V>(): ChunkedMap<V> {
    return new ChunkedMap<V>([], 0);
  }

  /** The map of sorted, distinct `keys` and their `values` (both copied). */
  static fromSorted<V>(keys: readonly string[], values: readonly V[]): ChunkedMap<V> {
    const chunks: Array<Chunk<V>> = [];
    pushCut(chunks, keys, values);
    return new ChunkedMap(chunks, keys.length);
  }

  /** The map of a record's own entries (sorted here). */
  static fromRecord<V>(record: Readonly<Record<string, V>>): ChunkedMap<V> {
    const keys = Object.keys(record).sort(compareKeys);
    return ChunkedMap.fromSorted(
      keys,
      keys.map((k) => record[k]!),
    );
  }

  /** The map of `entries` (any order; a later entry for a key replaces an earlier one). */
  static fromEntries<V>(entries: Iterable<readonly [string, V]>): ChunkedMap<V> {
    const byKey = new Map<string, V>(entries);
    const keys = [...byKey.keys()].sort(compareKeys);
    return ChunkedMap.fromSorted(
      keys,
      keys.map((k) => byKey.get(k)!),
    );
  }

  get size(): number {
    return this.#size;
  }

  /** The chunk that holds `key` if it is present (-1 when the map is empty). */
  #chunkOf(key: string): number {
    // The last chunk whose first key is ≤ key; the first chunk for keys before every chunk.
    const i = lowerBound(this.#firsts, key);
    if (i < this.#firsts.length && this.#firsts[i] === key) return i;
    return i === 0 ? (this.#chunks.length > 0 ? 0 : -1) : i - 1;
  }

  get(key: string): V | undefined {
    const c = this.#chunkOf(key);
    if (c < 0) return undefined;
    const chunk = this.#chunks[c]!;
    const i = lowerBound(chunk.keys, key);
    return chunk.keys[i] === key ? this.#at(chunk, i) : undefined;
  }

  has(key: string): boolean {
    const c = this.#chunkOf(key);
    if (c < 0) return false;
    const keys = this.#chunks[c]!.keys;
    return keys[lowerBound(keys, key)] === key;
  }

  *keys(): IterableIterator<string> {
    for (const c of this.#chunks) yield* c.keys;
  }

  *values(): IterableIterator<V> {
    for (const c of this.#chunks) for (let i = 0; i < c.keys.length; i++) yield this.#at(c, i);
  }

  *entries(): IterableIterator<[string, V]> {
    for (const c of this.#chunks) for (let i = 0; i < c.keys.length; i++) yield [c.keys[i]!, this.#at(c, i)];
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  /** Calls `fn` for every entry in key order (no iterator objects: for the hot loops). */
  forEach(fn: (value: V, key: string) => void): void {
    for (const c of this.#chunks) for (let i = 0; i < c.keys.length; i++) fn(this.#at(c, i), c.keys[i]!);
  }

  /** Keys in order, as one new array. */
  keyList(): string[] {
    const out: string[] = [];
    for (const c of this.#chunks) for (const k of c.keys) out.push(k);
    return out;
  }

  /** Values in key order, as one new array. */
  valueList(): V[] {
    const out: V[] = [];
    for (const c of this.#chunks) for (let i = 0; i < c.keys.length; i++) out.push(this.#at(c, i));
    return out;
  }

  set(key: string, value: V): ChunkedMap<V> {
    return this.with([[key, value]]);
  }

  delete(key: string): ChunkedMap<V> {
    return this.with([[key, undefined]]);
  }

  /**
   * This map with `changes` applied: a value sets its key, `undefined` removes it (a later change
   * of the same key wins). Returns this map itself when nothing changes, so unchanged versions
   * compare equal by identity.
   */
  with(changes: Iterable<readonly [string, V | undefined]>): ChunkedMap<V> {
    const byKey = new Map<string, V | undefined>();
    for (const [k, v] of changes) byKey.set(k, v);
    if (byKey.size === 0) return this;
    const changed = [...byKey.keys()].sort(compareKeys);
    if (this.#chunks.length === 0) {
      const keys = changed.filter((k) => byKey.get(k) !== undefined);
      return keys.length === 0 ? this : new ChunkedMap(ChunkedMap.fromSorted(keys, keys.map((k) => byKey.get(k)!)).#chunks, keys.length, this.#resolve);
    }
    const chunks = this.#chunks;
    const out: Array<Chunk<V>> = [];
    let size = this.#size;
    let touched = false;
    let next = 0; // next change to place
    for (let c = 0; c < chunks.length; c++) {
      // Changes that belong to chunk c: keys before the next chunk's first key (all that remain
      // for the last chunk; the first chunk also takes keys before its own first key).
      const limit = c + 1 < chunks.length ? this.#firsts[c + 1]! : undefined;
      let end = next;
      while (end < changed.length && (limit === undefined || changed[end]! < limit)) end++;
      const chunk = chunks[c]!;
      if (end === next) {
        out.push(chunk);
        continue;
      }
      const keys: string[] = [];
      const values: V[] = [];
      let i = 0;
      let same = true;
      for (let j = next; j < end; j++) {
        const k = changed[j]!;
        const v = byKey.get(k);
        while (i < chunk.keys.length && chunk.keys[i]! < k) {
          keys.push(chunk.keys[i]!);
          values.push(chunk.values[i]!); // LAZY ones are resolved below if this chunk is copied
          i++;
        }
        const present = i < chunk.keys.length && chunk.keys[i] === k;
        if (present) {
          if (v === undefined) {
            size--;
            same = false;
          } else {
            if (v !== chunk.values[i]) same = false;
            keys.push(k);
            values.push(v);
          }
          i++;
        } else if (v !== undefined) {
          size++;
          same = false;
          keys.push(k);
          values.push(v);
        }
      }
      next = end;
      if (same) {
        out.push(chunk);
        continue;
      }
      touched = true;
      for (; i < chunk.keys.length; i++) {
        keys.push(chunk.keys[i]!);
        values.push(chunk.values[i]!);
      }
      // A copied entry must not stay LAZY: its value would be computed again for the copy.
      for (let j = 0; j < values.length; j++) if (values[j] === LAZY) values[j] = this.#resolveKey(keys[j]!, chunk);
      if (keys.length > 2 * MAP_CHUNK) pushCut(out, keys, values);
      else if (keys.length > 0) out.push({ keys, values });
    }
    if (!touched) return this;
    // Deletes can leave many small chunks; when the index has grown well past what the size
    // needs, cut the whole map again (linear, and rare enough to be amortised over the edits).
    if (out.length > 4 + (2 * size) / MAP_CHUNK) {
      const keys: string[] = [];
      const values: V[] = [];
      for (const c of out) for (let i = 0; i < c.keys.length; i++) (keys.push(c.keys[i]!), values.push(this.#at(c, i)));
      return new ChunkedMap(ChunkedMap.fromSorted(keys, values).#chunks, size, this.#resolve);
    }
    return new ChunkedMap(out, size, this.#resolve);
  }

  /**
   * Keys whose value differs between `before` and this map (present in one only, or another
   * object), in key order. Chunks the two maps share are skipped unread, so comparing a map with
   * an earlier version of itself costs what the edits between them touched, not its size.
   */
  changedKeys(before: ChunkedMap<V>): string[] {
    if (before === this) return [];
    const mine = new Set(this.#chunks);
    const theirs = new Set(before.#chunks);
    const candidates = new Set<string>();
    for (const c of this.#chunks) if (!theirs.has(c)) for (const k of c.keys) candidates.add(k);
    for (const c of before.#chunks) if (!mine.has(c)) for (const k of c.keys) candidates.add(k);
    const out: string[] = [];
    for (const k of candidates) if (this.get(k) !== before.get(k)) out.push(k);
    return out.sort(compareKeys);
  }

  /** The record this map stands for (keys in map order, as far as JavaScript keeps it). */
  toRecord(): Record<string, V> {
    const out: Record<string, V> = {};
    for (const c of this.#chunks) for (let i = 0; i < c.keys.length; i++) out[c.keys[i]!] = this.#at(c, i);
    return out;
  }

  toJSON(): Record<string, V> {
    return this.toRecord();
  }

  /** The value of `key` in `chunk` (where it is LAZY), computed and filled in there. */
  #resolveKey(key: string, chunk: Chunk<V>): V {
    return this.#at(chunk, chunk.keys.indexOf(key));
  }

  /** Values of a lazy map not computed yet (a walk over the map: for tests). */
  get pending(): number {
    let n = 0;
    for (const c of this.#chunks) for (const v of c.values) if (v === LAZY) n++;
    return n;
  }

  /** Chunks in use (for tests of the chunking). */
  get chunkCount(): number {
    return this.#chunks.length;
  }
}

/** Code-unit order, the order of every key list in the model. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function pushCut<V>(out: Array<Chunk<V>>, keys: readonly string[], values: readonly V[]): void {
  for (let i = 0; i < keys.length; i += MAP_CHUNK) out.push({ keys: keys.slice(i, i + MAP_CHUNK), values: values.slice(i, i + MAP_CHUNK) });
}
