/**
 * A watch in one process sees the writes of another: the change log and revision counter are
 * shared through the LMDB file, and an active watch keeps its process running.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { EmbeddedStore } from "./embedded-store.js";

const CHILD = join(dirname(fileURLToPath(import.meta.url)), "testdata", "durability-child.ts");
const dir = mkdtempSync(join(tmpdir(), `tortie-mp-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("embedded store across processes", () => {
  it("a watcher process receives another process's writes, in order, and stays alive while watching", async () => {
    const store = await EmbeddedStore.open({ dataDir: dir });
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, "follow", dir, "f"], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let buf = "";
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const waitFor = async (pred: () => boolean, what: string) => {
      const deadline = Date.now() + 20_000;
      while (!pred()) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`waiting for ${what}; child said ${JSON.stringify(lines)} ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    });
    try {
      await waitFor(() => lines.some((l) => l.startsWith("snapshot")), "the initial snapshot");
      // Idle for longer than any unref'd timer would survive: the child must still be there.
      await new Promise((r) => setTimeout(r, 500));
      expect(child.exitCode).toBeNull();
      const a = await store.create({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "x1" }, spec: {} });
      const b = await store.update({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "x1" }, spec: { nets: ["10.0.0.0/8"] } });
      const c = await store.delete("GlobalNetworkSet", undefined, "x1");
      await waitFor(() => lines.some((l) => l.startsWith("delete x1")), "the delete");
      const changes = lines.filter((l) => l !== "ready" && !l.startsWith("snapshot") && !l.includes("default") && !l.includes("kube-"));
      expect(changes).toEqual([`put x1 ${a.revision}`, `put x1 ${b.revision}`, `delete x1 ${b.revision + 1}`]);
      expect(c.metadata.resourceVersion).toBe(String(b.revision));
    } finally {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
      await store.close();
    }
  });
});
