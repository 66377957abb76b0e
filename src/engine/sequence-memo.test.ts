import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashSequence, SequenceMemo, type SequenceItem } from "./sequence-memo.js";

const item = fc.oneof(fc.constantFrom<SequenceItem>("", "a", "ab", "b", "\u0001", "80", 80, 0, -1, 2 ** 32 + 80, 0.5), fc.string({ maxLength: 4 }), fc.integer());
const sequence = fc.array(item, { maxLength: 6 });

describe("SequenceMemo", () => {
  it("finds exactly the sequences with equal items in the same order", () => {
    fc.assert(
      fc.property(fc.array(sequence, { maxLength: 12 }), sequence, (stored, probe) => {
        const memo = new SequenceMemo<number>();
        const reference = new Map<string, number>();
        stored.forEach((s, i) => {
          memo.set(s, i);
          reference.set(JSON.stringify(s), i);
        });
        for (const s of [...stored, probe]) expect(memo.get([...s])).toBe(reference.get(JSON.stringify(s)));
        expect(memo.size).toBe(reference.size);
      }),
      { numRuns: 1000 },
    );
  });

  it("keeps sequences apart when their hashes collide", () => {
    const memo = new SequenceMemo<string>();
    const seqs: SequenceItem[][] = [["a", "b"], ["ab"], ["a", "b", ""], [80], ["80"], []];
    for (const s of seqs) memo.set(s, JSON.stringify(s), 7);
    for (const s of seqs) expect(memo.get([...s], 7)).toBe(JSON.stringify(s));
    expect(memo.get(["b", "a"], 7)).toBeUndefined();
    memo.set(["ab"], "again", 7);
    expect(memo.get(["ab"], 7)).toBe("again");
    expect(memo.size).toBe(seqs.length);
  });

  it("hashes the item boundaries and kinds, not only the characters", () => {
    expect(hashSequence(["a", "b"])).not.toBe(hashSequence(["ab"]));
    expect(hashSequence([80])).not.toBe(hashSequence(["80"]));
    expect(hashSequence([1])).not.toBe(hashSequence([2 ** 32 + 1]));
    expect(hashSequence(["x", "y"])).toBe(hashSequence(["x", "y"]));
  });
});
