import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChunkedMap, MAP_CHUNK } from "./chunked-map.js";

/** Keys from a small alphabet, so that edits hit present keys, neighbours and chunk edges often. */
const key = fc.string({ unit: fc.constantFrom("a", "b", "c", "é", "\u{1F600}", "0", "9"), minLength: 0, maxLength: 4 });
const change = fc.tuple(key, fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }));

/** Everything a reader can see of a map, compared with a plain Map of the same entries. */
function expectSame(map: ChunkedMap<number>, plain: Map<string, number>): void {
  const keys = [...plain.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  expect(map.size).toBe(plain.size);
  expect([...map.keys()]).toEqual(keys);
  expect(map.keyList()).toEqual(keys);
  expect([...map.values()]).toEqual(keys.map((k) => plain.get(k)));
  expect(map.valueList()).toEqual(keys.map((k) => plain.get(k)));
  expect([...map]).toEqual(keys.map((k) => [k, plain.get(k)]));
  const seen: Array<[string, number]> = [];
  map.forEach((v, k) => seen.push([k, v]));
  expect(seen).toEqual(keys.map((k) => [k, plain.get(k)]));
  expect(keys.map((k) => [map.get(k), map.has(k)])).toEqual(keys.map((k) => [plain.get(k), true]));
  expect(JSON.stringify(map)).toBe(JSON.stringify(Object.fromEntries(keys.map((k) => [k, plain.get(k)]))));
}

describe("ChunkedMap", () => {
  it("a sequence of batched edits reads like the same edits on a Map, and earlier versions stay as they were", () => {
    const start = fc.oneof(fc.nat({ max: 5 }), fc.integer({ min: MAP_CHUNK - 2, max: MAP_CHUNK + 2 }), fc.integer({ min: 2 * MAP_CHUNK - 2, max: 2 * MAP_CHUNK + 2 }), fc.integer({ min: 500, max: 1500 }));
    fc.assert(
      fc.property(start, fc.array(fc.array(change, { maxLength: 40 }), { maxLength: 10 }), fc.array(key, { maxLength: 20 }), (n, batches, probes) => {
        const plain = new Map<string, number>();
        for (let i = 0; i < n; i++) plain.set(`k${String(i).padStart(5, "0")}`, i % 7);
        let map = ChunkedMap.fromEntries(plain);
        const versions: Array<[ChunkedMap<number>, Map<string, number>]> = [[map, new Map(plain)]];
        for (const batch of batches) {
          const next = map.with(batch);
          let changed = false;
          for (const [k, v] of batch) {
            if (v === undefined) changed = plain.delete(k) || changed;
            else {
              changed ||= plain.get(k) !== v;
              plain.set(k, v);
            }
          }
          // Net no-ops (set to the same value, delete an absent key, or undone later in the batch)
          // may or may not return the same map; a real change never does.
          if (!changed && batch.every(([k, v]) => (v === undefined ? !versions.at(-1)![1].has(k) : versions.at(-1)![1].get(k) === v))) expect(next).toBe(map);
          map = next;
          versions.push([map, new Map(plain)]);
          expect(map.chunkCount).toBeLessThanOrEqual(5 + (2 * map.size) / MAP_CHUNK);
        }
        // changedKeys between any two versions: the keys a Map comparison finds.
        for (let i = 0; i < versions.length; i += 3) {
          const [m0, p0] = versions[i]!;
          const [m1, p1] = versions.at(-1)!;
          const want = [...new Set([...p0.keys(), ...p1.keys()])].filter((k) => p0.get(k) !== p1.get(k)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          expect(m1.changedKeys(m0)).toEqual(want);
          expect(m0.changedKeys(m1)).toEqual(want);
        }
        for (const [m, p] of versions) {
          expectSame(m, p);
          expect(probes.map((k) => [m.get(k), m.has(k)])).toEqual(probes.map((k) => [p.get(k), p.has(k)]));
        }
      }),
      { numRuns: 150 },
    );
  });

  it("an edit copies the chunks it touches, not the map", () => {
    const keys = Array.from({ length: 7000 }, (_, i) => `set-${String(i).padStart(5, "0")}`);
    const map = ChunkedMap.fromSorted(keys, keys.map((_, i) => i));
    expect(map.chunkCount).toBe(Math.ceil(7000 / MAP_CHUNK));
    const next = map.with([["set-03500", -1], ["set-03500x", 1]]);
    expect(next.get("set-03500")).toBe(-1);
    expect(map.get("set-03500")).toBe(3500);
    expect(next.size).toBe(7001);
    expect(next.chunkCount).toBe(map.chunkCount);
    // Deleting all but every 100th key, a few keys per version, leaves chunks of one or two
    // entries; the map is cut again before its index outgrows what its size needs.
    let thin = map;
    const doomed = keys.filter((_, i) => i % 100 !== 0);
    for (let i = 0; i < doomed.length; i += 7) thin = thin.with(doomed.slice(i, i + 7).map((k) => [k, undefined]));
    expect(thin.size).toBe(70);
    expect(thin.chunkCount).toBeLessThanOrEqual(4 + (2 * thin.size) / MAP_CHUNK);
    expect(thin.keyList()).toEqual(keys.filter((_, i) => i % 100 === 0));
  });

  it("compares equal (toEqual) by entries whatever the chunking, and builds from records and entries", () => {
    const keys = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, "0")}`);
    const whole = ChunkedMap.fromSorted(keys, keys.map((_, i) => i));
    let grown = ChunkedMap.empty<number>();
    for (let i = keys.length - 1; i >= 0; i--) grown = grown.set(keys[i]!, i);
    expect(grown.chunkCount).not.toBe(whole.chunkCount);
    expect(grown).toEqual(whole);
    expect(grown).not.toEqual(whole.set("k000", 9));
    expect(ChunkedMap.fromRecord(whole.toRecord())).toEqual(whole);
    expect(ChunkedMap.fromEntries([["b", 1], ["a", 2], ["b", 3]]).toRecord()).toEqual({ a: 2, b: 3 });
    expect(ChunkedMap.empty<number>().delete("x").size).toBe(0);
  });

  it("a lazy map computes each value once, on first read, in every version made from it", () => {
    const keys = Array.from({ length: 500 }, (_, i) => `k${String(i).padStart(3, "0")}`);
    const calls = new Map<string, number>();
    const lazy = ChunkedMap.lazy(keys, (k) => {
      calls.set(k, (calls.get(k) ?? 0) + 1);
      return Number(k.slice(1));
    });
    expect(lazy.size).toBe(500);
    expect(calls.size).toBe(0);
    expect(lazy.get("k007")).toBe(7);
    expect(lazy.get("k007")).toBe(7);
    expect(lazy.has("k008")).toBe(true);
    expect(calls.size).toBe(1);
    // Edits copy their chunks with every value computed; untouched chunks stay lazy and shared.
    const edited = lazy.with([["k100", -1], ["k499", undefined], ["zzz", 1]]);
    // k007, then the two touched chunks but the replaced and removed keys: k064–k127 less k100,
    // and k448–k499 less k499.
    expect(calls.size).toBe(1 + 63 + 51);
    expect(edited.get("k100")).toBe(-1);
    expect(edited.get("k250")).toBe(250);
    expect(lazy.get("k250")).toBe(250);
    expect(lazy.get("k100")).toBe(100);
    expect(JSON.stringify(edited)).toBe(JSON.stringify(Object.fromEntries([...keys.filter((k) => k !== "k499").map((k) => [k, k === "k100" ? -1 : Number(k.slice(1))]), ["zzz", 1]])));
    expect(lazy.valueList()).toEqual(keys.map((k) => Number(k.slice(1))));
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(calls.size).toBe(500);
    expect(edited.changedKeys(lazy)).toEqual(["k100", "k499", "zzz"]);
  });
});
