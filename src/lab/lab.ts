/**
 * The lab as other processes see it: `labUp` starts a detached daemon (daemon.ts) and waits until it
 * reports ready; `labRequest` talks to it over its socket; `labDown` asks it to tear down and, if it
 * is gone, cleans up from the state file alone (recorded PIDs, checked against /proc/<pid>/cmdline,
 * and recorded namespaces — nothing else).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { createInterface } from "node:readline";
import { openStore } from "../datastore/index.js";
import { canUseNetns, deleteNamespace, namespaceExists } from "../netns/index.js";
import { labsDir, logPath, pidMatches, readState, removeLabFiles, socketPath, specPath, writeJson, type LabSpec, type LabState } from "./state.js";

export class LabError extends Error {
  override readonly name = "LabError";
  constructor(
    readonly code: "NOT_ROOT" | "NO_LAB" | "START_FAILED" | "UNREACHABLE" | "REQUEST_FAILED",
    message: string,
  ) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Running, not merely a zombie: an exited child whose parent is gone may wait for a reaper that
 *  never comes (PID 1 in a minimal VM), and it holds nothing. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Starts lab `spec.name` (replacing a previous lab of that name) and resolves with its state once ready. */
export async function labUp(spec: LabSpec, opts: { timeoutMs?: number } = {}): Promise<LabState> {
  if (!canUseNetns()) throw new LabError("NOT_ROOT", "the lab creates network namespaces and needs root (run it with sudo)");
  if (readState(spec.stateDir, spec.name)) await labDown(spec.stateDir, spec.name);
  mkdirSync(labsDir(spec.stateDir), { recursive: true });
  writeJson(specPath(spec.stateDir, spec.name), spec);
  const log = logPath(spec.stateDir, spec.name);
  const fd = openSync(log, "a");
  const [cmd, ...args] = spec.cli;
  const child = spawn(cmd!, [...args, "lab", "daemon", "--name", spec.name, "--state-dir", spec.stateDir], { detached: true, stdio: ["ignore", fd, fd] });
  child.unref();
  const pid = child.pid!;
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  for (;;) {
    const st = readState(spec.stateDir, spec.name);
    if (st && st.daemonPid === pid) {
      if (st.status === "ready" && existsSync(st.socket)) {
        // The socket file exists once listen() bound it; make sure it answers.
        try {
          await labRequest(spec.stateDir, spec.name, { op: "status" }, 2000);
          return st;
        } catch {
          /* not yet listening */
        }
      }
      if (st.status === "failed") throw new LabError("START_FAILED", `lab ${spec.name} failed to start: ${st.error ?? "unknown error"} (log: ${log})`);
    }
    if (!alive(pid)) {
      const st2 = readState(spec.stateDir, spec.name);
      if (st2 && st2.daemonPid === pid) await cleanupFromState(spec.stateDir, st2);
      throw new LabError("START_FAILED", `lab ${spec.name} failed to start: ${st2?.error ?? "the lab daemon exited"} (log: ${log})`);
    }
    if (Date.now() > deadline) {
      await labDown(spec.stateDir, spec.name);
      throw new LabError("START_FAILED", `lab ${spec.name} did not become ready in time (log: ${log})`);
    }
    await sleep(50);
  }
}

/** One request to the lab daemon; resolves with its reply. */
export function labRequest(stateDir: string, name: string, req: Record<string, unknown>, timeoutMs = 120_000): Promise<Record<string, unknown>> {
  const st = readState(stateDir, name);
  if (!st) return Promise.reject(new LabError("NO_LAB", `no lab named ${name} is up (state dir ${stateDir}); start one with \`tortie lab up\``));
  return new Promise((resolve, reject) => {
    const sock = net.connect(st.socket ?? socketPath(stateDir, name));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new LabError("REQUEST_FAILED", `lab ${name} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(new LabError("UNREACHABLE", `lab ${name} is not answering (${e.message}); \`tortie lab down --name ${name}\` cleans it up`));
    });
    sock.on("connect", () => sock.write(JSON.stringify(req) + "\n"));
    const lines = createInterface({ input: sock });
    // readline re-emits the socket's errors (ECONNREFUSED while the daemon is still starting);
    // the socket's own handler above turns them into a LabError, so nothing may crash here.
    lines.on("error", () => undefined);
    lines.once("line", (line) => {
      clearTimeout(timer);
      sock.end();
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        reject(new LabError("REQUEST_FAILED", `lab ${name} sent an unreadable reply`));
        return;
      }
      if (typeof o.error === "string") reject(new LabError("REQUEST_FAILED", o.error));
      else resolve(o);
    });
  });
}

