/**
 * The flow log on disk: one JSON object per line, appended by the agent (from the NFLOG records
 * its rules emit) and read by `tortie logs`. The file is rotated by size: when it would exceed
 * `maxBytes`, it is renamed to "<file>.1" (replacing an older one) and a new file is started, so
 * at most twice `maxBytes` is kept. Readers read "<file>.1" then "<file>", and a follower notices
 * the rotation (the file shrinks or changes inode) and starts over on the new file.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import type { FlowLogLine } from "../flowlog/index.js";

/** One line of the flow log: src/flowlog's FlowLogLine plus the node that logged it. */
export type FlowRecord = FlowLogLine & { node: string };

export const DEFAULT_FLOW_LOG_MAX_BYTES = 10 * 1024 * 1024;

/** <data dir>/flows-<node>.log */
export function flowLogPath(dataDir: string, node: string): string {
  return join(dataDir, `flows-${node.replace(/[^A-Za-z0-9._-]/g, "_")}.log`);
}

export class FlowLogWriter {
  private fd: number | undefined;
  private size = 0;

  constructor(
    readonly path: string,
    private readonly maxBytes = DEFAULT_FLOW_LOG_MAX_BYTES,
  ) {}

  private open(): number {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, "a", 0o640);
      this.size = fstatSync(this.fd).size;
    }
    return this.fd;
  }

  write(rec: FlowRecord): void {
    const line = Buffer.from(JSON.stringify(rec) + "\n");
    let fd = this.open();
    if (this.size > 0 && this.size + line.length > this.maxBytes) {
      closeSync(fd);
      this.fd = undefined;
      renameSync(this.path, `${this.path}.1`);
      fd = this.open();
    }
    writeSync(fd, line);
    this.size += line.length;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function readAll(path: string, from = 0): { text: string; end: number } {
  if (!existsSync(path)) return { text: "", end: 0 };
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size <= from) return { text: "", end: size };
    const buf = Buffer.alloc(size - from);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, from + off);
      if (n === 0) break;
      off += n;
    }
    return { text: buf.subarray(0, off).toString("utf8"), end: from + off };
  } finally {
    closeSync(fd);
  }
}

function parseLines(text: string): { records: FlowRecord[]; rest: string } {
  const lines = text.split("\n");
  const rest = lines.pop() ?? "";
  const records: FlowRecord[] = [];
  for (const l of lines) {
    if (!l.trim()) continue;
    try {
      records.push(JSON.parse(l) as FlowRecord);
    } catch {
      /* a torn line from a crash: skip it */
    }
  }
  return { records, rest };
}

/** Every record currently on disk, oldest first. */
export function readFlowLog(path: string): FlowRecord[] {
  const old = parseLines(readAll(`${path}.1`).text + "\n").records;
  return [...old, ...parseLines(readAll(path).text + "\n").records];
}

/**
 * Calls `onRecord` for records appended after the call (and, with `fromStart`, for the ones
 * already there). Polls every `intervalMs`; returns a stop function.
 */
export function followFlowLog(path: string, onRecord: (r: FlowRecord) => void, opts: { fromStart?: boolean; intervalMs?: number } = {}): () => void {
  let offset = 0;
  let ino = -1;
  let pending = "";
  if (opts.fromStart) {
    for (const r of parseLines(readAll(`${path}.1`).text + "\n").records) onRecord(r);
  } else if (existsSync(path)) {
    const st = statSync(path);
    offset = st.size;
    ino = st.ino;
  }
  const tick = () => {
    if (!existsSync(path)) return;
    const st = statSync(path);
    if (st.ino !== ino || st.size < offset) {
      // Rotated: what was left of the old file is in <path>.1 now; start the new one from 0.
      if (ino !== -1 && existsSync(`${path}.1`)) {
        const tail = readAll(`${path}.1`, offset);
        for (const r of parseLines(pending + tail.text).records) onRecord(r);
      }
      pending = "";
      offset = 0;
      ino = st.ino;
    }
    const { text, end } = readAll(path, offset);
    offset = end;
    const { records, rest } = parseLines(pending + text);
    pending = rest;
    for (const r of records) onRecord(r);
  };
  tick();
  const timer = setInterval(tick, opts.intervalMs ?? 200);
  return () => clearInterval(timer);
}
