/**
 * A long-lived native/nfnl-relay process: sends encoded nf_tables batches (nfnl.ts) to the kernel of
 * a network namespace and brings back the kernel's answer.
 *
 * The relay runs where nft would (`ip netns exec <ns>` for a namespace), one request at a time.
 * A first request (nf_tables' generation query, or ipset's protocol query) checks that the relay
 * starts and can talk to the kernel there; if it cannot (not built, no permission), the relay is marked unavailable and
 * the caller uses nft. Once a batch has been written, a dead or silent relay is a KernelError
 * (FAILED or TIMEOUT): the batch may or may not have been committed, so the applier does what it
 * does after any failed batch, a full replace. A timeout kills the child (ours, by PID); the next
 * call starts another.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { KernelError, type KernelErrorCode } from "./errors.js";
import { DEFAULT_TIMEOUT_MS, wrapNetns } from "./exec.js";
import { busy, endChild, idle } from "./helper-process.js";
import { errnoCode, errnoText, parseAnswer, SEQ_BLOCK, type EncodedBatch } from "./netlink.js";
import { encodeGenerationQuery } from "./nfnl.js";

/** Where `npm install` builds the relay (scripts/build-native.mjs), from src/kernel or dist/kernel. */
export function defaultRelayPath(): string {
  return process.env.TORTIE_NFNL_RELAY ?? fileURLToPath(new URL("../../native/build/nfnl-relay", import.meta.url));
}

export interface NfnlRelayOptions {
  netns?: string;
  timeoutMs?: number;
  /** The relay binary (default: defaultRelayPath()). */
  binary?: string;
  /** The first request, which must be answered without error (default: nf_tables' generation
   *  query; the ipset kernel uses ipset's protocol query, which needs no nf_tables). */
  probe?: (seq: number) => EncodedBatch;
  /** Text and code of error numbers that are not errnos (ipset's own, ≥ 4096). */
  describeError?: (errno: number) => { text: string; code: KernelErrorCode } | undefined;
}

/** The kernel answered the batch with an error: the transaction was not committed, nothing
 *  changed (the caller may hand the same batch to the tool). */
export class NetlinkRefusedError extends KernelError {}

/** The relay cannot run here; nothing was sent. */
export class RelayUnavailableError extends KernelError {
  constructor(why: string) {
    super("FAILED", why, ["nfnl-relay"]);
  }
}

