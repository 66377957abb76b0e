/**
 * The long-lived nft session against the real kernel, in a namespace of this file: batches are
 * atomic, errors are reported with the same codes as one-shot nft, and the session survives
 * (or replaces) a dead or stuck child.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { canUseNetns, createNamespace, deleteNamespace, uniqueName } from "../netns/index.js";
import { isKernelError } from "./errors.js";
import { nftListTable } from "./nft.js";
import { NftSession, SessionUnavailableError } from "./nft-session.js";

const root = canUseNetns();
const ns = uniqueName("nfs");
const T = { family: "inet", table: "sess" };

function elementsOf(listing: unknown, set: string): string[] {
  const items = (listing as { nftables: Array<Record<string, { name?: string; elem?: unknown[] }>> }).nftables;
  const s = items.find((i) => i.set?.name === set)?.set;
  return ((s?.elem ?? []) as unknown[]).map((e) => (typeof e === "string" ? e : JSON.stringify(e))).sort();
}

const setup = {
  nftables: [
    { add: { table: { family: "inet", name: "sess" } } },
    { delete: { table: { family: "inet", name: "sess" } } },
    { add: { table: { family: "inet", name: "sess" } } },
    { add: { set: { ...T, name: "a", type: "ipv4_addr" } } },
    // A concatenated type prints "inet_service" in error echoes: it must not be taken for the sentinel.
    { add: { set: { ...T, name: "c", type: ["ipv4_addr", "inet_proto", "inet_service"] } } },
    { add: { chain: { ...T, name: "ch" } } },
  ],
};

describe.skipIf(!root)("NftSession (real nft, in a namespace)", () => {
  beforeAll(() => createNamespace(ns));
  afterAll(() => deleteNamespace(ns));

  it("applies batches in one process, atomically, and reports errors like one-shot nft", async () => {
    const s = new NftSession({ netns: ns });
    try {
      await s.apply(setup);
      await s.apply({ nftables: [{ add: { element: { ...T, name: "a", elem: ["198.18.0.1", "198.18.0.2"] } } }] });
      const pid = s.pid;
      expect(pid).toBeGreaterThan(0);

      // One valid command and one that fails: neither may take effect.
      const bad = {
        nftables: [
          { add: { element: { ...T, name: "a", elem: ["198.18.0.3"] } } },
          { delete: { element: { ...T, name: "a", elem: ["198.18.9.9"] } } },
        ],
      };
      const err = await s.apply(bad).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isKernelError(err, "NOT_FOUND")).toBe(true);
      expect(elementsOf(await nftListTable("inet", "sess", { netns: ns }), "a")).toEqual(["198.18.0.1", "198.18.0.2"]);

      // A type error on the concatenated set (its echo mentions inet_service).
      const typeErr = await s.apply({ nftables: [{ add: { element: { ...T, name: "c", elem: [{ concat: ["198.18.0.1", "tcp", "not-a-port"] }] } } }] }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isKernelError(typeErr)).toBe(true);
      await s.apply({ nftables: [{ add: { element: { ...T, name: "c", elem: [{ concat: ["198.18.0.1", "tcp", 80] }] } } }] });

      // Concurrent callers are serialised, each gets its own outcome.
      const results = await Promise.allSettled([
        s.apply({ nftables: [{ add: { element: { ...T, name: "a", elem: ["198.18.0.4"] } } }] }),
        s.apply({ nftables: [{ delete: { element: { ...T, name: "a", elem: ["198.18.7.7"] } } }] }),
        s.apply({ nftables: [{ add: { element: { ...T, name: "a", elem: ["198.18.0.5"] } } }] }),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(elementsOf(await nftListTable("inet", "sess", { netns: ns }), "a")).toEqual(["198.18.0.1", "198.18.0.2", "198.18.0.4", "198.18.0.5"]);
      expect(s.starts).toBe(1);
      expect(s.pid).toBe(pid);
    } finally {
      await s.close();
    }
    expect(s.pid).toBeUndefined();
  });

  it("applies batches in nft's language through an included file: atomically, errors typed, directory removed on close", async () => {
    const s = new NftSession({ netns: ns });
    let dir = "";
    try {
      await s.apply(setup);
      await s.applyText("add element inet sess a { 198.18.1.1 }\nadd element inet sess a { 198.18.1.2 }\n");
      // The second command fails: the first may not take effect either.
      const err = await s.applyText("add element inet sess a { 198.18.1.3 }\ndelete element inet sess a { 198.18.9.9 }\n").then(
        () => null,
        (e: unknown) => e,
      );
      expect(isKernelError(err, "NOT_FOUND")).toBe(true);
      expect(elementsOf(await nftListTable("inet", "sess", { netns: ns }), "a")).toEqual(["198.18.1.1", "198.18.1.2"]);
      // JSON lines and included files share one process and one queue.
      await s.apply({ nftables: [{ add: { element: { ...T, name: "a", elem: ["198.18.1.4"] } } }] });
      expect(elementsOf(await nftListTable("inet", "sess", { netns: ns }), "a")).toEqual(["198.18.1.1", "198.18.1.2", "198.18.1.4"]);
      expect(s.starts).toBe(1);
      dir = s.includeDir ?? "";
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(readFileSync(join(dir, "batch.nft"), "utf8")).toContain("198.18.1.3");
      // A tmp cleaner removed the directory: the next batch makes a new one.
      rmSync(dir, { recursive: true });
      await s.applyText("add element inet sess a { 198.18.1.5 }\n");
      expect(s.includeDir).not.toBe(dir);
      expect(existsSync(dir)).toBe(false);
      dir = s.includeDir ?? "";
      expect(elementsOf(await nftListTable("inet", "sess", { netns: ns }), "a")).toContain("198.18.1.5");
      // No writable temporary directory at all: this call fails as unavailable (the kernel then
      // applies the batch one-shot), nothing is sent, and the session still works afterwards.
      rmSync(dir, { recursive: true });
      const tmp = process.env.TMPDIR;
      process.env.TMPDIR = join(dir, "missing");
      try {
        const unwritable = await s.applyText("add element inet sess a { 198.18.1.6 }\n").then(
          () => null,
          (e: unknown) => e,
        );
        expect(unwritable).toBeInstanceOf(SessionUnavailableError);
      } finally {
        if (tmp === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = tmp;
      }
      expect(elementsOf(await nftListTable("inet", "sess", { netns: ns }), "a")).not.toContain("198.18.1.6");
      await s.applyText("add element inet sess a { 198.18.1.7 }\n");
      dir = s.includeDir ?? "";
    } finally {
      await s.close();
    }
    expect(existsSync(dir)).toBe(false);
  });

  it("keeps no line-editor history file, and replaces its process once it has been sent recycleAfterBytes", async () => {
    const plain = new NftSession({ netns: ns });
    try {
      await plain.apply(setup);
      // libedit reads and writes $HOME/.nft.history; under /dev/null neither can happen.
      expect(readFileSync(`/proc/${plain.pid}/environ`, "utf8").split("\0")).toContain("HOME=/dev/null");
    } finally {
      await plain.close();
    }
    const s = new NftSession({ netns: ns, recycleAfterBytes: 1 });
    try {
      const elems = (i: number) => Array.from({ length: 40 }, (_, k) => `198.18.${10 + i}.${k + 1}`);
      for (let i = 0; i < 6; i++) await s.apply({ nftables: [{ add: { element: { ...T, name: "a", elem: elems(i) } } }] });
      // Any batch passes 1 byte: a new process for every batch, and every batch applied.
      expect(s.starts).toBe(6);
      expect(s.pid).toBeUndefined();
      expect(elementsOf(await nftListTable("inet", "sess", { netns: ns }), "a")).toEqual(expect.arrayContaining([...elems(0), ...elems(5)]));
    } finally {
      await s.close();
    }
  });

  it("restarts after its child dies, and after a timeout", async () => {
    const s = new NftSession({ netns: ns });
    try {
      await s.apply(setup);
      const pid = s.pid!;
      process.kill(pid, "SIGKILL"); // our own child
      await new Promise((r) => setTimeout(r, 100));
      await s.apply({ nftables: [{ add: { element: { ...T, name: "a", elem: ["198.18.1.1"] } } }] });
      expect(s.starts).toBe(2);
      expect(s.pid).not.toBe(pid);

      // A batch that cannot finish in 1 ms: TIMEOUT, the child is killed, and the next call works.
      const stuck = new NftSession({ netns: ns, timeoutMs: 1, handshakeTimeoutMs: 10_000 });
      const big = { nftables: [{ add: { element: { ...T, name: "a", elem: Array.from({ length: 20_000 }, (_, i) => `198.19.${i >> 8}.${i & 255}`) } } }] };
      const e = await stuck.apply(big).then(
        () => null,
        (x: unknown) => x,
      );
      await stuck.close();
      expect(isKernelError(e, "TIMEOUT")).toBe(true);
      await s.apply({ nftables: [{ add: { element: { ...T, name: "a", elem: ["198.18.1.2"] } } }] });
      expect(elementsOf(await nftListTable("inet", "sess", { netns: ns }), "a")).toEqual(expect.arrayContaining(["198.18.1.1", "198.18.1.2"]));
    } finally {
      await s.close();
    }
  });

  it("a process that does not answer its handshake makes the session unavailable, before any batch is sent", async () => {
    // An nft that never answers (first on PATH for this test): a real nft with a zero time limit
    // raced the timer, and on a busy machine sometimes answered first.
    const dir = mkdtempSync(join(tmpdir(), "tortie-silent-nft-"));
    writeFileSync(join(dir, "nft"), "#!/bin/sh\nexec sleep 30\n");
    chmodSync(join(dir, "nft"), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path ?? ""}`;
    onTestFinished(() => {
      process.env.PATH = path;
      rmSync(dir, { recursive: true, force: true });
    });
    const s = new NftSession({ netns: ns, handshakeTimeoutMs: 300 });
    const first = await s.apply(setup).then(
      () => null,
      (x: unknown) => x,
    );
    expect(first).toBeInstanceOf(SessionUnavailableError);
    expect(s.unavailable).toMatch(/handshake/);
    expect(s.calls).toBe(0);
    const again = await s.apply(setup).then(
      () => null,
      (x: unknown) => x,
    );
    expect(again).toBeInstanceOf(SessionUnavailableError);
    expect(s.starts).toBe(1);
    await s.close();
  });

  it("a missing namespace is a typed error, not a hang", async () => {
    const s = new NftSession({ netns: `${ns}-missing`, timeoutMs: 10_000 });
    const e = await s.apply(setup).then(
      () => null,
      (x: unknown) => x,
    );
    await s.close();
    expect(isKernelError(e)).toBe(true);
  });
});
