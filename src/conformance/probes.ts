/**
 * Turns a scenario's expectations into the flat list of probes to run, each resolved against the
 * resources of its step. Problems (unknown endpoints, an endpoint without an address in the probe's
 * family, a pattern that matches nothing) are returned as data; the loader reports them as issues.
 */
import { familyOf, endpointIPs, parseEndpoint, podNames, stepStates, type StepProblem } from "./state.js";
import { matchesPattern } from "./table.js";
import type { EndpointRef, Expectation, Probe, ProbeSpec, Scenario, ScenarioResource, Verdict } from "./types.js";

export interface ProbeProblem {
  step: number;
  path: Array<string | number>;
  message: string;
}

export function expandProbes(scenario: Scenario): { probes: Probe[]; problems: ProbeProblem[]; states: ScenarioResource[][] } {
  const stepProblems: StepProblem[] = [];
  const states = stepStates(scenario, stepProblems);
  const problems: ProbeProblem[] = stepProblems.map((p) => ({ step: p.step, path: p.path, message: p.message }));
  const probes: Probe[] = [];
  scenario.steps.forEach((step, si) => {
    const resources = states[si]!;
    const label = `step ${si}${step.name ? ` (${step.name})` : ""}`;
    step.expect.forEach((ex, ei) => {
      const where = (extra: string) => `${label}, expect[${ei}]${extra}`;
      const add = (spec: ProbeSpec, path: Array<string | number>) => {
        const src = resolve(spec.from, spec.family, resources);
        const dst = resolve(spec.to, spec.family, resources);
        for (const [side, r] of [["from", src], ["to", dst]] as const) {
          if (typeof r === "string") problems.push({ step: si, path: ["expect", ei, ...path], message: `${side} ${spec[side]}: ${r}` });
        }
        if (typeof src === "string" || typeof dst === "string") return;
        probes.push({ ...spec, step: si, origin: where(` ${spec.from} -> ${spec.to} ${describeTraffic(spec)}`), src, dst });
      };
      for (const [spec, path] of cellsOf(ex, resources, (path, message) => problems.push({ step: si, path: ["expect", ei, ...path], message }))) {
        add(spec, path);
      }
    });
  });
  return { probes, problems, states };
}

/** The probes a scenario demands, in step order. The scenario must have loaded without issues. */
export function expectedProbes(scenario: Scenario): Probe[] {
  const { probes, problems } = expandProbes(scenario);
  if (problems.length > 0) {
    throw new Error(`scenario ${scenario.name} (${scenario.file}) is inconsistent: ${problems.map((p) => `step ${p.step} ${p.path.join(".")}: ${p.message}`).join("; ")}`);
  }
  return probes;
}

export function describeTraffic(p: Pick<ProbeSpec, "protocol" | "port" | "icmp" | "family">): string {
  const fam = p.family === 6 ? " v6" : "";
  if (p.port !== undefined) return `${p.protocol}/${p.port}${fam}`;
  if (p.icmp) return `${p.protocol} type ${p.icmp.type}${p.icmp.code !== undefined ? ` code ${p.icmp.code}` : ""}${fam}`;
  return `${p.protocol}${fam}`;
}

function resolve(ref: string, family: 4 | 6, resources: ScenarioResource[]): (EndpointRef & { ip?: string }) | string {
  const ep = parseEndpoint(ref);
  if (!ep) return `"${ref}" is not an endpoint: write ns/pod, hep:<name>, wep:<ns>/<name> or an IP address`;
  const ips = endpointIPs(ep, resources);
  if (ips === undefined) return `no ${ep.kind === "pod" ? "Pod" : ep.kind === "hep" ? "HostEndpoint" : ep.kind === "wep" ? "WorkloadEndpoint" : "address"} named ${ref} at this step`;
  const ip = ips.find((a) => familyOf(a) === family);
  if (ep.kind === "ip" && ip === undefined) return `address ${ref} is not IPv${family} (set family: ${familyOf(ref)})`;
  // A host endpoint named only by interface may have no expectedIPs; the probe still names it.
  if (ip === undefined && ep.kind !== "hep") return `${ref} has no IPv${family} address`;
  return ip === undefined ? ep : { ...ep, ip };
}

type Report = (path: Array<string | number>, message: string) => void;

function* cellsOf(ex: Expectation, resources: ScenarioResource[], report: Report): Generator<[ProbeSpec, Array<string | number>]> {
  const base = (from: string, to: string, verdict: Verdict): ProbeSpec => {
    if (ex.form === "probes") throw new Error("unreachable");
    const spec: ProbeSpec = { from, to, protocol: ex.protocol, family: ex.family, verdict };
    if (ex.port !== undefined) spec.port = ex.port;
    if (ex.icmp !== undefined) spec.icmp = ex.icmp;
    return spec;
  };
  switch (ex.form) {
    case "probes":
      for (const [i, p] of ex.probes.entries()) yield [p, ["probes", i]];
      return;
    case "table":
      for (const [r, from] of ex.rows.entries()) {
        for (const [c, to] of ex.columns.entries()) {
          const v = ex.cells[r]![c]!;
          if (v !== null) yield [base(from, to, v), ["table", from, to]];
        }
      }
      return;
    case "default": {
      const among = ex.among ?? podNames(resources);
      if (among.length === 0) report(["among"], "no endpoints to build the table from: the step has no Pods and `among` is not given");
      ex.overrides.forEach((o, i) => {
        if (!among.some((e) => matchesPattern(o.from, e))) report(["overrides", i, "from"], `pattern ${o.from} matches no endpoint of the table`);
        if (!among.some((e) => matchesPattern(o.to, e))) report(["overrides", i, "to"], `pattern ${o.to} matches no endpoint of the table`);
      });
      for (const from of among) {
        for (const to of among) {
          if (from === to && !ex.includeSelf) continue;
          let v: Verdict = ex.default;
          for (const o of ex.overrides) if (matchesPattern(o.from, from) && matchesPattern(o.to, to)) v = o.verdict;
          yield [base(from, to, v), ["table", from, to]];
        }
      }
      return;
    }
  }
}
