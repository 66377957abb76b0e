/**
 * A long-lived `nft -j -i` process for small batches.
 *
 * Why: every `nft -f` run pays process start-up and, worse, a fresh netlink dump of the table's
 * objects (sets, chains) before it can evaluate even one `add element`. Measured on the 2-core dev
 * VM: one element into a table of 2,500 sets / 2,000 chains cost ~11 ms as a one-shot `nft -j -f`
 * (2 ms of that start-up, plus ~8 ms of `ip netns exec` when run in a namespace), and ~0.2 ms
 * through a session on a small table. nft still refreshes its cache when the ruleset generation
 * changes (every commit does), so the saving is start-up plus whatever nft can keep.
 *
 * Protocol: one batch = one line of JSON (nft runs a line as one buffer, i.e. ONE transaction:
 * all of it or none), followed by `describe tcp dport`, which nft answers locally with a line
 * starting "payload expression, datatype inet_service". stderr is merged into stdout (`2>&1`
 * inside the child) so an error printed for the batch always arrives before that sentinel, in
 * order. Output before the sentinel containing "Error:" means the batch was rejected; other
 * output (nft prints none for successful add/delete/flush) is ignored.
 *
 * Failure handling: a timeout kills the child (by PID, ours) and rejects with TIMEOUT; a child
 * that exits mid-call rejects with FAILED. Either way the next call starts a new process. The
 * child never keeps the Node process alive while idle (unref'd between calls).
 *
 * Batches as files: `nft -i` reads what is typed through libedit, one byte per read(2) — ~2 µs per
 * byte, so a 15 KB batch (a policy add on a 30k-pod node) spent ~30 ms just being read. applyText
 * writes the batch, in nft's own language, to a file in a private directory and sends one line,
 * `include "<file>"`, which nft reads in blocks. The included file is part of that line's buffer,
 * so it is still ONE transaction (checked by the session test). The directory (mkdtemp, mode 0700)
 * is removed by close().
 *
 * Line editor: `nft -i` reads its input through libedit, which keeps every line (whole batches)
 * in an in-memory history, loads ~/.nft.history at start and writes it back at exit. The child
 * runs with HOME=/dev/null, so no history file is read or written (a 4,000-line file left by
 * earlier runs cost each start-up ~0.3 s and made every batch slower), and it is replaced by a
 * fresh process once the lines it has kept pass `recycleAfterBytes`, so a long-lived agent's
 * session does not grow without bound.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { classifyStderr, KernelError } from "./errors.js";
import { DEFAULT_TIMEOUT_MS, wrapNetns } from "./exec.js";
import { busy, endChild, idle } from "./helper-process.js";
import type { NftOptions } from "./nft.js";

const SENTINEL_COMMAND = "describe tcp dport";
const SENTINEL_PREFIX = "payload expression, datatype inet_service";

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One nft process and what it owes: a dead or killed child can only fail its own call. */
interface Child {
  proc: ChildProcessWithoutNullStreams;
  output: string;
  pending: Pending | undefined;
  /** Bytes of batches written (what libedit keeps in its history). */
  written: number;
}

const HANDSHAKE_TIMEOUT_MS = 5_000;
const RECYCLE_AFTER_BYTES = 64 * 1024 * 1024;

export interface NftSessionOptions extends NftOptions {
  /** How long a new process has to answer the handshake (default 5 s, at most timeoutMs). */
  handshakeTimeoutMs?: number;
  /** Replace the process after it has been sent this many bytes (default 64 MiB). */
  recycleAfterBytes?: number;
}

/** The session cannot run here (no interactive nft, or it answers differently); use one-shot nft. */
export class SessionUnavailableError extends KernelError {
  constructor(why: string) {
    super("FAILED", why, ["nft", "-j", "-i"]);
  }
}

export class NftSession {
  private child: Child | undefined;
  /** Why the session cannot be used (set once; every later call fails fast). */
  unavailable: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Batches run through this session (for tests and metrics). */
  calls = 0;
  /** Processes started (1 unless one died or timed out). */
  starts = 0;

  constructor(private readonly opts: NftSessionOptions = {}) {}

  /** Applies one JSON batch atomically. Calls are serialised. */
  apply(batch: unknown): Promise<void> {
    return this.applyJson(JSON.stringify(batch));
  }

  /** Same, for a batch already serialised (one line: JSON.stringify never emits a newline). */
  applyJson(line: string): Promise<void> {
    const p = this.queue.then(() => this.run(line));
    this.queue = p.catch(() => undefined);
    return p;
  }

