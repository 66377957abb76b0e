/** The nft binary: JSON batches in, JSON listings out. */
import { isKernelError } from "./errors.js";
import { exec, type ExecOptions } from "./exec.js";

export type NftOptions = Pick<ExecOptions, "netns" | "timeoutMs">;

/** Runs one JSON batch (`nft -j -f -`): the kernel applies it atomically or not at all. */
export async function nftApply(batch: unknown, opts: NftOptions = {}): Promise<void> {
  await exec("nft", ["-j", "-f", "-"], { ...opts, input: JSON.stringify(batch) });
}

/** Checks a batch without applying it (`nft -c`). */
export async function nftCheck(batch: unknown, opts: NftOptions = {}): Promise<void> {
  await exec("nft", ["-c", "-j", "-f", "-"], { ...opts, input: JSON.stringify(batch) });
}

/** Runs nft text (`nft -f -`). */
export async function nftApplyText(text: string, opts: NftOptions = {}): Promise<void> {
  await exec("nft", ["-f", "-"], { ...opts, input: text });
}

/** `nft -j list table <family> <name>`; null when the table does not exist. */
export async function nftListTable(family: string, table: string, opts: NftOptions = {}): Promise<unknown | null> {
  try {
    const r = await exec("nft", ["-j", "list", "table", family, table], opts);
    return JSON.parse(r.stdout);
  } catch (e) {
    if (isKernelError(e, "NOT_FOUND")) return null;
    throw e;
  }
}

/** `nft list table` in nft's own language (for humans and golden comparisons). */
export async function nftListTableText(family: string, table: string, opts: NftOptions = {}): Promise<string | null> {
  try {
    return (await exec("nft", ["list", "table", family, table], opts)).stdout;
  } catch (e) {
    if (isKernelError(e, "NOT_FOUND")) return null;
    throw e;
  }
}

/** Any nft command line (tests, diagnostics). */
export async function nft(args: string[], opts: NftOptions & { input?: string } = {}): Promise<string> {
  return (await exec("nft", args, opts)).stdout;
}
