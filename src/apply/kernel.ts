/**
 * The kernel as the applier sees it: one atomic batch in, one listing of our table out. NftKernel
 * talks to the real nft binary (optionally inside a network namespace); FakeKernel (fake-kernel.ts)
 * interprets the same JSON batches in memory with the same all-or-nothing behaviour.
 */
import { encodeChainQuery, encodeNftBatch, NetlinkRefusedError, NftSession, parseChainHandles, RelayPath, renamedChains, SessionUnavailableError, SetShapes, nftApplyJson, nftListTable, type NftOptions } from "../kernel/index.js";
import { nft as nftRender } from "../render/index.js";

export interface Kernel {
  /** Applies one batch atomically: every command or none. Throws KernelError. */
  apply(batch: unknown): Promise<void>;
  /** The backend's listing of tortie's table, or null when the table does not exist. */
  list(): Promise<unknown | null>;
  /** Releases long-lived helpers (the nft session). The kernel stays usable: they restart. */
  close?(): Promise<void>;
  /** Batches sent as netlink messages (native/nfnl-relay) so far, why the relay is not used when
   *  it cannot run (then the tools apply them: same result, slower), and why the latest batch was
   *  not encoded when the tools applied it. */
  netlinkStatus?(): { batches: number; unavailable: string | undefined; lastRefusal?: string };
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
  /**
   * Batches made only of set and map element changes go to the kernel as netlink messages through
   * native/nfnl-relay (src/kernel/nfnl.ts), skipping nft's re-read of the whole ruleset before each
   * transaction. Off, or when the relay is not built or cannot run, nft applies them. Default on.
   */
  netlinkElements?: boolean;
  /**
   * Batches of rules, chains and sets too — what a policy change sends — go as netlink messages
   * (src/kernel/nft-rules.ts), encoded as nft would; a batch with anything the encoder does not
   * reproduce exactly goes to nft. Needs netlinkElements. Default on.
   */
  netlinkRules?: boolean;
  /** The relay binary (tests). */
  relayBinary?: string;
}

export const DEFAULT_SESSION_MAX_BYTES = 1 << 20;

export class NftKernel implements Kernel {
  private readonly target: nftRender.NftTarget;
  private readonly sessionMaxBytes: number;
  private session: NftSession | undefined;
  private readonly relay: RelayPath;
  /** Layouts of our table's sets and maps, for encoding their elements (learned from nft). */
  private readonly shapes: SetShapes;
  constructor(private readonly opts: NftKernelOptions = {}) {
    this.target = opts.target ?? nftRender.DEFAULT_TARGET;
    this.sessionMaxBytes = opts.sessionMaxBytes ?? DEFAULT_SESSION_MAX_BYTES;
    this.shapes = new SetShapes(this.target.family, this.target.table);
    this.relay = new RelayPath({ ...relayOptions(opts), enabled: opts.netlinkElements !== false });
  }
  async apply(batch: unknown): Promise<void> {
    let refusedByKernel: NetlinkRefusedError | undefined;
    try {
      if (await this.applyByNetlink(batch)) return;
    } catch (e) {
      // The kernel refused the transaction, so nothing changed: let nft apply the same batch. If
      // nft succeeds where the encoder's messages failed, the encoding is wrong for this kernel,
      // and every batch goes to nft from then on. If nft fails too, the batch itself was wrong.
      if (!(e instanceof NetlinkRefusedError)) throw e;
      refusedByKernel = e;
    }
    try {
      await this.applyByNft(batch);
    } catch (e) {
      // A failed batch changed nothing, but one that timed out may have: learn layouts afresh.
      this.shapes.clear();
      throw e;
    }
    if (refusedByKernel) this.netlinkOff = `nft applied a batch the kernel refused as netlink messages (${refusedByKernel.message})`;
    this.shapes.learnBatch(batch);
    // The table now has sets whose elements the relay can change: start it before a change needs it.
    if (this.shapes.size > 0) this.relay.warm();
  }