interface Child {
  proc: ChildProcessWithoutNullStreams;
  received: Buffer[];
  receivedBytes: number;
  stderr: string;
  pending: { resolve: (bytes: Buffer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
}

const HANDSHAKE_TIMEOUT_MS = 5_000;

export class NfnlRelay {
  /** Why the relay cannot be used (set once; every later call fails fast). */
  unavailable: string | undefined;
  private child: Child | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private seq = SEQ_BLOCK;
  /** Batches sent (for tests and metrics). */
  calls = 0;
  /** Processes started. */
  starts = 0;

  constructor(private readonly opts: NfnlRelayOptions = {}) {}

  /** The first sequence number of the next batch (each batch gets a block of SEQ_BLOCK). */
  nextSeq(): number {
    const first = this.seq;
    this.seq = (this.seq + SEQ_BLOCK) % 0x7fff_0000;
    return first;
  }

  /** Sends one encoded batch; resolves with the kernel's answer (every message it sent back) when
   *  no message failed, throws KernelError otherwise. */
  send(batch: EncodedBatch): Promise<Buffer> {
    const p = this.queue.then(() => this.run(batch));
    this.queue = p.catch(() => undefined);
    return p;
  }

  get pid(): number | undefined {
    return this.child?.proc.pid;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const c = this.child;
    this.child = undefined;
    if (c) await endChild(c.proc);
  }

  /**
   * Starts the relay and checks it answers, ahead of the first batch (the agent calls this after
   * its first full load, so the first change does not pay for a process start). Never throws: a
   * relay that cannot run is marked unavailable.
   */
  warm(): Promise<void> {
    const p = this.queue.then(() => this.ready()).then(
      () => undefined,
      () => undefined,
    );
    this.queue = p;
    return p;
  }

  /** The running child, started and probed if there is none. */
  private async ready(): Promise<Child> {
    if (this.closed) throw new KernelError("FAILED", "nfnl relay is closed");
    if (this.unavailable) throw new RelayUnavailableError(this.unavailable);
    let c = this.child;
    if (!c) {
      const binary = this.opts.binary ?? defaultRelayPath();
      if (!existsSync(binary)) {
        this.unavailable = `nfnl relay not built (${binary}; npm install builds it with a C compiler)`;
        throw new RelayUnavailableError(this.unavailable);
      }
      c = this.child = this.start(binary);
      try {
        const probe = (this.opts.probe ?? encodeGenerationQuery)(this.nextSeq());
        const answer = parseAnswer(await this.exchange(c, probe, Math.min(HANDSHAKE_TIMEOUT_MS, this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS)), probe);
        if (!answer.answered || answer.failures.length > 0) throw new Error(answer.failures.map((f) => errnoText(f.errno)).join(", ") || "no answer");
      } catch (e) {
        this.unavailable = `nfnl relay did not answer its first request: ${(e as Error).message}`;
        if (this.child === c) this.child = undefined;
        c.proc.kill("SIGKILL");
        throw new RelayUnavailableError(this.unavailable);
      }
    }
    return c;
  }

  private async run(batch: EncodedBatch): Promise<Buffer> {
    const c = await this.ready();
    this.calls++;
    const bytes = await this.exchange(c, batch, this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const { failures, answered } = parseAnswer(bytes, batch);
    if (failures.length > 0) {
      const f = failures[0]!;
      const describe = (errno: number) => this.opts.describeError?.(errno) ?? { text: errnoText(errno), code: errnoCode(errno) };
      const first = describe(f.errno);
      const text = `netlink: ${f.what}: ${first.text}${f.detail ? `: ${f.detail}` : ""}`;
      throw new NetlinkRefusedError(first.code, text, ["nfnl-relay"], null, failures.map((x) => `${x.what}: ${describe(x.errno).text}`).join("\n"));
    }
    if (!answered) throw new KernelError("FAILED", "nfnl relay: the kernel's answer ended early", ["nfnl-relay"]);
    return bytes;
  }

  private start(binary: string): Child {
    const [bin, argv] = wrapNetns(binary, [], this.opts.netns);
    const proc = spawn(bin, argv, { stdio: ["pipe", "pipe", "pipe"] });
    const c: Child = { proc, received: [], receivedBytes: 0, stderr: "", pending: undefined };
    this.starts++;
    proc.stdout.on("data", (d: Buffer) => this.onData(c, d));
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (d: string) => {
      if (c.stderr.length < 4096) c.stderr += d;
    });
    proc.stdin.on("error", () => {
      /* reported through 'close' */
    });
    proc.on("error", (e) => this.settle(c, new KernelError("TOOL_MISSING", `nfnl relay: ${e.message}`, [bin, ...argv])));
    proc.on("close", (code, signal) => {
      if (this.child === c) this.child = undefined;
      const why = c.stderr.trim().split("\n").slice(0, 2).join(" | ");
      this.settle(c, new KernelError("FAILED", `nfnl relay ended (${signal ?? `exit ${code}`})${why ? `: ${why}` : ""}`, [bin, ...argv], code, c.stderr));
    });
    idle(proc);
    return c;
  }

  private exchange(c: Child, batch: EncodedBatch, timeoutMs: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.child === c) this.child = undefined;
        this.settle(c, new KernelError("TIMEOUT", `nfnl relay: no answer after ${timeoutMs} ms`, ["nfnl-relay"]));
        c.proc.kill("SIGKILL");
      }, timeoutMs);
      c.pending = { resolve, reject, timer };
      c.received = [];
      c.receivedBytes = 0;
      busy(c.proc);
      c.proc.stdin.write(frame(batch));
    }).finally(() => idle(c.proc));
  }

  private onData(c: Child, d: Buffer): void {
    c.received.push(d);
    c.receivedBytes += d.length;
    if (c.receivedBytes < 8) return;
    const all = c.received.length === 1 ? c.received[0]! : Buffer.concat(c.received);
    c.received = [all];
    const status = all.readUInt32LE(0);
    const len = all.readUInt32LE(4);
    if (all.length < 8 + len) return;
    c.received = [];
    c.receivedBytes = 0;
    if (status !== 0) this.settle(c, new KernelError(errnoCode(status), `nfnl relay: sending to the kernel failed: ${errnoText(status)}`, ["nfnl-relay"]));
    else this.settle(c, null, all.subarray(8, 8 + len));
  }

  private settle(c: Child, error: KernelError | null, bytes?: Buffer): void {
    const p = c.pending;
    c.pending = undefined;
    if (!p) return;
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(bytes ?? Buffer.alloc(0));
  }
}

