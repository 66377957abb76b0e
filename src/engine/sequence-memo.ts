/**
 * Values keyed by a short sequence of texts and numbers, with no key text made: the sequence's
 * hash finds a bucket, and a hit is confirmed by comparing the items one by one (`===`), so two
 * sequences share a value exactly when they have equal items in the same order.
 *
 * Why not a Map keyed by the items joined into one text: at 100k pods that is a ~150-character
 * text per pod (its labels) and another for its ports, made only to be hashed once and thrown
 * away, and the join needs separator characters that no item may contain. Here nothing is made
 * per lookup but the item list, and any text is a valid item.
 */
export type SequenceItem = string | number;

interface Entry<V> {
  items: readonly SequenceItem[];
  value: V;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over the items: every character of a text, the 32-bit halves of a number, and a tag
 *  and length per item so that neighbouring items cannot run into each other. Only spreads the
 *  buckets; equality is decided by comparing items. */
export function hashSequence(items: readonly SequenceItem[]): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (typeof it === "number") {
      h = Math.imul(h ^ 0x6e, FNV_PRIME);
      h = Math.imul(h ^ (it | 0), FNV_PRIME);
      h = Math.imul(h ^ ((it / 0x100000000) | 0), FNV_PRIME);
    } else {
      h = Math.imul(h ^ 0x73, FNV_PRIME);
      h = Math.imul(h ^ it.length, FNV_PRIME);
      for (let c = 0; c < it.length; c++) h = Math.imul(h ^ it.charCodeAt(c), FNV_PRIME);
    }
  }
  return h;
}

function sameItems(a: readonly SequenceItem[], b: readonly SequenceItem[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class SequenceMemo<V> {
  /** Hash → the one entry with that hash, or the list of them (collisions are rare). */
  private readonly buckets = new Map<number, Entry<V> | Array<Entry<V>>>();

  get(items: readonly SequenceItem[], hash = hashSequence(items)): V | undefined {
    const b = this.buckets.get(hash);
    if (b === undefined) return undefined;
    if (!Array.isArray(b)) return sameItems(b.items, items) ? b.value : undefined;
    for (const e of b) if (sameItems(e.items, items)) return e.value;
    return undefined;
  }

  /** Remembers `value` for `items` (kept as given: the caller does not change the list later).
   *  Replaces the value of an equal sequence. */
  set(items: readonly SequenceItem[], value: V, hash = hashSequence(items)): void {
    const b = this.buckets.get(hash);
    if (b === undefined) {
      this.buckets.set(hash, { items, value });
      return;
    }
    const list = Array.isArray(b) ? b : [b];
    for (const e of list) {
      if (sameItems(e.items, items)) {
        e.value = value;
        return;
      }
    }
    list.push({ items, value });
    if (list !== b) this.buckets.set(hash, list);
  }

  /** Number of sequences remembered. */
  get size(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += Array.isArray(b) ? b.length : 1;
    return n;
  }
}
