import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CHUNK, ChunkedList, editList, listArray, listAt, listLowerBound, type List } from "./chunked-list.js";

/** The edit on a plain array, the obvious way. */
function editArray<T>(items: readonly T[], drops: readonly number[], inserts: ReadonlyArray<{ at: number; x: T }>): T[] {
  const dropped = new Set(drops);
  const out: T[] = [];
  for (let i = 0; i <= items.length; i++) {
    for (const e of inserts) if (e.at === i) out.push(e.x);
    if (i < items.length && !dropped.has(i)) out.push(items[i]!);
  }
  return out;
}

/** Random edits of a list of `n` items: distinct ascending drops, ascending insert points. */
const edits = (n: number) =>
  fc.record({
    drops: fc.uniqueArray(fc.nat({ max: Math.max(0, n - 1) }), { maxLength: n === 0 ? 0 : 40 }).map((d) => d.sort((a, b) => a - b)),
    inserts: fc.array(fc.record({ at: fc.nat({ max: n }), x: fc.integer({ min: -1_000_000, max: -1 }) }), { maxLength: 40 }).map((l) => l.sort((a, b) => a.at - b.at)),
  });

describe("ChunkedList", () => {
  it("a sequence of edits gives what the same edits give on a plain array, with arrays of every size around the chunk limits", () => {
    const sizes = fc.oneof(fc.nat({ max: 20 }), fc.integer({ min: CHUNK - 3, max: CHUNK + 3 }), fc.integer({ min: 2 * CHUNK - 3, max: 2 * CHUNK + 3 }), fc.integer({ min: 3000, max: 6000 }));
    fc.assert(
      fc.property(sizes, fc.nat({ max: 12 }), fc.integer(), (n, steps, seed) => {
        let plain = Array.from({ length: n }, (_, i) => i);
        let list: List<number> = plain;
        let rand = seed;
        const next = () => (rand = (Math.imul(rand, 1103515245) + 12345) | 0) >>> 0;
        for (let s = 0; s < steps; s++) {
          const len = plain.length;
          const drops = [...new Set(Array.from({ length: next() % 30 }, () => (len === 0 ? -1 : next() % len)).filter((x) => x >= 0))].sort((a, b) => a - b);
          const inserts = Array.from({ length: next() % 30 }, () => ({ at: next() % (len + 1), x: -(next() % 1000) - 1 })).sort((a, b) => a.at - b.at);
          const before = listArray(list).slice();
          const edited: List<number> = editList(list, drops, inserts);
          plain = editArray(plain, drops, inserts);
          expect(listArray(list)).toEqual(before); // the edited list is untouched
          list = edited;
          expect(edited.length).toBe(plain.length);
          expect([...edited]).toEqual(plain);
          expect(JSON.stringify(edited)).toBe(JSON.stringify(plain));
          for (const i of [0, plain.length >> 1, plain.length - 1, plain.length, -1]) expect(listAt(edited, i)).toBe(plain[i]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("edits with generated drops and inserts, one step, from an array and from an edited list", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 3 * CHUNK }).chain((n) => fc.tuple(fc.constant(n), edits(n), edits(n))),
        ([n, e1, e2]) => {
          const base = Array.from({ length: n }, (_, i) => i);
          const once = editList(base, e1.drops, e1.inserts);
          const want1 = editArray(base, e1.drops, e1.inserts);
          expect(once.toArray()).toEqual(want1);
          const drops2 = e2.drops.filter((d) => d < want1.length);
          const inserts2 = e2.inserts.map((e) => ({ ...e, at: Math.min(e.at, want1.length) }));
          expect([...once.edit(drops2, inserts2)]).toEqual(editArray(want1, drops2, inserts2));
        },
      ),
    );
  });

  it("lowerBound agrees with a search of the plain array", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 4000 }), fc.integer({ min: -1, max: 5001 }), (raw, x) => {
        const sorted = [...new Set(raw)].sort((a, b) => a - b);
        // Several chunks: cut by an edit that drops nothing and inserts at the end.
        const list = editList(sorted, [], [{ at: sorted.length, x: 10_000 }]);
        const want = sorted.findIndex((v) => v >= x);
        expect(list.lowerBound(x, (a, b) => a - b)).toBe(want === -1 ? sorted.length : want);
        expect(listLowerBound(sorted, x, (a, b) => a - b)).toBe(want === -1 ? sorted.length : want);
      }),
    );
  });

  it("shares the chunks an edit does not touch and copies only the touched one", () => {
    const base = Array.from({ length: 100 * CHUNK }, (_, i) => i);
    const cut = ChunkedList.of(base).edit([], [{ at: 0, x: -1 }]);
    const next = cut.edit([50 * CHUNK], []);
    const chunksOf = (l: ChunkedList<number>) => (l as unknown as { chunks: number[][] }).chunks;
    const shared = chunksOf(next).filter((c) => chunksOf(cut).includes(c)).length;
    expect(chunksOf(next).length).toBe(chunksOf(cut).length);
    expect(shared).toBe(chunksOf(cut).length - 1);
  });

  it("cut: the same items in chunks, and its first edit copies one chunk", () => {
    const base = Array.from({ length: 10 * CHUNK + 7 }, (_, i) => i);
    const cut = ChunkedList.cut(base);
    expect(cut.toArray()).toEqual(base);
    expect(cut.lowerBound(5 * CHUNK + 3, (a, b) => a - b)).toBe(5 * CHUNK + 3);
    const chunksOf = (l: ChunkedList<number>) => (l as unknown as { chunks: number[][] }).chunks;
    expect(chunksOf(cut).length).toBe(11);
    const next = cut.edit([3], [{ at: 9 * CHUNK, x: -1 }]);
    expect(chunksOf(next).filter((c) => !chunksOf(cut).includes(c)).length).toBe(2);
    expect([...next]).toEqual(editArray(base, [3], [{ at: 9 * CHUNK, x: -1 }]));
    expect(ChunkedList.cut([1, 2]).toArray()).toEqual([1, 2]);
  });

  it("an empty list, edits that empty a list and inserts into an empty one", () => {
    const empty = ChunkedList.of<number>([]);
    expect(empty.length).toBe(0);
    expect([...empty]).toEqual([]);
    expect(empty.lowerBound(3, (a, b) => a - b)).toBe(0);
    const one = empty.edit([], [{ at: 0, x: 7 }, { at: 0, x: 8 }]);
    expect(one.toArray()).toEqual([7, 8]);
    const none = one.edit([0, 1], []);
    expect(none.length).toBe(0);
    expect(JSON.stringify({ members: none })).toBe('{"members":[]}');
    expect(none.edit([], []) === none).toBe(true);
  });
});
