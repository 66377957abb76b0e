/**
 * Keys to sets of values, storing a key's only value without a Set. The agent keeps such maps
 * with an entry per endpoint (the resources behind a key, the items contributing a set member),
 * where one value per key is the rule: a Set per entry cost ~300 bytes of hash table each, ~60 MB
 * at 100k pods.
 */
export class MultiMap<K, V extends string | number> {
  private readonly map = new Map<K, V | Set<V>>();

  /** Adds `value` under `key` (no-op when present). */
  add(key: K, value: V): void {
    const cur = this.map.get(key);
    if (cur === undefined) this.map.set(key, value);
    else if (cur instanceof Set) cur.add(value);
    else if (cur !== value) this.map.set(key, new Set([cur, value]));
  }

  /** Removes `value` from `key`; a key left without values leaves the map. */
  delete(key: K, value: V): void {
    const cur = this.map.get(key);
    if (cur === undefined) return;
    if (!(cur instanceof Set)) {
      if (cur === value) this.map.delete(key);
      return;
    }
    cur.delete(value);
    if (cur.size === 1) this.map.set(key, cur.values().next().value as V);
    else if (cur.size === 0) this.map.delete(key);
  }

  /** The values of `key` (empty when none). */
  get(key: K): Iterable<V> {
    const cur = this.map.get(key);
    return cur === undefined ? [] : cur instanceof Set ? cur : [cur];
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Number of keys. */
  get size(): number {
    return this.map.size;
  }
}
