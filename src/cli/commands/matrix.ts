/**
 * `tortie matrix -f DIR --protocol TCP --port 80 [-o json]`: the allow/deny table of every
 * endpoint pair (rows: from, columns: to), plus what staged policies would change.
 */
import type { Command } from "commander";
import { formatMatrix } from "../../engine/index.js";
import { addEngineInputOptions, defaultEngineIO, intOption, loadCluster, printQueryIssues, type EngineIO, type EngineInputOptions } from "./explain.js";

export interface MatrixOptions extends EngineInputOptions {
  protocol: string;
  port?: string;
  icmpType?: string;
  icmpCode?: string;
  ipv6?: boolean;
  output: string;
}

export async function runMatrix(opts: MatrixOptions, io: EngineIO = defaultEngineIO()): Promise<number> {
  if (opts.output !== "text" && opts.output !== "json") {
    io.err(`tortie matrix: unknown output format "${opts.output}" (use text or json)\n`);
    return 1;
  }
  const port = intOption(opts.port);
  const icmpType = intOption(opts.icmpType);
  const icmpCode = intOption(opts.icmpCode);
  if ([port, icmpType, icmpCode].some((v) => Number.isNaN(v))) {
    io.err("tortie matrix: --port, --icmp-type and --icmp-code must be numbers\n");
    return 1;
  }
  const cluster = await loadCluster(opts.filename, opts, io, "matrix");
  if (!cluster) return 1;
  const r = cluster.tryMatrix({
    protocol: /^[0-9]+$/.test(opts.protocol) ? Number(opts.protocol) : opts.protocol,
    ...(port !== undefined ? { port } : {}),
    ...(icmpType !== undefined ? { icmp: { type: icmpType, ...(icmpCode !== undefined ? { code: icmpCode } : {}) } } : {}),
    family: opts.ipv6 ? 6 : 4,
  });
  if (!r.ok) {
    printQueryIssues(r.issues, io, "matrix");
    return 1;
  }
  io.out(opts.output === "json" ? `${JSON.stringify(r.value)}\n` : formatMatrix(r.value));
  return 0;
}

export function register(program: Command): void {
  const cmd = program
    .command("matrix")
    .description("allow/deny table of all endpoint pairs for one protocol/port")
    .option("--protocol <proto>", "TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number", "TCP")
    .option("--port <port>", "destination port (TCP/UDP/SCTP)")
    .option("--icmp-type <type>", "ICMP type (default: echo request)")
    .option("--icmp-code <code>", "ICMP code (default 0)")
    .option("--ipv6", "use IPv6 addresses (default IPv4)")
    .option("-o, --output <format>", "text or json", "text");
  addEngineInputOptions(cmd);
  cmd.action(async (opts: MatrixOptions) => {
    const code = await runMatrix(opts);
    if (code !== 0) process.exitCode = code;
  });
}
