import { describe, expect, it } from "vitest";
import { settleHeap } from "./heap.js";

describe("settleHeap", () => {
  it("runs a full collection without --expose-gc on the command line: unreachable objects are gone after it", async () => {
    let big: number[] | undefined = Array.from({ length: 100_000 }, (_, i) => i);
    const ref = new WeakRef(big);
    big = undefined;
    // A WeakRef's target stays alive until the end of the job that made it.
    await new Promise((r) => setImmediate(r));
    const r = settleHeap();
    expect(r).toBeDefined();
    expect(r!.ms).toBeGreaterThanOrEqual(0);
    expect(ref.deref()).toBeUndefined();
  });
});
