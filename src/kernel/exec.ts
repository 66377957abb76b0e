/**
 * Runs kernel tools, optionally inside a network namespace (`ip netns exec <ns> …`, about 5 ms per
 * call). Every command has a time limit; on expiry the child (and only it, by PID) is killed.
 */
import { spawn } from "node:child_process";
import { classifyStderr, KernelError } from "./errors.js";

export interface ExecOptions {
  /** Network namespace name (as in /run/netns). Absent: the caller's namespace. */
  netns?: string;
  /** Written to stdin, then stdin is closed. */
  input?: string;
  timeoutMs?: number;
  /** Exit codes treated as success (default [0]). */
  okCodes?: number[];
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

export function wrapNetns(cmd: string, args: string[], netns?: string): [string, string[]] {
  return netns ? ["ip", ["netns", "exec", netns, cmd, ...args]] : [cmd, args];
}

export function exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [bin, argv] = wrapNetns(cmd, args, opts.netns);
  const full = [bin, ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argv, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new KernelError(e.code === "ENOENT" ? "TOOL_MISSING" : "FAILED", `${bin}: ${e.message}`, full));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (timedOut) return reject(new KernelError("TIMEOUT", `${full.join(" ")}: timed out`, full, code, stderr));
      const c = code ?? -1;
      if (!(opts.okCodes ?? [0]).includes(c)) {
        // `ip netns exec` reports a missing command itself (exit 255, "exec of … failed").
        const missing = /exec of "[^"]*" failed: No such file/.test(stderr);
        const firstLine = stderr.trim().split("\n").slice(0, 3).join(" | ");
        return reject(new KernelError(missing ? "TOOL_MISSING" : classifyStderr(stderr), `${cmd} ${args.slice(0, 3).join(" ")}: ${firstLine || `exit ${c}`}`, full, c, stderr));
      }
      resolve({ stdout, stderr, code: c });
    });
    child.stdin.on("error", () => {
      /* the child may exit before reading stdin; its exit status tells what happened */
    });
    child.stdin.end(opts.input ?? "");
  });
}
