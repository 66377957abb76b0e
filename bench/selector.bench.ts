/**
 * Selector throughput: compiled matching over 10-label maps, parsing, canonical id.
 * Target (brief): ≥ 5 million matches/s on one core for a 3-clause selector.
 */
import { parseSelector } from "../src/selector/index.js";
import type { BenchResult } from "./types.js";

function labelMaps(n: number): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (let i = 0; i < n; i++) {
    const m: Record<string, string> = {};
    for (let k = 0; k < 10; k++) m[`label-${k}`] = `v${(i + k) % 7}`;
    out.push(m);
  }
  return out;
}

/** Runs `fn` over the maps repeatedly for ~`ms` milliseconds, returns calls per second. */
function rate(fn: (l: Record<string, string>) => boolean, maps: Array<Record<string, string>>, ms: number): { perSec: number; hits: number } {
  let calls = 0;
  let hits = 0;
  const deadline = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  const start = process.hrtime.bigint();
  let now = start;
  while (now < deadline) {
    for (let r = 0; r < 20; r++) for (let i = 0; i < maps.length; i++) if (fn(maps[i])) hits++;
    calls += 20 * maps.length;
    now = process.hrtime.bigint();
  }
  return { perSec: calls / (Number(now - start) / 1e9), hits };
}

export async function run(): Promise<BenchResult[]> {
  const maps = labelMaps(1024);
  const results: BenchResult[] = [];
  const cases: Array<[string, string]> = [
    ["match, 3 clauses (==, in, has)", `label-0 == "v3" && label-1 in {"v1", "v4", "v5"} && has(label-9)`],
    ["match, 3 clauses (!=, not in, starts with)", `label-2 != "v0" && label-3 not in {"v2"} && label-4 starts with "v"`],
    ["match, 3-way ||", `label-0 == "v0" || label-1 == "v0" || label-2 == "v0"`],
    ["match, all()", `all()`],
  ];
  for (const [name, text] of cases) {
    const sel = parseSelector(text);
    rate((l) => sel.matches(l), maps, 200); // warm-up
    const { perSec, hits } = rate((l) => sel.matches(l), maps, 1000);
    results.push({ name, value: perSec, unit: "matches/s", note: `${text} (${hits > 0 ? "some" : "no"} hits)` });
  }
  {
    const sel = parseSelector(cases[0][1]);
    const { perSec } = rate(
      (l) => sel.matchesGetter((k) => l[k]),
      maps,
      1000,
    );
    results.push({ name: "matchesGetter, 3 clauses", value: perSec, unit: "matches/s", note: "lookup via closure" });
  }
  {
    const texts = [
      `label-0 == "v3" && label-1 in {"v1", "v4", "v5"} && has(label-9)`,
      `(projectcalico.org/orchestrator == 'k8s' && app in {'a', 'b'}) || !has(x) && y starts with "z"`,
    ];
    let n = 0;
    const start = process.hrtime.bigint();
    let now = start;
    while (now - start < 1_000_000_000n) {
      for (let i = 0; i < 1000; i++) parseSelector(texts[i & 1]);
      n += 1000;
      now = process.hrtime.bigint();
    }
    results.push({ name: "parse", value: n / (Number(now - start) / 1e9), unit: "selectors/s", note: "tokenize + parse + canonical print" });
  }
  {
    let n = 0;
    const start = process.hrtime.bigint();
    let now = start;
    while (now - start < 1_000_000_000n) {
      for (let i = 0; i < 1000; i++) parseSelector(`a == "${i}" && has(b)`).uniqueId();
      n += 1000;
      now = process.hrtime.bigint();
    }
    results.push({ name: "parse + uniqueId", value: n / (Number(now - start) / 1e9), unit: "selectors/s", note: "adds SHA-224" });
  }
  return results;
}
