/**
 * Shapes for data a build keeps. At 100k pods the full computation retains ~350 MB, and the young
 * generation's collector copies every retained byte (twice: within the young generation, then
 * into the old one), so bytes kept are time spent. Two V8 habits make kept data larger than it
 * looks (measured with 1M values on Node 20):
 *
 * - An array grown by push keeps the capacity V8 gave it: 17 slots for one element (+128 bytes
 *   against an array literal). `exactArray` copies a grown array into one of its length.
 * - A string made by `+` or a template literal is a tree of concatenations until something
 *   flattens it, and V8 hashes it for a Map without flattening: a key like `np/ns-1/np-42` kept
 *   that way costs 95 bytes, flat 40. `joined` makes flat strings (Array.prototype.join always
 *   writes one sequential string).
 */

/** `list` itself when empty (a literal `[]` has no backing store), else a copy of exact size. */
export function exactArray<T>(list: T[]): T[] {
  return list.length === 0 ? list : list.slice();
}

/** The parts joined by `separator`, as one flat string. */
export function joined(separator: string, ...parts: string[]): string {
  return parts.join(separator);
}

/**
 * A copy of a plain record's own enumerable string keys, in their order: what `{ ...record }`
 * gives for label maps, without the spread's cost here. Spreading a label map built key by key (its
 * later keys live in a separate property store) made V8 allocate ~1.5 KB of old-generation
 * objects per copy (measured on 20k pods' labels); a copy by assignment reuses the hidden classes
 * of earlier copies and allocates only the object.
 */
export function copyRecord<V>(record: Readonly<Record<string, V>>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const k in record) {
    if (!Object.hasOwn(record, k)) continue;
    // An own "__proto__" (JSON.parse makes one) is data, as the spread keeps it; assignment
    // would set the prototype instead.
    if (k === "__proto__") Object.defineProperty(out, k, { value: record[k], enumerable: true, writable: true, configurable: true });
    else out[k] = record[k]!;
  }
  return out;
}
