/**
 * The kernel as the applier sees it: one atomic batch in, one listing of our table out. NftKernel
 * talks to the real nft binary (optionally inside a network namespace); FakeKernel (fake-kernel.ts)
 * interprets the same JSON batches in memory with the same all-or-nothing behaviour.
 */
import { nftApply, nftListTable, type NftOptions } from "../kernel/index.js";
import { nft as nftRender } from "../render/index.js";

export interface Kernel {
  /** Applies one batch atomically: every command or none. Throws KernelError. */
  apply(batch: unknown): Promise<void>;
  /** The backend's listing of tortie's table, or null when the table does not exist. */
  list(): Promise<unknown | null>;
}

export interface NftKernelOptions extends NftOptions {
  target?: nftRender.NftTarget;
}

export class NftKernel implements Kernel {
  private readonly target: nftRender.NftTarget;
  constructor(private readonly opts: NftKernelOptions = {}) {
    this.target = opts.target ?? nftRender.DEFAULT_TARGET;
  }
  apply(batch: unknown): Promise<void> {
    return nftApply(batch, this.opts);
  }
  list(): Promise<unknown | null> {
    return nftListTable(this.target.family, this.target.table, this.opts);
  }
}
