/**
 * The writer gate (writer-gate.ts): every LMDB write transaction, and opening the store, queue on
 * an OFD lock the kernel hands on, so no process sleeps on LMDB's robust write mutex, whose
 * user-space hand-off can strand its sleepers when a woken waiter is SIGKILLed (docs/datastore.md,
 * "The writer gate").
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fsx from "fs-native-extensions";
import { afterAll, describe, expect, it } from "vitest";
import { EMBEDDED_GATE_FILE, EmbeddedStore } from "./embedded-store.js";
import { DatastoreError } from "./types.js";
import { WriterGate } from "./writer-gate.js";

const CHILD = join(dirname(fileURLToPath(import.meta.url)), "testdata", "durability-child.ts");
const root = mkdtempSync(join(tmpdir(), `tortie-gate-${process.pid}-`));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${dirs++}`);

/** Whether another open file description could take the gate file's lock right now. */
function gateIsFree(path: string): boolean {
  const fd = openSync(path, "a");
  try {
    if (!fsx.tryLock(fd)) return false;
    fsx.unlock(fd);
    return true;
  } finally {
    closeSync(fd);
  }
}

describe("WriterGate", () => {
  it("excludes other holders while held, is re-entrant, and lets go after a throw", () => {
    const gate = WriterGate.open(join(root, "unit-gate"));
    try {
      expect(gateIsFree(gate.path)).toBe(true);
      const inner = gate.hold(() => {
        expect(gateIsFree(gate.path)).toBe(false);
        gate.hold(() => expect(gateIsFree(gate.path)).toBe(false));
        // Still held after the nested hold returned.
        return gateIsFree(gate.path);
      });
      expect(inner).toBe(false);
      expect(gateIsFree(gate.path)).toBe(true);
      expect(() =>
        gate.hold(() => {
          throw new Error("boom");
        }),
      ).toThrow("boom");
      expect(gateIsFree(gate.path)).toBe(true);
    } finally {
      gate.close();
    }
    gate.close(); // idempotent
    expect(() => gate.hold(() => 1)).toThrow(DatastoreError);
  });

  it("two stores opened on one directory in one process both write through the gate and leave it free", async () => {
    const dir = freshDir();
    const a = await EmbeddedStore.open({ dataDir: dir });
    const b = await EmbeddedStore.open({ dataDir: dir });
    try {
      const path = join(dir, EMBEDDED_GATE_FILE);
      expect(gateIsFree(path)).toBe(true);
      const w1 = await a.create({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "a" }, spec: {} });
      const w2 = await b.create({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "b" }, spec: {} });
      expect(w2.revision).toBe(w1.revision + 1);
      expect(gateIsFree(path)).toBe(true); // nothing left held after a write
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("reports a gate that cannot be opened as an unavailable datastore, changing nothing", async () => {
    const dir = freshDir();
    // A directory where the gate file should be: opening it for append fails.
    mkdirSync(join(dir, EMBEDDED_GATE_FILE), { recursive: true });
    await expect(EmbeddedStore.open({ dataDir: dir })).rejects.toMatchObject({ code: "unavailable", message: expect.stringContaining("writer gate") });
    expect(existsSync(join(dir, "tortie.mdb"))).toBe(false);
  });
});

interface Child {
  proc: ChildProcess;
  lines: string[];
  stderr: () => string;
}

function start(mode: string, dir: string, id: string): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", CHILD, mode, dir, id], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let buf = "";
  let err = "";
  proc.stdout!.setEncoding("utf8");
  proc.stdout!.on("data", (d: string) => {
    buf += d;
    const parts = buf.split("\n");
    buf = parts.pop()!;
    lines.push(...parts);
  });
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (d: string) => (err += d));
  return { proc, lines, stderr: () => err };
}

async function waitFor(c: Child, pred: (lines: string[]) => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred(c.lines)) {
    if (Date.now() > deadline || c.proc.exitCode !== null) throw new Error(`waiting for ${what}; child said ${JSON.stringify(c.lines.slice(-5))} ${c.stderr().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function kill(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => c.proc.once("exit", () => r()));
  if (c.proc.pid !== undefined) process.kill(c.proc.pid, "SIGKILL");
  return exited;
}

const wchan = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/wchan`, "utf8").trim();
  } catch {
    return "?";
  }
};

describe("writer gate across processes", () => {
  it("an opener waits in the kernel's lock queue while another process holds the gate, and goes on when that holder is SIGKILLed", async () => {
    for (const existing of [false, true]) {
      const dir = freshDir();
      if (existing) {
        const s = await EmbeddedStore.open({ dataDir: dir });
        await s.create({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "before" }, spec: {} });
        await s.close();
      }
      const holder = start("gate", dir, "h");
      let writer: Child | undefined;
      let holder2: Child | undefined;
      try {
        await waitFor(holder, (l) => l.includes("held"), "the holder to take the gate");
        writer = start("writer", dir, "w");
        // The writer's process starts and reaches the open, then sleeps in fcntl (F_OFD_SETLKW),
        // not on a futex: poll until its main thread sits there.
        const deadline = Date.now() + 30_000;
        while (!/fcntl|lock/.test(wchan(writer.proc.pid!)) && Date.now() < deadline && writer.proc.exitCode === null) await new Promise((r) => setTimeout(r, 20));
        expect(wchan(writer.proc.pid!), `store ${existing ? "existing" : "new"}`).toMatch(/fcntl|lock/);
        expect(writer.lines).not.toContain("ready");
        await kill(holder);
        await waitFor(writer, (l) => l.some((x) => x.startsWith("ack counter-w=")), "the writer's first acknowledged writes");
        // Writes queue on the gate too: a second holder stops the running writer's transactions
        // (one already committed may still be acknowledged), and killing it lets them go on.
        holder2 = start("gate", dir, "h2");
        await waitFor(holder2, (l) => l.includes("held"), "the second holder to take the gate");
        const acksWhenHeld = writer.lines.length;
        await new Promise((r) => setTimeout(r, 300));
        expect(wchan(writer.proc.pid!)).toMatch(/fcntl|lock/);
        expect(writer.lines.length).toBeLessThanOrEqual(acksWhenHeld + 1);
        const acksBeforeKill = writer.lines.length;
        await kill(holder2);
        await waitFor(writer, (l) => l.length > acksBeforeKill + 2, "writes after the second holder was killed");
      } finally {
        await kill(holder);
        if (holder2) await kill(holder2);
        if (writer) await kill(writer);
      }
      const acked = writer!.lines.filter((l) => l.startsWith("ack w")).map((l) => l.split(" ")[1]!);
      const store = await EmbeddedStore.open({ dataDir: dir });
      try {
        const names = new Set((await store.list("GlobalNetworkSet")).items.map((r) => r.metadata.name));
        for (const n of acked) expect(names.has(n), n).toBe(true);
        if (existing) expect(names.has("before")).toBe(true);
      } finally {
        await store.close();
      }
    }
  }, 120_000);
});
