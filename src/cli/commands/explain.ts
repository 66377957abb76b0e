/**
 * `tortie explain -f DIR --from x/a --to y/b --protocol TCP --port 80 [-o json]`: is this flow
 * allowed, and which tier / policy / rule decided it? Without -f the resources come from the
 * datastore. Exit status: 0 when the question was answered (either verdict; `--exit-code` makes a
 * deny exit 2), 1 for bad input (unknown endpoint, bad port, invalid resources).
 *
 * This file only registers the verb (it is loaded for every `tortie` invocation); the action and the
 * input plumbing shared by matrix and diff (loadCluster & co) are in explain-run.ts.
 */
import { Option, type Command } from "commander";
import type { ExplainOptions } from "./explain-run.js";
import { addEngineInputOptions } from "./engine-io.js";

export function register(program: Command): void {
  const cmd = program
    .command("explain")
    .description("is a flow allowed, and which tier / policy / rule decided it?")
    .requiredOption("--from <endpoint>", "source: namespace/pod, hep:<name>, a WorkloadEndpoint name, or an IP address")
    .requiredOption("--to <endpoint>", "destination, same forms as --from")
    .option("--protocol <proto>", "TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number", "TCP")
    .option("--port <port>", "destination port (TCP/UDP/SCTP)")
    .option("--src-port <port>", "source port (default: unknown, matches no source port rule)")
    .option("--icmp-type <type>", "ICMP type (default 8 / 128: echo request)")
    .option("--icmp-code <code>", "ICMP code (default 0)")
    .option("--ipv4", "use the endpoints' IPv4 addresses")
    .option("--ipv6", "use the endpoints' IPv6 addresses")
    .option("-o, --output <format>", "text or json", "text")
    .option("--exit-code", "exit 2 when the flow is denied");
  addEngineInputOptions(cmd);
  cmd.action(async (opts: ExplainOptions) => {
    const { runExplain } = await import("./explain-run.js");
    const code = await runExplain(opts);
    if (code !== 0) process.exitCode = code;
  });
}
