/**
 * kill -9 at random moments: several child processes write to (and watch) one embedded store at
 * once and are SIGKILLed at random points, including while opening the database and in the middle
 * of transactions. Afterwards every write a child acknowledged must be there, the counters must be
 * at least the last acknowledged value, the store must still take writes, and the change log must
 * agree with the objects.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { EmbeddedStore } from "./embedded-store.js";
import type { WatchEvent } from "./types.js";

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, "testdata", "durability-child.ts");
const dir = mkdtempSync(join(tmpdir(), `tortie-kill9-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Child {
  id: string;
  proc: ChildProcess;
  lines: string[];
  stderr: () => string;
  ready: Promise<void>;
  exited: Promise<void>;
}

function startChild(mode: "writer" | "watcher", id: string): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", CHILD, mode, dir, id], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let buf = "";
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  proc.stdout!.setEncoding("utf8");
  proc.stdout!.on("data", (d: string) => {
    buf += d;
    const parts = buf.split("\n");
    buf = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      if (l === "ready") markReady();
    }
  });
  let stderr = "";
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) =>
    proc.on("exit", (code, signal) => {
      markReady();
      // A child that died on its own (not our SIGKILL) is a failure worth seeing.
      if (signal !== "SIGKILL") lines.push(`EXIT code=${code} signal=${signal} ${stderr}`);
      resolve();
    }),
  );
  return { id, proc, lines, stderr: () => stderr, ready, exited };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where a hung child waits, per thread (kernel wait channel, and the kernel stack when readable):
 *  this hang was seen twice in full-suite runs and never reproduced alone, so its next occurrence
 *  should say where it is stuck. */
function waitState(pid: number | undefined): string {
  if (pid === undefined) return "no pid";
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8").trim();
    } catch {
      return "?";
    }
  };
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return "gone";
  }
  const threads = tasks.map((t) => `${read(`/proc/${pid}/task/${t}/comm`)}@${read(`/proc/${pid}/task/${t}/wchan`)}`);
  return `threads: ${threads.join(", ")}; stack: ${read(`/proc/${pid}/stack`).split("\n").slice(0, 8).join(" < ")}`;
}

describe("embedded store survives kill -9", () => {
  it("keeps every acknowledged write when writers and watchers are SIGKILLed at random moments", async () => {
    const acked = new Map<string, number>(); // name -> revision
    const counters = new Map<string, number>(); // counter name -> highest acknowledged value
    const failures: string[] = [];
    const rounds = 8;
    for (let round = 0; round < rounds; round++) {
      const children = [startChild("writer", `${round}a`), startChild("writer", `${round}b`), startChild("watcher", `${round}w`)];
      await Promise.all(
        children.map(async (c, idx) => {
          // Most kills land while writing; some while the child is still starting or opening the store.
          if (round % 4 === 3 && idx === 0) await sleep(50 + Math.random() * 400);
          else {
            // Bounded: a child that neither opens the store nor exits within a minute is a hang
            // worth reporting with what it printed, not a silent test timeout.
            const state = await Promise.race([c.ready.then(() => "ready" as const), sleep(60_000).then(() => "hung" as const)]);
            if (state === "hung") failures.push(`child ${c.id} not ready after 60 s; stdout: ${c.lines.slice(-5).join(" | ")}; stderr: ${c.stderr().slice(-500)}; ${waitState(c.proc.pid)}`);
            else await sleep(Math.random() * 300);
          }
          if (c.proc.pid !== undefined && c.proc.exitCode === null) process.kill(c.proc.pid, "SIGKILL");
          await c.exited;
        }),
      );
      for (const c of children) {
        for (const l of c.lines) {
          if (l.startsWith("EXIT")) failures.push(l);
          const m = /^ack (\S+) (\d+)$/.exec(l);
          if (!m) continue;
          const cm = /^(counter-\S+)=(\d+)$/.exec(m[1]!);
          if (cm) counters.set(cm[1]!, Math.max(counters.get(cm[1]!) ?? -1, Number(cm[2])));
          else acked.set(m[1]!, Number(m[2]));
        }
      }
    }
    expect(failures).toEqual([]);
    expect(acked.size).toBeGreaterThan(rounds); // the children really wrote something

    const store = await EmbeddedStore.open({ dataDir: dir });
    try {
      const snap = await store.snapshot();
      const byName = new Map(snap.items.map((r) => [r.metadata.name, r]));
      const missing = [...acked.keys()].filter((n) => !byName.has(n));
      expect(missing).toEqual([]);
      for (const [name, rev] of acked) {
        // A create's own revision is its resourceVersion unless something later changed it (nothing does).
        expect(byName.get(name)!.metadata.resourceVersion, name).toBe(String(rev));
      }
      for (const [name, value] of counters) {
        const got = Number(byName.get(name)?.metadata.labels?.i ?? -1);
        expect(got, name).toBeGreaterThanOrEqual(value);
      }
      // Still writable (no lock left behind by a killed writer) and revisions keep increasing.
      const w = await store.create({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name: "after" }, spec: {} });
      expect(w.revision).toBe(snap.revision + 1);
      // The change log replays to the same state as the objects.
      const events: WatchEvent[] = [];
      const watch = store.watch(0, (e) => void events.push(e));
      await watch.ready;
      await watch.stop();
      const replayed = new Map<string, string>();
      for (const e of events) {
        if (e.type === "snapshot") {
          replayed.clear();
          for (const r of e.items) replayed.set(r.metadata.name, r.metadata.resourceVersion!);
        } else if (e.type === "put") replayed.set(e.resource.metadata.name, e.resource.metadata.resourceVersion!);
        else replayed.delete(e.resource.metadata.name);
      }
      const now = await store.snapshot();
      expect(replayed).toEqual(new Map(now.items.map((r) => [r.metadata.name, r.metadata.resourceVersion!])));
    } finally {
      await store.close();
    }
  }, 180_000);
});
