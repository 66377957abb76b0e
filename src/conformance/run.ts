/**
 * Runs a scenario's probes through an injected evaluator. The runner knows nothing about how a
 * verdict is reached: the engine's explain, a real kernel in network namespaces, or the lab can all
 * be plugged in, and all are judged against the same expectations.
 */
import { describeTraffic, expandProbes } from "./probes.js";
import { formatTable, type ParsedTable } from "./table.js";
import type { Probe, Scenario, ScenarioResource, Verdict } from "./types.js";

/** What an evaluator may return: the verdict, optionally with its own explanation (shown on failure). */
export type EvaluatorAnswer = Verdict | { verdict: Verdict; explanation?: string };

/**
 * Decides one probe against the resources of its step. All probes of a step receive the very same
 * `resources` array (and a different array for each step), so an evaluator can build its model once
 * per step by caching on the array's identity (e.g. in a WeakMap).
 */
export type Evaluate = (resources: ScenarioResource[], probe: Probe) => EvaluatorAnswer | Promise<EvaluatorAnswer>;

export interface ProbeFailure {
  probe: Probe;
  expected: Verdict;
  /** "error" when the evaluator threw. */
  got: Verdict | "error";
  explanation?: string;
}

export interface ScenarioResult {
  scenario: string;
  pass: boolean;
  probes: number;
  failures: ProbeFailure[];
  /** Actual verdicts of every probe, in probe order (for printing tables). */
  actual: Array<Verdict | "error">;
}

export async function runScenario(scenario: Scenario, evaluate: Evaluate): Promise<ScenarioResult> {
  const { probes, problems, states } = expandProbes(scenario);
  if (problems.length > 0) {
    throw new Error(`scenario ${scenario.name} is inconsistent (load it with loadScenarios first): ${problems[0]!.message}`);
  }
  const failures: ProbeFailure[] = [];
  const actual: Array<Verdict | "error"> = [];
  for (const probe of probes) {
    let got: Verdict | "error";
    let explanation: string | undefined;
    try {
      const ans = await evaluate(states[probe.step]!, probe);
      got = typeof ans === "string" ? ans : ans.verdict;
      if (typeof ans !== "string" && ans.explanation !== undefined) explanation = ans.explanation;
      if (got !== "allow" && got !== "deny") {
        explanation = `evaluator returned ${JSON.stringify(ans)}`;
        got = "error";
      }
    } catch (e) {
      got = "error";
      explanation = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    actual.push(got);
    if (got !== probe.verdict) {
      const f: ProbeFailure = { probe, expected: probe.verdict, got };
      if (explanation !== undefined) f.explanation = explanation;
      failures.push(f);
    }
  }
  return { scenario: scenario.name, pass: failures.length === 0, probes: probes.length, failures, actual };
}

/** A short, stable identifier for a probe, used by known-failure lists: "x/a -> y/b TCP/80 @1". */
export function probeId(p: Probe): string {
  return `${p.from} -> ${p.to} ${describeTraffic(p)} @${p.step}`;
}

/** Human-readable failure report: one line per wrong probe, plus expected/actual tables for
 *  probes that came from a table, the way the upstream e2e prints them. */
export function formatResult(scenario: Scenario, result: ScenarioResult): string {
  if (result.pass) return `${scenario.name}: ${result.probes} probes ok\n`;
  const lines = [`${scenario.name} (${scenario.file}; ${scenario.source}): ${result.failures.length}/${result.probes} probes wrong`];
  for (const f of result.failures) {
    lines.push(`  ${probeId(f.probe)}: expected ${f.expected}, got ${f.got}${f.probe.reason ? ` — expected because ${f.probe.reason}` : ""}${f.explanation ? `\n      evaluator: ${f.explanation.replace(/\n/g, "\n      ")}` : ""}`);
  }
  lines.push(...tablesOf(result));
  return lines.join("\n") + "\n";
}

function tablesOf(result: ScenarioResult): string[] {
  // Failing probes of one step and one kind of traffic, as a grid of what the evaluator said.
  const { failures } = result;
  if (failures.length < 2) return [];
  const out: string[] = [];
  const groups = new Map<string, Array<{ p: Probe; got: Verdict | "error" }>>();
  for (const f of failures) {
    const key = `step ${f.probe.step}, ${describeTraffic(f.probe)}`;
    const g = groups.get(key) ?? [];
    g.push({ p: f.probe, got: f.got });
    groups.set(key, g);
  }
  for (const [key, g] of groups) {
    if (g.length < 2) continue;
    const rows = [...new Set(g.map((x) => x.p.from))].sort();
    const columns = [...new Set(g.map((x) => x.p.to))].sort();
    const grid: ParsedTable = { rows, columns, cells: rows.map(() => columns.map(() => null)) };
    for (const x of g) {
      if (x.got === "error") continue;
      grid.cells[rows.indexOf(x.p.from)]![columns.indexOf(x.p.to)] = x.got;
    }
    out.push(`  wrong cells only, as the evaluator decided them (${key}):`);
    out.push(...formatTable(grid).trimEnd().split("\n").map((l) => "    " + l));
  }
  return out;
}
