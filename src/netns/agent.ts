/**
 * The namespace agent: one process per pod (or node, or "world") namespace, started with
 * `ip netns exec <ns> node agent.js`, driven over stdin/stdout with one JSON object per line.
 * Being inside the namespace, it runs servers and probes without paying `ip netns exec` (~5 ms)
 * per probe, and many probes can run at once.
 *
 * Requests carry an `id`; each gets exactly one reply {id, ...}. Operations:
 *   serve     {tcp: ports[], udp: ports[], addresses: ips[]}  echo servers (TCP on ::, UDP per address
 *             so replies leave from the address the client used)
 *   tcp       {dst, port, src?, timeoutMs}   connect + one echo round trip
 *   udp       {dst, port, src?, timeoutMs}   one datagram and its echo
 *   ping      {dst, family, src?, timeoutMs} ping -c1 (ICMP echo, code 0)
 *   raw       {family, proto, dst, src?, sport, dport, type, code, nonce}  one raw packet (SCTP INIT,
 *             or ICMP of any type/code) through the Perl helper
 *   seen      {nonce, timeoutMs}             did a raw packet with this nonce arrive here?
 *   hold      {key, dst, port, src?, intervalMs, timeoutMs}  a long-lived TCP connection echoing every
 *             interval; hold-stats {key} / hold-stop {key} report {sent, ok, failed, maxGapMs, closed}
 *   exit
 *
 * This file imports only Node built-ins: it is run as a standalone script.
 */
import { spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import net from "node:net";
import { createInterface } from "node:readline";

type Req = { id: number; op: string; [k: string]: unknown };
type Outcome = "ok" | "refused" | "unreachable" | "timeout" | "error";

const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");

function classify(err: NodeJS.ErrnoException | undefined): Outcome {
  const c = err?.code;
  if (c === "ECONNREFUSED" || c === "ECONNRESET" || c === "EPIPE") return "refused";
  if (c === "EHOSTUNREACH" || c === "ENETUNREACH" || c === "EACCES" || c === "EPERM") return "unreachable";
  if (c === "ETIMEDOUT") return "timeout";
  return "error";
}

// ------------------------------------------------------------------------------------ servers

const servers: Array<net.Server | dgram.Socket> = [];

async function serve(r: Req): Promise<unknown> {
  const tcp = (r.tcp as number[]) ?? [];
  const udp = (r.udp as number[]) ?? [];
  const addresses = (r.addresses as string[]) ?? [];
  for (const port of tcp) {
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer((c) => {
        c.on("error", () => c.destroy());
        c.pipe(c);
      });
      s.on("error", reject);
      s.listen({ port, host: "::", ipv6Only: false }, () => resolve());
      servers.push(s);
    });
  }
  for (const port of udp) {
    for (const addr of addresses) {
      await new Promise<void>((resolve, reject) => {
        const s = dgram.createSocket({ type: addr.includes(":") ? "udp6" : "udp4" });
        s.on("error", reject);
        s.on("message", (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
        s.bind(port, addr, () => resolve());
        servers.push(s);
      });
    }
  }
  return { ok: true };
}

// ------------------------------------------------------------------------------------ probes

function tcpProbe(r: Req): Promise<unknown> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: Outcome, detail?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ outcome, ms: Date.now() - t0, ...(detail ? { detail } : {}) });
    };
    const opts: net.NetConnectOpts = { host: r.dst as string, port: r.port as number };
    if (r.src) (opts as net.TcpNetConnectOpts).localAddress = r.src as string;
    const sock = net.connect(opts);
    const timer = setTimeout(() => finish("timeout"), (r.timeoutMs as number) ?? 500);
    sock.on("connect", () => sock.write("tortie-probe\n"));
    sock.on("data", () => finish("ok"));
    sock.on("error", (e: NodeJS.ErrnoException) => finish(classify(e), e.code));
    sock.on("close", () => finish("refused", "closed"));
  });
}

