/** Conformance scenarios: load them, list the probes they demand, run them through any evaluator. */
export type {
  Verdict,
  ScenarioResource,
  ResourceRef,
  LabelChange,
  EndpointRef,
  IcmpSpec,
  ProbeSpec,
  Probe,
  Expectation,
  TableExpectation,
  DefaultExpectation,
  ProbeListExpectation,
  Override,
  Step,
  Scenario,
} from "./types.js";
export { parseScenarios, loadScenarioDir, loadScenarios, formatIssue, ScenarioLoadError, type LoadResult } from "./load.js";
export { expectedProbes, expandProbes, describeTraffic } from "./probes.js";
export { runScenario, probeId, formatResult, type Evaluate, type EvaluatorAnswer, type ProbeFailure, type ScenarioResult } from "./run.js";
export { parseTable, formatTable, matchesPattern, type ParsedTable } from "./table.js";
export { stepStates, parseEndpoint, endpointIPs, podNames, resourceKey } from "./state.js";
export { k8sE2eResources, k8sE2ePodNames, k8sE2eIPv4, k8sE2eIPv6, K8S_E2E_NODE } from "./k8s-e2e-model.js";
