/**
 * A lab's on-disk state, so that `lab probe`, `lab matrix` and `lab down` work from other processes
 * than the one that ran `lab up`. Everything lives under `<stateDir>/labs/`:
 *
 *   <name>.json   LabState: what was created (namespaces, PIDs, datastore) — written by the daemon
 *   <name>.sock   the daemon's request socket (one JSON object per line each way)
 *   <name>.log    the daemon's log (and its agents' logs as <name>-agent-<node>.log)
 *
 * `lab down` trusts only this file: it kills the PIDs recorded here (after checking their
 * /proc/<pid>/cmdline still names tortie) and deletes only the namespaces recorded here.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DatastoreConfig } from "../datastore/index.js";

export interface LabSpec {
  name: string;
  /** Manifest files or directories. */
  files: string[];
  /** Number of lab nodes (node1 … nodeN); nodes named by pods are added. */
  nodes: number;
  /** Outside addresses placed in the world namespace from the start. */
  outside: string[];
  datastore: DatastoreConfig;
  stateDir: string;
  /**
   * How to start the node agent: "tortie" runs `<command> agent --node NAME <datastore flags>` inside
   * the node namespace; "builtin" programs nft from the lab daemon (a stand-in while the CLI has no
   * agent verb; see docs/lab.md).
   */
  agent: { mode: "tortie" | "builtin"; command: string[]; extraArgs?: string[] };
  /** The command that runs the CLI (for the daemon itself): argv before the verb. */
  cli: string[];
}

export interface LabPod {
  ref: string;
  netns: string;
  node: string;
  iface: string;
  ips: string[];
}

export interface LabNode {
  name: string;
  netns: string;
  ips: string[];
  hostEndpoints: string[];
}

export interface LabState {
  name: string;
  status: "starting" | "ready" | "failed" | "stopping";
  error?: string;
  prefix: string;
  daemonPid: number;
  /** PIDs of processes the lab started outside its namespaces (the daemon, agents). */
  pids: number[];
  namespaces: string[];
  nodes: LabNode[];
  pods: LabPod[];
  world: { netns: string; ips: string[] };
  socket: string;
  log: string;
  datastore: DatastoreConfig;
  agent: string;
  denyAction: "drop" | "reject";
  createdAt: string;
  /** Resources `lab up` created in the datastore (kind id, namespace, name); `lab down` deletes them. */
  stored: Array<{ kind: string; namespace?: string; name: string }>;
}

export function labsDir(stateDir: string): string {
  return join(stateDir, "labs");
}

export function statePath(stateDir: string, name: string): string {
  return join(labsDir(stateDir), `${name}.json`);
}

export function specPath(stateDir: string, name: string): string {
  return join(labsDir(stateDir), `${name}.spec.json`);
}

export function socketPath(stateDir: string, name: string): string {
  return join(labsDir(stateDir), `${name}.sock`);
}

export function logPath(stateDir: string, name: string): string {
  return join(labsDir(stateDir), `${name}.log`);
}

export function readState(stateDir: string, name: string): LabState | undefined {
  const p = statePath(stateDir, name);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, "utf8")) as LabState;
  } catch {
    return undefined;
  }
}

/** Atomic (write + rename): a reader never sees half a file. Mode 0600: it may hold etcd credentials. */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(join(path, ".."), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, path);
}

export function removeLabFiles(stateDir: string, name: string): void {
  for (const p of [statePath(stateDir, name), specPath(stateDir, name), socketPath(stateDir, name)]) rmSync(p, { force: true });
}

/** Lab names become namespace-name prefixes and file names. */
export function checkLabName(name: string): string | undefined {
  return /^[a-z0-9][a-z0-9-]{0,15}$/.test(name) ? undefined : `lab name ${JSON.stringify(name)} must be 1–16 characters of a-z, 0-9 and "-"`;
}

/** The namespace prefix of lab `name`: "tl-<name>" (pods become tl-<name>-p<k>, nodes tl-<name>-n<i>). */
export function labPrefix(name: string): string {
  return `tl-${name}`;
}

/** True when `pid` is alive and its command line mentions `needle` (a PID may have been reused). */
export function pidMatches(pid: number, needle: string): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
    return cmd.includes(needle);
  } catch {
    return false;
  }
}