function udpProbe(r: Req): Promise<unknown> {
  const t0 = Date.now();
  const dst = r.dst as string;
  return new Promise((resolve) => {
    const s = dgram.createSocket({ type: dst.includes(":") ? "udp6" : "udp4" });
    let done = false;
    const finish = (outcome: Outcome, detail?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        s.close();
      } catch {
        /* closed */
      }
      resolve({ outcome, ms: Date.now() - t0, ...(detail ? { detail } : {}) });
    };
    const timer = setTimeout(() => finish("timeout"), (r.timeoutMs as number) ?? 500);
    s.on("error", (e: NodeJS.ErrnoException) => finish(classify(e), e.code));
    s.on("message", () => finish("ok"));
    const go = () =>
      s.connect(r.port as number, dst, () => {
        s.send("tortie-probe", (e) => e && finish(classify(e as NodeJS.ErrnoException), (e as NodeJS.ErrnoException).code));
      });
    if (r.src) s.bind(0, r.src as string, go);
    else go();
  });
}

function pingProbe(r: Req): Promise<unknown> {
  const t0 = Date.now();
  const secs = Math.max(0.1, ((r.timeoutMs as number) ?? 500) / 1000);
  const args = [r.family === 6 ? "-6" : "-4", "-c1", "-n", "-W", secs.toFixed(2)];
  if (r.src) args.push("-I", r.src as string);
  args.push(r.dst as string);
  return new Promise((resolve) => {
    const p = spawn("ping", args, { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    p.stdout.on("data", (d) => (text += d));
    p.stderr.on("data", (d) => (text += d));
    p.on("error", (e) => resolve({ outcome: "error", ms: Date.now() - t0, detail: e.message }));
    p.on("close", (code) => {
      const outcome: Outcome = code === 0 ? "ok" : /unreachable|prohibited|filtered/i.test(text) ? "unreachable" : "timeout";
      resolve({ outcome, ms: Date.now() - t0, ...(code === 0 ? {} : { detail: text.trim().split("\n").slice(-2).join(" | ") }) });
    });
  });
}

// ------------------------------------------------------------------------------------ raw (Perl)

let rawHelper: ChildProcess | undefined;
const seen = new Map<number, Record<string, unknown>>();
const seenWaiters = new Map<number, Array<() => void>>();
const sentWaiters = new Map<number, (o: Record<string, unknown>) => void>();

function raw(): ChildProcess {
  if (rawHelper) return rawHelper;
  const script = process.env.TORTIE_RAW_HELPER;
  if (!script) throw new Error("TORTIE_RAW_HELPER not set");
  rawHelper = spawn("perl", ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  rawHelper.on("exit", (code) => {
    // Answer everyone still waiting for the helper, then let the next raw request restart it.
    for (const [n, w] of sentWaiters) w({ error: `raw helper exited (${code})`, nonce: n });
    sentWaiters.clear();
    rawHelper = undefined;
  });
  createInterface({ input: rawHelper.stdout! }).on("line", (line) => {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof o.seen === "number") {
      seen.set(o.seen, o);
      for (const w of seenWaiters.get(o.seen) ?? []) w();
      seenWaiters.delete(o.seen);
    } else {
      const n = (o.sent ?? o.nonce) as number;
      sentWaiters.get(n)?.(o);
      sentWaiters.delete(n);
    }
  });
  return rawHelper;
}

function rawSend(r: Req): Promise<unknown> {
  const h = raw();
  const nonce = r.nonce as number;
  return new Promise((resolve) => {
    sentWaiters.set(nonce, (o) => resolve(o.error ? { outcome: "error", detail: o.error } : { outcome: "ok" }));
    const f = [r.family, r.proto, r.src ?? "-", r.dst, r.sport ?? 0, r.dport ?? 0, r.type ?? 0, r.code ?? 0, nonce];
    h.stdin!.write(`send ${f.join(" ")}\n`);
  });
}

function rawSeen(r: Req): Promise<unknown> {
  raw();
  const nonce = r.nonce as number;
  const hit = seen.get(nonce);
  if (hit) return Promise.resolve({ seen: true, packet: hit });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ seen: false }), (r.timeoutMs as number) ?? 500);
    const l = seenWaiters.get(nonce) ?? [];
    l.push(() => {
      clearTimeout(timer);
      resolve({ seen: true, packet: seen.get(nonce) });
    });
    seenWaiters.set(nonce, l);
  });
}

