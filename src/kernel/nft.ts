/** The nft binary: JSON batches in, JSON listings out. */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKernelError } from "./errors.js";
import { exec, type ExecOptions } from "./exec.js";

// nft -f - opens /dev/stdin, which fails with ENXIO when stdin is a socket — and Node's child
// stdio "pipes" are socketpairs. Batches therefore go through a private temp file.
let batchDir: string | undefined;
function withBatchFile<T>(content: string, fn: (path: string) => Promise<T>): Promise<T> {
  batchDir ??= mkdtempSync(join(tmpdir(), "tortie-nft-"));
  const p = join(batchDir, `${randomBytes(6).toString("hex")}.nft`);
  writeFileSync(p, content);
  return fn(p).finally(() => rmSync(p, { force: true }));
}

export type NftOptions = Pick<ExecOptions, "netns" | "timeoutMs">;

/** Runs one JSON batch (`nft -j -f <file>`): the kernel applies it atomically or not at all. */
export async function nftApply(batch: unknown, opts: NftOptions = {}): Promise<void> {
  await nftApplyJson(JSON.stringify(batch), opts);
}

/** nftApply for a batch already serialised to JSON. */
export async function nftApplyJson(json: string, opts: NftOptions = {}): Promise<void> {
  await withBatchFile(json, (p) => exec("nft", ["-j", "-f", p], opts));
}

/** Checks a batch without applying it (`nft -c`). */
export async function nftCheck(batch: unknown, opts: NftOptions = {}): Promise<void> {
  await withBatchFile(JSON.stringify(batch), (p) => exec("nft", ["-c", "-j", "-f", p], opts));
}

/** Runs nft text (`nft -f`). */
export async function nftApplyText(text: string, opts: NftOptions = {}): Promise<void> {
  await withBatchFile(text, (p) => exec("nft", ["-f", p], opts));
}

/** `nft -j -a list table <family> <name>` (with rule handles, which the applier learns from);
 *  null when the table does not exist. */
export async function nftListTable(family: string, table: string, opts: NftOptions = {}): Promise<unknown | null> {
  try {
    const r = await exec("nft", ["-j", "-a", "list", "table", family, table], opts);
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