  /** Why the latest batch was not sent as netlink messages (undefined when it was; diagnostics). */
  lastNetlinkRefusal: string | undefined;
  /** Set when nft applied a batch whose netlink messages the kernel had refused: why no batch
   *  goes by netlink any more (reported as the relay being unavailable). */
  netlinkOff: string | undefined;

  /** Batches through the relay; false when nft must apply the batch (nothing was sent). */
  private async applyByNetlink(batch: unknown): Promise<boolean> {
    if (this.opts.netlinkElements === false || this.netlinkOff !== undefined) {
      this.lastNetlinkRefusal = this.netlinkOff ?? "the netlink path is off (netlinkElements: false)";
      return false;
    }
    const withRules = this.opts.netlinkRules !== false;
    // Element changes alone need the sets' layouts, which a batch through nft or a listing shows;
    // with rules, a full load brings its own (and a change of an unknown set is refused anyway).
    if (!withRules && this.shapes.size === 0) {
      this.lastNetlinkRefusal = "the table's sets are not known yet (nothing applied or listed)";
      return false;
    }
    let chainHandles = new Map<string, bigint>();
    const renamed = withRules ? renamedChains(batch) : [];
    if (renamed.length > 0) {
      // The kernel renames a chain by handle; nft looks it up in its cache, we ask for it.
      const answer = await this.relay.query((seq) => encodeChainQuery(this.target.table, this.target.family, renamed, seq));
      if (!answer) {
        this.lastNetlinkRefusal = this.relay.unavailable ?? `the handles of renamed chains could not be read (${renamed.join(", ")})`;
        return false;
      }
      chainHandles = parseChainHandles(answer);
    }
    let refusal: string | undefined;
    const sent = await this.relay.send(
      (seq) => {
        const r = encodeNftBatch(batch, this.shapes, seq, withRules ? { chainHandles } : undefined);
        if (typeof r === "string") refusal = r;
        return r;
      },
      () => this.shapes.clear(),
    );
    if (sent) this.shapes.learnBatch(batch);
    this.lastNetlinkRefusal = sent ? undefined : (refusal ?? this.relay.unavailable);
    return sent;
  }

  private async applyByNft(batch: unknown): Promise<void> {
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
  async list(): Promise<unknown | null> {
    const listing = await nftListTable(this.target.family, this.target.table, this.opts);
    if (listing === null) this.shapes.clear();
    else this.shapes.learnListing(listing);
    return listing;
  }
  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await Promise.all([s?.close(), this.relay.close()]);
  }
  /** The session's counters (undefined before the first small batch). */
  get sessionStats(): { calls: number; starts: number; pid: number | undefined } | undefined {
    return this.session && { calls: this.session.calls, starts: this.session.starts, pid: this.session.pid };
  }
  netlinkStatus(): { batches: number; unavailable: string | undefined; lastRefusal?: string } {
    return { batches: this.relay.batches, unavailable: this.netlinkOff ?? this.relay.unavailable, ...(this.lastNetlinkRefusal !== undefined ? { lastRefusal: this.lastNetlinkRefusal } : {}) };
  }
  /** The relay's counters: batches it committed, processes started, why it is not used. */
  get relayStats(): { batches: number; starts: number; pid: number | undefined; unavailable: string | undefined } {
    const stats = this.relay.stats;
    return { ...stats, unavailable: this.netlinkOff ?? stats.unavailable };
  }
}

/** The relay options a kernel object passes on (its namespace, time limit, binary). */
export function relayOptions(o: { netns?: string; timeoutMs?: number; relayBinary?: string }): { netns?: string; timeoutMs?: number; binary?: string } {
  return { ...(o.netns !== undefined ? { netns: o.netns } : {}), ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}), ...(o.relayBinary !== undefined ? { binary: o.relayBinary } : {}) };
}