// ------------------------------------------------------------------------------------ hold

interface Hold {
  sock: net.Socket;
  sent: number;
  ok: number;
  failed: number;
  lastOk: number;
  maxGapMs: number;
  closed: string | null;
  timer: NodeJS.Timeout;
  pending: number | null;
}
const holds = new Map<string, Hold>();

function hold(r: Req): Promise<unknown> {
  return new Promise((resolve) => {
    const opts: net.NetConnectOpts = { host: r.dst as string, port: r.port as number };
    if (r.src) (opts as net.TcpNetConnectOpts).localAddress = r.src as string;
    const sock = net.connect(opts);
    const timeoutMs = (r.timeoutMs as number) ?? 1000;
    const failTimer = setTimeout(() => {
      sock.destroy();
      resolve({ outcome: "timeout" });
    }, timeoutMs);
    sock.on("error", (e: NodeJS.ErrnoException) => {
      const h = holds.get(r.key as string);
      if (h) h.closed = e.code ?? "error";
      else {
        clearTimeout(failTimer);
        resolve({ outcome: classify(e) });
      }
    });
    sock.on("connect", () => {
      clearTimeout(failTimer);
      const h: Hold = { sock, sent: 0, ok: 0, failed: 0, lastOk: Date.now(), maxGapMs: 0, closed: null, pending: null, timer: setInterval(() => tick(h), (r.intervalMs as number) ?? 20) };
      holds.set(r.key as string, h);
      resolve({ outcome: "ok" });
    });
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString();
      const h = holds.get(r.key as string);
      if (!h) return;
      while (buf.includes("\n")) {
        buf = buf.slice(buf.indexOf("\n") + 1);
        h.ok++;
        const now = Date.now();
        h.maxGapMs = Math.max(h.maxGapMs, now - h.lastOk);
        h.lastOk = now;
        h.pending = null;
      }
    });
    sock.on("close", () => {
      const h = holds.get(r.key as string);
      if (h && !h.closed) h.closed = "closed";
    });
    const tick = (h: Hold) => {
      if (h.closed) return;
      // An echo still outstanding after a full timeout counts as a failure (the connection is cut).
      if (h.pending !== null && Date.now() - h.pending > timeoutMs) {
        h.failed++;
        h.pending = null;
      }
      if (h.pending === null) {
        h.pending = Date.now();
        h.sent++;
        h.sock.write("x\n");
      }
    };
  });
}

function holdStats(r: Req, stop: boolean): unknown {
  const h = holds.get(r.key as string);
  if (!h) return { error: "no such hold" };
  const gapNow = Date.now() - h.lastOk;
  const res = { sent: h.sent, ok: h.ok, failed: h.failed, maxGapMs: Math.max(h.maxGapMs, h.pending !== null ? gapNow : 0), closed: h.closed };
  if (stop) {
    clearInterval(h.timer);
    h.sock.destroy();
    holds.delete(r.key as string);
  }
  return res;
}

// ------------------------------------------------------------------------------------ loop

async function handle(r: Req): Promise<unknown> {
  switch (r.op) {
    case "serve":
      return serve(r);
    case "tcp":
      return tcpProbe(r);
    case "udp":
      return udpProbe(r);
    case "ping":
      return pingProbe(r);
    case "raw":
      return rawSend(r);
    case "seen":
      return rawSeen(r);
    case "hold":
      return hold(r);
    case "hold-stats":
      return holdStats(r, false);
    case "hold-stop":
      return holdStats(r, true);
    case "exit":
      setImmediate(() => {
        rawHelper?.kill();
        process.exit(0);
      });
      return { ok: true };
    default:
      return { error: `unknown op ${r.op}` };
  }
}

createInterface({ input: process.stdin }).on("line", (line) => {
  let r: Req;
  try {
    r = JSON.parse(line);
  } catch {
    return;
  }
  handle(r).then(
    (res) => out({ id: r.id, ...(res as object) }),
    (e: Error) => out({ id: r.id, error: e.message }),
  );
});
process.stdin.on("end", () => {
  rawHelper?.kill();
  process.exit(0);
});
if (process.env.TORTIE_RAW_HELPER) raw();
out({ ready: true, pid: process.pid });
