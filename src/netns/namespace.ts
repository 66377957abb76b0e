/**
 * Network namespaces for tests and the lab: unique names per run, creation, and teardown that
 * first kills (by PID, never by name) every process still inside — a namespace with a process in
 * it outlives `ip netns del` together with its veths (NETNS.md §7).
 */
import { randomBytes } from "node:crypto";
import { exec, isKernelError } from "../kernel/index.js";

/** A name unique to this process and call: "<prefix>-<pid>-<random>", ≤ 15 chars when prefix ≤ 3.
 *  Namespace names have no length limit, but we also derive interface names from them. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}-${randomBytes(3).toString("hex")}`;
}

export async function createNamespace(name: string): Promise<void> {
  await exec("ip", ["netns", "add", name]);
  // Loopback up: local sockets (echo servers, probes to self) need it.
  await exec("ip", ["link", "set", "lo", "up"], { netns: name });
}

export async function namespaceExists(name: string): Promise<boolean> {
  const r = await exec("ip", ["netns", "list"]);
  return r.stdout.split("\n").some((l) => l.split(" ")[0] === name);
}

/** PIDs of processes whose network namespace is `name`. */
export async function namespacePids(name: string): Promise<number[]> {
  try {
    const r = await exec("ip", ["netns", "pids", name]);
    return r.stdout
      .split("\n")
      .map((s) => Number(s.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch (e) {
    if (isKernelError(e)) return [];
    throw e;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Kills what runs inside, then deletes the namespace. Idempotent; never throws for "already gone". */
export async function deleteNamespace(name: string): Promise<void> {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const pids = await namespacePids(name);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        /* already exited */
      }
    }
    for (let i = 0; i < 20 && (await namespacePids(name)).length > 0; i++) await sleep(25);
  }
  try {
    await exec("ip", ["netns", "del", name]);
  } catch (e) {
    if (!isKernelError(e, "NOT_FOUND")) throw e;
  }
}

/** Runs `fn` with a fresh namespace and always deletes it afterwards. */
export async function withNamespace<T>(prefix: string, fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = uniqueName(prefix);
  await createNamespace(ns);
  try {
    return await fn(ns);
  } finally {
    await deleteNamespace(ns);
  }
}

/** True when this process may create namespaces (root). Real-kernel tests skip otherwise. */
export function canUseNetns(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}
