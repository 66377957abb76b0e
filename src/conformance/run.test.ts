import { describe, expect, it } from "vitest";
import { formatResult, parseScenarios, probeId, runScenario, type Evaluate, type Probe, type ScenarioResource } from "./index.js";

const scenario = parseScenarios(
  `
name: r
source: test
model: k8s-e2e
expect:
  - protocol: TCP
    port: 80
    default: allow
    overrides: [{from: "*", to: x/a, verdict: deny}]
steps:
  - name: second
    setLabels: [{kind: Pod, namespace: x, name: a, labels: {pod: z}}]
    expect:
      - probes: [{from: y/a, to: x/a, protocol: UDP, port: 81, verdict: allow, reason: "nothing selects x/a"}]
`,
  "r.yaml",
).scenarios[0]!;

/** Evaluator that answers from the scenario's own expectations, except for chosen probes. */
function oracle(wrong: (p: Probe) => boolean): Evaluate {
  return (_res, p) => (wrong(p) ? (p.verdict === "allow" ? "deny" : "allow") : p.verdict);
}

describe("runScenario", () => {
  it("passes when every verdict matches, and hands each step one stable resources array", async () => {
    const seen = new Map<number, Set<ScenarioResource[]>>();
    const r = await runScenario(scenario, (res, p) => {
      const s = seen.get(p.step) ?? new Set();
      s.add(res);
      seen.set(p.step, s);
      return { verdict: p.verdict };
    });
    expect(r).toMatchObject({ pass: true, probes: 73, failures: [] });
    expect([...seen.values()].map((s) => s.size)).toEqual([1, 1]);
    const [s0] = seen.get(0)!;
    const [s1] = seen.get(1)!;
    expect(s0).not.toBe(s1);
    // the relabel is visible in step 1 only
    const label = (res: ScenarioResource[]) => res.find((x) => x.kind === "Pod" && x.metadata.namespace === "x" && x.metadata.name === "a")!.metadata.labels!.pod;
    expect([label(s0!), label(s1!)]).toEqual(["a", "z"]);
  });

  it("reports each wrong probe with expected, got, reason and the evaluator's explanation", async () => {
    const r = await runScenario(scenario, (res, p) => {
      if (p.step === 1) return { verdict: "deny", explanation: "policy knp/x/foo denied it" };
      return oracle((q) => q.from === "y/b" && q.to === "x/a")(res, p);
    });
    expect(r.pass).toBe(false);
    expect(r.failures.map((f) => [probeId(f.probe), f.expected, f.got])).toEqual([
      ["y/b -> x/a TCP/80 @0", "deny", "allow"],
      ["y/a -> x/a UDP/81 @1", "allow", "deny"],
    ]);
    const text = formatResult(scenario, r);
    expect(text).toContain("2/73 probes wrong");
    expect(text).toContain("expected because nothing selects x/a");
    expect(text).toContain("policy knp/x/foo denied it");
  });

  it("turns evaluator exceptions and nonsense answers into 'error' failures", async () => {
    const r = await runScenario(scenario, async (_res, p) => {
      if (p.from === "x/b" && p.to === "x/a") throw new TypeError("boom");
      if (p.from === "x/c" && p.to === "x/a") return "maybe" as never;
      return p.verdict;
    });
    expect(r.failures.map((f) => [f.probe.from, f.got, f.explanation])).toEqual([
      ["x/b", "error", "TypeError: boom"],
      ["x/c", "error", 'evaluator returned "maybe"'],
    ]);
  });

  it("prints a grid of the wrong cells when a table fails in several places", async () => {
    const r = await runScenario(scenario, oracle((p) => p.to === "x/a" && p.step === 0));
    const text = formatResult(scenario, r);
    expect(r.failures).toHaveLength(8);
    expect(text).toContain("wrong cells only");
    expect(text).toMatch(/from\\to x\/a\n\s+x\/b\s+\.\n/);
  });
});
