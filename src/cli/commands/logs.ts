/**
 * `tortie logs [-f]`: the flow log the agent writes (<data dir>/flows-<node>.log, JSON lines).
 */
import { Option, type Command } from "commander";
import type { FlowRecord } from "../../agent/index.js";

export interface LogsOptions {
  follow?: boolean;
  node?: string;
  dataDir?: string;
  file?: string;
  output: "text" | "json";
}

const PROTO: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp" };

function endpoint(addr: string | undefined, port: number | undefined, family: number | undefined): string {
  if (!addr) return "?";
  const a = family === 6 || addr.includes(":") ? `[${addr}]` : addr;
  return port !== undefined ? `${a}:${port}` : addr;
}

/** One line per record: TIME VERDICT DIRECTION ENDPOINT TIER/POLICY rule N PROTO SRC -> DST. */
export function formatFlow(r: FlowRecord): string {
  const proto = PROTO[r.protocol] ?? String(r.protocol);
  const rule = r.policy ? `${r.tier ? `${r.tier}/` : ""}${r.policy}${r.rule >= 0 ? ` rule ${r.rule}` : ""}` : r.tier ? `end of tier ${r.tier}` : r.direction ? "no profile allowed" : `prefix ${JSON.stringify(r.prefix)}`;
  const icmp = r.icmpType !== undefined ? ` type ${r.icmpType}${r.icmpCode !== undefined ? ` code ${r.icmpCode}` : ""}` : "";
  return [r.time, r.verdict.padEnd(5), (r.direction || "-").padEnd(7), r.endpoint || "-", rule, `${proto}${icmp}`, `${endpoint(r.src, r.srcPort, r.family)} -> ${endpoint(r.dst, r.dstPort, r.family)}`].join("  ");
}

export function register(program: Command): void {
  program
    .command("logs")
    .summary("show the flow log written by the agent")
    .description(
      "Print the packets the agent's rules logged (needs `tortie agent --log-denied` and/or --log-allowed),\n" +
        "oldest first; -f keeps printing new records as they arrive.",
    )
    .option("-f, --follow", "keep printing new records")
    .option("--node <name>", "whose flow log [env TORTIE_NODE, NODENAME; default: hostname]")
    .option("--data-dir <dir>", "the agent's data directory [env TORTIE_DATA_DIR]")
    .option("--file <path>", "read this flow log file instead")
    .addOption(new Option("-o, --output <format>", "text or json (one object per line)").choices(["text", "json"]).default("text"))
    .action(async (opts: LogsOptions) => (await import("./logs-run.js")).runLogs(opts));
}
