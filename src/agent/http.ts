/**
 * The agent's HTTP endpoints: /healthz (the process and its loop are alive), /readyz (the first
 * datastore snapshot is programmed; 503 before), /metrics (Prometheus text), /status (JSON for
 * humans and tests). Bound to loopback by default; inside a node network namespace that is the
 * namespace's own loopback.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Agent } from "./agent.js";

export interface HealthServer {
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

/** "host:port", "[v6]:port" or ":port" (all interfaces). */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

export function startHealthServer(agent: Agent, listen: { host: string; port: number }): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    const send = (code: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(code, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n");
    switch (url) {
      case "/healthz":
        return send(200, "ok\n");
      case "/readyz":
        return agent.ready ? send(200, "ready\n") : send(503, "not ready: the first datastore snapshot is not programmed yet\n");
      case "/status":
        return send(200, JSON.stringify(agent.status(), null, 2) + "\n", "application/json");
      case "/metrics":
        agent.metrics
          .text()
          .then((t) => send(200, t, agent.metrics.registry.contentType))
          .catch((e) => send(500, `${(e as Error).message}\n`));
        return;
      default:
        return send(404, "not found\n");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      const a = server.address() as AddressInfo;
      resolve({
        address: { host: a.address, port: a.port },
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}
