/**
 * Kubernetes label and annotation rules, which Calico applies unchanged (SEMANTICS §5.2;
 * k8s.io/apimachinery/pkg/util/validation IsQualifiedName / IsValidLabelValue).
 */
import type { IssuePath } from "../model/index.js";
import { byteLen, quote, strEntries, type Report } from "./check-util.js";
import { dns1123SubdomainProblem } from "./names.js";

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why `key` is not a qualified name ("prefix/name" or "name"), or undefined when it is. */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) return "the prefix before '/' must not be empty";
    const p = dns1123SubdomainProblem(prefix);
    if (p) return `the prefix before '/' ${p}`;
  } else {
    return "it may contain at most one '/' (an optional DNS-subdomain prefix, then '/', then the name)";
  }
  if (name.length === 0) return "the name part must not be empty";
  if (byteLen(name) > 63) return `the name part must be at most 63 characters (it has ${byteLen(name)})`;
  if (!QUALIFIED_NAME.test(name))
    return "the name part must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit";
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (byteLen(value) > 63) return `it must be at most 63 characters (it has ${byteLen(value)})`;
  if (!LABEL_VALUE.test(value))
    return "it must be empty or consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit";
  return undefined;
}

/** Checks a label map (metadata.labels, Profile labelsToApply, selector matchLabels). */
export function checkLabels(labels: unknown, path: IssuePath, report: Report): void {
  for (const [k, v] of strEntries(labels)) {
    const kp = qualifiedNameProblem(k);
    if (kp) report("invalid-label-key", [...path, k], `invalid label key ${quote(k)}: ${kp}`);
    const vp = labelValueProblem(v);
    if (vp) report("invalid-label-value", [...path, k], `invalid value ${quote(v)} for label ${quote(k)}: ${vp}`);
  }
}

export const ANNOTATIONS_SIZE_LIMIT = 256 * 1024;

/** Annotation keys are qualified names (checked lower-cased, as Calico does); values are free. */
export function checkAnnotations(annotations: unknown, path: IssuePath, report: Report): void {
  let total = 0;
  for (const [k, v] of strEntries(annotations)) {
    const kp = qualifiedNameProblem(k.toLowerCase());
    if (kp) report("invalid-annotation-key", [...path, k], `invalid annotation key ${quote(k)}: ${kp}`);
    total += byteLen(k) + byteLen(v);
  }
  if (total > ANNOTATIONS_SIZE_LIMIT) {
    report(
      "annotations-too-large",
      path,
      `annotations total ${total} bytes, ${total - ANNOTATIONS_SIZE_LIMIT} bytes over the ${ANNOTATIONS_SIZE_LIMIT}-byte limit`,
    );
  }
}