/** The relay's request: u32 count, count × (u32 length, bytes), u32 terminator (little-endian). */
function frame(batch: EncodedBatch): Buffer {
  const parts: Buffer[] = [u32(batch.sends.length)];
  for (const s of batch.sends) parts.push(u32(s.length), s);
  parts.push(u32(batch.terminator));
  return Buffer.concat(parts);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/**
 * A kernel object's use of the relay (NftKernel, IptablesKernel): started ahead of the first
 * change, used while it can run, counted. The caller keeps the layouts and does the encoding.
 */
export class RelayPath {
  private relay: NfnlRelay | undefined;
  private readonly relayOpts: NfnlRelayOptions;
  private readonly enabled: boolean;
  /** Batches the relay committed. */
  batches = 0;

  constructor(opts: NfnlRelayOptions & { enabled?: boolean }) {
    const { enabled, ...relayOpts } = opts;
    this.enabled = enabled !== false;
    this.relayOpts = relayOpts;
  }

  /** Why the relay cannot be used, once that is known. */
  get unavailable(): string | undefined {
    return this.relay?.unavailable;
  }

  /** Starts the relay (once), so that the first change does not pay for the process start. */
  warm(): void {
    if (this.enabled && !this.relay) void this.get().warm();
  }

  /**
   * Sends the batch `encode` makes (given its first sequence number). False, with nothing sent,
   * when the path is off, the relay cannot run, or `encode` returns why it cannot encode the
   * change: the tool applies it then. A failure after the batch was written calls `onFailure`
   * and throws the KernelError.
   */
  async send(encode: (firstSeq: number) => EncodedBatch | string, onFailure: () => void): Promise<boolean> {
    if (!this.enabled || this.relay?.unavailable) return false;
    const relay = this.get();
    const encoded = encode(relay.nextSeq());
    if (typeof encoded === "string") return false;
    try {
      await relay.send(encoded);
    } catch (e) {
      if (e instanceof RelayUnavailableError) return false;
      onFailure();
      throw e;
    }
    this.batches++;
    return true;
  }

  /**
   * Sends a request that changes nothing (a query) and returns the kernel's answer; undefined when
   * the path is off, the relay cannot run, or the kernel refused the request.
   */
  async query(encode: (firstSeq: number) => EncodedBatch | string): Promise<Buffer | undefined> {
    if (!this.enabled || this.relay?.unavailable) return undefined;
    const relay = this.get();
    const encoded = encode(relay.nextSeq());
    if (typeof encoded === "string") return undefined;
    try {
      return await relay.send(encoded);
    } catch {
      return undefined;
    }
  }

  get stats(): { batches: number; starts: number; pid: number | undefined; unavailable: string | undefined } {
    return { batches: this.batches, starts: this.relay?.starts ?? 0, pid: this.relay?.pid, unavailable: this.relay?.unavailable };
  }

  async close(): Promise<void> {
    const r = this.relay;
    this.relay = undefined;
    await r?.close();
  }

  private get(): NfnlRelay {
    return (this.relay ??= new NfnlRelay(this.relayOpts));
  }
}
