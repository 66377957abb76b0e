export * from "./model.js";
export * from "./naming.js";
export { buildDataplane, checkReferences, DataplaneBuilder, type BuildOptions, type BuildStats } from "./build.js";
export { collapseCidrs, normRanges } from "./compile.js";
export { changesSince, diffModels, modelCounts, summarizeOps, type DpOp, type ModelCounts } from "./diff.js";
export { kernelView, KernelViewer, type KernelViewOptions } from "./kernel-view.js";
export { flowLogResolver } from "./flowlog.js";
export { elementEdit, patchSortedStrings, type ElementDelta } from "./set-patch.js";
