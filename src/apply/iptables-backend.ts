/**
 * The iptables + ipset backend (`--dataplane iptables`): the same Backend/Kernel pair as nftables,
 * rendered from the same dataplane model by render/iptables.
 *
 * A batch is a plan of steps (ipset restore → iptables-restore → ip6tables-restore → ipset
 * restore; see render/iptables/plan.ts). Deltas are planned from the previous and next renders
 * alone. A full replace and a removal must also delete what the kernel holds beyond the model
 * (stale cali-* chains, duplicate jumps, old sets), so those batches are planned by the kernel
 * object right before running, from a fresh listing.
 *
 * Each step is atomic (iptables-restore commits each table at once; ipset restore is applied line by
 * line but the plans only ever add, swap or destroy whole sets there), the sequence is not. When a
 * step fails the applier forgets what it believes is programmed and retries with a full replace,
 * which converges from any mix.
 *
 * Which iptables: `variant` "default" runs iptables-restore / iptables-save, i.e. whatever the
 * host's alternatives point at (iptables-nft on Debian 12); "legacy" and "nft" pick
 * iptables-legacy-* / iptables-nft-* explicitly. Use the variant the rest of the host uses:
 * rules of both variants on one hook both apply, and each tool lists only its own.
 */
import type { Family } from "../dataplane/index.js";
import { encodeIpsetLines, encodeIpsetProtocolQuery, exec, IpsetShapes, ipsetErrno, RelayPath, type ExecOptions } from "../kernel/index.js";
import { iptables } from "../render/index.js";
import type { Backend } from "./backend.js";
import { relayOptions, type Kernel } from "./kernel.js";

export type IptablesVariant = "default" | "legacy" | "nft";

export type IptBatch =
  | { kind: "steps"; steps: iptables.IptStep[] }
  | { kind: "full"; rendered: iptables.IptRendered }
  | { kind: "remove" };

export interface IptablesKernelOptions extends Pick<ExecOptions, "netns" | "timeoutMs"> {
  variant?: IptablesVariant;
  /** Seconds iptables-restore waits for the xtables lock (/run/xtables.lock is host-wide, shared
   *  by every namespace). */
  lockWaitSeconds?: number;
  families?: Family[];
  /**
   * ipset steps made only of `add` / `del` lines go to the kernel as netlink messages through
   * native/nfnl-relay (src/kernel/ipset-nl.ts) instead of `ipset restore`; off, or when the relay
   * is not built or cannot run, the ipset tool runs them. Default on.
   */
  netlinkElements?: boolean;
  /** The relay binary (tests). */
  relayBinary?: string;
}

export function iptablesBinaries(variant: IptablesVariant, family: Family): { restore: string; save: string } {
  const base = family === 4 ? "iptables" : "ip6tables";
  const v = variant === "default" ? "" : `-${variant}`;
  return { restore: `${base}${v}-restore`, save: `${base}${v}-save` };
}

export class IptablesKernel implements Kernel {
  private readonly variant: IptablesVariant;
  private readonly families: Family[];
  /** Steps run by the last apply() (for tests and diagnostics). */
  lastSteps: iptables.IptStep[] = [];
  /** Types of the namespace's sets, for encoding elements (learned from ipset restore and save). */
  private readonly shapes = new IpsetShapes();
  private readonly relay: RelayPath;

  constructor(private readonly opts: IptablesKernelOptions = {}) {
    this.variant = opts.variant ?? "default";
    this.families = opts.families ?? [4, 6];
    this.relay = new RelayPath({ ...relayOptions(opts), probe: encodeIpsetProtocolQuery, describeError: ipsetErrno, enabled: opts.netlinkElements !== false });
  }

  private execOpts(input?: string): ExecOptions {
    const o: ExecOptions = {};
    if (this.opts.netns !== undefined) o.netns = this.opts.netns;
    if (this.opts.timeoutMs !== undefined) o.timeoutMs = this.opts.timeoutMs;
    if (input !== undefined) o.input = input;
    return o;
  }

  async apply(batch: unknown): Promise<void> {
    const b = batch as IptBatch;
    let steps: iptables.IptStep[];
    if (b.kind === "steps") steps = b.steps;
    else {
      const state = iptables.parseState(await this.list());
      steps = b.kind === "full" ? iptables.planFull(b.rendered, state) : iptables.planRemove(state);
    }
    this.lastSteps = steps;
    for (const s of steps) await this.run(s);
  }

  async run(step: iptables.IptStep): Promise<void> {
    if (step.tool === "ipset") {
      if (await this.ipsetByNetlink(step.input)) return;
      try {
        await exec("ipset", ["restore", "-exist"], this.execOpts(step.input));
      } catch (e) {
        // Lines before the failing one took effect: learn the sets afresh from the next listing.
        this.shapes.clear();
        throw e;
      }
      this.shapes.learnRestore(step.input);
      if (this.shapes.size > 0) this.relay.warm();
      return;
    }
    const { restore } = iptablesBinaries(this.variant, step.family);
    await exec(restore, ["--noflush", "--wait", String(this.opts.lockWaitSeconds ?? 10)], this.execOpts(step.input));
  }

  /** add/del-only ipset input through the relay; false when the ipset tool must run it. */
  private ipsetByNetlink(input: string): Promise<boolean> {
    if (this.shapes.size === 0) return Promise.resolve(false);
    return this.relay.send(
      (seq) => encodeIpsetLines(input, this.shapes, seq),
      () => this.shapes.clear(),
    );
  }

  /** iptables-save of every table per family, and ipset save. */
  async list(): Promise<iptables.IptListing> {
    const save: iptables.IptListing["save"] = {};
    for (const f of this.families) save[f] = (await exec(iptablesBinaries(this.variant, f).save, [], this.execOpts())).stdout;
    const ipset = (await exec("ipset", ["save"], this.execOpts())).stdout;
    this.shapes.learnSave(ipset);
    return { save, ipset };
  }

  async close(): Promise<void> {
    await this.relay.close();
  }

  netlinkStatus(): { batches: number; unavailable: string | undefined } {
    return { batches: this.relay.batches, unavailable: this.relay.unavailable };
  }

  /** The relay's counters: ipset steps it carried, processes started, why it is not used. */
  get relayStats(): { batches: number; starts: number; pid: number | undefined; unavailable: string | undefined } {
    return this.relay.stats;
  }
}

/** The Backend half: batches for IptablesKernel and the drift digest. */
export function iptablesBackend(options: Partial<iptables.IptOptions> = {}): Backend<iptables.IptDigest> {
  type Model = Parameters<typeof iptables.render>[0];
  const r = (m: Model, from?: Model) => iptables.renderCached(m, options, from);
  return {
    name: "iptables",
    full: (m): IptBatch => ({ kind: "full", rendered: r(m) }),
    // `from` first: the render of `to` can then reuse its tables when no chain changed.
    delta: (_ops, to, from): IptBatch => {
      const before = r(from);
      return { kind: "steps", steps: iptables.planDelta(before, r(to, from)) };
    },
    remove: (): IptBatch => ({ kind: "remove" }),
    expected: (m) => iptables.expectedDigest(r(m)),
    parse: (l) => iptables.stateDigest(iptables.parseState(l as iptables.IptListing)),
    compare: (e, a) => iptables.diffDigest(e, a),
  };
}
