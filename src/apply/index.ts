export { Applier, ApplyError, DEFAULT_RETRY, type ApplierEvent, type ApplierOptions, type ApplyResult, type DriftReport, type RetryPolicy } from "./applier.js";
export { nftBackend, type Backend, type DeltaStep, type NftBackendOptions, type RuleEditing } from "./backend.js";
export { FakeKernel } from "./fake-kernel.js";
export { NftKernel, type Kernel, type NftKernelOptions } from "./kernel.js";
export { IptablesKernel, iptablesBackend, iptablesBinaries, type IptBatch, type IptablesKernelOptions, type IptablesVariant } from "./iptables-backend.js";
export { makeDataplane, DATAPLANE_KINDS, type DataplaneChoice, type DataplaneKind } from "./dataplane-choice.js";
