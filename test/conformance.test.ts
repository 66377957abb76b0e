/**
 * Runs every conformance scenario (test/scenarios, format in docs/conformance.md) through the
 * engine: the same pipeline a user's manifests take — validate, apply defaults, compile the
 * cluster — then `explain` per probe.
 *
 * KNOWN_FAILURES lists probes where the engine is known to disagree with the scenario, each with
 * the reason. They are printed and tolerated; any other failure fails the test, and so does a listed
 * probe that passes (the list must not go stale).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { expectedProbes, formatIssue, formatResult, loadScenarioDir, probeId, runScenario, type Evaluate, type Probe, type ScenarioResource } from "../src/conformance/index.js";
import { Cluster, formatExplanation, tryExplain, type ExplainQuery } from "../src/engine/index.js";
import type { Resource } from "../src/model/index.js";
import { applyDefaults, validateResources } from "../src/validate/index.js";

interface KnownFailure {
  scenario: string;
  /** probeId()s, e.g. "x/a -> y/b TCP/80 @1". */
  probes: string[];
  reason: string;
}

const KNOWN_FAILURES: KnownFailure[] = [];

const root = resolve(import.meta.dirname, "..");
const loaded = loadScenarioDir(resolve(root, "test/scenarios"));

/** "wep:ns/name" is the scenario notation; the engine names a WorkloadEndpoint "ns/name". */
function engineRef(ref: string): string {
  return ref.startsWith("wep:") ? ref.slice(4) : ref;
}

interface Compiled {
  cluster?: Cluster;
  problems: string[];
}

const compiled = new WeakMap<ScenarioResource[], Compiled>();

function compile(resources: ScenarioResource[]): Compiled {
  let c = compiled.get(resources);
  if (c) return c;
  const issues = validateResources(resources).filter((i) => i.severity === "error");
  if (issues.length > 0) c = { problems: issues.map((i) => `invalid input: ${i.resource ?? ""} ${i.path.join(".")}: ${i.message}`) };
  else {
    const cluster = Cluster.fromResources(resources.map((r) => applyDefaults(r as unknown as Resource)));
    c = { cluster, problems: cluster.issues.filter((i) => i.severity === "error").map((i) => `engine: ${i.resource ?? ""} ${i.message}`) };
  }
  compiled.set(resources, c);
  return c;
}

const evaluate: Evaluate = (resources, probe: Probe) => {
  const c = compile(resources);
  if (!c.cluster) throw new Error(c.problems.join("\n"));
  const q: ExplainQuery = { from: engineRef(probe.from), to: engineRef(probe.to), protocol: probe.protocol, family: probe.family };
  if (probe.port !== undefined) q.port = probe.port;
  if (probe.icmp !== undefined) q.icmp = probe.icmp;
  const r = tryExplain(c.cluster, q);
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join("; "));
  const text = formatExplanation(r.value);
  return { verdict: r.value.verdict, explanation: c.problems.length ? `${c.problems.join("\n")}\n${text}` : text };
};

describe("conformance scenarios", () => {
  it("every scenario file loads without problems", () => {
    expect(loaded.issues.map(formatIssue)).toEqual([]);
    expect(loaded.scenarios.length).toBeGreaterThan(60);
  });

  it("docs/conformance.md lists every scenario, and only existing ones", () => {
    const doc = readFileSync(resolve(root, "docs/conformance.md"), "utf8");
    const listed = new Set([...doc.matchAll(/^\|[^|]*\| `[^`]+` \| ([a-z0-9.-]+) \|$/gm)].map((m) => m[1]!));
    const names = new Set(loaded.scenarios.filter((s) => s.tags.includes("k8s-e2e")).map((s) => s.name));
    expect([...names].filter((n) => !listed.has(n))).toEqual([]);
    expect([...listed].filter((n) => !names.has(n))).toEqual([]);
    const files = new Set([...doc.matchAll(/`((?:calico|k8s-e2e)\/[a-z0-9.-]+\.yaml)`/g)].map((m) => m[1]!));
    const scenarioFiles = new Set(loaded.scenarios.map((s) => s.file.replace(/^.*test\/scenarios\//, "")));
    expect([...scenarioFiles].filter((f) => !files.has(f))).toEqual([]);
    expect([...files].filter((f) => !scenarioFiles.has(f))).toEqual([]);
  });

  it("the known-failure list names real scenarios and probes", () => {
    for (const k of KNOWN_FAILURES) {
      const s = loaded.scenarios.find((x) => x.name === k.scenario);
      expect(s, k.scenario).toBeDefined();
      const ids = new Set(expectedProbes(s!).map(probeId));
      expect(k.probes.filter((p) => !ids.has(p)), k.scenario).toEqual([]);
    }
  });

  for (const scenario of loaded.scenarios) {
    it(`${scenario.name}`, async () => {
      const result = await runScenario(scenario, evaluate);
      const known = new Map(KNOWN_FAILURES.filter((k) => k.scenario === scenario.name).flatMap((k) => k.probes.map((p) => [p, k.reason] as const)));
      const unexpected = result.failures.filter((f) => !known.has(probeId(f.probe)));
      const tolerated = result.failures.filter((f) => known.has(probeId(f.probe)));
      for (const f of tolerated) console.log(`known failure ${scenario.name}: ${probeId(f.probe)} expected ${f.expected}, got ${f.got} — ${known.get(probeId(f.probe))}`);
      const failedIds = new Set(result.failures.map((f) => probeId(f.probe)));
      const stale = [...known.keys()].filter((p) => !failedIds.has(p));
      const report = unexpected.length ? formatResult(scenario, { ...result, failures: unexpected }) : "";
      expect(unexpected.length, report).toBe(0);
      expect(stale, "known failures that now pass: remove them from KNOWN_FAILURES").toEqual([]);
    });
  }
});
