/**
 * Selector throughput: compiled matching over 10-label maps, parsing, canonical id.
 * Target (brief): ≥ 5 million matches/s on one core for a 3-clause selector.
 * Each figure is the best of 5 runs of 300 ms, to damp noise from other processes.
 */
import { parseSelector } from "../src/selector/index.js";
import { parseAst } from "../src/selector/parser.js";
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

/** Best of 5: the figure least disturbed by other processes on a shared machine. */
function best(f: () => { perSec: number; hits: number }): { perSec: number; hits: number } {
  let top = f();
  for (let i = 0; i < 4; i++) {
    const r = f();
    if (r.perSec > top.perSec) top = r;
  }
  return top;
}

function timed(body: () => void, batch: number, ms: number): number {
  let n = 0;
  const start = process.hrtime.bigint();
  let now = start;
  while (now - start < BigInt(ms) * 1_000_000n) {
    body();
    n += batch;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
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
    const { perSec, hits } = best(() => rate((l) => sel.matches(l), maps, 300));
    results.push({ name, value: perSec, unit: "matches/s", note: `${text} (${hits > 0 ? "some" : "no"} hits)` });
  }
  {
    const sel = parseSelector(cases[0][1]);
    const { perSec } = best(() => rate((l) => sel.matchesGetter((k) => l[k]), maps, 300));
    results.push({ name: "matchesGetter, 3 clauses", value: perSec, unit: "matches/s", note: "lookup via closure" });
  }
  {
    const texts = [
      `label-0 == "v3" && label-1 in {"v1", "v4", "v5"} && has(label-9)`,
      `(projectcalico.org/orchestrator == 'k8s' && app in {'a', 'b'}) || !has(x) && y starts with "z"`,
    ];
    const perSec = best(() => ({ perSec: timed(() => { for (let i = 0; i < 1000; i++) parseAst(texts[i & 1]); }, 1000, 300), hits: 0 })).perSec;
    results.push({ name: "parse (uncached)", value: perSec, unit: "selectors/s", note: "tokenize + parse to AST" });
    const cached = best(() => ({ perSec: timed(() => { for (let i = 0; i < 1000; i++) parseSelector(texts[i & 1]); }, 1000, 300), hits: 0 })).perSec;
    results.push({ name: "parseSelector (cached text)", value: cached, unit: "selectors/s", note: "repeat texts hit the parse cache" });
  }
  {
    let n = 0;
    const perSec = best(() => ({ perSec: timed(() => { for (let i = 0; i < 1000; i++) parseSelector(`a == "${i}" && has(b) && ${n++ % 1_000_000}x == ""`).uniqueId(); }, 1000, 300), hits: 0 })).perSec;
    results.push({ name: "parseSelector + uniqueId (new texts)", value: perSec, unit: "selectors/s", note: "parse, canonical print, SHA-224" });
  }
  return results;
}
