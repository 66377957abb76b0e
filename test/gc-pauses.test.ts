// The incremental bench's tail attribution (bench/gen/gc-pauses.ts).
import { describe, expect, it } from "vitest";
import { gcPauseLog, pauseWithin, tailShares } from "../bench/gen/gc-pauses.js";

describe("GC pause attribution", () => {
  it("counts only the part of each pause inside the window", () => {
    const pauses = [
      { start: 0, end: 10 },
      { start: 20, end: 30 },
      { start: 35, end: 36 },
    ];
    expect(pauseWithin(pauses, 5, 25)).toBe(10);
    expect(pauseWithin(pauses, 10, 20)).toBe(0);
    expect(pauseWithin(pauses, -5, 100)).toBe(21);
  });

  it("describes the slowest 1 % of changes, at least one", () => {
    const total = Array.from({ length: 250 }, (_, i) => (i === 7 ? 100 : i === 9 ? 90 : i === 11 ? 80 : 1));
    const apply = total.map((t) => t / 2);
    const windows = total.map((_, i) => ({ start: i * 1000, end: i * 1000 + total[i]! }));
    const pauses = [{ start: 7000 + 10, end: 7000 + 50 }]; // 40 ms inside the slowest change only
    const t = tailShares(total, apply, windows, pauses);
    expect(t).toEqual({ n: 3, at: [7, 9, 11], totalMs: 90, gcMs: 40 / 3, applyMs: 45 });
    expect(tailShares([5], undefined, [{ start: 0, end: 5 }], []).n).toBe(1);
  });

  it("observes this process's GC pauses", async () => {
    const log = gcPauseLog();
    try {
      // Garbage that escapes (so it is really allocated), enough for several scavenges.
      let held: object[] = [];
      for (let i = 0; i < 2_000_000; i++) {
        held.push({ i });
        if (held.length > 1000) held = [];
      }
      expect(held.length).toBeLessThanOrEqual(1001);
      const pauses = await log.settled();
      expect(pauses.length).toBeGreaterThan(0);
      for (const p of pauses) expect(p.end).toBeGreaterThanOrEqual(p.start);
    } finally {
      log.stop();
    }
  });
});
