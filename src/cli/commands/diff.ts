/**
 * `tortie diff -f OLD -f NEW [--protocol TCP] [--port 80 ...] [-o json]`: the endpoint pairs that
 * become allowed or denied going from OLD to NEW. With one -f, OLD is the datastore. Exit status 0
 * (also when something changed; `--exit-code` makes a change exit 2), 1 for bad input.
 */
import type { Command } from "commander";
import type { DiffOptions } from "./diff-run.js";
import { addEngineInputOptions } from "./engine-io.js";

export function register(program: Command): void {
  const cmd = program
    .command("diff")
    .description("endpoint pairs that become allowed or denied between two sets of resources")
    .option("--protocol <proto>", "TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a number", "TCP")
    .option("--port <port>", "destination port to compare; repeatable (default: every port the policies mention)", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option("--ipv6", "compare IPv6 addresses (default IPv4)")
    .option("-o, --output <format>", "text or json", "text")
    .option("--exit-code", "exit 2 when some pair changed");
  addEngineInputOptions(cmd, "OLD then NEW: file, directory or - (one -f: datastore → NEW)");
  cmd.action(async (opts: DiffOptions) => {
    const { runDiff } = await import("./diff-run.js");
    const code = await runDiff(opts);
    if (code !== 0) process.exitCode = code;
  });
}
