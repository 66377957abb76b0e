/**
 * NFLOG reader built on ulogd2 (Debian packages ulogd2 and ulogd2-json): ulogd runs in the
 * foreground inside the namespace whose rules log (NFLOG groups are per network namespace and a
 * group has one reader), writes one JSON object per packet, and this class tails the file and
 * parses each object into an NflogRecord. Stopped by PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KernelError } from "../kernel/index.js";
import type { NflogRecord } from "./types.js";

export const ULOGD_PLUGIN_DIR = "/usr/lib/x86_64-linux-gnu/ulogd";

export function ulogdConfig(group: number, jsonFile: string, logFile: string, pluginDir = ULOGD_PLUGIN_DIR): string {
  const p = (n: string) => `plugin="${pluginDir}/ulogd_${n}.so"`;
  return [
    "[global]",
    `logfile="${logFile}"`,
    "loglevel=3",
    p("inppkt_NFLOG"),
    p("raw2packet_BASE"),
    p("filter_IFINDEX"),
    p("filter_IP2STR"),
    p("output_JSON"),
    "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON",
    "[log1]",
    `group=${group}`,
    "[json1]",
    `file="${jsonFile}"`,
    "sync=1",
    "",
  ].join("\n");
}

const num = (v: unknown): number | undefined => (typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : undefined);

/** One ulogd JSON object → NflogRecord (undefined for objects that are not IP packets). */
export function parseUlogdJson(o: Record<string, unknown>): NflogRecord | undefined {
  const fam = num(o["oob.family"]);
  const family = fam === 2 ? 4 : fam === 10 ? 6 : undefined;
  const src = o.src_ip as string | undefined;
  const dst = o.dest_ip as string | undefined;
  if (!family || !src || !dst) return undefined;
  const protocol = num(o["ip.protocol"]) ?? num(o["ip6.nexthdr"]) ?? 0;
  const sec = num(o["oob.time.sec"]);
  const usec = num(o["oob.time.usec"]) ?? 0;
  const time = sec !== undefined ? new Date(sec * 1000 + Math.floor(usec / 1000)).toISOString() : new Date().toISOString();
  const r: NflogRecord = {
    time,
    prefix: String(o["oob.prefix"] ?? "").trimEnd(),
    inIface: String(o["oob.in"] ?? ""),
    outIface: String(o["oob.out"] ?? ""),
    family,
    protocol,
    src,
    dst,
  };
  const sp = num(o.src_port) ?? num(o["sctp.sport"]);
  const dp = num(o.dest_port) ?? num(o["sctp.dport"]);
  if (sp !== undefined) r.srcPort = sp;
  if (dp !== undefined) r.dstPort = dp;
  const it = num(o["icmp.type"]) ?? num(o["icmpv6.type"]);
  const ic = num(o["icmp.code"]) ?? num(o["icmpv6.code"]);
  if (it !== undefined) r.icmpType = it;
  if (ic !== undefined) r.icmpCode = ic;
  return r;
}

export interface UlogdReaderOptions {
  netns?: string;
  group: number;
  /** Called for every record, in arrival order. */
  onRecord: (r: NflogRecord) => void;
  pollMs?: number;
  pluginDir?: string;
}

export class UlogdReader {
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private offset = 0;
  private partial = "";
  private readonly dir: string;
  private readonly jsonFile: string;
  private readonly logFile: string;

  constructor(private readonly opts: UlogdReaderOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "tortie-ulogd-"));
    this.jsonFile = join(this.dir, "nflog.json");
    this.logFile = join(this.dir, "ulogd.log");
  }

  /** Starts ulogd and waits until it holds the NFLOG group. */
  async start(): Promise<void> {
    const conf = join(this.dir, "ulogd.conf");
    writeFileSync(conf, ulogdConfig(this.opts.group, this.jsonFile, this.logFile, this.opts.pluginDir));
    writeFileSync(this.jsonFile, "");
    const argv = ["-c", conf];
    const [bin, args] = this.opts.netns ? ["ip", ["netns", "exec", this.opts.netns, "ulogd", ...argv]] : ["ulogd", argv];
    const child = spawn(bin, args as string[], { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    await new Promise<void>((resolve, reject) => {
      child.on("error", (e) => reject(new KernelError("TOOL_MISSING", `ulogd: ${e.message}`)));
      child.on("exit", (code) => reject(new KernelError(stderr.includes("exec of") ? "TOOL_MISSING" : "FAILED", `ulogd exited with ${code}: ${stderr.trim() || this.log()}`)));
      // ulogd has no readiness signal; it binds the group within a few ms of starting. The log
      // file says when the stack is built.
      const t0 = Date.now();
      const check = () => {
        if (this.log().includes("building new pluginstance stack") || Date.now() - t0 > 1500) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
    child.removeAllListeners("exit");
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 50);
  }

  private log(): string {
    try {
      return existsSync(this.logFile) ? readFileUtf8(this.logFile) : "";
    } catch {
      return "";
    }
  }

  /** Reads what ulogd appended since the last poll. */
  poll(): void {
    let size: number;
    try {
      size = statSync(this.jsonFile).size;
    } catch {
      return;
    }
    if (size <= this.offset) return;
    const fd = openSync(this.jsonFile, "r");
    try {
      const buf = Buffer.alloc(size - this.offset);
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.partial + buf.toString("utf8");
      const lines = text.split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          const rec = parseUlogdJson(JSON.parse(line));
          if (rec) this.opts.onRecord(rec);
        } catch {
          /* a line ulogd is still writing would be kept in `partial`; a broken one is skipped */
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Stops ulogd (by PID) after a last read, and removes its files. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.poll();
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) {
      const gone = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 1000);
      await gone;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function readFileUtf8(p: string): string {
  const fd = openSync(p, "r");
  try {
    const size = statSync(p).size;
    const b = Buffer.alloc(size);
    readSync(fd, b, 0, size, 0);
    return b.toString("utf8");
  } finally {
    closeSync(fd);
  }
}
