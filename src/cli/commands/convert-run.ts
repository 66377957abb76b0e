/** `tortie convert`'s action (registration, options and help are in convert.ts). */
import { stringify as toYaml } from "yaml";
import { convertKubernetesNetworkPolicy, legacyToNetworkPolicy } from "../../convert/index.js";
import type { Issue, K8sNetworkPolicy, StagedKubernetesNetworkPolicy } from "../../model/index.js";
import { loadManifests } from "../../validate/index.js";
import { formatIssues } from "../output.js";
import { defaultEngineIO, manifestInputs, type EngineIO } from "./engine-io.js";

export interface ConvertOptions {
  filename: string[];
  legacy?: string;
  namespace?: string;
  pod?: string;
  selector?: string;
  name?: string;
  output: string;
}

function emit(docs: unknown[], format: string, io: EngineIO): void {
  if (format === "json") {
    io.out(`${JSON.stringify(docs.length === 1 ? docs[0] : { apiVersion: "v1", kind: "List", items: docs }, null, 2)}\n`);
    return;
  }
  io.out(docs.map((d) => toYaml(d, { lineWidth: 0 })).join("---\n"));
}

export async function runConvert(opts: ConvertOptions, io: EngineIO = defaultEngineIO()): Promise<number> {
  if (opts.output !== "yaml" && opts.output !== "json") {
    io.err(`tortie convert: unknown output format "${opts.output}" (use yaml or json)\n`);
    return 1;
  }
  const haveFiles = opts.filename.length > 0;
  if (haveFiles === (opts.legacy !== undefined)) {
    io.err("tortie convert: give either -f FILE or --legacy \"<statement>\"\n");
    return 1;
  }
  if (opts.legacy !== undefined) {
    const r = legacyToNetworkPolicy(opts.legacy, {
      namespace: opts.namespace ?? "default",
      podName: opts.pod ?? "pod",
      ...(opts.selector !== undefined ? { selector: opts.selector } : {}),
      ...(opts.name !== undefined ? { name: opts.name } : {}),
    });
    if (r.issues.length > 0) io.err(formatIssues(r.issues, { color: io.color }));
    if (!r.policy) {
      io.err("tortie convert: the legacy policy is invalid (see above)\n");
      return 1;
    }
    emit([r.policy], opts.output, io);
    return 0;
  }

  const loaded = loadManifests(await manifestInputs(opts.filename, io));
  const issues: Issue[] = [...loaded.issues];
  if (loaded.issues.some((i) => i.severity === "error")) {
    io.err(formatIssues(issues, { sources: loaded.sources, color: io.color }));
    io.err("tortie convert: the input has invalid resources (see above)\n");
    return 1;
  }
  const docs: unknown[] = [];
  let failed = false;
  for (const { resource } of loaded.resources) {
    const isK8s = resource.kind === "NetworkPolicy" && resource.apiVersion === "networking.k8s.io/v1";
    if (!isK8s && resource.kind !== "StagedKubernetesNetworkPolicy") {
      docs.push(resource);
      continue;
    }
    const r = convertKubernetesNetworkPolicy(resource as K8sNetworkPolicy | StagedKubernetesNetworkPolicy);
    const label = `${resource.kind} ${resource.metadata.namespace ?? "default"}/${resource.metadata.name}`;
    issues.push(...r.issues.map((i) => (i.resource ? i : { ...i, resource: label })));
    if (r.policy) docs.push(r.policy);
    else if (r.issues.some((i) => i.severity === "error")) failed = true;
  }
  if (issues.length > 0) io.err(formatIssues(issues, { sources: loaded.sources, color: io.color }));
  if (docs.length === 0) {
    io.err("tortie convert: nothing to print\n");
    return 1;
  }
  emit(docs, opts.output, io);
  return failed ? 1 : 0;
}
