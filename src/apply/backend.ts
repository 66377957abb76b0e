/**
 * What the applier needs from a backend: full and delta batches, and a comparable digest of what
 * the kernel should hold versus what it lists. The nftables backend also edits rules in place by
 * handle (`edits`, render/nft/rule-edits.ts); the iptables+ipset backend implements the rest from
 * the same dataplane model.
 */
import type { DataplaneModel, DpOp, KernelViewOptions } from "../dataplane/index.js";
import { nft } from "../render/index.js";

export interface Backend<Digest = unknown> {
  readonly name: string;
  /** How the applier turns a model into what this backend programs (dataplane/kernel-view.ts). */
  readonly kernelView?: KernelViewOptions;
  /** One atomic batch replacing everything the backend owns with `model`. */
  full(model: DataplaneModel): unknown;
  /** One atomic batch applying `ops` (computed from `from`) to reach `to`. */
  delta(ops: DpOp[], to: DataplaneModel, from: DataplaneModel): unknown;
  /** One batch removing everything the backend owns. */
  remove(): unknown;
  expected(model: DataplaneModel): Digest;
  /** Digest of a kernel listing; null when nothing of ours exists. */
  parse(listing: unknown): Digest | null;
  /** Differences (empty = in sync). */
  compare(expected: Digest, actual: Digest | null): string[];
  /** Rule-level deltas, for a backend whose kernel names rules by handle. */
  readonly edits?: RuleEditing;
}

/** The transaction of a delta, and learn(), called once the kernel has applied it. */
export interface DeltaStep {
  batch: unknown;
  learn(): void;
}

/**
 * What a backend that edits rules by handle keeps of the kernel, and how it plans a delta with it.
 * The applier calls forget() whenever its picture of the kernel is lost, and learnListing() with
 * the listing of an in-sync drift check.
 */
export interface RuleEditing {
  plan(ops: DpOp[], to: DataplaneModel, from: DataplaneModel): DeltaStep;
  /** Learns handles from a listing of the kernel, which holds `holds`; returns chains learned. */
  learnListing(listing: unknown, holds: DataplaneModel): number;
  forget(): void;
}

export interface NftBackendOptions {
  /** Edit changed chains rule by rule (default true); false flushes and refills them. */
  ruleEdits?: boolean;
  ruleEditOptions?: nft.RuleEditOptions;
}

/** The nftables backend. It keeps what it learned of the kernel's rules: one per Applier. */
export function nftBackend(target: nft.NftTarget = nft.DEFAULT_TARGET, options: NftBackendOptions = {}): Backend<nft.NftDigest> {
  const handles = new nft.RuleHandles();
  const edits: RuleEditing = {
    plan: (ops, to, from) => nft.planRuleEdits(ops, to, from, handles, target, options.ruleEditOptions),
    learnListing: (listing, holds) => handles.learnListing(listing, holds, target),
    forget: () => handles.clear(),
  };
  return {
    ...(options.ruleEdits === false ? {} : { edits }),
    name: "nftables",
    // nft re-reads every interval set's elements before each transaction; ipset's hash:net does
    // not need the split.
    kernelView: { splitIntervalSets: true },
    full: (m) => nft.renderFull(m, target),
    delta: (ops, to, from) => nft.renderOps(ops, to, from, target),
    remove: () => nft.renderDeleteTable(target),
    expected: (m) => nft.expectedDigest(m),
    parse: (l) => nft.parseListing(l, target),
    compare: (e, a) => (a ? nft.diffDigest(e, a) : [`table ${target.family} ${target.table} missing`]),
  };
}
