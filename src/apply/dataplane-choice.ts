/**
 * `--dataplane nftables|iptables` in one place: the Kernel/Backend pair an Applier needs for each
 * kind, so the agent, the lab and the CLI choose a backend the same way.
 */
import type { Backend } from "./backend.js";
import { nftBackend } from "./backend.js";
import { IptablesKernel, iptablesBackend, type IptablesVariant } from "./iptables-backend.js";
import { NftKernel, type Kernel } from "./kernel.js";

export const DATAPLANE_KINDS = ["nftables", "iptables"] as const;
export type DataplaneKind = (typeof DATAPLANE_KINDS)[number];

export interface DataplaneChoice {
  kind: DataplaneKind;
  /** Run the tools inside this network namespace. */
  netns?: string;
  /** iptables only: which iptables binaries (docs/iptables.md, "Which iptables"). */
  iptablesVariant?: IptablesVariant;
  timeoutMs?: number;
}

export function makeDataplane(c: DataplaneChoice): { kernel: Kernel; backend: Backend } {
  const common = { ...(c.netns !== undefined ? { netns: c.netns } : {}), ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}) };
  switch (c.kind) {
    case "nftables":
      return { kernel: new NftKernel(common), backend: nftBackend() };
    case "iptables":
      return { kernel: new IptablesKernel({ ...common, variant: c.iptablesVariant ?? "default" }), backend: iptablesBackend() as Backend };
  }
}
