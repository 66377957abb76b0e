/**
 * What the applier needs from a backend: full and delta batches, and a comparable digest of what
 * the kernel should hold versus what it lists. The nftables backend is the only one today; an
 * iptables+ipset backend implements the same interface from the same dataplane model.
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
}

export function nftBackend(target: nft.NftTarget = nft.DEFAULT_TARGET): Backend<nft.NftDigest> {
  return {
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
