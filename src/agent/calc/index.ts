export { CalcGraph, type CalcDelta, type CalcOptions, type CalcStats, type CalcUpdate, type FlushResult } from "./calc-graph.js";
export { podInterfaceName, withWorkloadInterface, withWorkloadInterfaces, WORKLOAD_IFACE_PREFIX } from "./interfaces.js";
export { modelFromScratch, type ScratchOptions } from "./oracle.js";
