/**
 * Starts real etcd servers for tests (single member or a cluster) on 127.0.0.1 with free ports
 * and a temporary data directory, and stops them by PID. Exported so that other folders' tests
 * (agent, CLI) can run against a real etcd too.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ETCD_BINARY = process.env.TORTIE_ETCD_BINARY ?? "/usr/bin/etcd";

export function etcdAvailable(): boolean {
  return existsSync(ETCD_BINARY);
}

/**
 * A free loopback port BELOW the kernel's ephemeral range (32768+ by default). Members are killed
 * and restarted on the same ports; a port from the ephemeral range can meanwhile be handed to some
 * outgoing connection on the machine, and the restart then fails with "address already in use".
 */
const PORT_RANGE = { min: 20_000, max: 32_000 };
const handedOut = new Set<number>();

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_RANGE.min + Math.floor(Math.random() * (PORT_RANGE.max - PORT_RANGE.min));
    if (handedOut.has(port)) continue;
    if (await tryListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free loopback port in ${PORT_RANGE.min}-${PORT_RANGE.max}`);
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  process: ChildProcess | undefined;
  pid: number | undefined;
}

/** Serve clients over TLS and require client certificates signed by `caFile`. */
export interface EtcdTestTls {
  caFile: string;
  /** Server certificate (must cover IP 127.0.0.1) and key. */
  certFile: string;
  keyFile: string;
  /** A client certificate the harness itself uses for its health check. */
  clientCertFile: string;
  clientKeyFile: string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** All client URLs. */
  endpoints: string[];
  /** SIGKILLs one member (by its PID) and waits for it to exit. */
  kill(index: number): Promise<void>;
  /** Starts a killed member again on its data directory and waits until the cluster takes writes. */
  restart(index: number): Promise<void>;
  /** Stops every member still running and removes the data directories. */
  stop(): Promise<void>;
  /** Last lines of each member's stderr, for failure messages. */
  logs(): string;
}

function waitExit(p: ChildProcess, ms: number): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function waitHealthy(endpoints: string[], timeoutMs: number, logs: () => string, tls?: EtcdTestTls): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  const credentials = tls
    ? { rootCertificate: readFileSync(tls.caFile), certChain: readFileSync(tls.clientCertFile), privateKey: readFileSync(tls.clientKeyFile) }
    : undefined;
  const { Etcd3 } = await import("etcd3"); // on demand, like the etcd store itself
  while (Date.now() < deadline) {
    for (const ep of endpoints) {
      const c = new Etcd3({ hosts: [ep], defaultCallOptions: () => ({ deadline: Date.now() + 1000 }), ...(credentials ? { credentials } : {}) });
      try {
        await c.put("/tortie-test/health").value("ok");
        return;
      } catch (err) {
        last = err;
      } finally {
        c.close();
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`etcd did not become healthy in ${timeoutMs} ms: ${String(last)}\n${logs()}`);
}

/** Starts `size` etcd members forming one cluster; resolves once a write succeeds. */
export async function startEtcd(opts: { members?: number; timeoutMs?: number; tls?: EtcdTestTls; extraArgs?: string[] } = {}): Promise<EtcdCluster> {
  const scheme = opts.tls ? "https" : "http";
  const size = opts.members ?? 1;
  const root = mkdtempSync(join(tmpdir(), `tortie-etcd-${process.pid}-`));
  const token = `tortie-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    const [cp, pp] = [await freePort(), await freePort()];
    members.push({ name: `m${i}`, clientUrl: `${scheme}://127.0.0.1:${cp}`, peerUrl: `http://127.0.0.1:${pp}`, dataDir: join(root, `m${i}`), process: undefined, pid: undefined });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  const logBuf = new Map<string, string[]>();
  const spawnMember = (m: EtcdMember): void => {
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      "--initial-cluster-state=new",
      `--initial-cluster-token=${token}`,
      "--logger=zap",
      "--log-level=error",
      // Short timeouts so a killed member is noticed quickly in tests.
      "--heartbeat-interval=50",
      "--election-timeout=500",
      ...(opts.tls
        ? [`--cert-file=${opts.tls.certFile}`, `--key-file=${opts.tls.keyFile}`, `--trusted-ca-file=${opts.tls.caFile}`, "--client-cert-auth=true"]
        : []),
      ...(opts.extraArgs ?? []),
    ];
    const p = spawn(ETCD_BINARY, args, { stdio: ["ignore", "ignore", "pipe"] });
    const lines: string[] = logBuf.get(m.name) ?? [];
    logBuf.set(m.name, lines);
    p.stderr?.setEncoding("utf8");
    p.stderr?.on("data", (d: string) => {
      lines.push(...d.split("\n").filter(Boolean));
      if (lines.length > 50) lines.splice(0, lines.length - 50);
    });
    m.process = p;
    m.pid = p.pid;
  };
  for (const m of members) spawnMember(m);
  const logs = () => [...logBuf].map(([n, l]) => `--- ${n}\n${l.join("\n")}`).join("\n");
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    logs,
    async kill(index: number) {
      const m = members[index];
      if (!m?.process || m.pid === undefined) return;
      if (m.process.exitCode === null && m.process.signalCode === null) {
        process.kill(m.pid, "SIGKILL");
        await waitExit(m.process, 10_000);
      }
    },
    async restart(index: number) {
      const m = members[index];
      if (!m) throw new Error(`no etcd member ${index}`);
      if (m.process && m.process.exitCode === null && m.process.signalCode === null) return;
      spawnMember(m);
      await waitHealthy([m.clientUrl], opts.timeoutMs ?? 30_000, logs, opts.tls);
    },
    async stop() {
      for (const m of members) {
        if (!m.process || m.pid === undefined) continue;
        if (m.process.exitCode === null && m.process.signalCode === null) {
          try {
            process.kill(m.pid, "SIGTERM");
          } catch {
            /* already gone */
          }
          if (!(await waitExit(m.process, 5_000))) {
            try {
              process.kill(m.pid, "SIGKILL");
            } catch {
              /* already gone */
            }
            await waitExit(m.process, 5_000);
          }
        }
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await waitHealthy(cluster.endpoints, opts.timeoutMs ?? 30_000, logs, opts.tls);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
