/**
 * Loading and validation of user manifests (YAML/JSON → typed, defaulted resources + issues).
 * See docs/validation.md for the rules, the issue codes and the decisions taken where Calico
 * versions differ.
 */
export {
  loadManifests,
  type LoadOptions,
  type LoadResult,
  type LoadedResource,
  type ManifestInput,
  type ManifestPath,
  type ManifestText,
  type ResourceSource,
} from "./load.js";
export { validateResource, validateResources, resolveKind, findDuplicates, CRD_API_ALIAS } from "./validate.js";
export { applyDefaults, defaultPolicyTypes, stripNulls, LABEL_TIER, type DefaultsOptions } from "./defaults.js";
export { parseSource, locate, DEFAULT_LIMITS, type ParseLimits, type ParsedSource, type ParsedDocument } from "./yaml-source.js";
export { parseCalicoPort, portNameProblem, protocolProblem, type ParsedPort } from "./ports.js";
export { qualifiedNameProblem, labelValueProblem } from "./labels.js";
export { dns1123LabelProblem, dns1123SubdomainProblem } from "./names.js";
export { BUILTIN_TIERS } from "./policy.js";
