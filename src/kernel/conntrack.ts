/** conntrack-tools: list and delete connection-tracking entries of a namespace. */
import { isKernelError } from "./errors.js";
import { exec, type ExecOptions } from "./exec.js";

export interface ConntrackFilter {
  family?: 4 | 6;
  protocol?: "tcp" | "udp" | "icmp" | "icmpv6" | "sctp";
  src?: string;
  dst?: string;
  dport?: number;
}

function filterArgs(f: ConntrackFilter): string[] {
  const a: string[] = [];
  if (f.family) a.push("-f", f.family === 4 ? "ipv4" : "ipv6");
  if (f.protocol) a.push("-p", f.protocol);
  if (f.src) a.push("-s", f.src);
  if (f.dst) a.push("-d", f.dst);
  if (f.dport !== undefined) a.push("--dport", String(f.dport));
  return a;
}

/** Entries as conntrack prints them (one line each). */
export async function conntrackList(f: ConntrackFilter = {}, opts: Pick<ExecOptions, "netns" | "timeoutMs"> = {}): Promise<string[]> {
  const r = await exec("conntrack", ["-L", ...filterArgs(f)], opts);
  return r.stdout.split("\n").filter((l) => l.trim() !== "");
}

/** Deletes matching entries; returns true when any existed (conntrack exits 1 when none did). */
export async function conntrackDelete(f: ConntrackFilter, opts: Pick<ExecOptions, "netns" | "timeoutMs"> = {}): Promise<boolean> {
  try {
    await exec("conntrack", ["-D", ...filterArgs(f)], opts);
    return true;
  } catch (e) {
    if (isKernelError(e) && e.exitCode === 1) return false;
    throw e;
  }
}
