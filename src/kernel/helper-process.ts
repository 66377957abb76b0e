/**
 * What the long-lived helper processes (the nft session, the netlink relay) share: whether a child
 * keeps Node alive, and how it is ended.
 */
import type { ChildProcessWithoutNullStreams } from "node:child_process";

/** Child stdio streams are sockets at run time; their ref/unref decide whether they keep Node alive. */
function asHandle(stream: unknown): { ref?(): void; unref?(): void } {
  return stream as { ref?(): void; unref?(): void };
}

/** Between calls: the child must not keep the Node process alive. */
export function idle(proc: ChildProcessWithoutNullStreams): void {
  proc.unref();
  asHandle(proc.stdout).unref?.();
  asHandle(proc.stdin).unref?.();
  asHandle(proc.stderr).unref?.();
}

/** During a call: its answer must keep Node alive until it arrives. */
export function busy(proc: ChildProcessWithoutNullStreams): void {
  proc.ref();
  asHandle(proc.stdout).ref?.();
}

/** Ends a child (ours) with EOF on its stdin, and SIGKILL if it has not exited within a second. */
export async function endChild(proc: ChildProcessWithoutNullStreams): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => proc.kill("SIGKILL"), 1_000);
    proc.once("close", () => {
      clearTimeout(kill);
      resolve();
    });
    proc.stdin.end();
  });
}
