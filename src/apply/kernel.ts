/**
 * The kernel as the applier sees it: one atomic batch in, one listing of our table out. NftKernel
 * talks to the real nft binary (optionally inside a network namespace); FakeKernel (fake-kernel.ts)
 * interprets the same JSON batches in memory with the same all-or-nothing behaviour.
 */
import { NftSession, SessionUnavailableError, nftApplyJson, nftListTable, type NftOptions } from "../kernel/index.js";
import { nft as nftRender } from "../render/index.js";

export interface Kernel {
  /** Applies one batch atomically: every command or none. Throws KernelError. */
  apply(batch: unknown): Promise<void>;
  /** The backend's listing of tortie's table, or null when the table does not exist. */
  list(): Promise<unknown | null>;
  /** Releases long-lived helpers (the nft session). The kernel stays usable: they restart. */
  close?(): Promise<void>;
}

export interface NftKernelOptions extends NftOptions {
  target?: nftRender.NftTarget;
  /**
   * Batches up to this many bytes (in nft's language) go through a long-lived `nft -j -i` process
   * (src/kernel/nft-session.ts: no process start-up per change); larger ones — cold loads and
   * full replaces — through a one-shot `nft -j -f`, which is proven with 40 MB batches. 0 turns
   * the session off. Default 1 MiB.
   */
  sessionMaxBytes?: number;
}

export const DEFAULT_SESSION_MAX_BYTES = 1 << 20;

export class NftKernel implements Kernel {
  private readonly target: nftRender.NftTarget;
  private readonly sessionMaxBytes: number;
  private session: NftSession | undefined;
  constructor(private readonly opts: NftKernelOptions = {}) {
    this.target = opts.target ?? nftRender.DEFAULT_TARGET;
    this.sessionMaxBytes = opts.sessionMaxBytes ?? DEFAULT_SESSION_MAX_BYTES;
  }
  async apply(batch: unknown): Promise<void> {
    if (this.sessionMaxBytes <= 0 || this.session?.unavailable) return nftApplyJson(JSON.stringify(batch), this.opts);
    // The session is fed the batch in nft's language through an included file (nft-session.ts:
    // typed input costs ~2 µs per byte); one-shot nft keeps the JSON form.
    const text = nftRender.batchTextWithin(batch as nftRender.NftBatch, this.sessionMaxBytes);
    if (text === undefined) return nftApplyJson(JSON.stringify(batch), this.opts);
    this.session ??= new NftSession({ ...(this.opts.netns !== undefined ? { netns: this.opts.netns } : {}), ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}) });
    try {
      await this.session.applyText(text);
    } catch (e) {
      // Raised before the batch was written: one-shot nft is the whole fallback.
      if (e instanceof SessionUnavailableError) return nftApplyJson(JSON.stringify(batch), this.opts);
      throw e;
    }
  }
  list(): Promise<unknown | null> {
    return nftListTable(this.target.family, this.target.table, this.opts);
  }
  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.close();
  }
  /** The session's counters (undefined before the first small batch). */
  get sessionStats(): { calls: number; starts: number; pid: number | undefined } | undefined {
    return this.session && { calls: this.session.calls, starts: this.session.starts, pid: this.session.pid };
  }
}
