/**
 * The from-scratch computation the incremental graph must always equal: the whole datastore through
 * Cluster.fromResources, pod interfaces named as the agent names them, then the dataplane builder
 * for one node. Tests use it as the correctness oracle; the agent uses it for `--check` self-tests.
 */
import { buildDataplane, type DataplaneConfig, type DataplaneModel } from "../../dataplane/index.js";
import { Cluster, type ClusterOptions } from "../../engine/index.js";
import type { Resource } from "../../model/index.js";
import { withWorkloadInterfaces } from "./interfaces.js";

export interface ScratchOptions {
  cluster?: ClusterOptions;
  config?: Partial<DataplaneConfig>;
  interfacePrefix?: string;
}

export function modelFromScratch(resources: readonly Resource[], node: string, opts: ScratchOptions = {}): DataplaneModel {
  const ir = withWorkloadInterfaces(Cluster.fromResources(resources, opts.cluster).ir, opts.interfacePrefix);
  return buildDataplane(ir, node, { config: opts.config });
}
