/**
 * `tortie matrix -f DIR --protocol TCP --port 80 [-o json]`: the allow/deny table of every
 * endpoint pair (rows: from, columns: to), plus what staged policies would change.
 */
import type { Command } from "commander";
import type { MatrixOptions } from "./matrix-run.js";
import { addEngineInputOptions } from "./engine-io.js";

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
    const { runMatrix } = await import("./matrix-run.js");
    const code = await runMatrix(opts);
    if (code !== 0) process.exitCode = code;
  });
}
