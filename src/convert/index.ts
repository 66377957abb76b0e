/**
 * Conversions into Calico's v3 policy model: Kubernetes NetworkPolicy (docs/k8s-conversion.md) and
 * the legacy Calico Kubernetes annotation syntax (docs/legacy-syntax.md).
 */
export {
  convertKubernetesNetworkPolicy,
  k8sSelectorToCalico,
  type ConvertedPolicy,
  type K8sConversionResult,
  type SelectorKind,
  K8S_POLICY_ORDER,
  K8S_POLICY_TIER,
} from "./k8s-network-policy.js";
export { simplifyPorts, portFromString, portToSpec, type CalicoPort } from "./ports.js";
export { convertUid, goNormaliseCidr } from "./go-net.js";
export {
  parseLegacyPolicy,
  legacyToNetworkPolicy,
  LEGACY_ANNOTATION,
  type LegacyOptions,
  type LegacyPolicyOptions,
} from "./legacy.js";