  /**
   * Applies a batch written in nft's language (lines of commands) atomically, through an
   * included file. Calls are serialised with applyJson's.
   */
  applyText(text: string): Promise<void> {
    const p = this.queue.then(() => this.run(`include "${this.writeBatch(text)}"`));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private dir: string | undefined;
  /** The private directory of the included batch file (undefined before the first applyText). */
  get includeDir(): string | undefined {
    return this.dir;
  }

  /**
   * Writes the batch to the session's file (reused by every call; written when the call's turn
   * comes). A directory that disappeared (a tmp cleaner, after a long idle spell) is made again;
   * a file that cannot be written at all is SessionUnavailableError for this call, so the kernel
   * applies this batch one-shot, and the next call tries the file again.
   */
  private writeBatch(text: string): string {
    if (this.closed) throw new KernelError("FAILED", "nft session is closed");
    for (let attempt = 1; ; attempt++) {
      try {
        this.dir ??= mkdtempSync(join(tmpdir(), "tortie-nft-"));
        const file = join(this.dir, "batch.nft");
        // nft's include takes a quoted string without escapes.
        if (/["\n\r\\]/.test(file)) throw new Error(`the path ${JSON.stringify(file)} cannot be written in an nft include`);
        writeFileSync(file, text);
        return file;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") this.dir = undefined; // gone, or never made
        if (attempt < 2 && this.dir === undefined) continue;
        throw new SessionUnavailableError(`nft session: cannot write its batch file: ${(e as Error).message}`);
      }
    }
  }

  /** The child's PID, or undefined when none is running. */
  get pid(): number | undefined {
    return this.child?.proc.pid;
  }

  /** Ends the child (EOF on its stdin; SIGKILL if it has not exited within a second). */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    const c = this.child;
    this.child = undefined;
    if (c) await endChild(c.proc);
  }

  private start(): Child {
    const [bin, argv] = wrapNetns("nft", ["-j", "-i"], this.opts.netns);
    const command = [bin, ...argv];
    // `exec … 2>&1`: errors and the sentinel share one ordered stream.
    // HOME=/dev/null: libedit can neither read nor write a history (or .editrc) under it.
    const proc = spawn("sh", ["-c", 'exec "$@" 2>&1', "sh", ...command], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, HOME: "/dev/null" } });
    const c: Child = { proc, output: "", pending: undefined, written: 0 };
    this.starts++;
    proc.stdout.setEncoding("utf8");
    proc.stdout.on("data", (d: string) => this.onData(c, d));
    proc.stdin.on("error", () => {
      /* reported through 'close' */
    });
    proc.on("error", (e: NodeJS.ErrnoException) => this.settle(c, new KernelError("TOOL_MISSING", `nft session: ${e.message}`, command)));
    proc.on("close", (code) => {
      if (this.child === c) this.child = undefined;
      const out = c.output.trim();
      const missing = /exec of "[^"]*" failed: No such file|not found/.test(out);
      const why = out.split("\n").slice(0, 3).join(" | ");
      this.settle(c, new KernelError(missing ? "TOOL_MISSING" : classifyStderr(out), `nft session ended (exit ${code})${why ? `: ${why}` : ""}`, command, code, out));
    });
    idle(proc);
    return c;
  }

  private async run(line: string): Promise<void> {
    if (this.closed) throw new KernelError("FAILED", "nft session is closed");
    if (this.unavailable) throw new SessionUnavailableError(this.unavailable);
    let c = this.child;
    if (!c) {
      c = this.child = this.start();
      // Handshake: the sentinel alone must come back. If this nft cannot run interactively or
      // prints something else for it, the session is unusable and callers fall back to one-shot
      // nft; nothing was sent yet, so nothing can be half-done.
      try {
        await this.exchange(c, "", this.opts.handshakeTimeoutMs ?? Math.min(HANDSHAKE_TIMEOUT_MS, this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS));
      } catch (e) {
        this.unavailable = `nft -j -i did not answer its handshake: ${(e as Error).message}`;
        if (this.child === c) this.child = undefined;
        c.proc.kill("SIGKILL");
        throw new SessionUnavailableError(this.unavailable);
      }
    }
    this.calls++;
    c.written += line.length + 1;
    try {
      await this.exchange(c, `${line}\n`, this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    } finally {
      if (c.written >= (this.opts.recycleAfterBytes ?? RECYCLE_AFTER_BYTES)) this.retire(c);
    }
  }

  /** Lets a child finish on EOF; the next call starts a new one. */
  private retire(c: Child): void {
    if (this.child === c) this.child = undefined;
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.stdin.end();
  }

  /** Writes `text` and the sentinel; settles when the sentinel's answer arrives. */
  private exchange(c: Child, text: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Forget the child at once so the next call starts a fresh one; its 'close' can then
        // only settle its own (already settled) call.
        if (this.child === c) this.child = undefined;
        this.settle(c, new KernelError("TIMEOUT", `nft session: no answer after ${timeoutMs} ms`, ["nft", "-j", "-i"]));
        c.proc.kill("SIGKILL");
      }, timeoutMs);
      c.pending = { resolve, reject, timer };
      busy(c.proc);
      c.proc.stdin.write(`${text}${SENTINEL_COMMAND}\n`);
    }).finally(() => idle(c.proc));
  }

  private onData(c: Child, d: string): void {
    c.output += d;
    for (;;) {
      const at = c.output.indexOf(SENTINEL_PREFIX);
      if (at < 0) return;
      const lineEnd = c.output.indexOf("\n", at);
      if (lineEnd < 0) return;
      const output = c.output.slice(0, at);
      c.output = c.output.slice(lineEnd + 1);
      if (/Error:/.test(output)) {
        const first = output.trim().split("\n").slice(0, 3).join(" | ");
        this.settle(c, new KernelError(classifyStderr(output), `nft: ${first}`, ["nft", "-j", "-i"], null, output));
      } else this.settle(c, null);
    }
  }

  private settle(c: Child, error: KernelError | null): void {
    const p = c.pending;
    c.pending = undefined;
    if (!p) return;
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve();
  }
}