/** Streams the daemon's change events (datastore change → ruleset programmed) until `signal` aborts. */
export function labWatch(stateDir: string, name: string, onEvent: (e: Record<string, unknown>) => void, signal?: AbortSignal): Promise<void> {
  const st = readState(stateDir, name);
  if (!st) return Promise.reject(new LabError("NO_LAB", `no lab named ${name} is up`));
  return new Promise((resolve, reject) => {
    const sock = net.connect(st.socket);
    signal?.addEventListener("abort", () => sock.end());
    sock.on("error", (e) => reject(new LabError("UNREACHABLE", `lab ${name} is not answering (${e.message})`)));
    sock.on("connect", () => sock.write(JSON.stringify({ op: "watch" }) + "\n"));
    sock.on("close", () => resolve());
    const lines = createInterface({ input: sock });
    lines.on("error", () => undefined); // reported by the socket's handler
    lines.on("line", (line) => {
      try {
        onEvent(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* a torn line at shutdown: skip it */
      }
    });
  });
}

/**
 * Tears lab `name` down: through the daemon when it answers, then (always) from the state file:
 * recorded PIDs that still run tortie are killed, recorded namespaces deleted. Returns what it did.
 */
export async function labDown(stateDir: string, name: string): Promise<{ found: boolean; namespaces: number; killed: number[] }> {
  const st = readState(stateDir, name);
  if (!st) return { found: false, namespaces: 0, killed: [] };
  if (alive(st.daemonPid) && pidMatches(st.daemonPid, "lab")) {
    try {
      await labRequest(stateDir, name, { op: "down" }, 30_000);
    } catch {
      /* fall through to the state-file cleanup */
    }
    for (let i = 0; i < 40 && alive(st.daemonPid); i++) await sleep(50);
    // The daemon removes the state file as its last step: nothing is left to clean — except
    // processes still on their way out (a busy machine), which "down" must not leave behind.
    if (!readState(stateDir, name)) {
      const ours = st.pids.filter((pid) => alive(pid) && (pidMatches(pid, "tortie") || pidMatches(pid, "agent") || pidMatches(pid, "lab")));
      for (let i = 0; i < 100 && ours.some(alive); i++) await sleep(50);
      for (const pid of ours) if (alive(pid)) process.kill(pid, "SIGKILL");
      for (let i = 0; i < 40 && ours.some(alive); i++) await sleep(50);
      return { found: true, namespaces: st.namespaces.length, killed: [st.daemonPid] };
    }
  }
  return { found: true, ...(await cleanupFromState(stateDir, st)) };
}

async function cleanupFromState(stateDir: string, st: LabState): Promise<{ namespaces: number; killed: number[] }> {
  const killed: number[] = [];
  for (const pid of st.pids) {
    // A recorded PID may have been reused by an unrelated process: only ours mention tortie/node.
    if (alive(pid) && (pidMatches(pid, "tortie") || pidMatches(pid, "agent") || pidMatches(pid, "lab"))) {
      try {
        process.kill(pid, "SIGTERM");
        killed.push(pid);
      } catch {
        /* gone */
      }
    }
  }
  for (let i = 0; i < 40 && killed.some(alive); i++) await sleep(50);
  for (const pid of killed) if (alive(pid)) process.kill(pid, "SIGKILL");
  let namespaces = 0;
  for (const ns of st.namespaces) {
    if (await namespaceExists(ns)) {
      await deleteNamespace(ns);
      namespaces++;
    }
  }
  if (st.stored?.length) {
    // The daemon did not get to it: remove what the lab stored ourselves.
    try {
      const store = await openStore(st.datastore);
      try {
        const { deleteStored } = await import("./daemon.js");
        await deleteStored(store, st.stored);
      } finally {
        await store.close();
      }
    } catch {
      /* the datastore is unreachable: leave the resources */
    }
  }
  removeLabFiles(stateDir, st.name);
  return { namespaces, killed };
}

/** Names of labs with a state file under `stateDir`. */
export function listLabs(stateDir: string): string[] {
  const dir = labsDir(stateDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json") && !f.endsWith(".spec.json"))
    .map((f) => f.slice(0, -5))
    .sort();
}

export function labState(stateDir: string, name: string): LabState | undefined {
  return readState(stateDir, name);
}
