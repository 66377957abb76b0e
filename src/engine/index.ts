/**
 * The policy engine: resources → ClusterIR (which policy applies to which endpoint, every rule
 * compiled to set identities), and explain / matrix / diff over that IR. See docs/engine.md.
 */
export { Cluster, endpointIR, type ClusterOptions, type ClusterInput } from "./cluster.js";
export { endpointRef } from "./refs.js";
export { FlowInputError } from "./errors.js";
export { explain, tryExplain, formatExplanation, formatStages, type Explanation, type ExplainQuery, type FlowEndInfo } from "./explain.js";
export { tryMatrix, formatMatrix, type Matrix, type MatrixQuery, type Cell, type StagedChange } from "./matrix.js";
export { evaluateFlow, resolveFlow, type FlowEnd, type FlowQuery, type FlowResult, type FlowStage, type HostActionStage, type Stage } from "./flow.js";
export { DEFAULT_FAILSAFE, failsafeRules, parseFailsafeList, type FailsafeConfig, type FailsafePort } from "./failsafe.js";
export { BUILTIN_TIERS_IR, KIND_SHORT, policyKey, profileKey, defaultTypes, PolicyResolver, compilePolicy, compileProfile, buildTiers, policyHead, type CompiledPolicy, type PolicyHead, type PolicyInput } from "./policy-resolver.js";
export { compileRule, parsePorts, type RuleContext } from "./rule-compiler.js";
export { SetRegistry, calculateSets, lazySets, MemberOrder, type SetInputs } from "./set-calculator.js";
export { addrMemberText, MemberKeys, namedPortItemMembers, patchSorted, portMemberId, selectorItemMembers, type MemberKey } from "./set-delta.js";
export { LabelIndex, labelSignature, type LabelClass } from "./label-index.js";
export { policySelectorText, policySelector, entitySelectorTexts, entityRuleSelectorText, combineMatches, type PolicySelectorInput, type EntitySelectorInput } from "./selector-rewrite.js";
export {
  podToEndpoint,
  workloadEndpointRecord,
  hostEndpointRecord,
  networkSetRecord,
  namespaceProfile,
  serviceAccountProfile,
  serviceAccountProfileName,
  calicoProfile,
  defaultAllowProfile,
  effectiveLabels,
  workloadEndpointName,
  NS_PROFILE_PREFIX,
  SA_PROFILE_PREFIX,
  K8S_NS_NAME_LABEL,
  DEFAULT_ALLOW_PROFILE,
  type EndpointRecord,
  type NetworkSetRecord,
  type ProfileRecord,
  type SkippedPod,
} from "./endpoint-builder.js";
export { tryDiff, formatDiff, interestingPorts, type DiffQuery, type ClusterDiff, type PairChange } from "./diff.js";
